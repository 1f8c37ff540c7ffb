import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { curl } from '../helpers/curl';
import { address, bootstrap, fileAccessLog, HCM_TYPE, ROUTER, startProxy, staticCluster, tempDir, waitFor, type RunningProxy } from '../helpers/proxy';
import { closedPort } from '../helpers/upstream';
import { answer, keyedScript, LOG, logFor, send, startScriptedUpstream, waitQuiescent, type ScriptedUpstream } from '../helpers/scripted';
import { createHash } from 'node:crypto';

/** Retries (route retry_policy, x-envoy-* request headers) against real node:http upstreams. */

// By name: the typed_config form (PreviousHostsPredicate) is rejected because its .proto is not
// loaded (src/xds/protos.ts PROTO_FILES lacks envoy/extensions/retry/host/previous_hosts).
const PREVIOUS_HOSTS = [{ name: 'envoy.retry_host_predicates.previous_hosts' }];

function retryRoute(prefix: string, cluster: string, retry: object | undefined, extra: object = {}): object {
  return { match: { prefix }, route: { cluster, ...(retry ? { retry_policy: retry } : {}), ...extra } };
}

describe('retries', () => {
  let up: ScriptedUpstream;
  let bad: ScriptedUpstream;
  let px: RunningProxy;
  let url: string;
  let smallUrl: string;
  const tmp = tempDir('weft-retry-');
  const log = tmp.file('access.log');
  const CLUSTERS = ['r5xx', 'rhosts', 'rgw', 'rreset', 'rcf', 'r4xx', 'rcodes', 'rheaders', 'rgrpc', 'rexh', 'rcount', 'rhdr', 'rpost', 'rbig', 'rovf', 'rpertry', 'rbackoff', 'rgone'];

  before(async () => {
    up = await startScriptedUpstream('good', keyedScript('good'));
    bad = await startScriptedUpstream('bad', (req, res) => answer(res, 503, `bad ${req.n}`, { 'x-upstream': 'bad' }));
    const dead = await closedPort();
    const routes = [
      retryRoute('/5xx', 'r5xx', { retry_on: '5xx', num_retries: 3 }),
      retryRoute('/hosts', 'rhosts', { retry_on: '5xx', num_retries: 2, retry_host_predicate: PREVIOUS_HOSTS, host_selection_retry_max_attempts: 5 }),
      retryRoute('/gw', 'rgw', { retry_on: 'gateway-error', num_retries: 2 }),
      retryRoute('/reset', 'rreset', { retry_on: 'reset', num_retries: 2 }),
      retryRoute('/cf', 'rcf', { retry_on: 'connect-failure', num_retries: 2, retry_host_predicate: PREVIOUS_HOSTS, host_selection_retry_max_attempts: 5 }),
      retryRoute('/4xx', 'r4xx', { retry_on: 'retriable-4xx', num_retries: 2 }),
      retryRoute('/codes', 'rcodes', { retry_on: 'retriable-status-codes', retriable_status_codes: [418], num_retries: 2 }),
      retryRoute('/headers', 'rheaders', {
        retry_on: 'retriable-headers',
        num_retries: 2,
        retriable_headers: [{ name: 'x-retry-me', string_match: { exact: 'yes' } }],
      }),
      retryRoute('/grpc', 'rgrpc', { retry_on: 'unavailable,resource-exhausted', num_retries: 2 }),
      retryRoute('/exhaust', 'rexh', { retry_on: '5xx', num_retries: 2 }),
      retryRoute('/count', 'rcount', { retry_on: '5xx', num_retries: 3 }),
      retryRoute('/hdr', 'rhdr', undefined),
      retryRoute('/post', 'rpost', { retry_on: '5xx,reset', num_retries: 2 }),
      retryRoute('/big', 'rbig', { retry_on: '5xx', num_retries: 2 }),
      retryRoute('/overflow', 'rovf', { retry_on: '5xx', num_retries: 2 }),
      retryRoute('/pertry', 'rpertry', { retry_on: '5xx', num_retries: 2, per_try_timeout: '0.4s' }),
      retryRoute('/gone', 'rgone', { retry_on: '5xx', num_retries: 1, retry_back_off: { base_interval: '1s', max_interval: '1s' } }),
      retryRoute('/backoff', 'rbackoff', { retry_on: '5xx', num_retries: 3, retry_back_off: { base_interval: '0.03s', max_interval: '0.1s' } }),
    ];
    const vhost = { name: 'all', domains: ['*'], routes, include_request_attempt_count: true, include_attempt_count_in_response: true };
    const hcm = (name: string): object => ({
      name: 'envoy.filters.network.http_connection_manager',
      typed_config: {
        '@type': HCM_TYPE,
        stat_prefix: name,
        route_config: { name: 'r', virtual_hosts: [vhost] },
        http_filters: [ROUTER],
        access_log: [fileAccessLog(log, LOG)],
      },
    });
    const clusters = CLUSTERS.map((c) => {
      if (c === 'rhosts') return staticCluster(c, [bad.port, up.port]);
      if (c === 'rcf') return staticCluster(c, [dead, up.port]);
      if (c === 'rgone') return staticCluster(c, [up.port], { circuit_breakers: { thresholds: [{ max_retries: 1 }] } });
      if (c === 'rovf') return staticCluster(c, [up.port], { circuit_breakers: { thresholds: [{ max_retries: 0 }] } });
      return staticCluster(c, [up.port]);
    });
    px = await startProxy(
      bootstrap(
        [
          { name: 'ingress', address: address(0), filter_chains: [{ filters: [hcm('ingress')] }] },
          // A small per-connection buffer: request bodies beyond it cannot be kept for a retry.
          { name: 'small', address: address(0), per_connection_buffer_limit_bytes: 4096, filter_chains: [{ filters: [hcm('small')] }] },
        ],
        clusters,
      ),
    );
    url = `http://127.0.0.1:${px.ports.ingress}`;
    smallUrl = `http://127.0.0.1:${px.ports.small}`;
  });
  after(async () => {
    await px?.stop();
    await up?.stop();
    await bad?.stop();
    tmp.remove();
  });

  test('5xx: two 503s then success on the third attempt; counters and attempt count', async () => {
    const r = await send(`${url}/5xx/a`, { headers: { 'x-fail-first': '2' } });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['x-attempt'], '3');
    assert.equal(r.headers['x-envoy-attempt-count'], '3');
    assert.equal(up.count('/5xx/a'), 3);
    const f = await logFor(log, 'GET', '/5xx/a');
    assert.equal(f.code, '200');
    assert.equal(f.flags, '-');
    assert.equal(f.attempts, '3');
    const s = await waitQuiescent(px, 'ingress', ['r5xx']);
    assert.equal(s['cluster.r5xx.upstream_rq_retry'], 2);
    assert.equal(s['cluster.r5xx.upstream_rq_retry_success'], 1);
    assert.equal(s['cluster.r5xx.upstream_rq_503'], 2);
    assert.equal(s['cluster.r5xx.upstream_rq_200'], 1);
    assert.equal(s['cluster.r5xx.upstream_rq_total'], 3);
  });

  test('5xx with previous_hosts: the retry goes to the other host, every request succeeds', async () => {
    for (let i = 0; i < 4; i++) {
      const r = await send(`${url}/hosts/${i}`);
      assert.equal(r.status, 200, r.body);
      assert.equal(JSON.parse(r.body).upstream, 'good');
    }
    assert.ok(bad.count('/hosts/') >= 1, 'the failing host was tried');
    assert.equal(up.count('/hosts/'), 4);
    // Never the same host twice in one request: at most one failure per request.
    assert.ok(bad.count('/hosts/') <= 4);
    await waitQuiescent(px, 'ingress', ['rhosts']);
  });

  test('gateway-error: 502 is retried, 500 is not', async () => {
    const r = await send(`${url}/gw/502`, { headers: { 'x-fail-first': '1', 'x-fail-status': '502' } });
    assert.equal(r.status, 200);
    assert.equal(up.count('/gw/502'), 2);
    const r2 = await send(`${url}/gw/500`, { headers: { 'x-fail-first': '1', 'x-fail-status': '500' } });
    assert.equal(r2.status, 500);
    assert.equal(up.count('/gw/500'), 1);
    assert.equal((await logFor(log, 'GET', '/gw/500')).flags, '-');
  });

  test('reset: the upstream destroys the socket before responding, the retry succeeds', async () => {
    const r = await send(`${url}/reset/x`, { headers: { 'x-fail-first': '1', 'x-fail-mode': 'reset' } });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['x-envoy-attempt-count'], '2');
    assert.equal(up.count('/reset/x'), 2);
    const s = await waitQuiescent(px, 'ingress', ['rreset']);
    assert.equal(s['cluster.rreset.upstream_rq_retry'], 1);
    assert.ok(s['cluster.rreset.upstream_rq_rx_reset'] >= 1);
  });

  test('connect-failure with previous_hosts: one dead endpoint, one live: always answered by the live one', async () => {
    for (let i = 0; i < 4; i++) {
      const r = await send(`${url}/cf/${i}`);
      assert.equal(r.status, 200, r.body);
    }
    assert.equal(up.count('/cf/'), 4);
    const s = await waitQuiescent(px, 'ingress', ['rcf']);
    assert.ok(s['cluster.rcf.upstream_cx_connect_fail'] >= 1, 'the dead endpoint was tried');
    assert.equal(s['cluster.rcf.upstream_rq_retry'], s['cluster.rcf.upstream_cx_connect_fail']);
  });

  test('retriable-4xx: 409 is retried, 404 is not', async () => {
    const r = await send(`${url}/4xx/409`, { headers: { 'x-fail-first': '1', 'x-fail-status': '409' } });
    assert.equal(r.status, 200);
    assert.equal(up.count('/4xx/409'), 2);
    const r2 = await send(`${url}/4xx/404`, { headers: { 'x-fail-first': '1', 'x-fail-status': '404' } });
    assert.equal(r2.status, 404);
    assert.equal(up.count('/4xx/404'), 1);
  });

  test('retriable-status-codes: 418 is retried; 503 (not listed) is not', async () => {
    const r = await send(`${url}/codes/418`, { headers: { 'x-fail-first': '2', 'x-fail-status': '418' } });
    assert.equal(r.status, 200);
    assert.equal(up.count('/codes/418'), 3);
    const r2 = await send(`${url}/codes/503`, { headers: { 'x-fail-first': '1', 'x-fail-status': '503' } });
    assert.equal(r2.status, 503);
    assert.equal(up.count('/codes/503'), 1);
  });

  test('retriable-headers: a 200 carrying x-retry-me: yes is retried', async () => {
    const r = await send(`${url}/headers/a`, { headers: { 'x-fail-first': '1', 'x-fail-mode': 'header', 'x-fail-header': 'x-retry-me=yes' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-retry-me'], undefined);
    assert.equal(r.headers['x-attempt'], '2');
    const r2 = await send(`${url}/headers/b`, { headers: { 'x-fail-first': '1', 'x-fail-mode': 'header', 'x-fail-header': 'x-retry-me=no' } });
    assert.equal(r2.headers['x-retry-me'], 'no');
    assert.equal(up.count('/headers/b'), 1);
  });

  test('gRPC retry_on: grpc-status 14 (unavailable) is retried, 13 (internal, not listed) is not', async () => {
    const r = await send(`${url}/grpc/14`, { headers: { 'x-fail-first': '1', 'x-fail-mode': 'grpc', 'x-fail-grpc': '14' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['grpc-status'], undefined);
    assert.equal(up.count('/grpc/14'), 2);
    const r2 = await send(`${url}/grpc/13`, { headers: { 'x-fail-first': '1', 'x-fail-mode': 'grpc', 'x-fail-grpc': '13' } });
    assert.equal(r2.headers['grpc-status'], '13');
    assert.equal(up.count('/grpc/13'), 1);
  });

  test('num_retries exhausted: the last 503 goes out with URX and upstream_rq_retry_limit_exceeded', async () => {
    const r = await send(`${url}/exhaust/a`, { headers: { 'x-fail-first': '100' } });
    assert.equal(r.status, 503);
    assert.equal(r.body, 'failing good 3');
    assert.equal(r.headers['x-envoy-attempt-count'], '3');
    assert.equal(up.count('/exhaust/a'), 3);
    const f = await logFor(log, 'GET', '/exhaust/a');
    assert.equal(f.flags, 'URX');
    assert.equal(f.details, 'via_upstream');
    const s = await waitQuiescent(px, 'ingress', ['rexh']);
    assert.equal(s['cluster.rexh.upstream_rq_retry_limit_exceeded'], 1);
    assert.equal(s['cluster.rexh.upstream_rq_retry'], 2);
    assert.equal(s['cluster.rexh.upstream_rq_retry_success'] ?? 0, 0);
  });

  test('num_retries exhausted on resets: 503 UC+URX', async () => {
    const r = await send(`${url}/exhaust/reset`, { headers: { 'x-fail-first': '100', 'x-fail-mode': 'reset', 'x-envoy-retry-on': 'reset' } });
    assert.equal(r.status, 503);
    assert.match(r.body, /reset reason: connection termination/);
    assert.equal(r.headers['x-envoy-attempt-count'], '3', 'the router\'s local reply carries the attempt count too');
    assert.equal(up.count('/exhaust/reset'), 3);
    const f = await logFor(log, 'GET', '/exhaust/reset');
    assert.deepEqual(f.flags.split(',').sort(), ['UC', 'URX']);
  });

  test('include_request_attempt_count: each attempt carries its number upstream', async () => {
    const r = await send(`${url}/count/a`, { headers: { 'x-fail-first': '2' } });
    assert.equal(r.status, 200);
    const seen = up.requests.filter((q) => q.url === '/count/a').map((q) => q.headers['x-envoy-attempt-count']);
    assert.deepEqual(seen, ['1', '2', '3']);
  });

  test('x-envoy-retry-on / x-envoy-max-retries request headers on a route without a retry policy', async () => {
    const r = await send(`${url}/hdr/a`, { headers: { 'x-fail-first': '2', 'x-envoy-retry-on': '5xx', 'x-envoy-max-retries': '2' } });
    assert.equal(r.status, 200);
    assert.equal(up.count('/hdr/a'), 3);
    // x-envoy-max-retries 1 caps it: two attempts, the second 503 goes out.
    const r2 = await send(`${url}/hdr/b`, { headers: { 'x-fail-first': '5', 'x-envoy-retry-on': '5xx', 'x-envoy-max-retries': '1' } });
    assert.equal(r2.status, 503);
    assert.equal(up.count('/hdr/b'), 2);
    // No header: no retry.
    const r3 = await send(`${url}/hdr/c`, { headers: { 'x-fail-first': '1' } });
    assert.equal(r3.status, 503);
    assert.equal(up.count('/hdr/c'), 1);
    // x-envoy-max-retries 0 on a route with a policy: no retry.
    const r4 = await send(`${url}/5xx/max0`, { headers: { 'x-fail-first': '1', 'x-envoy-max-retries': '0' } });
    assert.equal(r4.status, 503);
    assert.equal(up.count('/5xx/max0'), 1);
  });

  test('POST body (content-length) replayed on retry: the upstream sees the identical body twice', async () => {
    const body = 'payload-' + 'x'.repeat(20_000) + '-end';
    const r = await send(`${url}/post/cl`, { method: 'POST', body, headers: { 'x-fail-first': '1', 'content-type': 'text/plain' } });
    assert.equal(r.status, 200);
    const seen = up.requests.filter((q) => q.url === '/post/cl');
    assert.equal(seen.length, 2);
    for (const q of seen) {
      assert.equal(q.body.toString(), body);
      assert.equal(q.headers['content-length'], String(body.length));
    }
  });

  test('chunked POST via curl replayed after a reset', async () => {
    const f = tmp.file('chunked');
    const body = Buffer.alloc(50_000, 'q');
    fs.writeFileSync(f, body);
    const r = await curl(`${url}/post/chunked`, ['-H', 'Transfer-Encoding: chunked', '-H', 'x-fail-first: 1', '-H', 'x-fail-mode: reset', '--data-binary', `@${f}`]);
    assert.equal(r.status, 200, r.stderr);
    const seen = up.requests.filter((q) => q.url === '/post/chunked');
    assert.equal(seen.length, 2);
    const h = createHash('sha256').update(body).digest('hex');
    for (const q of seen) assert.equal(createHash('sha256').update(q.body).digest('hex'), h);
  });

  test('a body larger than the buffer limit is not retried: retry_or_shadow_abandoned', async () => {
    const body = Buffer.alloc(64 * 1024, 'b');
    const r = await send(`${smallUrl}/big/a`, { method: 'POST', body, headers: { 'x-fail-first': '1' } });
    assert.equal(r.status, 503);
    const seen = up.requests.filter((q) => q.url === '/big/a');
    assert.equal(seen.length, 1);
    assert.equal(seen[0].body.length, body.length, 'the one attempt got the whole body');
    const s = await waitQuiescent(px, 'small', ['rbig']);
    assert.equal(s['cluster.rbig.retry_or_shadow_abandoned'], 1);
    assert.equal(s['cluster.rbig.upstream_rq_retry'] ?? 0, 0);
    // A small body on the same listener is still retried.
    const r2 = await send(`${smallUrl}/big/small`, { method: 'POST', body: 'tiny', headers: { 'x-fail-first': '1' } });
    assert.equal(r2.status, 200);
    assert.equal(up.count('/big/small'), 2);
  });

  test('retry overflow (circuit_breakers max_retries 0): the 503 goes out, upstream_rq_retry_overflow', async () => {
    const r = await send(`${url}/overflow/a`, { headers: { 'x-fail-first': '1' }, timeoutMs: 5000 });
    assert.equal(r.status, 503);
    assert.equal(r.body, 'failing good 1');
    assert.equal(up.count('/overflow/a'), 1);
    const f = await logFor(log, 'GET', '/overflow/a');
    assert.equal(f.flags, 'UO');
    const s = await waitQuiescent(px, 'ingress', ['rovf']);
    assert.equal(s['cluster.rovf.upstream_rq_retry_overflow'], 1);
    assert.equal(s['cluster.rovf.upstream_rq_retry'] ?? 0, 0);
    // Connect-failure style retries overflow the same way.
    const r2 = await send(`${url}/overflow/b`, { headers: { 'x-fail-first': '1', 'x-fail-mode': 'reset', 'x-envoy-retry-on': 'reset' }, timeoutMs: 5000 });
    assert.equal(r2.status, 503);
    const s2 = await waitQuiescent(px, 'ingress', ['rovf']);
    assert.equal(s2['cluster.rovf.upstream_rq_retry_overflow'], 2);
  });

  test('per_try_timeout: a slow first attempt is abandoned, the second answers', async () => {
    const r = await send(`${url}/pertry/a`, { headers: { 'x-fail-first': '1', 'x-fail-mode': 'slow', 'x-fail-delay': '4000' } });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.headers['x-attempt'], '2');
    const s = await waitQuiescent(px, 'ingress', ['rpertry']);
    assert.equal(s['cluster.rpertry.upstream_rq_per_try_timeout'], 1);
    assert.equal(s['cluster.rpertry.upstream_rq_retry'], 1);
    const first = up.requests.find((q) => q.url === '/pertry/a')!;
    await new Promise((res) => setTimeout(res, 50));
    assert.ok(first.aborted, 'the slow attempt was cancelled upstream');
  });

  test('retry_back_off with base_interval: retries still happen and succeed', async () => {
    const r = await send(`${url}/backoff/a`, { headers: { 'x-fail-first': '3' } });
    assert.equal(r.status, 200);
    assert.equal(up.count('/backoff/a'), 4);
    const s = await waitQuiescent(px, 'ingress', ['rbackoff']);
    assert.equal(s['cluster.rbackoff.upstream_rq_retry'], 3);
    assert.equal(s['cluster.rbackoff.upstream_rq_retry_backoff_exponential'], 3);
  });

  test('the client goes away during the retry back-off: nothing is left in flight, DC', async () => {
    const sock = net.connect({ host: '127.0.0.1', port: px.ports.ingress });
    sock.on('error', () => undefined);
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write('GET /gone/a HTTP/1.1\r\nHost: x\r\nx-fail-first: 10\r\n\r\n');
    await waitFor(() => up.count('/gone/a') >= 1, 5000, 'first attempt');
    sock.destroy();
    const f = await logFor(log, 'GET', '/gone/a');
    assert.ok(f.flags.split(',').includes('DC'), f.flags);
    await waitQuiescent(px, 'ingress', ['rgone']);
    // The retry budget (max_retries circuit breaker) is given back: retries still work.
    const r = await send(`${url}/gone/b`, { headers: { 'x-fail-first': '1' } });
    assert.equal(r.status, 200);
  });

  test('nothing left in flight', async () => {
    await waitQuiescent(px, 'ingress', CLUSTERS);
    await waitQuiescent(px, 'small', []);
  });
});

