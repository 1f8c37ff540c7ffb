import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, type ConfigIssue } from '../../../src/lib/config-error';
import { validateBootstrap } from '../../../src/proxy/server';
import { loadBootstrapText } from '../../../src/xds/bootstrap';
import { splitBootstrap } from '../../../src/proxy/config/bootstrap';
import { StatsStore } from '../../../src/proxy/telemetry/stats';
import type { Cluster } from '../../../src/proxy/upstream/cluster';
import { compileClusters } from '../../../src/proxy/upstream/cluster-manager';
import { HealthFlag, Host } from '../../../src/proxy/upstream/host';
import { computeZoneRouting, ZoneRouting } from '../../../src/proxy/upstream/lb/zone-aware';
import { HostSet } from '../../../src/proxy/upstream/priority';
import { between, build, endpoint, issuesOf } from './helpers';

const ZONE_A = { region: 'r', zone: 'a', sub_zone: '' };

/** A seeded uint32 generator (splitmix32): deterministic runs. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    let z = (s = (s + 0x9e3779b9) >>> 0);
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

let clusterSeq = 0;
/** A STATIC cluster with one LocalityLbEndpoints per zone (region "r"), `n` hosts each (10.<c>.<z>.<i>). */
function zoned(name: string, zones: Record<string, number>, extra: Record<string, unknown> = {}, priority1: number[] = []): Record<string, unknown> {
  const c = ++clusterSeq;
  const endpoints: unknown[] = Object.entries(zones).map(([zone, n], z) => ({
    locality: { region: 'r', zone },
    lb_endpoints: Array.from({ length: n }, (_, i) => endpoint(`10.${c}.${z}.${i + 1}`, 80)),
  }));
  if (priority1.length > 0) {
    endpoints.push({
      locality: { region: 'r', zone: 'p1' },
      priority: 1,
      lb_endpoints: priority1.map((_, i) => endpoint(`10.${c}.99.${i + 1}`, 80)),
    });
  }
  return { name, type: 'STATIC', load_assignment: { cluster_name: name, endpoints }, ...extra };
}

