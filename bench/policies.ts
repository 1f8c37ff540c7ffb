// After the rounds: weft-policies' own counters (admin /stats) show whether its filter chain ran on
// every request and that none of its policies fired (no fault, no rate limiting, no retry), which
// is what the weft-policies/weft ratio assumes.
import { httpGet } from './ready';

/** Counters read, by a short name. The prefixes follow the weft-policies bootstrap (configs.ts). */
const COUNTERS = {
  rl_enabled: 'bench_rl.http_local_rate_limit.enabled',
  rl_ok: 'bench_rl.http_local_rate_limit.ok',
  rl_rate_limited: 'bench_rl.http_local_rate_limit.rate_limited',
  fault_delays: 'http.bench.fault.delays_injected',
  fault_aborts: 'http.bench.fault.aborts_injected',
  retries: 'cluster.upstream.upstream_rq_retry',
  per_try_timeouts: 'cluster.upstream.upstream_rq_per_try_timeout',
  ejections: 'cluster.upstream.outlier_detection.ejections_active',
} as const;

export type PolicyStats = Partial<Record<keyof typeof COUNTERS, number>>;

/** Reads the counters from Weft's admin /stats (text format); undefined when it has none (a stand-in). */
export async function readPolicyStats(adminPort: number): Promise<PolicyStats | undefined> {
  const reply = await httpGet(adminPort, '/stats', 5000).catch(() => undefined);
  if (!reply || reply.status !== 200) return undefined;
  const values = new Map<string, number>();
  for (const line of reply.body.split('\n')) {
    const m = line.match(/^([^:\s]+): (\d+)$/);
    if (m) values.set(m[1], Number(m[2]));
  }
  const out: PolicyStats = {};
  for (const [k, name] of Object.entries(COUNTERS) as Array<[keyof typeof COUNTERS, string]>) {
    if (values.has(name)) out[k] = values.get(name);
  }
  return out;
}

export function describePolicyStats(s: PolicyStats): string {
  return Object.entries(s)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

/** Problems with the policy counters, given how many requests wrk completed through the proxy. */
export function policyWarnings(s: PolicyStats | undefined, completed: number): string[] {
  if (!s) return ['weft-policies: admin /stats not available, so it is unknown whether its policies ran or fired'];
  const out: string[] = [];
  if ((s.rl_enabled ?? 0) < completed) {
    out.push(`weft-policies: local_ratelimit saw ${s.rl_enabled ?? 0} requests, fewer than the ${completed} completed (filter chain not run?)`);
  }
  const fired = (['rl_rate_limited', 'fault_delays', 'fault_aborts', 'retries', 'per_try_timeouts', 'ejections'] as const).filter((k) => (s[k] ?? 0) > 0);
  if (fired.length) out.push(`weft-policies: policies fired (${fired.map((k) => `${k}=${s[k]}`).join(' ')}); its numbers are not the no-op cost`);
  return out;
}
