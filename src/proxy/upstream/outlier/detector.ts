/**
 * Outlier detection with Envoy's semantics (Upstream::Outlier::DetectorImpl): consecutive 5xx /
 * gateway-failure / local-origin-failure ejections as the errors arrive, success-rate and
 * failure-percentage ejections on each interval, max_ejection_percent, enforcing_* percentages,
 * ejection time = min(base × backoff, max) + jitter, where the backoff grows on each ejection and
 * shrinks on each interval the host stays in. Ejected hosts carry FAILED_OUTLIER_CHECK.
 *
 * The router's reports (putHttpResponseCode, putResult, putResponseTime) are field updates on the
 * host's monitor: no allocation, no lookup; an ejection (rare) rebuilds the cluster's LB tables.
 */
import type { Counter, Gauge } from '../../telemetry/stats';
import { HealthFlag, Host } from '../host';
import type { OutlierConfig } from './config';
import { EventRing, OutlierDetectionEventJson, rateField } from './events';
import { EJECTION_TYPE_NAMES, EjectionType, HostOutlierMonitor, OutlierResult, SuccessRateAccumulator } from './host-monitor';

export const OUTLIER_COUNTERS = [
  'ejections_total',
  'ejections_overflow',
  'ejections_enforced_total',
  'ejections_success_rate',
  'ejections_consecutive_5xx',
  'ejections_detected_consecutive_5xx',
  'ejections_enforced_consecutive_5xx',
  'ejections_detected_consecutive_gateway_failure',
  'ejections_enforced_consecutive_gateway_failure',
  'ejections_detected_success_rate',
  'ejections_enforced_success_rate',
  'ejections_detected_failure_percentage',
  'ejections_enforced_failure_percentage',
  'ejections_detected_consecutive_local_origin_failure',
  'ejections_enforced_consecutive_local_origin_failure',
  'ejections_detected_local_origin_success_rate',
  'ejections_enforced_local_origin_success_rate',
  'ejections_detected_local_origin_failure_percentage',
  'ejections_enforced_local_origin_failure_percentage',
] as const;

export type OutlierCounterName = (typeof OUTLIER_COUNTERS)[number];
export type OutlierStats = { readonly [K in OutlierCounterName]: Counter } & { readonly ejections_active: Gauge };

/** Suffix of the detected/enforced counters per ejection type. */
const TYPE_STAT = [
  'consecutive_5xx',
  'consecutive_gateway_failure',
  'success_rate',
  'consecutive_local_origin_failure',
  'local_origin_success_rate',
  'failure_percentage',
  'local_origin_failure_percentage',
] as const;

export interface OutlierDetectorDeps {
  clusterName: string;
  /** Creates `cluster.<name>.<suffix>` stats. */
  counter(suffix: string): Counter;
  gauge(suffix: string): Gauge;
  log(level: 'info' | 'warn' | 'debug', msg: string): void;
  /** Random integer source; default Math.random based. */
  random?: () => number;
  /** Monotonic milliseconds; default performance.now. */
  now?: () => number;
  /** Capacity of the recent-events ring (default 100). */
  eventCapacity?: number;
}

/** Cluster-wide success-rate figures of the last interval (-1 = not computed). */
export interface SuccessRateNums {
  average: number;
  threshold: number;
}

const defaultRandom = (): number => Math.floor(Math.random() * 0x100000000);

function isGatewayError(code: number): boolean {
  return code === 502 || code === 503 || code === 504;
}

export class OutlierDetector {
  readonly stats: OutlierStats;
  readonly externalSr: SuccessRateNums = { average: -1, threshold: -1 };
  readonly localSr: SuccessRateNums = { average: -1, threshold: -1 };
  private readonly hosts = new Set<Host>();
  private readonly events: EventRing;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly callbacks = new Set<(host: Host) => void>();
  private timer: NodeJS.Timeout | null = null;
  private active = 0;
  private closed = false;

  constructor(
    readonly config: OutlierConfig,
    private readonly deps: OutlierDetectorDeps,
  ) {
    const s: Record<string, Counter | Gauge> = {};
    for (const n of OUTLIER_COUNTERS) s[n] = deps.counter('outlier_detection.' + n);
    s['ejections_active'] = deps.gauge('outlier_detection.ejections_active');
    this.stats = s as unknown as OutlierStats;
    this.random = deps.random ?? defaultRandom;
    this.now = deps.now ?? (() => performance.now());
    this.events = new EventRing(deps.eventCapacity ?? 100);
    this.armTimer();
  }

