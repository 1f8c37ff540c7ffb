/**
 * The stats store: counters, gauges and histograms named as in Envoy
 * ("cluster.<name>.upstream_rq_total"). Incrementing is a field write on a plain object, so the
 * hot path pays nothing more; rendering (Envoy text, Prometheus) happens only when admin asks.
 */
export class Counter {
  value = 0;
  constructor(readonly name: string) {}
  inc(): void {
    this.value++;
  }
  add(n: number): void {
    this.value += n;
  }
}

export const enum GaugeMode {
  /** Summed across hot restarts (Envoy's Accumulate). */
  Accumulate = 0,
  /** Not carried across hot restarts (Envoy's NeverImport). */
  NeverImport = 1,
}

export class Gauge {
  value = 0;
  constructor(
    readonly name: string,
    readonly mode: GaugeMode = GaugeMode.Accumulate,
  ) {}
  inc(): void {
    this.value++;
  }
  dec(): void {
    this.value--;
  }
  add(n: number): void {
    this.value += n;
  }
  sub(n: number): void {
    this.value -= n;
  }
  set(v: number): void {
    this.value = v;
  }
}

/** Envoy's default histogram bucket bounds (milliseconds for time histograms). */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
];

/** A cumulative histogram with fixed buckets; quantiles are estimated from the buckets. */
export class Histogram {
  readonly bucketCounts: number[];
  count = 0;
  sum = 0;
  constructor(
    readonly name: string,
    readonly bounds: readonly number[] = DEFAULT_BUCKETS,
  ) {
    this.bucketCounts = new Array<number>(bounds.length + 1).fill(0);
  }
  record(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    this.bucketCounts[i]++;
    this.count++;
    this.sum += v;
  }
}

export class StatsStore {
  readonly counters = new Map<string, Counter>();
  readonly gauges = new Map<string, Gauge>();
  readonly histograms = new Map<string, Histogram>();

  /** Returns the counter of that name, creating it on first use (call at config time, not per request). */
  counter(name: string): Counter {
    let c = this.counters.get(name);
    if (!c) this.counters.set(name, (c = new Counter(name)));
    return c;
  }

  gauge(name: string, mode: GaugeMode = GaugeMode.Accumulate): Gauge {
    let g = this.gauges.get(name);
    if (!g) this.gauges.set(name, (g = new Gauge(name, mode)));
    return g;
  }

  histogram(name: string, bounds?: readonly number[]): Histogram {
    let h = this.histograms.get(name);
    if (!h) this.histograms.set(name, (h = new Histogram(name, bounds)));
    return h;
  }
}
