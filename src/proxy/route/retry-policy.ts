import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { isObject, readArray, readNumber, readObject, readString, type Decoded } from '../../lib/decoded-read';
import type { HeaderMap } from '../../lib/headers';
import { compileHeaderMatcher, type HeaderMatcher } from './request-matchers';

/**
 * Envoy's route retry_policy, compiled: which outcomes are retried, how often, with what back-off
 * and per-try timeouts. The x-envoy-retry-on / x-envoy-retry-grpc-on / x-envoy-max-retries request
 * headers widen it per request, as in Envoy.
 */

export const enum RetryOn {
  None = 0,
  Http5xx = 1 << 0,
  GatewayError = 1 << 1,
  Reset = 1 << 2,
  ConnectFailure = 1 << 3,
  Retriable4xx = 1 << 4,
  RefusedStream = 1 << 5,
  RetriableStatusCodes = 1 << 6,
  RetriableHeaders = 1 << 7,
  EnvoyRateLimited = 1 << 8,
  ResetBeforeRequest = 1 << 9,
  GrpcCancelled = 1 << 10,
  GrpcDeadlineExceeded = 1 << 11,
  GrpcInternal = 1 << 12,
  GrpcResourceExhausted = 1 << 13,
  GrpcUnavailable = 1 << 14,
}

const RETRY_ON_NAMES: Record<string, RetryOn> = {
  '5xx': RetryOn.Http5xx,
  'gateway-error': RetryOn.GatewayError,
  reset: RetryOn.Reset,
  'reset-before-request': RetryOn.ResetBeforeRequest,
  'connect-failure': RetryOn.ConnectFailure,
  'retriable-4xx': RetryOn.Retriable4xx,
  'refused-stream': RetryOn.RefusedStream,
  'retriable-status-codes': RetryOn.RetriableStatusCodes,
  'retriable-headers': RetryOn.RetriableHeaders,
  'envoy-ratelimited': RetryOn.EnvoyRateLimited,
  cancelled: RetryOn.GrpcCancelled,
  'deadline-exceeded': RetryOn.GrpcDeadlineExceeded,
  internal: RetryOn.GrpcInternal,
  'resource-exhausted': RetryOn.GrpcResourceExhausted,
  unavailable: RetryOn.GrpcUnavailable,
};

/** Parses a comma-separated retry_on list; unknown names go to `unknown` (config) or are skipped (headers). */
export function parseRetryOn(value: string, unknown?: (name: string) => void): number {
  let bits = 0;
  for (const raw of value.split(',')) {
    const name = raw.trim();
    if (name === '') continue;
    const bit = RETRY_ON_NAMES[name];
    if (bit === undefined) unknown?.(name);
    else bits |= bit;
  }
  return bits;
}

export interface RetryPolicy {
  readonly retryOn: number;
  readonly numRetries: number;
  /** 0: none (the route timeout alone applies). */
  readonly perTryTimeoutMs: number;
  readonly baseIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly retriableStatusCodes: ReadonlySet<number>;
  readonly retriableHeaders: readonly HeaderMatcher[];
  /** retry_host_predicate previous_hosts: avoid hosts already tried. */
  readonly avoidPreviousHosts: boolean;
  readonly hostSelectionMaxAttempts: number;
}

export const NO_RETRY: RetryPolicy = {
  retryOn: 0,
  numRetries: 0,
  perTryTimeoutMs: 0,
  baseIntervalMs: 25,
  maxIntervalMs: 250,
  retriableStatusCodes: new Set(),
  retriableHeaders: [],
  avoidPreviousHosts: false,
  hostSelectionMaxAttempts: 1,
};

const PREVIOUS_HOSTS = 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate';

const SUPPORTED = [
  'retry_on',
  'num_retries',
  'per_try_timeout',
  'retry_back_off',
  'retriable_status_codes',
  'retriable_headers',
  'retry_host_predicate',
  'host_selection_retry_max_attempts',
];

export function compileRetryPolicy(rp: Decoded, path: string, issues: ConfigIssue[]): RetryPolicy {
  rejectUnsupported(rp, path, SUPPORTED, issues);
  const retryOn = parseRetryOn(readString(rp, 'retry_on', path, issues) ?? '', (name) =>
    issues.push({ path: joinPath(path, 'retry_on'), message: `unknown retry_on condition '${name}'` }),
  );
  const backOff = readObject(rp, 'retry_back_off', path, issues);
  let baseIntervalMs = 25;
  let maxIntervalMs = 250;
  if (backOff !== undefined) {
    const bp = joinPath(path, 'retry_back_off');
    rejectUnsupported(backOff, bp, ['base_interval', 'max_interval'], issues);
    baseIntervalMs = readNumber(backOff, 'base_interval', bp, issues, { gt: 0 }) ?? 25;
    maxIntervalMs = readNumber(backOff, 'max_interval', bp, issues, { gt: 0 }) ?? baseIntervalMs * 10;
    if (maxIntervalMs < baseIntervalMs) issues.push({ path: joinPath(bp, 'max_interval'), message: 'max_interval must be >= base_interval' });
  }
  const codes = new Set<number>();
  for (const c of readArray(rp, 'retriable_status_codes', path, issues)) if (typeof c === 'number') codes.add(c);
  const headers: HeaderMatcher[] = [];
  readArray(rp, 'retriable_headers', path, issues).forEach((h, i) => {
    if (!isObject(h)) return;
    const m = compileHeaderMatcher(h, joinPath(joinPath(path, 'retriable_headers'), i), issues);
    if (m !== undefined) headers.push(m);
  });
  let avoidPreviousHosts = false;
  readArray(rp, 'retry_host_predicate', path, issues).forEach((p, i) => {
    const pp = joinPath(joinPath(path, 'retry_host_predicate'), i);
    if (!isObject(p)) return;
    const tc = isObject(p.typed_config) ? p.typed_config : undefined;
    if (tc?.['@type'] === PREVIOUS_HOSTS || (tc === undefined && p.name === 'envoy.retry_host_predicates.previous_hosts')) {
      avoidPreviousHosts = true;
    } else {
      issues.push({ path: pp, message: `retry host predicate ${String(tc?.['@type'] ?? p.name)} is not implemented by Weft` });
    }
  });
  return {
    retryOn,
    numRetries: readNumber(rp, 'num_retries', path, issues, { min: 0, integer: true }) ?? 1,
    perTryTimeoutMs: readNumber(rp, 'per_try_timeout', path, issues, { min: 0 }) ?? 0,
    baseIntervalMs,
    maxIntervalMs,
    retriableStatusCodes: codes,
    retriableHeaders: headers,
    avoidPreviousHosts,
    hostSelectionMaxAttempts: readNumber(rp, 'host_selection_retry_max_attempts', path, issues, { min: 1, integer: true }) ?? 1,
  };
}

