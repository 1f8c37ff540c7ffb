// Responses encoded once and shared by every stream sent the same (SotW and delta), against real
// grpc-js ADS clients; and the caches behind them (shared responses, packed resources) directly.
import { strict as assert } from 'node:assert';
import { after, afterEach, test } from 'node:test';
import { adsChannel, AdsClient, AdsClientOptions } from '../../../bench/control/ads-client';
import { TYPE_URL, type XdsResource } from '../../../src/control/contracts';
import { encodeSotw, PackedResource } from '../../../src/control/server/ads-codec';
import { AdsServer } from '../../../src/control/server/ads-server';
import { packList, packResource } from '../../../src/control/server/resource-cache';
import { SharedResponses } from '../../../src/control/server/shared-responses';
import { ScriptedMesh, ServiceSpec } from './scripted-mesh';

const { listener: LDS, route: RDS, cluster: CDS, endpoint: EDS } = TYPE_URL;
const SERVICES: ServiceSpec[] = [
  { name: 'details', port: 9080, endpoints: [19080] },
  { name: 'reviews', port: 9081, endpoints: [19081, 19082] },
];

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
after(() => setImmediate(() => process.exit(process.exitCode ?? 0)).unref());

async function serve(mesh: ScriptedMesh): Promise<AdsServer> {
  const server = await AdsServer.start(mesh, { xdsAddress: '127.0.0.1:0' });
  cleanups.push(() => server.close());
  return server;
}

function connect(server: AdsServer, options: AdsClientOptions): AdsClient {
  const channel = adsChannel(server.address, { 'weft.test.channel': options.nodeId });
  const client = new AdsClient(channel, options);
  cleanups.push(() => channel.close());
  cleanups.push(() => client.close());
  return client;
}

async function syncAll(client: AdsClient, version: string): Promise<void> {
  client.subscribe(CDS);
  client.subscribe(LDS);
  await client.waitFor(() => [LDS, RDS, CDS, EDS].every((t) => client.version(t) === version), 10_000, `all types at ${version}`);
}

async function allAcked(server: AdsServer, client: AdsClient): Promise<void> {
  await client.waitFor(() => server.proxies().every((p) => [...p.watches.values()].every((w) => w.nonceAcked === w.nonceSent)), 5000, 'ACKs recorded');
}

for (const mode of ['sotw', 'delta'] as const) {
  test(`shared responses (scripted mesh, ${mode}): proxies of one scope get one nonce per response, a proxy of another scope its own; every stream's ACK is recorded`, async () => {
    const mesh = new ScriptedMesh(SERVICES);
    const server = await serve(mesh);
    const a = connect(server, { nodeId: `${mode}-a`, mode });
    const b = connect(server, { nodeId: `${mode}-b`, mode });
    const scoped = connect(server, { nodeId: `${mode}-scoped`, mode, metadata: { SERVICES: ['details'] } });
    for (const c of [a, b, scoped]) await syncAll(c, 'v1');
    await allAcked(server, a);
    for (const t of [LDS, RDS, CDS, EDS]) {
      assert.equal(a.lastNonce(t), b.lastNonce(t), `${t}: same scope, same response`);
      assert.notEqual(a.lastNonce(t), '');
    }
    assert.notEqual(a.lastNonce(CDS), scoped.lastNonce(CDS), 'another scope, other clusters, another response');
    assert.deepEqual(a.names(CDS), b.names(CDS));

    mesh.update('details', { timeoutMs: 3000 });
    for (const c of [a, b, scoped]) await c.waitFor(() => c.version(RDS) === 'v2', 10_000, 'RDS v2');
    assert.equal(a.lastNonce(RDS), b.lastNonce(RDS));
    assert.deepEqual(a.received.at(-1)!.names, ['details']);
    assert.deepEqual(Buffer.from(a.resource(RDS, 'details')!), Buffer.from(b.resource(RDS, 'details')!));
    await allAcked(server, a);
    for (const p of server.proxies()) assert.equal(p.watches.get(RDS)!.versionAcked, 'v2', `${p.id} ACKed v2`);
    assert.equal(server.metrics.expiredNonce.get({ type: 'rds' }), 0);
  });
}

function packed(name: string, body: string): PackedResource {
  return { name, typeUrl: CDS, value: Buffer.from(body), hash: body };
}

test('SharedResponses: shared by list identity or by content, per version; removed names count; past its bounds a response is its own', () => {
  let n = 0;
  let encodes = 0;
  const shared = new SharedResponses(() => String(++n), (versionInfo, typeUrl, nonce, resources) => {
    encodes++;
    return encodeSotw({ versionInfo, typeUrl, nonce, resources });
  }, { entries: 3, bytes: 1 << 20 });
  const list = [packed('a', 'a1'), packed('b', 'b1')];
  const first = shared.get('v1', CDS, list, [], true);
  assert.equal(shared.get('v1', CDS, list, [], true), first);
  // Another array with the same content (a proxy's own selection) shares it by content.
  const byContent = shared.get('v1', CDS, [packed('a', 'a1')], [], false);
  assert.equal(shared.get('v1', CDS, [packed('a', 'a1')], [], false), byContent);
  assert.notEqual(byContent.nonce, first.nonce);
  const withRemoved = shared.get('v1', CDS, [packed('a', 'a1')], ['b'], false);
  assert.notEqual(withRemoved.nonce, byContent.nonce);
  assert.equal(encodes, 3);
  assert.deepEqual(shared.size, { entries: 3, bytes: first.encoded.length + byContent.encoded.length + withRemoved.encoded.length });
  // Full: a fourth distinct response is encoded for its stream alone, each time.
  const x = shared.get('v1', CDS, [packed('c', 'c1')], [], false);
  const y = shared.get('v1', CDS, [packed('c', 'c1')], [], false);
  assert.notEqual(x.nonce, y.nonce);
  assert.equal(shared.size.entries, 3);
  // A new version starts over.
  const next = shared.get('v2', CDS, list, [], true);
  assert.notEqual(next.nonce, first.nonce);
  assert.equal(shared.size.entries, 1);
});

test('packed resources: content unchanged across snapshots keeps its packed object; changed content gets a new one', () => {
  const cluster = (serviceName: string): XdsResource => ({
    name: 'shared-test-cluster',
    resource: { name: 'shared-test-cluster', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} }, service_name: serviceName } },
  });
  const before = packResource(CDS, cluster('one'));
  const same = packResource(CDS, cluster('one'));
  assert.equal(same, before);
  const changed = packResource(CDS, cluster('two'));
  assert.notEqual(changed, before);
  assert.notEqual(changed.hash, before.hash);
  const list = [cluster('two')];
  assert.equal(packList(CDS, list), packList(CDS, list));
  assert.equal(packList(CDS, list)[0], changed);
});
