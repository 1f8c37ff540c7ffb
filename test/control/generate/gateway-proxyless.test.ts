import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { ClusterResourceType } from '@grpc/grpc-js-xds/build/src/xds-resource-type/cluster-resource-type';
import { EndpointResourceType } from '@grpc/grpc-js-xds/build/src/xds-resource-type/endpoint-resource-type';
import { ListenerResourceType } from '@grpc/grpc-js-xds/build/src/xds-resource-type/listener-resource-type';
import { RouteConfigurationResourceType } from '@grpc/grpc-js-xds/build/src/xds-resource-type/route-config-resource-type';
import * as grpcXds from '@grpc/grpc-js-xds';
import { TYPE_URL } from '../../../src/control/contracts';
import { encodeBinary } from '../../../src/xds/decode';
import type { DecodedMessage } from '../../../src/xds/decoded';
import { typeNameOfUrl } from '../../../src/xds/protos';
import { fixtureDir, generateAll, get, loadSnapshot, proxylessNode, routerNode } from './harness';

test('Gateway: a router whose labels match gets 0.0.0.0_8080 with RDS http.8080 and a virtual host per Gateway host', async () => {
  const { snapshot } = await loadSnapshot(fixtureDir('mesh'));
  const g = generateAll(snapshot, routerNode({ istio: 'ingressgateway', app: 'ingress' }));
  assert.deepEqual([...g.listeners.keys()], ['0.0.0.0_8080']);
  const hcm = get(g.listeners.get('0.0.0.0_8080'), 'filter_chains', 0, 'filters', 0, 'typed_config') as DecodedMessage;
  assert.equal(get(hcm, 'rds', 'route_config_name'), 'http.8080');
  assert.equal(hcm.use_remote_address, true);
  const rc = g.routes.get('http.8080');
  const [vh] = rc?.virtual_hosts as DecodedMessage[];
  assert.equal(vh.name, 'bookinfo.example.com:8080');
  assert.deepEqual(vh.domains, ['bookinfo.example.com', 'bookinfo.example.com:8080']);
  const routes = vh.routes as DecodedMessage[];
  assert.equal(get(routes[0], 'route', 'cluster'), 'outbound|9080|v1|reviews.default.svc.cluster.local');
  assert.equal(get(routes[1], 'route', 'cluster'), 'outbound|9080||productpage.default.svc.cluster.local');
  assert.ok(g.clusters.has('outbound|9080|v1|reviews.default.svc.cluster.local'));
  assert.ok(g.endpoints.has('outbound|9080||productpage.default.svc.cluster.local'));
  // Mesh VirtualServices (no gateways) do not leak onto the gateway.
  assert.equal((rc?.virtual_hosts as DecodedMessage[]).length, 1);

  const other = generateAll(snapshot, routerNode({ istio: 'egressgateway' }));
  assert.equal(other.listeners.size, 0, 'a router no Gateway selects gets no listeners');
});

// Registers grpc-js-xds's HTTP filters and load balancers, as an application using xds:/// does.
grpcXds.register();

const GRPC_CONTEXT = { bootstrap: { certificateProviders: {} }, server: {} } as unknown as Parameters<ReturnType<typeof ListenerResourceType.get>['decode']>[0];

/** Runs a resource through @grpc/grpc-js-xds's own decoder and validator, as its xDS client does. */
function grpcAccepts(typeUrl: string, resource: DecodedMessage): unknown {
  const value = Buffer.from(encodeBinary(typeNameOfUrl(typeUrl), resource));
  const type =
    typeUrl === TYPE_URL.listener ? ListenerResourceType.get()
    : typeUrl === TYPE_URL.route ? RouteConfigurationResourceType.get()
    : typeUrl === TYPE_URL.cluster ? ClusterResourceType.get()
    : EndpointResourceType.get();
  const r = type.decode(GRPC_CONTEXT, { type_url: typeUrl, value }) as { name: string; value?: unknown; error?: string };
  assert.equal(r.error, undefined, `${String(resource.name ?? resource.cluster_name)}: ${r.error}`);
  return r.value;
}

