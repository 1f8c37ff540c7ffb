/**
 * Validation of a decoded `envoy.config.cluster.v3.Cluster` into the ClusterConfig a Cluster is
 * built from: every field Weft implements is read here, every other one is an issue by path.
 */
import { ConfigIssue, joinPath, rejectUnsupported } from '../../lib/config-error';
import { parseCircuitBreakers } from './circuit-breakers';
import { Decoded, isObject, readBool, readEnum, readNumber, readObject, readString } from '../../lib/decoded-read';
import { DNS_LOOKUP_FAMILIES, DnsLookupFamily } from './dns';
import { HTTP_PROTOCOL_OPTIONS_NAME, parseHttpOptions, UpstreamHttpOptions } from './http-options';
import { LbConfig, parseLbConfig } from './lb';
import { DEFAULT_ZONE_AWARE, ZoneAwareConfig } from './lb/types';
import { EndpointSpec, parseLoadAssignment } from './load-assignment';
import { HealthCheckConfig, parseHealthChecks } from './health/config';
import { OutlierConfig, parseOutlierDetection } from './outlier/config';
import { PLAINTEXT_TRANSPORT, type UpstreamTransport } from './transport-socket';
import { compileUpstreamTransport } from '../tls/upstream';
import type { SecretStore } from '../secret/secret-store';
import type { StatsStore } from '../telemetry/stats';

export type ClusterType = 'STATIC' | 'STRICT_DNS' | 'LOGICAL_DNS' | 'EDS';
const CLUSTER_TYPES: readonly ClusterType[] = ['STATIC', 'STRICT_DNS', 'LOGICAL_DNS', 'EDS'];
const KNOWN_CLUSTER_TYPES = ['ORIGINAL_DST'];

export interface DnsSettings {
  lookupFamily: DnsLookupFamily;
  refreshRateMs: number;
  failureRefresh: { baseMs: number; maxMs: number } | undefined;
  respectTtl: boolean;
}

/** Everything compileCluster read from the config; the Cluster is built from it. */
export interface ClusterConfig {
  name: string;
  altStatName: string | undefined;
  type: ClusterType;
  connectTimeoutMs: number;
  perConnectionBufferLimitBytes: number;
  lb: LbConfig;
  healthyPanicThreshold: number;
  localityWeighted: boolean;
  /** common_lb_config.zone_aware_lb_config, or Envoy's defaults. Applies once a local cluster is set. */
  zoneAware: ZoneAwareConfig;
  overprovisioningFactor: number;
  circuitBreakers: ReturnType<typeof parseCircuitBreakers>;
  http: UpstreamHttpOptions;
  dns: DnsSettings;
  endpoints: EndpointSpec[];
  edsServiceName: string | undefined;
  /** The eds_cluster_config.eds_config ConfigSource, decoded, for the xDS client. */
  edsConfig: Decoded | undefined;
  metadata: Decoded;
  /** health_checks (at most one; Envoy runs one health checker per cluster). */
  healthChecks: HealthCheckConfig[];
  outlierDetection: OutlierConfig | undefined;
  /** transport_socket: plaintext, or TLS (UpstreamTlsContext). */
  transport: UpstreamTransport;
}

/** What compiling a cluster's transport_socket needs: the secret store and the stats for cluster.<name>.ssl.*. */
export interface ClusterTransportDeps {
  secrets: SecretStore;
  stats: StatsStore;
}

const SUPPORTED_FIELDS = [
  'name',
  'alt_stat_name',
  'type',
  'eds_cluster_config',
  'connect_timeout',
  'per_connection_buffer_limit_bytes',
  'lb_policy',
  'load_assignment',
  'circuit_breakers',
  'typed_extension_protocol_options',
  'common_http_protocol_options',
  'http_protocol_options',
  'http2_protocol_options',
  'max_requests_per_connection',
  'protocol_selection',
  'dns_refresh_rate',
  'dns_failure_refresh_rate',
  'respect_dns_ttl',
  'dns_lookup_family',
  'common_lb_config',
  'ring_hash_lb_config',
  'maglev_lb_config',
  'least_request_lb_config',
  'round_robin_lb_config',
  'metadata',
  'health_checks',
  'outlier_detection',
  'transport_socket',
];

