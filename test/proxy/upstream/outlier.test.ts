import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfigIssue } from '../../../src/lib/config-error';
import { StatsStore } from '../../../src/proxy/telemetry/stats';
import { clustersAdminJson, clustersAdminText } from '../../../src/proxy/upstream/admin';
import { HealthFlag, Host } from '../../../src/proxy/upstream/host';
import { parseOutlierDetection } from '../../../src/proxy/upstream/outlier/config';
import { OutlierDetector } from '../../../src/proxy/upstream/outlier/detector';
import { OutlierResult } from '../../../src/proxy/upstream/outlier/host-monitor';
import { build, count, endpoint, issuesOf, staticCluster } from './helpers';
import { startHttp, waitFor } from './health-helpers';

function cfg(v: Record<string, unknown>) {
  const issues: ConfigIssue[] = [];
  const c = parseOutlierDetection(v, 'od', issues);
  assert.deepEqual(issues, []);
  assert.ok(c);
  return c;
}

/** A detector on plain hosts with a manual clock; the interval timer is long and unref'd. */
function detector(v: Record<string, unknown>, n: number) {
  const stats = new StatsStore();
  let now = 1000;
  const events: string[] = [];
  const d = new OutlierDetector(cfg({ interval: 3600_000, ...v }), {
    clusterName: 'c',
    counter: (s) => stats.counter('cluster.c.' + s),
    gauge: (s) => stats.gauge('cluster.c.' + s),
    log: (_l, m) => events.push(m),
    now: () => now,
  });
  const hosts = Array.from({ length: n }, (_, i) => new Host({ address: '10.0.0.' + (i + 1), port: 80 }));
  d.addHosts(hosts);
  return {
    d,
    hosts,
    stats,
    events,
    advance: (ms: number) => (now += ms),
    c: (name: string) => stats.counters.get('cluster.c.outlier_detection.' + name)!.value,
    active: () => stats.gauges.get('cluster.c.outlier_detection.ejections_active')!.value,
  };
}

test('outlier config: Envoy defaults and validation', () => {
  const c = cfg({});
  assert.equal(c.intervalMs, 10000);
  assert.equal(c.baseEjectionTimeMs, 30000);
  assert.equal(c.maxEjectionTimeMs, 300000);
  assert.equal(c.maxEjectionPercent, 10);
  assert.equal(c.consecutive5xx, 5);
  assert.equal(c.enforcingConsecutive5xx, 100);
  assert.equal(c.enforcingConsecutiveGatewayFailure, 0);
  assert.equal(c.enforcingSuccessRate, 100);
  assert.equal(c.enforcingFailurePercentage, 0);
  assert.equal(c.successRateStdevFactor, 1900);
  assert.equal(c.failurePercentageThreshold, 85);
  assert.equal(c.failurePercentageRequestVolume, 50);
  assert.equal(c.successfulActiveHealthCheckUnejectHost, true);
  assert.equal(cfg({ base_ejection_time: 400000 }).maxEjectionTimeMs, 400000);
  const issues: ConfigIssue[] = [];
  parseOutlierDetection({ base_ejection_time: 2000, max_ejection_time: 1000, max_ejection_percent: 101, monitors: [] }, 'od', issues);
  assert.deepEqual(issues.map((i) => i.path), ['od.monitors', 'od.max_ejection_time', 'od.max_ejection_percent']);
  assert.deepEqual(issuesOf(staticCluster('x', [endpoint('127.0.0.1', 1)], { outlier_detection: { interval: -1 } })).map((i) => i.path), [
    'clusters[0].outlier_detection.interval',
  ]);
});

