import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { Readable } from 'node:stream';
import { Pool, request } from 'undici';
import { curl } from '../helpers/curl';
import {
  bootstrap,
  httpListener,
  simpleHttpBootstrap,
  simpleRoutes,
  sleep,
  within,
  startProxy,
  staticCluster,
  tempDir,
  type RunningProxy,
} from '../helpers/proxy';
import { getRequest, hasResponses, parseResponses, rawExchange } from '../helpers/raw';
import { sha256, startEchoUpstream, startUpgradeEcho, type EchoBody, type EchoUpstream, type TcpServer } from '../helpers/upstream';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('basic proxying', () => {
  let up: EchoUpstream;
  let px: RunningProxy;
  let url: string;
  const tmp = tempDir();

  before(async () => {
    up = await startEchoUpstream();
    px = await startProxy(simpleHttpBootstrap(up.port, { hcm: { use_remote_address: true, http_protocol_options: { accept_http_10: true } } }));
    url = `http://127.0.0.1:${px.port}`;
  });
  after(async () => {
    await px?.stop();
    await up?.stop();
    tmp.remove();
  });

  test('GET via curl: echo, x-request-id, x-envoy-upstream-service-time, x-forwarded-for', async () => {
    const r = await curl(`${url}/hello?x=1`, ['-H', 'x-forwarded-for: 203.0.113.7']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.status, 200);
    const echo = JSON.parse(r.body.toString()) as EchoBody;
    assert.equal(echo.method, 'GET');
    assert.equal(echo.url, '/hello?x=1');
    assert.equal(echo.headers.host, `127.0.0.1:${px.port}`);
    assert.match(String(echo.headers['x-request-id']), UUID);
    assert.equal(echo.headers['x-forwarded-for'], '203.0.113.7,127.0.0.1');
    assert.equal(echo.headers['x-forwarded-proto'], 'http');
    assert.match(r.headers['x-envoy-upstream-service-time'] ?? '', /^\d+$/);
    assert.equal(r.headers['server'], 'envoy');
    assert.equal(r.headers['x-upstream'], 'echo');
  });

  test('an internal client x-request-id is preserved', async () => {
    const r = await request(`${url}/id`, { headers: { 'x-request-id': 'my-id-1' } });
    const echo = (await r.body.json()) as EchoBody;
    assert.equal(r.statusCode, 200);
    assert.equal(echo.headers['x-request-id'], 'my-id-1');
  });

  test('POST with Content-Length via curl', async () => {
    const r = await curl(`${url}/post`, ['--data-binary', 'hello=world&a=b', '-H', 'content-type: text/plain']);
    assert.equal(r.status, 200, r.stderr);
    const echo = JSON.parse(r.body.toString()) as EchoBody;
    assert.equal(echo.method, 'POST');
    assert.equal(echo.body, 'hello=world&a=b');
    assert.equal(echo.headers['content-length'], '15');
    assert.equal(echo.headers['transfer-encoding'], undefined);
  });

  test('POST with a chunked request body via curl', async () => {
    const f = tmp.file('chunked-body');
    const body = Buffer.alloc(200_000, 'z');
    fs.writeFileSync(f, body);
    const r = await curl(`${url}/chunked`, ['-H', 'Transfer-Encoding: chunked', '--data-binary', `@${f}`]);
    assert.equal(r.status, 200, r.stderr);
    const echo = JSON.parse(r.body.toString()) as EchoBody;
    assert.equal(echo.headers['transfer-encoding'], 'chunked');
    assert.equal(echo.bodyLength, body.length);
    assert.equal(echo.sha256, sha256(body));
  });

  test('chunked response via undici', async () => {
    const r = await request(`${url}/stream`, { headers: { 'x-behavior': 'chunked' } });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['transfer-encoding'], 'chunked');
    assert.equal(await r.body.text(), 'alpha-beta-gamma-delta');
  });

  test('5 MB upload with Expect: 100-continue via curl', async () => {
    const f = tmp.file('big-upload');
    const body = Buffer.alloc(5 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
    fs.writeFileSync(f, body);
    const r = await curl(`${url}/upload`, ['--data-binary', `@${f}`, '-H', 'Expect: 100-continue']);
    assert.equal(r.status, 200, r.stderr);
    assert.deepEqual(r.statuses, [100, 200]);
    const echo = JSON.parse(r.body.toString()) as EchoBody;
    assert.equal(echo.bodyLength, body.length);
    assert.equal(echo.sha256, sha256(body));
    assert.equal(echo.headers['expect'], undefined, 'the proxy answered 100-continue itself');
  });

  test('5 MB upload via undici (chunked, streamed)', async () => {
    const body = Buffer.alloc(5 * 1024 * 1024, 'q');
    async function* gen(): AsyncGenerator<Buffer> {
      for (let i = 0; i < body.length; i += 256 * 1024) yield body.subarray(i, i + 256 * 1024);
    }
    const r = await request(`${url}/upload2`, { method: 'POST', body: Readable.from(gen()) });
    const echo = (await r.body.json()) as EchoBody;
    assert.equal(r.statusCode, 200);
    assert.equal(echo.headers['transfer-encoding'], 'chunked');
    assert.equal(echo.sha256, sha256(body));
  });

  test('5 MB downloads, Content-Length and chunked', async () => {
    const size = 5 * 1024 * 1024;
    const a = await request(`${url}/big`, { headers: { 'x-behavior': 'huge', 'x-size': String(size) } });
    assert.equal(a.statusCode, 200);
    assert.equal(a.headers['content-length'], String(size));
    assert.equal(Buffer.from(await a.body.arrayBuffer()).length, size);
    const b = await curl(`${url}/big2`, ['-H', 'x-behavior: huge', '-H', `x-size: ${size}`, '-H', 'x-chunked: 1']);
    assert.equal(b.status, 200);
    assert.equal(b.headers['transfer-encoding'], 'chunked');
    assert.equal(b.body.length, size);
  });

  test('HEAD keeps Content-Length and sends no body (the next pipelined response is intact)', async () => {
    const r = await request(`${url}/head`, { method: 'HEAD', headers: { 'x-behavior': 'huge', 'x-size': '12345' } });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-length'], '12345');
    assert.equal((await r.body.arrayBuffer()).byteLength, 0);
    const raw = await rawExchange(
      px.port,
      'HEAD /h1 HTTP/1.1\r\nHost: a\r\nx-behavior: huge\r\nx-size: 777\r\n\r\n' + getRequest('/after-head'),
      { until: hasResponses(2, new Set([0])) },
    );
    const rs = parseResponses(raw.data, new Set([0]));
    assert.equal(rs.length, 2, raw.text);
    assert.equal(rs[0].headers['content-length'], '777');
    assert.equal(rs[1].status, 200);
    assert.equal((JSON.parse(rs[1].body.toString()) as EchoBody).url, '/after-head');
  });

  test('pipelining: three requests in one write, three responses in order', async () => {
    const raw = await rawExchange(px.port, getRequest('/p1') + getRequest('/p2', 'x-delay-ms: 30\r\n') + getRequest('/p3'), {
      until: hasResponses(3),
    });
    const rs = parseResponses(raw.data);
    assert.equal(rs.length, 3, raw.text);
    assert.deepEqual(
      rs.map((r) => (JSON.parse(r.body.toString()) as EchoBody).url),
      ['/p1', '/p2', '/p3'],
    );
    assert.ok(rs.every((r) => r.status === 200));
  });

  test('Connection: close is honoured', async () => {
    const raw = await rawExchange(px.port, getRequest('/close', 'Connection: close\r\n'), { timeoutMs: 3000 });
    assert.ok(raw.closed, 'the proxy closed the connection');
    const rs = parseResponses(raw.data);
    assert.equal(rs.length, 1);
    assert.equal(rs[0].status, 200);
    assert.equal(rs[0].headers['connection'], 'close');
  });

  test('HTTP/1.0 is refused with 426 unless accept_http_10 is set, as in Envoy', async () => {
    const strict = await startProxy(simpleHttpBootstrap(up.port));
    try {
      const r = await curl(`http://127.0.0.1:${strict.port}/ten`, ['--http1.0']);
      assert.equal(r.status, 426, r.stderr);
    } finally {
      await strict.stop();
    }
  });

  test('HTTP/1.0 client (curl --http1.0 and a raw request without Host)', async () => {
    const r = await curl(`${url}/ten`, ['--http1.0']);
    assert.equal(r.status, 200, r.stderr);
    assert.equal((JSON.parse(r.body.toString()) as EchoBody).url, '/ten');
    const raw = await rawExchange(px.port, 'GET /ten-raw HTTP/1.0\r\n\r\n', { timeoutMs: 3000 });
    assert.ok(raw.closed, 'HTTP/1.0 without keep-alive closes');
    const rs = parseResponses(raw.data);
    assert.equal(rs.length, 1, raw.text);
    assert.equal(rs[0].status, 200);
    assert.equal((JSON.parse(rs[0].body.toString()) as EchoBody).url, '/ten-raw');
  });
});