  // ---- hot path (the router) ----

  /** An HTTP response status from `host` (Envoy's putHttpResponseCode). */
  putHttpResponseCode(host: Host, code: number): void {
    const m = host.outlier;
    if (m === null || m.owner !== this) return;
    const sr = m.external;
    sr.curTotal++;
    if (code >= 500 && code < 600) {
      if (isGatewayError(code)) {
        if (++m.consecutiveGatewayFailure === this.config.consecutiveGatewayFailure) {
          this.onConsecutiveError(host, m, EjectionType.CONSECUTIVE_GATEWAY_FAILURE);
        }
      } else {
        m.consecutiveGatewayFailure = 0;
      }
      if (++m.consecutive5xx === this.config.consecutive5xx) this.onConsecutiveError(host, m, EjectionType.CONSECUTIVE_5XX);
    } else {
      sr.curSuccess++;
      m.consecutive5xx = 0;
      m.consecutiveGatewayFailure = 0;
    }
  }

  /**
   * A connection-level or non-HTTP outcome (Envoy's putResult). Without
   * split_external_local_origin_errors it is mapped to an HTTP status (timeout 504, connect
   * failure 503, request failure 500, success 200; CONNECT_SUCCESS is not counted); `code`
   * overrides the mapping. With the split, local-origin results feed their own counters.
   */
  putResult(host: Host, result: OutlierResult, code?: number): void {
    const m = host.outlier;
    if (m === null || m.owner !== this) return;
    if (!this.config.splitExternalLocalOriginErrors) {
      if (code !== undefined) {
        this.putHttpResponseCode(host, code);
        return;
      }
      switch (result) {
        case OutlierResult.EXT_ORIGIN_REQUEST_SUCCESS:
        case OutlierResult.LOCAL_ORIGIN_CONNECT_SUCCESS_FINAL:
          this.putHttpResponseCode(host, 200);
          return;
        case OutlierResult.LOCAL_ORIGIN_TIMEOUT:
          this.putHttpResponseCode(host, 504);
          return;
        case OutlierResult.LOCAL_ORIGIN_CONNECT_FAILED:
          this.putHttpResponseCode(host, 503);
          return;
        case OutlierResult.EXT_ORIGIN_REQUEST_FAILED:
          this.putHttpResponseCode(host, 500);
          return;
        case OutlierResult.LOCAL_ORIGIN_CONNECT_SUCCESS:
          return;
      }
      return;
    }
    switch (result) {
      case OutlierResult.LOCAL_ORIGIN_CONNECT_SUCCESS:
      case OutlierResult.LOCAL_ORIGIN_CONNECT_SUCCESS_FINAL:
        this.localOriginNoFailure(m);
        return;
      case OutlierResult.LOCAL_ORIGIN_TIMEOUT:
      case OutlierResult.LOCAL_ORIGIN_CONNECT_FAILED:
        m.localOrigin.curTotal++;
        if (++m.consecutiveLocalOriginFailure === this.config.consecutiveLocalOriginFailure) {
          this.onConsecutiveError(host, m, EjectionType.CONSECUTIVE_LOCAL_ORIGIN_FAILURE);
        }
        return;
      case OutlierResult.EXT_ORIGIN_REQUEST_FAILED:
        this.putHttpResponseCode(host, 503);
        return;
      case OutlierResult.EXT_ORIGIN_REQUEST_SUCCESS:
        this.putHttpResponseCode(host, 200);
        this.localOriginNoFailure(m);
        return;
    }
  }

  /** Response time report (Envoy's putResponseTime): not used by any detection type. */
  putResponseTime(_host: Host, _ms: number): void {}

  private localOriginNoFailure(m: HostOutlierMonitor): void {
    m.localOrigin.curTotal++;
    m.localOrigin.curSuccess++;
    m.consecutiveLocalOriginFailure = 0;
  }

  // ---- membership ----

  addHosts(hosts: readonly Host[]): void {
    if (this.closed) return;
    for (const h of hosts) {
      if (this.hosts.has(h)) continue;
      this.hosts.add(h);
      h.outlier = new HostOutlierMonitor(this);
    }
  }

