import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfigIssue } from '../../../src/lib/config-error';
import { StatsStore } from '../../../src/proxy/telemetry/stats';
import { clustersAdminJson, clustersAdminText } from '../../../src/proxy/upstream/admin';
import { compileClusters } from '../../../src/proxy/upstream/cluster-manager';
import type { DnsResolve } from '../../../src/proxy/upstream/dns';
import { HealthFlag, Host } from '../../../src/proxy/upstream/host';
import { build, endpoint, issuesOf, staticCluster } from './helpers';

const one = [endpoint('127.0.0.1', 8080)];

test('STATIC cluster defaults', () => {
  const { cluster, stats } = build(staticCluster('svc', one));
  assert.equal(cluster.type, 'STATIC');
  assert.equal(cluster.connectTimeoutMs, 5000);
  assert.equal(cluster.lbPolicy, 'ROUND_ROBIN');
  assert.equal(cluster.perConnectionBufferLimitBytes, 1024 * 1024);
  assert.equal(cluster.http.idleTimeoutMs, 3600_000);
  assert.equal(cluster.http.maxRequestsPerConnection, undefined);
  assert.equal(cluster.http.maxHeadersCount, 100);
  assert.equal(cluster.initialized, true);
  assert.equal(cluster.prioritySet.overprovisioningFactor, 140);
  assert.equal(cluster.prioritySet.panicThreshold, 50);
  const [h] = cluster.allHosts();
  assert.equal(h.key, '127.0.0.1:8080');
  assert.equal(h.weight, 1);
  assert.equal(h.healthy, true);
  assert.equal(h.healthFlagsString, 'healthy');
  assert.equal(h.pool, null);
  assert.equal(stats.gauges.get('cluster.svc.membership_total')!.value, 1);
  assert.equal(stats.gauges.get('cluster.svc.membership_healthy')!.value, 1);
  assert.ok(stats.counters.has('cluster.svc.upstream_rq_total'));
  assert.ok(stats.histograms.has('cluster.svc.upstream_rq_time'));
  cluster.close();
});

test('stats: per-code counters are created lazily and cached; alt_stat_name', () => {
  const { cluster, stats } = build(staticCluster('svc', one, { alt_stat_name: 'svc_alt' }));
  assert.equal(cluster.stats.prefix, 'cluster.svc_alt.');
  cluster.stats.chargeResponseCode(200);
  cluster.stats.chargeResponseCode(503);
  cluster.stats.chargeResponseCode(200);
  assert.equal(cluster.stats.rqCode(200), cluster.stats.rqCode(200));
  assert.equal(stats.counters.get('cluster.svc_alt.upstream_rq_200')!.value, 2);
  assert.equal(stats.counters.get('cluster.svc_alt.upstream_rq_2xx')!.value, 2);
  assert.equal(stats.counters.get('cluster.svc_alt.upstream_rq_5xx')!.value, 1);
  assert.equal(stats.counters.get('cluster.svc_alt.upstream_rq_503')!.value, 1);
  assert.equal(stats.counters.has('cluster.svc_alt.upstream_rq_404'), false);
  cluster.close();
});

