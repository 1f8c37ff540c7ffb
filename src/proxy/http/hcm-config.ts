import type { Counter, Gauge, Histogram, StatsStore } from '../telemetry/stats';
import type { AccessLogSink, ClusterLookup, MatchedRoute, RouteMatcher } from './contracts';
import type { HttpFilterFactory } from './filter';
import type { Http2Options } from '../codec/http2/options';
import { Http2CodecStats } from '../codec/http2/stats';

/** The compiled, immutable form of one envoy.filters.network.http_connection_manager. */
export interface HcmConfig {
  readonly statPrefix: string;
  readonly routes: RouteMatcher;
  readonly clusters: ClusterLookup;
  readonly accessLogs: readonly AccessLogSink[];
  readonly stats: HcmStats;
  readonly useRemoteAddress: boolean;
  readonly skipXffAppend: boolean;
  readonly generateRequestId: boolean;
  readonly preserveExternalRequestId: boolean;
  /** "server" header on responses; undefined when passing the upstream's through. */
  readonly serverName: string | undefined;
  readonly maxRequestHeaderBytes: number;
  readonly maxHeadersCount: number;
  /** 0 disables each timeout. */
  readonly idleTimeoutMs: number;
  readonly streamIdleTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly requestHeadersTimeoutMs: number;
  readonly maxConnectionDurationMs: number;
  readonly drainTimeoutMs: number;
  /** How long a closing connection may take to flush before it is destroyed (0: at once). */
  readonly delayedCloseTimeoutMs: number;
  /** Upgrade types (lower-case) enabled by upgrade_configs. */
  readonly upgradeTypes: ReadonlySet<string>;
  /** Bytes a stream may buffer (request body awaiting an upstream, or response awaiting a slow reader). */
  readonly bufferLimitBytes: number;
  readonly rejectHeadersWithUnderscores: boolean;
  /** HTTP filters before the router, in configured order (empty: the router alone). */
  readonly httpFilters: readonly HttpFilterFactory[];
  /** The compiled typed_per_filter_config of the named filter for a route (most specific level). */
  perRouteConfig(filterName: string, route: MatchedRoute, cluster: string | null): unknown;
  /** common_http_protocol_options.max_stream_duration; 0: none. */
  readonly maxStreamDurationMs: number;
  /** HTTP/1.0 requests are refused with 426 unless accepted (Envoy's accept_http_10). */
  readonly acceptHttp10: boolean;
  /** Authority for HTTP/1.0 requests without Host. */
  readonly defaultHostForHttp10: string;
  /** codec_type: AUTO picks HTTP/2 on ALPN "h2" or the HTTP/2 connection preface, else HTTP/1.1. */
  readonly codecType: 'AUTO' | 'HTTP1' | 'HTTP2';
  /** http2_protocol_options for downstream HTTP/2 connections. */
  readonly http2: Http2Options;
}

/** Envoy's http.<stat_prefix>.* stats, created once per connection manager. */
export class HcmStats {
  readonly downstream_cx_total: Counter;
  readonly downstream_cx_active: Gauge;
  readonly downstream_cx_http1_total: Counter;
  readonly downstream_cx_http1_active: Gauge;
  readonly downstream_cx_http2_total: Counter;
  readonly downstream_cx_http2_active: Gauge;
  readonly downstream_rq_http2_total: Counter;
  readonly downstream_cx_destroy: Counter;
  readonly downstream_cx_destroy_remote: Counter;
  readonly downstream_cx_destroy_local: Counter;
  readonly downstream_cx_destroy_active_rq: Counter;
  readonly downstream_cx_destroy_remote_active_rq: Counter;
  readonly downstream_cx_destroy_local_active_rq: Counter;
  readonly downstream_cx_idle_timeout: Counter;
  readonly downstream_cx_max_duration_reached: Counter;
  readonly downstream_cx_protocol_error: Counter;
  readonly downstream_cx_rx_bytes_total: Counter;
  readonly downstream_cx_tx_bytes_total: Counter;
  readonly downstream_cx_upgrades_total: Counter;
  readonly downstream_cx_upgrades_active: Gauge;
  readonly downstream_cx_length_ms: Histogram;
  readonly downstream_rq_total: Counter;
  readonly downstream_rq_http1_total: Counter;
  readonly downstream_rq_active: Gauge;
  readonly downstream_rq_1xx: Counter;
  readonly downstream_rq_2xx: Counter;
  readonly downstream_rq_3xx: Counter;
  readonly downstream_rq_4xx: Counter;
  readonly downstream_rq_5xx: Counter;
  readonly downstream_rq_completed: Counter;
  readonly downstream_rq_rx_reset: Counter;
  readonly downstream_rq_tx_reset: Counter;
  readonly downstream_rq_non_relative_path: Counter;
  readonly downstream_rq_too_large: Counter;
  readonly downstream_rq_timeout: Counter;
  readonly downstream_rq_idle_timeout: Counter;
  readonly downstream_rq_max_duration_reached: Counter;
  readonly downstream_rq_header_timeout: Counter;
  readonly downstream_rq_overload_close: Counter;
  readonly downstream_rq_time: Histogram;
  readonly rq_direct_response: Counter;
  readonly rq_redirect: Counter;
  readonly no_route: Counter;
  readonly no_cluster: Counter;
  readonly rq_total: Counter;
  /** The downstream HTTP/2 codec's stats (root scope "http2.", as in Envoy). */
  readonly http2: Http2CodecStats;

