/** ClusterLoadAssignments: ready endpoints grouped by locality, narrowed to a subset's labels. */
import type { DecodedMessage } from '../../xds/decoded';
import type { MeshModel } from '../model/mesh';
import { labelsMatch } from '../registry/registry';
import type { Labels, Service, ServiceEndpoint } from '../registry/types';
import { socketAddress } from './common';

/**
 * LocalityLbEndpoints for `endpoints` (sorted input gives sorted output). Not-ready endpoints are
 * left out; each locality carries a weight (the sum of its endpoints'), which gRPC clients require.
 */
export function buildLocalityEndpoints(endpoints: readonly ServiceEndpoint[], subsetLabels: Labels | undefined, eds: boolean): DecodedMessage[] {
  const groups = new Map<string, { locality: ServiceEndpoint['locality']; lbs: DecodedMessage[]; weight: number }>();
  for (const e of endpoints) {
    if (!e.ready || !labelsMatch(subsetLabels, e.labels)) continue;
    const key = `${e.locality.region}/${e.locality.zone}/${e.locality.subZone}`;
    let g = groups.get(key);
    if (!g) {
      g = { locality: e.locality, lbs: [], weight: 0 };
      groups.set(key, g);
    }
    const lb: DecodedMessage = { endpoint: { address: socketAddress(e.address, e.port) } };
    if (eds) lb.health_status = 'HEALTHY';
    if (e.weight !== 1) lb.load_balancing_weight = e.weight;
    g.lbs.push(lb);
    g.weight += e.weight;
  }
  const keys = [...groups.keys()].sort();
  return keys.map((k) => {
    const g = groups.get(k)!;
    const out: DecodedMessage = { lb_endpoints: g.lbs, load_balancing_weight: g.weight };
    const locality: DecodedMessage = {};
    if (g.locality.region) locality.region = g.locality.region;
    if (g.locality.zone) locality.zone = g.locality.zone;
    if (g.locality.subZone) locality.sub_zone = g.locality.subZone;
    // Always present, even empty: gRPC clients reject a locality-less LocalityLbEndpoints.
    out.locality = locality;
    return out;
  });
}

export function buildClusterLoadAssignment(clusterName: string, endpoints: readonly ServiceEndpoint[], subsetLabels: Labels | undefined): DecodedMessage {
  const localities = buildLocalityEndpoints(endpoints, subsetLabels, true);
  // Empty repeated fields are absent in the decoded form.
  return localities.length > 0 ? { cluster_name: clusterName, endpoints: localities } : { cluster_name: clusterName };
}

/**
 * One ClusterLoadAssignment object per (cluster name, service, subset labels) and model, shared by
 * every scope that sends it. The service's namespace is part of the key: one hostname may resolve
 * to different services (and endpoints) in different namespaces.
 */
const shared = new WeakMap<MeshModel, Map<string, DecodedMessage>>();

export function sharedClusterLoadAssignment(
  model: MeshModel, clusterName: string, service: Service, port: number, subsetLabels: Labels | undefined,
): DecodedMessage {
  let byKey = shared.get(model);
  if (!byKey) {
    byKey = new Map();
    shared.set(model, byKey);
  }
  const labels = subsetLabels ? Object.keys(subsetLabels).sort().map((k) => `${k}=${subsetLabels[k]}`).join(',') : '*';
  const key = `${clusterName}|${service.namespace}|${labels}`;
  let cla = byKey.get(key);
  if (!cla) {
    cla = buildClusterLoadAssignment(clusterName, model.registry.endpoints(service, port), subsetLabels);
    byKey.set(key, cla);
  }
  return cla;
}