/**
 * The effective policy for one request: the route's, widened by x-envoy-retry-on,
 * x-envoy-retry-grpc-on, x-envoy-max-retries and x-envoy-upstream-rq-per-try-timeout-ms (stripped here).
 */
export function policyForRequest(policy: RetryPolicy, headers: HeaderMap): RetryPolicy {
  const on = headers.get('x-envoy-retry-on');
  const grpcOn = headers.get('x-envoy-retry-grpc-on');
  const max = headers.get('x-envoy-max-retries');
  const perTry = headers.get('x-envoy-upstream-rq-per-try-timeout-ms');
  if (on === undefined && grpcOn === undefined && max === undefined && perTry === undefined) return policy;
  headers.remove('x-envoy-retry-on');
  headers.remove('x-envoy-retry-grpc-on');
  headers.remove('x-envoy-max-retries');
  headers.remove('x-envoy-upstream-rq-per-try-timeout-ms');
  const perTryMs = perTry === undefined ? NaN : Number(perTry);
  let retryOn = policy.retryOn;
  if (on !== undefined) retryOn |= parseRetryOn(on);
  if (grpcOn !== undefined) retryOn |= parseRetryOn(grpcOn);
  const n = max === undefined ? NaN : Number(max);
  return {
    ...policy,
    retryOn,
    numRetries: Number.isInteger(n) && n >= 0 ? n : policy.numRetries,
    perTryTimeoutMs: Number.isInteger(perTryMs) && perTryMs >= 0 ? perTryMs : policy.perTryTimeoutMs,
  };
}

const GRPC_STATUS_BITS: Record<string, RetryOn> = {
  '1': RetryOn.GrpcCancelled,
  '4': RetryOn.GrpcDeadlineExceeded,
  '13': RetryOn.GrpcInternal,
  '8': RetryOn.GrpcResourceExhausted,
  '14': RetryOn.GrpcUnavailable,
};

/** Whether a response (status and headers) is worth another attempt under this policy. */
export function shouldRetryResponse(policy: RetryPolicy, status: number, headers: HeaderMap): boolean {
  const on = policy.retryOn;
  if (on === 0) return false;
  if (on & RetryOn.Http5xx && status >= 500) return true;
  if (on & RetryOn.GatewayError && (status === 502 || status === 503 || status === 504)) return true;
  if (on & RetryOn.Retriable4xx && status === 409) return true;
  if (on & RetryOn.RetriableStatusCodes && policy.retriableStatusCodes.has(status)) return true;
  if (on & RetryOn.EnvoyRateLimited && headers.has('x-envoy-ratelimited')) return true;
  if (on & RetryOn.RetriableHeaders && policy.retriableHeaders.length > 0) {
    const view = { method: '', path: '', authority: '', scheme: '', headers };
    for (const m of policy.retriableHeaders) if (m.matches(view)) return true;
  }
  const grpc = headers.get('grpc-status');
  if (grpc !== undefined) {
    const bit = GRPC_STATUS_BITS[grpc];
    if (bit !== undefined && on & bit) return true;
  }
  return false;
}

export const enum ResetKind {
  ConnectFailure,
  /** The connection broke before any response byte. */
  Reset,
  /** Connection refused before the request was sent (HTTP/2 REFUSED_STREAM, pool overflow). */
  Refused,
}

export function shouldRetryReset(policy: RetryPolicy, kind: ResetKind): boolean {
  const on = policy.retryOn;
  switch (kind) {
    case ResetKind.ConnectFailure:
      return (on & (RetryOn.ConnectFailure | RetryOn.Reset | RetryOn.GatewayError | RetryOn.Http5xx | RetryOn.ResetBeforeRequest)) !== 0;
    case ResetKind.Reset:
      return (on & (RetryOn.Reset | RetryOn.GatewayError | RetryOn.Http5xx)) !== 0;
    case ResetKind.Refused:
      return (on & (RetryOn.RefusedStream | RetryOn.Reset | RetryOn.ResetBeforeRequest)) !== 0;
  }
}

/**
 * Envoy's back-off before retry number n (1-based): uniformly random in [0, (2^n - 1) * base],
 * the window capped at max_interval.
 */
export function backoffMs(policy: RetryPolicy, retryNumber: number, random: number): number {
  const window = Math.min((2 ** retryNumber - 1) * policy.baseIntervalMs, policy.maxIntervalMs);
  return Math.floor(random * window);
}
