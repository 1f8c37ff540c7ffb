import type { Counter, Gauge } from '../../telemetry/stats';

/** The stats store, or a cluster's stats (which prefix nothing more). */
export interface StatFactory {
  counter(name: string): Counter;
  gauge(name: string): Gauge;
}

/**
 * Envoy's HTTP/2 codec stats (`http2.*`): downstream ones at the root scope, upstream ones under
 * `cluster.<name>.`, as Envoy names them.
 */
export class Http2CodecStats {
  readonly rx_reset: Counter;
  readonly tx_reset: Counter;
  readonly rx_messaging_error: Counter;
  readonly keepalive_timeout: Counter;
  readonly goaway_sent: Counter;
  readonly trailers: Counter;
  readonly streams_active: Gauge;

  constructor(store: StatFactory, prefix: string) {
    const p = prefix + 'http2.';
    this.rx_reset = store.counter(p + 'rx_reset');
    this.tx_reset = store.counter(p + 'tx_reset');
    this.rx_messaging_error = store.counter(p + 'rx_messaging_error');
    this.keepalive_timeout = store.counter(p + 'keepalive_timeout');
    this.goaway_sent = store.counter(p + 'goaway_sent');
    this.trailers = store.counter(p + 'trailers');
    this.streams_active = store.gauge(p + 'streams_active');
  }
}
