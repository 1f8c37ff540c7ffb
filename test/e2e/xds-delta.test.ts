import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from '../../src/xds/type-urls';
import { adsBootstrap, edsCluster, get, loadAssignment, rdsListener, routeTo, ScriptedAdsServer, until } from '../helpers/ads-server';
import { startProxy } from '../helpers/proxy';
import { startEchoUpstream, type EchoUpstream } from '../helpers/upstream';

/** Delta xDS and a Unix-socket ADS cluster, against a scripted control plane, with real traffic. */

describe('xDS delta and Unix-socket ADS (scripted control plane)', () => {
  let a: EchoUpstream;
  let b: EchoUpstream;
  before(async () => {
    a = await startEchoUpstream('a');
    b = await startEchoUpstream('b');
  });
  after(async () => {
    await a.stop();
    await b.stop();
  });

  it('DELTA_GRPC: adds, updates and removes resources; removed listeners stop serving', async () => {
    const ads = await ScriptedAdsServer.start();
    const proxy = await startProxy(adsBootstrap(ads, { delta: true }));
    try {
      await ads.waitForRequest((r) => r.delta && r.req.type_url === CLUSTER_TYPE);
      await ads.waitForAnswer(ads.pushDelta(CLUSTER_TYPE, [{ name: 'svc', version: 'c1', resource: edsCluster('svc') }], [], 's1'));
      const eds = await ads.waitForRequest((r) => r.req.type_url === ENDPOINT_TYPE);
      assert.deepEqual(eds.req.resource_names_subscribe, ['svc']);
      await ads.waitForAnswer(ads.pushDelta(ENDPOINT_TYPE, [{ name: 'svc', version: 'e1', resource: loadAssignment('svc', [a.port]) }]));
      await ads.waitForRequest((r) => r.req.type_url === LISTENER_TYPE);
      await ads.waitForAnswer(ads.pushDelta(LISTENER_TYPE, [{ name: 'http', version: 'l1', resource: rdsListener('http', 'r1') }, { name: 'other', version: 'l1', resource: rdsListener('other', 'r1') }]));
      const rds = await ads.waitForRequest((r) => r.req.type_url === ROUTE_TYPE);
      assert.deepEqual(rds.req.resource_names_subscribe, ['r1']);
      await ads.waitForAnswer(ads.pushDelta(ROUTE_TYPE, [{ name: 'r1', version: 'r1', resource: routeTo('r1', 'svc', 'v1') }]));
      await proxy.server.whenInitialized();
      const port = await until('listener http', () => proxy.server.listenerPorts().http);
      const otherPort = await until('listener other', () => proxy.server.listenerPorts().other);
      assert.equal((await get(port)).upstream, 'a');
      assert.equal((await get(otherPort)).upstream, 'a');

      // EDS update, then the listener `other` removed.
      await ads.waitForAnswer(ads.pushDelta(ENDPOINT_TYPE, [{ name: 'svc', version: 'e2', resource: loadAssignment('svc', [b.port]) }]));
      assert.equal((await get(port)).upstream, 'b');
      await ads.waitForAnswer(ads.pushDelta(LISTENER_TYPE, [], ['other']));
      await until('other removed', () => (proxy.server.listenerPorts().other === undefined ? true : undefined));
      await assert.rejects(get(otherPort));
      assert.equal(await proxy.stat('listener_manager.listener_removed'), 1);

      // Removing the cluster unsubscribes its endpoints; its routes then answer 503.
      const from = ads.requests.length;
      await ads.waitForAnswer(ads.pushDelta(CLUSTER_TYPE, [], ['svc']));
      const unsub = await ads.waitForRequest((r) => r.req.type_url === ENDPOINT_TYPE, { from });
      assert.deepEqual(unsub.req.resource_names_unsubscribe, ['svc']);
      assert.equal((await get(port)).status, 503);
      const dump = JSON.parse((await proxy.admin('/config_dump')).body) as { configs: Record<string, unknown>[] };
      const clusters = dump.configs.find((c) => c['@type'] === 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump')!;
      assert.deepEqual(clusters.dynamic_active_clusters, []);
      const listeners = dump.configs.find((c) => c['@type'] === 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump')!;
      const active = (listeners.dynamic_listeners as { name: string; active_state?: unknown }[]).filter((l) => l.active_state !== undefined);
      assert.deepEqual(active.map((l) => l.name), ['http'], 'a removed listener is at most draining');
      assert.equal((active[0].active_state as { version_info: string }).version_info, 'l1', 'delta: the resource version');
    } finally {
      await proxy.stop();
      await ads.stop();
    }
  });

  it('reaches the control plane over a Unix socket (pipe address)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-ads-'));
    const ads = await ScriptedAdsServer.start({ unixPath: path.join(dir, 'ads.sock') });
    const proxy = await startProxy(adsBootstrap(ads));
    try {
      await ads.waitForRequest((r) => r.req.type_url === CLUSTER_TYPE);
      await ads.waitForAnswer(ads.push(CLUSTER_TYPE, [edsCluster('svc')], '1'));
      await ads.waitForAnswer(ads.push(ENDPOINT_TYPE, [loadAssignment('svc', [a.port])], '1'));
      await ads.waitForRequest((r) => r.req.type_url === LISTENER_TYPE);
      await ads.waitForAnswer(ads.push(LISTENER_TYPE, [rdsListener('http', 'r1')], '1'));
      await ads.waitForAnswer(ads.push(ROUTE_TYPE, [routeTo('r1', 'svc')], '1'));
      const port = await until('listener http', () => proxy.server.listenerPorts().http);
      assert.equal((await get(port)).upstream, 'a');
    } finally {
      await proxy.stop();
      await ads.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
