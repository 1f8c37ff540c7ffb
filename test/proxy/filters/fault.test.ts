import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { FilterStatus } from '../../../src/proxy/http/filter';
import { ResponseFlag } from '../../../src/proxy/stream-info';
import { StatsStore } from '../../../src/proxy/telemetry/stats';
import { createFaultFilterType, FAULT_TYPE_URL } from '../../../src/proxy/filters/fault';
import { HTTP_FILTER_TYPES } from '../../../src/proxy/filters';
import { compile, counter, FakeCallbacks, fakeRoute, gauge, mustCompile, paths, perRoute, randoms } from './harness';

const P = 'http.ingress_http.fault.';
const pct = (numerator: number, denominator = 'HUNDRED') => ({ numerator, denominator });

test('registered under its type URL', () => {
  assert.equal(HTTP_FILTER_TYPES.get(FAULT_TYPE_URL)?.typeUrl, FAULT_TYPE_URL);
});

test('fixed delay: stop, DI flag, timer, then continue; body held meanwhile', () => {
  const stats = new StatsStore();
  const f = mustCompile(createFaultFilterType({ random: randoms(0) }), { delay: { fixed_delay: 50, percentage: pct(100) } }, stats);
  const cb = new FakeCallbacks();
  const filter = f.create(cb);
  assert.equal(filter.decodeHeaders!(cb.headers, false), FilterStatus.StopIteration);
  assert.ok(cb.info.hasFlag(ResponseFlag.DelayInjected));
  assert.deepEqual(cb.pendingTimers(), [50]);
  assert.equal(counter(stats, P + 'delays_injected'), 1);
  assert.equal(gauge(stats, P + 'active_faults'), 1);
  assert.equal(filter.decodeData!(Buffer.from('x'), false), FilterStatus.StopIteration);
  cb.advance(49);
  assert.equal(cb.continued, 0);
  cb.advance(1);
  assert.equal(cb.continued, 1);
  assert.equal(gauge(stats, P + 'active_faults'), 0);
  assert.equal(filter.decodeData!(Buffer.from('x'), true), FilterStatus.Continue);
  cb.destroy(filter);
  assert.equal(gauge(stats, P + 'active_faults'), 0);
});

test('percentages use the injected random source and every denominator', () => {
  const cases: Array<[object, number, boolean]> = [
    [pct(50), 0.49, true],
    [pct(50), 0.5, false],
    [pct(0), 0, false],
    [pct(100), 0.999, true],
    [pct(1, 'TEN_THOUSAND'), 0.0000999, true],
    [pct(1, 'TEN_THOUSAND'), 0.0001, false],
    [pct(250000, 'MILLION'), 0.2499999, true],
    [pct(250000, 'MILLION'), 0.25, false],
  ];
  for (const [percentage, r, hit] of cases) {
    const f = mustCompile(createFaultFilterType({ random: () => r }), { abort: { http_status: 503, percentage } });
    const cb = new FakeCallbacks();
    f.create(cb).decodeHeaders!(cb.headers, true);
    assert.equal(cb.replies.length, hit ? 1 : 0, `${JSON.stringify(percentage)} at ${r}`);
  }
});

test('an absent percentage never injects', () => {
  const f = mustCompile(createFaultFilterType({ random: () => 0 }), { abort: { http_status: 503 } });
  const cb = new FakeCallbacks();
  assert.equal(f.create(cb).decodeHeaders!(cb.headers, true), FilterStatus.Continue);
});

test('abort: local reply with Envoy body, details and FI flag', () => {
  const stats = new StatsStore();
  const f = mustCompile(createFaultFilterType({ random: () => 0 }), { abort: { http_status: 503, percentage: pct(100) } }, stats);
  const cb = new FakeCallbacks();
  assert.equal(f.create(cb).decodeHeaders!(cb.headers, true), FilterStatus.StopIteration);
  assert.equal(cb.replies.length, 1);
  const r = cb.replies[0];
  assert.equal(r.status, 503);
  assert.equal(r.body, 'fault filter abort');
  assert.equal(r.opts.details, 'fault_filter_abort');
  assert.equal(r.opts.flag, ResponseFlag.FaultInjected);
  assert.equal(r.opts.grpcStatus, undefined);
  assert.equal(counter(stats, P + 'aborts_injected'), 1);
});

test('delay then abort, in that order; the abort is drawn after the delay', () => {
  const stats = new StatsStore();
  const f = mustCompile(
    createFaultFilterType({ random: () => 0 }),
    { delay: { fixed_delay: 10, percentage: pct(100) }, abort: { http_status: 500, percentage: pct(100) } },
    stats,
  );
  const cb = new FakeCallbacks();
  const filter = f.create(cb);
  assert.equal(filter.decodeHeaders!(cb.headers, true), FilterStatus.StopIteration);
  assert.equal(cb.replies.length, 0);
  cb.advance(10);
  assert.equal(cb.replies.length, 1);
  assert.equal(cb.replies[0].status, 500);
  assert.equal(cb.continued, 0);
  assert.ok(cb.info.hasFlag(ResponseFlag.DelayInjected));
  assert.ok(cb.info.hasFlag(ResponseFlag.FaultInjected));
  assert.equal(gauge(stats, P + 'active_faults'), 1);
  cb.destroy(filter);
  assert.equal(gauge(stats, P + 'active_faults'), 0);
});

