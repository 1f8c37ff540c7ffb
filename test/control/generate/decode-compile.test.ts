import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { TYPE_URL, type ProxyNode } from '../../../src/control/contracts';
import type { ConfigIssue } from '../../../src/lib/config-error';
import { ConfigError } from '../../../src/lib/config-error';
import { validateBootstrap } from '../../../src/proxy/server';
import { decodeBinary, encodeBinary } from '../../../src/xds/decode';
import type { DecodedMessage } from '../../../src/xds/decoded';
import { typeNameOfUrl } from '../../../src/xds/protos';
import { asStaticBootstrap, fixtureDir, generateAll, get, loadSnapshot, proxylessNode, routerNode, sidecarNode } from './harness';

const NODES: [string, ProxyNode][] = [
  ['sidecar with captureMode NONE', sidecarNode('127.0.1.1', 'productpage-1')],
  ['sidecar with iptables capture', sidecarNode('127.0.1.11', 'reviews-v1')],
  ['router', routerNode({ istio: 'ingressgateway' })],
  ['proxyless gRPC client', proxylessNode()],
];

for (const [label, node] of NODES) {
  test(`every resource for a ${label} encodes and decodes with the real Envoy protos, unchanged`, async () => {
    const { snapshot } = await loadSnapshot(fixtureDir('mesh'));
    let count = 0;
    for (const typeUrl of [TYPE_URL.cluster, TYPE_URL.endpoint, TYPE_URL.listener, TYPE_URL.route]) {
      const type = typeNameOfUrl(typeUrl);
      for (const r of snapshot.generate(node, typeUrl)) {
        const issues: ConfigIssue[] = [];
        const back = decodeBinary(typeUrl, encodeBinary(type, r.resource), r.name, issues);
        assert.deepEqual(issues, [], `${r.name}: ${JSON.stringify(issues)}`);
        assert.deepStrictEqual(back, r.resource, r.name);
        count++;
      }
    }
    assert.ok(count > 5);
  });
}

test("a captureMode NONE sidecar's and a gateway's resources compile with Weft's own proxy compilers", async () => {
  const { snapshot } = await loadSnapshot(fixtureDir('mesh'));
  for (const node of [sidecarNode('127.0.1.1', 'productpage-1'), routerNode({ istio: 'ingressgateway' })]) {
    const g = generateAll(snapshot, node);
    // ORIGINAL_DST clusters (PassthroughCluster) and DNS names in STATIC form are outside this proxy's scope today.
    for (const c of g.clusters.values()) assert.notEqual(c.type, 'ORIGINAL_DST');
    const bootstrap = asStaticBootstrap(g);
    try {
      validateBootstrap(bootstrap);
    } catch (e) {
      if (e instanceof ConfigError) assert.fail(e.message);
      throw e;
    }
    // EDS clusters as generated (with eds_cluster_config over ADS) are accepted too.
    const eds = [...g.clusters.values()].filter((c) => c.type === 'EDS');
    assert.ok(eds.length > 0);
    const withEds = { static_resources: { listeners: [], clusters: eds } };
    validateBootstrap(withEds);
  }
});

test('listeners carry HCMs that name the fault and CORS filters when routes use them', async () => {
  const { snapshot } = await loadSnapshot(fixtureDir('mesh'));
  const g = generateAll(snapshot, sidecarNode('127.0.1.1', 'productpage-1'));
  const hcm = get(g.listeners.get('127.0.2.1_9080'), 'filter_chains', 0, 'filters', 0, 'typed_config') as DecodedMessage;
  const names = (hcm.http_filters as DecodedMessage[]).map((f) => f.name);
  assert.deepEqual(names, ['envoy.filters.http.fault', 'envoy.filters.http.cors', 'envoy.filters.http.router']);
});
