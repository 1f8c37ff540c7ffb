import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as path from 'node:path';
import { parseUpstream, startService, type RunningService, type ServiceOptions } from '../../src/demo/services/index';
import { run } from '../helpers/curl';
import { bootstrap, httpListener, startProxy, staticCluster, type RunningProxy } from '../helpers/proxy';
import { closedPort, startEchoUpstream, type EchoUpstream } from '../helpers/upstream';

/**
 * The sample services on their own, without the control plane: started in this process, called
 * with real HTTP, calling each other through a real Weft proxy with a static configuration that
 * routes by Host as a sidecar's egress listener does.
 */

const SERVICE_MAIN = path.join(__dirname, '..', '..', 'src', 'demo', 'services', 'main.js');
const host = (svc: string): string => `${svc}.default.svc.cluster.local:9080`;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json: Record<string, unknown>;
}

function get(port: number, p: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(body) as Record<string, unknown>;
        } catch {
          /* HTML */
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function start(opts: Omit<ServiceOptions, 'upstreams'> & { upstreams?: string[] }, port = 0): Promise<RunningService> {
  return startService({ ...opts, upstreams: (opts.upstreams ?? []).map(parseUpstream) }, '127.0.0.1', port);
}

/** A static Weft proxy routing by Host to each service, like a sidecar's egress listener. */
async function egressProxy(routes: Record<string, number | { status: number }>): Promise<RunningProxy> {
  const vhosts = Object.entries(routes).map(([svc, target]) => ({
    name: svc,
    domains: [host(svc)],
    routes: [
      typeof target === 'number'
        ? { match: { prefix: '/' }, route: { cluster: svc } }
        : { match: { prefix: '/' }, direct_response: { status: target.status, body: { inline_string: `${svc} says no` } } },
    ],
  }));
  const clusters = Object.entries(routes)
    .filter(([, t]) => typeof t === 'number')
    .map(([svc, port]) => staticCluster(svc, [port as number]));
  return startProxy(bootstrap([httpListener('egress', { name: 'egress', virtual_hosts: vhosts })], clusters));
}

describe('demo sample services, each alone', () => {
  const services: RunningService[] = [];
  after(async () => {
    for (const s of services) await s.close();
  });

  test('details answers /details/0 with its version; 404 names the right path; 405 for POST; /health', async () => {
    const details = await start({ kind: 'details', version: 'v1', instance: 'details-v1-0' });
    services.push(details);
    const ok = await get(details.port, '/details/0');
    assert.equal(ok.status, 200);
    assert.equal(ok.json.version, 'v1');
    assert.equal(ok.json.instance, 'details-v1-0');
    assert.equal(ok.json.author, 'William Shakespeare');
    assert.equal(ok.headers['x-demo-served-by'], 'details/v1');
    const missing = await get(details.port, '/details/abc');
    assert.equal(missing.status, 404);
    assert.match(String(missing.json.error), /\/details\/0/);
    const post = await get(details.port, '/details/0', {}, 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
    assert.equal((await get(details.port, '/health')).json.status, 'ok');
  });

  test('ratings answers stars per reviewer', async () => {
    const ratings = await start({ kind: 'ratings', version: 'v1' });
    services.push(ratings);
    const r = await get(ratings.port, '/ratings/0');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.ratings, { Reviewer1: 5, Reviewer2: 4 });
  });

  test('reviews v1 calls nothing and shows no stars', async () => {
    const reviews = await start({ kind: 'reviews', version: 'v1' });
    services.push(reviews);
    const r = await get(reviews.port, '/reviews/0');
    assert.equal(r.json.version, 'v1');
    const list = r.json.reviews as { rating?: unknown }[];
    assert.equal(list.length, 2);
    assert.ok(list.every((x) => x.rating === undefined));
  });

  test('reviews v4 does not exist: startService says which versions do', async () => {
    await assert.rejects(start({ kind: 'reviews', version: 'v4' }), /v1 \(no stars\), v2 \(black stars\) and v3 \(red stars\)/);
  });

  test('reviews v2 without a ratings upstream fails at start, naming the flag', async () => {
    await assert.rejects(start({ kind: 'reviews', version: 'v2' }), /reviews v2 calls ratings: give --upstream ratings=/);
  });

  test('a malformed --upstream is rejected with the expected form', () => {
    assert.throws(() => parseUpstream('ratings'), /expected name=host:port or name=host:port@egress-ip:port/);
    assert.throws(() => parseUpstream('ratings=ratings:9080@nowhere'), /is not host:port/);
    const u = parseUpstream(`ratings=${host('ratings')}@127.0.2.4:9080`);
    assert.deepEqual(u, { name: 'ratings', authority: host('ratings'), connectHost: '127.0.2.4', connectPort: 9080 });
  });
});

describe('demo sample services through a Weft egress proxy', () => {
  const services: RunningService[] = [];
  let proxy: RunningProxy;
  let front: RunningService;

  before(async () => {
    const ratings = await start({ kind: 'ratings', version: 'v1' });
    const details = await start({ kind: 'details', version: 'v1' });
    services.push(ratings, details);
    const reviewsPort = await closedPort();
    proxy = await egressProxy({ ratings: ratings.port, details: details.port, reviews: reviewsPort });
    const via = `@127.0.0.1:${proxy.port}`;
    services.push(await start({ kind: 'reviews', version: 'v3', upstreams: [`ratings=${host('ratings')}${via}`] }, reviewsPort));
    front = await start({ kind: 'front', version: 'v1', upstreams: [`details=${host('details')}${via}`, `reviews=${host('reviews')}${via}`] });
    services.push(front);
  });
  after(async () => {
    for (const s of services) await s.close();
    await proxy?.stop();
  });

  test('front /api/summary: details, reviews v3 with red stars from ratings, no errors', async () => {
    const r = await get(front.port, '/api/summary', { 'x-request-id': 'req-1' });
    assert.equal(r.status, 200, r.body);
    assert.equal(r.json.reviews_version, 'v3');
    assert.deepEqual(r.json.errors, []);
    assert.equal(r.json.request_id, 'req-1');
    assert.equal((r.json.details as { author: string }).author, 'William Shakespeare');
    const reviews = (r.json.reviews as { reviews: { rating: { stars: number; color: string } }[] }).reviews;
    assert.deepEqual(
      reviews.map((x) => x.rating),
      [
        { stars: 5, color: 'red' },
        { stars: 4, color: 'red' },
      ],
    );
    assert.equal(r.headers['x-demo-degraded'], undefined);
    assert.equal(await proxy.stat('cluster.ratings.upstream_rq_200'), 1);
  });

  test('front / renders the page with the reviews version and stars (curl)', async () => {
    const r = await run('curl', ['-sS', '--max-time', '10', `http://127.0.0.1:${front.port}/`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /<h1>The Comedy of Errors<\/h1>/);
    assert.match(r.stdout, /served by reviews v3/);
    assert.match(r.stdout, /color:red">★★★★★/);
  });
});

describe('demo sample services: tracing headers and failed dependencies', () => {
  const services: RunningService[] = [];
  const echoes: EchoUpstream[] = [];
  after(async () => {
    for (const s of services) await s.close();
    for (const e of echoes) await e.stop();
  });

  const TRACE = {
    'x-request-id': '7c3f2a9e-0d6b-4c1e-9a41-5b7e2d8f1c00',
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    tracestate: 'weft=1',
    b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1',
    'x-b3-traceid': '80f198ee56343ba864fe8b2a57d3eff7',
    'x-b3-spanid': 'e457b5a2e4d86bd1',
    'x-b3-parentspanid': '05e3ac9a4f6e3b90',
    'x-b3-sampled': '1',
    'end-user': 'jason',
  };

  test('front copies the tracing headers and end-user to details and reviews, with the service as Host', async () => {
    const echo = await startEchoUpstream('deps');
    echoes.push(echo);
    const f = await start({ kind: 'front', version: 'v1', upstreams: [`details=${host('details')}@127.0.0.1:${echo.port}`, `reviews=${host('reviews')}@127.0.0.1:${echo.port}`] });
    services.push(f);
    await get(f.port, '/api/summary', { ...TRACE, 'x-not-propagated': 'no' });
    assert.equal(echo.requests.length, 2);
    const byHost = new Map(echo.requests.map((r) => [r.headers.host, r]));
    for (const svc of ['details', 'reviews']) {
      const rec = byHost.get(host(svc));
      assert.ok(rec, `a call with Host ${host(svc)}`);
      for (const [k, v] of Object.entries(TRACE)) assert.equal(rec.headers[k], v, `${svc} got ${k}`);
      assert.equal(rec.headers['x-not-propagated'], undefined);
    }
  });

  test('reviews v2 copies the tracing headers to ratings', async () => {
    const echo = await startEchoUpstream('ratings');
    echoes.push(echo);
    const reviews = await start({ kind: 'reviews', version: 'v2', upstreams: [`ratings=${host('ratings')}@127.0.0.1:${echo.port}`] });
    services.push(reviews);
    await get(reviews.port, '/reviews/0', TRACE);
    assert.equal(echo.requests.length, 1);
    assert.equal(echo.requests[0].url, '/ratings/0');
    for (const [k, v] of Object.entries(TRACE)) assert.equal(echo.requests[0].headers[k], v, `ratings got ${k}`);
  });

  test('details down (connection refused): front still answers 200, says why, marks it degraded, counts it', async () => {
    const reviews = await start({ kind: 'reviews', version: 'v1' });
    const dead = await closedPort();
    const f = await start({ kind: 'front', version: 'v1', upstreams: [`details=${host('details')}@127.0.0.1:${dead}`, `reviews=${host('reviews')}@127.0.0.1:${reviews.port}`] });
    services.push(reviews, f);
    const r = await get(f.port, '/api/summary');
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-demo-degraded'], 'details');
    assert.equal(r.json.details, null);
    assert.equal(r.json.reviews_version, 'v1');
    const errors = r.json.errors as string[];
    assert.equal(errors.length, 1);
    assert.match(errors[0], new RegExp(`^details \\(${host('details').replace(/\./g, '\\.')} via 127\\.0\\.0\\.1:${dead}\\): ECONNREFUSED`));
    const page = await get(f.port, '/');
    assert.match(page.body, /Sorry, product details are currently unavailable/);
    assert.equal((await get(f.port, '/stats')).json['upstream_rq_failed.details.connect'], 2);
  });

  test('ratings answering 503 through the proxy: reviews v3 keeps its reviews, each says ratings is unavailable', async () => {
    const proxy = await egressProxy({ ratings: { status: 503 } });
    try {
      const reviews = await start({ kind: 'reviews', version: 'v3', upstreams: [`ratings=${host('ratings')}@127.0.0.1:${proxy.port}`] });
      services.push(reviews);
      const r = await get(reviews.port, '/reviews/0');
      assert.equal(r.status, 200);
      const list = r.json.reviews as { rating: { error: string } }[];
      assert.deepEqual(list.map((x) => x.rating.error), ['Ratings service is currently unavailable', 'Ratings service is currently unavailable']);
      assert.match((r.json.errors as string[])[0], /^ratings \(.*\): answered 503: ratings says no$/);
      assert.equal((await get(reviews.port, '/stats')).json['upstream_rq_failed.ratings.status'], 1);
    } finally {
      await proxy.stop();
    }
  });

  test('reviews hanging: front answers within its call timeout with a timeout error', async () => {
    const hang = http.createServer(() => undefined);
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    const hangPort = (hang.address() as { port: number }).port;
    const details = await start({ kind: 'details', version: 'v1' });
    const f = await start({ kind: 'front', version: 'v1', upstreams: [`details=${host('details')}@127.0.0.1:${details.port}`, `reviews=${host('reviews')}@127.0.0.1:${hangPort}`] });
    services.push(details, f);
    try {
      const r = await get(f.port, '/api/summary');
      assert.equal(r.status, 200);
      assert.equal(r.json.reviews_version, null);
      assert.match((r.json.errors as string[])[0], /^reviews \(.*\): no answer within 3000 ms$/);
      assert.equal(r.headers['x-demo-degraded'], 'reviews');
    } finally {
      hang.closeAllConnections();
      hang.close();
    }
  });
});

describe('demo sample service as a process', () => {
  test('an unknown --service: exit 2 listing the services', async () => {
    const r = await run(process.execPath, [SERVICE_MAIN, '--service', 'productpage', '--listen', '127.0.0.1:0']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--service must be one of front, details, reviews, ratings \(got productpage\)/);
  });

  test('a port already taken: exit 1 saying so', async () => {
    const taken = http.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    try {
      const port = (taken.address() as { port: number }).port;
      const r = await run(process.execPath, [SERVICE_MAIN, '--service', 'details', '--listen', `127.0.0.1:${port}`]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, new RegExp(`details v1 cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
    } finally {
      taken.close();
    }
  });
});
