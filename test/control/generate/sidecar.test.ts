import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { DecodedMessage } from '../../../src/xds/decoded';
import { fixtureDir, generateAll, get, loadSnapshot, sidecarNode } from './harness';

const PRODUCTPAGE = sidecarNode('127.0.1.1', 'productpage-1');
const REVIEWS_V1 = sidecarNode('127.0.1.11', 'reviews-v1');

function vhost(rc: DecodedMessage | undefined, name: string): DecodedMessage {
  const vh = (rc?.virtual_hosts as DecodedMessage[] | undefined)?.find((v) => v.name === name);
  assert.ok(vh, `virtual host ${name}`);
  return vh;
}

test('Sidecar captureMode NONE: listeners bound to the ingress/egress bind addresses, inbound cluster to defaultEndpoint', async () => {
  const { snapshot } = await loadSnapshot(fixtureDir('mesh'));
  const g = generateAll(snapshot, PRODUCTPAGE);
  assert.deepEqual([...g.listeners.keys()].sort(), ['127.0.1.1_9080', '127.0.2.1_5432', '127.0.2.1_9080']);
  for (const l of g.listeners.values()) {
    assert.equal(l.bind_to_port, undefined, 'bound to a real port');
    assert.equal(l.use_original_dst, undefined);
    assert.equal(l.listener_filters, undefined);
  }
  assert.equal(get(g.listeners.get('127.0.1.1_9080'), 'traffic_direction'), 'INBOUND');
  assert.deepEqual(get(g.clusters.get('inbound|9080||'), 'load_assignment', 'endpoints', 0, 'lb_endpoints', 0, 'endpoint', 'address'), {
    socket_address: { address: '127.0.0.1', port_value: 19080 },
  });
  // The TCP egress port goes straight to the one service its hosts import.
  assert.equal(get(g.listeners.get('127.0.2.1_5432'), 'filter_chains', 0, 'filters', 0, 'typed_config', 'cluster'), 'outbound|5432||db.default.svc.cluster.local');
  assert.equal(get(g.listeners.get('127.0.2.1_9080'), 'filter_chains', 0, 'filters', 0, 'typed_config', 'rds', 'route_config_name'), '9080');
  assert.equal(g.clusters.has('PassthroughCluster'), false, 'no original-destination passthrough without iptables');
  // Istio's domain forms for a Kubernetes service, seen from its own namespace.
  assert.deepEqual(vhost(g.routes.get('9080'), 'details.default.svc.cluster.local:9080').domains, [
    'details.default.svc.cluster.local', 'details.default.svc.cluster.local:9080', 'details.default.svc', 'details.default.svc:9080',
    'details.default', 'details.default:9080', 'details', 'details:9080', '10.96.0.13', '10.96.0.13:9080',
  ]);
});

test("Istio's iptables shape: virtualOutbound 15001, virtualInbound 15006, per-port listeners not bound", async () => {
  const { snapshot } = await loadSnapshot(fixtureDir('mesh'));
  const g = generateAll(snapshot, REVIEWS_V1);
  const vo = g.listeners.get('virtualOutbound');
  assert.equal(get(vo, 'address', 'socket_address', 'port_value'), 15001);
  assert.equal(get(vo, 'use_original_dst'), true);
  assert.equal(get(vo, 'filter_chains', 0, 'filters', 0, 'typed_config', 'cluster'), 'PassthroughCluster');
  const vi = g.listeners.get('virtualInbound');
  assert.equal(get(vi, 'address', 'socket_address', 'port_value'), 15006);
  assert.equal(get(vi, 'listener_filters', 0, 'name'), 'envoy.filters.listener.original_dst');
  assert.deepEqual(get(vi, 'filter_chains', 0, 'filter_chain_match'), { destination_port: 19081 }, 'the named targetPort of reviews');
  assert.equal(get(g.listeners.get('0.0.0.0_9080'), 'bind_to_port'), false);
  assert.equal(get(g.listeners.get('10.96.0.14_5432'), 'bind_to_port'), false, 'TCP services listen on their ClusterIP');
  assert.deepEqual(get(g.clusters.get('inbound|19081||'), 'load_assignment', 'endpoints', 0, 'lb_endpoints', 0, 'endpoint', 'address', 'socket_address'), {
    address: '127.0.1.11', port_value: 19081,
  });
  assert.equal(get(g.clusters.get('PassthroughCluster'), 'type'), 'ORIGINAL_DST');
  const rc = g.routes.get('9080');
  const last = (rc?.virtual_hosts as DecodedMessage[]).at(-1);
  assert.equal(last?.name, 'allow_any');
  assert.deepEqual(last?.domains, ['*']);
});