/** Validates a decoded Cluster into a ClusterConfig; undefined when any issue was found. */
export function parseClusterConfig(
  decoded: unknown,
  path: string,
  issues: ConfigIssue[],
  transportDeps?: ClusterTransportDeps,
): ClusterConfig | undefined {
  const start = issues.length;
  if (!isObject(decoded)) {
    issues.push({ path, message: 'expected a Cluster' });
    return undefined;
  }
  const c = decoded;
  rejectUnsupported(c, path, SUPPORTED_FIELDS, issues);

  const name = readString(c, 'name', path, issues) ?? '';
  if (name === '') issues.push({ path: joinPath(path, 'name'), message: 'cluster name is required' });
  const altStatName = readString(c, 'alt_stat_name', path, issues) || undefined;
  const type = readEnum(c, 'type', path, issues, CLUSTER_TYPES, KNOWN_CLUSTER_TYPES) ?? 'STATIC';

  const connectTimeoutMs = readNumber(c, 'connect_timeout', path, issues, { gt: 0 }) ?? 5000;
  const perConnectionBufferLimitBytes =
    readNumber(c, 'per_connection_buffer_limit_bytes', path, issues, { min: 0, max: 0xffffffff, integer: true }) ?? 1024 * 1024;

  const lb = parseLbConfig(c, path, issues);

  // common_lb_config
  let healthyPanicThreshold = 50;
  let localityWeighted = false;
  let zoneAware: ZoneAwareConfig = DEFAULT_ZONE_AWARE;
  const clb = readObject(c, 'common_lb_config', path, issues);
  if (clb) {
    const cp = joinPath(path, 'common_lb_config');
    rejectUnsupported(clb, cp, ['healthy_panic_threshold', 'locality_weighted_lb_config', 'zone_aware_lb_config'], issues);
    const hpt = readObject(clb, 'healthy_panic_threshold', cp, issues);
    if (hpt) {
      const hp = joinPath(cp, 'healthy_panic_threshold');
      rejectUnsupported(hpt, hp, ['value'], issues);
      healthyPanicThreshold = readNumber(hpt, 'value', hp, issues, { min: 0, max: 100 }) ?? 0;
    }
    const lwc = readObject(clb, 'locality_weighted_lb_config', cp, issues);
    if (lwc) {
      rejectUnsupported(lwc, joinPath(cp, 'locality_weighted_lb_config'), [], issues);
      localityWeighted = true;
    }
    const zac = readObject(clb, 'zone_aware_lb_config', cp, issues);
    if (zac) {
      const zp = joinPath(cp, 'zone_aware_lb_config');
      if (lwc) issues.push({ path: zp, message: 'zone_aware_lb_config and locality_weighted_lb_config are mutually exclusive' });
      rejectUnsupported(zac, zp, ['routing_enabled', 'min_cluster_size', 'fail_traffic_on_panic'], issues);
      let routingEnabled = DEFAULT_ZONE_AWARE.routingEnabled;
      const re = readObject(zac, 'routing_enabled', zp, issues);
      if (re) {
        const rp = joinPath(zp, 'routing_enabled');
        rejectUnsupported(re, rp, ['value'], issues);
        // Envoy rounds the Percent to an integer (PROTOBUF_PERCENT_TO_ROUNDED_INTEGER_OR_DEFAULT).
        routingEnabled = Math.round(readNumber(re, 'value', rp, issues, { min: 0, max: 100 }) ?? 0);
      }
      zoneAware = {
        routingEnabled,
        minClusterSize: readNumber(zac, 'min_cluster_size', zp, issues, { min: 0, integer: true }) ?? DEFAULT_ZONE_AWARE.minClusterSize,
        failTrafficOnPanic: readBool(zac, 'fail_traffic_on_panic', zp, issues) ?? false,
      };
    }
  }

  const circuitBreakers = parseCircuitBreakers(c['circuit_breakers'], joinPath(path, 'circuit_breakers'), issues);
  const http = parseHttpOptions(c, path, issues);

  // DNS
  const dns: DnsSettings = {
    lookupFamily: readEnum(c, 'dns_lookup_family', path, issues, DNS_LOOKUP_FAMILIES) ?? 'AUTO',
    refreshRateMs: readNumber(c, 'dns_refresh_rate', path, issues, { gt: 1 }) ?? 5000,
    failureRefresh: undefined,
    respectTtl: readBool(c, 'respect_dns_ttl', path, issues) ?? false,
  };
  const dfr = readObject(c, 'dns_failure_refresh_rate', path, issues);
  if (dfr) {
    const fp = joinPath(path, 'dns_failure_refresh_rate');
    rejectUnsupported(dfr, fp, ['base_interval', 'max_interval'], issues);
    const base = readNumber(dfr, 'base_interval', fp, issues, { gt: 1 });
    if (base === undefined) {
      if (dfr['base_interval'] === undefined) issues.push({ path: joinPath(fp, 'base_interval'), message: 'base_interval is required' });
    } else {
      const max = readNumber(dfr, 'max_interval', fp, issues, { gt: 1 }) ?? base * 10;
      if (max < base) issues.push({ path: joinPath(fp, 'max_interval'), message: 'max_interval must be >= base_interval' });
      dns.failureRefresh = { baseMs: base, maxMs: max };
    }
  }
  const isDns = type === 'STRICT_DNS' || type === 'LOGICAL_DNS';
  if (!isDns) {
    for (const f of ['dns_lookup_family', 'dns_refresh_rate', 'dns_failure_refresh_rate', 'respect_dns_ttl']) {
      if (c[f] !== undefined) issues.push({ path: joinPath(path, f), message: `only used by STRICT_DNS and LOGICAL_DNS clusters` });
    }
  }

  // Endpoints
  let endpoints: EndpointSpec[] = [];
  let overprovisioningFactor = 140;
  if (c['load_assignment'] !== undefined) {
    const lp = joinPath(path, 'load_assignment');
    if (type === 'EDS') {
      issues.push({ path: lp, message: 'EDS clusters take their endpoints from EDS, not load_assignment' });
    } else {
      const parsed = parseLoadAssignment(c['load_assignment'], lp, issues);
      endpoints = parsed.endpoints;
      overprovisioningFactor = parsed.overprovisioningFactor ?? 140;
      if (type === 'STATIC') {
        for (const e of endpoints) {
          if (!e.isIp) issues.push({ path: lp, message: `malformed IP address: ${e.address} (STATIC clusters take IP addresses)` });
        }
      }
      if (type === 'LOGICAL_DNS') {
        const la = c['load_assignment'] as Decoded;
        const lles = Array.isArray(la['endpoints']) ? la['endpoints'] : [];
        const single =
          lles.length === 1 && isObject(lles[0]) && Array.isArray(lles[0]['lb_endpoints']) && lles[0]['lb_endpoints'].length === 1;
        if (!single) {
          issues.push({ path: lp, message: 'LOGICAL_DNS clusters must have a single locality_lb_endpoint and a single lb_endpoint' });
        }
      }
    }
  }

  let edsServiceName: string | undefined;
  let edsConfig: Decoded | undefined;
  const ecc = readObject(c, 'eds_cluster_config', path, issues);
  if (ecc) {
    const ep = joinPath(path, 'eds_cluster_config');
    if (type !== 'EDS') issues.push({ path: ep, message: 'eds_cluster_config is only used by EDS clusters' });
    rejectUnsupported(ecc, ep, ['eds_config', 'service_name'], issues);
    edsServiceName = readString(ecc, 'service_name', ep, issues) || undefined;
    edsConfig = readObject(ecc, 'eds_config', ep, issues);
  }

  const metadata = readObject(c, 'metadata', path, issues) ?? {};
  const healthChecks = parseHealthChecks(c, path, issues);
  const outlierDetection =
    c['outlier_detection'] !== undefined ? parseOutlierDetection(c['outlier_detection'], joinPath(path, 'outlier_detection'), issues) : undefined;

  let transport: UpstreamTransport = PLAINTEXT_TRANSPORT;
  if (c['transport_socket'] !== undefined) {
    const tp = joinPath(path, 'transport_socket');
    if (transportDeps === undefined) issues.push({ path: tp, message: 'transport sockets need the proxy secret store' });
    else {
      const statPrefix = `cluster.${altStatName ?? name}.`;
      transport = compileUpstreamTransport(c['transport_socket'], tp, issues, { ...transportDeps, statPrefix }) ?? PLAINTEXT_TRANSPORT;
    }
  }

  if (http.protocol === 'auto' && !transport.secure && issues.length === start) {
    // As Envoy: choosing the protocol by ALPN needs a transport that negotiates ALPN.
    issues.push({
      path: `${joinPath(path, 'typed_extension_protocol_options')}[${JSON.stringify(HTTP_PROTOCOL_OPTIONS_NAME)}].auto_config`,
      message: `ALPN configured for cluster ${name} which has a non-ALPN transport socket (auto_config needs a TLS transport_socket; use explicit_http_config over plaintext)`,
    });
  }

  if (issues.length > start) return undefined;
  return {
    name,
    altStatName,
    type,
    connectTimeoutMs,
    perConnectionBufferLimitBytes,
    lb,
    healthyPanicThreshold,
    localityWeighted,
    zoneAware,
    overprovisioningFactor,
    circuitBreakers,
    http,
    dns,
    endpoints,
    edsServiceName,
    edsConfig,
    metadata,
    healthChecks,
    outlierDetection,
    transport,
  };
}
