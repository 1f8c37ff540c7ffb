import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hash32 } from '../../../src/lib/hash';
import { between, build, count, endpoint, issuesOf, staticCluster } from './helpers';

const three = [endpoint('10.0.0.1', 80), endpoint('10.0.0.2', 80), endpoint('10.0.0.3', 80)];
const weighted = [
  endpoint('10.0.0.1', 80, { load_balancing_weight: 1 }),
  endpoint('10.0.0.2', 80, { load_balancing_weight: 2 }),
  endpoint('10.0.0.3', 80, { load_balancing_weight: 3 }),
];

test('ROUND_ROBIN: equal weights rotate exactly', () => {
  const { cluster } = build(staticCluster('rr', three));
  const m = count(cluster, 300);
  assert.deepEqual([...m.values()], [100, 100, 100]);
  // Strict rotation: three consecutive picks are three different hosts.
  const keys = new Set([0, 1, 2].map(() => cluster.chooseHost({})!.key));
  assert.equal(keys.size, 3);
  cluster.close();
});

test('ROUND_ROBIN: weights 1:2:3 via EDF are exact over a cycle', () => {
  const { cluster } = build(staticCluster('rrw', weighted));
  const m = count(cluster, 600);
  between(m.get('10.0.0.1:80'), 98, 102, 'w1');
  between(m.get('10.0.0.2:80'), 198, 202, 'w2');
  between(m.get('10.0.0.3:80'), 298, 302, 'w3');
  // Smooth: the heaviest host never takes more than 3 picks in a row... and within any 6 picks each host appears.
  const seq = Array.from({ length: 60 }, () => cluster.chooseHost({})!.key);
  for (let i = 0; i + 6 <= seq.length; i += 6) assert.equal(new Set(seq.slice(i, i + 6)).size, 3);
  cluster.close();
});

test('LEAST_REQUEST: power of two choices avoids the busy host', () => {
  const { cluster } = build(staticCluster('lr', three, { lb_policy: 'LEAST_REQUEST' }));
  const [a] = cluster.allHosts();
  a.activeRequests = 10;
  const m = count(cluster, 9000);
  // A is chosen only when both samples are A: p = 1/9 → ~1000.
  between(m.get('10.0.0.1:80') ?? 0, 500, 1600, 'busy host');
  between(m.get('10.0.0.2:80'), 3000, 5000, 'idle host');
  cluster.close();
});

test('LEAST_REQUEST: choice_count 5 with deterministic randomness', () => {
  const { cluster } = build(
    staticCluster('lr5', three, { lb_policy: 'LEAST_REQUEST', least_request_lb_config: { choice_count: 5 } }),
  );
  const hosts = cluster.allHosts();
  hosts[0].activeRequests = 3;
  hosts[1].activeRequests = 0;
  hosts[2].activeRequests = 3;
  const a = cluster.chooseHost({ random: 0.25 });
  const b = cluster.chooseHost({ random: 0.25 });
  assert.equal(a, b, 'same supplied random → same pick');
  const m = count(cluster, 3000);
  // 5 samples of 3 hosts miss host 1 with p = (2/3)^5 ≈ 13%.
  between(m.get('10.0.0.2:80'), 2300, 3000, 'least loaded');
  cluster.close();
});

test('LEAST_REQUEST: weighted uses weight / (active + 1)', () => {
  const eps = [endpoint('10.0.0.1', 80, { load_balancing_weight: 1 }), endpoint('10.0.0.2', 80, { load_balancing_weight: 3 })];
  const { cluster } = build(staticCluster('lrw', eps, { lb_policy: 'LEAST_REQUEST' }));
  let m = count(cluster, 400);
  between(m.get('10.0.0.1:80'), 95, 105, 'w1 idle');
  between(m.get('10.0.0.2:80'), 295, 305, 'w3 idle');
  // With 2 active requests the weight-3 host's effective weight is 1: an even split.
  cluster.allHosts()[1].activeRequests = 2;
  m = count(cluster, 400);
  between(m.get('10.0.0.1:80'), 190, 210, 'w1');
  between(m.get('10.0.0.2:80'), 190, 210, 'w3 busy');
  cluster.close();
});

