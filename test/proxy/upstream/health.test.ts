import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfigIssue } from '../../../src/lib/config-error';
import { clustersAdminJson, clustersAdminText } from '../../../src/proxy/upstream/admin';
import { parseHealthCheck } from '../../../src/proxy/upstream/health/config';
import { HealthFlag, Host } from '../../../src/proxy/upstream/host';
import { build, count, endpoint, issuesOf, staticCluster } from './helpers';
import { activeHandles, closedPort, startHttp, startTcp, waitFor } from './health-helpers';

function hc(extra: Record<string, unknown>): Record<string, unknown> {
  return { timeout: 1000, interval: 50, unhealthy_threshold: 2, healthy_threshold: 2, no_traffic_interval: 50, ...extra };
}

function parse(v: unknown): { cfg: ReturnType<typeof parseHealthCheck>; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const cfg = parseHealthCheck(v, 'hc', issues);
  return { cfg, issues };
}

test('health check config: Envoy defaults', () => {
  const { cfg, issues } = parse({ timeout: 1000, interval: 5000, unhealthy_threshold: 3, healthy_threshold: 2, http_health_check: { path: '/h' } });
  assert.deepEqual(issues, []);
  assert.ok(cfg);
  assert.equal(cfg.noTrafficIntervalMs, 60000);
  assert.equal(cfg.noTrafficHealthyIntervalMs, 60000);
  assert.equal(cfg.unhealthyIntervalMs, 5000);
  assert.equal(cfg.unhealthyEdgeIntervalMs, 5000);
  assert.equal(cfg.healthyEdgeIntervalMs, 5000);
  assert.equal(cfg.reuseConnection, true);
  assert.equal(cfg.check.kind, 'http');
  if (cfg.check.kind === 'http') {
    assert.deepEqual(cfg.check.expected, [[200, 201]]);
    assert.equal(cfg.check.method, 'GET');
    assert.equal(cfg.check.responseBufferSize, 1024);
  }
});

test('health check config: issues name their paths', () => {
  const paths = (v: unknown): string[] => parse(v).issues.map((i) => i.path);
  assert.deepEqual(paths({ http_health_check: { path: '/h' } }), ['hc.timeout', 'hc.interval', 'hc.unhealthy_threshold', 'hc.healthy_threshold']);
  assert.deepEqual(paths(hc({ http_health_check: { path: '/h', codec_client_type: 'HTTP2' } })), ['hc.http_health_check.codec_client_type']);
  assert.deepEqual(paths(hc({ custom_health_check: { name: 'x' } })), ['hc.custom_health_check']);
  assert.deepEqual(paths(hc({ tcp_health_check: {}, event_log_path: '/tmp/x' })), ['hc.event_log_path']);
  assert.deepEqual(paths(hc({ http_health_check: { path: '/h', send: { text: '00' } } })), ['hc.http_health_check.send']);
  assert.deepEqual(paths(hc({ tcp_health_check: { send: { text: 'zz' } } })), ['hc.tcp_health_check.send.text']);
  assert.deepEqual(paths(hc({ http_health_check: { path: '/h', expected_statuses: [{ start: 300, end: 200 }] } })), [
    'hc.http_health_check.expected_statuses[0]',
  ]);
  assert.deepEqual(paths(hc({})), ['hc']);
  assert.deepEqual(paths(hc({ tcp_health_check: {}, tls_options: {} })), ['hc.tls_options']);
  // Two health checks on one cluster.
  const two = issuesOf(staticCluster('x', [endpoint('127.0.0.1', 1)], { health_checks: [hc({ tcp_health_check: {} }), hc({ tcp_health_check: {} })] }));
  assert.deepEqual(two.map((i) => i.path), ['clusters[0].health_checks']);
});

