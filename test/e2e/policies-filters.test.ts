import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { curl } from '../helpers/curl';
import { bootstrap, fileAccessLog, httpListener, startProxy, staticCluster, tempDir, type RunningProxy } from '../helpers/proxy';
import { echo, LOG, logFor, send, startScriptedUpstream, waitQuiescent, type ScriptedUpstream } from '../helpers/scripted';

/** HTTP filters before the router, end to end: fault, local_ratelimit, cors, header_mutation, buffer. */

const T = 'type.googleapis.com/';
const FAULT = `${T}envoy.extensions.filters.http.fault.v3.HTTPFault`;
const RL = `${T}envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit`;
const CORS = `${T}envoy.extensions.filters.http.cors.v3.Cors`;
const CORS_POLICY = `${T}envoy.extensions.filters.http.cors.v3.CorsPolicy`;
const HM = `${T}envoy.extensions.filters.http.header_mutation.v3.HeaderMutation`;
const HM_ROUTE = `${T}envoy.extensions.filters.http.header_mutation.v3.HeaderMutationPerRoute`;
const BUFFER = `${T}envoy.extensions.filters.http.buffer.v3.Buffer`;
const BUFFER_ROUTE = `${T}envoy.extensions.filters.http.buffer.v3.BufferPerRoute`;
const FILTER_CONFIG = `${T}envoy.config.route.v3.FilterConfig`;
const ALL = { numerator: 100, denominator: 'HUNDRED' };
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': `${T}envoy.extensions.filters.http.router.v3.Router` } };

function route(prefix: string, perFilter?: object, extra: object = {}): object {
  return { match: { prefix }, route: { cluster: 'backend', ...extra }, ...(perFilter ? { typed_per_filter_config: perFilter } : {}) };
}