test('consecutive 5xx: ejection, backoff growth, uneject after base × backoff, decay', () => {
  const { d, hosts, c, active, advance, events } = detector({ max_ejection_percent: 100, base_ejection_time: 200, interval: 1000 }, 3);
  const [h] = hosts;
  for (let i = 0; i < 4; i++) d.putHttpResponseCode(h, 500);
  d.putHttpResponseCode(h, 200); // resets the run
  for (let i = 0; i < 4; i++) d.putHttpResponseCode(h, 503);
  assert.equal(h.healthy, true);
  d.putHttpResponseCode(h, 500);
  assert.equal(h.healthFlagsString, '/failed_outlier_check');
  assert.equal(active(), 1);
  assert.equal(c('ejections_detected_consecutive_5xx'), 1);
  assert.equal(c('ejections_enforced_consecutive_5xx'), 1);
  assert.equal(c('ejections_enforced_total'), 1);
  assert.equal(c('ejections_total'), 1);
  assert.equal(h.outlier!.ejectTimeBackoff, 1);
  const ev = d.recentEvents();
  assert.equal(ev.length, 1);
  assert.equal(ev[0].type, 'CONSECUTIVE_5XX');
  assert.equal(ev[0].action, 'EJECT');
  assert.equal(ev[0].cluster_name, 'c');
  assert.equal(ev[0].upstream_url, '10.0.0.1:80');
  assert.equal(ev[0].num_ejections, 1);
  assert.equal(ev[0].enforced, true);
  assert.deepEqual(ev[0].eject_consecutive_event, {});
  assert.ok(events.some((m) => /eject 10\.0\.0\.1:80/.test(m)));

  advance(199);
  d.runInterval();
  assert.equal(h.healthy, false, 'still ejected before base_ejection_time');
  advance(1);
  d.runInterval();
  assert.equal(h.healthy, true, 'back after base_ejection_time');
  assert.equal(active(), 0);
  assert.equal(d.recentEvents()[1].action, 'UNEJECT');
  assert.equal(h.outlier!.consecutive5xx, 0);

  // Second ejection soon after: twice as long.
  for (let i = 0; i < 5; i++) d.putHttpResponseCode(h, 500);
  assert.equal(h.outlier!.ejectTimeBackoff, 2);
  advance(399);
  d.runInterval();
  assert.equal(h.healthy, false);
  advance(1);
  d.runInterval();
  assert.equal(h.healthy, true);
  // Good intervals (≥ interval since the unejection) shrink the backoff.
  advance(1000);
  d.runInterval();
  assert.equal(h.outlier!.ejectTimeBackoff, 1);
  advance(1000);
  d.runInterval();
  assert.equal(h.outlier!.ejectTimeBackoff, 0);
  d.close();
});

test('max_ejection_time caps the ejection time; backoff stops growing', () => {
  const { d, hosts, advance } = detector({ max_ejection_percent: 100, base_ejection_time: 100, max_ejection_time: 250, consecutive_5xx: 1 }, 2);
  const [h] = hosts;
  for (let round = 0; round < 5; round++) {
    d.putHttpResponseCode(h, 500);
    assert.equal(h.healthy, false);
    advance(250);
    d.runInterval();
    assert.equal(h.healthy, true, `round ${round}: back within max_ejection_time`);
  }
  // backoff × base stays < max + base.
  assert.equal(h.outlier!.ejectTimeBackoff, 4);
  d.close();
});

test('max_ejection_percent and always_eject_one_host', () => {
  const a = detector({ consecutive_5xx: 1 }, 3); // default 10%: 1/3 = 33% > 10%
  a.d.putHttpResponseCode(a.hosts[0], 500);
  assert.equal(a.hosts[0].healthy, true);
  assert.equal(a.c('ejections_overflow'), 1);
  assert.equal(a.c('ejections_detected_consecutive_5xx'), 1);
  a.d.close();

  const b = detector({ consecutive_5xx: 1, always_eject_one_host: true }, 3);
  b.d.putHttpResponseCode(b.hosts[0], 500);
  b.d.putHttpResponseCode(b.hosts[1], 500);
  assert.equal(b.hosts[0].healthy, false, 'one host ejected regardless of the percentage');
  assert.equal(b.hosts[1].healthy, true);
  assert.equal(b.c('ejections_overflow'), 1);
  b.d.close();

  const c = detector({ consecutive_5xx: 1, max_ejection_percent: 50 }, 4);
  for (const h of c.hosts) c.d.putHttpResponseCode(h, 500);
  assert.equal(c.active(), 2);
  assert.equal(c.c('ejections_overflow'), 2);
  c.d.close();
});

