import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from '../../src/xds/type-urls';
import { adsBootstrap, edsCluster, loadAssignment, rdsListener, routeTo, ScriptedAdsServer } from '../helpers/ads-server';
import { startProxy, type RunningProxy } from '../helpers/proxy';
import { startEchoUpstream, type EchoUpstream } from '../helpers/upstream';

/**
 * The proxy driven over ADS by a scripted control plane (test/helpers/ads-server.ts), with real
 * HTTP traffic through it to echo upstreams.
 */

async function get(port: number, path = '/'): Promise<{ status: number; upstream: string; route: string; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, upstream: r.headers.get('x-upstream') ?? '', route: r.headers.get('x-route') ?? '', body: await r.text() };
}

async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Serves a full configuration: cluster `svc` (EDS → `ports`), listener `http` with RDS route `r1`. */
async function serveBasic(ads: ScriptedAdsServer, ports: number[], version = '1'): Promise<void> {
  const c = ads.push(CLUSTER_TYPE, [edsCluster('svc')], version);
  await ads.waitForAnswer(c);
  await ads.waitForRequest((r) => r.req.type_url === ENDPOINT_TYPE && Array.isArray(r.req.resource_names));
  const e = ads.push(ENDPOINT_TYPE, [loadAssignment('svc', ports)], version);
  await ads.waitForAnswer(e);
  const l = await ads.waitForRequest((r) => r.req.type_url === LISTENER_TYPE);
  void l;
  const ln = ads.push(LISTENER_TYPE, [rdsListener('http', 'r1')], version);
  await ads.waitForAnswer(ln);
  await ads.waitForRequest((r) => r.req.type_url === ROUTE_TYPE && JSON.stringify(r.req.resource_names) === '["r1"]');
  const rn = ads.push(ROUTE_TYPE, [routeTo('r1', 'svc', 'v1')], version);
  await ads.waitForAnswer(rn);
}

describe('xDS end to end (scripted control plane)', () => {
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

  it('takes clusters, endpoints, listeners and routes over ADS (SotW) and serves traffic; becomes ready after the initial config', async () => {
    const ads = await ScriptedAdsServer.start();
    let proxy: RunningProxy | undefined;
    try {
      proxy = await startProxy(adsBootstrap(ads));
      assert.equal((await proxy.admin('/ready')).status, 503);
      await serveBasic(ads, [a.port]);
      await proxy.server.whenInitialized();
      assert.equal((await proxy.admin('/ready')).status, 200);
      const port = await until('listener http', () => proxy!.server.listenerPorts().http);
      const r = await get(port);
      assert.equal(r.status, 200);
      assert.equal(r.upstream, 'a');
      assert.equal(r.route, 'v1');
      const stats = await proxy.stats();
      assert.equal(stats['control_plane.connected_state'], 1);
      assert.equal(stats['cluster_manager.cds.update_success'], 1);
      assert.equal(stats['listener_manager.lds.update_success'], 1);
      assert.equal(stats['http.http.rds.r1.update_success'], 1);
      assert.equal(stats['cluster.svc.update_success'], 1);
    } finally {
      await proxy?.stop();
      await ads.stop();
    }
  });
});
