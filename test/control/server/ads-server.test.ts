// The ADS server against real grpc-js ADS clients (bench/control/ads-client.ts), fed by a scripted
// MeshSource built in the test (the mesh model is another part of the control plane).
import { strict as assert } from 'node:assert';
import * as grpc from '@grpc/grpc-js';
import { after, afterEach, test } from 'node:test';
import { adsChannel, AdsClient, AdsClientOptions } from '../../../bench/control/ads-client';
import { TYPE_URL } from '../../../src/control/contracts';
import { AdsServer, AdsServerOptions } from '../../../src/control/server/ads-server';
import { internedNames } from '../../../src/control/server/resource-cache';
import { MAX_SUBSCRIBED_NAMES } from '../../../src/control/server/type-watch';
import { ScriptedMesh, ServiceSpec } from './scripted-mesh';

const { listener: LDS, route: RDS, cluster: CDS, endpoint: EDS } = TYPE_URL;
const SERVICES: ServiceSpec[] = [
  { name: 'details', port: 9080, endpoints: [19080] },
  { name: 'reviews', port: 9081, endpoints: [19081, 19082] },
  { name: 'ratings', port: 9082, endpoints: [19083] },
];
const CLUSTERS = SERVICES.map((s) => `outbound|${s.port}||${s.name}.default.svc.cluster.local`).sort();

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
after(() => setImmediate(() => process.exit(process.exitCode ?? 0)).unref());

async function serve(mesh: ScriptedMesh, options: AdsServerOptions = {}): Promise<AdsServer> {
  const server = await AdsServer.start(mesh, { xdsAddress: '127.0.0.1:0', ...options });
  cleanups.push(() => server.close());
  return server;
}

function connect(server: AdsServer, options: AdsClientOptions, channelOptions: grpc.ChannelOptions = {}): AdsClient {
  const channel = adsChannel(server.address, { 'weft.test.channel': options.nodeId, ...channelOptions });
  const client = new AdsClient(channel, options);
  cleanups.push(() => channel.close());
  cleanups.push(() => client.close());
  return client;
}

/** Subscribes LDS and CDS (wildcard) and waits until all four types hold `version`. */
async function syncAll(client: AdsClient, version: string): Promise<void> {
  client.subscribe(CDS);
  client.subscribe(LDS);
  await client.waitFor(() => [LDS, RDS, CDS, EDS].every((t) => client.version(t) === version), 10_000, `all types at ${version}`);
}

function typesReceivedAfter(client: AdsClient, index: number): string[] {
  return client.received.slice(index).map((r) => r.typeUrl.slice(r.typeUrl.lastIndexOf('.') + 1));
}

test('SotW (scripted mesh): a proxy gets every listener and cluster, then the routes and endpoints it asks for; the server tracks its ACKs', async () => {
  const mesh = new ScriptedMesh(SERVICES);
  const server = await serve(mesh);
  const client = connect(server, { nodeId: 'sidecar~10.0.0.1~a.default~default.svc.cluster.local', mode: 'sotw' });
  await syncAll(client, 'v1');
  assert.deepEqual(client.names(CDS), CLUSTERS);
  assert.deepEqual(client.names(EDS), CLUSTERS);
  assert.deepEqual(client.names(LDS), ['details_9080', 'ratings_9082', 'reviews_9081']);
  assert.deepEqual(client.names(RDS), ['details', 'ratings', 'reviews']);
  const [proxy] = server.proxies();
  assert.equal(proxy.node?.id, 'sidecar~10.0.0.1~a.default~default.svc.cluster.local');
  assert.equal(proxy.mode, 'sotw');
  await client.waitFor(() => [...proxy.watches.values()].every((w) => w.nonceAcked === w.nonceSent), 5000, 'ACKs recorded');
  for (const w of proxy.watches.values()) assert.equal(w.versionAcked, 'v1', w.short);
  assert.equal(server.metrics.connectedProxies.get(), 1);
});