  removeHosts(hosts: readonly Host[]): void {
    for (const h of hosts) {
      if (!this.hosts.delete(h)) continue;
      if (h.healthFlagGet(HealthFlag.FAILED_OUTLIER_CHECK)) this.setActive(this.active - 1);
      if (h.outlier?.owner === this) h.outlier = null;
    }
  }

  /** Called with a host whenever it is ejected or unejected. */
  onEjectionChange(cb: (host: Host) => void): () => void {
    this.callbacks.add(cb);
    return () => this.callbacks.delete(cb);
  }

  /** The most recent ejection/unejection events, oldest first (Envoy's OutlierDetectionEvent JSON). */
  recentEvents(): OutlierDetectionEventJson[] {
    return this.events.toArray();
  }

  /** Ejected hosts right now. */
  get ejectionsActive(): number {
    return this.active;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.setActive(0);
    for (const h of this.hosts) if (h.outlier?.owner === this) h.outlier = null;
    this.hosts.clear();
    this.callbacks.clear();
  }

  /**
   * Active health checking saw the host pass (successful_active_health_check_uneject_host):
   * an ejected host that is not failing active checks returns at once.
   */
  onActiveHealthCheckSuccess(host: Host): void {
    if (!this.config.successfulActiveHealthCheckUnejectHost || !this.hosts.has(host)) return;
    if (!host.healthFlagGet(HealthFlag.FAILED_ACTIVE_HC) && host.healthFlagGet(HealthFlag.FAILED_OUTLIER_CHECK)) {
      this.unejectHost(host);
    }
  }

  /** Runs one detection interval now (tests; the timer calls it every `interval`). */
  runInterval(): void {
    if (this.closed) return;
    const now = this.now();
    for (const h of this.hosts) {
      const m = h.outlier as HostOutlierMonitor;
      this.checkHostForUneject(h, m, now);
      m.external.swap();
      m.localOrigin.swap();
      m.external.successRate = -1;
      m.localOrigin.successRate = -1;
    }
    this.processSuccessRate(false);
    this.processSuccessRate(true);
    for (const h of this.hosts) {
      if (h.healthFlagGet(HealthFlag.FAILED_OUTLIER_CHECK)) continue;
      const m = h.outlier as HostOutlierMonitor;
      if (m.lastUnejectionTime >= 0 && now - m.lastUnejectionTime >= this.config.intervalMs && m.ejectTimeBackoff !== 0) {
        m.ejectTimeBackoff--;
      }
    }
  }

  // ---- internals ----

  private armTimer(): void {
    if (this.closed) return;
    this.timer = setTimeout(this.onTimer, this.config.intervalMs);
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.runInterval();
    this.armTimer();
  };

  private setActive(n: number): void {
    this.active = n;
    this.stats.ejections_active.set(n);
  }

  private onConsecutiveError(host: Host, m: HostOutlierMonitor, type: EjectionType): void {
    if (this.closed || !this.hosts.has(host)) return;
    if (host.healthFlagGet(HealthFlag.FAILED_OUTLIER_CHECK)) return;
    this.stats[`ejections_detected_${TYPE_STAT[type]}`].inc();
    this.ejectHost(host, m, type);
    switch (type) {
      case EjectionType.CONSECUTIVE_5XX:
        this.stats.ejections_consecutive_5xx.inc();
        m.consecutive5xx = 0;
        break;
      case EjectionType.CONSECUTIVE_GATEWAY_FAILURE:
        m.consecutiveGatewayFailure = 0;
        break;
      case EjectionType.CONSECUTIVE_LOCAL_ORIGIN_FAILURE:
        m.consecutiveLocalOriginFailure = 0;
        break;
      default:
        break;
    }
  }

  private enforcing(type: EjectionType): number {
    const c = this.config;
    switch (type) {
      case EjectionType.CONSECUTIVE_5XX:
        return c.enforcingConsecutive5xx;
      case EjectionType.CONSECUTIVE_GATEWAY_FAILURE:
        return c.enforcingConsecutiveGatewayFailure;
      case EjectionType.SUCCESS_RATE:
        return c.enforcingSuccessRate;
      case EjectionType.CONSECUTIVE_LOCAL_ORIGIN_FAILURE:
        return c.enforcingConsecutiveLocalOriginFailure;
      case EjectionType.SUCCESS_RATE_LOCAL_ORIGIN:
        return c.enforcingLocalOriginSuccessRate;
      case EjectionType.FAILURE_PERCENTAGE:
        return c.enforcingFailurePercentage;
      case EjectionType.FAILURE_PERCENTAGE_LOCAL_ORIGIN:
        return c.enforcingFailurePercentageLocalOrigin;
    }
  }

