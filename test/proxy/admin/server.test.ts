import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startAdmin, handleAdminRequest, type AdminContext, type AdminServer, type ServerState } from '../../../src/proxy/admin/server';
import { StatsStore } from '../../../src/proxy/telemetry/stats';

interface Calls {
  healthFail: boolean[];
  drains: Array<{ inboundOnly: boolean; graceful: boolean }>;
  quit: number;
  reopen: number;
  levels: Record<string, string>;
}

function fakeContext(): { ctx: AdminContext; calls: Calls; setState(s: ServerState): void } {
  const stats = new StatsStore();
  stats.counter('cluster.backend.upstream_rq_200').add(2);
  stats.counter('http.ingress.downstream_rq_total').add(3);
  stats.gauge('server.live').set(1);
  let state: ServerState = 'LIVE';
  const calls: Calls = { healthFail: [], drains: [], quit: 0, reopen: 0, levels: { admin: 'info', upstream: 'info' } };
  const ctx: AdminContext = {
    stats,
    serverInfo: () => ({ version: 'weft/0.1.0', state, uptime_current_epoch: '5s', uptime_all_epochs: '5s', hot_restart_version: 'disabled', command_line_options: {} }),
    isLive: () => state === 'LIVE',
    state: () => state,
    listeners: () => [
      { name: 'ingress', address: '0.0.0.0:8080' },
      { name: 'v6', address: '[::1]:9090' },
    ],
    clustersText: () => 'backend::10.0.0.1:80::cx_active::0\n',
    clustersJson: () => ({ cluster_statuses: [{ name: 'backend' }] }),
    configDump: () => ({
      configs: [
        { '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump', bootstrap: { node: { id: 'n1', cluster: 'c' } } },
        {
          '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
          static_clusters: [{ cluster: { name: 'a', connect_timeout: '1s' } }, { cluster: { name: 'b' } }],
        },
      ],
    }),
    setLogLevel: (level, logger) => {
      if (!['trace', 'debug', 'info', 'warning', 'error', 'critical', 'off'].includes(level)) return false;
      if (logger === undefined) for (const k of Object.keys(calls.levels)) calls.levels[k] = level;
      else if (logger in calls.levels) calls.levels[logger] = level;
      else return false;
      return true;
    },
    logLevels: () => ({ ...calls.levels }),
    setHealthFail: (f) => void calls.healthFail.push(f),
    drainListeners: (o) => void calls.drains.push({ inboundOnly: o.inboundOnly, graceful: o.graceful }),
    quit: () => void calls.quit++,
    memory: () => ({ allocated: '123', heap_size: '456' }),
    reopenLogs: () => void calls.reopen++,
  };
  return { ctx, calls, setState: (s) => (state = s) };
}

let server: AdminServer;
let fake: ReturnType<typeof fakeContext>;
let base: string;

before(async () => {
  fake = fakeContext();
  server = await startAdmin({ address: '127.0.0.1', port: 0, ctx: fake.ctx });
  base = `http://127.0.0.1:${server.port}`;
});

after(async () => {
  await server.close();
});

async function get(p: string, method = 'GET'): Promise<{ status: number; body: string; type: string }> {
  const r = await fetch(base + p, { method });
  return { status: r.status, body: await r.text(), type: r.headers.get('content-type') ?? '' };
}

test('help and 404', async () => {
  const help = await get('/help');
  assert.equal(help.status, 200);
  assert.ok(help.body.startsWith('admin commands are:\n'));
  assert.ok(help.body.includes('  /quitquitquit (POST): exit the server\n'));
  assert.ok(help.body.includes('  /ready: print server state, return 200 if LIVE, otherwise return 503\n'));
  const root = await get('/');
  assert.equal(root.status, 200);
  const nf = await get('/nope');
  assert.equal(nf.status, 404);
  assert.ok(nf.body.startsWith('invalid path. admin commands are:\n'));
  // Prefix must match exactly.
  assert.equal((await get('/statsx')).status, 404);
});

test('/ready and /server_info', async () => {
  let r = await get('/ready');
  assert.deepEqual([r.status, r.body], [200, 'LIVE\n']);
  fake.setState('DRAINING');
  r = await get('/ready');
  assert.deepEqual([r.status, r.body], [503, 'DRAINING\n']);
  fake.setState('LIVE');
  const si = await get('/server_info');
  assert.equal(si.status, 200);
  assert.match(si.type, /application\/json/);
  assert.equal(JSON.parse(si.body).state, 'LIVE');
});

