/** The type URLs of the xDS resource types Weft's proxy subscribes to, in Envoy's order of dependency. */

export const LISTENER_TYPE = 'type.googleapis.com/envoy.config.listener.v3.Listener';
export const ROUTE_TYPE = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
export const CLUSTER_TYPE = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
export const ENDPOINT_TYPE = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
/** A resource wrapped with its name and version (istiod may send SotW resources in this form). */
export const RESOURCE_WRAPPER_TYPE = 'type.googleapis.com/envoy.service.discovery.v3.Resource';

export const ADS_SOTW_METHOD = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
export const ADS_DELTA_METHOD = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';

export const DISCOVERY_REQUEST = 'envoy.service.discovery.v3.DiscoveryRequest';
export const DISCOVERY_RESPONSE = 'envoy.service.discovery.v3.DiscoveryResponse';
export const DELTA_DISCOVERY_REQUEST = 'envoy.service.discovery.v3.DeltaDiscoveryRequest';
export const DELTA_DISCOVERY_RESPONSE = 'envoy.service.discovery.v3.DeltaDiscoveryResponse';

/** The name field of each resource type (ClusterLoadAssignment names itself by cluster_name). */
export function resourceName(typeUrl: string, resource: Record<string, unknown>): string {
  const v = typeUrl === ENDPOINT_TYPE ? resource.cluster_name : resource.name;
  return typeof v === 'string' ? v : '';
}

/** Short names for logs and stats. */
export function shortTypeName(typeUrl: string): string {
  switch (typeUrl) {
    case LISTENER_TYPE:
      return 'LDS';
    case ROUTE_TYPE:
      return 'RDS';
    case CLUSTER_TYPE:
      return 'CDS';
    case ENDPOINT_TYPE:
      return 'EDS';
    default:
      return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
  }
}
