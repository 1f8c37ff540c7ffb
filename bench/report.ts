// Aggregation (median over rounds) and output: a readable table, Weft's ratios to its peers, and
// one JSON line per proxy at the very end.
import type { IdleResult } from './idle';
import { policyWarnings, type PolicyStats } from './policies';
import type { Usage } from './procstat';
import { totalErrors, type WrkResult } from './wrk';

/** Everything measured for one proxy across the rounds. */
export interface ProxySamples {
  name: string;
  /** Throughput runs at N connections, one per round. */
  loaded: WrkResult[];
  /** Latency runs at 1 connection, one per round. */
  single: WrkResult[];
  /** Proxy CPU/RSS during each throughput run. */
  usage: Usage[];
  /** Other programs' CPU during each run (% of a core). */
  noise: number[];
  /** The part of it on the proxies' core. */
  coreNoise: number[];
  rssIdleMb: number;
  idle?: IdleResult;
  /** weft-policies: its policy counters after the rounds (undefined: not read or not available). */
  policy?: PolicyStats;
}

export interface Summary {
  proxy: string;
  rps: number;
  p50_1_ms: number;
  p99_1_ms: number;
  p50_n_ms: number;
  p99_n_ms: number;
  added_p50_1_ms: number;
  cpu_pct: number;
  cpu_us_per_req: number;
  rss_mb: number;
  rss_idle_mb: number;
  rss_10k_mb: number | null;
  idle_conns: number | null;
  idle_ok: number | null;
  idle_open: number | null;
  errors: number;
  /** Runs that completed no request at all (the proxy stalled). */
  stalled_runs: number;
  rounds: number;
  noise_pct: number;
  noise_max_pct: number;
  core_noise_pct: number;
  core_noise_max_pct: number;
  /** weft-policies only: the policy counters read after the rounds. */
  policy_stats?: PolicyStats;
  /** Problems found in the policy counters. */
  policy_warnings?: string[];
}

/** The weft-policies/weft rps ratio the issue asks for ("stays >= 0.9x Weft with none"). */
export const POLICIES_RPS_GOAL = 0.9;

export function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const round = (x: number, digits: number) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : NaN);

export function summarize(p: ProxySamples, directP50Ms: number): Summary {
  const rps = median(p.loaded.map((r) => r.rps));
  const p50_1 = median(p.single.map((r) => r.p50Ms));
  const cpu = median(p.usage.map((u) => u.cpuPct));
  return {
    proxy: p.name,
    rps: round(rps, 0),
    p50_1_ms: round(p50_1, 3),
    p99_1_ms: round(median(p.single.map((r) => r.p99Ms)), 3),
    p50_n_ms: round(median(p.loaded.map((r) => r.p50Ms)), 3),
    p99_n_ms: round(median(p.loaded.map((r) => r.p99Ms)), 3),
    added_p50_1_ms: round(p50_1 - directP50Ms, 3),
    cpu_pct: round(cpu, 1),
    cpu_us_per_req: round(((cpu / 100) * 1e6) / rps, 2),
    rss_mb: round(Math.max(...p.usage.map((u) => u.rssPeakMb)), 1),
    rss_idle_mb: round(p.rssIdleMb, 1),
    rss_10k_mb: p.idle ? round(p.idle.rssMb, 1) : null,
    idle_conns: p.idle ? p.idle.requested : null,
    idle_ok: p.idle ? p.idle.ok : null,
    idle_open: p.idle ? p.idle.open : null,
    errors: [...p.loaded, ...p.single].reduce((n, r) => n + totalErrors(r.errors), 0),
    stalled_runs: [...p.loaded, ...p.single].filter((r) => r.requests === 0).length,
    rounds: p.loaded.length,
    noise_pct: round(median(p.noise), 1),
    noise_max_pct: round(Math.max(...p.noise), 1),
    core_noise_pct: round(median(p.coreNoise), 1),
    core_noise_max_pct: round(Math.max(...p.coreNoise), 1),
    ...(p.name === 'weft-policies'
      ? { policy_stats: p.policy, policy_warnings: policyWarnings(p.policy, p.loaded.concat(p.single).reduce((n, r) => n + r.requests, 0)) }
      : {}),
  };
}

function fmt(x: number | null, digits = 2): string {
  if (x === null) return '-';
  if (!Number.isFinite(x)) return 'n/a';
  return x.toFixed(digits);
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n');
}