  private ejectHost(host: Host, m: HostOutlierMonitor, type: EjectionType): void {
    const c = this.config;
    const maxPercent = Math.min(100, c.maxEjectionPercent);
    const ejectedPercent = (100 * (this.active + 1)) / this.hosts.size;
    let should = ejectedPercent <= maxPercent;
    if (c.alwaysEjectOneHost) should = this.active === 0 || should;
    if (!should) {
      this.stats.ejections_overflow.inc();
      return;
    }
    if (type === EjectionType.CONSECUTIVE_5XX || type === EjectionType.SUCCESS_RATE) this.stats.ejections_total.inc();
    // Envoy's runtime featureEnabled(key, percent): a uniform draw in [0, 100) below the percentage.
    if (this.random() % 100 < this.enforcing(type)) {
      this.setActive(this.active + 1);
      this.stats.ejections_enforced_total.inc();
      this.stats[`ejections_enforced_${TYPE_STAT[type]}`].inc();
      const now = this.now();
      m.numEjections++;
      m.lastEjectionTime = now;
      m.jitterMs = this.random() % (Math.floor(c.maxEjectionTimeJitterMs) + 1);
      if (m.ejectTimeBackoff * c.baseEjectionTimeMs < c.maxEjectionTimeMs + c.baseEjectionTimeMs) m.ejectTimeBackoff++;
      host.setHealthFlag(HealthFlag.FAILED_OUTLIER_CHECK);
      this.logEject(host, m, type, true, m.lastUnejectionTime, now);
      for (const cb of [...this.callbacks]) cb(host);
    } else {
      this.logEject(host, m, type, false, m.lastUnejectionTime, this.now());
    }
  }

  private checkHostForUneject(host: Host, m: HostOutlierMonitor, now: number): void {
    if (!host.healthFlagGet(HealthFlag.FAILED_OUTLIER_CHECK)) return;
    const c = this.config;
    const ejectFor = Math.min(c.baseEjectionTimeMs * m.ejectTimeBackoff, c.maxEjectionTimeMs) + m.jitterMs;
    if (ejectFor <= now - m.lastEjectionTime) this.unejectHost(host);
  }

  private unejectHost(host: Host): void {
    const m = host.outlier as HostOutlierMonitor;
    this.setActive(this.active - 1);
    m.resetConsecutive();
    const now = this.now();
    m.lastUnejectionTime = now;
    host.clearHealthFlag(HealthFlag.FAILED_OUTLIER_CHECK);
    const e: OutlierDetectionEventJson = {
      type: EJECTION_TYPE_NAMES[0],
      timestamp: new Date().toISOString(),
      cluster_name: this.deps.clusterName,
      upstream_url: host.key,
      action: 'UNEJECT',
      num_ejections: m.numEjections,
      enforced: false,
    };
    if (m.lastEjectionTime >= 0) e.secs_since_last_action = String(Math.floor((now - m.lastEjectionTime) / 1000));
    this.events.push(e);
    this.deps.log('info', `outlier detection: uneject ${host.key} in cluster ${this.deps.clusterName} (${m.numEjections} ejections)`);
    for (const cb of [...this.callbacks]) cb(host);
  }

