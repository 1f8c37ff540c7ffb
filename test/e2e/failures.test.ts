import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { Pool, request } from 'undici';
import {
  bootstrap,
  fileAccessLog,
  httpListener,
  readLines,
  startProxy,
  staticCluster,
  tempDir,
  waitFor,
  waitForLogLine,
  type RunningProxy,
} from '../helpers/proxy';
import { getRequest, hasResponses, parseResponses, rawExchange } from '../helpers/raw';
import { closedPort, startEchoUpstream, type EchoUpstream } from '../helpers/upstream';

/** Access log fields: method path code flags cluster details. */
function fields(line: string): { code: string; flags: string; cluster: string; details: string } {
  const f = line.split(' ');
  return { code: f[2], flags: f[3], cluster: f[4], details: f[5] };
}

describe('failure modes', () => {
  let up: EchoUpstream;
  let px: RunningProxy;
  let url: string;
  const tmp = tempDir();
  const log = tmp.file('access.log');

  before(async () => {
    up = await startEchoUpstream();
    const dead = await closedPort();
    const routeConfig = {
      name: 'failures',
      virtual_hosts: [
        {
          name: 'only',
          domains: ['only.example.com'],
          routes: [
            { match: { prefix: '/dead' }, route: { cluster: 'dead' } },
            { match: { prefix: '/empty' }, route: { cluster: 'empty' } },
            { match: { prefix: '/cb' }, route: { cluster: 'cb' } },
            { match: { prefix: '/' }, route: { cluster: 'backend' } },
          ],
        },
      ],
    };
    px = await startProxy(
      bootstrap(
        [httpListener('ingress', routeConfig, { access_log: [fileAccessLog(log)] })],
        [
          staticCluster('backend', [up.port]),
          staticCluster('dead', [dead]),
          { name: 'empty', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'empty', endpoints: [] } },
          staticCluster('cb', [up.port], {
            circuit_breakers: { thresholds: [{ max_connections: 1, max_pending_requests: 1, max_requests: 1 }] },
          }),
        ],
      ),
    );
    url = `http://127.0.0.1:${px.port}`;
  });
  after(async () => {
    await px?.stop();
    await up?.stop();
    tmp.remove();
  });

  const H = { host: 'only.example.com' };

  test('no route: 404 and NR', async () => {
    const r = await request(`${url}/nr-path`, { headers: { host: 'nowhere.example.com' } });
    assert.equal(r.statusCode, 404);
    await r.body.dump();
    const f = fields(await waitForLogLine(log, (l) => l.startsWith('GET /nr-path ')));
    assert.equal(f.code, '404');
    assert.equal(f.flags, 'NR');
    assert.equal(f.details, 'route_not_found');
    assert.equal(await px.stat('http.ingress.no_route'), 1);
  });

  test('upstream port closed: 503 and UF', async () => {
    const r = await request(`${url}/dead`, { headers: H });
    assert.equal(r.statusCode, 503);
    assert.match(await r.body.text(), /^upstream connect error or disconnect\/reset before headers\. reset reason: connection failure/);
    const f = fields(await waitForLogLine(log, (l) => l.startsWith('GET /dead ')));
    assert.equal(f.flags, 'UF');
    assert.equal(f.cluster, 'dead');
    assert.ok((await px.stat('cluster.dead.upstream_cx_connect_fail')) >= 1);
  });

  test('cluster without endpoints: 503 and UH', async () => {
    const r = await request(`${url}/empty`, { headers: H });
    assert.equal(r.statusCode, 503);
    assert.equal(await r.body.text(), 'no healthy upstream');
    const f = fields(await waitForLogLine(log, (l) => l.startsWith('GET /empty ')));
    assert.equal(f.flags, 'UH');
    assert.equal(await px.stat('cluster.empty.upstream_cx_none_healthy'), 1);
  });

  test('circuit breakers (max_requests 1, max_pending_requests 1): concurrent slow requests get 503 UO', async () => {
    const pool = new Pool(url, { connections: 6 });
    let statuses: number[];
    try {
      statuses = await Promise.all(
        Array.from({ length: 6 }, async (_, i) => {
          const r = await pool.request({ path: `/cb/${i}`, method: 'GET', headers: { ...H, 'x-delay-ms': '400' } });
          await r.body.dump();
          return r.statusCode;
        }),
      );
    } finally {
      await pool.close();
    }
    const ok = statuses.filter((s) => s === 200).length;
    const overflow = statuses.filter((s) => s === 503).length;
    assert.ok(ok >= 1, `statuses ${statuses}`);
    assert.ok(overflow >= 1, `statuses ${statuses}`);
    assert.equal(ok + overflow, 6);
    const cbLines = (): string[] => readLines(log).filter((l) => l.startsWith('GET /cb/'));
    await waitFor(() => cbLines().length === 6, 5000, 'six /cb log lines');
    const lines = cbLines();
    assert.equal(lines.filter((l) => fields(l).flags === 'UO' && fields(l).code === '503').length, overflow);
    const s = await px.stats();
    assert.equal((s['cluster.cb.upstream_rq_pending_overflow'] ?? 0), overflow);
    assert.equal(up.requests.filter((q) => q.url.startsWith('/cb/')).length, ok, 'overflowed requests never reached the upstream');
  });

  test('client disconnects mid-request: the upstream sees the request aborted, DC in the log', async () => {
    const sock = net.connect({ host: '127.0.0.1', port: px.port });
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.on('error', () => undefined);
    sock.write(getRequest('/dc-wait', 'x-delay-ms: 5000\r\n', 'only.example.com'));
    await waitFor(() => up.requests.some((q) => q.url === '/dc-wait'), 5000, 'upstream got /dc-wait');
    sock.destroy();
    await waitFor(() => up.requests.find((q) => q.url === '/dc-wait')!.aborted, 5000, 'upstream saw the abort');
    const f = fields(await waitForLogLine(log, (l) => l.startsWith('GET /dc-wait ')));
    assert.equal(f.flags, 'DC');
    assert.equal(f.code, '0');

    // Mid-body: Content-Length 1000, 10 bytes sent, then gone.
    const s2 = net.connect({ host: '127.0.0.1', port: px.port });
    await new Promise<void>((r) => s2.once('connect', () => r()));
    s2.on('error', () => undefined);
    s2.write('POST /dc-body HTTP/1.1\r\nHost: only.example.com\r\nContent-Length: 1000\r\n\r\n0123456789');
    await waitFor(() => up.requests.some((q) => q.url === '/dc-body'), 5000, 'upstream got /dc-body');
    s2.destroy();
    await waitFor(() => up.requests.find((q) => q.url === '/dc-body')!.aborted, 5000, 'upstream saw the abort');
    const f2 = fields(await waitForLogLine(log, (l) => l.startsWith('POST /dc-body ')));
    assert.equal(f2.flags, 'DC');
    assert.ok((await px.stat('http.ingress.downstream_rq_rx_reset')) >= 2);
    assert.ok((await px.stat('http.ingress.downstream_cx_destroy_remote_active_rq')) >= 2);
  });

  test('upstream resets mid-response: the downstream connection is cut (UC)', async () => {
    const r = await rawExchange(px.port, getRequest('/reset-mid', 'x-behavior: reset\r\n', 'only.example.com'), { timeoutMs: 5000 });
    assert.ok(r.closed, 'downstream connection closed');
    assert.match(r.text, /^HTTP\/1\.1 200 /);
    const headEnd = r.data.indexOf('\r\n\r\n') + 4;
    const got = r.data.length - headEnd;
    assert.ok(got < 100000, `only part of the body arrived (${got} bytes)`);
    const f = fields(await waitForLogLine(log, (l) => l.startsWith('GET /reset-mid ')));
    assert.equal(f.flags, 'UC');
  });

  test('upstream closes without a response: 503 UC, and the connection stays usable', async () => {
    const r = await rawExchange(
      px.port,
      getRequest('/close-early', 'x-behavior: close\r\n', 'only.example.com') + getRequest('/after', '', 'only.example.com'),
      { until: hasResponses(2) },
    );
    const rs = parseResponses(r.data);
    assert.equal(rs[0]?.status, 503, r.text);
    assert.match(rs[0].body.toString(), /reset reason: connection termination/);
    assert.equal(rs[1]?.status, 200);
    const f = fields(await waitForLogLine(log, (l) => l.startsWith('GET /close-early ')));
    assert.equal(f.flags, 'UC');
  });
});
