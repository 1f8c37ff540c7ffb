import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import type { ProxyNode } from '../../../src/control/contracts';
import { TYPE_URL } from '../../../src/control/contracts';
import { parseProxy, ProxyIdError } from '../../../src/control/model/proxy';
import type { DecodedMessage } from '../../../src/xds/decoded';
import { fixtureDir, generateAll, loadSnapshot, sidecarNode } from '../generate/harness';

async function withConfig(yaml: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-scope-'));
  try {
    await fs.writeFile(path.join(dir, 'mesh.yaml'), yaml);
    await fn(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

const service = (name: string, ns: string, extra = ''): string =>
  `apiVersion: v1\nkind: Service\nmetadata: { name: ${name}, namespace: ${ns}${extra} }\nspec: { ports: [{ name: http, port: 80 }] }\n---\n`;

test('Sidecar egress.hosts scopes what a proxy receives: ./*, ns/*, */host; exportTo hides services', async () => {
  const yaml =
    service('a', 'shop') + service('b', 'shop') + service('c', 'billing') + service('d', 'billing') + service('e', 'other') +
    service('hidden', 'other', ', annotations: { networking.istio.io/exportTo: "." }') +
    `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: shop }
spec:
  egress: [{ hosts: ["./*", "billing/c.billing.svc.cluster.local", "*/e.other.svc.cluster.local"] }]
  outboundTrafficPolicy: { mode: REGISTRY_ONLY }
`;
  await withConfig(yaml, async (dir) => {
    const { snapshot, problems } = await loadSnapshot(dir);
    assert.deepEqual(problems, []);
    const shop = generateAll(snapshot, sidecarNode('10.0.0.1', 'x-1', {}, 'shop'));
    const hosts = [...shop.clusters.keys()].filter((n) => n.startsWith('outbound|')).map((n) => n.split('|')[3]).sort();
    assert.deepEqual(hosts, ['a.shop.svc.cluster.local', 'b.shop.svc.cluster.local', 'c.billing.svc.cluster.local', 'e.other.svc.cluster.local']);
    const last = (shop.routes.get('80')?.virtual_hosts as DecodedMessage[]).at(-1);
    assert.equal(last?.name, 'block_all', 'REGISTRY_ONLY blocks unknown hosts');
    // Without a Sidecar: everything exported to the namespace.
    const other = generateAll(snapshot, sidecarNode('10.0.0.2', 'y-1', {}, 'billing'));
    const all = [...other.clusters.keys()].filter((n) => n.startsWith('outbound|')).map((n) => n.split('|')[3]).sort();
    assert.deepEqual(all, ['a.shop.svc.cluster.local', 'b.shop.svc.cluster.local', 'c.billing.svc.cluster.local', 'd.billing.svc.cluster.local', 'e.other.svc.cluster.local']);
    const same = generateAll(snapshot, sidecarNode('10.0.0.3', 'z-1', {}, 'other'));
    assert.ok(same.clusters.has('outbound|80||hidden.other.svc.cluster.local'), 'exportTo "." is visible in its own namespace');
  });
});

test('node ids: Istio form required; namespace, labels and workload found from metadata, pod name or IP', async () => {
  const { snapshot } = await loadSnapshot(fixtureDir('mesh'));
  const registry = snapshot.model.registry;
  const byPod = parseProxy(sidecarNode('127.0.1.11', 'reviews-v1'), registry);
  assert.equal(byPod.kind, 'sidecar');
  assert.equal(byPod.workload?.name, 'reviews-v1');
  assert.equal(byPod.labels.version, 'v1', 'labels from the workload when LABELS is absent');
  const byIp = parseProxy({ id: 'sidecar~127.0.1.12~unknown.default~default.svc.cluster.local', cluster: '', metadata: {}, userAgent: 'weft' }, registry);
  assert.equal(byIp.workload?.name, 'reviews-v2');
  assert.equal(byIp.namespace, 'default');
  assert.equal(byIp.interceptionMode, 'REDIRECT');
  const none = parseProxy(sidecarNode('10.9.9.9', 'vm-1', { INTERCEPTION_MODE: 'NONE', LABELS: { app: 'x' } }, 'ns1'), registry);
  assert.equal(none.interceptionMode, 'NONE');
  assert.equal(none.namespace, 'ns1');
  assert.deepEqual(none.labels, { app: 'x' });
  assert.equal(none.workload, undefined);
  assert.throws(() => parseProxy({ id: 'my-proxy', cluster: '', metadata: {}, userAgent: 'envoy' }, registry), ProxyIdError);
  assert.throws(() => parseProxy({ id: 'waypoint~1.2.3.4~a.b~b.svc.cluster.local', cluster: '', metadata: {}, userAgent: 'envoy' }, registry), /unknown proxy type "waypoint"/);
  const bad: ProxyNode = { id: 'nope', cluster: '', metadata: {}, userAgent: 'envoy' };
  assert.deepEqual(snapshot.generate(bad, TYPE_URL.cluster), [], 'a proxy that cannot be placed gets nothing');
});

test('memoised and deterministic: proxies sharing a scope get the same objects; a rebuild gives deep-equal output', async () => {
  const { snapshot } = await loadSnapshot(fixtureDir('mesh'));
  const a = sidecarNode('127.0.1.11', 'reviews-v1');
  const b = sidecarNode('127.0.1.12', 'reviews-v2');
  for (const typeUrl of [TYPE_URL.cluster, TYPE_URL.endpoint, TYPE_URL.listener, TYPE_URL.route]) {
    const ra = snapshot.generate(a, typeUrl);
    assert.equal(snapshot.generate(a, typeUrl), ra, 'the same list for the same proxy');
    const rb = snapshot.generate(b, typeUrl);
    const shared = ra.filter((r) => rb.includes(r));
    if (typeUrl === TYPE_URL.endpoint || typeUrl === TYPE_URL.route) assert.equal(shared.length, ra.length, 'outbound resources are shared objects');
    else assert.ok(shared.length > 0 && shared.length < ra.length, 'outbound shared, inbound per workload');
  }
  const { snapshot: again } = await loadSnapshot(fixtureDir('mesh'));
  assert.equal(again.version, snapshot.version);
  for (const typeUrl of [TYPE_URL.cluster, TYPE_URL.endpoint, TYPE_URL.listener, TYPE_URL.route]) {
    assert.deepStrictEqual(again.generate(a, typeUrl), snapshot.generate(a, typeUrl));
  }
});

test('1,000 services: generation time for a fresh scope (reported, not asserted)', async () => {
  let yaml = '';
  for (let i = 0; i < 1000; i++) {
    yaml += `apiVersion: v1\nkind: Service\nmetadata: { name: svc-${i}, namespace: default }\nspec: { clusterIP: 10.1.${i >> 8}.${i & 255}, selector: { app: svc-${i} }, ports: [{ name: http, port: 8080 }] }\n---\n`;
    yaml += `apiVersion: v1\nkind: Pod\nmetadata: { name: svc-${i}-0, namespace: default, labels: { app: svc-${i}, version: v1 } }\nstatus: { podIP: 10.2.${i >> 8}.${i & 255}, phase: Running }\n---\n`;
    if (i % 10 === 0) {
      yaml += `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: svc-${i} }\nspec: { hosts: [svc-${i}], http: [{ match: [{ headers: { x: { exact: "1" } } }], route: [{ destination: { host: svc-${i} } }] }, { route: [{ destination: { host: svc-${i}, subset: v1 }, weight: 90 }, { destination: { host: svc-${i} }, weight: 10 }] }] }\n---\n`;
      yaml += `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: svc-${i} }\nspec: { host: svc-${i}, subsets: [{ name: v1, labels: { version: v1 } }] }\n---\n`;
    }
  }
  await withConfig(yaml, async (dir) => {
    const t0 = performance.now();
    const { snapshot, problems } = await loadSnapshot(dir);
    const loadMs = performance.now() - t0;
    assert.deepEqual(problems, []);
    const node = sidecarNode('10.2.0.1', 'svc-1-0');
    const t1 = performance.now();
    const counts = [TYPE_URL.cluster, TYPE_URL.endpoint, TYPE_URL.listener, TYPE_URL.route].map((t) => snapshot.generate(node, t).length);
    const genMs = performance.now() - t1;
    const t2 = performance.now();
    snapshot.generate(sidecarNode('10.2.0.2', 'svc-2-0'), TYPE_URL.cluster);
    const secondMs = performance.now() - t2;
    assert.equal(counts[0], 1000 + 100 + 4, 'clusters: 1,000 services, 100 subsets, BlackHole, Passthrough, one inbound, InboundPassthrough');
    console.log(`# 1,000 services: load+model ${loadMs.toFixed(0)} ms; fresh scope CDS/EDS/LDS/RDS ${genMs.toFixed(1)} ms (${counts.join('/')}); second workload ${secondMs.toFixed(1)} ms`);
  });
});

test('one hostname defined in two namespaces gives one set of clusters: the proxy namespace wins', async () => {
  const se = (ns: string, port: number): string => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ext, namespace: ${ns} }
spec: { hosts: [api.example.com], ports: [{ number: 80, name: http, protocol: HTTP }], resolution: STATIC, endpoints: [{ address: 10.9.0.${port} }] }
---
`;
  await withConfig(se('a', 1) + se('b', 2), async (dir) => {
    const { snapshot } = await loadSnapshot(dir);
    for (const [ns, ip] of [['b', '10.9.0.2'], ['a', '10.9.0.1'], ['c', '10.9.0.1']]) {
      const g = generateAll(snapshot, sidecarNode('10.0.0.1', 'p-1', {}, ns));
      assert.equal([...g.clusters.keys()].filter((k) => k === 'outbound|80||api.example.com').length, 1);
      const cla = g.endpoints.get('outbound|80||api.example.com');
      assert.equal(JSON.stringify(cla).includes(`"${ip}"`), true, `namespace ${ns} sees ${ip}`);
    }
  });
});
