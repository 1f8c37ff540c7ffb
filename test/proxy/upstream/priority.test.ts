import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HealthFlag, Host } from '../../../src/proxy/upstream/host';
import { PrioritySet } from '../../../src/proxy/upstream/priority';
import { between, build, count, endpoint } from './helpers';

function ps(levels: boolean[][], factor = 140, panic = 50): PrioritySet {
  const set = new PrioritySet(factor, panic);
  levels.forEach((healthy, p) => {
    const hosts = healthy.map(
      (ok, i) => new Host({ address: `10.${p}.0.${i + 1}`, port: 80, priority: p, healthFlags: ok ? 0 : HealthFlag.FAILED_ACTIVE_HC }),
    );
    set.getOrCreate(p).setHosts(hosts, factor);
  });
  set.recompute();
  return set;
}

test('priority load: healthy P0 takes everything', () => {
  const s = ps([[true, true], [true, true]]);
  assert.deepEqual(s.healthyLoad, [100, 0]);
  assert.deepEqual(s.panic, [false, false]);
});

test('priority load: overprovisioning factor spills to P1', () => {
  // P0 health = min(100, 140 * 1/2) = 70 → 70% to P0, 30% to P1.
  assert.deepEqual(ps([[true, false], [true, true]]).healthyLoad, [70, 30]);
  // 4 of 5 healthy: 140 * 0.8 = 112 → still 100%.
  assert.deepEqual(ps([[true, true, true, true, false], [true]]).healthyLoad, [100, 0]);
  // overprovisioning_factor 100: exact ratio.
  assert.deepEqual(ps([[true, true, true, false], [true]], 100).healthyLoad, [75, 25]);
  // P0 all down.
  assert.deepEqual(ps([[false, false], [true, true]]).healthyLoad, [0, 100]);
});

test('priority load: normalized when total health < 100, panic per priority', () => {
  // P0: 1/4 → 35, P1: 1/4 → 35; total 70 → loads 50/50; both below 50% healthy → total panic → by host count.
  const s = ps([[true, false, false, false], [true, false, false, false]]);
  assert.deepEqual(s.panic, [true, true]);
  assert.equal(s.totalPanic, true);
  assert.deepEqual(s.healthyLoad, [50, 50]);
  // P0 1/4 (35), P1 2/3 healthy (93): total 100 → no panic anywhere.
  const t = ps([[true, false, false, false], [true, true, false]]);
  assert.deepEqual(t.panic, [false, false]);
  assert.deepEqual(t.healthyLoad, [35, 65]);
  // Total panic by host counts: 1 host vs 3 hosts, all unhealthy.
  const u = ps([[false], [false, false, false]]);
  assert.deepEqual(u.healthyLoad, [25, 75]);
  // Panic disabled and nothing healthy: P0 gets the (empty) load.
  const v = ps([[false], [false]], 140, 0);
  assert.deepEqual(v.healthyLoad, [100, 0]);
  assert.deepEqual(v.panic, [false, false]);
});

test('degraded hosts take load only when healthy ones fall short', () => {
  const set = new PrioritySet();
  const hosts = [
    new Host({ address: '10.0.0.1', port: 80 }),
    new Host({ address: '10.0.0.2', port: 80, healthFlags: HealthFlag.DEGRADED_EDS_HEALTH }),
    new Host({ address: '10.0.0.3', port: 80, healthFlags: HealthFlag.FAILED_EDS_HEALTH }),
  ];
  set.getOrCreate(0).setHosts(hosts, 140);
  set.recompute();
  // health = 140/3 = 46, degraded = 46; total 92 → healthy 50, degraded 50 (first healthy gets rounding).
  assert.equal(set.healthyLoad[0] + set.degradedLoad[0], 100);
  assert.ok(set.degradedLoad[0] > 0);
});

function twoPriorityCluster(extra: Record<string, unknown> = {}) {
  return build({
    name: 'prio',
    type: 'STATIC',
    load_assignment: {
      endpoints: [
        { priority: 0, lb_endpoints: [endpoint('10.0.0.1', 80), endpoint('10.0.0.2', 80)] },
        { priority: 1, lb_endpoints: [endpoint('10.1.0.1', 80), endpoint('10.1.0.2', 80)] },
      ],
    },
    ...extra,
  });
}

