import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { curl, run } from '../helpers/curl';
import { H2_CLUSTER_OPTIONS } from '../helpers/grpc';
import {
  bootstrap,
  fileAccessLog,
  httpListener,
  readLines,
  simpleRoutes,
  startProxy,
  staticCluster,
  tempDir,
  waitFor,
  waitForLogLine,
  type RunningProxy,
} from '../helpers/proxy';
import { startEchoUpstream, startUpgradeEcho, type EchoBody, type EchoUpstream, type TcpServer } from '../helpers/upstream';

/** A node:http2 upstream (h2c) that echoes the request and answers with trailers. */
interface H2Upstream {
  port: number;
  sessions: number;
  streams: number;
  stop(): Promise<void>;
}

async function startH2Upstream(opts: { goawayAfter?: number; delayMs?: number } = {}): Promise<H2Upstream> {
  const state = { sessions: 0, streams: 0 };
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    state.sessions++;
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
    let n = 0;
    s.on('stream', (stream) => {
      n++;
      // GOAWAY with this stream as the last one processed: later streams on the session are refused.
      if (opts.goawayAfter !== undefined && n === opts.goawayAfter) s.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id);
    });
  });
  server.on('stream', (stream, headers) => {
    state.streams++;
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => undefined);
    stream.on('end', () => {
      const answer = (): void => {
        if (stream.destroyed) return;
        const body = JSON.stringify({ headers, body: Buffer.concat(chunks).toString() });
        stream.respond({ ':status': 200, 'content-type': 'application/json', 'x-upstream': 'h2' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': String(body.length) }));
        stream.end(body);
      };
      if (opts.delayMs) setTimeout(answer, opts.delayMs);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    get sessions() {
      return state.sessions;
    },
    get streams() {
      return state.streams;
    },
    stop: () =>
      new Promise<void>((r) => {
        for (const s of sessions) s.destroy();
        server.close(() => r());
      }),
  };
}

function h2request(
  port: number,
  headers: http2.OutgoingHttpHeaders,
  body?: Buffer | string,
): Promise<{ status: number; headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request({ ':path': '/', ...headers }, { endStream: body === undefined });
    let h: http2.IncomingHttpHeaders = {};
    let t: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (x) => (h = x));
    req.on('trailers', (x) => (t = x));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', reject);
    req.on('end', () => {
      session.close();
      resolve({ status: Number(h[':status']), headers: h, trailers: t, body: Buffer.concat(chunks) });
    });
    if (body !== undefined) req.end(body);
  });
}