test('HTTP health check: hosts start failed, leave on 503 at once, return after healthy_threshold', async () => {
  const a = await startHttp();
  const b = await startHttp();
  const { cluster, stats } = build(
    staticCluster('web', [endpoint('127.0.0.1', a.port), endpoint('127.0.0.1', b.port)], {
      health_checks: [hc({ http_health_check: { path: '/healthz' }, unhealthy_threshold: 3, healthy_threshold: 2 })],
    }),
  );
  try {
    const [ha, hb] = cluster.allHosts();
    assert.equal(ha.healthFlagsString, '/failed_active_hc');
    assert.equal(cluster.initialized, false, 'warming until the first round of checks');
    await cluster.whenInitialized();
    assert.equal(ha.healthy, true, 'first successful check makes a host healthy at once');
    assert.equal(hb.healthy, true);
    assert.equal(stats.gauges.get('cluster.web.health_check.healthy')!.value, 2);
    assert.equal(a.last?.url, '/healthz');
    assert.equal(a.last?.headers['host'], 'web');
    assert.equal(a.last?.headers['user-agent'], 'Envoy/HC');

    a.status = 503;
    await waitFor(() => !ha.healthy, 'host a failing');
    assert.equal(ha.healthFlagsString, '/failed_active_hc');
    assert.equal(stats.gauges.get('cluster.web.health_check.healthy')!.value, 1);
    const picks = count(cluster, 20);
    assert.equal(picks.get(ha.key), undefined, 'no traffic to the failed host');
    assert.equal(picks.get(hb.key), 20);
    assert.match(clustersAdminText([cluster]), new RegExp(`web::${ha.key.replace(/\./g, '\\.')}::health_flags::/failed_active_hc`));
    const js = clustersAdminJson([cluster]).cluster_statuses![0].host_statuses!;
    assert.equal(js.find((h) => h.address.socket_address.port_value === a.port)!.health_status.failed_active_health_check, true);

    a.status = 200;
    const succ = stats.counters.get('cluster.web.health_check.success')!;
    const before = succ.value;
    await waitFor(() => ha.healthy, 'host a healthy again');
    // One success leaves it pending; the second (healthy_threshold 2) restores it.
    const attemptsA = stats.counters.get('cluster.web.health_check.success')!.value - before;
    assert.ok(attemptsA >= 2, `needed at least 2 successes, saw ${attemptsA}`);
    assert.ok(stats.counters.get('cluster.web.health_check.failure')!.value >= 1);
    assert.ok(stats.counters.get('cluster.web.health_check.attempt')!.value >= 4);
    assert.equal(stats.counters.get('cluster.web.health_check.network_failure')!.value, 0);
  } finally {
    cluster.close();
    await a.close();
    await b.close();
  }
});

test('HTTP health check: expected_statuses, retriable_statuses, headers, degraded and immediate fail', async () => {
  const s = await startHttp();
  s.status = 204;
  const { cluster, stats } = build(
    staticCluster('st', [endpoint('127.0.0.1', s.port)], {
      health_checks: [
        hc({
          unhealthy_threshold: 3,
          http_health_check: {
            path: '/ready',
            host: 'svc.local',
            expected_statuses: [{ start: 200, end: 300 }],
            retriable_statuses: [{ start: 429, end: 430 }],
            request_headers_to_add: [{ header: { key: 'x-probe', value: 'weft' } }],
            request_headers_to_remove: ['user-agent'],
          },
        }),
      ],
    }),
  );
  try {
    const [h] = cluster.allHosts();
    await waitFor(() => h.healthy, '204 accepted by expected_statuses');
    assert.equal(s.last?.headers['host'], 'svc.local');
    assert.equal(s.last?.headers['x-probe'], 'weft');
    assert.equal(s.last?.headers['user-agent'], undefined);

    // A retriable status counts toward unhealthy_threshold (3) instead of failing at once.
    s.status = 429;
    const fail = stats.counters.get('cluster.st.health_check.failure')!;
    await waitFor(() => fail.value >= 1, 'first retriable failure');
    if (fail.value < 3) assert.equal(h.healthy, true, 'still healthy before the threshold');
    await waitFor(() => !h.healthy, 'unhealthy after 3 retriable failures');
    assert.ok(fail.value >= 3);

    // Degraded.
    s.status = 200;
    s.headers = { 'x-envoy-degraded': '1' };
    await waitFor(() => h.healthFlagGet(HealthFlag.DEGRADED_ACTIVE_HC) && !h.healthFlagGet(HealthFlag.FAILED_ACTIVE_HC), 'degraded');
    assert.equal(h.healthFlagsString, '/degraded_active_hc');
    assert.equal(stats.gauges.get('cluster.st.health_check.degraded')!.value, 1);
    s.headers = {};
    await waitFor(() => h.healthFlags === 0, 'no longer degraded');
    assert.equal(stats.gauges.get('cluster.st.health_check.degraded')!.value, 0);

    // x-envoy-immediate-health-check-fail with a failing status: failed and excluded.
    s.status = 503;
    s.headers = { 'x-envoy-immediate-health-check-fail': 'true' };
    await waitFor(() => h.healthFlagGet(HealthFlag.EXCLUDED_VIA_IMMEDIATE_HC_FAIL) && !h.healthy, 'immediate fail');
    assert.equal(h.excluded, true);
    s.status = 200;
    s.headers = {};
    await waitFor(() => h.healthFlags === 0, 'recovered, exclusion cleared');
  } finally {
    cluster.close();
    await s.close();
  }
});