test('delta (scripted mesh): only changed resources are sent, and removed ones are named in removed_resources', async () => {
  const mesh = new ScriptedMesh(SERVICES);
  const server = await serve(mesh);
  const client = connect(server, { nodeId: 'delta-proxy', mode: 'delta' });
  await syncAll(client, 'v1');
  assert.deepEqual(client.names(EDS), CLUSTERS);
  const mark = client.received.length;
  mesh.update('reviews', { endpoints: [19081] });
  await client.waitFor(() => client.version(EDS) === 'v2', 10_000, 'EDS v2');
  const eds = client.received.slice(mark).filter((r) => r.typeUrl === EDS);
  assert.equal(eds.length, 1);
  assert.deepEqual(eds[0].names, ['outbound|9081||reviews.default.svc.cluster.local']);
  assert.deepEqual(typesReceivedAfter(client, mark), ['ClusterLoadAssignment']);

  const mark2 = client.received.length;
  mesh.set(SERVICES.filter((s) => s.name !== 'ratings'));
  await client.waitFor(() => client.version(LDS) === 'v3' && client.version(CDS) === 'v3', 10_000, 'LDS and CDS v3');
  const cds = client.received.slice(mark2).find((r) => r.typeUrl === CDS)!;
  assert.deepEqual(cds.names, []);
  assert.deepEqual(cds.removed, ['outbound|9082||ratings.default.svc.cluster.local']);
  const lds = client.received.slice(mark2).find((r) => r.typeUrl === LDS)!;
  assert.deepEqual(lds.removed, ['ratings_9082']);
  await client.waitFor(() => client.names(CDS).length === 2);
});

test('SotW (scripted mesh): a change to one route sends RDS only, and a change to everything sends CDS, EDS, LDS, RDS in that order', async () => {
  const mesh = new ScriptedMesh(SERVICES);
  const server = await serve(mesh);
  const client = connect(server, { nodeId: 'order-proxy' });
  await syncAll(client, 'v1');
  const mark = client.received.length;
  mesh.update('details', { timeoutMs: 3000 });
  await client.waitFor(() => client.version(RDS) === 'v2', 10_000, 'RDS v2');
  assert.deepEqual(typesReceivedAfter(client, mark), ['RouteConfiguration']);
  // SotW RDS may carry only the changed route (absent is not deleted for RDS/EDS).
  assert.deepEqual(client.received.at(-1)!.names, ['details']);
  assert.deepEqual(client.names(RDS), ['details', 'ratings', 'reviews']);

  const mark2 = client.received.length;
  mesh.update('reviews', { tag: 'canary' });
  await client.waitFor(() => [LDS, RDS, CDS, EDS].every((t) => client.version(t) === 'v3'), 10_000, 'all at v3');
  assert.deepEqual(typesReceivedAfter(client, mark2), ['Cluster', 'ClusterLoadAssignment', 'Listener', 'RouteConfiguration']);
});

test('debounce (scripted mesh): 20 changes in a burst make one push', async () => {
  const mesh = new ScriptedMesh(SERVICES);
  const server = await serve(mesh);
  const client = connect(server, { nodeId: 'debounce-proxy' });
  await syncAll(client, 'v1');
  const mark = client.received.length;
  for (let i = 1; i <= 20; i++) mesh.update('reviews', { endpoints: [20000 + i] });
  await client.waitFor(() => client.version(EDS) === 'v21', 10_000, 'EDS v21');
  assert.equal(server.metrics.pushTriggers.get(), 1);
  assert.equal(server.metrics.debouncedChanges.get(), 20);
  assert.deepEqual(typesReceivedAfter(client, mark), ['ClusterLoadAssignment']);
  assert.equal(server.metrics.debounceTime.count(), 1);
  assert.equal(server.metrics.convergenceTime.count(), 1);
});

test('NACK (scripted mesh): the rejection is recorded per proxy and type, counted under istiod names, and the version is not resent', async () => {
  const mesh = new ScriptedMesh(SERVICES);
  const server = await serve(mesh);
  const client = connect(server, {
    nodeId: 'nack-proxy',
    nack: (r) => (r.typeUrl === CDS && r.version === 'v2' ? 'clusters[0].lb_policy: MAGLEV is not implemented' : undefined),
  });
  await syncAll(client, 'v1');
  mesh.update('reviews', { clusterLbPolicy: 'MAGLEV' });
  const [proxy] = server.proxies();
  const cds = proxy.watches.get(CDS)!;
  await client.waitFor(() => cds.lastNack !== undefined, 10_000, 'NACK recorded');
  assert.equal(cds.lastNack!.message, 'clusters[0].lb_policy: MAGLEV is not implemented');
  assert.equal(cds.lastNack!.rejectedVersion, 'v2');
  assert.equal(cds.lastNack!.acceptedVersion, 'v1');
  assert.equal(cds.versionAcked, 'v1');
  assert.equal(client.version(CDS), 'v1');
  assert.equal(server.metrics.totalRejects.get({ type: 'cds' }), 1);
  assert.equal(server.metrics.cdsRejects.get(), 1);
  const cdsResponses = client.received.filter((r) => r.typeUrl === CDS).length;
  // An unrelated change does not resend the rejected clusters; a fix does.
  mesh.update('details', { timeoutMs: 1000 });
  await client.waitFor(() => client.version(RDS) === 'v3', 10_000, 'RDS v3');
  assert.equal(client.received.filter((r) => r.typeUrl === CDS).length, cdsResponses);
  mesh.update('reviews', { clusterLbPolicy: 'LEAST_REQUEST' });
  await client.waitFor(() => client.version(CDS) === 'v4', 10_000, 'CDS v4');
  await client.waitFor(() => cds.versionAcked === 'v4', 5000, 'v4 ACKed');
  assert.equal(cds.lastNack, undefined);
});

