/**
 * Compiles `Cluster.outlier_detection` (envoy.config.cluster.v3.OutlierDetection, decoded form)
 * with Envoy's defaults (DetectorConfig in outlier_detection_impl.h).
 */
import { ConfigIssue, joinPath, rejectUnsupported } from '../../../lib/config-error';
import { Decoded, isObject, notImplemented, readBool, readNumber } from '../../../lib/decoded-read';

export interface OutlierConfig {
  intervalMs: number;
  baseEjectionTimeMs: number;
  maxEjectionTimeMs: number;
  maxEjectionTimeJitterMs: number;
  maxEjectionPercent: number;
  alwaysEjectOneHost: boolean;
  consecutive5xx: number;
  consecutiveGatewayFailure: number;
  consecutiveLocalOriginFailure: number;
  splitExternalLocalOriginErrors: boolean;
  successRateMinimumHosts: number;
  successRateRequestVolume: number;
  successRateStdevFactor: number;
  failurePercentageThreshold: number;
  failurePercentageMinimumHosts: number;
  failurePercentageRequestVolume: number;
  enforcingConsecutive5xx: number;
  enforcingConsecutiveGatewayFailure: number;
  enforcingSuccessRate: number;
  enforcingFailurePercentage: number;
  enforcingFailurePercentageLocalOrigin: number;
  enforcingConsecutiveLocalOriginFailure: number;
  enforcingLocalOriginSuccessRate: number;
  successfulActiveHealthCheckUnejectHost: boolean;
}

const FIELDS = [
  'consecutive_5xx',
  'interval',
  'base_ejection_time',
  'max_ejection_percent',
  'enforcing_consecutive_5xx',
  'enforcing_success_rate',
  'success_rate_minimum_hosts',
  'success_rate_request_volume',
  'success_rate_stdev_factor',
  'consecutive_gateway_failure',
  'enforcing_consecutive_gateway_failure',
  'split_external_local_origin_errors',
  'consecutive_local_origin_failure',
  'enforcing_consecutive_local_origin_failure',
  'enforcing_local_origin_success_rate',
  'failure_percentage_threshold',
  'enforcing_failure_percentage',
  'enforcing_failure_percentage_local_origin',
  'failure_percentage_minimum_hosts',
  'failure_percentage_request_volume',
  'max_ejection_time',
  'max_ejection_time_jitter',
  'successful_active_health_check_uneject_host',
  'always_eject_one_host',
];

export function parseOutlierDetection(v: unknown, path: string, issues: ConfigIssue[]): OutlierConfig | undefined {
  const start = issues.length;
  if (!isObject(v)) {
    issues.push({ path, message: 'expected an OutlierDetection message' });
    return undefined;
  }
  const o: Decoded = v;
  notImplemented(o, ['monitors'], path, issues);
  rejectUnsupported(o, path, [...FIELDS, 'monitors'], issues);
  const u32 = (f: string, dflt: number): number => readNumber(o, f, path, issues, { min: 0, max: 0xffffffff, integer: true }) ?? dflt;
  const pct = (f: string, dflt: number): number => readNumber(o, f, path, issues, { min: 0, max: 100, integer: true }) ?? dflt;
  const ms = (f: string, dflt: number): number => readNumber(o, f, path, issues, { gt: 0 }) ?? dflt;

  const baseEjectionTimeMs = ms('base_ejection_time', 30000);
  const maxEjectionTimeMs = ms('max_ejection_time', Math.max(300000, baseEjectionTimeMs));
  if (maxEjectionTimeMs < baseEjectionTimeMs) {
    issues.push({ path: joinPath(path, 'max_ejection_time'), message: "outlier detector's max_ejection_time cannot be smaller than base_ejection_time" });
  }
  const cfg: OutlierConfig = {
    intervalMs: ms('interval', 10000),
    baseEjectionTimeMs,
    maxEjectionTimeMs,
    maxEjectionTimeJitterMs: readNumber(o, 'max_ejection_time_jitter', path, issues, { min: 0 }) ?? 0,
    maxEjectionPercent: pct('max_ejection_percent', 10),
    alwaysEjectOneHost: readBool(o, 'always_eject_one_host', path, issues) ?? false,
    consecutive5xx: u32('consecutive_5xx', 5),
    consecutiveGatewayFailure: u32('consecutive_gateway_failure', 5),
    consecutiveLocalOriginFailure: u32('consecutive_local_origin_failure', 5),
    splitExternalLocalOriginErrors: readBool(o, 'split_external_local_origin_errors', path, issues) ?? false,
    successRateMinimumHosts: u32('success_rate_minimum_hosts', 5),
    successRateRequestVolume: u32('success_rate_request_volume', 100),
    successRateStdevFactor: u32('success_rate_stdev_factor', 1900),
    failurePercentageThreshold: pct('failure_percentage_threshold', 85),
    failurePercentageMinimumHosts: u32('failure_percentage_minimum_hosts', 5),
    failurePercentageRequestVolume: u32('failure_percentage_request_volume', 50),
    enforcingConsecutive5xx: pct('enforcing_consecutive_5xx', 100),
    enforcingConsecutiveGatewayFailure: pct('enforcing_consecutive_gateway_failure', 0),
    enforcingSuccessRate: pct('enforcing_success_rate', 100),
    enforcingFailurePercentage: pct('enforcing_failure_percentage', 0),
    enforcingFailurePercentageLocalOrigin: pct('enforcing_failure_percentage_local_origin', 0),
    enforcingConsecutiveLocalOriginFailure: pct('enforcing_consecutive_local_origin_failure', 100),
    enforcingLocalOriginSuccessRate: pct('enforcing_local_origin_success_rate', 100),
    successfulActiveHealthCheckUnejectHost: readBool(o, 'successful_active_health_check_uneject_host', path, issues) ?? true,
  };
  return issues.length > start ? undefined : cfg;
}