describe('keep-alive', () => {
  let up: EchoUpstream;
  let px: RunningProxy;
  before(async () => {
    up = await startEchoUpstream();
    px = await startProxy(simpleHttpBootstrap(up.port));
  });
  after(async () => {
    await px?.stop();
    await up?.stop();
  });

  test('sequential requests reuse one downstream and one upstream connection', async () => {
    const pool = new Pool(`http://127.0.0.1:${px.port}`, { connections: 1, pipelining: 1 });
    try {
      for (let i = 0; i < 10; i++) {
        const r = await pool.request({ path: `/ka/${i}`, method: i % 2 === 0 ? 'GET' : 'POST', body: i % 2 === 0 ? undefined : 'x'.repeat(i * 100) });
        assert.equal(r.statusCode, 200);
        await r.body.json();
      }
    } finally {
      await pool.close();
    }
    const s = await px.stats();
    assert.equal(s['cluster.backend.upstream_cx_total'], 1);
    assert.equal(s['cluster.backend.upstream_rq_total'], 10);
    assert.equal(s['http.ingress.downstream_cx_total'], 1);
    assert.equal(s['http.ingress.downstream_rq_2xx'], 10);
    assert.equal(up.connections(), 1);
  });
});

describe('a slow client reading a large response', () => {
  let up: EchoUpstream;
  let px: RunningProxy;
  before(async () => {
    up = await startEchoUpstream();
    px = await startProxy(simpleHttpBootstrap(up.port, { route: { timeout: '5s' } }));
  });
  after(async () => {
    await px?.stop();
    await up?.stop();
  });

  test('backpressure, then the pooled upstream connection still serves the next request', async () => {
    const size = 8 * 1024 * 1024;
    const sock = net.connect({ host: '127.0.0.1', port: px.port });
    sock.on('error', () => undefined);
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write(getRequest('/slow-reader', `x-behavior: huge\r\nx-size: ${size}\r\n`));
    // Read nothing for a while so that the proxy's writes to us back up.
    await sleep(300);
    let got = 0;
    const all = new Promise<void>((resolve) => {
      sock.on('data', (d: Buffer) => {
        got += d.length;
        if (got >= size) resolve();
      });
    });
    await within(all, 20_000, undefined);
    sock.destroy();
    assert.ok(got >= size, `received ${got} of ${size}`);
    for (let i = 0; i < 3; i++) {
      const r = await rawExchange(px.port, getRequest(`/next-${i}`), { until: hasResponses(1), timeoutMs: 8000 });
      assert.equal(parseResponses(r.data)[0]?.status, 200, r.text);
    }
    assert.equal(await px.stat('cluster.backend.upstream_rq_timeout'), 0);
    assert.equal(await px.stat('cluster.backend.upstream_cx_total'), 1, 'the same upstream connection served them all');
  });
});

