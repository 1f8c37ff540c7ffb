import assert from 'node:assert/strict';
import type { ConfigIssue } from '../../../src/lib/config-error';
import { StatsStore } from '../../../src/proxy/telemetry/stats';
import { Cluster, ClusterDeps, compileCluster } from '../../../src/proxy/upstream/cluster';
import type { Host } from '../../../src/proxy/upstream/host';

export function endpoint(address: string, port: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { endpoint: { address: { socket_address: { address, port_value: port } } }, ...extra };
}

/** A decoded Cluster with one locality per entry of `localities` (list of lb_endpoints). */
export function staticCluster(name: string, lbEndpoints: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    type: 'STATIC',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: lbEndpoints }] },
    ...extra,
  };
}

export function build(decoded: unknown, deps: Partial<ClusterDeps> = {}): { cluster: Cluster; stats: StatsStore } {
  const stats = deps.stats ?? new StatsStore();
  const issues: ConfigIssue[] = [];
  const cluster = compileCluster(decoded, { stats, ...deps }, 'clusters[0]', issues);
  assert.deepEqual(issues, []);
  assert.ok(cluster);
  return { cluster, stats };
}

export function issuesOf(decoded: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const c = compileCluster(decoded, { stats: new StatsStore() }, 'clusters[0]', issues);
  c?.close();
  return issues;
}

export function count(cluster: Cluster, n: number, ctx: (i: number) => { hashKey?: number; random?: number } = () => ({})): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const h: Host | null = cluster.chooseHost(ctx(i));
    const k = h ? h.key : 'null';
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

export function between(v: number | undefined, lo: number, hi: number, what = ''): void {
  assert.ok(v !== undefined && v >= lo && v <= hi, `${what} ${v} not in [${lo}, ${hi}]`);
}