test('circuit breakers: limits, counters and gauges', () => {
  const { cluster, stats } = build(
    staticCluster('cb', one, {
      circuit_breakers: {
        thresholds: [
          { max_connections: 2, max_pending_requests: 1, max_requests: 3, max_retries: 1, track_remaining: true },
          { priority: 'HIGH', max_connections: 10 },
        ],
      },
    }),
  );
  const cb = cluster.circuitBreakers;
  assert.equal(cb.default.thresholds.max_connections, 2);
  assert.equal(cb.high.thresholds.max_connections, 10);
  assert.equal(cb.high.thresholds.max_retries, 3);
  const g = (n: string) => stats.gauges.get(`cluster.cb.circuit_breakers.default.${n}`)!.value;
  assert.equal(cb.canCreateConnection(), true);
  cb.default.connections.inc();
  assert.equal(g('remaining_cx'), 1);
  cb.default.connections.inc();
  assert.equal(cb.canCreateConnection(), false);
  assert.equal(cb.canCreateConnection(true), true);
  assert.equal(g('cx_open'), 1);
  assert.equal(g('remaining_cx'), 0);
  cb.default.connections.dec();
  assert.equal(g('cx_open'), 0);
  assert.equal(cb.canQueue(), true);
  cb.default.pendingRequests.inc();
  assert.equal(cb.canQueue(), false);
  assert.equal(g('rq_pending_open'), 1);
  for (let i = 0; i < 3; i++) cb.default.requests.inc();
  assert.equal(cb.canSendRequest(), false);
  assert.equal(g('rq_open'), 1);
  cb.default.retries.inc();
  assert.equal(cb.canRetry(), false);
  assert.equal(g('rq_retry_open'), 1);
  assert.ok(stats.gauges.has('cluster.cb.circuit_breakers.high.cx_open'));
  assert.equal(stats.gauges.has('cluster.cb.circuit_breakers.high.remaining_cx'), false);
  // The overflow counters the pool charges exist under Envoy's names.
  cluster.stats.upstream_cx_overflow.inc();
  cluster.stats.upstream_rq_pending_overflow.inc();
  assert.equal(stats.counters.get('cluster.cb.upstream_cx_overflow')!.value, 1);
  assert.equal(stats.counters.get('cluster.cb.upstream_rq_pending_overflow')!.value, 1);
  // Defaults.
  const d = build(staticCluster('cbd', one)).cluster;
  assert.deepEqual(
    [d.circuitBreakers.default.thresholds.max_connections, d.circuitBreakers.default.thresholds.max_pending_requests,
      d.circuitBreakers.default.thresholds.max_requests, d.circuitBreakers.default.thresholds.max_retries],
    [1024, 1024, 1024, 3],
  );
  d.close();
  cluster.close();
});

test('HTTP protocol options: typed extension and legacy fields', () => {
  const { cluster } = build(
    staticCluster('h', one, {
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
          common_http_protocol_options: { idle_timeout: 1500, max_requests_per_connection: 5, max_headers_count: 50, max_connection_duration: 60000 },
          explicit_http_config: { http_protocol_options: {} },
        },
      },
      connect_timeout: 250,
      per_connection_buffer_limit_bytes: 32768,
    }),
  );
  assert.equal(cluster.http.idleTimeoutMs, 1500);
  assert.equal(cluster.http.maxRequestsPerConnection, 5);
  assert.equal(cluster.http.maxHeadersCount, 50);
  assert.equal(cluster.http.maxConnectionDurationMs, 60000);
  assert.equal(cluster.connectTimeoutMs, 250);
  assert.equal(cluster.perConnectionBufferLimitBytes, 32768);
  cluster.close();
  const legacy = build(staticCluster('l', one, { common_http_protocol_options: { idle_timeout: 0 }, max_requests_per_connection: 7 })).cluster;
  assert.equal(legacy.http.idleTimeoutMs, 0);
  assert.equal(legacy.http.maxRequestsPerConnection, 7);
  legacy.close();
});