test('proxyless gRPC: api_listener per host:port (and short names), RDS of the same name, EDS clusters; @grpc/grpc-js-xds accepts them all', async () => {
  const { snapshot } = await loadSnapshot(fixtureDir('mesh'));
  const node = proxylessNode();
  const g = generateAll(snapshot, node);
  for (const name of ['reviews.default.svc.cluster.local:9080', 'reviews.default:9080', 'reviews:9080', 'legacy.internal:8080']) {
    assert.ok(g.listeners.has(name), name);
    assert.ok(g.routes.has(name), name);
  }
  assert.equal(g.listeners.has('db:5432'), false, 'TCP ports are not gRPC targets');
  const l = g.listeners.get('reviews:9080');
  assert.equal(get(l, 'api_listener', 'api_listener', 'rds', 'route_config_name'), 'reviews:9080');
  assert.deepEqual((get(l, 'api_listener', 'api_listener', 'http_filters') as DecodedMessage[]).map((f) => f.name), ['envoy.filters.http.router']);
  const ratings = g.listeners.get('ratings:9080');
  assert.deepEqual((get(ratings, 'api_listener', 'api_listener', 'http_filters') as DecodedMessage[]).map((f) => f.name), ['envoy.filters.http.fault', 'envoy.filters.http.router']);
  // gRPC gets no retries, mirrors or CORS from the mesh's HTTP defaults.
  const route = get(g.routes.get('productpage:9080'), 'virtual_hosts', 0, 'routes', 0, 'route') as DecodedMessage;
  assert.equal(route.retry_policy, undefined);
  assert.equal(g.clusters.get('outbound|9080||reviews.default.svc.cluster.local')?.lb_policy, 'RING_HASH');
  assert.equal(g.clusters.get('outbound|9080||details.default.svc.cluster.local')?.lb_policy, undefined, 'ROUND_ROBIN');
  assert.equal(g.clusters.has('outbound|80||httpbin.example.com'), false, 'DNS clusters are not for gRPC clients');

  let accepted = 0;
  for (const [typeUrl, map] of [[TYPE_URL.listener, g.listeners], [TYPE_URL.route, g.routes], [TYPE_URL.cluster, g.clusters], [TYPE_URL.endpoint, g.endpoints]] as const) {
    for (const r of map.values()) {
      grpcAccepts(typeUrl, r);
      accepted++;
    }
  }
  assert.ok(accepted > 40);
  const parsedCluster = grpcAccepts(TYPE_URL.cluster, g.clusters.get('outbound|9080||reviews.default.svc.cluster.local')!) as { lbPolicyConfig?: unknown };
  assert.match(JSON.stringify(parsedCluster), /ring_hash/);
  const parsedRoute = grpcAccepts(TYPE_URL.route, g.routes.get('reviews:9080')!) as { virtual_hosts: { routes: { action: unknown }[] }[] };
  assert.match(JSON.stringify(parsedRoute), /weighted_clusters/);
  // The VirtualService's timeout and gRPC retry conditions, in the fields gRPC reads.
  const split = get(g.routes.get('reviews:9080'), 'virtual_hosts', 0, 'routes', 1, 'route') as DecodedMessage;
  assert.deepEqual(split.max_stream_duration, { max_stream_duration: 1500 });
  assert.deepEqual(split.retry_policy, { retry_on: 'unavailable', num_retries: 3, per_try_timeout: 500 });
  // A direct response becomes a 100% abort (gRPC rejects direct_response routes).
  const health = get(g.routes.get('details:9080'), 'virtual_hosts', 0, 'routes', 2) as DecodedMessage;
  assert.equal(get(health, 'route', 'cluster'), 'outbound|9080||details.default.svc.cluster.local');
  assert.deepEqual(get(health, 'typed_per_filter_config', 'envoy.filters.http.fault', 'abort'), { percentage: { numerator: 1000000, denominator: 'MILLION' }, http_status: 200 });
});
