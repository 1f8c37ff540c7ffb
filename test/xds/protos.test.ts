import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { envoyRoot, lookupType, TYPE_URL_PREFIX, typeByUrl, typeUrlOf } from '../../src/xds/protos';

test('the root is loaded once and cached', () => {
  assert.equal(envoyRoot(), envoyRoot());
});

test('every type a proxy config names by URL is loaded', () => {
  const names = [
    'envoy.config.bootstrap.v3.Bootstrap',
    'envoy.config.listener.v3.Listener',
    'envoy.config.route.v3.RouteConfiguration',
    'envoy.config.cluster.v3.Cluster',
    'envoy.config.endpoint.v3.ClusterLoadAssignment',
    'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
    'envoy.extensions.filters.network.rbac.v3.RBAC',
    'envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit',
    'envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit',
    'envoy.extensions.filters.http.router.v3.Router',
    'envoy.extensions.filters.http.fault.v3.HTTPFault',
    'envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit',
    'envoy.extensions.filters.http.cors.v3.Cors',
    'envoy.extensions.filters.http.header_mutation.v3.HeaderMutation',
    'envoy.extensions.filters.http.buffer.v3.Buffer',
    'envoy.extensions.filters.http.rbac.v3.RBAC',
    'envoy.extensions.filters.http.health_check.v3.HealthCheck',
    'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
    'envoy.extensions.filters.listener.http_inspector.v3.HttpInspector',
    'envoy.extensions.filters.listener.original_dst.v3.OriginalDst',
    'envoy.extensions.access_loggers.file.v3.FileAccessLog',
    'envoy.extensions.access_loggers.stream.v3.StdoutAccessLog',
    'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
    'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
    'envoy.extensions.transport_sockets.tls.v3.Secret',
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
    'envoy.extensions.health_checkers.redis.v3.Redis',
    'envoy.service.discovery.v3.DiscoveryRequest',
    'envoy.service.discovery.v3.DeltaDiscoveryResponse',
    'udpa.type.v1.TypedStruct',
    'xds.type.v3.TypedStruct',
    'google.protobuf.Duration',
    'google.protobuf.Struct',
    'google.protobuf.UInt32Value',
  ];
  for (const n of names) {
    assert.ok(lookupType(n), n);
    assert.equal(typeByUrl(TYPE_URL_PREFIX + n)?.fullName, `.${n}`);
  }
});

test('type URL helpers', () => {
  assert.equal(TYPE_URL_PREFIX, 'type.googleapis.com/');
  assert.equal(typeUrlOf('envoy.config.cluster.v3.Cluster'), 'type.googleapis.com/envoy.config.cluster.v3.Cluster');
  assert.ok(typeByUrl('example.com/any/prefix/envoy.config.cluster.v3.Cluster'));
  assert.equal(typeByUrl('type.googleapis.com/envoy.nope.v3.Nope'), undefined);
  assert.equal(lookupType('envoy.config.cluster.v3.Cluster.DiscoveryType'), undefined, 'enums are not message types');
});
