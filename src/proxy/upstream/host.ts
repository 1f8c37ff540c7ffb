/**
 * One upstream endpoint (Envoy's Upstream::Host): address, weight, priority, locality, metadata,
 * health flags and the per-host stats shown by the admin `/clusters` endpoint.
 *
 * Everything the data path touches is a plain field: the router and connection pool bump
 * `activeRequests` / `rq_total` etc. directly, with no calls and no allocation.
 */

import type { HostOutlierMonitor } from './outlier/host-monitor';

/** What the connection pool (owned by the lead, src/proxy/upstream/conn-pool.ts) exposes to the cluster. */
export interface HostPool {
  /** Stop handing out connections; close each one when it goes idle (host removed, config change). */
  drain(): void;
  /** Close everything now. */
  close(): void;
}

/** Envoy's `envoy.config.core.v3.Locality`. Absent fields are empty strings, as Envoy prints them. */
export interface Locality {
  region: string;
  zone: string;
  sub_zone: string;
}

/** Envoy's Host::HealthFlag, as bits, in the order Envoy prints them in `health_flags`. */
export const enum HealthFlag {
  FAILED_ACTIVE_HC = 1 << 0,
  FAILED_OUTLIER_CHECK = 1 << 1,
  FAILED_EDS_HEALTH = 1 << 2,
  DEGRADED_ACTIVE_HC = 1 << 3,
  DEGRADED_EDS_HEALTH = 1 << 4,
  PENDING_DYNAMIC_REMOVAL = 1 << 5,
  PENDING_ACTIVE_HC = 1 << 6,
  EXCLUDED_VIA_IMMEDIATE_HC_FAIL = 1 << 7,
  ACTIVE_HC_TIMEOUT = 1 << 8,
}

const FLAG_NAMES: ReadonlyArray<readonly [number, string]> = [
  [HealthFlag.FAILED_ACTIVE_HC, 'failed_active_hc'],
  [HealthFlag.FAILED_OUTLIER_CHECK, 'failed_outlier_check'],
  [HealthFlag.FAILED_EDS_HEALTH, 'failed_eds_health'],
  [HealthFlag.DEGRADED_ACTIVE_HC, 'degraded_active_hc'],
  [HealthFlag.DEGRADED_EDS_HEALTH, 'degraded_eds_health'],
  [HealthFlag.PENDING_DYNAMIC_REMOVAL, 'pending_dynamic_removal'],
  [HealthFlag.PENDING_ACTIVE_HC, 'pending_active_hc'],
  [HealthFlag.EXCLUDED_VIA_IMMEDIATE_HC_FAIL, 'excluded_via_immediate_hc_fail'],
  [HealthFlag.ACTIVE_HC_TIMEOUT, 'active_hc_timeout'],
];

/** Flags that make a host unhealthy (not routed to outside panic mode). */
const UNHEALTHY_MASK =
  HealthFlag.FAILED_ACTIVE_HC |
  HealthFlag.FAILED_OUTLIER_CHECK |
  HealthFlag.FAILED_EDS_HEALTH |
  HealthFlag.ACTIVE_HC_TIMEOUT |
  HealthFlag.EXCLUDED_VIA_IMMEDIATE_HC_FAIL;
/** Flags that make an otherwise healthy host degraded. */
const DEGRADED_MASK = HealthFlag.DEGRADED_ACTIVE_HC | HealthFlag.DEGRADED_EDS_HEALTH;
/** Flags that exclude a host from the priority-load and panic arithmetic (Envoy's excludedHosts). */
const EXCLUDED_MASK = HealthFlag.PENDING_ACTIVE_HC | HealthFlag.EXCLUDED_VIA_IMMEDIATE_HC_FAIL;

/** Envoy's coarse health of a host. */
export const enum CoarseHealth {
  Unhealthy = 0,
  Degraded = 1,
  Healthy = 2,
}

/** Renders health flags exactly as Envoy's `/clusters` does ("healthy", or "/failed_active_hc/..."). */
export function healthFlagsToString(flags: number): string {
  if (flags === 0) return 'healthy';
  let s = '';
  for (const [bit, name] of FLAG_NAMES) if (flags & bit) s += '/' + name;
  return s;
}

/** Decoded `envoy.config.core.v3.Metadata` (filter_metadata / typed_filter_metadata). */
export type HostMetadata = Readonly<Record<string, unknown>>;

export interface HostInit {
  address: string;
  port: number;
  weight?: number;
  priority?: number;
  locality?: Partial<Locality>;
  /** load_balancing_weight of the LocalityLbEndpoints the host came from (0 = unset). */
  localityWeight?: number;
  metadata?: HostMetadata;
  /** endpoint.hostname, or the DNS name a STRICT/LOGICAL_DNS host was resolved from. */
  hostname?: string;
  /** Initial health flags (e.g. FAILED_EDS_HEALTH from an EDS health_status). */
  healthFlags?: number;
}