test('gateway failures: detected, enforced only when enforcing_consecutive_gateway_failure is set', () => {
  const a = detector({ max_ejection_percent: 100, consecutive_gateway_failure: 3 }, 2);
  for (let i = 0; i < 3; i++) a.d.putHttpResponseCode(a.hosts[0], 502);
  assert.equal(a.hosts[0].healthy, true);
  assert.equal(a.c('ejections_detected_consecutive_gateway_failure'), 1);
  assert.equal(a.c('ejections_enforced_consecutive_gateway_failure'), 0);
  assert.equal(a.d.recentEvents()[0].enforced, false);
  a.d.close();
  const b = detector({ max_ejection_percent: 100, consecutive_gateway_failure: 3, enforcing_consecutive_gateway_failure: 100 }, 2);
  b.d.putHttpResponseCode(b.hosts[0], 503);
  b.d.putHttpResponseCode(b.hosts[0], 500); // not a gateway error: resets that run
  for (let i = 0; i < 3; i++) b.d.putHttpResponseCode(b.hosts[0], 504);
  assert.equal(b.hosts[0].healthy, false);
  assert.equal(b.d.recentEvents()[0].type, 'CONSECUTIVE_GATEWAY_FAILURE');
  b.d.close();
  const c = detector({ max_ejection_percent: 100, enforcing_consecutive_5xx: 0 }, 2);
  for (let i = 0; i < 5; i++) c.d.putHttpResponseCode(c.hosts[0], 500);
  assert.equal(c.hosts[0].healthy, true);
  assert.equal(c.c('ejections_detected_consecutive_5xx'), 1);
  assert.equal(c.c('ejections_enforced_total'), 0);
  c.d.close();
});

test('success rate: mean − stdev × factor, minimum hosts and request volume', () => {
  const { d, hosts, advance, c } = detector({ max_ejection_percent: 100, consecutive_5xx: 1000 }, 5);
  const feed = (rates: number[], volume: number) => {
    hosts.forEach((h, i) => {
      for (let k = 0; k < volume; k++) d.putHttpResponseCode(h, k < (rates[i] * volume) / 100 ? 200 : 500);
    });
  };
  // Envoy's worked example: {50, 100, 100, 100, 100} → mean 90, stdev 20, threshold 52.
  feed([50, 100, 100, 100, 100], 100);
  d.runInterval();
  assert.equal(hosts[0].healthy, false);
  assert.equal(c('ejections_detected_success_rate'), 1);
  assert.equal(c('ejections_enforced_success_rate'), 1);
  assert.equal(d.externalSr.average, 90);
  assert.equal(d.externalSr.threshold, 52);
  assert.equal(hosts[1].outlier!.external.successRate, 100);
  const ev = d.recentEvents()[0];
  assert.equal(ev.type, 'SUCCESS_RATE');
  assert.deepEqual(ev.eject_success_rate_event, { host_success_rate: 50, cluster_average_success_rate: 90, cluster_success_rate_ejection_threshold: 52 });

  // /clusters shows the per-host success rate and the cluster figures.
  advance(30000);
  d.runInterval(); // unejects; no traffic this interval → rates reset to -1
  assert.equal(hosts[0].healthy, true);
  assert.equal(hosts[1].outlier!.external.successRate, -1);

  // Below request volume: no success-rate figures.
  feed([0, 100, 100, 100, 100], 99);
  d.runInterval();
  assert.equal(hosts[0].healthy, true);
  assert.equal(d.externalSr.average, -1);
  d.close();
});

