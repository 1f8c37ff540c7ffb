import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { HeaderMap } from '../../../src/lib/headers';
import { FilterStatus } from '../../../src/proxy/http/filter';
import { ResponseFlag } from '../../../src/proxy/stream-info';
import { StatsStore } from '../../../src/proxy/telemetry/stats';
import { HTTP_FILTER_TYPES } from '../../../src/proxy/filters';
import {
  createLocalRateLimitFilterType,
  LOCAL_RATELIMIT_TYPE_URL,
  type LocalRateLimitConfig,
} from '../../../src/proxy/filters/local-ratelimit';
import { compile, counter, FakeCallbacks, mustCompile, paths, perRoute } from './harness';

const ALWAYS = { runtime_key: 'k', default_value: { numerator: 100, denominator: 'HUNDRED' } };

function base(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    stat_prefix: 'lrl',
    token_bucket: { max_tokens: 2, tokens_per_fill: 1, fill_interval: 1000 },
    filter_enabled: ALWAYS,
    filter_enforced: ALWAYS,
    ...extra,
  };
}

function setup(extra: Record<string, unknown> = {}) {
  const clock = { t: 0 };
  const type = createLocalRateLimitFilterType({ clock: () => clock.t, random: () => 0 });
  const stats = new StatsStore();
  const factory = mustCompile(type, base(extra), stats);
  const send = (connectionId = 1, cbSetup?: (cb: FakeCallbacks) => void) => {
    const cb = new FakeCallbacks();
    cb.info.connectionId = connectionId;
    cbSetup?.(cb);
    const f = factory.create(cb);
    const status = f.decodeHeaders!(cb.headers, true);
    const resp = new HeaderMap();
    f.encodeHeaders?.(cb.replies[0]?.status ?? 200, resp, true);
    return { status, cb, resp };
  };
  return { clock, type, stats, send };
}

test('registered under its type URL', () => {
  assert.ok(HTTP_FILTER_TYPES.has(LOCAL_RATELIMIT_TYPE_URL));
});

test('token bucket: starts full, then 429 with RL, details, body and headers', () => {
  const { stats, send } = setup({
    response_headers_to_add: [{ append_action: 'OVERWRITE_IF_EXISTS_OR_ADD', header: { key: 'x-local-rate-limit', value: 'true' } }],
  });
  assert.equal(send().status, FilterStatus.Continue);
  assert.equal(send().status, FilterStatus.Continue);
  const r = send();
  assert.equal(r.status, FilterStatus.StopIteration);
  const reply = r.cb.replies[0];
  assert.equal(reply.status, 429);
  assert.equal(reply.body, 'local_rate_limited');
  assert.equal(reply.opts.details, 'local_rate_limited');
  assert.equal(reply.opts.flag, ResponseFlag.RateLimited);
  assert.ok(r.cb.info.hasFlag(ResponseFlag.RateLimited));
  assert.deepEqual(r.cb.replyHeaders(), { 'x-envoy-ratelimited': 'true', 'x-local-rate-limit': 'true' });
  assert.equal(counter(stats, 'lrl.http_local_rate_limit.enabled'), 3);
  assert.equal(counter(stats, 'lrl.http_local_rate_limit.ok'), 2);
  assert.equal(counter(stats, 'lrl.http_local_rate_limit.rate_limited'), 1);
  assert.equal(counter(stats, 'lrl.http_local_rate_limit.enforced'), 1);
});

test('refill is lazy, in whole intervals, capped at max_tokens', () => {
  const { clock, send } = setup({ token_bucket: { max_tokens: 3, tokens_per_fill: 2, fill_interval: 1000 } });
  for (let i = 0; i < 3; i++) assert.equal(send().status, FilterStatus.Continue);
  assert.equal(send().status, FilterStatus.StopIteration);
  clock.t = 999;
  assert.equal(send().status, FilterStatus.StopIteration);
  clock.t = 1000; // one fill: +2
  assert.equal(send().status, FilterStatus.Continue);
  assert.equal(send().status, FilterStatus.Continue);
  assert.equal(send().status, FilterStatus.StopIteration);
  clock.t = 10_500; // nine fills, capped at 3; fills stay on the 1000 ms grid
  for (let i = 0; i < 3; i++) assert.equal(send().status, FilterStatus.Continue);
  assert.equal(send().status, FilterStatus.StopIteration);
  clock.t = 11_000;
  assert.equal(send().status, FilterStatus.Continue);
});

test('x-ratelimit headers (DRAFT_VERSION_03), also on the 429', () => {
  const { clock, send } = setup({
    enable_x_ratelimit_headers: 'DRAFT_VERSION_03',
    token_bucket: { max_tokens: 2, tokens_per_fill: 1, fill_interval: 60_000 },
  });
  clock.t = 2500;
  const a = send();
  assert.deepEqual(a.resp.toObject(), { 'x-ratelimit-limit': '2', 'x-ratelimit-remaining': '1', 'x-ratelimit-reset': '58' });
  send();
  const c = send();
  assert.equal(c.cb.replies[0].status, 429);
  assert.deepEqual(c.resp.toObject(), { 'x-ratelimit-limit': '2', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '58' });
  // Off by default.
  const off = setup().send();
  assert.equal(off.resp.size, 0);
});

