/**
 * Renders a StatsStore the way Envoy's admin does: `/stats` text and JSON, `/stats/prometheus`.
 * Only admin calls these; nothing here runs on the data path.
 *
 * Histograms keep cumulative bucket counts only; "interval" figures (Envoy: since the last stats
 * flush) come from a snapshot taken by `HistogramIntervals.rotate()`, which the server may call on
 * its stats flush interval. Quantiles are interpolated linearly inside the fixed buckets.
 */
import type { Histogram, StatsStore } from './stats';
import { defaultTagExtractor, type Tag, type TagExtractor } from './tags';

/** Envoy's supported quantiles (as fractions). */
export const SUPPORTED_QUANTILES: readonly number[] = [0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1];

export type StatsType = 'All' | 'Counters' | 'Gauges' | 'Histograms' | 'TextReadouts';

export interface StatsQuery {
  /** Envoy `filter=`: a regex searched in the full stat name. */
  filter?: RegExp;
  /** Envoy `usedonly`: counters/gauges that are non-zero, histograms with samples. */
  usedOnly?: boolean;
  /** Envoy `type=`. */
  type?: StatsType;
}

/**
 * Interval snapshots for histograms: `rotate()` records the current cumulative counts; the
 * interval view is "counts since the last rotate". Without rotation interval = cumulative.
 */
export class HistogramIntervals {
  private readonly last = new WeakMap<Histogram, { counts: number[]; count: number; sum: number }>();
  private readonly prev = new WeakMap<Histogram, { counts: number[]; count: number; sum: number }>();

  rotate(store: StatsStore): void {
    for (const h of store.histograms.values()) {
      const cur = this.last.get(h);
      if (cur) this.prev.set(h, cur);
      this.last.set(h, { counts: h.bucketCounts.slice(), count: h.count, sum: h.sum });
    }
  }

  /** Disjoint bucket counts recorded during the last complete interval. */
  interval(h: Histogram): number[] {
    const cur = this.last.get(h);
    if (!cur) return h.bucketCounts.slice();
    const base = this.prev.get(h);
    return cur.counts.map((c, i) => c - (base ? base.counts[i] : 0));
  }
}

/** Quantile q (0..1) from disjoint bucket counts over `bounds`; NaN when there are no samples. */
export function bucketQuantile(bounds: readonly number[], counts: readonly number[], q: number): number {
  let total = 0;
  for (const c of counts) total += c;
  if (total === 0) return NaN;
  const target = q * total;
  let cum = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i];
    if (c === 0) continue;
    if (cum + c >= target) {
      const lo = i === 0 ? 0 : bounds[i - 1];
      const hi = i < bounds.length ? bounds[i] : bounds[bounds.length - 1];
      if (q === 0) return lo;
      const frac = (target - cum) / c;
      return lo + (hi - lo) * frac;
    }
    cum += c;
  }
  return bounds[bounds.length - 1];
}

function fmtNum(v: number): string {
  if (Number.isNaN(v)) return 'nan';
  if (v === Infinity) return 'inf';
  return String(Math.round(v * 1e6) / 1e6);
}

/** printf("%.32g") as Envoy uses for Prometheus bucket bounds and sums. */
export function formatG32(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
  if (Number.isInteger(v) && Math.abs(v) < 1e21) return String(v);
  let s = v.toPrecision(32);
  if (s.includes('e')) {
    const [m, e] = s.split('e');
    let mant = m.includes('.') ? m.replace(/0+$/, '').replace(/\.$/, '') : m;
    const exp = Number(e);
    mant += 'e' + (exp < 0 ? '-' : '+') + String(Math.abs(exp)).padStart(2, '0');
    return mant;
  }
  if (s.includes('.')) s = s.replace(/0+$/, '').replace(/\.$/, '');
  return s;
}

function isUsedHistogram(h: Histogram): boolean {
  return h.count > 0;
}

function wants(name: string, q: StatsQuery): boolean {
  if (q.filter) {
    q.filter.lastIndex = 0;
    if (!q.filter.test(name)) return false;
  }
  return true;
}

function histogramQuantiles(h: Histogram, intervals?: HistogramIntervals): { interval: number[]; cumulative: number[] } {
  const iv = intervals ? intervals.interval(h) : h.bucketCounts;
  return {
    interval: SUPPORTED_QUANTILES.map((q) => bucketQuantile(h.bounds, iv, q)),
    cumulative: SUPPORTED_QUANTILES.map((q) => bucketQuantile(h.bounds, h.bucketCounts, q)),
  };
}

/** Envoy `/stats` text: counters and gauges merged and sorted ("name: value"), then histograms. */
export function renderStatsText(store: StatsStore, q: StatsQuery = {}, intervals?: HistogramIntervals): string {
  const type = q.type ?? 'All';
  const lines: Array<[string, string]> = [];
  if (type === 'All' || type === 'Counters') {
    for (const c of store.counters.values()) {
      if ((q.usedOnly && c.value === 0) || !wants(c.name, q)) continue;
      lines.push([c.name, `${c.name}: ${c.value}\n`]);
    }
  }
  if (type === 'All' || type === 'Gauges') {
    for (const g of store.gauges.values()) {
      if ((q.usedOnly && g.value === 0) || !wants(g.name, q)) continue;
      lines.push([g.name, `${g.name}: ${g.value}\n`]);
    }
  }
  lines.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let out = '';
  for (const l of lines) out += l[1];
  if (type === 'All' || type === 'Histograms') {
    const hs = [...store.histograms.values()]
      .filter((h) => !(q.usedOnly && !isUsedHistogram(h)) && wants(h.name, q))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const h of hs) {
      if (!isUsedHistogram(h)) {
        out += `${h.name}: No recorded values\n`;
        continue;
      }
      const { interval, cumulative } = histogramQuantiles(h, intervals);
      const parts = SUPPORTED_QUANTILES.map(
        (qq, i) => `P${fmtNum(qq * 100)}(${fmtNum(interval[i])},${fmtNum(cumulative[i])})`,
      );
      out += `${h.name}: ${parts.join(' ')}\n`;
    }
  }
  return out;
}