test('unsupported and invalid fields are issues naming their paths', () => {
  const paths = (d: unknown) => issuesOf(d).map((i) => i.path);
  assert.deepEqual(
    paths(staticCluster('x', one, { transport_socket: { name: 'tls' }, lb_subset_config: {} })),
    ['clusters[0].lb_subset_config', 'clusters[0].transport_socket.typed_config'],
  );
  const h2 = issuesOf(
    staticCluster('x', one, {
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { explicit_http_config: { http3_protocol_options: {} } },
      },
    }),
  );
  assert.equal(h2.length, 1);
  assert.match(h2[0].message, /HTTP\/3 upstream not implemented/);
  assert.match(h2[0].path, /explicit_http_config\.http3_protocol_options$/);
  assert.deepEqual(paths(staticCluster('x', one, { lb_policy: 'CLUSTER_PROVIDED' })), ['clusters[0].lb_policy']);
  assert.deepEqual(paths({ ...staticCluster('x', one), type: 'ORIGINAL_DST' }), ['clusters[0].type']);
  assert.deepEqual(paths(staticCluster('x', [endpoint('example.com', 80)])), ['clusters[0].load_assignment']);
  assert.deepEqual(paths(staticCluster('x', [endpoint('10.0.0.1', 80, { load_balancing_weight: 0 })])), [
    'clusters[0].load_assignment.endpoints[0].lb_endpoints[0].load_balancing_weight',
  ]);
  assert.deepEqual(paths(staticCluster('x', one, { connect_timeout: 0 })), ['clusters[0].connect_timeout']);
  assert.deepEqual(paths(staticCluster('x', one, { common_lb_config: { update_merge_window: 1000 } })), [
    'clusters[0].common_lb_config.update_merge_window',
  ]);
  assert.deepEqual(paths(staticCluster('x', one, { circuit_breakers: { thresholds: [{ retry_budget: {} }] } })), [
    'clusters[0].circuit_breakers.thresholds[0].retry_budget',
  ]);
  assert.deepEqual(paths(staticCluster('x', one, { dns_refresh_rate: 1000 })), ['clusters[0].dns_refresh_rate']);
  assert.deepEqual(paths({ type: 'STATIC' }), ['clusters[0].name']);
  const logical = issuesOf({
    name: 'lg',
    type: 'LOGICAL_DNS',
    load_assignment: { endpoints: [{ lb_endpoints: [endpoint('a.example', 80), endpoint('b.example', 80)] }] },
  });
  assert.match(logical[0].message, /single lb_endpoint/);
});

test('compileClusters: duplicate names, manager get/all/remove', () => {
  const stats = new StatsStore();
  const issues: ConfigIssue[] = [];
  assert.equal(compileClusters([staticCluster('a', one), staticCluster('a', one)], { stats }, 'clusters', issues), undefined);
  assert.deepEqual(issues.map((i) => i.path), ['clusters[1].name']);
  const ok: ConfigIssue[] = [];
  const cm = compileClusters([staticCluster('b', one), staticCluster('a', one)], { stats }, 'clusters', ok)!;
  assert.deepEqual(ok, []);
  assert.deepEqual(cm.all().map((c) => c.name), ['a', 'b']);
  assert.equal(cm.get('a')!.name, 'a');
  assert.equal(stats.counters.get('cluster_manager.cluster_added')!.value, 2);
  assert.equal(cm.remove('a'), true);
  assert.equal(cm.get('a'), undefined);
  const added = cm.addDecoded(staticCluster('c', one), 'cds', ok);
  assert.equal(added!.addedViaApi, true);
  assert.equal(stats.gauges.get('cluster_manager.active_clusters')!.value, 2);
  cm.close();
});

test('EDS: updateHosts keeps existing hosts, drains removed ones, notifies', () => {
  const { cluster, stats } = build({ name: 'eds', type: 'EDS', eds_cluster_config: { service_name: 'svc', eds_config: { ads: {} } } });
  assert.equal(cluster.initialized, false);
  assert.equal(cluster.chooseHost({}), null);
  const events: string[] = [];
  cluster.onHostsChanged((p, added, removed) => events.push(`${p}:+${added.map((h) => h.key)}-${removed.map((h) => h.key)}`));
  const a = new Host({ address: '10.0.0.1', port: 80 });
  const b = new Host({ address: '10.0.0.2', port: 80 });
  cluster.updateHosts(0, [a, b]);
  assert.equal(cluster.initialized, true);
  let drained = 0;
  a.pool = { drain: () => drained++, close: () => {} };
  a.rq_total = 5;
  const ok: ConfigIssue[] = [];
  const applied = cluster.applyLoadAssignment(
    {
      cluster_name: 'svc',
      endpoints: [{ lb_endpoints: [endpoint('10.0.0.2', 80, { load_balancing_weight: 5 }), endpoint('10.0.0.3', 80, { health_status: 'UNHEALTHY' })] }],
      policy: { overprovisioning_factor: 200 },
    },
    'eds',
    ok,
  );
  assert.equal(applied, true);
  assert.deepEqual(ok, []);
  assert.equal(drained, 1);
  const keys = cluster.allHosts().map((h) => h.key);
  assert.deepEqual(keys, ['10.0.0.2:80', '10.0.0.3:80']);
  assert.equal(cluster.allHosts()[0], b, 'same Host object kept');
  assert.equal(b.weight, 5);
  assert.equal(cluster.allHosts()[1].healthFlagsString, '/failed_eds_health');
  assert.equal(cluster.prioritySet.overprovisioningFactor, 200);
  assert.deepEqual(events, ['0:+10.0.0.1:80,10.0.0.2:80-', '0:+10.0.0.3:80-10.0.0.1:80']);
  assert.equal(stats.counters.get('cluster.eds.membership_change')!.value, 2);
  assert.equal(cluster.chooseHost({})!.key, '10.0.0.2:80');
  const bad: ConfigIssue[] = [];
  assert.equal(cluster.applyLoadAssignment({ endpoints: [{ lb_endpoints: [endpoint('not-an-ip', 80)] }] }, 'eds', bad), false);
  assert.equal(bad.length, 1);
  assert.equal(cluster.allHosts().length, 2, 'rejected assignment changes nothing');
  cluster.close();
});