test('failover: P1 used as P0 hosts fail, back when they recover', () => {
  const { cluster, stats } = twoPriorityCluster();
  const p0 = cluster.prioritySet.hostSets[0].hosts;
  let m = count(cluster, 200);
  assert.equal(m.get('10.0.0.1:80'), 100);
  assert.equal(m.get('10.1.0.1:80'), undefined);

  p0[0].setHealthFlag(HealthFlag.FAILED_OUTLIER_CHECK); // P0 at 70%
  assert.deepEqual(cluster.prioritySet.healthyLoad, [70, 30]);
  m = count(cluster, 10000);
  assert.equal(m.get('10.0.0.1:80'), undefined, 'unhealthy host gets nothing');
  between(m.get('10.0.0.2:80'), 6500, 7500, 'P0');
  between((m.get('10.1.0.1:80') ?? 0) + (m.get('10.1.0.2:80') ?? 0), 2500, 3500, 'P1');
  assert.equal(stats.gauges.get('cluster.prio.membership_healthy')!.value, 3);

  p0[1].setHealthFlag(HealthFlag.FAILED_ACTIVE_HC);
  m = count(cluster, 100);
  assert.equal((m.get('10.1.0.1:80') ?? 0) + (m.get('10.1.0.2:80') ?? 0), 100);
  assert.equal(p0[1].healthFlagsString, '/failed_active_hc');

  p0[0].clearHealthFlag(HealthFlag.FAILED_OUTLIER_CHECK);
  p0[1].clearHealthFlag(HealthFlag.FAILED_ACTIVE_HC);
  assert.deepEqual(cluster.prioritySet.healthyLoad, [100, 0]);
  assert.equal(stats.counters.get('cluster.prio.lb_healthy_panic')!.value, 0);
  cluster.close();
});

test('panic: below healthy_panic_threshold all hosts are used and lb_healthy_panic counts', () => {
  const eps = [1, 2, 3, 4].map((i) => endpoint(`10.0.0.${i}`, 80));
  const { cluster, stats } = build({ name: 'panic', type: 'STATIC', load_assignment: { endpoints: [{ lb_endpoints: eps }] } });
  const hosts = cluster.allHosts();
  for (const h of hosts.slice(1)) h.setHealthFlag(HealthFlag.FAILED_ACTIVE_HC);
  assert.deepEqual(cluster.prioritySet.panic, [true]);
  const m = count(cluster, 400);
  assert.deepEqual([...m.values()], [100, 100, 100, 100]);
  assert.equal(stats.counters.get('cluster.panic.lb_healthy_panic')!.value, 400);
  cluster.close();

  // healthy_panic_threshold 0 disables panic: only the healthy host.
  const { cluster: c2, stats: s2 } = build({
    name: 'nopanic',
    type: 'STATIC',
    common_lb_config: { healthy_panic_threshold: { value: 0 } },
    load_assignment: { endpoints: [{ lb_endpoints: eps }] },
  });
  const h2 = c2.allHosts();
  for (const h of h2.slice(1)) h.setHealthFlag(HealthFlag.FAILED_ACTIVE_HC);
  assert.deepEqual([...count(c2, 50).keys()], ['10.0.0.1:80']);
  h2[0].setHealthFlag(HealthFlag.FAILED_ACTIVE_HC);
  assert.equal(c2.chooseHost({}), null);
  assert.equal(s2.counters.get('cluster.nopanic.upstream_cx_none_healthy')!.value, 1);
  c2.close();
});

test('panic applies to hash load balancers too', () => {
  const eps = [1, 2, 3, 4].map((i) => endpoint(`10.0.0.${i}`, 80));
  const { cluster } = build({ name: 'hp', type: 'STATIC', lb_policy: 'MAGLEV', load_assignment: { endpoints: [{ lb_endpoints: eps }] } });
  const hosts = cluster.allHosts();
  hosts[1].setHealthFlag(HealthFlag.FAILED_ACTIVE_HC);
  const m = count(cluster, 2000, (i) => ({ hashKey: i * 7919 }));
  assert.equal(m.get('10.0.0.2:80'), undefined);
  for (const h of hosts.slice(1)) h.setHealthFlag(HealthFlag.FAILED_ACTIVE_HC);
  const p = count(cluster, 4000, (i) => ({ hashKey: i * 7919 }));
  assert.equal(p.size, 4, 'panic: all hosts');
  cluster.close();
});