test('failure percentage (external and local origin)', () => {
  const { d, hosts, c } = detector(
    { max_ejection_percent: 100, consecutive_5xx: 1000, enforcing_success_rate: 0, enforcing_failure_percentage: 100, failure_percentage_minimum_hosts: 3, success_rate_minimum_hosts: 100 },
    3,
  );
  hosts.forEach((h, i) => {
    for (let k = 0; k < 50; k++) d.putHttpResponseCode(h, i === 0 && k < 45 ? 500 : 200);
  });
  d.runInterval();
  assert.equal(hosts[0].healthy, false);
  assert.equal(c('ejections_detected_failure_percentage'), 1);
  assert.equal(c('ejections_enforced_failure_percentage'), 1);
  assert.deepEqual(d.recentEvents()[0].eject_failure_percentage_event, { host_success_rate: 10 });
  d.close();

  const l = detector(
    {
      max_ejection_percent: 100,
      split_external_local_origin_errors: true,
      consecutive_local_origin_failure: 1000,
      enforcing_failure_percentage_local_origin: 100,
      failure_percentage_minimum_hosts: 3,
      success_rate_minimum_hosts: 100,
    },
    3,
  );
  l.hosts.forEach((h, i) => {
    for (let k = 0; k < 60; k++) l.d.putResult(h, i === 1 ? OutlierResult.LOCAL_ORIGIN_TIMEOUT : OutlierResult.LOCAL_ORIGIN_CONNECT_SUCCESS);
  });
  l.d.runInterval();
  assert.equal(l.hosts[1].healthy, false);
  assert.equal(l.c('ejections_enforced_local_origin_failure_percentage'), 1);
  assert.equal(l.hosts[0].outlier!.localOrigin.successRate, 100);
  l.d.close();
});

test('local-origin split: connect failures have their own counter; without split they count as 503', () => {
  const s = detector({ max_ejection_percent: 100, split_external_local_origin_errors: true, consecutive_local_origin_failure: 3 }, 2);
  const [h] = s.hosts;
  s.d.putResult(h, OutlierResult.LOCAL_ORIGIN_CONNECT_FAILED);
  s.d.putResult(h, OutlierResult.LOCAL_ORIGIN_TIMEOUT);
  s.d.putResult(h, OutlierResult.LOCAL_ORIGIN_CONNECT_SUCCESS); // resets
  for (let i = 0; i < 2; i++) s.d.putResult(h, OutlierResult.LOCAL_ORIGIN_CONNECT_FAILED);
  for (let i = 0; i < 10; i++) s.d.putHttpResponseCode(s.hosts[1], 200);
  assert.equal(h.healthy, true);
  s.d.putResult(h, OutlierResult.LOCAL_ORIGIN_CONNECT_FAILED);
  assert.equal(h.healthy, false);
  assert.equal(s.c('ejections_enforced_consecutive_local_origin_failure'), 1);
  assert.equal(s.d.recentEvents()[0].type, 'CONSECUTIVE_LOCAL_ORIGIN_FAILURE');
  // External 5xx did not move: local-origin errors are not 5xx here.
  assert.equal(h.outlier!.consecutive5xx, 0);
  s.d.close();

  const n = detector({ max_ejection_percent: 100 }, 2);
  const [g] = n.hosts;
  for (let i = 0; i < 4; i++) n.d.putResult(g, OutlierResult.LOCAL_ORIGIN_CONNECT_FAILED);
  n.d.putResult(g, OutlierResult.LOCAL_ORIGIN_CONNECT_SUCCESS); // not counted without split
  assert.equal(g.outlier!.consecutive5xx, 4);
  assert.equal(g.outlier!.consecutiveGatewayFailure, 4);
  n.d.putResult(g, OutlierResult.LOCAL_ORIGIN_TIMEOUT);
  assert.equal(g.healthy, false, '5 consecutive mapped 503/504');
  n.d.close();
});

