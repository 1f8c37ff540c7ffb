/**
 * Envoy's cluster stats (`cluster.<name>.*`), created once at compile time and held as fields
 * named exactly as Envoy names them: `cluster.stats.upstream_rq_total.inc()`.
 */
import { Counter, Gauge, GaugeMode, Histogram, StatsStore } from '../telemetry/stats';

export const CLUSTER_COUNTERS = [
  'upstream_cx_total',
  'upstream_cx_http1_total',
  'upstream_cx_http2_total',
  'upstream_cx_connect_fail',
  'upstream_cx_connect_timeout',
  'upstream_cx_connect_attempts_exceeded',
  'upstream_cx_idle_timeout',
  'upstream_cx_max_duration_reached',
  'upstream_cx_overflow',
  'upstream_cx_pool_overflow',
  'upstream_cx_destroy',
  'upstream_cx_destroy_local',
  'upstream_cx_destroy_remote',
  'upstream_cx_destroy_with_active_rq',
  'upstream_cx_destroy_local_with_active_rq',
  'upstream_cx_destroy_remote_with_active_rq',
  'upstream_cx_close_notify',
  'upstream_cx_rx_bytes_total',
  'upstream_cx_tx_bytes_total',
  'upstream_cx_protocol_error',
  'upstream_cx_max_requests',
  'upstream_cx_none_healthy',
  'upstream_rq_total',
  'upstream_rq_completed',
  'upstream_rq_cancelled',
  'upstream_rq_maintenance_mode',
  'upstream_rq_timeout',
  'upstream_rq_max_duration_reached',
  'upstream_rq_per_try_timeout',
  'upstream_rq_per_try_idle_timeout',
  'upstream_rq_rx_reset',
  'upstream_rq_tx_reset',
  'upstream_rq_pending_total',
  'upstream_rq_pending_overflow',
  'upstream_rq_pending_failure_eject',
  'upstream_rq_retry',
  'upstream_rq_retry_success',
  'upstream_rq_retry_overflow',
  'upstream_rq_retry_limit_exceeded',
  'upstream_rq_retry_backoff_exponential',
  'upstream_rq_retry_backoff_ratelimited',
  'upstream_flow_control_paused_reading_total',
  'upstream_flow_control_resumed_reading_total',
  'upstream_flow_control_backed_up_total',
  'upstream_flow_control_drained_total',
  'upstream_internal_redirect_failed_total',
  'upstream_internal_redirect_succeeded_total',
  'retry_or_shadow_abandoned',
  'bind_errors',
  'assignment_stale',
  'assignment_timeout_received',
  'membership_change',
  'update_attempt',
  'update_success',
  'update_failure',
  'update_empty',
  'update_no_rebuild',
  'lb_healthy_panic',
  'lb_local_cluster_not_ok',
  'lb_recalculate_zone_structures',
  'lb_zone_cluster_too_small',
  'lb_zone_no_capacity_left',
  'lb_zone_number_differs',
  'lb_zone_routing_all_directly',
  'lb_zone_routing_sampled',
  'lb_zone_routing_cross_zone',
] as const;

/** Gauges and whether Envoy carries them across hot restart. */
export const CLUSTER_GAUGES = [
  ['upstream_cx_active', GaugeMode.Accumulate],
  ['upstream_cx_rx_bytes_buffered', GaugeMode.Accumulate],
  ['upstream_cx_tx_bytes_buffered', GaugeMode.Accumulate],
  ['upstream_rq_active', GaugeMode.Accumulate],
  ['upstream_rq_pending_active', GaugeMode.Accumulate],
  ['membership_healthy', GaugeMode.NeverImport],
  ['membership_degraded', GaugeMode.NeverImport],
  ['membership_excluded', GaugeMode.NeverImport],
  ['membership_total', GaugeMode.NeverImport],
  ['max_host_weight', GaugeMode.NeverImport],
  ['version', GaugeMode.NeverImport],
] as const;

export const CLUSTER_HISTOGRAMS = ['upstream_cx_connect_ms', 'upstream_cx_length_ms', 'upstream_rq_time'] as const;

export type ClusterCounterName = (typeof CLUSTER_COUNTERS)[number];
export type ClusterGaugeName = (typeof CLUSTER_GAUGES)[number][0];
export type ClusterHistogramName = (typeof CLUSTER_HISTOGRAMS)[number];

export type ClusterCounters = { readonly [K in ClusterCounterName]: Counter };
export type ClusterGauges = { readonly [K in ClusterGaugeName]: Gauge };
export type ClusterHistograms = { readonly [K in ClusterHistogramName]: Histogram };

// Declaration merging: the class below carries every counter/gauge/histogram as a field.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface ClusterStats extends ClusterCounters, ClusterGauges, ClusterHistograms {}

// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class ClusterStats {
  readonly upstream_rq_1xx: Counter;
  readonly upstream_rq_2xx: Counter;
  readonly upstream_rq_3xx: Counter;
  readonly upstream_rq_4xx: Counter;
  readonly upstream_rq_5xx: Counter;
  private readonly byClass: Counter[];
  private readonly byCode: (Counter | undefined)[] = new Array<Counter | undefined>(600);

  /** `prefix` is "cluster.<alt_stat_name or name>." */
  constructor(
    private readonly store: StatsStore,
    readonly prefix: string,
  ) {
    const self = this as unknown as Record<string, unknown>;
    for (const n of CLUSTER_COUNTERS) self[n] = store.counter(prefix + n);
    for (const [n, mode] of CLUSTER_GAUGES) self[n] = store.gauge(prefix + n, mode);
    for (const n of CLUSTER_HISTOGRAMS) self[n] = store.histogram(prefix + n);
    this.upstream_rq_1xx = store.counter(prefix + 'upstream_rq_1xx');
    this.upstream_rq_2xx = store.counter(prefix + 'upstream_rq_2xx');
    this.upstream_rq_3xx = store.counter(prefix + 'upstream_rq_3xx');
    this.upstream_rq_4xx = store.counter(prefix + 'upstream_rq_4xx');
    this.upstream_rq_5xx = store.counter(prefix + 'upstream_rq_5xx');
    this.byClass = [
      this.upstream_rq_1xx,
      this.upstream_rq_1xx,
      this.upstream_rq_2xx,
      this.upstream_rq_3xx,
      this.upstream_rq_4xx,
      this.upstream_rq_5xx,
    ];
  }

  /** `upstream_rq_<code>`, created on first use and cached. */
  rqCode(code: number): Counter {
    if (code >= 0 && code < 600 && Number.isInteger(code)) {
      let c = this.byCode[code];
      if (c === undefined) this.byCode[code] = c = this.store.counter(`${this.prefix}upstream_rq_${code}`);
      return c;
    }
    return this.store.counter(`${this.prefix}upstream_rq_${code}`);
  }

  /** Charges `upstream_rq_<N>xx` and `upstream_rq_<code>` for an upstream response status. */
  chargeResponseCode(code: number): void {
    const cls = (code / 100) | 0;
    if (cls >= 1 && cls <= 5) this.byClass[cls].inc();
    this.rqCode(code).inc();
  }

  /** Any stat under this cluster's prefix (e.g. for extension stats); config time only. */
  counter(name: string): Counter {
    return this.store.counter(this.prefix + name);
  }
  gauge(name: string, mode?: GaugeMode): Gauge {
    return this.store.gauge(this.prefix + name, mode);
  }
}
