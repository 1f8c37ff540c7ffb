import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { bootstrap, fileAccessLog, httpListener, startProxy, staticCluster, tempDir, waitFor, within, type RunningProxy } from '../helpers/proxy';
import { getRequest, hasResponses, parseResponses, rawExchange } from '../helpers/raw';
import { keyedScript, LOG, logFor, send, startScriptedUpstream, waitQuiescent, type ScriptedUpstream } from '../helpers/scripted';

/**
 * Timeouts end to end: the route timeout, per-try timeouts, the connection manager's
 * stream_idle_timeout, max_stream_duration and max_connection_duration. Assertions are on
 * statuses, flags and counters only; the waits are generous.
 */

describe('timeouts', () => {
  let up: ScriptedUpstream;
  let px: RunningProxy;
  const tmp = tempDir('weft-timeouts-');
  const log = tmp.file('access.log');
  const port = (l: string): number => px.ports[l];

  function listener(name: string, routes: object[], hcmExtra: object = {}): object {
    return httpListener(name, { name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes }] }, {
      access_log: [fileAccessLog(log, LOG)],
      ...hcmExtra,
    });
  }

  before(async () => {
    up = await startScriptedUpstream('t', keyedScript('t'));
    px = await startProxy(
      bootstrap(
        [
          listener('route', [
            { match: { prefix: '/rt' }, route: { cluster: 'trt', timeout: '0.3s' }, response_headers_to_add: [{ header: { key: 'x-route-hdr', value: 'rt' } }] },
            {
              match: { prefix: '/pt' },
              route: { cluster: 'tpt', timeout: '10s', retry_policy: { retry_on: '5xx', num_retries: 1, per_try_timeout: '0.25s' } },
            },
          ]),
          listener('idle', [{ match: { prefix: '/' }, route: { cluster: 'tidle', timeout: '0s' } }], { stream_idle_timeout: '0.3s' }),
          listener('dur', [{ match: { prefix: '/' }, route: { cluster: 'tdur', timeout: '0s' } }], {
            common_http_protocol_options: { max_stream_duration: '0.4s' },
          }),
          listener('conn', [{ match: { prefix: '/' }, route: { cluster: 'tconn' } }], {
            common_http_protocol_options: { max_connection_duration: '0.4s' },
          }),
        ],
        ['trt', 'tpt', 'tidle', 'tdur', 'tconn'].map((c) => staticCluster(c, [up.port])),
      ),
    );
  });
  after(async () => {
    await px?.stop();
    await up?.stop();
    tmp.remove();
  });

  test('route timeout: a silent upstream gets 504 UT, the upstream request is cancelled', async () => {
    const r = await send(`http://127.0.0.1:${port('route')}/rt/hang`, { headers: { 'x-fail-first': '1', 'x-fail-mode': 'hang' } });
    assert.equal(r.status, 504);
    assert.equal(r.body, 'upstream request timeout');
    assert.equal(r.headers['x-route-hdr'], 'rt', 'route response headers apply to the router\'s local reply (Envoy: modify_headers_)');
    const f = await logFor(log, 'GET', '/rt/hang');
    assert.equal(f.flags, 'UT');
    assert.equal(f.details, 'upstream_response_timeout');
    const s = await waitQuiescent(px, 'route', ['trt']);
    assert.equal(s['cluster.trt.upstream_rq_timeout'], 1);
    assert.equal(s['http.route.downstream_rq_timeout'] ?? 0, 0, 'downstream_rq_timeout is for the HCM request_timeout only');
    await waitFor(() => up.requests.find((q) => q.url === '/rt/hang')!.aborted, 5000, 'upstream saw the cancel');
    // The upstream is told the expected timeout.
    assert.equal(up.requests.find((q) => q.url === '/rt/hang')!.headers['x-envoy-expected-rq-timeout-ms'], '300');
  });

  test('x-envoy-upstream-rq-timeout-ms overrides the route timeout and is not forwarded', async () => {
    const r = await send(`http://127.0.0.1:${port('route')}/pt/override`, {
      headers: { 'x-fail-first': '1', 'x-fail-mode': 'hang', 'x-envoy-upstream-rq-timeout-ms': '200', 'x-envoy-max-retries': '0' },
    });
    assert.equal(r.status, 504);
    const f = await logFor(log, 'GET', '/pt/override');
    assert.equal(f.flags, 'UT');
    const seen = up.requests.find((q) => q.url === '/pt/override')!;
    assert.equal(seen.headers['x-envoy-expected-rq-timeout-ms'], '200');
    assert.equal(seen.headers['x-envoy-upstream-rq-timeout-ms'], undefined);
    assert.equal(seen.headers['x-envoy-max-retries'], undefined);
  });

  test('route timeout: a fast answer is unaffected, and the connection stays usable after a 504', async () => {
    const r = await rawExchange(
      port('route'),
      getRequest('/rt/slow', 'x-fail-first: 1\r\nx-fail-mode: hang\r\n') + getRequest('/rt/fast'),
      { until: hasResponses(2), timeoutMs: 8000 },
    );
    const rs = parseResponses(r.data);
    assert.deepEqual(
      rs.map((x) => x.status),
      [504, 200],
    );
    assert.notEqual(rs[0].headers['connection'], 'close');
  });

  test('per-try timeout exhausted: every attempt is silent, 504 UT after num_retries + 1 attempts', async () => {
    const r = await send(`http://127.0.0.1:${port('route')}/pt/hang`, { headers: { 'x-fail-first': '10', 'x-fail-mode': 'hang' } });
    assert.equal(r.status, 504);
    assert.equal(r.body, 'upstream request timeout');
    const f = await logFor(log, 'GET', '/pt/hang');
    assert.ok(f.flags.split(',').includes('UT'), f.flags);
    assert.equal(f.details, 'upstream_per_try_timeout');
    assert.equal(f.attempts, '2');
    const s = await waitQuiescent(px, 'route', ['tpt']);
    assert.equal(s['cluster.tpt.upstream_rq_per_try_timeout'], 2);
    assert.equal(up.count('/pt/hang'), 2);
    await waitFor(() => up.requests.filter((q) => q.url === '/pt/hang').every((q) => q.aborted), 5000, 'both attempts cancelled');
  });

  test('stream_idle_timeout while waiting for a silent upstream: 504 SI (the request was complete)', async () => {
    const r = await send(`http://127.0.0.1:${port('idle')}/hang`, { headers: { 'x-fail-first': '1', 'x-fail-mode': 'hang' } });
    assert.equal(r.status, 504, 'Envoy answers 504 once the whole request was received (maybeRequestTimeoutCode)');
    assert.equal(r.body, 'stream timeout');
    const f = await logFor(log, 'GET', '/hang');
    assert.equal(f.flags, 'SI');
    assert.equal(f.details, 'stream_idle_timeout');
    const s = await waitQuiescent(px, 'idle', ['tidle']);
    assert.equal(s['http.idle.downstream_rq_idle_timeout'], 1);
    await waitFor(() => up.requests.find((q) => q.url === '/hang')!.aborted, 5000, 'upstream saw the cancel');
  });

  test('stream_idle_timeout while the client stalls mid-body: 408 SI', async () => {
    const r = await rawExchange(port('idle'), 'POST /stall HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789', {
      until: hasResponses(1),
      timeoutMs: 8000,
    });
    const rs = parseResponses(r.data);
    assert.equal(rs[0]?.status, 408, r.text);
    assert.equal(rs[0].headers['connection'], 'close');
    const f = await logFor(log, 'POST', '/stall');
    assert.equal(f.flags, 'SI');
    await waitQuiescent(px, 'idle', ['tidle']);
  });

  test('max_stream_duration: a silent upstream gets a local reply with DT', async () => {
    const r = await send(`http://127.0.0.1:${port('dur')}/dur-hang`, { headers: { 'x-fail-first': '1', 'x-fail-mode': 'hang' } });
    assert.equal(r.status, 504);
    assert.equal(r.body, 'downstream duration timeout');
    const f = await logFor(log, 'GET', '/dur-hang');
    assert.equal(f.flags, 'DT');
    assert.equal(f.details, 'max_duration_timeout');
    await waitQuiescent(px, 'dur', ['tdur']);
    await waitFor(() => up.requests.find((q) => q.url === '/dur-hang')!.aborted, 5000, 'upstream saw the cancel');
    // Quick requests are unaffected.
    const ok = await send(`http://127.0.0.1:${port('dur')}/dur-fast`);
    assert.equal(ok.status, 200);
  });

  test('max_connection_duration: the connection is drained after the response in flight (connection: close)', async () => {
    // The response takes longer than the connection may live: it completes, then the connection closes.
    const r = await rawExchange(port('conn'), getRequest('/conn-slow', 'x-fail-first: 1\r\nx-fail-mode: slow\r\nx-fail-delay: 800\r\n'), { timeoutMs: 8000 });
    const rs = parseResponses(r.data);
    assert.equal(rs[0]?.status, 200, r.text);
    assert.equal(rs[0].headers['connection'], 'close');
    assert.ok(r.closed, 'the proxy closed the connection');
    // An idle connection is closed when its time is up.
    const sock = net.connect({ host: '127.0.0.1', port: port('conn') });
    sock.on('error', () => undefined);
    const closed = await within(new Promise<boolean>((res) => sock.once('close', () => res(true))), 5000, false);
    sock.destroy();
    assert.ok(closed, 'the idle connection was closed at max_connection_duration');
    const s = await waitQuiescent(px, 'conn', ['tconn']);
    assert.ok(s['http.conn.downstream_cx_max_duration_reached'] >= 2);
  });
});
