import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { edgeBootstrap, sidecarBootstrap, sidecarNodeId } from '../../src/demo/bootstrap';
import { parseUpstream, startService, type RunningService } from '../../src/demo/services/index';
import { readTopology, TopologyError } from '../../src/demo/topology';
import { classify, Tally, Trickle } from '../../src/demo/traffic';
import type { ConfigIssue } from '../../src/lib/config-error';
import { BOOTSTRAP_TYPE } from '../../src/xds/bootstrap';
import { decodeJson } from '../../src/xds/decode';
import { startProxy, tempDir, waitFor } from '../helpers/proxy';
import { closedPort } from '../helpers/upstream';

/** What `weft demo` reads from the mesh YAML and the bootstraps it writes, checked without a control plane. */

const EXAMPLES = path.join(__dirname, '..', '..', '..', 'examples', 'demo');

function copyExamples(tmp: { dir: string }, name: string): string {
  const dir = path.join(tmp.dir, name);
  fs.cpSync(EXAMPLES, dir, { recursive: true });
  return dir;
}

function problemsOf(dir: string): string {
  try {
    readTopology(dir);
  } catch (e) {
    assert.ok(e instanceof TopologyError, String(e));
    return e.message;
  }
  assert.fail('expected a TopologyError');
}

describe('demo topology from examples/demo', () => {
  const tmp = tempDir('weft-demo-topo-');
  after(() => tmp.remove());

  test('six workloads, each with its Pod IP, app port, admin and egress from its Sidecar', () => {
    const topo = readTopology(EXAMPLES);
    const rows = topo.workloads.map((w) => `${w.pod} ${w.ip} ${w.ingress.host}:${w.ingress.port} app:${w.appListen.port} admin:${w.admin.host}:${w.admin.port}`);
    assert.deepEqual(rows, [
      'front-v1-0 127.0.1.1 127.0.1.1:9080 app:9181 admin:127.0.1.1:15000',
      'details-v1-0 127.0.1.2 127.0.1.2:9080 app:9182 admin:127.0.1.2:15000',
      'reviews-v1-0 127.0.1.3 127.0.1.3:9080 app:9183 admin:127.0.1.3:15000',
      'reviews-v2-0 127.0.1.4 127.0.1.4:9080 app:9184 admin:127.0.1.4:15000',
      'reviews-v3-0 127.0.1.5 127.0.1.5:9080 app:9185 admin:127.0.1.5:15000',
      'ratings-v1-0 127.0.1.6 127.0.1.6:9080 app:9186 admin:127.0.1.6:15000',
    ]);
    assert.equal(topo.front.pod, 'front-v1-0');
    assert.deepEqual(topo.workloads[0].upstreams, [
      'details=details.default.svc.cluster.local:9080@127.0.2.1:9080',
      'reviews=reviews.default.svc.cluster.local:9080@127.0.2.1:9080',
    ]);
    assert.deepEqual(topo.workloads[3].upstreams, ['ratings=ratings.default.svc.cluster.local:9080@127.0.2.4:9080']);
  });

  test('a Pod no Sidecar selects: rejected naming the file, the Pod and what is missing', () => {
    const dir = copyExamples(tmp, 'no-sidecar');
    const f = path.join(dir, 'sidecars.yaml');
    fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace('labels: { app: ratings, version: v1 }', 'labels: { app: ratings, version: v9 }'));
    assert.match(problemsOf(dir), /workloads\.yaml: Pod\/default\/ratings-v1-0: no Sidecar selects it \(spec\.workloadSelector\.labels\)/);
  });

  test('an ingress bind that is not the Pod IP, and a defaultEndpoint not on 127.0.0.1: both reported', () => {
    const dir = copyExamples(tmp, 'bad-ingress');
    const f = path.join(dir, 'sidecars.yaml');
    fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace('bind: 127.0.1.2\n', 'bind: 127.0.1.9\n').replace('defaultEndpoint: 127.0.0.1:9186', 'defaultEndpoint: 10.0.0.1:9186'));
    const msg = problemsOf(dir);
    assert.match(msg, /sidecars\.yaml: Sidecar\/default\/details-v1: spec\.ingress\[0\]\.bind is "127\.0\.1\.9"; it must be the Pod IP 127\.0\.1\.2/);
    assert.match(msg, /Sidecar\/default\/ratings-v1: spec\.ingress\[0\]\.defaultEndpoint must be 127\.0\.0\.1:<port>, where the app listens; got "10\.0\.0\.1:9186"/);
  });

  test('an unknown app label, a Pod IP off loopback, a missing Service, duplicate app ports: each reported', () => {
    const dir = copyExamples(tmp, 'many');
    const w = path.join(dir, 'workloads.yaml');
    fs.writeFileSync(
      w,
      fs.readFileSync(w, 'utf8')
        .replace('labels: { app: details, version: v1 }', 'labels: { app: productpage, version: v1 }')
        .replace('podIP: 127.0.1.6', 'podIP: 10.1.2.3'),
    );
    const s = path.join(dir, 'sidecars.yaml');
    fs.writeFileSync(s, fs.readFileSync(s, 'utf8').replace('defaultEndpoint: 127.0.0.1:9184', 'defaultEndpoint: 127.0.0.1:9183'));
    const svc = path.join(dir, 'services.yaml');
    fs.writeFileSync(svc, fs.readFileSync(svc, 'utf8').replace('name: ratings\n  namespace', 'name: stars\n  namespace'));
    const msg = problemsOf(dir);
    assert.match(msg, /Pod\/default\/details-v1-0: metadata\.labels\.app is "productpage"; the demo's sample services are front, details, reviews, ratings/);
    assert.match(msg, /Pod\/default\/ratings-v1-0: status\.podIP must be an address in 127\.0\.0\.0\/8/);
    assert.match(msg, /Pod\/default\/reviews-v1-0: reviews calls Service default\/ratings, which is not defined/);
    assert.match(msg, /127\.0\.0\.1:9183 is used twice: the app of reviews-v1-0 and the app of reviews-v2-0/);
  });

  test('a YAML syntax error names the file; a missing directory says so', () => {
    const dir = copyExamples(tmp, 'syntax');
    fs.writeFileSync(path.join(dir, 'broken.yaml'), 'kind: Pod\n  metadata: [\n');
    assert.match(problemsOf(dir), /broken\.yaml: YAML syntax error/);
    assert.match(problemsOf(path.join(tmp.dir, 'nope')), /nope is not a directory/);
  });
});