describe('upgrade / WebSocket pass-through', () => {
  let ws: TcpServer;
  let px: RunningProxy;
  before(async () => {
    ws = await startUpgradeEcho();
    const routes = simpleRoutes([{ match: { prefix: '/' }, route: { cluster: 'ws' } }]);
    px = await startProxy(
      bootstrap(
        [httpListener('with_upgrade', routes, { upgrade_configs: [{ upgrade_type: 'websocket' }] }), httpListener('without_upgrade', routes)],
        [staticCluster('ws', [ws.port])],
      ),
    );
  });
  after(async () => {
    await px?.stop();
    await ws?.stop();
  });

  const upgradeReq =
    'GET /chat HTTP/1.1\r\nHost: ws.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

  test('with upgrade_configs: 101 and bytes echo both ways', async () => {
    const r = await rawExchange(px.ports.with_upgrade, [upgradeReq, 'ping-1|', 'ping-2'], {
      gapMs: 50,
      until: (d) => d.toString('latin1').includes('ping-1|ping-2'),
      timeoutMs: 5000,
    });
    assert.match(r.text, /^HTTP\/1\.1 101 /);
    assert.match(r.text, /\r\nupgrade: websocket\r\n/i);
    assert.ok(r.text.endsWith('ping-1|ping-2'), JSON.stringify(r.text));
    const head = ws.received[0].toString('latin1');
    assert.match(head, /^GET \/chat HTTP\/1\.1\r\n/);
    assert.match(head, /\r\nupgrade: websocket\r\n/i);
    assert.match(head, /\r\nconnection: upgrade\r\n/i);
    assert.match(head, /\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n/i);
    assert.ok((await px.stat('http.with_upgrade.downstream_cx_upgrades_total')) >= 1);
  });

  test('tunnel half-close: the client FIN reaches the upstream, its last bytes still arrive', async () => {
    const r = await rawExchange(px.ports.with_upgrade, [upgradeReq, 'last-words'], { gapMs: 50, end: true, timeoutMs: 5000 });
    assert.match(r.text, /^HTTP\/1\.1 101 /);
    assert.ok(r.text.endsWith('last-words'), JSON.stringify(r.text));
    assert.ok(r.closed, 'closed after the upstream closed');
  });

  test('without upgrade_configs: 403', async () => {
    const before = ws.connections();
    const r = await rawExchange(px.ports.without_upgrade, upgradeReq, { until: hasResponses(1) });
    const rs = parseResponses(r.data);
    assert.equal(rs[0]?.status, 403, r.text);
    assert.equal(ws.connections(), before, 'the upstream was never contacted');
  });
});
