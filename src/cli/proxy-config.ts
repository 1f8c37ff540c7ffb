/**
 * `weft proxy-config <proxy> clusters|listeners|routes|endpoints`: what `weft control` serves one
 * proxy, as tables like `istioctl proxy-config`, or as JSON (-o json).
 */
import { DebugFetchError, fetchDebug } from './debug-client';
import { renderTable } from './table';

export const PROXY_CONFIG_KINDS = ['clusters', 'listeners', 'routes', 'endpoints'] as const;
export type ProxyConfigKind = (typeof PROXY_CONFIG_KINDS)[number];

export interface ProxyConfigOptions {
  readonly proxy: string;
  readonly kind: ProxyConfigKind;
  readonly controlAddress: string;
  readonly output?: string;
}

type Json = Record<string, unknown>;

const obj = (v: unknown): Json => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

const SECTION: Record<ProxyConfigKind, { dump: string; list: string; item: string }> = {
  clusters: { dump: 'ClustersConfigDump', list: 'dynamic_active_clusters', item: 'cluster' },
  listeners: { dump: 'ListenersConfigDump', list: 'dynamic_listeners', item: 'listener' },
  routes: { dump: 'RoutesConfigDump', list: 'dynamic_route_configs', item: 'route_config' },
  endpoints: { dump: 'EndpointsConfigDump', list: 'dynamic_endpoint_configs', item: 'endpoint_config' },
};

/** The resources of one kind in an Envoy-shaped config dump. */
export function resourcesOf(dump: unknown, kind: ProxyConfigKind): Json[] {
  const s = SECTION[kind];
  const section = arr(obj(dump).configs).map(obj).find((c) => str(c['@type']).endsWith(`.${s.dump}`));
  if (!section) return [];
  return arr(section[s.list]).map((e) => {
    const entry = obj(e);
    return kind === 'listeners' ? obj(obj(entry.active_state).listener) : obj(entry[s.item]);
  });
}

function socketAddress(a: unknown): { address: string; port: string } {
  const sa = obj(obj(a).socket_address);
  if (Object.keys(sa).length) return { address: str(sa.address), port: str(sa.port_value) };
  const pipe = obj(obj(a).pipe);
  return { address: str(pipe.path), port: '' };
}

function clusterRows(clusters: Json[]): string[][] {
  return clusters.map((c) => {
    const name = str(c.name);
    const parts = name.split('|');
    const type = str(c.type) || (c.cluster_type ? 'CUSTOM' : 'STATIC');
    if (parts.length === 4) return [parts[3], parts[1], parts[2] || '-', parts[0], type];
    return [name, '-', '-', '-', type];
  });
}

/** What a listener hands its traffic to: the routes an HTTP connection manager names, or a TCP cluster. */
function destinations(v: unknown, out: string[], depth = 0): void {
  if (depth > 20) return;
  if (Array.isArray(v)) return v.forEach((x) => destinations(x, out, depth + 1));
  const m = obj(v);
  if (!Object.keys(m).length) return;
  const rds = obj(m.rds);
  if (rds.route_config_name) out.push(`Route: ${str(rds.route_config_name)}`);
  else if (m.route_config) out.push(`Inline Route: ${str(obj(m.route_config).name) || '(unnamed)'}`);
  if (str(m['@type']).endsWith('.TcpProxy')) out.push(`Cluster: ${str(m.cluster) || 'weighted'}`);
  for (const [k, x] of Object.entries(m)) if (k !== 'rds' && k !== 'route_config') destinations(x, out, depth + 1);
}

function listenerRows(listeners: Json[]): string[][] {
  return listeners.map((l) => {
    const { address, port } = socketAddress(l.address);
    const out: string[] = [];
    destinations(l.filter_chains, out);
    destinations(l.default_filter_chain, out);
    if (l.api_listener) {
      destinations(l.api_listener, out);
      out.unshift('api_listener');
    }
    return [str(l.name), address || '-', port || '-', [...new Set(out)].join('; ') || '-'];
  });
}

function matchOf(m: Json): string {
  if (typeof m.path === 'string') return m.path;
  if (typeof m.prefix === 'string') return `${m.prefix}*`;
  if (typeof m.path_separated_prefix === 'string') return `${m.path_separated_prefix}/*`;
  if (m.safe_regex) return `regex ${str(obj(m.safe_regex).regex)}`;
  return '-';
}

function routeDestination(r: Json): string {
  const route = obj(r.route);
  if (route.cluster) return str(route.cluster);
  const weighted = arr(obj(route.weighted_clusters).clusters).map(obj);
  if (weighted.length) return weighted.map((w) => `${str(w.name)} ${str(w.weight)}`).join(', ');
  if (r.redirect) return 'redirect';
  if (r.direct_response) return `direct ${str(obj(r.direct_response).status)}`;
  return '-';
}

function routeRows(routes: Json[]): string[][] {
  const rows: string[][] = [];
  for (const rc of routes) {
    for (const vh of arr(rc.virtual_hosts).map(obj)) {
      const domains = arr(vh.domains).map(str);
      const shown = domains.length > 2 ? `${domains[0]} +${domains.length - 1} more` : domains.join(',');
      for (const r of arr(vh.routes).map(obj)) rows.push([str(rc.name), str(vh.name), shown, matchOf(obj(r.match)), routeDestination(r)]);
    }
  }
  return rows;
}

function endpointRows(cla: Json[]): string[][] {
  const rows: string[][] = [];
  for (const c of cla) {
    for (const locality of arr(c.endpoints).map(obj)) {
      for (const lb of arr(locality.lb_endpoints).map(obj)) {
        const { address, port } = socketAddress(obj(lb.endpoint).address);
        rows.push([port ? `${address}:${port}` : address, str(lb.health_status) || 'HEALTHY', str(lb.load_balancing_weight) || '1', str(c.cluster_name)]);
      }
    }
  }
  return rows;
}

export function formatProxyConfig(dump: unknown, kind: ProxyConfigKind): string {
  const resources = resourcesOf(dump, kind);
  switch (kind) {
    case 'clusters':
      return renderTable(['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE'], clusterRows(resources));
    case 'listeners':
      return renderTable(['NAME', 'ADDRESS', 'PORT', 'DESTINATION'], listenerRows(resources));
    case 'routes':
      return renderTable(['NAME', 'VHOST NAME', 'DOMAINS', 'MATCH', 'DESTINATION'], routeRows(resources));
    case 'endpoints':
      return renderTable(['ENDPOINT', 'STATUS', 'WEIGHT', 'CLUSTER'], endpointRows(resources));
  }
}

export async function runProxyConfig(opts: ProxyConfigOptions): Promise<number> {
  try {
    const dump = await fetchDebug(opts.controlAddress, `/debug/config_dump?proxyID=${encodeURIComponent(opts.proxy)}`);
    if (opts.output === 'json') process.stdout.write(JSON.stringify(resourcesOf(dump, opts.kind), null, 2) + '\n');
    else process.stdout.write(formatProxyConfig(dump, opts.kind));
    return 0;
  } catch (e) {
    if (!(e instanceof DebugFetchError)) throw e;
    process.stderr.write(`weft proxy-config: ${e.message}\n`);
    return 1;
  }
}