test('stale nonce (scripted mesh): a request answering an older response is ignored and counted', async () => {
  const mesh = new ScriptedMesh(SERVICES);
  const server = await serve(mesh);
  const client = connect(server, { nodeId: 'stale-proxy' });
  await syncAll(client, 'v1');
  const [proxy] = server.proxies();
  const cds = proxy.watches.get(CDS)!;
  const mark = client.received.length;
  client.send({ type_url: CDS, version_info: 'v0', response_nonce: 'not-a-nonce-we-sent', error_detail: { code: 3, message: 'late' } });
  await client.waitFor(() => server.metrics.expiredNonce.get({ type: 'cds' }) === 1, 5000, 'expired nonce counted');
  assert.equal(cds.lastNack, undefined);
  assert.equal(cds.versionAcked, 'v1');
  assert.equal(client.received.length, mark);
});

test('scoping (scripted mesh): a change is pushed only to the proxies that see it', async () => {
  const mesh = new ScriptedMesh(SERVICES);
  const server = await serve(mesh);
  const a = connect(server, { nodeId: 'proxy-a', metadata: { SERVICES: ['details'] } });
  const b = connect(server, { nodeId: 'proxy-b', metadata: { SERVICES: ['reviews', 'ratings'] } });
  await syncAll(a, 'v1');
  await syncAll(b, 'v1');
  assert.deepEqual(a.names(LDS), ['details_9080']);
  const markA = a.received.length;
  mesh.update('reviews', { endpoints: [30000] });
  await b.waitFor(() => b.version(EDS) === 'v2', 10_000, 'b EDS v2');
  assert.equal(a.received.length, markA);
  assert.equal(server.metrics.pushTriggers.get(), 1);
});

