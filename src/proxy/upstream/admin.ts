/**
 * Envoy's admin `/clusters` output, text and `?format=json` (envoy.admin.v3.Clusters rendered
 * as proto3 JSON: snake_case names, default values omitted, 64-bit values as strings).
 */
import type { Cluster } from './cluster';
import type { ClusterManager } from './cluster-manager';
import type { Thresholds } from './circuit-breakers';
import { HealthFlag, Host } from './host';

const HOST_COUNTERS = ['cx_connect_fail', 'cx_total', 'rq_error', 'rq_success', 'rq_timeout', 'rq_total'] as const;
const HOST_GAUGES = ['cx_active', 'rq_active'] as const;

function hostStatValue(h: Host, name: (typeof HOST_COUNTERS)[number] | (typeof HOST_GAUGES)[number]): number {
  return h[name];
}

/** Accepts a ClusterManager or a plain list of clusters; clusters are listed by name. */
export type ClusterSource = ClusterManager | readonly Cluster[];

function clustersOf(src: ClusterSource): Cluster[] {
  if (Array.isArray(src)) return [...(src as readonly Cluster[])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return (src as ClusterManager).all();
}

/** C's %g (fmt's {:g}): six significant digits, no trailing zeros. */
function fmtG(v: number): string {
  return String(Number(v.toPrecision(6)));
}

function observabilityName(c: Cluster): string {
  return c.config.altStatName ?? c.name;
}

/** The text form: `<cluster>::<host>::<stat>::<value>` lines, as Envoy prints them. */
export function clustersAdminText(src: ClusterSource): string {
  let out = '';
  for (const c of clustersOf(src)) {
    const n = c.name;
    out += `${n}::observability_name::${observabilityName(c)}\n`;
    const od = c.outlierDetector;
    if (od) {
      out += `${n}::outlier::success_rate_average::${fmtG(od.externalSr.average)}\n`;
      out += `${n}::outlier::success_rate_ejection_threshold::${fmtG(od.externalSr.threshold)}\n`;
      out += `${n}::outlier::local_origin_success_rate_average::${fmtG(od.localSr.average)}\n`;
      out += `${n}::outlier::local_origin_success_rate_ejection_threshold::${fmtG(od.localSr.threshold)}\n`;
    }
    for (const [label, t] of [
      ['default', c.circuitBreakers.default.thresholds],
      ['high', c.circuitBreakers.high.thresholds],
    ] as const) {
      out += `${n}::${label}_priority::max_connections::${t.max_connections}\n`;
      out += `${n}::${label}_priority::max_pending_requests::${t.max_pending_requests}\n`;
      out += `${n}::${label}_priority::max_requests::${t.max_requests}\n`;
      out += `${n}::${label}_priority::max_retries::${t.max_retries}\n`;
    }
    out += `${n}::added_via_api::${c.addedViaApi}\n`;
    if (c.edsServiceName) out += `${n}::eds_service_name::${c.edsServiceName}\n`;
    for (const hs of c.prioritySet.hostSets) {
      for (const h of hs.hosts) {
        const p = `${n}::${h.key}::`;
        const stats = [...HOST_COUNTERS, ...HOST_GAUGES].sort();
        for (const s of stats) out += `${p}${s}::${hostStatValue(h, s)}\n`;
        out += `${p}hostname::${h.hostname}\n`;
        out += `${p}health_flags::${h.healthFlagsString}\n`;
        out += `${p}weight::${h.weight}\n`;
        out += `${p}region::${h.locality.region}\n`;
        out += `${p}zone::${h.locality.zone}\n`;
        out += `${p}sub_zone::${h.locality.sub_zone}\n`;
        out += `${p}canary::${h.canary}\n`;
        out += `${p}priority::${h.priority}\n`;
        out += `${p}success_rate::${h.outlier ? h.outlier.external.successRate : -1}\n`;
        out += `${p}local_origin_success_rate::${h.outlier ? h.outlier.localOrigin.successRate : -1}\n`;
      }
    }
  }
  return out;
}

// ---- JSON ----

export interface SimpleMetricJson {
  name: string;
  value?: string;
  type?: 'GAUGE';
}

export interface HostStatusJson {
  address: { socket_address: { address: string; port_value?: number } };
  stats: SimpleMetricJson[];
  health_status: {
    failed_active_health_check?: true;
    failed_outlier_check?: true;
    failed_active_degraded_check?: true;
    pending_dynamic_removal?: true;
    pending_active_hc?: true;
    excluded_via_immediate_hc_fail?: true;
    active_hc_timeout?: true;
    eds_health_status: 'HEALTHY' | 'UNHEALTHY' | 'DEGRADED';
  };
  success_rate?: { value: number };
  weight?: number;
  hostname?: string;
  priority?: number;
  local_origin_success_rate?: { value: number };
  locality: { region?: string; zone?: string; sub_zone?: string };
}

export interface ThresholdsJson {
  priority?: 'HIGH';
  max_connections?: number;
  max_pending_requests?: number;
  max_requests?: number;
  max_retries?: number;
}

export interface ClusterStatusJson {
  name: string;
  added_via_api?: true;
  host_statuses?: HostStatusJson[];
  circuit_breakers: { thresholds: ThresholdsJson[] };
  observability_name: string;
  eds_service_name?: string;
}

export interface ClustersJson {
  cluster_statuses?: ClusterStatusJson[];
}

function thresholdsJson(t: Readonly<Thresholds>, high: boolean): ThresholdsJson {
  const o: ThresholdsJson = {};
  if (high) o.priority = 'HIGH';
  if (t.max_connections) o.max_connections = t.max_connections;
  if (t.max_pending_requests) o.max_pending_requests = t.max_pending_requests;
  if (t.max_requests) o.max_requests = t.max_requests;
  if (t.max_retries) o.max_retries = t.max_retries;
  return o;
}

function hostJson(h: Host): HostStatusJson {
  const stats: SimpleMetricJson[] = [];
  for (const s of HOST_COUNTERS) {
    const v = h[s];
    stats.push(v ? { name: s, value: String(v) } : { name: s });
  }
  for (const s of HOST_GAUGES) {
    const v = h[s];
    stats.push(v ? { name: s, value: String(v), type: 'GAUGE' } : { name: s, type: 'GAUGE' });
  }
  const f = h.healthFlags;
  const hsj: HostStatusJson['health_status'] = {
    eds_health_status:
      f & HealthFlag.FAILED_EDS_HEALTH ? 'UNHEALTHY' : f & HealthFlag.DEGRADED_EDS_HEALTH ? 'DEGRADED' : 'HEALTHY',
  };
  if (f & HealthFlag.FAILED_ACTIVE_HC) hsj.failed_active_health_check = true;
  if (f & HealthFlag.FAILED_OUTLIER_CHECK) hsj.failed_outlier_check = true;
  if (f & HealthFlag.DEGRADED_ACTIVE_HC) hsj.failed_active_degraded_check = true;
  if (f & HealthFlag.PENDING_DYNAMIC_REMOVAL) hsj.pending_dynamic_removal = true;
  if (f & HealthFlag.PENDING_ACTIVE_HC) hsj.pending_active_hc = true;
  if (f & HealthFlag.EXCLUDED_VIA_IMMEDIATE_HC_FAIL) hsj.excluded_via_immediate_hc_fail = true;
  if (f & HealthFlag.ACTIVE_HC_TIMEOUT) hsj.active_hc_timeout = true;
  const sa: HostStatusJson['address']['socket_address'] = { address: h.address };
  if (h.port) sa.port_value = h.port;
  const loc: HostStatusJson['locality'] = {};
  if (h.locality.region) loc.region = h.locality.region;
  if (h.locality.zone) loc.zone = h.locality.zone;
  if (h.locality.sub_zone) loc.sub_zone = h.locality.sub_zone;
  const out: HostStatusJson = { address: { socket_address: sa }, stats, health_status: hsj, locality: loc };
  const sr = h.outlier ? h.outlier.external.successRate : -1;
  if (sr >= 0) out.success_rate = { value: sr };
  if (h.weight) out.weight = h.weight;
  if (h.hostname) out.hostname = h.hostname;
  if (h.priority) out.priority = h.priority;
  const lsr = h.outlier ? h.outlier.localOrigin.successRate : -1;
  if (lsr >= 0) out.local_origin_success_rate = { value: lsr };
  return out;
}

/** The `?format=json` form as an object; JSON.stringify(x, null, 1) for Envoy-like output. */
export function clustersAdminJson(src: ClusterSource): ClustersJson {
  const statuses: ClusterStatusJson[] = clustersOf(src).map((c) => {
    const s: ClusterStatusJson = {
      name: c.name,
      circuit_breakers: {
        thresholds: [thresholdsJson(c.circuitBreakers.default.thresholds, false), thresholdsJson(c.circuitBreakers.high.thresholds, true)],
      },
      observability_name: observabilityName(c),
    };
    if (c.addedViaApi) s.added_via_api = true;
    const hosts = c.allHosts();
    if (hosts.length > 0) s.host_statuses = hosts.map(hostJson);
    if (c.edsServiceName) s.eds_service_name = c.edsServiceName;
    return s;
  });
  return statuses.length > 0 ? { cluster_statuses: statuses } : {};
}
