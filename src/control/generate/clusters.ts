/**
 * Clusters from services and DestinationRules: `outbound|<port>|<subset>|<host>` (EDS, or
 * STRICT_DNS / ORIGINAL_DST by resolution), with load balancing, circuit breakers, outlier
 * detection and connection options from the merged traffic policy.
 */
import type { DecodedMessage } from '../../xds/decoded';
import type { ConsistentHash, DestinationRuleSpec, PolicySettings, TrafficPolicy } from '../config/types';
import type { ServiceRegistry } from '../registry/registry';
import { isHttp2 } from '../registry/protocol';
import type { Service, ServicePort } from '../registry/types';
import { adsConfigSource, ms, outboundClusterName, socketAddress, TYPES } from './common';
import { buildLocalityEndpoints } from './endpoints';

const MAX_U32 = 4294967295;
/** Istio's default connect timeout (meshConfig.connectTimeout). */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Istio merges policies section by section: port-level over top-level, subset over both. */
export function effectivePolicy(dr: DestinationRuleSpec | undefined, port: number, subset: string | undefined): PolicySettings {
  const merge = (base: PolicySettings, tp: TrafficPolicy | undefined): PolicySettings => {
    if (!tp) return base;
    let out: PolicySettings = {
      loadBalancer: tp.loadBalancer ?? base.loadBalancer,
      connectionPool: tp.connectionPool ?? base.connectionPool,
      outlierDetection: tp.outlierDetection ?? base.outlierDetection,
      tls: tp.tls ?? base.tls,
    };
    const pl = tp.portLevelSettings?.find((p) => p.port.number === port);
    if (pl) {
      out = {
        loadBalancer: pl.loadBalancer ?? out.loadBalancer,
        connectionPool: pl.connectionPool ?? out.connectionPool,
        outlierDetection: pl.outlierDetection ?? out.outlierDetection,
        tls: pl.tls ?? out.tls,
      };
    }
    return out;
  };
  let policy = merge({}, dr?.trafficPolicy);
  if (subset !== undefined) policy = merge(policy, dr?.subsets?.find((s) => s.name === subset)?.trafficPolicy);
  return policy;
}

/** The route hash policy for a consistent-hash load balancer. */
export function hashPolicy(ch: ConsistentHash | undefined): DecodedMessage[] | undefined {
  if (!ch) return undefined;
  if (ch.httpHeaderName) return [{ header: { header_name: ch.httpHeaderName } }];
  if (ch.httpCookie) {
    const cookie: DecodedMessage = { name: ch.httpCookie.name };
    if (ch.httpCookie.path) cookie.path = ch.httpCookie.path;
    if (ch.httpCookie.ttl) cookie.ttl = ms(ch.httpCookie.ttl);
    return [{ cookie }];
  }
  if (ch.useSourceIp) return [{ connection_properties: { source_ip: true } }];
  if (ch.httpQueryParameterName) return [{ query_parameter: { name: ch.httpQueryParameterName } }];
  return undefined;
}

export interface ClusterOptions {
  /** Proxyless gRPC clients accept ROUND_ROBIN and RING_HASH only, and no HTTP/1 options. */
  readonly proxyless: boolean;
}

/** Applies the load balancer section; proxyless clients get ROUND_ROBIN/RING_HASH only. */
function applyLoadBalancer(c: DecodedMessage, policy: PolicySettings, opts: ClusterOptions): void {
  const lb = policy.loadBalancer;
  const ch = lb?.consistentHash;
  if (ch) {
    if (ch.maglev && !opts.proxyless) {
      c.lb_policy = 'MAGLEV';
      if (ch.maglev.tableSize !== undefined) c.maglev_lb_config = { table_size: ch.maglev.tableSize };
    } else {
      c.lb_policy = 'RING_HASH';
      c.ring_hash_lb_config = { minimum_ring_size: ch.ringHash?.minimumRingSize ?? ch.minimumRingSize ?? 1024 };
    }
    return;
  }
  // ROUND_ROBIN is the proto default (0), so it is left out: the decoded form holds only non-default fields.
  if (opts.proxyless) return;
  switch (lb?.simple) {
    case 'ROUND_ROBIN':
      break;
    case 'RANDOM':
      c.lb_policy = 'RANDOM';
      break;
    case 'PASSTHROUGH':
      c.type = 'ORIGINAL_DST';
      c.lb_policy = 'CLUSTER_PROVIDED';
      delete c.eds_cluster_config;
      break;
    default:
      // Istio's default (and LEAST_CONN's meaning).
      c.lb_policy = 'LEAST_REQUEST';
  }
}