function zoneCounts(cluster: Cluster, n: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const h = cluster.chooseHost({});
    const k = h ? h.locality.zone : 'null';
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

function setup(
  localZones: Record<string, number>,
  upZones: Record<string, number>,
  opts: { extra?: Record<string, unknown>; locality?: typeof ZONE_A; seed?: number; priority1?: number[] } = {},
): { up: Cluster; local: Cluster; stats: StatsStore; stat(n: string): number } {
  const stats = new StatsStore();
  const local = build(zoned('local', localZones), { stats }).cluster;
  const up = build(zoned('up', upZones, opts.extra, opts.priority1), { stats, lbRandom: seeded(opts.seed ?? 1) }).cluster;
  up.setLocalCluster(local, opts.locality ?? ZONE_A);
  return { up, local, stats, stat: (n) => stats.counter(`cluster.up.${n}`).value };
}

function zoneHosts(c: Cluster, zone: string): Host[] {
  return c.allHosts().filter((h) => h.locality.zone === zone);
}

test('zone routing: upstream share in our zone ≥ local share → all requests directly local', () => {
  const { up, local, stat } = setup({ a: 1, b: 1 }, { a: 3, b: 3 });
  assert.equal(stat('lb_recalculate_zone_structures') >= 1, true);
  const counts = zoneCounts(up, 1000);
  assert.deepEqual(counts, { a: 1000 });
  assert.equal(stat('lb_zone_routing_all_directly'), 1000);
  assert.equal(stat('lb_zone_routing_sampled'), 0);
  assert.equal(stat('lb_zone_routing_cross_zone'), 0);
  // Round robin within the local zone still rotates over its hosts.
  const hosts = new Set<string>();
  for (let i = 0; i < 3; i++) hosts.add(up.chooseHost({})!.key);
  assert.equal(hosts.size, 3);
  up.close();
  local.close();
});

test('zone routing: residual — Envoy example 40/40/20 callers over 25/50/25 upstream', () => {
  // local: a 4000, b 4000, c 2000; upstream: a 2500, b 5000, c 2500 (1/10000 shares).
  // Stay local with 2500/4000 = 62.5%; the rest by residual capacity b 1000 : c 500.
  const { up, local, stat } = setup({ a: 2, b: 2, c: 1 }, { a: 2, b: 4, c: 2 });
  const z = (up as unknown as { lb: { zoneRouting: { routing: ZoneRouting; localPercentToRoute: number; residualCapacity: number[] } } }).lb
    .zoneRouting;
  assert.equal(z.routing, ZoneRouting.Residual);
  assert.equal(z.localPercentToRoute, 6250);
  assert.deepEqual(z.residualCapacity, [0, 1000, 1500]);
  const n = 20000;
  const counts = zoneCounts(up, n);
  between(counts.a, n * 0.605, n * 0.645, 'local a');
  between(counts.b, n * 0.23, n * 0.27, 'cross b');
  between(counts.c, n * 0.105, n * 0.145, 'cross c');
  assert.equal(stat('lb_zone_routing_sampled'), counts.a);
  assert.equal(stat('lb_zone_routing_cross_zone'), counts.b + counts.c);
  assert.equal(stat('lb_zone_routing_all_directly'), 0);
  up.close();
  local.close();
});

test('zone routing: local zone unhealthy → spill over to the other zones; back when healthy', () => {
  const { up, local, stat } = setup({ a: 1, b: 1 }, { a: 4, b: 2, c: 2 }, { extra: { common_lb_config: { zone_aware_lb_config: { min_cluster_size: 2 } } } });
  assert.deepEqual(zoneCounts(up, 300), { a: 300 });
  for (const h of zoneHosts(up, 'a')) h.setHealthFlag(HealthFlag.FAILED_EDS_HEALTH);
  // 4 of 8 down: 50% healthy is not panic. a: no healthy hosts (share 0) → nothing local;
  // b: 5000 of callers vs 5000 upstream → no residual; c: 0 callers vs 5000 → all cross-zone goes to c.
  const spilled = zoneCounts(up, 600);
  assert.deepEqual(spilled, { c: 600 });
  assert.equal(stat('lb_zone_routing_cross_zone'), 600);
  for (const h of zoneHosts(up, 'a')) h.clearHealthFlag(HealthFlag.FAILED_EDS_HEALTH);
  assert.deepEqual(zoneCounts(up, 300), { a: 300 });
  up.close();
  local.close();
});

test('zone routing gives up: too small, single locality, no local hosts in our zone, priority > 0', () => {
  // Default min_cluster_size 6: 2 + 2 healthy hosts are too few → plain round robin.
  let s = setup({ a: 1, b: 1 }, { a: 2, b: 2 });
  assert.ok(s.stat('lb_zone_cluster_too_small') >= 1);
  assert.deepEqual(zoneCounts(s.up, 400), { a: 200, b: 200 });
  s.up.close();
  s.local.close();

  // The local cluster has no host in the proxy's locality: lb_local_cluster_not_ok.
  s = setup({ b: 1, c: 1 }, { a: 3, b: 3 });
  assert.ok(s.stat('lb_local_cluster_not_ok') >= 1);
  assert.deepEqual(zoneCounts(s.up, 600), { a: 300, b: 300 });
  s.up.close();
  s.local.close();

  // The local cluster spans one locality only: nothing to balance.
  s = setup({ a: 2 }, { a: 3, b: 3 });
  assert.deepEqual(zoneCounts(s.up, 600), { a: 300, b: 300 });
  assert.equal(s.stat('lb_zone_routing_all_directly'), 0);
  s.up.close();
  s.local.close();

  // All of P0 down: P1 takes the traffic, never zone-routed.
  s = setup({ a: 1, b: 1 }, { a: 3, b: 3 }, { priority1: [1, 1] });
  for (const h of s.up.prioritySet.hostSets[0].hosts) h.setHealthFlag(HealthFlag.FAILED_EDS_HEALTH);
  const before = s.stat('lb_zone_routing_all_directly') + s.stat('lb_zone_routing_cross_zone') + s.stat('lb_zone_routing_sampled');
  assert.deepEqual(zoneCounts(s.up, 100), { p1: 100 });
  assert.equal(s.stat('lb_zone_routing_all_directly') + s.stat('lb_zone_routing_cross_zone') + s.stat('lb_zone_routing_sampled'), before);
  s.up.close();
  s.local.close();
});

test('zone routing and panic: upstream panic uses all hosts; fail_traffic_on_panic fails; local panic skips zone routing', () => {
  let s = setup({ a: 1, b: 1 }, { a: 3, b: 3 }, { extra: { common_lb_config: { zone_aware_lb_config: { min_cluster_size: 1 } } } });
  // 4 of 6 down → 33% healthy < 50% panic threshold: every host, no zone routing.
  for (const h of [...zoneHosts(s.up, 'a').slice(0, 2), ...zoneHosts(s.up, 'b').slice(0, 2)]) h.setHealthFlag(HealthFlag.FAILED_EDS_HEALTH);
  assert.deepEqual(zoneCounts(s.up, 600), { a: 300, b: 300 });
  assert.equal(s.stat('lb_healthy_panic'), 600);
  assert.equal(s.stat('lb_zone_routing_all_directly'), 0);
  s.up.close();
  s.local.close();

  s = setup({ a: 1, b: 1 }, { a: 3, b: 3 }, { extra: { common_lb_config: { zone_aware_lb_config: { fail_traffic_on_panic: true } } } });
  for (const h of s.up.allHosts().slice(0, 4)) h.setHealthFlag(HealthFlag.FAILED_EDS_HEALTH);
  assert.equal(s.up.chooseHost({}), null);
  assert.equal(s.stats.counter('cluster.up.upstream_cx_none_healthy').value, 1);
  s.up.close();
  s.local.close();

  // The local cluster in panic (1 of 4 local hosts healthy): plain balancing, lb_local_cluster_not_ok per pick.
  s = setup({ a: 2, b: 2 }, { a: 3, b: 3 });
  assert.deepEqual(zoneCounts(s.up, 100), { a: 100 });
  const localHosts = s.local.allHosts();
  for (const h of localHosts.slice(1)) h.setHealthFlag(HealthFlag.FAILED_EDS_HEALTH);
  const notOk = s.stat('lb_local_cluster_not_ok');
  assert.deepEqual(zoneCounts(s.up, 600), { a: 300, b: 300 });
  assert.equal(s.stat('lb_local_cluster_not_ok') - notOk, 600);
  s.up.close();
  s.local.close();
});

test('zone routing follows local cluster changes (lb_recalculate_zone_structures)', () => {
  const s = setup({ a: 1, b: 1 }, { a: 3, b: 3 });
  assert.deepEqual(zoneCounts(s.up, 100), { a: 100 });
  const before = s.stat('lb_recalculate_zone_structures');
  // The local service grows in zone a (3 : 1): 75% of callers are in a, 50% of upstream → sample 6666/10000.
  s.local.updateHosts(0, [
    new Host({ address: '10.200.0.1', port: 80, locality: ZONE_A }),
    new Host({ address: '10.200.0.2', port: 80, locality: ZONE_A }),
    new Host({ address: '10.200.0.3', port: 80, locality: ZONE_A }),
    new Host({ address: '10.200.1.1', port: 80, locality: { region: 'r', zone: 'b' } }),
  ]);
  assert.ok(s.stat('lb_recalculate_zone_structures') > before);
  const n = 20000;
  const counts = zoneCounts(s.up, n);
  between(counts.a, n * 0.646, n * 0.686, 'a sampled');
  assert.equal(s.stat('lb_zone_routing_sampled'), counts.a);
  assert.equal(s.stat('lb_zone_routing_cross_zone'), counts.b);
  s.up.close();
  s.local.close();
});

test('routing_enabled: only that share of picks is zone-routed', () => {
  const s = setup({ a: 1, b: 1 }, { a: 3, b: 3 }, { extra: { common_lb_config: { zone_aware_lb_config: { routing_enabled: { value: 40 } } } } });
  const n = 10000;
  const counts = zoneCounts(s.up, n);
  const direct = s.stat('lb_zone_routing_all_directly');
  between(direct, n * 0.38, n * 0.42, 'zone-routed');
  // The other 60% are plain round robin over both zones.
  between(counts.a, direct + (n - direct) * 0.45, direct + (n - direct) * 0.55, 'a');
  s.up.close();
  s.local.close();
});

test('LEAST_REQUEST and RANDOM are zone-aware too; RING_HASH ignores it', () => {
  for (const lb_policy of ['LEAST_REQUEST', 'RANDOM']) {
    const s = setup({ a: 1, b: 1 }, { a: 3, b: 3 }, { extra: { lb_policy } });
    assert.deepEqual(zoneCounts(s.up, 300), { a: 300 }, lb_policy);
    s.up.close();
    s.local.close();
  }
  const s = setup({ a: 1, b: 1 }, { a: 3, b: 3 }, { extra: { lb_policy: 'RING_HASH' } });
  const counts = zoneCounts(s.up, 2000);
  assert.ok((counts.b ?? 0) > 500, 'ring hash spreads over both zones');
  s.up.close();
  s.local.close();
});

test('computeZoneRouting: percentages by locality, not by position; unknown upstream locality gets residual', () => {
  const mk = (zones: [string, number][]): HostSet => {
    const hs = new HostSet(0);
    const hosts: Host[] = [];
    zones.forEach(([zone, n], z) => {
      for (let i = 0; i < n; i++) hosts.push(new Host({ address: `10.9.${z}.${i + 1}`, port: 80, locality: { region: 'r', zone } }));
    });
    hs.setHosts(hosts, 140);
    return hs;
  };
  const stats = { lb_local_cluster_not_ok: { inc() {} }, lb_zone_cluster_too_small: { inc() {} } };
  // Upstream lists b before a and has a zone c the callers do not have.
  const z = computeZoneRouting(mk([['b', 2], ['a', 1], ['c', 1]]), mk([['a', 1], ['b', 1]]), ZONE_A, 1, stats);
  assert.equal(z.routing, ZoneRouting.Residual);
  assert.equal(z.localIndex, 1);
  assert.deepEqual(z.percentages, [
    { local: 5000, upstream: 5000 },
    { local: 5000, upstream: 2500 },
    { local: 0, upstream: 2500 },
  ]);
  assert.equal(z.localPercentToRoute, 5000);
  assert.deepEqual(z.residualCapacity, [0, 0, 2500]);
  // Our locality absent upstream: everything by residual capacity, nothing sampled local.
  const none = computeZoneRouting(mk([['b', 1], ['c', 1]]), mk([['a', 1], ['b', 1]]), ZONE_A, 1, stats);
  assert.equal(none.localIndex, -1);
  assert.equal(none.localPercentToRoute, 0);
  assert.deepEqual(none.residualCapacity, [0, 5000]);
});

test('config: zone_aware_lb_config fields, paths of issues; cluster_manager', () => {
  const base = zoned('cfg', { a: 1 });
  const paths = (clb: unknown): string[] => issuesOf({ ...base, common_lb_config: clb }).map((i: ConfigIssue) => i.path);
  assert.deepEqual(paths({ zone_aware_lb_config: { routing_enabled: { value: 50.4 }, min_cluster_size: 3, fail_traffic_on_panic: true } }), []);
  assert.deepEqual(paths({ zone_aware_lb_config: { routing_enabled: { value: 150 } } }), ['clusters[0].common_lb_config.zone_aware_lb_config.routing_enabled.value']);
  assert.deepEqual(paths({ zone_aware_lb_config: { force_locality_direct_routing: true } }), [
    'clusters[0].common_lb_config.zone_aware_lb_config.force_locality_direct_routing',
  ]);
  const { cluster } = build({ ...base, common_lb_config: { zone_aware_lb_config: { routing_enabled: { value: 50.5 }, min_cluster_size: 3 } } });
  assert.deepEqual(cluster.config.zoneAware, { routingEnabled: 51, minClusterSize: 3, failTrafficOnPanic: false });
  cluster.close();

  // Bootstrap cluster_manager: local_cluster_name read, other fields named.
  const issues: ConfigIssue[] = [];
  const parts = splitBootstrap({ cluster_manager: { local_cluster_name: 'svc', upstream_bind_config: {} } }, issues);
  assert.equal(parts.clusterManager.localClusterName, 'svc');
  assert.deepEqual(issues.map((i) => i.path), ['cluster_manager.upstream_bind_config']);

  // compileClusters: the local cluster must exist; when it does, every cluster routes against it.
  const stats = new StatsStore();
  const bad: ConfigIssue[] = [];
  assert.equal(compileClusters([zoned('x', { a: 1 })], { stats }, 'clusters', bad, { name: 'nope', locality: ZONE_A }), undefined);
  assert.deepEqual(bad.map((i) => i.path), ['cluster_manager.local_cluster_name']);
  const ok: ConfigIssue[] = [];
  const cm = compileClusters([zoned('svc', { a: 1, b: 1 }), zoned('up', { a: 3, b: 3 })], { stats }, 'clusters', ok, { name: 'svc', locality: ZONE_A })!;
  assert.deepEqual(ok, []);
  assert.deepEqual(zoneCounts(cm.get('up')!, 60), { a: 60 });
  cm.close();
});

test('bootstrap: local_cluster_name must name a static cluster; other cluster_manager fields are issues', () => {
  const cluster = { name: 'svc', type: 'STATIC', load_assignment: { cluster_name: 'svc', endpoints: [{ lb_endpoints: [endpoint('127.0.0.1', 1)] }] } };
  const compile = (cm: object): string[] => {
    const { bootstrap } = loadBootstrapText(JSON.stringify({ cluster_manager: cm, static_resources: { clusters: [cluster] } }));
    try {
      validateBootstrap(bootstrap);
      return [];
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      return e.issues.map((i) => i.path);
    }
  };
  assert.deepEqual(compile({ local_cluster_name: 'svc' }), []);
  assert.deepEqual(compile({ local_cluster_name: 'missing' }), ['cluster_manager.local_cluster_name']);
  assert.deepEqual(compile({ local_cluster_name: 'svc', outlier_detection: { event_log_path: '/tmp/x' } }), ['cluster_manager.outlier_detection']);
});