  constructor(store: StatsStore, prefix: string) {
    this.http2 = new Http2CodecStats(store, '');
    const p = `http.${prefix}.`;
    const c = (n: string): Counter => store.counter(p + n);
    const g = (n: string): Gauge => store.gauge(p + n);
    this.downstream_cx_total = c('downstream_cx_total');
    this.downstream_cx_active = g('downstream_cx_active');
    this.downstream_cx_http1_total = c('downstream_cx_http1_total');
    this.downstream_cx_http1_active = g('downstream_cx_http1_active');
    this.downstream_cx_http2_total = c('downstream_cx_http2_total');
    this.downstream_cx_http2_active = g('downstream_cx_http2_active');
    this.downstream_rq_http2_total = c('downstream_rq_http2_total');
    this.downstream_cx_destroy = c('downstream_cx_destroy');
    this.downstream_cx_destroy_remote = c('downstream_cx_destroy_remote');
    this.downstream_cx_destroy_local = c('downstream_cx_destroy_local');
    this.downstream_cx_destroy_active_rq = c('downstream_cx_destroy_active_rq');
    this.downstream_cx_destroy_remote_active_rq = c('downstream_cx_destroy_remote_active_rq');
    this.downstream_cx_destroy_local_active_rq = c('downstream_cx_destroy_local_active_rq');
    this.downstream_cx_idle_timeout = c('downstream_cx_idle_timeout');
    this.downstream_cx_max_duration_reached = c('downstream_cx_max_duration_reached');
    this.downstream_cx_protocol_error = c('downstream_cx_protocol_error');
    this.downstream_cx_rx_bytes_total = c('downstream_cx_rx_bytes_total');
    this.downstream_cx_tx_bytes_total = c('downstream_cx_tx_bytes_total');
    this.downstream_cx_upgrades_total = c('downstream_cx_upgrades_total');
    this.downstream_cx_upgrades_active = g('downstream_cx_upgrades_active');
    this.downstream_cx_length_ms = store.histogram(p + 'downstream_cx_length_ms');
    this.downstream_rq_total = c('downstream_rq_total');
    this.downstream_rq_http1_total = c('downstream_rq_http1_total');
    this.downstream_rq_active = g('downstream_rq_active');
    this.downstream_rq_1xx = c('downstream_rq_1xx');
    this.downstream_rq_2xx = c('downstream_rq_2xx');
    this.downstream_rq_3xx = c('downstream_rq_3xx');
    this.downstream_rq_4xx = c('downstream_rq_4xx');
    this.downstream_rq_5xx = c('downstream_rq_5xx');
    this.downstream_rq_completed = c('downstream_rq_completed');
    this.downstream_rq_rx_reset = c('downstream_rq_rx_reset');
    this.downstream_rq_tx_reset = c('downstream_rq_tx_reset');
    this.downstream_rq_non_relative_path = c('downstream_rq_non_relative_path');
    this.downstream_rq_too_large = c('downstream_rq_too_large');
    this.downstream_rq_timeout = c('downstream_rq_timeout');
    this.downstream_rq_idle_timeout = c('downstream_rq_idle_timeout');
    this.downstream_rq_max_duration_reached = c('downstream_rq_max_duration_reached');
    this.downstream_rq_header_timeout = c('downstream_rq_header_timeout');
    this.downstream_rq_overload_close = c('downstream_rq_overload_close');
    this.downstream_rq_time = store.histogram(p + 'downstream_rq_time');
    this.rq_direct_response = c('rq_direct_response');
    this.rq_redirect = c('rq_redirect');
    this.no_route = c('no_route');
    this.no_cluster = c('no_cluster');
    this.rq_total = c('rq_total');
  }

  recordResponseClass(status: number): void {
    if (status < 200) this.downstream_rq_1xx.inc();
    else if (status < 300) this.downstream_rq_2xx.inc();
    else if (status < 400) this.downstream_rq_3xx.inc();
    else if (status < 500) this.downstream_rq_4xx.inc();
    else this.downstream_rq_5xx.inc();
  }
}
