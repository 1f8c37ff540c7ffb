// The debug and metrics endpoints of the control plane, read over HTTP while real grpc-js ADS
// clients are connected; the mesh is a scripted MeshSource built in the test.
import { strict as assert } from 'node:assert';
import { after, before, test } from 'node:test';
import { adsChannel, AdsClient } from '../../../bench/control/ads-client';
import { TYPE_URL } from '../../../src/control/contracts';
import { DebugServer } from '../../../src/control/debug/debug-server';
import type { ProxySync } from '../../../src/control/debug/syncz';
import { AdsServer } from '../../../src/control/server/ads-server';
import { ScriptedMesh } from './scripted-mesh';

const { listener: LDS, route: RDS, cluster: CDS, endpoint: EDS } = TYPE_URL;
let mesh: ScriptedMesh;
let ads: AdsServer;
let debug: DebugServer;
let good: AdsClient;
let bad: AdsClient;
const channels: Array<{ close(): void }> = [];

async function get(path: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`http://${debug.address}${path}`);
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

before(async () => {
  mesh = new ScriptedMesh([
    { name: 'details', port: 9080, endpoints: [19080] },
    { name: 'reviews', port: 9081, endpoints: [19081, 19082] },
  ]);
  mesh.configProblems = [{ file: 'vs.yaml', resource: 'VirtualService/default/reviews', field: 'spec.http[0].route[0].weight', message: 'must be an integer' }];
  ads = await AdsServer.start(mesh, { xdsAddress: '127.0.0.1:0' });
  debug = await DebugServer.start(ads, '127.0.0.1:0');
  const mk = (nodeId: string, nack?: (r: { typeUrl: string }) => string | undefined): AdsClient => {
    const ch = adsChannel(ads.address, { 'weft.test.channel': nodeId });
    channels.push(ch);
    return new AdsClient(ch, { nodeId, cluster: 'reviews.default', ...(nack ? { nack } : {}) });
  };
  good = mk('sidecar~127.0.0.2~details-1.default~default.svc.cluster.local');
  bad = mk('sidecar~127.0.0.3~reviews-v1.default~default.svc.cluster.local', (r) => (r.typeUrl === LDS ? 'listeners[0]: address already in use' : undefined));
  for (const c of [good, bad]) {
    c.subscribe(CDS);
    c.subscribe(LDS);
  }
  await good.waitFor(() => [LDS, RDS, CDS, EDS].every((t) => good.version(t) === 'v1'), 10_000, 'good synced');
  await bad.waitFor(() => bad.version(EDS) === 'v1' && ads.proxies().some((p) => p.watches.get(LDS)?.lastNack), 10_000, 'bad NACKed');
  await good.waitFor(() => ads.proxies().every((p) => p.watches.get(CDS)?.nonceAcked === p.watches.get(CDS)?.nonceSent), 5000, 'acks in');
});

after(async () => {
  good.close();
  bad.close();
  for (const c of channels) c.close();
  await debug.close();
  await ads.close();
});

test('/debug/syncz lists each proxy with per-type versions, nonces and ACK state, and the last NACK message', async () => {
  const r = await get('/debug/syncz');
  assert.equal(r.status, 200);
  assert.match(r.type, /application\/json/);
  const proxies = JSON.parse(r.body) as ProxySync[];
  assert.equal(proxies.length, 2);
  const g = proxies.find((p) => p.proxy.startsWith('sidecar~127.0.0.2'))!;
  assert.equal(g.cluster, 'reviews.default');
  assert.equal(g.mode, 'sotw');
  assert.equal(g.controlVersion, 'v1');
  assert.deepEqual(g.types.map((t) => [t.type, t.status, t.versionSent, t.versionAcked]), [
    ['cds', 'SYNCED', 'v1', 'v1'],
    ['eds', 'SYNCED', 'v1', 'v1'],
    ['lds', 'SYNCED', 'v1', 'v1'],
    ['rds', 'SYNCED', 'v1', 'v1'],
  ]);
  assert.equal(g.types.find((t) => t.type === 'eds')!.resources, 2);
  const b = proxies.find((p) => p.proxy.startsWith('sidecar~127.0.0.3'))!;
  const lds = b.types.find((t) => t.type === 'lds')!;
  assert.equal(lds.status, 'NACKED');
  assert.equal(lds.lastNack?.message, 'listeners[0]: address already in use');
  // It never accepted a listener, so it asks for no routes: RDS was never sent.
  assert.equal(b.types.find((t) => t.type === 'rds')!.status, 'NOT SENT');
});

test('/metrics serves Prometheus text under istiod metric names', async () => {
  const r = await get('/metrics');
  assert.equal(r.status, 200);
  assert.match(r.body, /^# TYPE pilot_xds gauge$/m);
  assert.match(r.body, /^pilot_xds 2$/m);
  assert.match(r.body, /^pilot_xds_pushes\{type="cds"\} 2$/m);
  assert.match(r.body, /^pilot_total_xds_rejects\{type="lds"\} 1$/m);
  assert.match(r.body, /^pilot_xds_lds_reject 1$/m);
  assert.match(r.body, /^pilot_xds_push_time_count\{type="eds"\} 2$/m);
  assert.match(r.body, /^weft_control_config_problems 1$/m);
  assert.match(r.body, /^process_resident_memory_bytes \d+$/m);
});

test('/debug/config_dump shows what one proxy gets, Envoy-shaped; a prefix is enough; unknown proxies are a 404 that says where to look', async () => {
  const r = await get('/debug/config_dump?proxyID=sidecar~127.0.0.2');
  assert.equal(r.status, 200);
  const dump = JSON.parse(r.body) as { configs: Array<Record<string, unknown>> };
  const types = dump.configs.map((c) => String(c['@type']).split('.').pop());
  assert.deepEqual(types, ['ClustersConfigDump', 'ListenersConfigDump', 'RoutesConfigDump', 'EndpointsConfigDump']);
  const clusters = dump.configs[0].dynamic_active_clusters as Array<{ version_info: string; cluster: { name: string } }>;
  assert.deepEqual(clusters.map((c) => c.cluster.name), ['outbound|9080||details.default.svc.cluster.local', 'outbound|9081||reviews.default.svc.cluster.local']);
  assert.equal(clusters[0].version_info, 'v1');
  const ambiguous = await get('/debug/config_dump?proxyID=sidecar~');
  assert.equal(ambiguous.status, 404);
  assert.match(ambiguous.body, /matches 2 proxies/);
  const missing = await get('/debug/config_dump?proxyID=nobody');
  assert.equal(missing.status, 404);
  assert.match(missing.body, /no connected proxy "nobody".*\/debug\/syncz/);
  assert.equal((await get('/debug/config_dump')).status, 400);
});

test('/debug/config_problems lists skipped resources with file, resource and field; /ready answers; other paths are a 404 listing the endpoints', async () => {
  const p = await get('/debug/config_problems');
  assert.deepEqual(JSON.parse(p.body), mesh.configProblems);
  const ready = await get('/ready');
  assert.equal(ready.status, 200);
  const nf = await get('/nope');
  assert.equal(nf.status, 404);
  assert.match(nf.body, /\/debug\/syncz/);
});
