/**
 * Per-host outlier state (Envoy's DetectorHostMonitorImpl), held on `Host.outlier`: consecutive
 * error counters, two success-rate accumulators (external and local origin; each a "current"
 * bucket being written and the "previous" interval's bucket being read), ejection bookkeeping.
 * Plain number fields only: the router's reports touch nothing else.
 */

/** Envoy's Upstream::Outlier::Result, in Envoy's order. */
export const enum OutlierResult {
  /** Timed out while connecting or executing a request. */
  LOCAL_ORIGIN_TIMEOUT = 0,
  /** The upstream refused or dropped the connection. */
  LOCAL_ORIGIN_CONNECT_FAILED = 1,
  /** Connected; a higher protocol (HTTP) will report the outcome. */
  LOCAL_ORIGIN_CONNECT_SUCCESS = 2,
  /** Connected, and nothing above TCP will report (tcp_proxy). */
  LOCAL_ORIGIN_CONNECT_SUCCESS_FINAL = 3,
  /** The upstream said it could not process the request (non-HTTP protocols). */
  EXT_ORIGIN_REQUEST_FAILED = 4,
  /** The request completed successfully (non-HTTP protocols). */
  EXT_ORIGIN_REQUEST_SUCCESS = 5,
}

/** Envoy's envoy.data.cluster.v3.OutlierEjectionType. */
export const enum EjectionType {
  CONSECUTIVE_5XX = 0,
  CONSECUTIVE_GATEWAY_FAILURE = 1,
  SUCCESS_RATE = 2,
  CONSECUTIVE_LOCAL_ORIGIN_FAILURE = 3,
  SUCCESS_RATE_LOCAL_ORIGIN = 4,
  FAILURE_PERCENTAGE = 5,
  FAILURE_PERCENTAGE_LOCAL_ORIGIN = 6,
}

export const EJECTION_TYPE_NAMES = [
  'CONSECUTIVE_5XX',
  'CONSECUTIVE_GATEWAY_FAILURE',
  'SUCCESS_RATE',
  'CONSECUTIVE_LOCAL_ORIGIN_FAILURE',
  'SUCCESS_RATE_LOCAL_ORIGIN',
  'FAILURE_PERCENTAGE',
  'FAILURE_PERCENTAGE_LOCAL_ORIGIN',
] as const;

/** Success-rate accumulator: current interval being written, previous interval being read. */
export class SuccessRateAccumulator {
  curSuccess = 0;
  curTotal = 0;
  prevSuccess = 0;
  prevTotal = 0;
  /** Last computed success rate (0..100), -1 when not computed this interval (for /clusters). */
  successRate = -1;

  /** Envoy's updateCurrentWriter: the current bucket becomes the one read. */
  swap(): void {
    this.prevSuccess = this.curSuccess;
    this.prevTotal = this.curTotal;
    this.curSuccess = 0;
    this.curTotal = 0;
  }
}

export class HostOutlierMonitor {
  consecutive5xx = 0;
  consecutiveGatewayFailure = 0;
  consecutiveLocalOriginFailure = 0;
  readonly external = new SuccessRateAccumulator();
  readonly localOrigin = new SuccessRateAccumulator();
  numEjections = 0;
  /** Multiplier of base_ejection_time for the next ejection; grows per ejection, shrinks per good interval. */
  ejectTimeBackoff = 0;
  /** performance.now() of the last ejection / unejection; -1 = never. */
  lastEjectionTime = -1;
  lastUnejectionTime = -1;
  jitterMs = 0;

  /** The detector that owns this monitor (a host belongs to one cluster). */
  constructor(readonly owner: object) {}

  resetConsecutive(): void {
    this.consecutive5xx = 0;
    this.consecutiveGatewayFailure = 0;
    this.consecutiveLocalOriginFailure = 0;
  }
}
