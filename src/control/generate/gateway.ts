/**
 * Router (ingress gateway) proxies: a listener per Gateway server port (`0.0.0.0_8080`), RDS
 * `http.<port>` with a virtual host per host of the VirtualServices bound to the Gateway.
 */
import type { DecodedMessage } from '../../xds/decoded';
import type { GatewaySpec, Resource } from '../config/types';
import { hostMatches, resolveHost, type MeshModel, type ScopedVirtualService } from '../model/mesh';
import type { ProxyInfo } from '../model/proxy';
import { isHttp, parseProtocol } from '../registry/protocol';
import { BLACKHOLE_CLUSTER, outboundClusterName, socketAddress } from './common';
import { buildServiceClusters, DEFAULT_CONNECT_TIMEOUT_MS } from './clusters';
import { sharedClusterLoadAssignment } from './endpoints';
import { httpConnectionManager, tcpProxyFilter } from './hcm';
import { buildVirtualServiceRoutes, type RouteContext } from './routes';

export interface GatewayResources {
  readonly clusters: DecodedMessage[];
  readonly endpoints: DecodedMessage[];
  readonly listeners: DecodedMessage[];
  readonly routes: DecodedMessage[];
}

interface PortServers {
  readonly port: number;
  readonly bind: string;
  readonly http: boolean;
  readonly servers: { gateway: Resource<GatewaySpec>; hosts: readonly string[] }[];
}

export function buildGateway(model: MeshModel, proxy: ProxyInfo): GatewayResources {
  const gateways = model.gatewaysFor(proxy);
  const ports = new Map<string, PortServers>();
  for (const g of gateways) {
    for (const s of g.spec.servers) {
      const bind = s.bind ?? '0.0.0.0';
      const key = `${bind}_${s.port.number}`;
      let ps = ports.get(key);
      if (!ps) {
        ps = { port: s.port.number, bind, http: isHttp(parseProtocol(s.port.protocol)), servers: [] };
        ports.set(key, ps);
      }
      // Gateway hosts are `ns/host` or `host`; the namespace part only narrows which VirtualServices bind.
      ps.servers.push({ gateway: g, hosts: s.hosts.map((h) => (h.includes('/') ? h.slice(h.indexOf('/') + 1) : h)) });
    }
  }
  const listeners: DecodedMessage[] = [];
  const routes: DecodedMessage[] = [];
  for (const [name, ps] of [...ports].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const l: DecodedMessage = { name, address: socketAddress(ps.bind, ps.port), traffic_direction: 'OUTBOUND' };
    if (ps.http) {
      const routeName = `http.${ps.port}`;
      const { rc, fault, cors } = gatewayRouteConfig(model, proxy, routeName, ps);
      routes.push(rc);
      l.filter_chains = [{ filters: [httpConnectionManager({ statPrefix: `outbound_${name}`, rds: routeName, fault, cors, edge: true })] }];
    } else {
      l.filter_chains = [{ filters: [tcpProxyFilter(`outbound_${name}`, gatewayTcpTarget(model, ps))] }];
    }
    listeners.push(l);
  }
  const clusters: DecodedMessage[] = [];
  const endpoints: DecodedMessage[] = [];
  for (const s of model.visibleServices(proxy.namespace, undefined, proxy.namespace)) {
    const dr = model.destinationRuleFor(proxy.namespace, s)?.spec;
    clusters.push(...buildServiceClusters(model.registry, s, dr, { proxyless: false }));
    if (s.resolution !== 'CLIENT_SIDE_LB') continue;
    for (const p of s.ports) {
      if (p.protocol === 'UDP') continue;
      endpoints.push(sharedClusterLoadAssignment(model, outboundClusterName(p.port, '', s.hostname), s, p.port, undefined));
      for (const sub of dr?.subsets ?? []) endpoints.push(sharedClusterLoadAssignment(model, outboundClusterName(p.port, sub.name, s.hostname), s, p.port, sub.labels ?? {}));
    }
  }
  clusters.push({ name: BLACKHOLE_CLUSTER, connect_timeout: DEFAULT_CONNECT_TIMEOUT_MS });
  return { clusters, endpoints, listeners, routes };
}

function boundVirtualServices(model: MeshModel, g: Resource<GatewaySpec>): ScopedVirtualService[] {
  const key = `${g.meta.namespace}/${g.meta.name}`;
  return model.virtualServices.filter((vs) => vs.gateways.includes(key));
}

function gatewayRouteConfig(model: MeshModel, proxy: ProxyInfo, name: string, ps: PortServers): { rc: DecodedMessage; fault: boolean; cors: boolean } {
  const vhosts = new Map<string, DecodedMessage>();
  let fault = false;
  let cors = false;
  for (const server of ps.servers) {
    const gwKey = `${server.gateway.meta.namespace}/${server.gateway.meta.name}`;
    const ctx: RouteContext = { model, proxyNamespace: proxy.namespace, proxyLabels: proxy.labels, gateway: gwKey, port: ps.port, proxyless: false };
    for (const vs of boundVirtualServices(model, server.gateway)) {
      for (const rawHost of vs.resource.spec.hosts) {
        const host = rawHost.includes('.') || rawHost.includes('*') ? rawHost : resolveHost(rawHost, vs.resource.meta.namespace);
        if (!server.hosts.some((sh) => hostMatches(sh, host) || hostMatches(host, sh))) continue;
        const built = buildVirtualServiceRoutes(ctx, vs);
        fault ||= built.usesFault;
        cors ||= built.usesCors;
        const vhName = `${host}:${ps.port}`;
        const existing = vhosts.get(vhName);
        // Istio merges VirtualServices bound to one gateway host: routes concatenate in resource order.
        if (existing) (existing.routes as DecodedMessage[]).push(...built.routes);
        else vhosts.set(vhName, { name: vhName, domains: host === '*' ? ['*'] : [host, `${host}:${ps.port}`], routes: [...built.routes] });
      }
    }
  }
  const list = [...vhosts.values()];
  for (const vh of list) if ((vh.routes as DecodedMessage[]).length === 0) delete vh.routes;
  if (list.length === 0) {
    list.push({ name: 'blackhole:' + ps.port, domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, direct_response: { status: 404 } }] });
  }
  return { rc: { name, virtual_hosts: list, validate_clusters: false }, fault, cors };
}

function gatewayTcpTarget(model: MeshModel, ps: PortServers): string {
  for (const server of ps.servers) {
    for (const vs of boundVirtualServices(model, server.gateway)) {
      const route = vs.resource.spec.tcp?.find((r) => !r.match || r.match.some((m) => m.port === undefined || m.port === ps.port));
      const d = route?.route?.[0]?.destination;
      if (d) return outboundClusterName(d.port?.number ?? ps.port, d.subset ?? '', resolveHost(d.host, vs.resource.meta.namespace));
    }
  }
  return BLACKHOLE_CLUSTER;
}
