import type { DemoWorkload, HostPort } from './topology';

/**
 * Envoy v3 bootstraps for the demo's proxies, as plain JSON (which `weft proxy -c` reads, as
 * Envoy does): a sidecar per workload that takes everything from `weft control` over ADS, with the
 * node identity Istio's injector would give it; and the edge, a static front proxy that is the
 * demo's entry point.
 */

export const XDS_CLUSTER = 'xds-grpc';
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const HTTP_PROTOCOL_OPTIONS = 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const STDOUT_LOG = 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog';

const socketAddress = (a: HostPort): object => ({ socket_address: { address: a.host, port_value: a.port } });

/** Istio's node id for a sidecar: `sidecar~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local`. */
export function sidecarNodeId(w: DemoWorkload): string {
  return `sidecar~${w.ip}~${w.pod}.${w.namespace}~${w.namespace}.svc.cluster.local`;
}

export function sidecarBootstrap(w: DemoWorkload, xds: HostPort): object {
  return {
    node: {
      id: sidecarNodeId(w),
      cluster: `${w.app}.${w.namespace}`,
      metadata: {
        NAMESPACE: w.namespace,
        NAME: w.pod,
        LABELS: { app: w.app, version: w.version },
        INSTANCE_IPS: w.ip,
        INTERCEPTION_MODE: 'NONE',
        WORKLOAD_NAME: `${w.app}-${w.version}`,
        CLUSTER_ID: 'Kubernetes',
      },
    },
    admin: { address: socketAddress(w.admin) },
    dynamic_resources: {
      ads_config: {
        api_type: 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: XDS_CLUSTER } }],
      },
      cds_config: { ads: {}, resource_api_version: 'V3' },
      lds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: {
      clusters: [
        {
          name: XDS_CLUSTER,
          type: 'STATIC',
          connect_timeout: '1s',
          load_assignment: {
            cluster_name: XDS_CLUSTER,
            endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(xds) } }] }],
          },
          // Envoy speaks gRPC to the control plane over HTTP/2; Istio's bootstrap says so this way.
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': HTTP_PROTOCOL_OPTIONS,
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
        },
      ],
    },
  };
}

/**
 * The demo's entry point: a Weft proxy with a static configuration, listening on 127.0.0.1:<port>
 * and forwarding everything to the front workload's sidecar ingress (as a Kubernetes ingress
 * would forward to a Service). It generates the x-request-id every hop then propagates.
 */
export function edgeBootstrap(listen: HostPort, admin: HostPort, front: HostPort, accessLog = true): object {
  return {
    node: { id: 'weft-demo-edge', cluster: 'edge' },
    admin: { address: socketAddress(admin) },
    static_resources: {
      listeners: [
        {
          name: 'edge',
          address: socketAddress(listen),
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': HCM,
                    stat_prefix: 'edge',
                    generate_request_id: true,
                    ...(accessLog ? { access_log: [{ name: 'envoy.access_loggers.stdout', typed_config: { '@type': STDOUT_LOG } }] } : {}),
                    route_config: {
                      name: 'edge',
                      virtual_hosts: [
                        {
                          name: 'front',
                          domains: ['*'],
                          routes: [{ match: { prefix: '/' }, route: { cluster: 'front', timeout: '10s' } }],
                        },
                      ],
                    },
                    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: 'front',
          type: 'STATIC',
          connect_timeout: '1s',
          load_assignment: { cluster_name: 'front', endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(front) } }] }] },
        },
      ],
    },
  };
}