function jsonNum(v: number): number | null {
  return Number.isFinite(v) ? Math.round(v * 1e6) / 1e6 : null;
}

/** Envoy `/stats?format=json`. */
export function renderStatsJson(store: StatsStore, q: StatsQuery = {}, intervals?: HistogramIntervals): object {
  const type = q.type ?? 'All';
  const entries: Array<{ name: string; value: number }> = [];
  if (type === 'All' || type === 'Counters') {
    for (const c of store.counters.values()) {
      if ((q.usedOnly && c.value === 0) || !wants(c.name, q)) continue;
      entries.push({ name: c.name, value: c.value });
    }
  }
  if (type === 'All' || type === 'Gauges') {
    for (const g of store.gauges.values()) {
      if ((q.usedOnly && g.value === 0) || !wants(g.name, q)) continue;
      entries.push({ name: g.name, value: g.value });
    }
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const stats: object[] = entries;
  if (type === 'All' || type === 'Histograms') {
    const hs = [...store.histograms.values()]
      .filter((h) => !(q.usedOnly && !isUsedHistogram(h)) && wants(h.name, q))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    if (hs.length > 0) {
      stats.push({
        histograms: {
          supported_quantiles: SUPPORTED_QUANTILES.map((x) => Math.round(x * 1000) / 10),
          computed_quantiles: hs.map((h) => {
            const { interval, cumulative } = histogramQuantiles(h, intervals);
            return {
              name: h.name,
              values: SUPPORTED_QUANTILES.map((_x, i) => ({
                cumulative: jsonNum(cumulative[i]),
                interval: jsonNum(interval[i]),
              })),
            };
          }),
        },
      });
    }
  }
  return { stats };
}

/** Prometheus metric/label name sanitising, as Envoy: every char outside [a-zA-Z0-9_] → "_". */
export function sanitizePrometheusName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_]/g, '_');
}

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatTags(tags: readonly Tag[]): string {
  let out = '';
  for (let i = 0; i < tags.length; i++) {
    if (i > 0) out += ',';
    out += `${sanitizePrometheusName(tags[i].name)}="${escapeLabelValue(tags[i].value)}"`;
  }
  return out;
}

interface PromItem {
  name: string;
  tags: Tag[];
  render: (metric: string, tags: string) => string;
}

function group(items: PromItem[], type: string): string {
  const groups = new Map<string, PromItem[]>();
  for (const it of items) {
    let g = groups.get(it.name);
    if (!g) groups.set(it.name, (g = []));
    g.push(it);
  }
  const names = [...groups.keys()].sort();
  let out = '';
  for (const n of names) {
    const metric = 'envoy_' + sanitizePrometheusName(n);
    out += `# TYPE ${metric} ${type}\n`;
    const rows = groups.get(n)!.map((it) => [formatTags(it.tags), it] as const);
    rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    for (const [t, it] of rows) out += it.render(metric, t);
    out += '\n';
  }
  return out;
}

/** Envoy `/stats/prometheus` (text exposition format 0.0.4). */
export function renderPrometheus(
  store: StatsStore,
  q: StatsQuery = {},
  extractor: TagExtractor = defaultTagExtractor(),
): string {
  const counters: PromItem[] = [];
  for (const c of store.counters.values()) {
    if ((q.usedOnly && c.value === 0) || !wants(c.name, q)) continue;
    const e = extractor.extract(c.name);
    const v = c.value;
    counters.push({ name: e.extractedName, tags: e.tags, render: (m, t) => `${m}{${t}} ${v}\n` });
  }
  const gauges: PromItem[] = [];
  for (const g of store.gauges.values()) {
    if ((q.usedOnly && g.value === 0) || !wants(g.name, q)) continue;
    const e = extractor.extract(g.name);
    const v = g.value;
    gauges.push({ name: e.extractedName, tags: e.tags, render: (m, t) => `${m}{${t}} ${v}\n` });
  }
  const histograms: PromItem[] = [];
  for (const h of store.histograms.values()) {
    if ((q.usedOnly && !isUsedHistogram(h)) || !wants(h.name, q)) continue;
    const e = extractor.extract(h.name);
    histograms.push({
      name: e.extractedName,
      tags: e.tags,
      render: (m, t) => {
        const ht = t ? t + ',' : '';
        let out = '';
        let cum = 0;
        for (let i = 0; i < h.bounds.length; i++) {
          cum += h.bucketCounts[i];
          out += `${m}_bucket{${ht}le="${formatG32(h.bounds[i])}"} ${cum}\n`;
        }
        out += `${m}_bucket{${ht}le="+Inf"} ${h.count}\n`;
        out += `${m}_sum{${t}} ${formatG32(h.sum)}\n`;
        out += `${m}_count{${t}} ${h.count}\n`;
        return out;
      },
    });
  }
  const type = q.type ?? 'All';
  let out = '';
  if (type === 'All' || type === 'Counters') out += group(counters, 'counter');
  if (type === 'All' || type === 'Gauges') out += group(gauges, 'gauge');
  if (type === 'All' || type === 'Histograms') out += group(histograms, 'histogram');
  return out;
}