describe('demo bootstraps', () => {
  test('a sidecar bootstrap decodes as an Envoy v3 Bootstrap, with Istio node identity', () => {
    const topo = readTopology(EXAMPLES);
    const w = topo.workloads[3];
    const issues: ConfigIssue[] = [];
    const decoded = decodeJson(BOOTSTRAP_TYPE, sidecarBootstrap(w, { host: '127.0.0.1', port: 15010 }), '', issues);
    assert.deepEqual(issues, []);
    assert.equal(sidecarNodeId(w), 'sidecar~127.0.1.4~reviews-v2-0.default~default.svc.cluster.local');
    const node = decoded?.node as { id: string; cluster: string; metadata: Record<string, unknown> };
    assert.equal(node.cluster, 'reviews.default');
    assert.deepEqual(node.metadata.LABELS, { app: 'reviews', version: 'v2' });
    assert.equal(node.metadata.INTERCEPTION_MODE, 'NONE');
    assert.equal(node.metadata.INSTANCE_IPS, '127.0.1.4');
    const ads = (decoded?.dynamic_resources as { ads_config: { api_type: string } }).ads_config;
    assert.equal(ads.api_type, 'GRPC');
  });

  test('the edge bootstrap runs in Weft and carries a request to the front, which reaches details and reviews', async () => {
    const services: RunningService[] = [];
    let edge: Awaited<ReturnType<typeof startProxy>> | undefined;
    try {
      const details = await startService({ kind: 'details', version: 'v1', upstreams: [] }, '127.0.0.1', 0);
      const reviews = await startService({ kind: 'reviews', version: 'v1', upstreams: [] }, '127.0.0.1', 0);
      services.push(details, reviews);
      const front = await startService(
        {
          kind: 'front',
          version: 'v1',
          upstreams: [parseUpstream(`details=details:9080@127.0.0.1:${details.port}`), parseUpstream(`reviews=reviews:9080@127.0.0.1:${reviews.port}`)],
        },
        '127.0.0.1',
        0,
      );
      services.push(front);
      edge = await startProxy(edgeBootstrap({ host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port: front.port }, false));
      const body = await new Promise<string>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: edge?.port, path: '/api/summary', agent: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        }).on('error', reject);
      });
      const summary = JSON.parse(body) as { reviews_version: string; request_id: string | null; errors: string[] };
      assert.equal(summary.reviews_version, 'v1');
      assert.deepEqual(summary.errors, []);
      assert.match(summary.request_id ?? '', /^[0-9a-f-]{36}$/, 'the edge generates x-request-id');
      assert.equal(classify(200, body), 'v1');
    } finally {
      await edge?.stop();
      for (const s of services) await s.close();
    }
  });

  test('the edge with the front down: 503 UF, the tally counts it as such', async () => {
    const edge = await startProxy(edgeBootstrap({ host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port: await closedPort() }, false));
    try {
      const status = await new Promise<number>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: edge.port, path: '/api/summary', agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject);
      });
      assert.equal(status, 503);
      assert.equal(classify(status, ''), 'HTTP 503');
      assert.equal(await edge.stat('cluster.front.upstream_cx_connect_fail'), 1);
    } finally {
      await edge.stop();
    }
  });
});