test('cluster integration: router hooks, LB skips ejected hosts, unejection on a timer, /clusters', async () => {
  const { cluster, stats } = build(
    staticCluster('od', [endpoint('127.0.0.1', 8001), endpoint('127.0.0.1', 8002), endpoint('127.0.0.1', 8003)], {
      outlier_detection: { consecutive_5xx: 3, interval: 50, base_ejection_time: 200, max_ejection_percent: 50 },
    }),
  );
  try {
    const od = cluster.outlierDetector!;
    assert.ok(od);
    const [a, b] = cluster.allHosts();
    for (let i = 0; i < 3; i++) od.putHttpResponseCode(a, 503);
    assert.equal(a.healthFlagsString, '/failed_outlier_check');
    assert.equal(stats.gauges.get('cluster.od.outlier_detection.ejections_active')!.value, 1);
    assert.equal(count(cluster, 30).get(a.key), undefined);
    for (let i = 0; i < 3; i++) od.putHttpResponseCode(b, 500);
    assert.equal(b.healthy, true, 'second ejection would pass max_ejection_percent (66% > 50%)');
    assert.equal(stats.counters.get('cluster.od.outlier_detection.ejections_overflow')!.value, 1);
    const text = clustersAdminText([cluster]);
    assert.match(text, /od::127\.0\.0\.1:8001::health_flags::\/failed_outlier_check/);
    assert.match(text, /od::outlier::success_rate_average::-1\n/);
    assert.equal(clustersAdminJson([cluster]).cluster_statuses![0].host_statuses![0].health_status.failed_outlier_check, true);
    await waitFor(() => a.healthy, 'unejected after base_ejection_time');
    assert.equal(od.recentEvents().at(-1)!.action, 'UNEJECT');
    // Removing an ejected host releases its ejection.
    for (let i = 0; i < 3; i++) od.putHttpResponseCode(b, 500);
    assert.equal(b.healthy, false);
    cluster.updateHosts(0, cluster.allHosts().filter((h) => h !== b));
    assert.equal(stats.gauges.get('cluster.od.outlier_detection.ejections_active')!.value, 0);
    assert.equal(b.outlier, null);
  } finally {
    cluster.close();
  }
  assert.equal(cluster.allHosts()[0].outlier, null);
});

test('success rate in /clusters text and JSON', () => {
  const hosts = [1, 2, 3, 4, 5].map((i) => endpoint('127.0.0.1', 9000 + i));
  const { cluster } = build(staticCluster('sr', hosts, { outlier_detection: { interval: 3600000, max_ejection_percent: 100, consecutive_5xx: 1000 } }));
  try {
    const od = cluster.outlierDetector!;
    cluster.allHosts().forEach((h, i) => {
      for (let k = 0; k < 100; k++) od.putHttpResponseCode(h, i === 0 && k < 50 ? 500 : 200);
    });
    od.runInterval();
    const text = clustersAdminText([cluster]);
    assert.match(text, /sr::127\.0\.0\.1:9001::success_rate::50\n/);
    assert.match(text, /sr::127\.0\.0\.1:9002::success_rate::100\n/);
    assert.match(text, /sr::outlier::success_rate_average::90\n/);
    assert.match(text, /sr::outlier::success_rate_ejection_threshold::52\n/);
    const js = clustersAdminJson([cluster]).cluster_statuses![0].host_statuses!;
    assert.deepEqual(js[0].success_rate, { value: 50 });
    assert.equal(js[0].local_origin_success_rate, undefined);
  } finally {
    cluster.close();
  }
});

test('a passing active health check unejects an ejected host', async () => {
  const s = await startHttp();
  const { cluster } = build(
    staticCluster('hcod', [endpoint('127.0.0.1', s.port)], {
      health_checks: [{ timeout: 1000, interval: 50, no_traffic_interval: 50, unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: '/' } }],
      outlier_detection: { consecutive_5xx: 1, interval: 3600000, base_ejection_time: 3600000, max_ejection_percent: 100 },
    }),
  );
  try {
    const [h] = cluster.allHosts();
    await cluster.whenInitialized();
    cluster.outlierDetector!.putHttpResponseCode(h, 500);
    assert.equal(h.healthFlagGet(HealthFlag.FAILED_OUTLIER_CHECK), true);
    await waitFor(() => !h.healthFlagGet(HealthFlag.FAILED_OUTLIER_CHECK), 'unejected by the next passing check');
  } finally {
    cluster.close();
    await s.close();
  }
});
