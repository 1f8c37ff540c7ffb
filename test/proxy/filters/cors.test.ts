import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { HeaderMap } from '../../../src/lib/headers';
import { FilterStatus } from '../../../src/proxy/http/filter';
import { StatsStore } from '../../../src/proxy/telemetry/stats';
import { HTTP_FILTER_TYPES } from '../../../src/proxy/filters';
import { CORS_POLICY_TYPE_URL, CORS_TYPE_URL, createCorsFilterType } from '../../../src/proxy/filters/cors';
import { compile, counter, FakeCallbacks, mustCompile, paths, perRoute } from './harness';

const P = 'http.ingress_http.cors.';

function setup(policy: Record<string, unknown>, random = () => 0) {
  const type = createCorsFilterType({ random });
  const stats = new StatsStore();
  const factory = mustCompile(type, {}, stats);
  const pr = perRoute(type, { '@type': CORS_POLICY_TYPE_URL, ...policy });
  assert.deepEqual(pr.issues, []);
  const send = (method: string, headers: Array<[string, string]>, withPolicy = true) => {
    const cb = new FakeCallbacks(method, '/api', headers);
    if (withPolicy) cb.perRoute = pr.value;
    const f = factory.create(cb);
    const status = f.decodeHeaders!(cb.headers, method !== 'POST');
    const resp = new HeaderMap();
    if (cb.replies.length === 0) f.encodeHeaders!(200, resp, true);
    return { status, cb, resp };
  };
  return { stats, send };
}

const POLICY = {
  allow_origin_string_match: [{ exact: 'https://app.example.com' }, { suffix: '.trusted.io' }],
  allow_methods: 'GET, POST, PUT',
  allow_headers: 'content-type, x-custom',
  expose_headers: 'x-trace',
  max_age: '600',
  allow_credentials: true,
  allow_private_network_access: true,
};

test('registered under its type URL', () => {
  assert.ok(HTTP_FILTER_TYPES.has(CORS_TYPE_URL));
});

test('preflight is answered locally with the policy', () => {
  const { stats, send } = setup(POLICY);
  const r = send('OPTIONS', [
    ['origin', 'https://app.example.com'],
    ['access-control-request-method', 'PUT'],
    ['access-control-request-private-network', 'true'],
  ]);
  assert.equal(r.status, FilterStatus.StopIteration);
  assert.equal(r.cb.replies.length, 1);
  const reply = r.cb.replies[0];
  assert.equal(reply.status, 200);
  assert.equal(reply.body, '');
  assert.equal(reply.opts.details, 'cors_response');
  assert.deepEqual(r.cb.replyHeaders(), {
    'access-control-allow-origin': 'https://app.example.com',
    'access-control-allow-credentials': 'true',
    'access-control-allow-methods': 'GET, POST, PUT',
    'access-control-allow-headers': 'content-type, x-custom',
    'access-control-max-age': '600',
    'access-control-allow-private-network': 'true',
  });
  assert.equal(counter(stats, P + 'origin_valid'), 1);
  assert.equal(counter(stats, P + 'origin_invalid'), 0);
});

test('"*" methods and headers echo the request', () => {
  const { send } = setup({ allow_origin_string_match: [{ exact: '*' }], allow_methods: '*', allow_headers: '*' });
  const r = send('OPTIONS', [
    ['origin', 'https://any.example'],
    ['access-control-request-method', 'DELETE'],
    ['access-control-request-headers', 'x-a, x-b'],
  ]);
  assert.deepEqual(r.cb.replyHeaders(), {
    'access-control-allow-origin': 'https://any.example',
    'access-control-allow-methods': 'DELETE',
    'access-control-allow-headers': 'x-a, x-b',
  });
});

