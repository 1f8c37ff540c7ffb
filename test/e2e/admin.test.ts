import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { simpleHttpBootstrap, startProxy, waitFor, type RunningProxy } from '../helpers/proxy';
import { getRequest, hasResponses, parseResponses, rawExchange } from '../helpers/raw';
import { startEchoUpstream, type EchoUpstream } from '../helpers/upstream';

describe('admin endpoints on a running proxy', () => {
  let up: EchoUpstream;
  let px: RunningProxy;

  before(async () => {
    up = await startEchoUpstream();
    px = await startProxy(simpleHttpBootstrap(up.port));
    for (let i = 0; i < 3; i++) {
      const r = await request(`http://127.0.0.1:${px.port}/warm/${i}`);
      await r.body.text();
    }
  });
  after(async () => {
    await px?.stop();
    await up?.stop();
  });

  test('/ready and /server_info', async () => {
    const r = await px.admin('/ready');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'LIVE\n');
    const si = await px.admin('/server_info');
    assert.equal(si.status, 200);
    const info = JSON.parse(si.body) as { state: string; version: string; uptime_current_epoch: string };
    assert.equal(info.state, 'LIVE');
    assert.match(info.version, /^weft\//);
    assert.match(info.uptime_current_epoch, /^\d+s$/);
  });

  test('/stats (text, filter, json) counts the requests made', async () => {
    const s = await px.stats();
    assert.equal(s['cluster.backend.upstream_rq_total'], 3);
    assert.equal(s['cluster.backend.upstream_rq_200'], 3);
    assert.equal(s['http.ingress.downstream_rq_2xx'], 3);
    assert.equal(s['server.live'], 1);
    const f = await px.admin('/stats?filter=upstream_rq_total');
    assert.ok(f.body.split('\n').filter(Boolean).every((l) => l.includes('upstream_rq_total')), f.body);
    const j = await px.admin('/stats?format=json');
    const parsed = JSON.parse(j.body) as { stats: Array<{ name: string; value: number }> };
    assert.ok(parsed.stats.some((x) => x.name === 'cluster.backend.upstream_rq_total' && x.value === 3));
  });

  test('/stats/prometheus uses Envoy names and tags', async () => {
    const r = await px.admin('/stats/prometheus');
    assert.equal(r.status, 200);
    assert.match(r.body, /^envoy_cluster_upstream_rq_total\{envoy_cluster_name="backend"\} 3$/m);
    assert.match(r.body, /^# TYPE envoy_cluster_upstream_rq_total counter$/m);
    assert.match(r.body, /envoy_http_downstream_rq_xx\{envoy_response_code_class="2",envoy_http_conn_manager_prefix="ingress"\} 3/);
  });

  test('/clusters and /listeners', async () => {
    const c = await px.admin('/clusters');
    assert.match(c.body, new RegExp(`^backend::127\\.0\\.0\\.1:${up.port}::rq_total::3$`, 'm'));
    assert.match(c.body, new RegExp(`^backend::127\\.0\\.0\\.1:${up.port}::health_flags::healthy$`, 'm'));
    const cj = JSON.parse((await px.admin('/clusters?format=json')).body) as { cluster_statuses: Array<{ name: string }> };
    assert.ok(cj.cluster_statuses.some((x) => x.name === 'backend'));
    const l = await px.admin('/listeners');
    assert.equal(l.body, `ingress::127.0.0.1:${px.port}\n`);
  });

  test('/config_dump holds the bootstrap, clusters and listeners', async () => {
    const r = await px.admin('/config_dump');
    assert.equal(r.status, 200);
    const dump = JSON.parse(r.body) as { configs: Array<Record<string, unknown>> };
    const types = dump.configs.map((c) => c['@type']);
    assert.ok(types.includes('type.googleapis.com/envoy.admin.v3.BootstrapConfigDump'));
    const clusters = dump.configs.find((c) => c['@type'] === 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump') as {
      static_clusters: Array<{ cluster: { name: string } }>;
    };
    assert.deepEqual(
      clusters.static_clusters.map((c) => c.cluster.name),
      ['backend'],
    );
    const listeners = dump.configs.find((c) => c['@type'] === 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump') as {
      static_listeners: Array<{ listener: { name: string } }>;
    };
    assert.equal(listeners.static_listeners[0].listener.name, 'ingress');
  });

  test('/healthcheck/fail and /healthcheck/ok (POST only)', async () => {
    assert.equal((await px.admin('/healthcheck/fail', 'GET')).status, 405);
    assert.equal((await px.admin('/healthcheck/fail', 'POST')).status, 200);
    assert.equal(await px.stat('server.healthcheck_failed'), 1);
    assert.equal((await px.admin('/healthcheck/ok', 'POST')).status, 200);
    assert.equal(await px.stat('server.healthcheck_failed'), 0);
  });

  test('POST /drain_listeners: new connections are refused, /ready is no longer 200', async () => {
    // An idle keep-alive connection made before the drain is closed by it.
    const before = await rawExchange(px.port, getRequest('/before-drain'), { until: hasResponses(1) });
    assert.equal(parseResponses(before.data)[0]?.status, 200);
    assert.equal((await px.admin('/drain_listeners', 'GET')).status, 405);
    assert.equal((await px.admin('/drain_listeners', 'POST')).status, 200);
    await waitFor(
      async () => {
        const r = await rawExchange(px.port, getRequest('/after-drain'), { timeoutMs: 1000 });
        return r.error === 'ECONNREFUSED';
      },
      5000,
      'new connections refused',
    );
    const ready = await px.admin('/ready');
    assert.equal(ready.status, 503);
    assert.equal(ready.body, 'DRAINING\n');
    assert.ok(!up.requests.some((q) => q.url === '/after-drain'));
  });
});