test('HTTP health check: timeouts mark active_hc_timeout; connect failures are network failures', async () => {
  const s = await startHttp();
  const dead = await closedPort();
  const { cluster, stats } = build(
    staticCluster('to', [endpoint('127.0.0.1', s.port), endpoint('127.0.0.1', dead)], {
      health_checks: [hc({ timeout: 100, unhealthy_threshold: 2, healthy_threshold: 1, http_health_check: { path: '/' } })],
    }),
  );
  try {
    const [h, d] = cluster.allHosts();
    await cluster.whenInitialized();
    assert.equal(h.healthy, true);
    assert.equal(d.healthy, false);
    assert.equal(d.healthFlagsString, '/failed_active_hc');
    assert.ok(stats.counters.get('cluster.to.health_check.network_failure')!.value >= 1);
    s.hang = true;
    await waitFor(() => h.healthFlagGet(HealthFlag.ACTIVE_HC_TIMEOUT), 'timeout flag');
    assert.equal(h.healthFlagsString, '/failed_active_hc/active_hc_timeout');
    s.hang = false;
    await waitFor(() => h.healthy, 'back after a success');
    assert.equal(h.healthFlagGet(HealthFlag.ACTIVE_HC_TIMEOUT), false);
  } finally {
    cluster.close();
    await s.close();
  }
});

test('TCP health check: send/receive payloads and connect-only', async () => {
  const srv = await startTcp(Buffer.from('PING'), Buffer.from('xxPONGyy'));
  const dead = await closedPort();
  const { cluster } = build(
    staticCluster('tcp', [endpoint('127.0.0.1', srv.port)], {
      health_checks: [
        hc({
          tcp_health_check: { send: { text: Buffer.from('PING').toString('hex') }, receive: [{ text: Buffer.from('PO').toString('hex') }, { binary: Buffer.from('NG') }] },
        }),
      ],
    }),
  );
  const { cluster: plain } = build(
    staticCluster('tcp2', [endpoint('127.0.0.1', srv.port), endpoint('127.0.0.1', dead)], {
      health_checks: [hc({ tcp_health_check: {}, reuse_connection: false })],
    }),
  );
  try {
    const [h] = cluster.allHosts();
    await waitFor(() => h.healthy, 'tcp healthy');
    srv.reply = Buffer.from('NOPE');
    // A reply that never matches: the check times out (network) — 2 in a row.
    await waitFor(() => !h.healthy, 'tcp unhealthy on mismatching reply', 15000);
    srv.reply = Buffer.from('PONG');
    await waitFor(() => h.healthy, 'tcp healthy again');
    const [p, d] = plain.allHosts();
    await plain.whenInitialized();
    assert.equal(p.healthy, true);
    assert.equal(d.healthy, false);
  } finally {
    cluster.close();
    plain.close();
    await srv.close();
  }
});

test('health checks follow membership and stop on close (no leaked handles)', async () => {
  const base = activeHandles();
  const a = await startHttp();
  const b = await startHttp();
  const { cluster, stats } = build(
    staticCluster('m', [endpoint('127.0.0.1', a.port)], { health_checks: [hc({ http_health_check: { path: '/' } })] }),
  );
  const hcHealthy = stats.gauges.get('cluster.m.health_check.healthy')!;
  await cluster.whenInitialized();
  assert.equal(hcHealthy.value, 1);
  const nb = new Host({ address: '127.0.0.1', port: b.port });
  cluster.updateHosts(0, [...cluster.allHosts(), nb]);
  assert.equal(nb.healthFlagsString, '/failed_active_hc', 'a new host starts failed');
  await waitFor(() => nb.healthy, 'new host checked');
  assert.equal(hcHealthy.value, 2);
  const hitsA = a.hits;
  cluster.updateHosts(0, [nb]);
  assert.equal(hcHealthy.value, 1);
  await waitFor(() => b.hits > 3, 'b still checked');
  assert.ok(a.hits <= hitsA + 1, 'removed host no longer checked');
  cluster.close();
  assert.equal(cluster.healthChecker!.hostCount, 0);
  await waitFor(() => activeHandles() <= base + 2, 'client sockets closed');
  const hitsB = b.hits;
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(b.hits, hitsB, 'no checks after close');
  await a.close();
  await b.close();
  await waitFor(() => activeHandles() <= base, 'all handles released');
});

test('interval selection: no_traffic_interval until traffic, then interval', async () => {
  const s = await startHttp();
  const { cluster } = build(
    staticCluster('nt', [endpoint('127.0.0.1', s.port)], {
      health_checks: [{ timeout: 1000, interval: 50, unhealthy_threshold: 1, healthy_threshold: 1, no_traffic_interval: 60000, http_health_check: { path: '/' } }],
    }),
  );
  try {
    await cluster.whenInitialized();
    assert.equal(s.hits, 1);
    const hc = cluster.healthChecker!;
    assert.ok(hc.nextInterval(1, 0) >= 60000);
    cluster.markTraffic();
    assert.equal(hc.nextInterval(1, 0), 50);
  } finally {
    cluster.close();
    await s.close();
  }
});
