import type { RouteEntry as MatchedRoute, RouteRequest } from '../route/types';
import type { StreamInfo } from '../stream-info';
import type { Counter, Gauge, Histogram } from '../telemetry/stats';
import type { ConnectionPool, PoolCluster } from '../upstream/conn-pool';

/**
 * What the HTTP connection manager needs from the layers it drives (routes, clusters, access logs).
 * Declared here as narrow interfaces so that the connection manager can be read on its own.
 */

export type { RouteRequest, RouteEntry as MatchedRoute } from '../route/types';

/** Matches a request to a route (a compiled RouteConfiguration). */
export interface RouteMatcher {
  match(req: RouteRequest, random: number): MatchedRoute | null;
}

export interface UpstreamHost {
  readonly address: string;
  readonly port: number;
  /** "ip:port" */
  readonly key: string;
  /** The endpoint's hostname (STRICT_DNS name or endpoint.hostname), for auto_host_rewrite; "" if none. */
  readonly hostname: string;
  activeRequests: number;
  // Envoy's per-host request counters, shown by /clusters.
  rq_total: number;
  rq_success: number;
  rq_error: number;
  rq_timeout: number;
}

export interface ClusterStatsView {
  upstream_rq_total: Counter;
  upstream_rq_active: Gauge;
  upstream_rq_completed: Counter;
  upstream_rq_timeout: Counter;
  upstream_rq_tx_reset: Counter;
  upstream_rq_rx_reset: Counter;
  upstream_rq_cancelled: Counter;
  upstream_cx_none_healthy: Counter;
  upstream_rq_time: Histogram;
  upstream_rq_per_try_timeout: Counter;
  upstream_rq_retry: Counter;
  upstream_rq_retry_success: Counter;
  upstream_rq_retry_overflow: Counter;
  upstream_rq_retry_limit_exceeded: Counter;
  upstream_rq_retry_backoff_exponential: Counter;
  retry_or_shadow_abandoned: Counter;
  /** Counts upstream_rq_<code> and upstream_rq_<N>xx. */
  chargeResponseCode(status: number): void;
}

export interface UpstreamCluster extends PoolCluster {
  readonly name: string;
  readonly stats: ClusterStatsView;
  /** Picks a host (and charges upstream_cx_none_healthy when there is none). */
  chooseHost(ctx: { hashKey?: number }): UpstreamHost | null;
  /** The host's connection pool (HTTP/1.1 or HTTP/2 by the cluster's protocol options), created on first use. */
  poolFor(host: UpstreamHost): ConnectionPool;
  /** The max_requests circuit breaker. */
  canSendRequest(): boolean;
  requestStarted(): void;
  requestFinished(): void;
  requestOverflow(): void;
  /** The max_retries circuit breaker (concurrent retries). */
  canRetry(): boolean;
  retryStarted(): void;
  retryFinished(): void;
  /** Outcomes for outlier detection; cheap no-ops when the cluster has none. */
  reportHttpStatus(host: UpstreamHost, status: number): void;
  reportConnectFailure(host: UpstreamHost, timedOut: boolean): void;
  reportTimeout(host: UpstreamHost): void;
  reportConnectSuccess(host: UpstreamHost): void;
  /** A TCP proxy connected: nothing above TCP will report on this host (Envoy's CONNECT_SUCCESS_FINAL). */
  reportConnectSuccessFinal(host: UpstreamHost): void;
  /** The upstream answered with x-envoy-immediate-health-check-fail. */
  reportImmediateHealthCheckFail(host: UpstreamHost): void;
}

export interface ClusterLookup {
  get(name: string): UpstreamCluster | undefined;
}

export interface AccessLogSink {
  log(info: StreamInfo): void;
}