test('STRICT_DNS resolves localhost', async () => {
  const { cluster, stats } = build({
    name: 'dns',
    type: 'STRICT_DNS',
    load_assignment: { endpoints: [{ lb_endpoints: [endpoint('localhost', 9000)] }] },
  });
  assert.equal(cluster.initialized, false);
  assert.equal(cluster.chooseHost({}), null, 'no hosts while warming');
  await cluster.whenInitialized();
  const hosts = cluster.allHosts();
  assert.ok(hosts.length >= 1);
  for (const h of hosts) {
    assert.ok(['127.0.0.1', '::1'].includes(h.address), h.address);
    assert.equal(h.port, 9000);
    assert.equal(h.hostname, 'localhost');
  }
  assert.equal(stats.counters.get('cluster.dns.update_success')!.value, 1);
  cluster.close();
});

test('STRICT_DNS: refresh updates hosts, failures keep them and count', async () => {
  let answer: string[] | Error = ['10.0.0.1', '10.0.0.2'];
  const calls: string[] = [];
  const resolve: DnsResolve = async (name, family) => {
    calls.push(`${name}/${family}`);
    if (answer instanceof Error) throw answer;
    return { addresses: answer };
  };
  const logs: string[] = [];
  const { cluster, stats } = build(
    {
      name: 'sd',
      type: 'STRICT_DNS',
      dns_lookup_family: 'V4_ONLY',
      dns_refresh_rate: 10,
      load_assignment: { endpoints: [{ lb_endpoints: [endpoint('svc.example', 80), endpoint('10.9.9.9', 80)] }] },
    },
    { dnsResolve: resolve, log: (l, m) => logs.push(`${l}:${m}`) },
  );
  assert.deepEqual(cluster.allHosts().map((h) => h.key), ['10.9.9.9:80'], 'IP endpoints skip DNS');
  await cluster.whenInitialized();
  assert.deepEqual(cluster.allHosts().map((h) => h.key), ['10.9.9.9:80', '10.0.0.1:80', '10.0.0.2:80']);
  const kept = cluster.allHosts()[2];
  answer = ['10.0.0.2', '10.0.0.3'];
  await waitFor(() => cluster.allHosts().some((h) => h.key === '10.0.0.3:80'));
  assert.equal(cluster.allHosts().find((h) => h.key === '10.0.0.2:80'), kept);
  answer = new Error('SERVFAIL');
  await waitFor(() => stats.counters.get('cluster.sd.update_failure')!.value > 0);
  assert.equal(cluster.allHosts().length, 3, 'hosts kept on failure');
  assert.ok(logs.some((l) => l.startsWith('warn:') && l.includes('SERVFAIL')));
  assert.equal(calls[0], 'svc.example/V4_ONLY');
  cluster.close();
  const n = calls.length;
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(calls.length, n, 'close() stops the refresh timer');
});