describe('HTTP/2 in the proxy', () => {
  let echo: EchoUpstream;
  let h2up: H2Upstream;
  let goaway: H2Upstream;
  let slowH2: H2Upstream;
  let ws: TcpServer;
  let px: RunningProxy;
  const tmp = tempDir();
  const log = tmp.file('access.log');

  before(async () => {
    echo = await startEchoUpstream();
    h2up = await startH2Upstream();
    goaway = await startH2Upstream({ goawayAfter: 3 });
    slowH2 = await startH2Upstream({ delayMs: 300 });
    ws = await startUpgradeEcho();
    const routes = simpleRoutes([
      { match: { prefix: '/h2up' }, route: { cluster: 'h2up' } },
      { match: { prefix: '/goaway' }, route: { cluster: 'goaway', retry_policy: { retry_on: 'refused-stream', num_retries: 10 } } },
      { match: { prefix: '/limited' }, route: { cluster: 'limited' } },
      { match: { prefix: '/ws' }, route: { cluster: 'ws', upgrade_configs: [{ upgrade_type: 'websocket' }] } },
      { match: { prefix: '/' }, route: { cluster: 'echo' } },
    ]);
    px = await startProxy(
      bootstrap(
        [
          httpListener('auto', routes, {
            access_log: [fileAccessLog(log, '%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %PROTOCOL% %RESPONSE_CODE_DETAILS%\n')],
            upgrade_configs: [{ upgrade_type: 'websocket' }],
            http2_protocol_options: { allow_connect: true, max_concurrent_streams: 100 },
          }),
          httpListener('h1only', routes, { codec_type: 'HTTP1' }),
          httpListener('h2only', routes, { codec_type: 'HTTP2', common_http_protocol_options: { idle_timeout: '1s' } }),
          httpListener('h2idle', routes, {
            codec_type: 'HTTP2',
            stream_idle_timeout: '0.2s',
            access_log: [fileAccessLog(log, '%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %PROTOCOL% %RESPONSE_CODE_DETAILS%\n')],
          }),
        ],
        [
          staticCluster('echo', [echo.port]),
          staticCluster('h2up', [h2up.port], H2_CLUSTER_OPTIONS),
          staticCluster('goaway', [goaway.port], H2_CLUSTER_OPTIONS),
          staticCluster('limited', [slowH2.port], { ...H2_CLUSTER_OPTIONS, circuit_breakers: { thresholds: [{ max_requests: 2 }] } }),
          staticCluster('ws', [ws.port]),
        ],
      ),
    );
  });
  after(async () => {
    await px?.stop();
    await echo?.stop();
    await h2up?.stop();
    await goaway?.stop();
    await slowH2?.stop();
    await ws?.stop();
    tmp.remove();
  });

  test('curl --http2-prior-knowledge to an HTTP/1.1 upstream: pseudo-headers become the request line and Host, cookies are joined', async () => {
    const r = await curl(`http://127.0.0.1:${px.ports.auto}/path?q=1`, ['--http2-prior-knowledge', '-H', 'cookie: a=1', '-H', 'cookie: b=2', '-d', 'hello']);
    assert.equal(r.status, 200);
    const e = JSON.parse(r.body.toString()) as EchoBody;
    assert.equal(e.method, 'POST');
    assert.equal(e.url, '/path?q=1');
    assert.equal(e.httpVersion, '1.1');
    assert.equal(e.headers.host, `127.0.0.1:${px.ports.auto}`);
    assert.equal(e.headers.cookie, 'a=1; b=2');
    assert.equal(e.body, 'hello');
    assert.ok((await px.stat('http.auto.downstream_cx_http2_total')) >= 1);
    const line = await waitForLogLine(log, (l) => l.startsWith('POST /path?q=1'));
    assert.match(line, / 200 - HTTP\/2 via_upstream$/);
  });

  test('the same port (codec_type AUTO) still serves HTTP/1.1', async () => {
    const r = await curl(`http://127.0.0.1:${px.ports.auto}/one`);
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(r.body.toString()) as EchoBody).url, '/one');
    assert.ok((await px.stat('http.auto.downstream_cx_http1_total')) >= 1);
  });

  test('codec_type HTTP1 does not speak HTTP/2: the preface is a bad request', async () => {
    const r = await curl(`http://127.0.0.1:${px.ports.h1only}/`, ['--http2-prior-knowledge']);
    assert.notEqual(r.status, 200);
    assert.ok((await px.stat('http.h1only.downstream_cx_protocol_error')) >= 1);
  });

  test('HTTP/1.1 client to an HTTP/2 upstream: Host becomes :authority, the response comes back', async () => {
    const r = await curl(`http://127.0.0.1:${px.ports.auto}/h2up/x`, ['-H', 'host: svc.example', '-H', 'cookie: a=1; b=2']);
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-upstream'], 'h2');
    const e = JSON.parse(r.body.toString()) as { headers: Record<string, string> };
    assert.equal(e.headers[':authority'], 'svc.example');
    assert.equal(e.headers[':path'], '/h2up/x');
    assert.equal(e.headers[':scheme'], 'http');
    assert.equal(e.headers.cookie, 'a=1; b=2');
    assert.equal(e.headers.connection, undefined);
    assert.ok((await px.stat('cluster.h2up.upstream_cx_http2_total')) >= 1);
  });

  test('HTTP/2 end to end: trailers from the upstream reach the client', async () => {
    const r = await h2request(px.ports.auto, { ':path': '/h2up/t', ':method': 'POST', te: 'trailers' }, 'body!');
    assert.equal(r.status, 200);
    const e = JSON.parse(r.body.toString()) as { headers: Record<string, string>; body: string };
    assert.equal(e.body, 'body!');
    assert.equal(e.headers.te, 'trailers');
    assert.equal(r.trailers['x-checksum'], String(r.body.length));
  });

  test('h2load through the proxy: every request succeeds on multiplexed streams', async () => {
    const r = await run('h2load', ['-n', '400', '-c', '4', '-m', '20', `http://127.0.0.1:${px.ports.auto}/h2up/load`], 60_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /400 succeeded, 0 failed, 0 errored/);
    assert.match(r.stdout, /status codes: 400 2xx/);
  });

  test('many concurrent requests share one upstream HTTP/2 connection', async () => {
    const before = h2up.sessions;
    await Promise.all(Array.from({ length: 30 }, (_, i) => curl(`http://127.0.0.1:${px.ports.auto}/h2up/c${i}`)));
    assert.equal(h2up.sessions, before);
  });

  test('GOAWAY from the upstream mid-load: refused streams are retried (refused-stream), no request is lost', async () => {
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => h2request(px.ports.auto, { ':path': `/goaway/${i}` })));
    for (const r of results) assert.equal(r.status, 200);
    // Each upstream connection takes 3 streams before its GOAWAY: 12 requests need at least 4.
    assert.ok(goaway.sessions >= 4, 'the GOAWAY made the pool open new connections');
    // How many streams raced a GOAWAY depends on timing; each refused one was retried.
    const refused = await px.stat('cluster.goaway.http2.rx_reset');
    assert.ok((await px.stat('cluster.goaway.upstream_rq_retry')) >= refused);
  });

  test('max_requests circuit breaker on an HTTP/2 cluster: overflow is a 503 UO and counted', async () => {
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => h2request(px.ports.auto, { ':path': `/limited/${i}` })));
    const ok = results.filter((r) => r.status === 200).length;
    const overflow = results.filter((r) => r.status === 503);
    assert.ok(ok >= 2);
    assert.ok(overflow.length >= 1);
    assert.match(overflow[0].body.toString(), /reset reason: overflow/);
    assert.ok((await px.stat('cluster.limited.upstream_rq_pending_overflow')) >= 1);
    await waitFor(() => readLines(log).some((l) => l.startsWith('GET /limited/') && / 503 UO HTTP\/2 /.test(l)), 5000, 'UO in the access log');
  });

  test('a client RST_STREAM cancels the upstream request (DR) and is counted', async () => {
    const before = echo.aborted();
    const session = http2.connect(`http://127.0.0.1:${px.ports.auto}`);
    const req = session.request({ ':path': '/rst', 'x-delay-ms': '10000' });
    req.on('error', () => undefined);
    await waitFor(() => echo.requests.some((r) => r.url === '/rst'), 5000, 'upstream got the request');
    req.close(http2.constants.NGHTTP2_CANCEL);
    await waitFor(() => echo.aborted() > before, 5000, 'upstream request cancelled');
    session.close();
    assert.ok((await px.stat('http2.rx_reset')) >= 1);
    assert.ok((await px.stat('http.auto.downstream_rq_rx_reset')) >= 1);
    await waitFor(() => readLines(log).some((l) => l.startsWith('GET /rst') && / DR/.test(l)), 5000, 'DR in the access log');
  });

  test('stream_idle_timeout: a stalled stream gets 504 SI, counted; the other streams of the connection are served', async () => {
    const before = await px.stat('http.h2idle.downstream_rq_idle_timeout');
    const session = http2.connect(`http://127.0.0.1:${px.ports.h2idle}`);
    session.on('error', () => undefined);
    const ask = (path: string, extra: http2.OutgoingHttpHeaders = {}): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = session.request({ ':path': path, ...extra });
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('error', reject);
        req.resume();
      });
    const [stalled, quick1, quick2] = await Promise.all([ask('/stall-h2', { 'x-delay-ms': '10000' }), ask('/quick-1'), ask('/quick-2')]);
    session.close();
    assert.equal(stalled, 504);
    assert.equal(quick1, 200);
    assert.equal(quick2, 200);
    assert.equal((await px.stat('http.h2idle.downstream_rq_idle_timeout')) - before, 1);
    await waitFor(() => readLines(log).some((l) => l.startsWith('GET /stall-h2 504 SI HTTP/2 stream_idle_timeout')), 5000, '504 SI in the access log');
  });

  test('a slow reader: the upstream is paused, proxy buffering stays bounded, nothing is lost', async () => {
    const size = 64 * 1024 * 1024;
    const session = http2.connect(`http://127.0.0.1:${px.ports.auto}`, { settings: { initialWindowSize: 65535 } });
    const req = session.request({ ':path': '/slow', 'x-behavior': 'huge', 'x-size': String(size) });
    req.pause();
    let received = 0;
    await new Promise<void>((r) => req.once('response', () => r()));
    // Wait until the upstream connection stops moving bytes, then check how far it got.
    let last = -1;
    await waitFor(
      async () => {
        const now = await px.stat('cluster.echo.upstream_cx_rx_bytes_total');
        const still = now === last;
        last = now;
        return still;
      },
      20_000,
      'upstream transfer pauses',
    );
    const stalled = last;
    assert.ok(stalled < 16 * 1024 * 1024, `the proxy read ${stalled} bytes of ${size} for a client that reads nothing`);
    req.on('data', (c: Buffer) => (received += c.length));
    req.resume();
    await new Promise<void>((r) => req.on('end', () => r()));
    session.close();
    assert.equal(received, size);
  });

  test('WebSocket over HTTP/2 extended CONNECT (RFC 8441) to an HTTP/1.1 Upgrade upstream', async () => {
    const session = http2.connect(`http://127.0.0.1:${px.ports.auto}`);
    await new Promise<void>((r) => session.once('remoteSettings', () => r()));
    assert.equal(session.remoteSettings.enableConnectProtocol, true);
    const req = session.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':path': '/ws/chat', ':scheme': 'http', 'sec-websocket-version': '13' }, { endStream: false });
    const status = await new Promise<number>((r) => req.once('response', (h) => r(Number(h[':status']))));
    assert.equal(status, 200);
    const echoed = new Promise<string>((r) => req.once('data', (c: Buffer) => r(c.toString())));
    req.write('frame-bytes');
    assert.equal(await echoed, 'frame-bytes');
    req.close();
    session.close();
    const head = ws.received[ws.received.length - 1].toString('latin1');
    assert.match(head, /^GET \/ws\/chat HTTP\/1\.1\r\n/);
    assert.match(head, /\r\nupgrade: websocket\r\n/i);
    assert.ok((await px.stat('http.auto.downstream_cx_upgrades_total')) >= 1);
  });

  test('malformed input: GOAWAY and a counter, the connection is gone by idle_timeout at the latest, the proxy keeps serving', async () => {
    const before = await px.stat('http.h2only.downstream_cx_protocol_error');
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
    const hasGoaway = (all: Buffer): boolean => {
      for (let i = 0; i + 9 <= all.length; ) {
        if (all[i + 3] === 7) return true;
        i += 9 + all.readUIntBE(i, 3);
      }
      return false;
    };
    /** Sends bytes and collects the answer until a GOAWAY frame (or the close). */
    const exchange = async (bytes: Buffer): Promise<Buffer> => {
      const sock = net.connect(px.ports.h2only, '127.0.0.1');
      const got: Buffer[] = [];
      sock.on('error', () => undefined);
      await new Promise<void>((r) => {
        sock.on('data', (d: Buffer) => {
          got.push(d);
          if (hasGoaway(Buffer.concat(got))) r();
        });
        sock.on('close', () => r());
        sock.write(bytes);
      });
      sock.destroy();
      return Buffer.concat(got);
    };
    // A bad connection preface: node:http2 reports it (counted), the session closes.
    await exchange(Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n' + 'x'.repeat(20)));
    await waitFor(async () => (await px.stat('http.h2only.downstream_cx_protocol_error')) > before, 5000, 'protocol error counted');
    // A frame longer than SETTINGS_MAX_FRAME_SIZE, and DATA on stream 0: connection errors (RFC 9113 §4.2, §6.1).
    assert.ok(hasGoaway(await exchange(Buffer.concat([preface, settings, Buffer.from([0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1])]))), 'GOAWAY for an oversized frame');
    assert.ok(hasGoaway(await exchange(Buffer.concat([preface, settings, Buffer.from([0, 0, 4, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4])]))), 'GOAWAY for DATA on stream 0');
    // nghttp2 stops reading a session it ended; idle_timeout (1 s here) bounds how long the socket stays.
    await waitFor(async () => (await px.stat('http.h2only.downstream_cx_active')) === 0, 10_000, 'malformed connections closed');
    const r = await curl(`http://127.0.0.1:${px.ports.h2only}/after`, ['--http2-prior-knowledge']);
    assert.equal(r.status, 200);
  });
});