test('gRPC abort answers 200 with the grpc status', () => {
  const f = mustCompile(createFaultFilterType({ random: () => 0 }), { abort: { grpc_status: 14, percentage: pct(100) } });
  const cb = new FakeCallbacks('POST', '/pkg.Svc/Method', [['content-type', 'application/grpc']]);
  f.create(cb).decodeHeaders!(cb.headers, false);
  assert.equal(cb.replies[0].status, 200);
  assert.equal(cb.replies[0].opts.grpcStatus, 14);
});

test('header_abort: status from x-envoy-fault-abort-request, gRPC header, percentage header capped', () => {
  const f = mustCompile(createFaultFilterType({ random: randoms(0.3) }), { abort: { header_abort: {}, percentage: pct(50) } });
  const run = (headers: Array<[string, string]>) => {
    const cb = new FakeCallbacks('GET', '/', headers);
    const st = f.create(cb).decodeHeaders!(cb.headers, true);
    return { st, reply: cb.replies[0] };
  };
  assert.equal(run([['x-envoy-fault-abort-request', '429']]).reply?.status, 429);
  assert.equal(run([['x-envoy-fault-abort-request', ' +418 ']]).reply?.status, 418);
  // Out of [200, 600): ignored, the gRPC header is tried next.
  assert.equal(run([['x-envoy-fault-abort-request', '600']]).st, FilterStatus.Continue);
  const g = run([['x-envoy-fault-abort-request', '99'], ['x-envoy-fault-abort-grpc-request', '4']]).reply;
  assert.deepEqual([g?.status, g?.opts.grpcStatus], [200, 4]);
  assert.equal(run([]).st, FilterStatus.Continue);
  assert.equal(run([['x-envoy-fault-abort-request', 'abc']]).st, FilterStatus.Continue);
  // Header percentage 20 < draw 30: no abort; 90 is capped at the configured 50 (> 30): abort.
  assert.equal(run([['x-envoy-fault-abort-request', '503'], ['x-envoy-fault-abort-request-percentage', '20']]).st, FilterStatus.Continue);
  assert.equal(run([['x-envoy-fault-abort-request', '503'], ['x-envoy-fault-abort-request-percentage', '90']]).reply?.status, 503);
  // Only the first value of a repeated header counts.
  assert.equal(run([['x-envoy-fault-abort-request', '502'], ['x-envoy-fault-abort-request', '503']]).reply?.status, 502);
});

test('header_abort: the cap applies to the configured percentage', () => {
  const f = mustCompile(createFaultFilterType({ random: () => 0.6 }), { abort: { header_abort: {}, percentage: pct(50) } });
  const cb = new FakeCallbacks('GET', '/', [['x-envoy-fault-abort-request', '503'], ['x-envoy-fault-abort-request-percentage', '100']]);
  assert.equal(f.create(cb).decodeHeaders!(cb.headers, true), FilterStatus.Continue);
});

test('header_delay: duration and percentage from headers', () => {
  const f = mustCompile(createFaultFilterType({ random: () => 0.5 }), { delay: { header_delay: {}, percentage: pct(100) } });
  const cb = new FakeCallbacks('GET', '/', [['x-envoy-fault-delay-request', '200']]);
  assert.equal(f.create(cb).decodeHeaders!(cb.headers, true), FilterStatus.StopIteration);
  assert.deepEqual(cb.pendingTimers(), [200]);
  for (const h of [
    [['x-envoy-fault-delay-request', '0']],
    [['x-envoy-fault-delay-request', '-5']],
    [],
    [['x-envoy-fault-delay-request', '200'], ['x-envoy-fault-delay-request-percentage', '40']],
  ] as Array<Array<[string, string]>>) {
    const c = new FakeCallbacks('GET', '/', h);
    assert.equal(f.create(c).decodeHeaders!(c.headers, true), FilterStatus.Continue, JSON.stringify(h));
  }
});

test('headers, downstream_nodes and upstream_cluster restrict the fault', () => {
  const f = mustCompile(createFaultFilterType({ random: () => 0 }), {
    abort: { http_status: 503, percentage: pct(100) },
    headers: [{ name: 'x-canary', exact_match: 'yes' }],
    downstream_nodes: ['node-a'],
    upstream_cluster: 'backend',
  });
  const run = (headers: Array<[string, string]>, cluster = 'backend', route = true) => {
    const cb = new FakeCallbacks('GET', '/', headers);
    cb.routeValue = route ? fakeRoute(cluster) : null;
    return f.create(cb).decodeHeaders!(cb.headers, true);
  };
  const ok: Array<[string, string]> = [['x-canary', 'yes'], ['x-envoy-downstream-service-node', 'node-a']];
  assert.equal(run(ok), FilterStatus.StopIteration);
  assert.equal(run(ok, 'other'), FilterStatus.Continue);
  assert.equal(run(ok, 'backend', false), FilterStatus.Continue);
  assert.equal(run([['x-canary', 'no'], ['x-envoy-downstream-service-node', 'node-a']]), FilterStatus.Continue);
  assert.equal(run([['x-canary', 'yes'], ['x-envoy-downstream-service-node', 'node-b']]), FilterStatus.Continue);
  assert.equal(run([['x-canary', 'yes']]), FilterStatus.Continue);
});