test('disconnect (scripted mesh): a proxy that goes away is forgotten', async () => {
  const mesh = new ScriptedMesh(SERVICES);
  const server = await serve(mesh);
  const client = connect(server, { nodeId: 'leaving-proxy' });
  await syncAll(client, 'v1');
  assert.equal(server.proxies().length, 1);
  client.close();
  await client.waitFor(() => server.proxies().length === 0 || true);
  for (let i = 0; i < 100 && server.proxies().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
  assert.equal(server.proxies().length, 0);
  assert.equal(server.metrics.connectedProxies.get(), 0);
});

test('connection limit (scripted mesh): the stream over the limit ends with RESOURCE_EXHAUSTED and is counted', async () => {
  const mesh = new ScriptedMesh(SERVICES);
  const server = await serve(mesh, { maxConnections: 1 });
  const first = connect(server, { nodeId: 'first' });
  await syncAll(first, 'v1');
  const second = connect(server, { nodeId: 'second' });
  second.subscribe(CDS);
  await assert.rejects(second.waitFor(() => false, 10_000, 'never'), /stream ended/);
  assert.equal(second.ended?.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(second.ended?.details ?? '', /connection limit 1/);
  assert.equal(server.metrics.rejectedConnections.get(), 1);
  assert.equal(server.proxies().length, 1);
});

test('a first request without node.id ends the stream with INVALID_ARGUMENT naming the field', async () => {
  const mesh = new ScriptedMesh(SERVICES);
  const server = await serve(mesh);
  const client = connect(server, { nodeId: '' });
  client.subscribe(CDS);
  await assert.rejects(client.waitFor(() => false, 10_000, 'never'), /stream ended/);
  assert.equal(client.ended?.code, grpc.status.INVALID_ARGUMENT);
  assert.match(client.ended?.details ?? '', /node\.id is empty/);
  assert.equal(server.proxies().length, 0);
});

test('delta (scripted mesh): RDS names are subscribed and unsubscribed one by one; initial_resource_versions avoids resending', async () => {
  const mesh = new ScriptedMesh(SERVICES);
  const server = await serve(mesh);
  const client = connect(server, { nodeId: 'delta-names', mode: 'delta', follow: false });
  client.subscribe(RDS, ['details']);
  await client.waitFor(() => client.names(RDS).length === 1, 10_000, 'details route');
  client.subscribe(RDS, ['reviews']);
  await client.waitFor(() => client.names(RDS).length === 2, 10_000, 'reviews route');
  const second = client.received.at(-1)!;
  assert.deepEqual(second.names, ['reviews']);
  client.unsubscribe(RDS, ['details']);
  const [proxy] = server.proxies();
  await client.waitFor(() => !proxy.watches.get(RDS)!.names.has('details'), 5000, 'unsubscribed');
  assert.deepEqual([...proxy.watches.get(RDS)!.sent.keys()], ['reviews']);

  // A reconnecting proxy that already has a resource at the current version is not sent it again.
  const hash = proxy.watches.get(RDS)!.sent.get('reviews')!;
  const again = connect(server, { nodeId: 'delta-reconnect', mode: 'delta', follow: false });
  again.send({ type_url: RDS, resource_names_subscribe: ['reviews', 'ratings'], initial_resource_versions: { reviews: hash } });
  await again.waitFor(() => again.received.length === 1, 10_000, 'first response');
  assert.deepEqual(again.received[0].names, ['ratings']);
});

test('delta NACK (scripted mesh): recorded with the message, the client keeps the old resource, and a fix is sent', async () => {
  const mesh = new ScriptedMesh(SERVICES);
  const server = await serve(mesh);
  const client = connect(server, {
    nodeId: 'delta-nack',
    mode: 'delta',
    nack: (r) => (r.typeUrl === CDS && r.version === 'v2' ? 'clusters[outbound|9081||reviews.default.svc.cluster.local].lb_policy: not implemented' : undefined),
  });
  await syncAll(client, 'v1');
  const before = client.resource(CDS, 'outbound|9081||reviews.default.svc.cluster.local');
  mesh.update('reviews', { clusterLbPolicy: 'MAGLEV' });
  const [proxy] = server.proxies();
  const cds = proxy.watches.get(CDS)!;
  await client.waitFor(() => cds.lastNack !== undefined, 10_000, 'NACK recorded');
  assert.match(cds.lastNack!.message, /lb_policy: not implemented/);
  assert.equal(server.metrics.totalRejects.get({ type: 'cds' }), 1);
  assert.deepEqual(client.resource(CDS, 'outbound|9081||reviews.default.svc.cluster.local'), before);
  mesh.update('reviews', { clusterLbPolicy: 'RANDOM' });
  await client.waitFor(() => cds.versionAcked === 'v3', 10_000, 'fix ACKed');
  const fixed = client.received.filter((r) => r.typeUrl === CDS).at(-1)!;
  assert.deepEqual(fixed.names, ['outbound|9081||reviews.default.svc.cluster.local']);
});

test('xDS over a Unix socket (scripted mesh): --xds-address unix:/path serves the same protocol', async () => {
  const os = await import('node:os');
  const path = await import('node:path');
  const fs = await import('node:fs');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-ads-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const mesh = new ScriptedMesh(SERVICES);
  const server = await serve(mesh, { xdsAddress: `unix:${path.join(dir, 'xds.sock')}` });
  assert.equal(server.address, `unix:${path.join(dir, 'xds.sock')}`);
  const client = connect(server, { nodeId: 'unix-proxy' });
  await syncAll(client, 'v1');
  assert.deepEqual(client.names(CDS), CLUSTERS);
});

test('bad listen addresses are refused with the accepted forms named', async () => {
  const mesh = new ScriptedMesh(SERVICES);
  await assert.rejects(AdsServer.start(mesh, { xdsAddress: 'localhost' }), /is not host:port or unix:\/path/);
  await assert.rejects(AdsServer.start(mesh, { xdsAddress: 'unix:' }), /needs a socket path/);
});

test('a proxy that stops reading (scripted mesh) is not sent a backlog: pushes and answers wait for the stream to drain, then carry the latest state', async () => {
  const services: ServiceSpec[] = Array.from({ length: 300 }, (_, i) => ({ name: `svc-${i}`, port: 10000 + i, endpoints: [30000 + i] }));
  const mesh = new ScriptedMesh(services);
  const server = await serve(mesh);
  // HTTP/2's default 64 KiB window (not the 16 MiB the simulated proxies use), so a paused reader backs the stream up soon.
  const client = connect(server, { nodeId: 'slow-proxy', follow: false }, { 'grpc-node.flow_control_window': 65_535 });
  client.subscribe(CDS);
  await client.waitFor(() => client.version(CDS) === 'v1', 10_000, 'CDS v1');
  const [proxy] = server.proxies();
  client.pause();
  let pushes = 0;
  for (let i = 1; i <= 60 && !proxy.pushPending; i++) {
    mesh.update('svc-0', { clusterLbPolicy: i % 2 ? 'RANDOM' : 'LEAST_REQUEST', tag: `t${i}` });
    pushes = i;
    await client.waitFor(() => server.metrics.pushTriggers.get() === i, 10_000, `push ${i}`);
  }
  assert.ok(proxy.pushPending, `the stream never backed up after ${pushes} pushes`);
  const sentWhileBlocked = server.metrics.pushes.get({ type: 'cds' });
  for (let i = 0; i < 3; i++) {
    mesh.update('svc-1', { tag: `late${i}` });
    await client.waitFor(() => server.metrics.pushTriggers.get() === pushes + i + 1, 10_000, 'late push');
  }
  // Requests that ask for an answer do not queue answers either: one waits, per type.
  for (let i = 0; i < 20; i++) client.send({ type_url: CDS, resource_names: [] });
  await client.waitFor(() => proxy.watches.get(CDS)!.answerPending, 10_000, 'answer pending');
  assert.equal(server.metrics.pushes.get({ type: 'cds' }), sentWhileBlocked);
  client.resume();
  const latest = mesh.current().version;
  await client.waitFor(() => client.version(CDS) === latest, 20_000, `CDS ${latest}`);
  assert.equal(server.metrics.pushes.get({ type: 'cds' }), sentWhileBlocked + 1);
});

test('push throttle (scripted mesh): with 2 proxies per turn, a push still reaches all 7 proxies, each once', async () => {
  const mesh = new ScriptedMesh(SERVICES);
  const server = await serve(mesh, { pushThrottle: 2 });
  const clients = Array.from({ length: 7 }, (_, i) => connect(server, { nodeId: `throttled-${i}` }));
  for (const c of clients) await syncAll(c, 'v1');
  const before = server.metrics.pushes.get({ type: 'eds' });
  mesh.update('ratings', { endpoints: [40000] });
  for (const c of clients) await c.waitFor(() => c.version(EDS) === 'v2', 10_000, 'EDS v2');
  assert.equal(server.metrics.pushes.get({ type: 'eds' }) - before, 7);
  assert.equal(server.metrics.convergenceTime.count(), 7);
});

test('client-supplied names (scripted mesh): subscribing to names that do not exist keeps no server-wide state once the proxy leaves', async () => {
  const mesh = new ScriptedMesh(SERVICES);
  const server = await serve(mesh);
  const client = connect(server, { nodeId: 'junk-names', mode: 'delta', follow: false });
  client.subscribe(RDS, ['details']);
  await client.waitFor(() => client.names(RDS).length === 1, 10_000, 'details route');
  const internedBefore = internedNames();
  const junk = Array.from({ length: 5000 }, (_, i) => `no-such-route-${i}`);
  const versions = Object.fromEntries(junk.map((n) => [`held-${n}`, 'x']));
  client.send({ type_url: EDS, resource_names_subscribe: junk, initial_resource_versions: versions });
  const [proxy] = server.proxies();
  await client.waitFor(() => proxy.watches.get(EDS)?.names.size === 5000, 10_000, 'junk subscription recorded');
  assert.equal(internedNames(), internedBefore, 'names a client sends never enter the shared intern table');
});

test('delta: initial_resource_versions over the name limit ends the stream with INVALID_ARGUMENT', async () => {
  const mesh = new ScriptedMesh(SERVICES);
  const server = await serve(mesh);
  const client = connect(server, { nodeId: 'too-many-held', mode: 'delta', follow: false });
  const versions: Record<string, string> = {};
  for (let i = 0; i <= MAX_SUBSCRIBED_NAMES; i++) versions[`r${i}`] = '1';
  client.send({ type_url: EDS, resource_names_subscribe: ['r0'], initial_resource_versions: versions });
  await assert.rejects(client.waitFor(() => false, 10_000, 'never'), /stream ended/);
  assert.equal(client.ended?.code, grpc.status.INVALID_ARGUMENT);
  assert.match(client.ended?.details ?? '', /initial_resource_versions has 100001 eds names/);
  assert.equal(server.proxies().length, 0);
});
