import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { curl } from '../../helpers/curl';
import '../../helpers/proxy';
import { ProxyServer } from '../../../src/proxy/server';
import type { ConfigIssue } from '../../../src/lib/config-error';
import { decodeBinary, encodeBinary } from '../../../src/xds/decode';
import type { DecodedMessage } from '../../../src/xds/decoded';
import { startEchoUpstream, type EchoUpstream } from '../../helpers/upstream';
import { asStaticBootstrap, generateAll, loadSnapshot, sidecarNode } from './harness';

function mesh(ports: Record<string, number>): string {
  const entries = Object.entries(ports).map(([version, port]) => `apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: { name: reviews-${version} }
spec: { address: 127.0.0.1, labels: { app: reviews, version: ${version} }, ports: { http: ${port} } }
---
`).join('');
  return entries + `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: reviews }
spec:
  hosts: [reviews.default.svc.cluster.local]
  ports: [{ number: 9080, name: http, protocol: HTTP }]
  location: MESH_INTERNAL
  resolution: STATIC
  workloadSelector: { labels: { app: reviews } }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews }
spec:
  host: reviews
  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }, { name: v3, labels: { version: v3 } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews }
spec:
  hosts: [reviews.default.svc.cluster.local]
  http:
    - match: [{ headers: { end-user: { exact: jason } } }]
      route: [{ destination: { host: reviews, subset: v2 } }]
    - match: [{ uri: { prefix: /teapot } }]
      directResponse: { status: 418, body: { string: "short and stout" } }
    - route:
        - { destination: { host: reviews, subset: v1 }, weight: 75 }
        - { destination: { host: reviews, subset: v3 }, weight: 25 }
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: client }
spec:
  egress: [{ port: { number: 9080, protocol: HTTP, name: http }, bind: 127.0.0.1, captureMode: NONE, hosts: [./*] }]
`;
}

function get(port: number, agent: http.Agent, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/reviews/1', agent, headers: { host: 'reviews:9080', ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

test('a Weft proxy running the generated captureMode NONE config routes real traffic: header match, direct response, 75/25 split over 1,000 requests', async () => {
  const upstreams: Record<string, EchoUpstream> = {};
  let proxy: ProxyServer | undefined;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-model-e2e-'));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  try {
    for (const v of ['v1', 'v2', 'v3']) upstreams[v] = await startEchoUpstream(v);
    await fs.writeFile(path.join(dir, 'mesh.yaml'), mesh({ v1: upstreams.v1.port, v2: upstreams.v2.port, v3: upstreams.v3.port }));
    const { snapshot, problems } = await loadSnapshot(dir);
    assert.deepEqual(problems, []);
    const g = generateAll(snapshot, sidecarNode('127.0.0.1', 'client-1', { INTERCEPTION_MODE: 'NONE' }));
    assert.deepEqual([...g.listeners.keys()], ['127.0.0.1_9080']);
    // The bootstrap goes over the wire format and back, as xDS would carry its parts.
    const type = 'envoy.config.bootstrap.v3.Bootstrap';
    const issues: ConfigIssue[] = [];
    const decoded = decodeBinary(type, encodeBinary(type, asStaticBootstrap(g, { ephemeralPorts: true })), '', issues) as DecodedMessage;
    assert.deepEqual(issues, []);
    proxy = new ProxyServer(decoded, { drainTimeS: 1 });
    await proxy.start();
    const port = proxy.listenerPorts()['127.0.0.1_9080'];

    const jason = await curl(`http://127.0.0.1:${port}/reviews/1`, ['-H', 'Host: reviews.default.svc.cluster.local', '-H', 'end-user: jason']);
    assert.equal(jason.status, 200);
    assert.equal(upstreams.v2.requests.length, 1, 'the header match went to v2');
    const teapot = await curl(`http://127.0.0.1:${port}/teapot`, ['-H', 'Host: reviews:9080']);
    assert.equal(teapot.status, 418);
    assert.equal(teapot.body.toString(), 'short and stout');

    const N = 1000;
    for (let i = 0; i < N; i += 20) {
      const statuses = await Promise.all(Array.from({ length: 20 }, () => get(port, agent)));
      assert.ok(statuses.every((s) => s === 200), `statuses ${statuses.join(',')}`);
    }
    const v1 = upstreams.v1.requests.length;
    const v3 = upstreams.v3.requests.length;
    assert.equal(v1 + v3, N);
    assert.equal(upstreams.v2.requests.length, 1);
    // 75% of 1,000: the binomial standard deviation is ~14, so ±80 is over 5 sigma.
    assert.ok(Math.abs(v1 - 750) < 80, `v1 got ${v1} of ${N}`);
  } finally {
    agent.destroy();
    await proxy?.shutdown(0);
    for (const u of Object.values(upstreams)) await u.stop();
    await fs.rm(dir, { recursive: true, force: true });
  }
});