test('max_active_faults bounds faults in progress and counts overflow', () => {
  const stats = new StatsStore();
  const f = mustCompile(createFaultFilterType({ random: () => 0 }), { delay: { fixed_delay: 100, percentage: pct(100) }, max_active_faults: 1 }, stats);
  const a = new FakeCallbacks();
  const fa = f.create(a);
  assert.equal(fa.decodeHeaders!(a.headers, true), FilterStatus.StopIteration);
  const b = new FakeCallbacks();
  assert.equal(f.create(b).decodeHeaders!(b.headers, true), FilterStatus.Continue);
  assert.equal(counter(stats, P + 'faults_overflow'), 1);
  assert.equal(counter(stats, P + 'delays_injected'), 1);
  a.destroy(fa); // reset mid-delay
  assert.equal(gauge(stats, P + 'active_faults'), 0);
  assert.equal(a.continued, 0);
  const c = new FakeCallbacks();
  assert.equal(f.create(c).decodeHeaders!(c.headers, true), FilterStatus.StopIteration);
});

test('downstream cluster stats, unless disabled', () => {
  const stats = new StatsStore();
  const f = mustCompile(createFaultFilterType({ random: () => 0 }), { abort: { http_status: 503, percentage: pct(100) } }, stats);
  const cb = new FakeCallbacks('GET', '/', [['x-envoy-downstream-service-cluster', 'frontend']]);
  f.create(cb).decodeHeaders!(cb.headers, true);
  assert.equal(counter(stats, P + 'frontend.aborts_injected'), 1);
  assert.equal(counter(stats, P + 'aborts_injected'), 1);
  const s2 = new StatsStore();
  const g = mustCompile(
    createFaultFilterType({ random: () => 0 }),
    { abort: { http_status: 503, percentage: pct(100) }, disable_downstream_cluster_stats: true },
    s2,
  );
  const cb2 = new FakeCallbacks('GET', '/', [['x-envoy-downstream-service-cluster', 'frontend']]);
  g.create(cb2).decodeHeaders!(cb2.headers, true);
  assert.equal(counter(s2, P + 'frontend.aborts_injected'), -1);
});

test('per-route HTTPFault replaces the filter settings', () => {
  const type = createFaultFilterType({ random: () => 0 });
  const f = mustCompile(type, {});
  const pr = perRoute(type, { '@type': FAULT_TYPE_URL, abort: { http_status: 418, percentage: pct(100) } });
  assert.deepEqual(pr.issues, []);
  const cb = new FakeCallbacks();
  cb.perRoute = pr.value;
  f.create(cb).decodeHeaders!(cb.headers, true);
  assert.equal(cb.replies[0]?.status, 418);
  const plain = new FakeCallbacks();
  assert.equal(f.create(plain).decodeHeaders!(plain.headers, true), FilterStatus.Continue);
  assert.deepEqual(paths(perRoute(type, { '@type': 'type.googleapis.com/x.Y' }).issues), ['typed_per_filter_config.f.@type']);
});

test('config issues name their paths', () => {
  const type = createFaultFilterType();
  const { factory, issues } = compile(type, {
    response_rate_limit: { fixed_limit: { limit_kbps: 1 } },
    filter_metadata: {},
    abort: { http_status: 700, percentage: pct(1, 'BILLION') },
    delay: { percentage: pct(1) },
    headers: [{ name: 'x', exact_match: 'a', prefix_match: 'b' }],
  });
  assert.equal(factory, undefined);
  const p = paths(issues);
  const base = 'http_filters[0].typed_config';
  for (const want of [
    `${base}.filter_metadata`,
    `${base}.response_rate_limit`,
    `${base}.abort.http_status`,
    `${base}.abort.percentage.denominator`,
    `${base}.delay`,
    `${base}.headers[0]`,
  ]) {
    assert.ok(p.includes(want), `${want} in ${JSON.stringify(p)}`);
  }
  const two = compile(type, { abort: { http_status: 503, grpc_status: 1 } });
  assert.deepEqual(paths(two.issues), [`${base}.abort`]);
  const noDelay = compile(type, { delay: { fixed_delay: 0 } });
  assert.deepEqual(paths(noDelay.issues), [`${base}.delay.fixed_delay`]);
  // Runtime keys are accepted (no runtime layer: configured values apply).
  assert.deepEqual(compile(type, { abort_percent_runtime: 'k', delay_duration_runtime: 'd' }).issues, []);
});