test('not enforced: counted, request headers added, request goes on', () => {
  const { stats, send } = setup({
    token_bucket: { max_tokens: 1, fill_interval: 1000 },
    filter_enforced: { runtime_key: 'k', default_value: { numerator: 0 } },
    request_headers_to_add_when_not_enforced: [{ header: { key: 'x-local-ratelimited', value: 'true' } }],
  });
  assert.equal(send().cb.headers.get('x-local-ratelimited'), undefined);
  const r = send();
  assert.equal(r.status, FilterStatus.Continue);
  assert.equal(r.cb.replies.length, 0);
  assert.equal(r.cb.headers.get('x-local-ratelimited'), 'true');
  assert.equal(counter(stats, 'lrl.http_local_rate_limit.rate_limited'), 1);
  assert.equal(counter(stats, 'lrl.http_local_rate_limit.enforced'), 0);
});

test('disabled without filter_enabled: nothing counted', () => {
  const clock = { t: 0 };
  const type = createLocalRateLimitFilterType({ clock: () => clock.t });
  const stats = new StatsStore();
  const f = mustCompile(type, { stat_prefix: 'lrl', token_bucket: { max_tokens: 1, fill_interval: 1000 } }, stats);
  for (let i = 0; i < 3; i++) {
    const cb = new FakeCallbacks();
    assert.equal(f.create(cb).decodeHeaders!(cb.headers, true), FilterStatus.Continue);
  }
  assert.equal(counter(stats, 'lrl.http_local_rate_limit.enabled'), 0);
});

test('status: configured code, codes below 400 become 429; resource exhausted for gRPC', () => {
  const r1 = setup({ token_bucket: { max_tokens: 1, fill_interval: 1000 }, status: { code: 'ServiceUnavailable' }, rate_limited_as_resource_exhausted: true });
  r1.send();
  const x = r1.send();
  assert.equal(x.cb.replies[0].status, 503);
  assert.equal(x.cb.replies[0].opts.grpcStatus, 8);
  const r2 = setup({ token_bucket: { max_tokens: 1, fill_interval: 1000 }, status: { code: 'OK' } });
  r2.send();
  assert.equal(r2.send().cb.replies[0].status, 429);
});

test('per downstream connection buckets', () => {
  const { send, type } = setup({ token_bucket: { max_tokens: 1, fill_interval: 1000 }, local_rate_limit_per_downstream_connection: true });
  assert.equal(send(1).status, FilterStatus.Continue);
  assert.equal(send(1).status, FilterStatus.StopIteration);
  assert.equal(send(2).status, FilterStatus.Continue);
  assert.ok(type);
});

test('per-route config has its own bucket and stats', () => {
  const { type, stats, send } = setup({ token_bucket: { max_tokens: 1, fill_interval: 1000 } });
  const pr = perRoute(type, {
    '@type': LOCAL_RATELIMIT_TYPE_URL,
    ...base({ stat_prefix: 'route_lrl', token_bucket: { max_tokens: 2, fill_interval: 1000 } }),
  });
  assert.deepEqual(pr.issues, []);
  const withRoute = (cb: FakeCallbacks) => (cb.perRoute = pr.value as LocalRateLimitConfig);
  assert.equal(send(1, withRoute).status, FilterStatus.Continue);
  assert.equal(send(1, withRoute).status, FilterStatus.Continue);
  assert.equal(send(1, withRoute).status, FilterStatus.StopIteration);
  assert.equal(counter(stats, 'route_lrl.http_local_rate_limit.ok'), 2);
  assert.equal(counter(stats, 'route_lrl.http_local_rate_limit.rate_limited'), 1);
  // The filter's own bucket is untouched.
  assert.equal(send().status, FilterStatus.Continue);
  assert.equal(counter(stats, 'lrl.http_local_rate_limit.ok'), 1);
  // Per-route configs need a token bucket.
  const bad = perRoute(type, { stat_prefix: 'x' });
  assert.deepEqual(paths(bad.issues), ['typed_per_filter_config.f.token_bucket']);
});

test('config issues name their paths', () => {
  const type = createLocalRateLimitFilterType();
  const { factory, issues } = compile(type, {
    token_bucket: { max_tokens: 0, fill_interval: 10 },
    descriptors: [{ entries: [{ key: 'a', value: 'b' }], token_bucket: { max_tokens: 1, fill_interval: 1000 } }],
    local_cluster_rate_limit: {},
    stage: 1,
    enable_x_ratelimit_headers: 'DRAFT_VERSION_99',
    filter_enabled: { runtime_key: 'k' },
  });
  assert.equal(factory, undefined);
  const b = 'http_filters[0].typed_config';
  assert.deepEqual(paths(issues).sort(), [
    `${b}.descriptors`,
    `${b}.enable_x_ratelimit_headers`,
    `${b}.filter_enabled.default_value`,
    `${b}.local_cluster_rate_limit`,
    `${b}.stage`,
    `${b}.stat_prefix`,
    `${b}.token_bucket.fill_interval`,
    `${b}.token_bucket.max_tokens`,
  ]);
  assert.deepEqual(compile(type, { stat_prefix: 'a', descriptors: [] }).issues, []);
});
