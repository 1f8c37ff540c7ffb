import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatsStore } from '../../../src/proxy/telemetry/stats';
import {
  bucketQuantile,
  formatG32,
  HistogramIntervals,
  renderPrometheus,
  renderStatsJson,
  renderStatsText,
  sanitizePrometheusName,
} from '../../../src/proxy/telemetry/stats-render';
import { defaultTagExtractor } from '../../../src/proxy/telemetry/tags';

function store(): StatsStore {
  const s = new StatsStore();
  s.counter('cluster.backend.upstream_rq_200').add(3);
  s.counter('cluster.backend.upstream_rq_503').add(1);
  s.counter('cluster.backend.upstream_rq_5xx').add(1);
  s.counter('cluster.backend.upstream_rq_total').add(4);
  s.counter('cluster.other.upstream_rq_total').add(0);
  s.counter('http.ingress_http.downstream_rq_total').add(5);
  s.counter('listener.0.0.0.0_15001.downstream_cx_total').add(2);
  s.gauge('server.live').set(1);
  s.gauge('cluster.backend.membership_healthy').set(2);
  const h = s.histogram('cluster.backend.upstream_rq_time');
  h.record(3);
  h.record(7);
  s.histogram('http.ingress_http.downstream_rq_time');
  return s;
}

test('tag extraction follows Envoy defaults', () => {
  const x = defaultTagExtractor();
  assert.deepEqual(x.extract('cluster.backend.upstream_rq_200'), {
    extractedName: 'cluster.upstream_rq',
    tags: [
      { name: 'envoy.response_code', value: '200' },
      { name: 'envoy.cluster_name', value: 'backend' },
    ],
  });
  assert.deepEqual(x.extract('http.ingress_http.downstream_rq_5xx'), {
    extractedName: 'http.downstream_rq_xx',
    tags: [
      { name: 'envoy.response_code_class', value: '5' },
      { name: 'envoy.http_conn_manager_prefix', value: 'ingress_http' },
    ],
  });
  assert.deepEqual(x.extract('listener.0.0.0.0_15001.downstream_cx_total'), {
    extractedName: 'listener.downstream_cx_total',
    tags: [{ name: 'envoy.listener_address', value: '0.0.0.0_15001' }],
  });
  assert.deepEqual(x.extract('listener.admin.downstream_cx_total').tags, []);
  assert.deepEqual(x.extract('listener.0.0.0.0_80.http.hcm.downstream_rq_total'), {
    extractedName: 'listener.http.downstream_rq_total',
    tags: [
      { name: 'envoy.http_conn_manager_prefix', value: 'hcm' },
      { name: 'envoy.listener_address', value: '0.0.0.0_80' },
    ],
  });
  assert.equal(x.extract('tcp.ingress_tcp.downstream_cx_total').extractedName, 'tcp.downstream_cx_total');
  assert.deepEqual(x.extract('server.live'), { extractedName: 'server.live', tags: [] });
});

test('/stats text: sorted counters+gauges then histograms', () => {
  const out = renderStatsText(store());
  const lines = out.trimEnd().split('\n');
  assert.deepEqual(lines.slice(0, 9), [
    'cluster.backend.membership_healthy: 2',
    'cluster.backend.upstream_rq_200: 3',
    'cluster.backend.upstream_rq_503: 1',
    'cluster.backend.upstream_rq_5xx: 1',
    'cluster.backend.upstream_rq_total: 4',
    'cluster.other.upstream_rq_total: 0',
    'http.ingress_http.downstream_rq_total: 5',
    'listener.0.0.0.0_15001.downstream_cx_total: 2',
    'server.live: 1',
  ]);
  assert.match(lines[9], /^cluster\.backend\.upstream_rq_time: P0\([\d.]+,[\d.]+\) P25\(.*\) P99\.5\(.*\) P99\.9\(.*\) P100\([\d.]+,[\d.]+\)$/);
  assert.equal(lines[10], 'http.ingress_http.downstream_rq_time: No recorded values');
});

test('/stats filter, usedonly, type', () => {
  const s = store();
  assert.equal(renderStatsText(s, { filter: /^server\./ }), 'server.live: 1\n');
  assert.ok(!renderStatsText(s, { usedOnly: true }).includes('cluster.other'));
  assert.ok(!renderStatsText(s, { usedOnly: true }).includes('No recorded values'));
  const gauges = renderStatsText(s, { type: 'Gauges' });
  assert.equal(gauges, 'cluster.backend.membership_healthy: 2\nserver.live: 1\n');
});