test('LEAST_REQUEST: active_request_bias 0 is plain weighted round robin', () => {
  const eps = [endpoint('10.0.0.1', 80, { load_balancing_weight: 1 }), endpoint('10.0.0.2', 80, { load_balancing_weight: 3 })];
  const { cluster } = build(
    staticCluster('lrb', eps, {
      lb_policy: 'LEAST_REQUEST',
      least_request_lb_config: { active_request_bias: { default_value: 0, runtime_key: 'x' } },
    }),
  );
  cluster.allHosts()[1].activeRequests = 100;
  const m = count(cluster, 400);
  between(m.get('10.0.0.2:80'), 295, 305, 'bias 0 ignores load');
  cluster.close();
});

test('RANDOM: uniform and weighted', () => {
  const { cluster } = build(staticCluster('rnd', three, { lb_policy: 'RANDOM' }));
  const m = count(cluster, 30000);
  for (const v of m.values()) between(v, 8500, 11500, 'uniform');
  cluster.close();
  const w = build(staticCluster('rndw', weighted, { lb_policy: 'RANDOM' })).cluster;
  const mw = count(w, 60000);
  between(mw.get('10.0.0.1:80'), 8000, 12000, 'w1');
  between(mw.get('10.0.0.3:80'), 27000, 33000, 'w3');
  for (const r of [0, 0.3, 0.999]) assert.equal(w.chooseHost({ random: r }), w.chooseHost({ random: r }));
  w.close();
});

function hashPolicyCluster(policy: 'RING_HASH' | 'MAGLEV', n: number, extra: Record<string, unknown> = {}) {
  const eps = Array.from({ length: n }, (_, i) => endpoint(`10.1.0.${i + 1}`, 8080));
  return build(staticCluster(policy.toLowerCase(), eps, { lb_policy: policy, ...extra }));
}

for (const policy of ['RING_HASH', 'MAGLEV'] as const) {
  test(`${policy}: same key → same host, spread, and ~1/N remapping on removal`, () => {
    const N = 5;
    const { cluster, stats } = hashPolicyCluster(policy, N);
    const keys = Array.from({ length: 10000 }, (_, i) => hash32(`user-${i}`));
    const before = keys.map((k) => cluster.chooseHost({ hashKey: k })!.key);
    assert.deepEqual(
      keys.slice(0, 100).map((k) => cluster.chooseHost({ hashKey: k })!.key),
      before.slice(0, 100),
    );
    const dist = new Map<string, number>();
    for (const k of before) dist.set(k, (dist.get(k) ?? 0) + 1);
    assert.equal(dist.size, N);
    for (const v of dist.values()) between(v, 10000 / N / 2, (10000 / N) * 1.6, 'spread');

    // Remove one host (as EDS would).
    const remaining = cluster.allHosts().slice(1);
    cluster.updateHosts(0, remaining);
    const after = keys.map((k) => cluster.chooseHost({ hashKey: k })!.key);
    let moved = 0;
    for (let i = 0; i < keys.length; i++) if (before[i] !== after[i]) moved++;
    const removedShare = (dist.get('10.1.0.1:8080') ?? 0) / keys.length;
    assert.ok(moved / keys.length >= removedShare - 1e-9, 'keys of the removed host must move');
    assert.ok(moved / keys.length < 1 / N + 0.1, `moved ${moved / keys.length}`);
    if (policy === 'RING_HASH') assert.ok(stats.gauges.get('cluster.ring_hash.ring_hash_lb.size')!.value >= 1024);
    else assert.ok(stats.gauges.get('cluster.maglev.maglev_lb.max_entries_per_host')!.value > 0);
    cluster.close();
  });

  test(`${policy}: weights are honoured; no hash key → random host`, () => {
    const eps = [endpoint('10.2.0.1', 80, { load_balancing_weight: 1 }), endpoint('10.2.0.2', 80, { load_balancing_weight: 3 })];
    const { cluster } = build(staticCluster('hw' + policy, eps, { lb_policy: policy }));
    const m = count(cluster, 20000, (i) => ({ hashKey: hash32('k' + i) }));
    between(m.get('10.2.0.2:80'), 13000, 17000, 'weight 3');
    const r = count(cluster, 4000);
    between(r.get('10.2.0.1:80'), 500, 1600, 'random pick');
    cluster.close();
  });
}