export function renderTable(summaries: Summary[], direct: { p50: number; p99: number }, n: number): string {
  const header = ['proxy', 'rps', 'p50@1', 'p99@1', `p50@${n}`, `p99@${n}`, '+p50@1', 'CPU%', 'CPUus/req', 'RSS MB', 'idle MB', 'RSS 10k', 'conns ok/open', 'errors', 'noise% (core)'];
  const rows = summaries.map((s) => [
    s.proxy,
    fmt(s.rps, 0),
    fmt(s.p50_1_ms, 3),
    fmt(s.p99_1_ms, 3),
    fmt(s.p50_n_ms, 3),
    fmt(s.p99_n_ms, 3),
    fmt(s.added_p50_1_ms, 3),
    fmt(s.cpu_pct, 1),
    fmt(s.cpu_us_per_req, 1),
    fmt(s.rss_mb, 1),
    fmt(s.rss_idle_mb, 1),
    fmt(s.rss_10k_mb, 1),
    s.idle_conns === null ? '-' : `${s.idle_ok}/${s.idle_open}`,
    s.stalled_runs ? `${s.errors}+${s.stalled_runs}stall` : String(s.errors),
    `${fmt(s.noise_pct, 0)} (${fmt(s.core_noise_pct, 0)})`,
  ]);
  const directRow = ['(direct)', '-', fmt(direct.p50, 3), fmt(direct.p99, 3), '-', '-', '0', '-', '-', '-', '-', '-', '-', '-', '-'];
  return `latencies in ms, medians of the rounds; RSS in MB\n${table([header, ...rows, directRow])}`;
}

function ratio(a: number | null, b: number | null): string {
  if (a === null || b === null || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return 'n/a';
  return `${(a / b).toFixed(2)}x`;
}

/**
 * Weft against each peer: throughput, latency and resource ratios (weft / peer); then Weft with its
 * policies against Weft without.
 */
export function renderRatios(summaries: Summary[], n: number): string {
  const weft = summaries.find((s) => s.proxy === 'weft');
  if (!weft) return '';
  const policies = summaries.find((s) => s.proxy === 'weft-policies');
  const lines = summaries
    .filter((s) => s !== weft && s !== policies)
    .map(
      (p) =>
        `weft/${p.proxy}: rps ${ratio(weft.rps, p.rps)}  p50@1 ${ratio(weft.p50_1_ms, p.p50_1_ms)}  ` +
        `p99@1 ${ratio(weft.p99_1_ms, p.p99_1_ms)}  p50@${n} ${ratio(weft.p50_n_ms, p.p50_n_ms)}  ` +
        `p99@${n} ${ratio(weft.p99_n_ms, p.p99_n_ms)}  +p50@1 ${ratio(weft.added_p50_1_ms, p.added_p50_1_ms)}  ` +
        `CPU/req ${ratio(weft.cpu_us_per_req, p.cpu_us_per_req)}  RSS 10k ${ratio(weft.rss_10k_mb, p.rss_10k_mb)}`,
    );
  if (policies) {
    lines.push(
      `weft-policies/weft: rps ${ratio(policies.rps, weft.rps)}, p50@1 ${ratio(policies.p50_1_ms, weft.p50_1_ms)}, ` +
        `CPU/req ${ratio(policies.cpu_us_per_req, weft.cpu_us_per_req)}`,
    );
  }
  return lines.join('\n');
}

/** Problems that make a row untrustworthy: failed requests, or idle connections not all held. */
export function warnings(summaries: Summary[], noisyPct: number): string[] {
  const out: string[] = [];
  for (const s of summaries) {
    if (s.noise_max_pct >= noisyPct) {
      out.push(
        `${s.proxy}: other programs used up to ${s.noise_max_pct}% of a core during its runs, up to ${s.core_noise_max_pct}% of the proxies' core ` +
          `(noisy; rerun on a quiet machine)`,
      );
    }
    if (s.stalled_runs) out.push(`${s.proxy}: ${s.stalled_runs} runs completed no request at all (stalled)`);
    if (s.errors) out.push(`${s.proxy}: ${s.errors} failed requests during the load runs (its numbers are suspect)`);
    if (s.idle_conns !== null && (s.idle_ok !== s.idle_conns || s.idle_open !== s.idle_conns)) {
      out.push(`${s.proxy}: only ${s.idle_ok} of ${s.idle_conns} idle connections succeeded, ${s.idle_open} still open`);
    }
    out.push(...(s.policy_warnings ?? []));
  }
  const weft = summaries.find((s) => s.proxy === 'weft');
  const policies = summaries.find((s) => s.proxy === 'weft-policies');
  if (weft && policies && policies.rps / weft.rps < POLICIES_RPS_GOAL) {
    out.push(`weft-policies: rps ${(policies.rps / weft.rps).toFixed(2)}x weft's, below the ${POLICIES_RPS_GOAL.toFixed(2)}x goal`);
  }
  return out;
}

/** One JSON object per proxy; the N-connection fields are named after N (e.g. p50_64_ms). */
export function jsonLines(summaries: Summary[], n: number, directP50Ms: number): string {
  return summaries
    .map((s) => {
      const { proxy, rps, p50_1_ms, p99_1_ms, p50_n_ms, p99_n_ms, policy_warnings: _w, ...rest } = s;
      return JSON.stringify({
        proxy,
        rps,
        p50_1_ms,
        p99_1_ms,
        [`p50_${n}_ms`]: p50_n_ms,
        [`p99_${n}_ms`]: p99_n_ms,
        direct_p50_1_ms: directP50Ms,
        ...rest,
      });
    })
    .join('\n');
}