describe('http filters', () => {
  let up: ScriptedUpstream;
  let px: RunningProxy;
  let url: string;
  const tmp = tempDir('weft-filters-');
  const log = tmp.file('access.log');

  before(async () => {
    up = await startScriptedUpstream('f', (req, res, raw) => {
      const extra: Record<string, string> = {};
      const add = req.headers['x-resp-add'];
      if (typeof add === 'string') extra[add.split('=')[0]] = add.split('=')[1];
      echo('f', 200, extra)(req, res, raw);
    });
    const routes = [
      route('/abort', { 'envoy.filters.http.fault': { '@type': FAULT, abort: { http_status: 503, percentage: ALL } } }),
      route('/delay-nobuf', {
        'envoy.filters.http.fault': { '@type': FAULT, delay: { fixed_delay: '0.2s', percentage: ALL } },
        'envoy.filters.http.buffer': { '@type': BUFFER_ROUTE, disabled: true },
      }),
      route('/delay', { 'envoy.filters.http.fault': { '@type': FAULT, delay: { fixed_delay: '0.2s', percentage: ALL } } }),
      route('/nofault', { 'envoy.filters.http.fault': { '@type': FILTER_CONFIG, disabled: true } }),
      route('/rl', {
        'envoy.filters.http.local_ratelimit': {
          '@type': RL,
          stat_prefix: 'rl_route',
          token_bucket: { max_tokens: 2, tokens_per_fill: 2, fill_interval: '60s' },
          filter_enabled: { runtime_key: 'rl_enabled', default_value: ALL },
          filter_enforced: { runtime_key: 'rl_enforced', default_value: ALL },
          enable_x_ratelimit_headers: 'DRAFT_VERSION_03',
          response_headers_to_add: [{ header: { key: 'x-rl-route', value: 'yes' } }],
        },
      }),
      route('/cors', {
        'envoy.filters.http.cors': {
          '@type': CORS_POLICY,
          allow_origin_string_match: [{ exact: 'https://app.example' }],
          allow_methods: 'GET, POST',
          allow_headers: 'x-custom',
          expose_headers: 'x-upstream',
          max_age: '600',
        },
      }),
      route('/hm-route', {
        'envoy.filters.http.header_mutation': {
          '@type': HM_ROUTE,
          mutations: { request_mutations: [{ append: { header: { key: 'x-hm-route', value: 'r' } } }] },
        },
      }),
      route('/buf-small', { 'envoy.filters.http.buffer': { '@type': BUFFER_ROUTE, buffer: { max_request_bytes: 1000 } } }),
      route('/buf-off', { 'envoy.filters.http.buffer': { '@type': BUFFER_ROUTE, disabled: true } }),
      route('/'),
    ];
    const filters = [
      { name: 'envoy.filters.http.cors', typed_config: { '@type': CORS } },
      {
        name: 'envoy.filters.http.fault',
        typed_config: { '@type': FAULT, abort: { header_abort: {}, percentage: ALL }, headers: [{ name: 'x-fault-me', present_match: true }] },
      },
      { name: 'envoy.filters.http.local_ratelimit', typed_config: { '@type': RL, stat_prefix: 'rl_default' } },
      {
        name: 'envoy.filters.http.header_mutation',
        typed_config: {
          '@type': HM,
          mutations: {
            request_mutations: [{ append: { header: { key: 'x-hm-req', value: 'added' } } }, { remove: 'x-remove-me' }],
            response_mutations: [{ append: { header: { key: 'x-hm-resp', value: 'added' } } }, { remove: 'x-drop-resp' }],
          },
        },
      },
      { name: 'envoy.filters.http.buffer', typed_config: { '@type': BUFFER, max_request_bytes: 1_000_000 } },
      ROUTER,
    ];
    px = await startProxy(
      bootstrap(
        [httpListener('filters', { name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes }] }, { http_filters: filters, access_log: [fileAccessLog(log, LOG)] })],
        [staticCluster('backend', [up.port])],
      ),
    );
    url = `http://127.0.0.1:${px.port}`;
  });
  after(async () => {
    await px?.stop();
    await up?.stop();
    tmp.remove();
  });

  test('fault abort 100% (per-route HTTPFault): 503 FI, never reaches the upstream', async () => {
    const r = await send(`${url}/abort/x`);
    assert.equal(r.status, 503);
    assert.equal(r.body, 'fault filter abort');
    assert.equal(up.count('/abort'), 0);
    const f = await logFor(log, 'GET', '/abort/x');
    assert.equal(f.flags, 'FI');
    assert.equal(f.details, 'fault_filter_abort');
    assert.equal(await px.stat('http.filters.fault.aborts_injected'), 1);
  });

  test('fault delay 100%: the request completes, DI in the log', async () => {
    const r = await send(`${url}/delay/x`, { method: 'POST', body: 'delayed body' });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).body, 'delayed body', 'the body waited for the delay and arrived whole');
    const f = await logFor(log, 'POST', '/delay/x');
    assert.equal(f.flags, 'DI');
    assert.ok((await px.stat('http.filters.fault.delays_injected')) >= 1);
    assert.equal(await px.stat('http.filters.fault.active_faults'), 0);
  });

  test('fault delay without the buffer filter: content-length and chunked bodies held by the delay arrive whole', async () => {
    const r = await send(`${url}/delay-nobuf/cl`, { method: 'POST', body: 'held by the fault filter' });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).body, 'held by the fault filter');
    const f = tmp.file('delay-chunked');
    fs.writeFileSync(f, Buffer.alloc(100_000, 'd'));
    const c = await curl(`${url}/delay-nobuf/chunked`, ['-H', 'Transfer-Encoding: chunked', '--data-binary', `@${f}`]);
    assert.equal(c.status, 200, c.stderr);
    const q = up.requests.find((x) => x.url === '/delay-nobuf/chunked')!;
    assert.equal(q.body.length, 100_000);
    assert.equal(q.headers['transfer-encoding'], 'chunked', JSON.stringify(q.headers));
    assert.equal((await logFor(log, 'POST', '/delay-nobuf/chunked')).flags, 'DI');
  });

  test('header-controlled fault: x-envoy-fault-abort-request applies only when the headers match', async () => {
    const r = await send(`${url}/hdr/1`, { headers: { 'x-fault-me': '1', 'x-envoy-fault-abort-request': '418' } });
    assert.equal(r.status, 418);
    assert.equal((await logFor(log, 'GET', '/hdr/1')).flags, 'FI');
    const r2 = await send(`${url}/hdr/2`, { headers: { 'x-envoy-fault-abort-request': '418' } });
    assert.equal(r2.status, 200, 'no x-fault-me: the fault does not apply');
    const r3 = await send(`${url}/hdr/3`, { headers: { 'x-fault-me': '1' } });
    assert.equal(r3.status, 200, 'no abort header: nothing to inject');
  });

  test('per-route FilterConfig disabled turns the fault filter off for that route', async () => {
    const r = await send(`${url}/nofault/x`, { headers: { 'x-fault-me': '1', 'x-envoy-fault-abort-request': '418' } });
    assert.equal(r.status, 200, 'the filter is disabled on /nofault');
    assert.equal(up.count('/nofault/x'), 1);
  });

  test('local_ratelimit (per route, 2 tokens per minute): the third request gets 429 RL with x-ratelimit headers', async () => {
    const a = await send(`${url}/rl/1`);
    const b = await send(`${url}/rl/2`);
    const c = await send(`${url}/rl/3`);
    assert.deepEqual([a.status, b.status, c.status], [200, 200, 429]);
    assert.equal(c.body, 'local_rate_limited');
    assert.equal(c.headers['x-envoy-ratelimited'], 'true');
    assert.equal(c.headers['x-rl-route'], 'yes');
    assert.equal(c.headers['x-ratelimit-limit'], '2');
    assert.equal(c.headers['x-ratelimit-remaining'], '0');
    assert.match(c.headers['x-ratelimit-reset'] ?? '', /^\d+$/);
    assert.equal(a.headers['x-ratelimit-limit'], '2');
    assert.equal(a.headers['x-ratelimit-remaining'], '1');
    assert.equal(up.count('/rl/'), 2);
    const f = await logFor(log, 'GET', '/rl/3');
    assert.equal(f.flags, 'RL');
    assert.equal(f.details, 'local_rate_limited');
    const s = await px.stats();
    assert.equal(s['rl_route.http_local_rate_limit.rate_limited'], 1);
    assert.equal(s['rl_route.http_local_rate_limit.enforced'], 1);
    assert.equal(s['rl_route.http_local_rate_limit.ok'], 2);
    // Other routes are not limited (the filter-level config has no bucket).
    for (let i = 0; i < 4; i++) assert.equal((await send(`${url}/free/${i}`)).status, 200);
  });

  test('CORS preflight answered locally; the actual request gets access-control-allow-origin', async () => {
    const pre = await curl(`${url}/cors/x`, [
      '-X', 'OPTIONS',
      '-H', 'Origin: https://app.example',
      '-H', 'Access-Control-Request-Method: POST',
      '-H', 'Access-Control-Request-Headers: x-custom',
    ]);
    assert.equal(pre.status, 200, pre.stderr);
    assert.equal(pre.headers['access-control-allow-origin'], 'https://app.example');
    assert.equal(pre.headers['access-control-allow-methods'], 'GET, POST');
    assert.equal(pre.headers['access-control-allow-headers'], 'x-custom');
    assert.equal(pre.headers['access-control-max-age'], '600');
    assert.equal(up.count('/cors'), 0, 'the preflight never reached the upstream');
    assert.equal((await logFor(log, 'OPTIONS', '/cors/x')).details, 'cors_response');
    const act = await send(`${url}/cors/y`, { headers: { origin: 'https://app.example' } });
    assert.equal(act.status, 200);
    assert.equal(act.headers['access-control-allow-origin'], 'https://app.example');
    assert.equal(act.headers['access-control-expose-headers'], 'x-upstream');
    const bad = await send(`${url}/cors/z`, { headers: { origin: 'https://evil.example' } });
    assert.equal(bad.status, 200);
    assert.equal(bad.headers['access-control-allow-origin'], undefined);
    const s = await px.stats();
    assert.ok(s['http.filters.cors.origin_valid'] >= 2);
    assert.equal(s['http.filters.cors.origin_invalid'], 1);
  });

  test('header_mutation: request and response mutations (filter level and per route)', async () => {
    const r = await send(`${url}/hm/x`, { headers: { 'x-remove-me': 'gone', 'x-resp-add': 'x-drop-resp=1' } });
    assert.equal(r.status, 200);
    const seen = JSON.parse(r.body).headers;
    assert.equal(seen['x-hm-req'], 'added');
    assert.equal(seen['x-remove-me'], undefined);
    assert.equal(seen['x-hm-route'], undefined);
    assert.equal(r.headers['x-hm-resp'], 'added');
    assert.equal(r.headers['x-drop-resp'], undefined);
    const r2 = await send(`${url}/hm-route/x`);
    const seen2 = JSON.parse(r2.body).headers;
    assert.equal(seen2['x-hm-req'], 'added');
    assert.equal(seen2['x-hm-route'], 'r');
    // Local replies go through the encoder filters too.
    const r3 = await send(`${url}/abort/hm`);
    assert.equal(r3.status, 503);
    assert.equal(r3.headers['x-hm-resp'], 'added');
  });

  test('buffer: a chunked upload arrives upstream with content-length', async () => {
    const f = tmp.file('upload');
    const body = Buffer.alloc(300_000, 'u');
    fs.writeFileSync(f, body);
    const r = await curl(`${url}/buf/x`, ['-H', 'Transfer-Encoding: chunked', '--data-binary', `@${f}`]);
    assert.equal(r.status, 200, r.stderr);
    const q = up.requests.find((x) => x.url === '/buf/x')!;
    assert.equal(q.headers['content-length'], String(body.length));
    assert.equal(q.headers['transfer-encoding'], undefined);
    assert.equal(q.body.length, body.length);
    // Disabled per route: the chunked framing goes through as it is.
    const r2 = await curl(`${url}/buf-off/x`, ['-H', 'Transfer-Encoding: chunked', '--data-binary', `@${f}`]);
    assert.equal(r2.status, 200, r2.stderr);
    const q2 = up.requests.find((x) => x.url === '/buf-off/x')!;
    assert.equal(q2.headers['transfer-encoding'], 'chunked');
    assert.equal(q2.body.length, body.length);
  });

  test('buffer: a body over max_request_bytes gets 413 and never reaches the upstream', async () => {
    const r = await send(`${url}/buf-small/x`, { method: 'POST', body: Buffer.alloc(5000, 'z') });
    assert.equal(r.status, 413);
    assert.equal(r.body, 'Payload Too Large');
    assert.equal(up.count('/buf-small'), 0);
    assert.equal((await logFor(log, 'POST', '/buf-small/x')).details, 'request_payload_too_large');
    const ok = await send(`${url}/buf-small/y`, { method: 'POST', body: 'small' });
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.body).body, 'small');
  });

  test('nothing left in flight', async () => {
    await waitQuiescent(px, 'filters', ['backend']);
  });
});