test('actual request: allow-origin, credentials and expose headers on the response', () => {
  const { send } = setup(POLICY);
  const r = send('POST', [['origin', 'https://x.trusted.io']]);
  assert.equal(r.status, FilterStatus.Continue);
  assert.deepEqual(r.resp.toObject(), {
    'access-control-allow-origin': 'https://x.trusted.io',
    'access-control-allow-credentials': 'true',
    'access-control-expose-headers': 'x-trace',
  });
  // OPTIONS without access-control-request-method is not a preflight.
  const o = send('OPTIONS', [['origin', 'https://x.trusted.io']]);
  assert.equal(o.status, FilterStatus.Continue);
  assert.equal(o.resp.get('access-control-allow-origin'), 'https://x.trusted.io');
});

test('invalid origin: counted, preflight forwarded, response untouched', () => {
  const { stats, send } = setup(POLICY);
  const pre = send('OPTIONS', [['origin', 'https://evil.example'], ['access-control-request-method', 'GET']]);
  assert.equal(pre.status, FilterStatus.Continue);
  assert.equal(pre.cb.replies.length, 0);
  assert.equal(pre.resp.size, 0);
  const act = send('POST', [['origin', 'https://evil.example']]);
  assert.equal(act.resp.size, 0);
  assert.equal(counter(stats, P + 'origin_invalid'), 2);
});

test('forward_not_matching_preflights false: answered without allow-origin', () => {
  const { send } = setup({ ...POLICY, forward_not_matching_preflights: false });
  const r = send('OPTIONS', [['origin', 'https://evil.example'], ['access-control-request-method', 'GET']]);
  assert.equal(r.status, FilterStatus.StopIteration);
  assert.equal(r.cb.replyHeaders()['access-control-allow-origin'], undefined);
  assert.equal(r.cb.replyHeaders()['access-control-allow-credentials'], 'true');
});

test('no Origin, no policy, no route: nothing happens', () => {
  const { stats, send } = setup(POLICY);
  assert.equal(send('GET', []).resp.size, 0);
  assert.equal(send('GET', [['origin', 'https://app.example.com']], false).resp.size, 0);
  const type = createCorsFilterType();
  const cb = new FakeCallbacks('GET', '/', [['origin', 'https://app.example.com']]);
  cb.routeValue = null;
  cb.perRoute = perRoute(type, POLICY).value;
  assert.equal(mustCompile(type, {}).create(cb).decodeHeaders!(cb.headers, true), FilterStatus.Continue);
  assert.equal(counter(stats, P + 'origin_valid'), 0);
});

test('filter_enabled off disables; shadow_enabled only counts', () => {
  const off = { runtime_key: 'k', default_value: { numerator: 0 } };
  const on = { runtime_key: 'k', default_value: { numerator: 100 } };
  const d = setup({ ...POLICY, filter_enabled: off });
  assert.equal(d.send('POST', [['origin', 'https://app.example.com']]).resp.size, 0);
  assert.equal(counter(d.stats, P + 'origin_valid'), 0);
  const s = setup({ ...POLICY, filter_enabled: off, shadow_enabled: on });
  const pre = s.send('OPTIONS', [['origin', 'https://app.example.com'], ['access-control-request-method', 'GET']]);
  assert.equal(pre.status, FilterStatus.Continue);
  assert.equal(pre.resp.size, 0);
  assert.equal(counter(s.stats, P + 'origin_valid'), 1);
});

test('config issues name their paths', () => {
  const type = createCorsFilterType();
  assert.deepEqual(paths(compile(type, { allow_methods: 'GET' }).issues), ['http_filters[0].typed_config.allow_methods']);
  const pr = perRoute(type, { allow_origin_regex: ['.*'], allow_origin_string_match: [{ safe_regex: { regex: '(?=x)' } }], max_age: 5 });
  assert.deepEqual(paths(pr.issues).sort(), [
    'typed_per_filter_config.f.allow_origin_regex',
    'typed_per_filter_config.f.allow_origin_string_match[0].safe_regex.regex',
    'typed_per_filter_config.f.max_age',
  ]);
});