function applyConnectionPool(c: DecodedMessage, policy: PolicySettings, protocolHttp2: boolean, opts: ClusterOptions): void {
  const cp = policy.connectionPool;
  const thresholds: DecodedMessage = {
    max_connections: cp?.tcp?.maxConnections ?? MAX_U32,
    max_pending_requests: cp?.http?.http1MaxPendingRequests ?? MAX_U32,
    max_requests: cp?.http?.http2MaxRequests ?? MAX_U32,
    max_retries: cp?.http?.maxRetries ?? MAX_U32,
    track_remaining: true,
  };
  c.circuit_breakers = { thresholds: [thresholds] };
  c.connect_timeout = cp?.tcp?.connectTimeout ? ms(cp.tcp.connectTimeout) : DEFAULT_CONNECT_TIMEOUT_MS;
  if (opts.proxyless) return;
  const common: DecodedMessage = {};
  if (cp?.http?.idleTimeout) common.idle_timeout = ms(cp.http.idleTimeout);
  if (cp?.http?.maxRequestsPerConnection) common.max_requests_per_connection = cp.http.maxRequestsPerConnection;
  const options: DecodedMessage = { '@type': TYPES.httpProtocolOptions };
  if (Object.keys(common).length > 0) options.common_http_protocol_options = common;
  if (protocolHttp2) options.explicit_http_config = { http2_protocol_options: {} };
  else if (options.common_http_protocol_options) options.explicit_http_config = { http_protocol_options: {} };
  if (Object.keys(options).length > 1) {
    c.typed_extension_protocol_options = { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': options };
  }
}

function applyOutlierDetection(c: DecodedMessage, policy: PolicySettings): void {
  const od = policy.outlierDetection;
  if (!od) return;
  const out: DecodedMessage = {};
  const consecutive5xx = od.consecutive5xxErrors ?? od.consecutiveErrors;
  // Istio switches a detector off by leaving its enforcement at 0 and sets the ones it wants to 100.
  if (consecutive5xx !== undefined && consecutive5xx > 0) {
    out.consecutive_5xx = consecutive5xx;
    out.enforcing_consecutive_5xx = 100;
  } else {
    out.enforcing_consecutive_5xx = 0;
  }
  if (od.consecutiveGatewayErrors !== undefined && od.consecutiveGatewayErrors > 0) {
    out.consecutive_gateway_failure = od.consecutiveGatewayErrors;
    out.enforcing_consecutive_gateway_failure = 100;
  }
  out.enforcing_success_rate = 0;
  if (od.interval) out.interval = ms(od.interval);
  if (od.baseEjectionTime) out.base_ejection_time = ms(od.baseEjectionTime);
  if (od.maxEjectionPercent !== undefined) out.max_ejection_percent = od.maxEjectionPercent;
  c.outlier_detection = out;
  if (od.minHealthPercent !== undefined) c.common_lb_config = { healthy_panic_threshold: { value: od.minHealthPercent } };
}

/** One outbound cluster for a service port (and subset); `dr` is the DestinationRule that applies. */
export function buildOutboundCluster(
  registry: ServiceRegistry, service: Service, port: ServicePort, subset: string | undefined, dr: DestinationRuleSpec | undefined, opts: ClusterOptions,
): DecodedMessage {
  const name = outboundClusterName(port.port, subset ?? '', service.hostname);
  const c: DecodedMessage = { name };
  if (service.resolution === 'DNS' || service.resolution === 'DNS_ROUND_ROBIN') {
    c.type = service.resolution === 'DNS' ? 'STRICT_DNS' : 'LOGICAL_DNS';
    c.dns_lookup_family = 'V4_ONLY';
    const subsetLabels = subset !== undefined ? dr?.subsets?.find((s) => s.name === subset)?.labels : undefined;
    const endpoints = buildLocalityEndpoints(registry.endpoints(service, port.port), subsetLabels, false);
    c.load_assignment = { cluster_name: name, endpoints: service.resolution === 'DNS_ROUND_ROBIN' ? endpoints.slice(0, 1) : endpoints };
    if (service.resolution === 'DNS_ROUND_ROBIN' && endpoints.length > 0) {
      const first = endpoints[0] as { lb_endpoints: DecodedMessage[] };
      (c.load_assignment as { endpoints: DecodedMessage[] }).endpoints = [{ ...first, lb_endpoints: first.lb_endpoints.slice(0, 1) }];
    }
  } else if (service.resolution === 'PASSTHROUGH') {
    c.type = 'ORIGINAL_DST';
    c.lb_policy = 'CLUSTER_PROVIDED';
  } else {
    c.type = 'EDS';
    c.eds_cluster_config = { eds_config: adsConfigSource(), service_name: name };
  }
  const policy = effectivePolicy(dr, port.port, subset);
  if (c.type !== 'ORIGINAL_DST') applyLoadBalancer(c, policy, opts);
  applyConnectionPool(c, policy, isHttp2(port.protocol), opts);
  applyOutlierDetection(c, policy);
  return c;
}

/** Clusters for every port of `service`: the default one plus one per DestinationRule subset. */
export function buildServiceClusters(
  registry: ServiceRegistry, service: Service, dr: DestinationRuleSpec | undefined, opts: ClusterOptions,
): DecodedMessage[] {
  const out: DecodedMessage[] = [];
  for (const port of service.ports) {
    if (port.protocol === 'UDP') continue;
    out.push(buildOutboundCluster(registry, service, port, undefined, dr, opts));
    for (const s of dr?.subsets ?? []) out.push(buildOutboundCluster(registry, service, port, s.name, dr, opts));
  }
  return out;
}

/** A STATIC cluster to a local address (inbound clusters, Sidecar ingress defaultEndpoint). */
export function buildStaticCluster(name: string, address: string, port: number): DecodedMessage {
  return {
    name,
    // type STATIC and lb_policy ROUND_ROBIN are the proto defaults.
    connect_timeout: DEFAULT_CONNECT_TIMEOUT_MS,
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(address, port) } }] }] },
    circuit_breakers: { thresholds: [{ max_connections: MAX_U32, max_pending_requests: MAX_U32, max_requests: MAX_U32, max_retries: MAX_U32, track_remaining: true }] },
  };
}