test('RING_HASH: config validation', () => {
  const base = staticCluster('r', three, { lb_policy: 'RING_HASH' });
  assert.match(
    issuesOf({ ...base, ring_hash_lb_config: { minimum_ring_size: 4096, maximum_ring_size: 1024 } })[0].message,
    /minimum_ring_size/,
  );
  assert.equal(issuesOf({ ...base, ring_hash_lb_config: { minimum_ring_size: 9000000 } })[0].path, 'clusters[0].ring_hash_lb_config.minimum_ring_size');
  assert.deepEqual(issuesOf({ ...base, ring_hash_lb_config: { hash_function: 'XX_HASH', minimum_ring_size: 64 } }), []);
  assert.match(
    issuesOf({ ...base, ring_hash_lb_config: { hash_function: 'MURMUR_HASH_2' } })[0].message,
    /MURMUR_HASH_2 is not implemented/,
    'ring positions use one hash whatever is asked: a different choice must not pass silently',
  );
  const small = build({ ...base, name: 'small', ring_hash_lb_config: { minimum_ring_size: 6, maximum_ring_size: 6 } });
  assert.equal(small.stats.gauges.get('cluster.small.ring_hash_lb.size')!.value, 6);
  small.cluster.close();
});

test('MAGLEV: table size must be prime', () => {
  const base = staticCluster('m', three, { lb_policy: 'MAGLEV' });
  const issues = issuesOf({ ...base, maglev_lb_config: { table_size: 1000 } });
  assert.equal(issues.length, 1);
  assert.equal(issues[0].path, 'clusters[0].maglev_lb_config.table_size');
  const { cluster } = build({ ...base, maglev_lb_config: { table_size: 251 } });
  assert.ok(cluster.chooseHost({ hashKey: 12345 }));
  cluster.close();
});

test('locality weights: RR picks localities 1:3', () => {
  const c = {
    name: 'loc',
    type: 'STATIC',
    common_lb_config: { locality_weighted_lb_config: {} },
    load_assignment: {
      endpoints: [
        { locality: { zone: 'a' }, load_balancing_weight: 1, lb_endpoints: [endpoint('10.3.0.1', 80), endpoint('10.3.0.2', 80)] },
        { locality: { zone: 'b' }, load_balancing_weight: 3, lb_endpoints: [endpoint('10.3.0.3', 80)] },
      ],
    },
  };
  const { cluster } = build(c);
  const m = count(cluster, 400);
  between(m.get('10.3.0.3:80'), 295, 305, 'zone b');
  between(m.get('10.3.0.1:80'), 45, 55, 'zone a host');
  cluster.close();
  // Without locality_weighted_lb_config the weights are ignored: plain RR over 3 hosts.
  const plain = build({ ...c, name: 'plain', common_lb_config: undefined }).cluster;
  const p = count(plain, 300);
  assert.deepEqual([...p.values()], [100, 100, 100]);
  plain.close();
});

test('chooseHost does not allocate per call (smoke: heap stays flat)', () => {
  const { cluster } = build(staticCluster('alloc', weighted, { lb_policy: 'LEAST_REQUEST' }));
  const ctx = {};
  for (let i = 0; i < 1e5; i++) cluster.chooseHost(ctx);
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 1e6; i++) cluster.chooseHost(ctx);
  const grown = process.memoryUsage().heapUsed - before;
  assert.ok(grown < 8 * 1024 * 1024, `heap grew ${grown}`);
  cluster.close();
});
