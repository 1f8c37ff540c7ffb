/**
 * The control plane's own metrics, under istiod's names, rendered as Prometheus text.
 * Label sets are fixed and small (the xDS type), so every series map stays bounded.
 */

type Labels = Readonly<Record<string, string>>;

function labelKey(labels: Labels | undefined): string {
  if (!labels) return '';
  const keys = Object.keys(labels).sort();
  return keys.map((k) => `${k}="${labels[k].replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',');
}

function series(name: string, key: string, extra = ''): string {
  const all = [key, extra].filter((s) => s).join(',');
  return all ? `${name}{${all}}` : name;
}

interface Metric {
  readonly name: string;
  readonly help: string;
  render(out: string[]): void;
}

export class Counter implements Metric {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly kind: 'counter' | 'gauge' = 'counter',
  ) {}

  inc(labels?: Labels, by = 1): void {
    const k = labelKey(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }

  set(value: number, labels?: Labels): void {
    this.values.set(labelKey(labels), value);
  }

  get(labels?: Labels): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.kind}`);
    if (this.values.size === 0 && this.kind === 'gauge') out.push(`${this.name} 0`);
    for (const [k, v] of this.values) out.push(`${series(this.name, k)} ${v}`);
  }
}

/** Seconds-valued histogram with istiod's push-time buckets. */
export class Histogram implements Metric {
  private readonly data = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[] = [0.01, 0.1, 0.5, 1, 3, 5, 10, 20, 30],
  ) {}

  observe(seconds: number, labels?: Labels): void {
    const k = labelKey(labels);
    let d = this.data.get(k);
    if (!d) {
      d = { counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.data.set(k, d);
    }
    for (let i = 0; i < this.buckets.length; i++) if (seconds <= this.buckets[i]) d.counts[i]++;
    d.sum += seconds;
    d.count++;
  }

  count(labels?: Labels): number {
    return this.data.get(labelKey(labels))?.count ?? 0;
  }

  render(out: string[]): void {
    out.push(`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`);
    for (const [k, d] of this.data) {
      for (let i = 0; i < this.buckets.length; i++) out.push(`${series(`${this.name}_bucket`, k, `le="${this.buckets[i]}"`)} ${d.counts[i]}`);
      out.push(`${series(`${this.name}_bucket`, k, 'le="+Inf"')} ${d.count}`);
      out.push(`${series(`${this.name}_sum`, k)} ${d.sum}`, `${series(`${this.name}_count`, k)} ${d.count}`);
    }
  }
}

/** Every metric of one control plane. */
export class ControlMetrics {
  readonly connectedProxies = new Counter('pilot_xds', 'Proxies connected over xDS now.', 'gauge');
  readonly pushes = new Counter('pilot_xds_pushes', 'xDS responses sent, by type.');
  readonly pushTime = new Histogram('pilot_xds_push_time', 'Seconds to build and write one xDS response, by type.');
  readonly convergenceTime = new Histogram('pilot_proxy_convergence_time', 'Seconds from the first config change of a push to that push being written to a proxy.');
  readonly debounceTime = new Histogram('pilot_debounce_time', 'Seconds a burst of config changes spent in the debounce before its push started.');
  readonly totalRejects = new Counter('pilot_total_xds_rejects', 'xDS responses a proxy rejected (NACK), by type.');
  readonly cdsRejects = new Counter('pilot_xds_cds_reject', 'Cluster responses a proxy rejected.');
  readonly edsRejects = new Counter('pilot_xds_eds_reject', 'Endpoint responses a proxy rejected.');
  readonly ldsRejects = new Counter('pilot_xds_lds_reject', 'Listener responses a proxy rejected.');
  readonly rdsRejects = new Counter('pilot_xds_rds_reject', 'Route responses a proxy rejected.');
  readonly expiredNonce = new Counter('pilot_xds_expired_nonce', 'xDS requests answering a superseded response (ignored), by type.');
  readonly internalErrors = new Counter('pilot_total_xds_internal_errors', 'Responses the control plane could not build (model output that does not encode), by type.');
  readonly badRequests = new Counter('weft_control_xds_bad_requests', 'xDS requests that could not be decoded or used (stream closed).');
  readonly rejectedConnections = new Counter('weft_control_xds_rejected_connections', 'xDS streams refused because the connection limit was reached.');
  readonly configProblems = new Counter('weft_control_config_problems', 'Config or registry resources skipped because they are invalid.', 'gauge');
  readonly debouncedChanges = new Counter('weft_control_debounced_changes', 'Config changes merged into debounced pushes.');
  readonly pushTriggers = new Counter('weft_control_pushes_triggered', 'Debounced pushes to all proxies.');
  readonly rss = new Counter('process_resident_memory_bytes', 'Resident set size of the process, bytes.', 'gauge');
  readonly heapUsed = new Counter('nodejs_heap_size_used_bytes', 'V8 heap in use, bytes.', 'gauge');
  readonly external = new Counter('nodejs_external_memory_bytes', 'Memory held outside the V8 heap by JS objects (buffers), bytes.', 'gauge');

  private readonly all: readonly Metric[] = [
    this.connectedProxies, this.pushes, this.pushTime, this.convergenceTime, this.debounceTime, this.totalRejects,
    this.cdsRejects, this.edsRejects, this.ldsRejects, this.rdsRejects, this.expiredNonce, this.internalErrors,
    this.badRequests, this.rejectedConnections, this.configProblems, this.debouncedChanges, this.pushTriggers, this.rss,
    this.heapUsed, this.external,
  ];

  /** The per-type reject counter (pilot_xds_<type>_reject), if the type has one. */
  rejectsOf(type: string): Counter | undefined {
    switch (type) {
      case 'cds': return this.cdsRejects;
      case 'eds': return this.edsRejects;
      case 'lds': return this.ldsRejects;
      case 'rds': return this.rdsRejects;
      default: return undefined;
    }
  }

  render(): string {
    const m = process.memoryUsage();
    this.rss.set(m.rss);
    this.heapUsed.set(m.heapUsed);
    this.external.set(m.external);
    const out: string[] = [];
    for (const m of this.all) m.render(out);
    return out.join('\n') + '\n';
  }
}