test('/stats?format=json', () => {
  const j = renderStatsJson(store(), { filter: /backend/ }) as { stats: Array<Record<string, unknown>> };
  assert.deepEqual(j.stats[0], { name: 'cluster.backend.membership_healthy', value: 2 });
  const last = j.stats[j.stats.length - 1] as { histograms: { supported_quantiles: number[]; computed_quantiles: Array<{ name: string; values: unknown[] }> } };
  assert.deepEqual(last.histograms.supported_quantiles, [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100]);
  assert.equal(last.histograms.computed_quantiles[0].name, 'cluster.backend.upstream_rq_time');
  assert.equal(last.histograms.computed_quantiles[0].values.length, 10);
});

test('/stats/prometheus: TYPE lines, tags, histograms', () => {
  const out = renderPrometheus(store());
  assert.ok(
    out.includes(
      '# TYPE envoy_cluster_upstream_rq counter\n' +
        'envoy_cluster_upstream_rq{envoy_response_code="200",envoy_cluster_name="backend"} 3\n' +
        'envoy_cluster_upstream_rq{envoy_response_code="503",envoy_cluster_name="backend"} 1\n\n',
    ),
  );
  assert.ok(out.includes('envoy_cluster_upstream_rq_xx{envoy_response_code_class="5",envoy_cluster_name="backend"} 1\n'));
  assert.ok(
    out.includes(
      '# TYPE envoy_cluster_upstream_rq_total counter\n' +
        'envoy_cluster_upstream_rq_total{envoy_cluster_name="backend"} 4\n' +
        'envoy_cluster_upstream_rq_total{envoy_cluster_name="other"} 0\n',
    ),
  );
  assert.ok(out.includes('envoy_http_downstream_rq_total{envoy_http_conn_manager_prefix="ingress_http"} 5\n'));
  assert.ok(out.includes('envoy_listener_downstream_cx_total{envoy_listener_address="0.0.0.0_15001"} 2\n'));
  assert.ok(out.includes('# TYPE envoy_server_live gauge\nenvoy_server_live{} 1\n'));
  assert.ok(out.includes('# TYPE envoy_cluster_upstream_rq_time histogram\n'));
  assert.ok(out.includes('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="0.5"} 0\n'));
  assert.ok(out.includes('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="5"} 1\n'));
  assert.ok(out.includes('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="10"} 2\n'));
  assert.ok(out.includes('envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="+Inf"} 2\n'));
  assert.ok(out.includes('envoy_cluster_upstream_rq_time_sum{envoy_cluster_name="backend"} 10\n'));
  assert.ok(out.includes('envoy_cluster_upstream_rq_time_count{envoy_cluster_name="backend"} 2\n'));
  // counters, then gauges, then histograms
  assert.ok(out.indexOf('counter\n') < out.indexOf('gauge\n'));
  assert.ok(out.indexOf('gauge\n') < out.indexOf('histogram\n'));
  // usedonly drops zero counters and empty histograms
  const used = renderPrometheus(store(), { usedOnly: true });
  assert.ok(!used.includes('cluster_name="other"'));
  assert.ok(!used.includes('envoy_http_downstream_rq_time'));
});

test('helpers', () => {
  assert.equal(sanitizePrometheusName('a.b-c:d'), 'a_b_c_d');
  assert.equal(formatG32(0.5), '0.5');
  assert.equal(formatG32(3600000), '3600000');
  assert.equal(formatG32(0.1), '0.10000000000000000555111512312578');
  assert.ok(Number.isNaN(bucketQuantile([1, 2], [0, 0, 0], 0.5)));
  assert.equal(bucketQuantile([10, 20], [0, 2, 0], 0.5), 15);
});

test('histogram intervals', () => {
  const s = new StatsStore();
  const h = s.histogram('x.time');
  const iv = new HistogramIntervals();
  h.record(3);
  iv.rotate(s);
  h.record(700);
  iv.rotate(s);
  const text = renderStatsText(s, {}, iv);
  // interval holds only the 700 sample; cumulative both.
  assert.match(text, /P100\(1000,1000\)/);
  assert.match(text, /P0\(500,1\)/);
});
