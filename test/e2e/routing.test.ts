import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Pool, request } from 'undici';
import { curl } from '../helpers/curl';
import {
  bootstrap,
  fileAccessLog,
  httpListener,
  startProxy,
  staticCluster,
  tempDir,
  waitForLogLine,
  type RunningProxy,
} from '../helpers/proxy';
import { startEchoUpstream, type EchoBody, type EchoUpstream } from '../helpers/upstream';

describe('routing', () => {
  let a: EchoUpstream;
  let b: EchoUpstream;
  let px: RunningProxy;
  let url: string;
  const tmp = tempDir();
  const log = tmp.file('access.log');

  before(async () => {
    a = await startEchoUpstream('a');
    b = await startEchoUpstream('b');
    const direct = (body: string): object => [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: body } } }];
    const routeConfig = {
      name: 'routing',
      response_headers_to_add: [{ header: { key: 'x-rc-level', value: 'rc' } }],
      virtual_hosts: [
        { name: 'exact', domains: ['exact.example.com', 'exact.example.com:*'], routes: direct('vh:exact') },
        { name: 'suffix', domains: ['*.suffix.com'], routes: direct('vh:suffix') },
        { name: 'prefix', domains: ['prefix.*'], routes: direct('vh:prefix') },
        {
          name: 'catchall',
          domains: ['*'],
          request_headers_to_add: [{ header: { key: 'x-vh-level', value: 'vh' } }],
          routes: [
            { match: { path: '/only' }, route: { cluster: 'b' } },
            { match: { prefix: '/api/', headers: [{ name: 'x-canary', string_match: { exact: 'yes' } }] }, route: { cluster: 'b' } },
            { match: { safe_regex: { regex: '^/items/[0-9]+$' } }, route: { cluster: 'b' } },
            { match: { prefix: '/q', query_parameters: [{ name: 'v', string_match: { exact: '2' } }] }, route: { cluster: 'b' } },
            {
              match: { prefix: '/weighted' },
              route: { weighted_clusters: { clusters: [{ name: 'a', weight: 80 }, { name: 'b', weight: 20 }] } },
            },
            { match: { prefix: '/direct' }, direct_response: { status: 418, body: { inline_string: 'teapot' } } },
            {
              match: { prefix: '/redirect' },
              redirect: { host_redirect: 'new.example.com', path_redirect: '/moved', response_code: 'PERMANENT_REDIRECT' },
            },
            { match: { prefix: '/secure' }, redirect: { https_redirect: true } },
            { match: { prefix: '/old/' }, route: { cluster: 'a', prefix_rewrite: '/new/' } },
            {
              match: { prefix: '/hdr' },
              route: { cluster: 'a' },
              request_headers_to_add: [
                { header: { key: 'x-added', value: 'v1' } },
                { header: { key: 'x-client-addr', value: '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%' } },
              ],
              request_headers_to_remove: ['x-remove-me'],
              response_headers_to_add: [{ header: { key: 'x-resp-added', value: 'r1' } }],
              response_headers_to_remove: ['x-upstream'],
            },
            { match: { prefix: '/slow' }, route: { cluster: 'a', timeout: '0.2s' } },
            { match: { prefix: '/' }, route: { cluster: 'a' } },
          ],
        },
      ],
    };
    px = await startProxy(
      bootstrap(
        [httpListener('ingress', routeConfig, { access_log: [fileAccessLog(log)] })],
        [staticCluster('a', [a.port]), staticCluster('b', [b.port])],
      ),
    );
    url = `http://127.0.0.1:${px.port}`;
  });
  after(async () => {
    await px?.stop();
    await a?.stop();
    await b?.stop();
    tmp.remove();
  });

  async function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
    const r = await request(url + path, { headers });
    return { status: r.statusCode, headers: r.headers, body: await r.body.text() };
  }

  test('virtual host domains: exact, *.suffix, prefix.*, *', async () => {
    assert.equal((await get('/', { host: 'exact.example.com' })).body, 'vh:exact');
    assert.equal((await get('/', { host: 'exact.example.com:8080' })).body, 'vh:exact');
    assert.equal((await get('/', { host: 'www.suffix.com' })).body, 'vh:suffix');
    assert.equal((await get('/', { host: 'prefix.anything.org' })).body, 'vh:prefix');
    const other = await get('/', { host: 'other.org' });
    assert.equal(other.status, 200);
    assert.equal(other.headers['x-upstream'], 'a');
    // The route configuration's response_headers_to_add applies to direct responses too.
    assert.equal((await get('/', { host: 'www.suffix.com' })).headers['x-rc-level'], 'rc');
  });

  test('path, prefix, regex, header and query matches', async () => {
    const via = async (p: string, h: Record<string, string> = {}): Promise<unknown> => (await get(p, h)).headers['x-upstream'];
    assert.equal(await via('/only'), 'b');
    assert.equal(await via('/only/more'), 'a', 'path match is exact');
    assert.equal(await via('/api/x', { 'x-canary': 'yes' }), 'b');
    assert.equal(await via('/api/x', { 'x-canary': 'no' }), 'a');
    assert.equal(await via('/api/x'), 'a');
    assert.equal(await via('/items/42'), 'b');
    assert.equal(await via('/items/42x'), 'a');
    assert.equal(await via('/q?v=2'), 'b');
    assert.equal(await via('/q?v=3'), 'a');
    assert.equal(await via('/q?w=2'), 'a');
  });

  test('weighted clusters 80/20 over 1000 requests', async () => {
    const pool = new Pool(url, { connections: 8 });
    const counts: Record<string, number> = { a: 0, b: 0 };
    try {
      for (let batch = 0; batch < 10; batch++) {
        const rs = await Promise.all(
          Array.from({ length: 100 }, async () => {
            const r = await pool.request({ path: '/weighted', method: 'GET' });
            await r.body.dump();
            return String(r.headers['x-upstream']);
          }),
        );
        for (const n of rs) counts[n]++;
      }
    } finally {
      await pool.close();
    }
    assert.equal(counts.a + counts.b, 1000);
    assert.ok(counts.a >= 730 && counts.a <= 870, `a got ${counts.a} of 1000`);
  });

  test('direct_response', async () => {
    const r = await get('/direct');
    assert.equal(r.status, 418);
    assert.equal(r.body, 'teapot');
    assert.ok((await px.stat('http.ingress.rq_direct_response')) >= 1);
  });

  test('redirects carry a Location header', async () => {
    const r = await get('/redirect/x', { host: 'old.example.com' });
    assert.equal(r.status, 308);
    assert.equal(r.headers['location'], 'http://new.example.com/moved');
    const s = await curl(`${url}/secure/page?q=1`, ['-H', 'Host: shop.example.com']);
    assert.equal(s.status, 301);
    assert.equal(s.headers['location'], 'https://shop.example.com/secure/page?q=1');
  });

  test('prefix_rewrite is what the upstream sees', async () => {
    const r = await get('/old/thing?z=1');
    assert.equal(r.status, 200);
    const echo = JSON.parse(r.body) as EchoBody;
    assert.equal(echo.url, '/new/thing?z=1');
    assert.equal(echo.headers['x-envoy-original-path'], '/old/thing?z=1');
    await waitForLogLine(log, (l) => l.startsWith('GET /old/thing?z=1 200 '));
  });

  test('request/response headers to add and remove (route, virtual host, route configuration)', async () => {
    const r = await get('/hdr', { 'x-remove-me': 'gone', 'x-keep-me': 'kept' });
    assert.equal(r.status, 200);
    const echo = JSON.parse(r.body) as EchoBody;
    assert.equal(echo.headers['x-added'], 'v1');
    assert.equal(echo.headers['x-client-addr'], '127.0.0.1');
    assert.equal(echo.headers['x-vh-level'], 'vh');
    assert.equal(echo.headers['x-remove-me'], undefined);
    assert.equal(echo.headers['x-keep-me'], 'kept');
    assert.equal(r.headers['x-resp-added'], 'r1');
    assert.equal(r.headers['x-rc-level'], 'rc');
    assert.equal(r.headers['x-upstream'], undefined, 'response_headers_to_remove');
  });

  test('route timeout: 504 and UT in the access log', async () => {
    const r = await get('/slow', { 'x-delay-ms': '3000' });
    assert.equal(r.status, 504);
    assert.equal(r.body, 'upstream request timeout');
    const line = await waitForLogLine(log, (l) => l.startsWith('GET /slow '));
    assert.equal(line.split(' ')[3], 'UT', line);
    assert.equal(line.split(' ')[2], '504');
    assert.equal(await px.stat('cluster.a.upstream_rq_timeout'), 1);
    // The upstream saw the request cancelled.
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(a.requests.some((q) => q.url === '/slow' && q.aborted));
  });
});