describe('demo traffic tally', () => {
  test('classify: version, unavailable, HTTP status, bad body', () => {
    assert.equal(classify(200, '{"reviews_version":"v3"}'), 'v3');
    assert.equal(classify(200, '{"reviews_version":null}'), 'unavailable');
    assert.equal(classify(503, 'no healthy upstream'), 'HTTP 503');
    assert.equal(classify(200, '<html>'), 'bad body');
  });

  test('the window keeps only the last N; totals keep all, with percentages', () => {
    const t = new Tally(4);
    for (const l of ['v1', 'v1', 'v1', 'v1', 'v2', 'v2', 'v3', 'v3']) t.add(l);
    assert.equal(t.count, 8);
    assert.deepEqual([...t.recentCounts().entries()].sort(), [
      ['v2', 2],
      ['v3', 2],
    ]);
    assert.equal(t.render(), 'last 4: v2 2 · v3 2 | total 8: v1 4 (50%) · v2 2 (25%) · v3 2 (25%)');
  });

  test('the trickle sends a steady flow to a real front and tallies who answered; stop() ends it', async () => {
    const details = await startService({ kind: 'details', version: 'v1', upstreams: [] }, '127.0.0.1', 0);
    const reviews = await startService({ kind: 'reviews', version: 'v1', upstreams: [] }, '127.0.0.1', 0);
    const front = await startService(
      {
        kind: 'front',
        version: 'v1',
        upstreams: [parseUpstream(`details=details:9080@127.0.0.1:${details.port}`), parseUpstream(`reviews=reviews:9080@127.0.0.1:${reviews.port}`)],
      },
      '127.0.0.1',
      0,
    );
    const trickle = new Trickle(`http://127.0.0.1:${front.port}/api/summary`, 50, 10);
    try {
      trickle.start();
      await waitFor(() => trickle.tally.count >= 20, 10_000, '20 answers');
      trickle.stop();
      const after = trickle.tally.count;
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(trickle.tally.count, after, 'nothing counted after stop()');
      assert.deepEqual([...trickle.tally.totals.keys()], ['v1']);
      assert.match(trickle.tally.render(), /^last 10: v1 10 \| total \d+: v1 \d+ \(100%\)$/);
    } finally {
      trickle.stop();
      for (const s of [front, reviews, details]) await s.close();
    }
  });
});