test('mutating endpoints require POST', async () => {
  for (const p of ['/healthcheck/fail', '/healthcheck/ok', '/drain_listeners', '/quitquitquit', '/reopen_logs', '/reset_counters']) {
    const r = await get(p);
    assert.equal(r.status, 405, p);
    assert.equal(r.body, 'Method GET not allowed, POST required.');
  }
  assert.equal(fake.calls.quit, 0);
  assert.deepEqual(fake.calls.healthFail, []);

  assert.equal((await get('/healthcheck/fail', 'POST')).body, 'OK\n');
  assert.equal((await get('/healthcheck/ok', 'POST')).body, 'OK\n');
  assert.deepEqual(fake.calls.healthFail, [true, false]);
  assert.equal((await get('/drain_listeners?inboundonly&graceful', 'POST')).status, 200);
  assert.equal((await get('/drain_listeners', 'POST')).status, 200);
  assert.deepEqual(fake.calls.drains, [
    { inboundOnly: true, graceful: true },
    { inboundOnly: false, graceful: false },
  ]);
  assert.equal((await get('/reopen_logs', 'POST')).status, 200);
  assert.equal(fake.calls.reopen, 1);
  const q = await get('/quitquitquit', 'POST');
  assert.equal(q.body, 'OK\n');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(fake.calls.quit, 1);
});

test('/stats text, json, filter, usedonly and /stats/prometheus', async () => {
  const t = await get('/stats');
  assert.equal(t.body, 'cluster.backend.upstream_rq_200: 2\nhttp.ingress.downstream_rq_total: 3\nserver.live: 1\n');
  const f = await get('/stats?filter=' + encodeURIComponent('^http\\.'));
  assert.equal(f.body, 'http.ingress.downstream_rq_total: 3\n');
  assert.equal((await get('/stats?filter=' + encodeURIComponent('('))).status, 400);
  const j = JSON.parse((await get('/stats?format=json&usedonly')).body);
  assert.deepEqual(j.stats[0], { name: 'cluster.backend.upstream_rq_200', value: 2 });
  const p = await get('/stats/prometheus');
  assert.ok(p.body.includes('# TYPE envoy_cluster_upstream_rq counter\nenvoy_cluster_upstream_rq{envoy_response_code="200",envoy_cluster_name="backend"} 2\n'));
  assert.ok(p.body.includes('envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="ingress"} 3\n'));
});

test('/listeners, /clusters, /memory, /runtime', async () => {
  assert.equal((await get('/listeners')).body, 'ingress::0.0.0.0:8080\nv6::[::1]:9090\n');
  const lj = JSON.parse((await get('/listeners?format=json')).body);
  assert.deepEqual(lj.listener_statuses[1], { name: 'v6', local_address: { socket_address: { address: '::1', port_value: 9090 } } });
  assert.equal((await get('/clusters')).body, 'backend::10.0.0.1:80::cx_active::0\n');
  assert.equal(JSON.parse((await get('/clusters?format=json')).body).cluster_statuses[0].name, 'backend');
  assert.equal(JSON.parse((await get('/memory')).body).allocated, '123');
  assert.deepEqual(JSON.parse((await get('/runtime')).body), { entries: {}, layers: [] });
});

test('/config_dump with resource and mask', async () => {
  const all = JSON.parse((await get('/config_dump')).body);
  assert.equal(all.configs.length, 2);
  const res = JSON.parse((await get('/config_dump?resource=static_clusters')).body);
  assert.equal(res.configs.length, 2);
  const masked = JSON.parse((await get('/config_dump?resource=static_clusters&mask=cluster.name')).body);
  assert.deepEqual(masked.configs, [{ cluster: { name: 'a' } }, { cluster: { name: 'b' } }]);
  const m2 = JSON.parse((await get('/config_dump?mask=bootstrap.node.id')).body);
  assert.deepEqual(m2.configs[0], { '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump', bootstrap: { node: { id: 'n1' } } });
  assert.equal((await get('/config_dump?resource=nothing_here')).status, 404);
});

test('/logging: list, level, paths, bad level', async () => {
  const list = await get('/logging');
  assert.equal(list.status, 200);
  assert.equal(list.body, 'active loggers:\n  admin: info\n  upstream: info\n');
  assert.equal((await get('/logging?level=debug')).status, 405);
  const r = await get('/logging?level=debug', 'POST');
  assert.equal(r.body, 'active loggers:\n  admin: debug\n  upstream: debug\n');
  const r2 = await get('/logging?paths=admin:error,upstream:trace', 'POST');
  assert.equal(r2.body, 'active loggers:\n  admin: error\n  upstream: trace\n');
  const r3 = await get('/logging?upstream=info', 'POST');
  assert.ok(r3.body.includes('upstream: info'));
  assert.equal((await get('/logging?level=loud', 'POST')).status, 404);
});

test('handleAdminRequest works without a socket', () => {
  const r = handleAdminRequest(fakeContext().ctx, 'GET', '/ready');
  assert.deepEqual([r.status, r.body], [200, 'LIVE\n']);
});
