import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from '../../src/xds/type-urls';
import { adsBootstrap, edsCluster, get, loadAssignment, rdsListener, routeTo, ScriptedAdsServer, until } from '../helpers/ads-server';
import { startProxy, type RunningProxy } from '../helpers/proxy';
import { closedPort, startEchoUpstream, type EchoUpstream } from '../helpers/upstream';

/**
 * The proxy driven over ADS by a scripted control plane (test/helpers/ads-server.ts), with real
 * HTTP traffic through it to echo upstreams.
 */

/** Serves a full configuration: cluster `svc` (EDS → `ports`), listener `http` with RDS route `r1`. */
async function serveBasic(ads: ScriptedAdsServer, ports: number[], version = '1'): Promise<void> {
  await ads.waitForRequest((r) => r.req.type_url === CLUSTER_TYPE);
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

  it('a NACKed listener leaves traffic flowing on the old config; error_state and update_rejected show it', async () => {
    const ads = await ScriptedAdsServer.start();
    const proxy = await startProxy(adsBootstrap(ads));
    try {
      await serveBasic(ads, [a.port]);
      const port = await until('listener http', () => proxy.server.listenerPorts().http);
      const bad = rdsListener('http', 'r1', 0, { request_timeout: 0, use_remote_address: true, not_a_field: 1 } as never);
      delete (bad.filter_chains as { filters: { typed_config: Record<string, unknown> }[] }[])[0].filters[0].typed_config.not_a_field;
      (bad as Record<string, unknown>).connection_balance_config = { exact_balance: {} };
      const n = ads.push(LISTENER_TYPE, [bad], '2');
      const nack = await ads.waitForAnswer(n);
      assert.equal(nack.req.version_info, '1');
      assert.match((nack.req.error_detail as { message: string }).message, /Listener\(http\)\.connection_balance_config: /);
      for (let i = 0; i < 20; i++) assert.equal((await get(port)).upstream, 'a');
      assert.equal(await proxy.stat('listener_manager.lds.update_rejected'), 1);
      const dump = JSON.parse((await proxy.admin('/config_dump?resource=dynamic_listeners')).body) as { configs: { name: string; active_state: { version_info: string }; error_state: { details: string; version_info: string } }[] };
      const l = dump.configs.find((x) => x.name === 'http')!;
      assert.equal(l.active_state.version_info, '1');
      assert.equal(l.error_state.version_info, '2');
      assert.match(l.error_state.details, /connection_balance_config/);
      // A bad route configuration is NACKed too, and the old routes keep serving.
      const rn = ads.push(ROUTE_TYPE, [{ ...routeTo('r1', 'svc', 'v2'), virtual_hosts: [{ name: 'x', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'svc', timeout: -1000 } }] }] }], '2');
      const rnack = await ads.waitForAnswer(rn);
      assert.ok(rnack.req.error_detail, 'RDS NACK');
      assert.equal((await get(port)).route, 'v1');
      assert.equal(await proxy.stat('http.http.rds.r1.update_rejected'), 1);
    } finally {
      await proxy.stop();
      await ads.stop();
    }
  });

  it('a listener update drains old connections (in-flight requests finish on the old routes) while new connections use the new ones', async () => {
    const ads = await ScriptedAdsServer.start();
    const proxy = await startProxy(adsBootstrap(ads));
    try {
      await serveBasic(ads, [a.port]);
      const c2 = ads.push(CLUSTER_TYPE, [edsCluster('svc'), edsCluster('svc2')], '2');
      await ads.waitForAnswer(c2);
      await ads.waitForRequest((r) => r.req.type_url === ENDPOINT_TYPE && (r.req.resource_names as string[] | undefined)?.includes('svc2') === true);
      await ads.waitForAnswer(ads.push(ENDPOINT_TYPE, [loadAssignment('svc', [a.port]), loadAssignment('svc2', [b.port])], '2'));
      const port = await until('listener http', () => proxy.server.listenerPorts().http);
      // A slow request in flight on a keep-alive connection.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const slow = httpGet(port, '/slow', { 'x-delay-ms': '400' }, agent);
      await until('request at upstream a', () => (a.requests.some((r) => r.url === '/slow') ? true : undefined));
      // The listener now names route r2, which warms it until r2 arrives.
      await ads.waitForAnswer(ads.push(LISTENER_TYPE, [rdsListener('http', 'r2')], '2'));
      const warming = JSON.parse((await proxy.admin('/config_dump?resource=dynamic_listeners')).body) as { configs: { warming_state?: unknown }[] };
      assert.ok(warming.configs[0].warming_state, 'warming until its routes arrive');
      assert.equal((await get(port)).route, 'v1', 'still the old listener while the new one warms');
      await ads.waitForAnswer(ads.push(ROUTE_TYPE, [routeTo('r2', 'svc2', 'v2')], '2'));
      // An idle pooled keep-alive connection may be closed by the drain just as fetch reuses it.
      await until('new routes', async () => ((await get(port).catch(() => undefined))?.route === 'v2' ? true : undefined));
      const old = await slow;
      assert.equal(old.status, 200);
      assert.equal(old.headers['x-upstream'], 'a', 'the request in flight finished on the config it started with');
      assert.equal(old.headers['x-route'], 'v1');
      assert.equal(old.headers.connection, 'close', 'the old connection drains');
      agent.destroy();
      assert.equal(await proxy.stat('listener_manager.listener_modified'), 1);
      const r = await get(port);
      assert.equal(r.upstream, 'b');
    } finally {
      await proxy.stop();
      await ads.stop();
    }
  });

  it('a new EDS cluster warms until its endpoints arrive; routes to it answer 503 NC meanwhile (scripted control plane)', async () => {
    const ads = await ScriptedAdsServer.start();
    const proxy = await startProxy(adsBootstrap(ads));
    try {
      await serveBasic(ads, [a.port]);
      const port = await until('listener http', () => proxy.server.listenerPorts().http);
      await ads.waitForAnswer(ads.push(CLUSTER_TYPE, [edsCluster('svc'), edsCluster('svc2')], '2'));
      await ads.waitForAnswer(ads.push(ROUTE_TYPE, [routeTo('r1', 'svc2', 'v2')], '2'));
      const dump = JSON.parse((await proxy.admin('/config_dump?resource=dynamic_warming_clusters')).body) as { configs: { cluster: { name: string } }[] };
      assert.deepEqual(dump.configs.map((c) => c.cluster.name), ['svc2']);
      const r = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(r.status, 503);
      await r.text();
      assert.equal(await proxy.stat('cluster_manager.warming_clusters'), 1);
      assert.equal(await proxy.stat('cluster_manager.active_clusters'), 2, 'xds_cluster and svc');
      assert.equal(await proxy.stat('cluster_manager.cluster_added'), 2);
      assert.equal(await proxy.stat('http.http.no_cluster'), 1);
      await ads.waitForAnswer(ads.push(ENDPOINT_TYPE, [loadAssignment('svc2', [b.port])], '2'));
      await until('svc2 warm', async () => ((await get(port)).upstream === 'b' ? true : undefined));
      assert.equal(await proxy.stat('cluster_manager.warming_clusters'), 0);
      assert.equal(await proxy.stat('cluster_manager.active_clusters'), 3);
      const eds = JSON.parse((await proxy.admin('/config_dump?include_eds&resource=dynamic_endpoint_configs')).body) as { configs: { version_info: string; endpoint_config: { cluster_name: string } }[] };
      assert.deepEqual(eds.configs.map((c) => [c.endpoint_config.cluster_name, c.version_info]), [['svc', '1'], ['svc2', '2']]);
    } finally {
      await proxy.stop();
      await ads.stop();
    }
  });

  it('EDS updates move traffic: weights over 400 requests, then all to the remaining endpoint', async () => {
    const ads = await ScriptedAdsServer.start();
    const proxy = await startProxy(adsBootstrap(ads));
    try {
      await serveBasic(ads, [a.port]);
      const port = await until('listener http', () => proxy.server.listenerPorts().http);
      await ads.waitForAnswer(ads.push(ENDPOINT_TYPE, [loadAssignment('svc', [a.port, b.port], [1, 3])], '2'));
      const count = { a: 0, b: 0 } as Record<string, number>;
      for (let i = 0; i < 400; i++) count[(await get(port)).upstream]++;
      assert.equal(count.a + count.b, 400);
      assert.ok(count.b > count.a * 2, `weights 1:3 → ${JSON.stringify(count)}`);
      await ads.waitForAnswer(ads.push(ENDPOINT_TYPE, [loadAssignment('svc', [b.port])], '3'));
      for (let i = 0; i < 50; i++) assert.equal((await get(port)).upstream, 'b');
    } finally {
      await proxy.stop();
      await ads.stop();
    }
  });

  it('control plane restart: the proxy keeps serving, reconnects, resubscribes and takes new config', async () => {
    const ads = await ScriptedAdsServer.start();
    const proxy = await startProxy(adsBootstrap(ads));
    let ads2: ScriptedAdsServer | undefined;
    try {
      await serveBasic(ads, [a.port]);
      const port = await until('listener http', () => proxy.server.listenerPorts().http);
      const adsPort = ads.port;
      await ads.stop();
      await until('disconnected', async () => ((await proxy.stat('control_plane.connected_state')) === 0 ? true : undefined));
      for (let i = 0; i < 10; i++) assert.equal((await get(port)).upstream, 'a');
      ads2 = await ScriptedAdsServer.start({ port: adsPort });
      const srv = ads2;
      for (const t of [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE]) {
        const r = await srv.waitForRequest((x) => x.req.type_url === t);
        assert.equal(r.req.version_info, '1', `${t} resubscribed with its last version`);
      }
      assert.deepEqual((await srv.waitForRequest((x) => x.req.type_url === ROUTE_TYPE)).req.resource_names, ['r1']);
      await srv.waitForAnswer(srv.push(ROUTE_TYPE, [routeTo('r1', 'svc', 'after-restart')], '2'));
      assert.equal((await get(port)).route, 'after-restart');
      assert.equal(await proxy.stat('control_plane.connected_state'), 1);
    } finally {
      await proxy.stop();
      await ads.stop();
      await ads2?.stop();
    }
  });

  it('a listener moved to another port binds a new socket and the old port stops; an absent listener (SotW) is removed', async () => {
    const ads = await ScriptedAdsServer.start();
    const proxy = await startProxy(adsBootstrap(ads));
    try {
      await serveBasic(ads, [a.port]);
      const oldPort = await until('listener http', () => proxy.server.listenerPorts().http);
      const free = await closedPort();
      await ads.waitForAnswer(ads.push(LISTENER_TYPE, [rdsListener('http', 'r1', free), rdsListener('extra', 'r1')], '2'));
      await until('moved', () => (proxy.server.listenerPorts().http === free ? true : undefined));
      assert.equal((await get(free)).upstream, 'a');
      await until('old port closed', async () => ((await get(oldPort).then(() => false, () => true)) ? true : undefined));
      assert.ok(proxy.server.listenerPorts().extra);
      await ads.waitForAnswer(ads.push(LISTENER_TYPE, [rdsListener('http', 'r1', free)], '3'));
      await until('extra removed', () => (proxy.server.listenerPorts().extra === undefined ? true : undefined));
      assert.equal(await proxy.stat('listener_manager.listener_removed'), 1);
      assert.equal(await proxy.stat('listener_manager.total_listeners_active'), 1);
    } finally {
      await proxy.stop();
      await ads.stop();
    }
  });

  it('an updated cluster keeps serving its old version until the new one is warm', async () => {
    const ads = await ScriptedAdsServer.start();
    const proxy = await startProxy(adsBootstrap(ads));
    try {
      await serveBasic(ads, [a.port]);
      const port = await until('listener http', () => proxy.server.listenerPorts().http);
      // svc now takes its endpoints from another EDS service name, not delivered yet.
      const updated = edsCluster('svc', { eds_cluster_config: { service_name: 'svc-v2', eds_config: { ads: {} } } });
      await ads.waitForAnswer(ads.push(CLUSTER_TYPE, [updated], '2'));
      await ads.waitForRequest((r) => r.req.type_url === ENDPOINT_TYPE && (r.req.resource_names as string[] | undefined)?.includes('svc-v2') === true);
      for (let i = 0; i < 10; i++) assert.equal((await get(port)).upstream, 'a', 'the old cluster serves while the new one warms');
      const dump = JSON.parse((await proxy.admin('/config_dump?resource=dynamic_warming_clusters')).body) as { configs: { version_info: string }[] };
      assert.deepEqual(dump.configs.map((c) => c.version_info), ['2']);
      await ads.waitForAnswer(ads.push(ENDPOINT_TYPE, [loadAssignment('svc-v2', [b.port])], '2'));
      await until('new cluster active', async () => ((await get(port)).upstream === 'b' ? true : undefined));
      const prom = (await proxy.admin('/stats/prometheus')).body;
      assert.match(prom, /envoy_control_plane_connected_state\{?[^\n]*\}? 1/);
      assert.match(prom, /envoy_cluster_manager_cds_update_success\{?[^\n]*\}? 2/);
    } finally {
      await proxy.stop();
      await ads.stop();
    }
  });

  it('RDS route configurations carry typed_per_filter_config (fault abort per route), swapped with the routes', async () => {
    const ads = await ScriptedAdsServer.start();
    const proxy = await startProxy(adsBootstrap(ads));
    const FAULT = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';
    try {
      await serveBasic(ads, [a.port]);
      const withFault = rdsListener('http', 'r1', 0, {
        http_filters: [
          { name: 'envoy.filters.http.fault', typed_config: { '@type': FAULT } },
          { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
        ],
      });
      await ads.waitForAnswer(ads.push(LISTENER_TYPE, [withFault], '2'));
      const port = await until('listener http', () => proxy.server.listenerPorts().http);
      const faulty = routeTo('r1', 'svc', 'fault');
      const vh = (faulty.virtual_hosts as Record<string, unknown>[])[0];
      (vh.routes as Record<string, unknown>[]).unshift({
        match: { prefix: '/abort' },
        route: { cluster: 'svc' },
        typed_per_filter_config: { 'envoy.filters.http.fault': { '@type': FAULT, abort: { http_status: 418, percentage: { numerator: 100 } } } },
      });
      await ads.waitForAnswer(ads.push(ROUTE_TYPE, [faulty], '3'));
      await until('fault routes', async () => ((await get(port).catch(() => undefined))?.route === 'fault' ? true : undefined));
      assert.equal((await get(port, '/abort/x')).status, 418);
      assert.equal((await get(port, '/other')).status, 200);
      // An invalid per-route config is NACKed; the fault routes stay.
      const wrong = structuredClone(faulty);
      ((wrong.virtual_hosts as Record<string, unknown>[])[0].routes as Record<string, unknown>[])[0].typed_per_filter_config = {
        'envoy.filters.http.fault': { '@type': FAULT, abort: { http_status: 418, percentage: { numerator: 100 } }, response_rate_limit: { fixed_limit: { limit_kbps: 1 }, percentage: { numerator: 100 } } },
      };
      const nack = await ads.waitForAnswer(ads.push(ROUTE_TYPE, [wrong], '4'));
      assert.match((nack.req.error_detail as { message: string }).message, /RouteConfiguration\(r1\).*typed_per_filter_config/);
      assert.equal((await get(port, '/abort/x')).status, 418);
      await ads.waitForAnswer(ads.push(ROUTE_TYPE, [routeTo('r1', 'svc', 'plain')], '5'));
      assert.equal((await get(port, '/abort/x')).status, 200);
    } finally {
      await proxy.stop();
      await ads.stop();
    }
  });

  it('route churn under load: 20 RDS swaps while 300 keep-alive requests flow, none fails', async () => {
    const ads = await ScriptedAdsServer.start();
    const proxy = await startProxy(adsBootstrap(ads));
    try {
      await serveBasic(ads, [a.port]);
      await ads.waitForAnswer(ads.push(CLUSTER_TYPE, [edsCluster('svc'), edsCluster('svc2')], '2'));
      await ads.waitForAnswer(ads.push(ENDPOINT_TYPE, [loadAssignment('svc', [a.port]), loadAssignment('svc2', [b.port])], '2'));
      const port = await until('listener http', () => proxy.server.listenerPorts().http);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
      const seen = { a: 0, b: 0 } as Record<string, number>;
      let failures = 0;
      const load = (async () => {
        await Promise.all(
          [0, 1, 2, 3].map(async () => {
            for (let i = 0; i < 75; i++) {
              const r = await httpGet(port, '/', {}, agent).catch(() => undefined);
              if (r === undefined || r.status !== 200) failures++;
              else seen[String(r.headers['x-upstream'])]++;
            }
          }),
        );
      })();
      for (let v = 3; v < 23; v++) {
        await ads.waitForAnswer(ads.push(ROUTE_TYPE, [routeTo('r1', v % 2 === 0 ? 'svc' : 'svc2', `v${v}`)], String(v)));
        await new Promise((r) => setTimeout(r, 5));
      }
      await load;
      agent.destroy();
      assert.equal(failures, 0);
      assert.equal(seen.a + seen.b, 300);
      assert.equal(await proxy.stat('http.http.rds.r1.update_success'), 21);
    } finally {
      await proxy.stop();
      await ads.stop();
    }
  });

  it('a NACKed ClusterLoadAssignment or Cluster leaves the endpoints and cluster serving as before', async () => {
    const ads = await ScriptedAdsServer.start();
    const proxy = await startProxy(adsBootstrap(ads));
    try {
      await serveBasic(ads, [a.port]);
      const port = await until('listener http', () => proxy.server.listenerPorts().http);
      const bad = loadAssignment('svc', [b.port]);
      ((bad.endpoints as Record<string, unknown>[])[0].lb_endpoints as Record<string, unknown>[]).push({ endpoint: { address: { socket_address: { address: 'not-an-ip.example', port_value: 80 } } } });
      const nack = await ads.waitForAnswer(ads.push(ENDPOINT_TYPE, [bad], '2'));
      assert.equal(nack.req.version_info, '1');
      assert.match((nack.req.error_detail as { message: string }).message, /ClusterLoadAssignment\(svc\).*not-an-ip\.example/);
      assert.equal(await proxy.stat('cluster.svc.update_rejected'), 1);
      const cnack = await ads.waitForAnswer(ads.push(CLUSTER_TYPE, [edsCluster('svc', { lb_policy: 'CLUSTER_PROVIDED' })], '2'));
      assert.match((cnack.req.error_detail as { message: string }).message, /Cluster\(svc\)\.lb_policy/);
      assert.equal(await proxy.stat('cluster_manager.cds.update_rejected'), 1);
      for (let i = 0; i < 20; i++) assert.equal((await get(port)).upstream, 'a');
      const dump = JSON.parse((await proxy.admin('/config_dump?resource=dynamic_active_clusters')).body) as { configs: { version_info: string; error_state?: { version_info: string } }[] };
      assert.equal(dump.configs[0].version_info, '1');
      assert.equal(dump.configs[0].error_state?.version_info, '2');
    } finally {
      await proxy.stop();
      await ads.stop();
    }
  });

  it('an RDS swap leaves a request in flight on the route it matched; the next request on the same connection takes the new one', async () => {
    const ads = await ScriptedAdsServer.start();
    const proxy = await startProxy(adsBootstrap(ads));
    try {
      await serveBasic(ads, [a.port]);
      await ads.waitForAnswer(ads.push(CLUSTER_TYPE, [edsCluster('svc'), edsCluster('svc2')], '2'));
      await ads.waitForAnswer(ads.push(ENDPOINT_TYPE, [loadAssignment('svc', [a.port]), loadAssignment('svc2', [b.port])], '2'));
      const port = await until('listener http', () => proxy.server.listenerPorts().http);
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const slow = httpGet(port, '/slow-rds', { 'x-delay-ms': '300' }, agent);
      await until('request at upstream a', () => (a.requests.some((r) => r.url === '/slow-rds') ? true : undefined));
      await ads.waitForAnswer(ads.push(ROUTE_TYPE, [routeTo('r1', 'svc2', 'v2')], '2'));
      const first = await slow;
      assert.equal(first.headers['x-upstream'], 'a');
      assert.equal(first.headers['x-route'], 'v1');
      assert.notEqual(first.headers.connection, 'close', 'a route swap does not drain connections');
      const next = await httpGet(port, '/', {}, agent);
      assert.equal(next.headers['x-upstream'], 'b');
      assert.equal(next.headers['x-route'], 'v2');
      agent.destroy();
    } finally {
      await proxy.stop();
      await ads.stop();
    }
  });
});

function httpGet(port: number, path: string, headers: Record<string, string>, agent: http.Agent): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
  });
}
