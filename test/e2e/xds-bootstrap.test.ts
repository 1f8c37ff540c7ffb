import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/lib/config-error';
import { ProxyServer, validateBootstrap } from '../../src/proxy/server';
import { loadBootstrapText } from '../../src/xds/bootstrap';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from '../../src/xds/type-urls';
import { adsBootstrap, edsCluster, get, loadAssignment, rdsListener, routeTo, ScriptedAdsServer, until } from '../helpers/ads-server';
import { startProxy, staticCluster, httpListener, simpleRoutes } from '../helpers/proxy';
import { closedPort, startEchoUpstream } from '../helpers/upstream';

/** dynamic_resources in the bootstrap, initial_fetch_timeout and node identity (scripted control plane). */

function problems(config: object): string[] {
  try {
    validateBootstrap(loadBootstrapText(JSON.stringify(config)).bootstrap);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  return [];
}

describe('xDS bootstrap and initialisation (scripted control plane)', () => {
  it('rejects unsupported dynamic_resources shapes by field path', async () => {
    const ads = await ScriptedAdsServer.start();
    try {
      const base = adsBootstrap(ads) as { dynamic_resources: Record<string, Record<string, unknown>> };
      assert.deepEqual(problems(base), []);
      const rest = structuredClone(base);
      rest.dynamic_resources.ads_config.api_type = 'REST';
      assert.match(problems(rest).join('\n'), /dynamic_resources\.ads_config\.api_type/);
      const other = structuredClone(base);
      other.dynamic_resources.cds_config = { api_config_source: { api_type: 'GRPC', grpc_services: [{ envoy_grpc: { cluster_name: 'elsewhere' } }] } };
      assert.match(problems(other).join('\n'), /dynamic_resources\.cds_config\.api_config_source\.grpc_services: Weft serves every xDS resource over the ADS stream/);
      const missing = structuredClone(base) as Record<string, unknown>;
      missing.static_resources = { clusters: [] };
      assert.match(problems(missing).join('\n'), /envoy_grpc\.cluster_name: cluster 'xds_cluster' must be defined/);
      const noAds = structuredClone(base);
      delete (noAds.dynamic_resources as Record<string, unknown>).ads_config;
      assert.match(problems(noAds).join('\n'), /dynamic_resources\.ads_config: ads_config is required/);
      // rds on a static listener is rejected with a path (RDS is taken by LDS listeners only).
      const rdsStatic = {
        static_resources: {
          listeners: [httpListener('l', simpleRoutes([]))].map((l) => {
            const tc = (l as { filter_chains: { filters: { typed_config: Record<string, unknown> }[] }[] }).filter_chains[0].filters[0].typed_config;
            delete tc.route_config;
            tc.rds = { route_config_name: 'r', config_source: { ads: {} } };
            return l;
          }),
          clusters: [staticCluster('c', [1])],
        },
      };
      assert.match(problems(rdsStatic).join('\n'), /typed_config\.rds: rds needs bootstrap dynamic_resources/);
      const rdsStaticWithAds = structuredClone(base) as unknown as { static_resources: Record<string, unknown> };
      rdsStaticWithAds.static_resources.listeners = rdsStatic.static_resources.listeners;
      assert.deepEqual(problems(rdsStaticWithAds), [], 'with dynamic_resources, static listeners may use rds');
      const badSource = structuredClone(rdsStaticWithAds) as { static_resources: { listeners: { filter_chains: { filters: { typed_config: { rds: Record<string, unknown> } }[] }[] }[] } };
      badSource.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.rds.config_source = { path_config_source: { path: '/tmp/r.yaml' } };
      assert.match(problems(badSource).join('\n'), /rds\.config_source\.path_config_source: field is not implemented/);
    } finally {
      await ads.stop();
    }
  });

  it('becomes ready after initial_fetch_timeout when the control plane never answers, and serves once it does', async () => {
    const ads = await ScriptedAdsServer.start();
    const proxy = await startProxy(adsBootstrap(ads, { initialFetchTimeout: '0.2s' }));
    const up = await startEchoUpstream('a');
    try {
      await proxy.server.whenInitialized();
      assert.equal((await proxy.admin('/ready')).status, 200);
      assert.equal(await proxy.stat('cluster_manager.cds.init_fetch_timeout'), 1);
      assert.equal(await proxy.stat('listener_manager.lds.init_fetch_timeout'), 1);
      // A listener whose routes never come activates after the RDS initial_fetch_timeout and answers 404.
      await ads.waitForAnswer(ads.push(CLUSTER_TYPE, [edsCluster('svc')], '1'));
      await ads.waitForAnswer(ads.push(ENDPOINT_TYPE, [loadAssignment('svc', [up.port])], '1'));
      const l = rdsListener('http', 'never');
      ((l.filter_chains as { filters: { typed_config: { rds: { config_source: Record<string, unknown> } } }[] }[])[0].filters[0].typed_config.rds.config_source).initial_fetch_timeout = 0.2 as never;
      await ads.waitForRequest((r) => r.req.type_url === LISTENER_TYPE);
      await ads.waitForAnswer(ads.push(LISTENER_TYPE, [l], '1'));
      const port = await until('listener http', () => proxy.server.listenerPorts().http);
      assert.equal((await get(port)).status, 404);
      assert.equal(await proxy.stat('http.http.rds.never.init_fetch_timeout'), 1);
    } finally {
      await proxy.stop();
      await up.stop();
      await ads.stop();
    }
  });

  it('with no control plane at all, serves static listeners and reports connected_state 0', async () => {
    const port = await closedPort();
    const fake = { cluster: () => staticCluster('xds_cluster', [port]), port } as unknown as ScriptedAdsServer;
    const up = await startEchoUpstream('s');
    const cfg = adsBootstrap(fake, { initialFetchTimeout: '0.1s' }) as { static_resources: { listeners?: object[]; clusters: object[] } };
    cfg.static_resources.listeners = [httpListener('static', simpleRoutes([{ match: { prefix: '/' }, route: { cluster: 'local' } }]))];
    cfg.static_resources.clusters.push(staticCluster('local', [up.port]));
    const proxy = await startProxy(cfg);
    try {
      await proxy.server.whenInitialized();
      assert.equal((await get(proxy.ports.static)).upstream, 's');
      assert.equal(await proxy.stat('control_plane.connected_state'), 0);
    } finally {
      await proxy.stop();
      await up.stop();
    }
  });

  it('sends node id, cluster, metadata and locality from the bootstrap, overridden by --service-node/--service-cluster/--service-zone', async () => {
    const ads = await ScriptedAdsServer.start();
    const { bootstrap } = loadBootstrapText(JSON.stringify(adsBootstrap(ads)));
    const server = new ProxyServer(bootstrap, { drainTimeS: 0, serviceNode: 'sidecar~10.1.1.1~x.ns~ns.svc.cluster.local', serviceZone: 'zone-b' });
    try {
      await server.start();
      const r = await ads.waitForRequest((x) => x.req.type_url === CLUSTER_TYPE);
      const node = r.req.node as Record<string, unknown>;
      assert.equal(node.id, 'sidecar~10.1.1.1~x.ns~ns.svc.cluster.local');
      assert.equal(node.cluster, 'test');
      assert.deepEqual(node.metadata, { ISTIO_VERSION: '1.22.0' });
      assert.deepEqual(node.locality, { zone: 'zone-b' });
      assert.equal(node.user_agent_name, 'weft');
      // CDS may not replace a static cluster.
      const n = ads.push(CLUSTER_TYPE, [edsCluster('xds_cluster')], '1');
      const nack = await ads.waitForAnswer(n);
      assert.match((nack.req.error_detail as { message: string }).message, /cannot update static cluster 'xds_cluster'/);
    } finally {
      await server.shutdown(0);
      await ads.stop();
    }
  });

  it('an EDS cluster whose endpoints never come activates empty after its eds_config initial_fetch_timeout (503 UH)', async () => {
    const ads = await ScriptedAdsServer.start();
    const proxy = await startProxy(adsBootstrap(ads));
    try {
      await ads.waitForRequest((r) => r.req.type_url === CLUSTER_TYPE);
      const c = edsCluster('svc', { eds_cluster_config: { eds_config: { ads: {}, initial_fetch_timeout: 200 } } });
      await ads.waitForAnswer(ads.push(CLUSTER_TYPE, [c], '1'));
      await ads.waitForRequest((r) => r.req.type_url === LISTENER_TYPE);
      assert.equal(await proxy.stat('cluster.svc.init_fetch_timeout'), 1);
      await ads.waitForAnswer(ads.push(LISTENER_TYPE, [rdsListener('http', 'r1')], '1'));
      await ads.waitForAnswer(ads.push(ROUTE_TYPE, [routeTo('r1', 'svc')], '1'));
      const port = await until('listener http', () => proxy.server.listenerPorts().http);
      assert.equal((await get(port)).status, 503);
      assert.equal(await proxy.stat('cluster.svc.upstream_cx_none_healthy'), 1);
    } finally {
      await proxy.stop();
      await ads.stop();
    }
  });

  it('a static listener takes its routes over RDS; the proxy is ready once they came', async () => {
    const ads = await ScriptedAdsServer.start();
    const up = await startEchoUpstream('st');
    const cfg = adsBootstrap(ads) as { static_resources: { listeners?: object[]; clusters: object[] } };
    cfg.static_resources.listeners = [rdsListener('static', 'sr')];
    cfg.static_resources.clusters.push(staticCluster('local', [up.port]));
    const proxy = await startProxy(cfg);
    try {
      const rds = await ads.waitForRequest((r) => r.req.type_url === ROUTE_TYPE);
      assert.deepEqual(rds.req.resource_names, ['sr']);
      assert.equal((await get(proxy.ports.static)).status, 404, 'no routes yet');
      await ads.waitForAnswer(ads.push(CLUSTER_TYPE, [], '1'));
      await ads.waitForRequest((r) => r.req.type_url === LISTENER_TYPE);
      await ads.waitForAnswer(ads.push(LISTENER_TYPE, [], '1'));
      assert.equal((await proxy.admin('/ready')).status, 503, 'waits for the static listener\'s routes');
      await ads.waitForAnswer(ads.push(ROUTE_TYPE, [routeTo('sr', 'local')], '1'));
      await proxy.server.whenInitialized();
      assert.equal((await proxy.admin('/ready')).status, 200);
      assert.equal((await get(proxy.ports.static)).upstream, 'st');
      assert.equal(await proxy.stat('http.static.rds.sr.update_success'), 1);
    } finally {
      await proxy.stop();
      await up.stop();
      await ads.stop();
    }
  });
});