test('VirtualService: header match first, then weighted subsets with timeout and retries', async () => {
  const { snapshot } = await loadSnapshot(fixtureDir('mesh'));
  const g = generateAll(snapshot, PRODUCTPAGE);
  const routes = vhost(g.routes.get('9080'), 'reviews.default.svc.cluster.local:9080').routes as DecodedMessage[];
  assert.equal(routes.length, 2);
  assert.deepEqual(routes[0].match, { prefix: '/reviews', headers: [{ name: 'end-user', string_match: { exact: 'jason' } }] });
  assert.equal(get(routes[0], 'route', 'cluster'), 'outbound|9080|v2|reviews.default.svc.cluster.local');
  assert.equal(get(routes[0], 'route', 'retry_policy', 'num_retries'), 2, "Istio's default retry policy");
  const wc = get(routes[1], 'route', 'weighted_clusters', 'clusters') as DecodedMessage[];
  assert.deepEqual(wc.map((c) => [c.name, c.weight]), [
    ['outbound|9080|v1|reviews.default.svc.cluster.local', 75],
    ['outbound|9080|v3|reviews.default.svc.cluster.local', 25],
  ]);
  assert.deepEqual(wc[1].request_headers_to_add, [{ header: { key: 'x-canary', value: 'true' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }]);
  assert.equal(get(routes[1], 'route', 'timeout'), 1500);
  const rp = get(routes[1], 'route', 'retry_policy') as DecodedMessage;
  assert.equal(rp.num_retries, 3);
  assert.equal(rp.per_try_timeout, 500);
  assert.equal(rp.retry_on, '5xx,unavailable,retriable-status-codes');
  assert.deepEqual(rp.retriable_status_codes, [503]);
  // consistentHash on the DestinationRule → a hash policy on the route.
  assert.deepEqual(get(routes[1], 'route', 'hash_policy'), [{ header: { header_name: 'x-user' } }]);
});

test('VirtualService: fault, CORS, mirror and response headers on a route', async () => {
  const { snapshot } = await loadSnapshot(fixtureDir('mesh'));
  const g = generateAll(snapshot, PRODUCTPAGE);
  const [route] = vhost(g.routes.get('9080'), 'ratings.default.svc.cluster.local:9080').routes as DecodedMessage[];
  assert.deepEqual(get(route, 'typed_per_filter_config', 'envoy.filters.http.fault'), {
    '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
    delay: { fixed_delay: 2000, percentage: { numerator: 100000, denominator: 'MILLION' } },
    abort: { percentage: { numerator: 5000, denominator: 'MILLION' }, http_status: 503 },
  });
  const cors = get(route, 'typed_per_filter_config', 'envoy.filters.http.cors') as DecodedMessage;
  assert.deepEqual(cors.allow_origin_string_match, [{ exact: 'https://example.com' }]);
  assert.equal(cors.allow_methods, 'GET,POST');
  assert.equal(cors.max_age, '86400');
  assert.deepEqual(get(route, 'route', 'request_mirror_policies'), [
    { cluster: 'outbound|9080||details.default.svc.cluster.local', runtime_fraction: { default_value: { numerator: 200000, denominator: 'MILLION' } } },
  ]);
  assert.deepEqual(route.response_headers_to_add, [{ header: { key: 'x-served-by', value: 'ratings' } }]);
  assert.deepEqual(route.response_headers_to_remove, ['x-internal']);
});

test('VirtualService: regex/method/query/ignoreUriCase matches, rewrite, redirect, direct response, withoutHeaders', async () => {
  const { snapshot } = await loadSnapshot(fixtureDir('mesh'));
  const g = generateAll(snapshot, PRODUCTPAGE);
  const routes = vhost(g.routes.get('9080'), 'details.default.svc.cluster.local:9080').routes as DecodedMessage[];
  assert.equal(routes.length, 4);
  assert.deepEqual(routes[0].match, {
    safe_regex: { regex: '/v[0-9]+/.*' }, case_sensitive: false,
    headers: [{ name: ':method', string_match: { exact: 'GET' } }],
    query_parameters: [{ name: 'debug', string_match: { exact: '1' } }],
  });
  assert.equal(get(routes[0], 'route', 'prefix_rewrite'), '/api');
  assert.equal(get(routes[0], 'route', 'host_rewrite_literal'), 'details.internal');
  assert.deepEqual(routes[1].redirect, { path_redirect: '/new', response_code: 'FOUND' });
  assert.deepEqual(routes[2].direct_response, { status: 200, body: { inline_string: 'ok' } });
  assert.deepEqual(get(routes[2], 'match', 'headers'), [{ name: 'x-debug', present_match: true, invert_match: true }]);
  assert.equal(get(routes[3], 'route', 'cluster'), 'outbound|9080||details.default.svc.cluster.local');
});

test("a service without a VirtualService gets Istio's default route", async () => {
  const { snapshot } = await loadSnapshot(fixtureDir('mesh'));
  const g = generateAll(snapshot, PRODUCTPAGE);
  const [route] = vhost(g.routes.get('9080'), 'productpage.default.svc.cluster.local:9080').routes as DecodedMessage[];
  assert.deepEqual(route.match, { prefix: '/' });
  assert.equal(get(route, 'route', 'cluster'), 'outbound|9080||productpage.default.svc.cluster.local');
  assert.equal(get(route, 'route', 'timeout'), 0);
  assert.deepEqual(get(route, 'route', 'retry_policy', 'retry_on'), 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes');
});

test('DestinationRule: subsets by labels, consistent hash, per-subset policy, circuit breakers, outlier detection', async () => {
  const { snapshot } = await loadSnapshot(fixtureDir('mesh'));
  const g = generateAll(snapshot, PRODUCTPAGE);
  const reviews = g.clusters.get('outbound|9080||reviews.default.svc.cluster.local');
  assert.equal(reviews?.type, 'EDS');
  assert.deepEqual(reviews?.eds_cluster_config, { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: 'outbound|9080||reviews.default.svc.cluster.local' });
  assert.equal(reviews?.lb_policy, 'RING_HASH');
  assert.deepEqual(reviews?.ring_hash_lb_config, { minimum_ring_size: 2048 });
  assert.equal(g.clusters.get('outbound|9080|v3|reviews.default.svc.cluster.local')?.lb_policy, undefined, 'subset v3: ROUND_ROBIN (the default)');
  const v1 = g.endpoints.get('outbound|9080|v1|reviews.default.svc.cluster.local');
  assert.deepEqual(get(v1, 'endpoints', 0, 'lb_endpoints', 0, 'endpoint', 'address', 'socket_address'), { address: '127.0.1.11', port_value: 19081 });
  assert.deepEqual(get(v1, 'endpoints', 0, 'locality'), { region: 'r1', zone: 'z1' });
  assert.equal(get(g.endpoints.get('outbound|9080|v3|reviews.default.svc.cluster.local'), 'endpoints'), undefined, 'v3 is not ready');
  assert.equal((get(g.endpoints.get('outbound|9080||reviews.default.svc.cluster.local'), 'endpoints') as unknown[]).length, 2, 'two zones');
  assert.equal((get(g.endpoints.get('outbound|9080||details.default.svc.cluster.local'), 'endpoints', 0, 'lb_endpoints') as unknown[]).length, 1, 'notReadyAddresses left out');

  const ratings = g.clusters.get('outbound|9080||ratings.default.svc.cluster.local');
  assert.deepEqual(get(ratings, 'circuit_breakers', 'thresholds', 0), { max_connections: 10, max_pending_requests: 5, max_requests: 20, max_retries: 2, track_remaining: true });
  assert.equal(ratings?.connect_timeout, 250);
  assert.deepEqual(get(ratings, 'typed_extension_protocol_options', 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions', 'common_http_protocol_options'), {
    idle_timeout: 30000, max_requests_per_connection: 7,
  });
  assert.deepEqual(ratings?.outlier_detection, {
    consecutive_5xx: 3, enforcing_consecutive_5xx: 100, consecutive_gateway_failure: 2, enforcing_consecutive_gateway_failure: 100,
    enforcing_success_rate: 0, interval: 5000, base_ejection_time: 60000, max_ejection_percent: 50,
  });
  assert.deepEqual(ratings?.common_lb_config, { healthy_panic_threshold: { value: 25 } });
  assert.equal(ratings?.lb_policy, 'LEAST_REQUEST', "Istio's default load balancer");
});

test('ServiceEntry: DNS → STRICT_DNS with the host as endpoint; STATIC with WorkloadEntry weight and locality', async () => {
  const { snapshot } = await loadSnapshot(fixtureDir('mesh'));
  const g = generateAll(snapshot, PRODUCTPAGE);
  const httpbin = g.clusters.get('outbound|80||httpbin.example.com');
  assert.equal(httpbin?.type, 'STRICT_DNS');
  assert.deepEqual(get(httpbin, 'load_assignment', 'endpoints', 0, 'lb_endpoints', 0, 'endpoint', 'address', 'socket_address'), { address: 'httpbin.example.com', port_value: 80 });
  assert.equal(g.endpoints.has('outbound|80||httpbin.example.com'), false);
  const legacy = g.endpoints.get('outbound|8080||legacy.internal');
  assert.deepEqual(get(legacy, 'endpoints', 0), {
    lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.3.1', port_value: 18080 } } }, health_status: 'HEALTHY', load_balancing_weight: 3 }],
    load_balancing_weight: 3,
    locality: { region: 'r2', zone: 'z9' },
  });
});
