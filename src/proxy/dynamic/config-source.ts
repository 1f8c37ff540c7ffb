import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { isObject, readArray, readBool, readEnum, readNumber, readObject, readString, type Decoded } from '../../lib/decoded-read';

/**
 * Bootstrap.dynamic_resources and the ConfigSources resources name (rds.config_source,
 * eds_cluster_config.eds_config). Weft's proxy speaks ADS only: every ConfigSource must be `ads: {}`
 * or an api_config_source that points at the ADS cluster with the same protocol, which is the
 * same stream. Anything else (REST, files, other servers) is rejected by path.
 */

/** Envoy's defaults for xDS reconnects (500 ms base, 30 s cap) and initial_fetch_timeout (15 s). */
const DEFAULT_BACKOFF_BASE_MS = 500;
const DEFAULT_BACKOFF_MAX_MS = 30_000;
export const DEFAULT_INITIAL_FETCH_TIMEOUT_MS = 15_000;

export interface AdsSettings {
  clusterName: string;
  delta: boolean;
  setNodeOnFirstMessageOnly: boolean;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

export interface SubscriptionSettings {
  /** 0 disables the timeout (as Envoy). */
  initialFetchTimeoutMs: number;
}

export interface DynamicResourcesSettings {
  ads: AdsSettings;
  lds: SubscriptionSettings | undefined;
  cds: SubscriptionSettings | undefined;
}

export function parseDynamicResources(dr: Decoded, path: string, issues: ConfigIssue[]): DynamicResourcesSettings | undefined {
  rejectUnsupported(dr, path, ['ads_config', 'lds_config', 'cds_config'], issues);
  const before = issues.length;
  const adsMsg = readObject(dr, 'ads_config', path, issues);
  if (adsMsg === undefined) {
    issues.push({ path: joinPath(path, 'ads_config'), message: 'ads_config is required: Weft takes dynamic resources over ADS only' });
    return undefined;
  }
  const ads = parseAdsConfig(adsMsg, joinPath(path, 'ads_config'), issues);
  if (ads === undefined) return undefined;
  const source = (field: string): SubscriptionSettings | undefined => {
    const cs = readObject(dr, field, path, issues);
    return cs === undefined ? undefined : parseConfigSource(cs, joinPath(path, field), issues, ads);
  };
  const lds = source('lds_config');
  const cds = source('cds_config');
  return issues.length > before ? undefined : { ads, lds, cds };
}

function parseAdsConfig(a: Decoded, path: string, issues: ConfigIssue[]): AdsSettings | undefined {
  rejectUnsupported(a, path, ['api_type', 'transport_api_version', 'grpc_services', 'set_node_on_first_message_only', 'request_timeout'], issues);
  const apiType = readEnum(a, 'api_type', path, issues, ['GRPC', 'DELTA_GRPC'] as const, ['REST', 'AGGREGATED_GRPC', 'AGGREGATED_DELTA_GRPC', 'DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE']);
  if (apiType === undefined) {
    if (a.api_type === undefined) issues.push({ path: joinPath(path, 'api_type'), message: 'api_type GRPC or DELTA_GRPC is required for ads_config' });
    return undefined;
  }
  readEnum(a, 'transport_api_version', path, issues, ['V3'] as const, ['AUTO', 'V2']);
  const services = readArray(a, 'grpc_services', path, issues);
  const sp = joinPath(path, 'grpc_services');
  if (services.length !== 1) {
    issues.push({ path: sp, message: `exactly one grpc_services entry is required (got ${services.length})` });
    return undefined;
  }
  const g = services[0];
  const gp = joinPath(sp, 0);
  if (!isObject(g)) return undefined;
  rejectUnsupported(g, gp, ['envoy_grpc', 'timeout'], issues);
  if (g.google_grpc !== undefined) return undefined;
  const eg = readObject(g, 'envoy_grpc', gp, issues);
  const ep = joinPath(gp, 'envoy_grpc');
  if (eg === undefined) {
    issues.push({ path: ep, message: 'envoy_grpc is required' });
    return undefined;
  }
  rejectUnsupported(eg, ep, ['cluster_name', 'retry_policy'], issues);
  const clusterName = readString(eg, 'cluster_name', ep, issues) ?? '';
  if (clusterName === '') issues.push({ path: joinPath(ep, 'cluster_name'), message: 'cluster_name is required' });
  let backoffBaseMs = DEFAULT_BACKOFF_BASE_MS;
  let backoffMaxMs = DEFAULT_BACKOFF_MAX_MS;
  const rp = readObject(eg, 'retry_policy', ep, issues);
  if (rp !== undefined) {
    const rpp = joinPath(ep, 'retry_policy');
    rejectUnsupported(rp, rpp, ['retry_back_off'], issues);
    const rb = readObject(rp, 'retry_back_off', rpp, issues);
    if (rb !== undefined) {
      const rbp = joinPath(rpp, 'retry_back_off');
      rejectUnsupported(rb, rbp, ['base_interval', 'max_interval'], issues);
      backoffBaseMs = readNumber(rb, 'base_interval', rbp, issues, { min: 1 }) ?? DEFAULT_BACKOFF_BASE_MS;
      backoffMaxMs = readNumber(rb, 'max_interval', rbp, issues, { min: 1 }) ?? Math.max(backoffBaseMs * 10, backoffBaseMs);
      if (backoffMaxMs < backoffBaseMs) issues.push({ path: joinPath(rbp, 'max_interval'), message: 'max_interval must be at least base_interval' });
    }
  }
  return {
    clusterName,
    delta: apiType === 'DELTA_GRPC',
    setNodeOnFirstMessageOnly: readBool(a, 'set_node_on_first_message_only', path, issues) ?? false,
    backoffBaseMs,
    backoffMaxMs,
  };
}

/**
 * A ConfigSource for LDS/CDS/RDS/EDS: `ads: {}`, or api_config_source naming the ADS cluster with
 * the ADS protocol (the same stream). Returns the subscription's settings.
 */
export function parseConfigSource(cs: Decoded, path: string, issues: ConfigIssue[], ads: AdsSettings | undefined): SubscriptionSettings | undefined {
  rejectUnsupported(cs, path, ['ads', 'api_config_source', 'initial_fetch_timeout', 'resource_api_version'], issues);
  const before = issues.length;
  readEnum(cs, 'resource_api_version', path, issues, ['V3'] as const, ['AUTO', 'V2']);
  if (ads === undefined) {
    issues.push({ path, message: 'a dynamic resource needs bootstrap dynamic_resources.ads_config (Weft takes xDS over ADS only)' });
    return undefined;
  }
  const api = readObject(cs, 'api_config_source', path, issues);
  if (api !== undefined) {
    const ap = joinPath(path, 'api_config_source');
    rejectUnsupported(api, ap, ['api_type', 'transport_api_version', 'grpc_services', 'set_node_on_first_message_only'], issues);
    const want = ads.delta ? 'DELTA_GRPC' : 'GRPC';
    const type = readEnum(api, 'api_type', ap, issues, [want] as const, ['GRPC', 'DELTA_GRPC', 'REST', 'AGGREGATED_GRPC', 'AGGREGATED_DELTA_GRPC']);
    if (type === undefined && api.api_type !== undefined && issues.length === before) {
      issues.push({ path: joinPath(ap, 'api_type'), message: `only ${want} to the ADS cluster is implemented (the same stream as ads_config)` });
    }
    const services = readArray(api, 'grpc_services', ap, issues);
    const first = services[0];
    const name = isObject(first) && isObject(first.envoy_grpc) ? first.envoy_grpc.cluster_name : undefined;
    if (services.length !== 1 || name !== ads.clusterName) {
      issues.push({ path: joinPath(ap, 'grpc_services'), message: `Weft serves every xDS resource over the ADS stream: grpc_services must be one envoy_grpc to '${ads.clusterName}', or use 'ads: {}'` });
    }
  } else if (cs.ads === undefined) {
    issues.push({ path, message: "config source must be 'ads: {}' (or api_config_source to the ADS cluster)" });
  }
  if (issues.length > before) return undefined;
  return { initialFetchTimeoutMs: readNumber(cs, 'initial_fetch_timeout', path, issues, { min: 0 }) ?? DEFAULT_INITIAL_FETCH_TIMEOUT_MS };
}

/** The ADS cluster's address as a gRPC target: the single endpoint's socket address or pipe. */
export function adsTarget(cluster: Decoded, path: string, issues: ConfigIssue[]): { target: string; isPipe: boolean } | undefined {
  const before = issues.length;
  const la = readObject(cluster, 'load_assignment', path, issues);
  const lp = joinPath(path, 'load_assignment');
  const eps = la === undefined ? [] : readArray(la, 'endpoints', lp, issues);
  const lle = eps[0];
  const lbs = isObject(lle) ? readArray(lle, 'lb_endpoints', joinPath(lp, 'endpoints[0]'), issues) : [];
  const lb = lbs[0];
  const ep = isObject(lb) && isObject(lb.endpoint) ? lb.endpoint : undefined;
  const addr = ep !== undefined && isObject(ep.address) ? ep.address : undefined;
  if (eps.length !== 1 || lbs.length !== 1 || addr === undefined) {
    issues.push({ path: lp, message: 'the ADS cluster needs exactly one endpoint with an address' });
    return undefined;
  }
  const ap = joinPath(lp, 'endpoints[0].lb_endpoints[0].endpoint.address');
  if (isObject(addr.pipe)) {
    rejectUnsupported(addr.pipe, joinPath(ap, 'pipe'), ['path', 'mode'], issues);
    const p = readString(addr.pipe, 'path', joinPath(ap, 'pipe'), issues) ?? '';
    if (p === '') issues.push({ path: joinPath(ap, 'pipe.path'), message: 'path is required' });
    if (p.startsWith('@')) issues.push({ path: joinPath(ap, 'pipe.path'), message: 'abstract Unix sockets are not implemented by Weft' });
    return issues.length > before ? undefined : { target: `unix:${p}`, isPipe: true };
  }
  const sa = isObject(addr.socket_address) ? addr.socket_address : undefined;
  if (sa === undefined) {
    issues.push({ path: ap, message: 'socket_address or pipe is required' });
    return undefined;
  }
  const host = typeof sa.address === 'string' ? sa.address : '';
  const port = typeof sa.port_value === 'number' ? sa.port_value : 0;
  if (host === '' || port === 0) {
    issues.push({ path: joinPath(ap, 'socket_address'), message: 'address and port_value are required' });
    return undefined;
  }
  return { target: host.includes(':') ? `ipv6:[${host}]:${port}` : `dns:${host}:${port}`, isPipe: false };
}

/** Fields the ADS cluster may carry: it carries gRPC to the control plane only, never proxied traffic. */
export function checkAdsCluster(cluster: Decoded, path: string, issues: ConfigIssue[]): void {
  rejectUnsupported(cluster, path, ['name', 'type', 'connect_timeout', 'load_assignment', 'typed_extension_protocol_options', 'http2_protocol_options'], issues);
  if (cluster.type !== undefined && cluster.type !== 'STATIC') issues.push({ path: joinPath(path, 'type'), message: 'the ADS cluster must be STATIC' });
  const h2 = cluster.http2_protocol_options;
  if (isObject(h2) && Object.keys(h2).length > 0) rejectUnsupported(h2, joinPath(path, 'http2_protocol_options'), [], issues);
}