test('LOGICAL_DNS uses the first address and keeps one host', async () => {
  let answer = ['10.0.0.7', '10.0.0.8'];
  const { cluster } = build(
    {
      name: 'ld',
      type: 'LOGICAL_DNS',
      dns_refresh_rate: 10,
      load_assignment: { endpoints: [{ lb_endpoints: [endpoint('api.example', 443)] }] },
    },
    { dnsResolve: async () => ({ addresses: answer }) },
  );
  await cluster.whenInitialized();
  const [h] = cluster.allHosts();
  assert.equal(h.key, '10.0.0.7:443');
  assert.equal(h.hostname, 'api.example');
  answer = ['10.0.0.9'];
  await waitFor(() => h.key === '10.0.0.9:443');
  assert.equal(cluster.allHosts().length, 1);
  assert.equal(cluster.allHosts()[0], h);
  cluster.close();
});

test('/clusters text and json', () => {
  const stats = new StatsStore();
  const issues: ConfigIssue[] = [];
  const cm = compileClusters(
    [
      {
        name: 'web',
        type: 'STATIC',
        circuit_breakers: { thresholds: [{ max_connections: 100 }] },
        load_assignment: {
          endpoints: [
            {
              locality: { region: 'us', zone: 'z1' },
              lb_endpoints: [endpoint('127.0.0.1', 8080, { load_balancing_weight: 3 }), endpoint('::1', 8081)],
            },
          ],
        },
      },
    ],
    { stats },
    'clusters',
    issues,
  )!;
  const h = cm.get('web')!.allHosts()[0];
  h.rq_total = 4;
  h.activeRequests = 1;
  cm.get('web')!.allHosts()[1].setHealthFlag(HealthFlag.FAILED_ACTIVE_HC);
  const text = clustersAdminText(cm);
  const lines = text.split('\n');
  for (const l of [
    'web::observability_name::web',
    'web::default_priority::max_connections::100',
    'web::default_priority::max_pending_requests::1024',
    'web::high_priority::max_retries::3',
    'web::added_via_api::false',
    'web::127.0.0.1:8080::cx_active::0',
    'web::127.0.0.1:8080::rq_active::1',
    'web::127.0.0.1:8080::rq_total::4',
    'web::127.0.0.1:8080::hostname::',
    'web::127.0.0.1:8080::health_flags::healthy',
    'web::127.0.0.1:8080::weight::3',
    'web::127.0.0.1:8080::region::us',
    'web::127.0.0.1:8080::zone::z1',
    'web::127.0.0.1:8080::sub_zone::',
    'web::127.0.0.1:8080::canary::false',
    'web::127.0.0.1:8080::priority::0',
    'web::127.0.0.1:8080::success_rate::-1',
    'web::[::1]:8081::health_flags::/failed_active_hc',
  ]) {
    assert.ok(lines.includes(l), `missing line ${l}\n${text}`);
  }
  // Host stats are sorted by name, as Envoy's std::map.
  const statLines = lines.filter((l) => l.startsWith('web::127.0.0.1:8080::')).slice(0, 8).map((l) => l.split('::')[2]);
  assert.deepEqual(statLines, ['cx_active', 'cx_connect_fail', 'cx_total', 'rq_active', 'rq_error', 'rq_success', 'rq_timeout', 'rq_total']);

  const json = clustersAdminJson(cm);
  const cs = json.cluster_statuses![0];
  assert.equal(cs.name, 'web');
  assert.equal(cs.added_via_api, undefined);
  assert.deepEqual(cs.circuit_breakers.thresholds[0], { max_connections: 100, max_pending_requests: 1024, max_requests: 1024, max_retries: 3 });
  assert.equal(cs.circuit_breakers.thresholds[1].priority, 'HIGH');
  const hs = cs.host_statuses![0];
  assert.deepEqual(hs.address, { socket_address: { address: '127.0.0.1', port_value: 8080 } });
  assert.deepEqual(hs.stats.find((s) => s.name === 'rq_total'), { name: 'rq_total', value: '4' });
  assert.deepEqual(hs.stats.find((s) => s.name === 'cx_active'), { name: 'cx_active', type: 'GAUGE' });
  assert.deepEqual(hs.health_status, { eds_health_status: 'HEALTHY' });
  assert.equal(hs.weight, 3);
  assert.deepEqual(hs.locality, { region: 'us', zone: 'z1' });
  assert.equal(cs.host_statuses![1].health_status.failed_active_health_check, true);
  cm.close();
});

async function waitFor(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}