export class Host {
  address: string;
  port: number;
  /** "ip:port" ("[v6]:port" for IPv6), Envoy's address()->asString(). */
  key: string;
  weight: number;
  priority: number;
  readonly locality: Locality;
  /** "region/zone/sub_zone": groups hosts by locality. */
  readonly localityKey: string;
  localityWeight: number;
  metadata: HostMetadata;
  readonly hostname: string;

  /** HealthFlag bits; 0 = healthy. Change it through setHealthFlag/clearHealthFlag so the cluster hears of it. */
  healthFlags: number;

  /** Requests in flight to this host (the router maintains it; LEAST_REQUEST reads it). */
  activeRequests = 0;
  /** Open connections to this host (the pool maintains it). */
  activeConnections = 0;

  // Envoy's per-host counters (HostStats), plain fields for the hot path and for /clusters.
  cx_connect_fail = 0;
  cx_total = 0;
  rq_error = 0;
  rq_success = 0;
  rq_timeout = 0;
  rq_total = 0;

  /**
   * Outlier-detection state for this host, owned by the cluster's OutlierDetector (null when the
   * cluster has none). Kept on the host so the router's hot-path reports need no lookup.
   */
  outlier: HostOutlierMonitor | null = null;

  /** The connection pool for this host, set by the pool owner. */
  pool: HostPool | null = null;

  /** Set by the owning cluster: called when the host's coarse health or exclusion changes. */
  healthChangedCallback: ((host: Host) => void) | null = null;

  constructor(init: HostInit) {
    this.address = init.address;
    this.port = init.port;
    this.key = hostKey(init.address, init.port);
    this.weight = init.weight ?? 1;
    this.priority = init.priority ?? 0;
    this.locality = {
      region: init.locality?.region ?? '',
      zone: init.locality?.zone ?? '',
      sub_zone: init.locality?.sub_zone ?? '',
    };
    this.localityKey = `${this.locality.region}/${this.locality.zone}/${this.locality.sub_zone}`;
    this.localityWeight = init.localityWeight ?? 0;
    this.metadata = init.metadata ?? {};
    this.hostname = init.hostname ?? '';
    this.healthFlags = init.healthFlags ?? 0;
  }

  /** `filter_metadata["envoy.lb"].canary === true`, as Envoy reads it. */
  get canary(): boolean {
    return readCanary(this.metadata);
  }

  /** Gauge alias of activeConnections, under Envoy's stat name. */
  get cx_active(): number {
    return this.activeConnections;
  }
  set cx_active(v: number) {
    this.activeConnections = v;
  }
  /** Gauge alias of activeRequests, under Envoy's stat name. */
  get rq_active(): number {
    return this.activeRequests;
  }
  set rq_active(v: number) {
    this.activeRequests = v;
  }

  /** True when no flag makes the host unhealthy (degraded hosts are "healthy" in this coarse sense but see `coarseHealth`). */
  get healthy(): boolean {
    return (this.healthFlags & UNHEALTHY_MASK) === 0;
  }

  get coarseHealth(): CoarseHealth {
    if (this.healthFlags & UNHEALTHY_MASK) return CoarseHealth.Unhealthy;
    if (this.healthFlags & DEGRADED_MASK) return CoarseHealth.Degraded;
    return CoarseHealth.Healthy;
  }

  get excluded(): boolean {
    return (this.healthFlags & EXCLUDED_MASK) !== 0;
  }

  /** "healthy" or Envoy's "/flag/flag" string. */
  get healthFlagsString(): string {
    return healthFlagsToString(this.healthFlags);
  }

  healthFlagGet(flag: HealthFlag): boolean {
    return (this.healthFlags & flag) !== 0;
  }

  setHealthFlag(flag: HealthFlag): void {
    this.updateFlags(this.healthFlags | flag);
  }

  clearHealthFlag(flag: HealthFlag): void {
    this.updateFlags(this.healthFlags & ~flag);
  }

  /** Sets and clears several flags at once (one notification to the cluster). */
  updateHealthFlags(set: number, clear: number): void {
    this.updateFlags((this.healthFlags & ~clear) | set);
  }

  /** Used by LOGICAL_DNS when the name resolves to a new address; existing connections are kept. */
  setAddress(address: string, port: number): void {
    this.address = address;
    this.port = port;
    this.key = hostKey(address, port);
  }

  private updateFlags(next: number): void {
    const prev = this.healthFlags;
    if (prev === next) return;
    this.healthFlags = next;
    const relevant = UNHEALTHY_MASK | DEGRADED_MASK | EXCLUDED_MASK;
    if ((prev & relevant) !== (next & relevant) && this.healthChangedCallback) this.healthChangedCallback(this);
  }
}

export function hostKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

function readCanary(md: HostMetadata): boolean {
  const fm = md['filter_metadata'];
  if (!fm || typeof fm !== 'object') return false;
  const lb = (fm as Record<string, unknown>)['envoy.lb'];
  if (!lb || typeof lb !== 'object') return false;
  return (lb as Record<string, unknown>)['canary'] === true;
}
