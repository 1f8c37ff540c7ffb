/**
 * Proxyless gRPC clients (@grpc/grpc-js-xds and friends): for every service port an LDS resource
 * named `<host>:<port>` (and Istio's short forms) holding an api_listener HttpConnectionManager
 * with RDS to a route configuration of the same name; EDS clusters with ROUND_ROBIN or RING_HASH.
 */
import type { DecodedMessage } from '../../xds/decoded';
import type { MeshModel } from '../model/mesh';
import type { ProxyInfo } from '../model/proxy';
import { DOMAIN_SUFFIX } from '../registry/registry';
import type { Service } from '../registry/types';
import type { Protocol } from '../registry/protocol';
import { adsConfigSource, outboundClusterName, TYPES } from './common';
import { buildServiceClusters } from './clusters';
import { sharedClusterLoadAssignment } from './endpoints';
import { httpFilters } from './hcm';
import { buildDefaultRoute, buildVirtualServiceRoutes, type RouteContext } from './routes';

export interface ProxylessResources {
  readonly clusters: DecodedMessage[];
  readonly endpoints: DecodedMessage[];
  readonly listeners: DecodedMessage[];
  readonly routes: DecodedMessage[];
}

/** The names a gRPC client may dial a service port by: FQDN, name.namespace(.svc), and the bare name from its own namespace. */
export function proxylessTargetNames(s: Service, port: number, proxyNamespace: string): string[] {
  const names = [`${s.hostname}:${port}`];
  if (s.hostname.endsWith(`.${DOMAIN_SUFFIX}`)) {
    const short = s.hostname.slice(0, -(DOMAIN_SUFFIX.length + 1));
    const [name, ns] = short.split('.');
    names.push(`${short}.svc:${port}`, `${short}:${port}`);
    if (ns === proxyNamespace && name !== undefined) names.push(`${name}:${port}`);
  }
  return names;
}

/** Ports that certainly do not carry gRPC get no listener (unnamed ports might). */
const NOT_GRPC: ReadonlySet<Protocol> = new Set<Protocol>(['TCP', 'TLS', 'HTTPS', 'UDP', 'MONGO', 'MYSQL', 'REDIS']);

export function buildProxyless(model: MeshModel, proxy: ProxyInfo): ProxylessResources {
  const sidecar = model.sidecarFor(proxy);
  const egress = sidecar?.spec.egress;
  const services = egress && egress.length > 0
    ? [...new Set(egress.flatMap((e) => model.visibleServices(proxy.namespace, e, sidecar!.meta.namespace)))]
    : model.visibleServices(proxy.namespace, undefined, proxy.namespace);
  const clusters: DecodedMessage[] = [];
  const endpoints: DecodedMessage[] = [];
  const listeners: DecodedMessage[] = [];
  const routes: DecodedMessage[] = [];
  const names = new Set<string>();
  for (const s of services) {
    // gRPC clients resolve endpoints through EDS only (no DNS or original-destination clusters).
    if (s.resolution !== 'CLIENT_SIDE_LB') continue;
    const dr = model.destinationRuleFor(proxy.namespace, s)?.spec;
    clusters.push(...buildServiceClusters(model.registry, s, dr, { proxyless: true }));
    for (const p of s.ports) {
      if (NOT_GRPC.has(p.protocol)) continue;
      endpoints.push(sharedClusterLoadAssignment(model, outboundClusterName(p.port, '', s.hostname), s, p.port, undefined));
      for (const sub of dr?.subsets ?? []) endpoints.push(sharedClusterLoadAssignment(model, outboundClusterName(p.port, sub.name, s.hostname), s, p.port, sub.labels ?? {}));

      const ctx: RouteContext = {
        model, proxyNamespace: proxy.namespace, proxyLabels: proxy.labels, gateway: 'mesh', port: p.port, proxyless: true,
        nonForwardingCluster: outboundClusterName(p.port, '', s.hostname),
      };
      const vs = model.virtualServiceFor(s.hostname, 'mesh', proxy.namespace);
      const built = vs ? buildVirtualServiceRoutes(ctx, vs) : { routes: [buildDefaultRoute(ctx, s, p.port)], usesFault: false };
      for (const name of proxylessTargetNames(s, p.port, proxy.namespace)) {
        if (names.has(name)) continue;
        names.add(name);
        listeners.push({
          name,
          api_listener: {
            api_listener: {
              '@type': TYPES.hcm,
              stat_prefix: name,
              rds: { config_source: adsConfigSource(), route_config_name: name },
              http_filters: httpFilters(built.usesFault, false),
            },
          },
        });
        const vh: DecodedMessage = { name, domains: ['*'] };
        if (built.routes.length > 0) vh.routes = built.routes;
        routes.push({ name, virtual_hosts: [vh] });
      }
    }
  }
  return { clusters, endpoints, listeners, routes };
}
