/** Virtual hosts for a service port: Istio's domain list and the routes from its VirtualService. */
import type { DecodedMessage } from '../../xds/decoded';
import { DOMAIN_SUFFIX } from '../registry/registry';
import type { Service } from '../registry/types';
import { buildDefaultRoute, buildVirtualServiceRoutes, type RouteContext } from './routes';

/**
 * host, host:port, and for hosts in the cluster domain (`name.ns.svc.cluster.local`, whatever
 * registry they come from) Istio's short forms: `name.ns.svc`, `name.ns`, and `name` from the same
 * namespace; then the service's addresses.
 */
export function serviceDomains(service: Service, port: number, proxyNamespace: string): string[] {
  const names = [service.hostname];
  if (service.hostname.endsWith(`.${DOMAIN_SUFFIX}`)) {
    const short = service.hostname.slice(0, -(DOMAIN_SUFFIX.length + 1));
    const [name, ns] = short.split('.');
    names.push(`${short}.svc`, short);
    if (ns === proxyNamespace && name !== undefined) names.push(name);
  }
  names.push(...service.addresses);
  const out: string[] = [];
  for (const n of names) {
    out.push(n);
    out.push(`${n}:${port}`);
  }
  return out;
}

export interface VirtualHostResult {
  readonly virtualHost: DecodedMessage;
  readonly usesFault: boolean;
  readonly usesCors: boolean;
}

/** One virtual host; `taken` holds domains already used in this route configuration (Envoy rejects duplicates). */
export function buildServiceVirtualHost(ctx: RouteContext, service: Service, port: number, taken: Set<string>): VirtualHostResult | undefined {
  const domains = serviceDomains(service, port, ctx.proxyNamespace).filter((d) => !taken.has(d));
  if (domains.length === 0) return undefined;
  for (const d of domains) taken.add(d);
  const vs = ctx.model.virtualServiceFor(service.hostname, ctx.gateway, ctx.proxyNamespace);
  let routes: DecodedMessage[];
  let usesFault = false;
  let usesCors = false;
  if (vs) {
    const built = buildVirtualServiceRoutes(ctx, vs);
    routes = built.routes;
    usesFault = built.usesFault;
    usesCors = built.usesCors;
  } else {
    routes = [buildDefaultRoute(ctx, service, port)];
  }
  const virtualHost: DecodedMessage = { name: `${service.hostname}:${port}`, domains };
  if (routes.length > 0) virtualHost.routes = routes;
  return { virtualHost, usesFault, usesCors };
}