  private processSuccessRate(localOrigin: boolean): void {
    const c = this.config;
    const nums = localOrigin ? this.localSr : this.externalSr;
    nums.average = -1;
    nums.threshold = -1;
    const n = this.hosts.size;
    if (n < c.successRateMinimumHosts && n < c.failurePercentageMinimumHosts) return;
    const srHosts: Host[] = [];
    const srRates: number[] = [];
    const fpHosts: Host[] = [];
    const fpRates: number[] = [];
    let sum = 0;
    const minVolume = Math.min(c.successRateRequestVolume, c.failurePercentageRequestVolume);
    for (const h of this.hosts) {
      if (h.healthFlagGet(HealthFlag.FAILED_OUTLIER_CHECK)) continue;
      const acc: SuccessRateAccumulator = localOrigin ? (h.outlier as HostOutlierMonitor).localOrigin : (h.outlier as HostOutlierMonitor).external;
      if (acc.prevTotal === 0) continue;
      const rate = (acc.prevSuccess * 100) / acc.prevTotal;
      const volume = acc.prevTotal;
      if (volume >= minVolume) acc.successRate = rate;
      if (volume >= c.successRateRequestVolume) {
        srHosts.push(h);
        srRates.push(rate);
        sum += rate;
      }
      if (volume >= c.failurePercentageRequestVolume) {
        fpHosts.push(h);
        fpRates.push(rate);
      }
    }
    if (srHosts.length > 0 && srHosts.length >= c.successRateMinimumHosts) {
      const mean = sum / srHosts.length;
      let variance = 0;
      for (const r of srRates) variance += (r - mean) * (r - mean);
      variance /= srHosts.length;
      const threshold = mean - (c.successRateStdevFactor / 1000) * Math.sqrt(variance);
      nums.average = mean;
      nums.threshold = threshold;
      const type = localOrigin ? EjectionType.SUCCESS_RATE_LOCAL_ORIGIN : EjectionType.SUCCESS_RATE;
      for (let i = 0; i < srHosts.length; i++) {
        if (srRates[i] < threshold) {
          this.stats.ejections_success_rate.inc();
          this.stats[`ejections_detected_${TYPE_STAT[type]}`].inc();
          const h = srHosts[i];
          if (!h.healthFlagGet(HealthFlag.FAILED_OUTLIER_CHECK)) this.ejectHost(h, h.outlier as HostOutlierMonitor, type);
        }
      }
    }
    if (fpHosts.length > 0 && fpHosts.length >= c.failurePercentageMinimumHosts) {
      const type = localOrigin ? EjectionType.FAILURE_PERCENTAGE_LOCAL_ORIGIN : EjectionType.FAILURE_PERCENTAGE;
      for (let i = 0; i < fpHosts.length; i++) {
        if (100 - fpRates[i] >= c.failurePercentageThreshold) {
          this.stats[`ejections_detected_${TYPE_STAT[type]}`].inc();
          const h = fpHosts[i];
          if (!h.healthFlagGet(HealthFlag.FAILED_OUTLIER_CHECK)) this.ejectHost(h, h.outlier as HostOutlierMonitor, type);
        }
      }
    }
  }

  private logEject(host: Host, m: HostOutlierMonitor, type: EjectionType, enforced: boolean, lastAction: number, now: number): void {
    const e: OutlierDetectionEventJson = {
      type: EJECTION_TYPE_NAMES[type],
      timestamp: new Date().toISOString(),
      cluster_name: this.deps.clusterName,
      upstream_url: host.key,
      action: 'EJECT',
      num_ejections: m.numEjections,
      enforced,
    };
    if (lastAction >= 0) e.secs_since_last_action = String(Math.floor((now - lastAction) / 1000));
    if (type === EjectionType.SUCCESS_RATE || type === EjectionType.SUCCESS_RATE_LOCAL_ORIGIN) {
      const local = type === EjectionType.SUCCESS_RATE_LOCAL_ORIGIN;
      const nums = local ? this.localSr : this.externalSr;
      e.eject_success_rate_event = {
        host_success_rate: rateField((local ? m.localOrigin : m.external).successRate),
        cluster_average_success_rate: rateField(nums.average),
        cluster_success_rate_ejection_threshold: rateField(nums.threshold),
      };
    } else if (type === EjectionType.FAILURE_PERCENTAGE || type === EjectionType.FAILURE_PERCENTAGE_LOCAL_ORIGIN) {
      const local = type === EjectionType.FAILURE_PERCENTAGE_LOCAL_ORIGIN;
      e.eject_failure_percentage_event = { host_success_rate: rateField((local ? m.localOrigin : m.external).successRate) };
    } else {
      e.eject_consecutive_event = {};
    }
    this.events.push(e);
    this.deps.log(
      enforced ? 'info' : 'debug',
      `outlier detection: ${enforced ? 'eject' : 'detected (not enforced)'} ${host.key} in cluster ${this.deps.clusterName}: ${e.type} (${m.numEjections} ejections)`,
    );
  }
}
