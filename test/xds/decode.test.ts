import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { ConfigIssue } from '../../src/lib/config-error';
import { decodeBinary, decodeJson, DecodedMessage, encodeBinary, packAny } from '../../src/xds/decode';
import { lookupType } from '../../src/xds/protos';

const T = 'type.googleapis.com/';
const CLUSTER = 'envoy.config.cluster.v3.Cluster';
const LISTENER = 'envoy.config.listener.v3.Listener';
const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'envoy.extensions.filters.http.router.v3.Router';

function ok(type: string, input: unknown): DecodedMessage {
  const issues: ConfigIssue[] = [];
  const d = decodeJson(type, input, '', issues);
  assert.deepEqual(issues, []);
  assert.ok(d);
  return d;
}

function bad(type: string, input: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  decodeJson(type, input, '', issues);
  assert.ok(issues.length > 0, 'expected issues');
  return issues;
}

function roundTrip(type: string, d: DecodedMessage): void {
  const issues: ConfigIssue[] = [];
  const back = decodeBinary(type, encodeBinary(type, d), '', issues);
  assert.deepEqual(issues, []);
  assert.deepStrictEqual(back, d);
}

test('snake_case and lowerCamelCase names both decode to snake_case; only present fields appear', () => {
  const d = ok(CLUSTER, { name: 'a', connectTimeout: '1s', per_connection_buffer_limit_bytes: 1024, lbPolicy: 'LEAST_REQUEST' });
  assert.deepStrictEqual(d, { name: 'a', connect_timeout: 1000, per_connection_buffer_limit_bytes: 1024, lb_policy: 'LEAST_REQUEST' });
  const issues = bad(CLUSTER, { name: 'a', connect_timeout: '1s', connectTimeout: '2s' });
  assert.match(issues[0].message, /set twice/);
});

test('scalars: enums by name or number, 64-bit from strings, strict bools and strings, bytes', () => {
  const d = ok(CLUSTER, { name: 'a', lb_policy: 1, dns_lookup_family: 'V4_ONLY' });
  assert.equal(d.lb_policy, 'LEAST_REQUEST');
  assert.equal(d.dns_lookup_family, 'V4_ONLY');
  const cb = ok('envoy.config.cluster.v3.CircuitBreakers.Thresholds', { max_connections: '10' });
  assert.equal(cb.max_connections, 10);
  const lb = ok('envoy.config.cluster.v3.Cluster.LeastRequestLbConfig', { choice_count: 3 });
  assert.equal(lb.choice_count, 3);
  const ms = ok('envoy.config.core.v3.Metadata', { filter_metadata: { f: { k: [1, 'x', null, { y: true }] } } });
  assert.deepStrictEqual(ms.filter_metadata, { f: { k: [1, 'x', null, { y: true }] } });
  const u64 = ok('envoy.config.route.v3.RouteAction.MaxStreamDuration', {});
  assert.deepStrictEqual(u64, {});
  const hc = ok('envoy.config.core.v3.HealthCheck.Payload', { binary: Buffer.from('hi').toString('base64') });
  assert.ok(Buffer.isBuffer(hc.binary));
  assert.equal((hc.binary as Buffer).toString(), 'hi');

  assert.match(bad(CLUSTER, { name: 'a', lb_policy: 'FASTEST' })[0].message, /expected one of ROUND_ROBIN/);
  assert.match(bad(CLUSTER, { name: 'a', lb_policy: 99 })[0].message, /expected one of/);
  assert.match(bad(CLUSTER, { name: 7 })[0].message, /expected a string, got number 7/);
  assert.match(bad('envoy.config.core.v3.SocketAddress', { address: 'x', port_value: -1 })[0].message, /out of range for uint32/);
  assert.match(bad('envoy.config.core.v3.SocketAddress', { address: 'x', port_value: 1.5 })[0].message, /an integer/);
  assert.match(bad('envoy.config.core.v3.SocketAddress', { address: 'x', port_value: 1, ipv4_compat: 'yes' })[0].message, /true or false/);
});

test('durations are milliseconds; only "<n>s" strings or {seconds,nanos} objects are accepted', () => {
  const D = (v: unknown): unknown => ok(CLUSTER, { name: 'a', connect_timeout: v }).connect_timeout;
  assert.equal(D('1.5s'), 1500);
  assert.equal(D('0.25s'), 250);
  assert.equal(D('3600s'), 3_600_000);
  assert.equal(D('0.000001s'), 0.001);
  assert.equal(D({ seconds: 2, nanos: 500_000_000 }), 2500);
  assert.equal(D({ seconds: '3' }), 3000);
  for (const v of ['100ms', '1m', '1', 1, '1.5 s', '1.0000000001s']) {
    const issues = bad(CLUSTER, { name: 'a', connect_timeout: v });
    assert.equal(issues[0].path, 'connect_timeout');
    assert.match(issues[0].message, /expected a duration/);
  }
});

test('timestamps are ISO strings', () => {
  const TEC = 'envoy.config.core.v3.TypedExtensionConfig';
  const ts = (v: unknown): DecodedMessage => ok(TEC, { name: 't', typed_config: { '@type': T + 'google.protobuf.Timestamp', value: v } });
  const d = ts('2024-05-06T07:08:09.5+02:00');
  assert.deepStrictEqual(d.typed_config, { '@type': T + 'google.protobuf.Timestamp', value: '2024-05-06T05:08:09.500Z' });
  roundTrip(TEC, d);
  assert.match(bad(TEC, { name: 't', typed_config: { '@type': T + 'google.protobuf.Timestamp', value: 'yesterday' } })[0].message, /RFC 3339/);
});

test('wrappers decode to their primitive and keep presence; proto3 scalars at their default are left out', () => {
  const d = ok(HCM, {
    stat_prefix: 'x',
    rds: { route_config_name: 'r', config_source: { ads: {} } },
    use_remote_address: false,
    xff_num_trusted_hops: 0,
    common_http_protocol_options: { max_headers_count: 100, max_requests_per_connection: '5' },
  });
  assert.equal(d.use_remote_address, false);
  assert.equal('xff_num_trusted_hops' in d, false, 'a plain uint32 at 0 is indistinguishable from unset');
  assert.deepStrictEqual(d.common_http_protocol_options, { max_headers_count: 100, max_requests_per_connection: 5 });
  roundTrip(HCM, d);
  assert.match(bad(HCM, { stat_prefix: 'x', use_remote_address: { value: true } })[0].message, /true or false/);
});

const HCM_LISTENER = {
  name: 'http',
  address: { socket_address: { address: '0.0.0.0', port_value: 8080 } },
  filter_chains: [
    {
      filters: [
        {
          name: 'envoy.filters.network.http_connection_manager',
          typed_config: {
            '@type': T + HCM,
            stat_prefix: 'ingress',
            route_config: {
              name: 'local',
              virtual_hosts: [
                { name: 'a', domains: ['a.example.com'], routes: [{ match: { prefix: '/' }, route: { cluster: 'a' } }] },
                { name: 'b', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'b', timeout: '2s' } }] },
              ],
            },
            http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': T + ROUTER } }],
          },
        },
      ],
    },
  ],
};

test('Any: a listener with HCM, inline route_config and the router filter', () => {
  const d = ok(LISTENER, HCM_LISTENER);
  const chains = d.filter_chains as DecodedMessage[];
  const filter = (chains[0].filters as DecodedMessage[])[0];
  const hcm = filter.typed_config as DecodedMessage;
  assert.equal(hcm['@type'], T + HCM);
  assert.equal(hcm.stat_prefix, 'ingress');
  const vhosts = (hcm.route_config as DecodedMessage).virtual_hosts as DecodedMessage[];
  assert.deepStrictEqual((vhosts[1].routes as DecodedMessage[])[0].route, { cluster: 'b', timeout: 2000 });
  assert.deepStrictEqual((hcm.http_filters as DecodedMessage[])[0].typed_config, { '@type': T + ROUTER });
  roundTrip(LISTENER, d);
});

test('Any: tcp_proxy', () => {
  const d = ok('envoy.config.listener.v3.Filter', {
    name: 'tcp',
    typed_config: { '@type': T + 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: 'tcp', cluster: 'db', idle_timeout: '60s' },
  });
  assert.deepStrictEqual(d.typed_config, {
    '@type': T + 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
    stat_prefix: 'tcp',
    cluster: 'db',
    idle_timeout: 60000,
  });
  roundTrip('envoy.config.listener.v3.Filter', d);
});

test('Any: well-known types sit under "value"', () => {
  const d = ok('envoy.config.core.v3.TypedExtensionConfig', { name: 'x', typed_config: { '@type': T + 'google.protobuf.Struct', value: { a: 1 } } });
  assert.deepStrictEqual(d.typed_config, { '@type': T + 'google.protobuf.Struct', value: { a: 1 } });
  roundTrip('envoy.config.core.v3.TypedExtensionConfig', d);
});

test('TypedStruct (udpa and xds) decodes as the type it names', () => {
  for (const ts of ['udpa.type.v1.TypedStruct', 'xds.type.v3.TypedStruct']) {
    const d = ok('envoy.config.listener.v3.Filter', {
      name: 'tcp',
      typed_config: {
        '@type': T + ts,
        type_url: T + 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
        value: { stat_prefix: 'tcp', cluster: 'db', idleTimeout: '1s' },
      },
    });
    assert.deepStrictEqual(d.typed_config, {
      '@type': T + 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
      stat_prefix: 'tcp',
      cluster: 'db',
      idle_timeout: 1000,
    });
  }
  const issues = bad('envoy.config.listener.v3.Filter', {
    name: 'f',
    typed_config: { '@type': T + 'xds.type.v3.TypedStruct', type_url: T + 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', value: { stat_prefix: 'tcp', clustr: 'db' } },
  });
  assert.equal(issues[0].path, 'typed_config.value.clustr');
});

test('TypedStruct in binary form decodes as the type it names', () => {
  const ts = encodeBinary('xds.type.v3.TypedStruct', {
    type_url: T + 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
    value: { stat_prefix: 'tcp', cluster: 'db' },
  });
  // encodeBinary would pack the named type itself, so build the TypedStruct-carrying Any with protobufjs.
  const bytes = lookupType('envoy.config.listener.v3.Filter')!
    .encode({ name: 'f', typed_config: { type_url: T + 'xds.type.v3.TypedStruct', value: ts } })
    .finish();
  const issues: ConfigIssue[] = [];
  const d = decodeBinary('envoy.config.listener.v3.Filter', bytes, '', issues);
  assert.deepEqual(issues, []);
  assert.deepStrictEqual(d, {
    name: 'f',
    typed_config: { '@type': T + 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: 'tcp', cluster: 'db' },
  });
});

test('an unknown field is an issue naming its full path', () => {
  const input = structuredClone(HCM_LISTENER) as unknown as { filter_chains: { filters: { typed_config: { route_config: { virtual_hosts: Record<string, unknown>[] } } }[] }[] };
  input.filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[1].domainz = ['x'];
  const issues = bad(LISTENER, input);
  assert.equal(issues.length, 1);
  assert.equal(issues[0].path, 'filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[1].domainz');
  assert.match(issues[0].message, /unknown field "domainz" in envoy.config.route.v3.VirtualHost/);
  const issues2: ConfigIssue[] = [];
  decodeJson(LISTENER, input, 'static_resources.listeners[0]', issues2);
  assert.equal(issues2[0].path, 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[1].domainz');
});

test('an unknown @type is an issue naming the URL and the path', () => {
  const issues = bad('envoy.config.listener.v3.Filter', { name: 'f', typed_config: { '@type': T + 'envoy.extensions.filters.network.nope.v3.Nope', x: 1 } });
  assert.deepEqual(issues, [{ path: 'typed_config', message: `unknown type URL "${T}envoy.extensions.filters.network.nope.v3.Nope"` }]);
  assert.match(bad('envoy.config.listener.v3.Filter', { name: 'f', typed_config: { x: 1 } })[0].message, /missing "@type"/);
});

test('two members of a oneof is an issue', () => {
  const issues = bad('envoy.config.route.v3.RouteAction', { cluster: 'a', cluster_header: 'x-cluster' });
  assert.equal(issues[0].path, 'cluster_header');
  assert.match(issues[0].message, /only one of cluster and cluster_header may be set \(oneof cluster_specifier\)/);
});

test('protoc-gen-validate rules', () => {
  const one = (type: string, input: unknown): ConfigIssue => {
    const issues = bad(type, input);
    assert.equal(issues.length, 1, JSON.stringify(issues));
    return issues[0];
  };
  // duration gt 0
  assert.deepEqual(one(CLUSTER, { name: 'a', connect_timeout: '0s' }), { path: 'connect_timeout', message: 'value must be greater than 0s' });
  // string min_len, checked on an absent (proto3 implicit) field too, as Envoy does
  assert.deepEqual(one(CLUSTER, { connect_timeout: '1s' }), { path: 'name', message: 'value length must be at least 1 characters' });
  // uint32 lte
  assert.deepEqual(one('envoy.config.core.v3.SocketAddress', { address: 'x', port_value: 70000 }), {
    path: 'port_value',
    message: 'value must be less than or equal to 65535',
  });
  // oneof required
  assert.deepEqual(one('envoy.config.core.v3.Address', {}), { path: '', message: 'one of [socket_address, pipe, envoy_internal_address] must be set' });
  // repeated min_items
  assert.deepEqual(one('envoy.config.route.v3.VirtualHost', { name: 'v', domains: [] }), { path: 'domains', message: 'value must contain at least 1 item(s)' });
  // message required and duration required
  const hc = bad('envoy.config.core.v3.HealthCheck', { interval: '1s', unhealthy_threshold: 1, tcp_health_check: {} });
  assert.deepEqual(hc, [
    { path: 'timeout', message: 'value is required' },
    { path: 'healthy_threshold', message: 'value is required' },
  ]);
  // double gte/lte, also through a wrapper
  assert.deepEqual(one('envoy.type.v3.Percent', { value: 100.5 }), { path: 'value', message: 'value must be less than or equal to 100' });
  assert.deepEqual(one('envoy.config.core.v3.RateLimitSettings', { fill_rate: 0 }), { path: 'fill_rate', message: 'value must be greater than 0' });
  // enum not_in (written as a single value in the proto)
  assert.deepEqual(one('envoy.config.core.v3.HealthCheck.HttpHealthCheck', { path: '/hc', method: 'CONNECT' }), {
    path: 'method',
    message: 'value must not be in list [CONNECT]',
  });
  // well-known regex: header names
  assert.deepEqual(one('envoy.config.core.v3.HeaderValue', { key: 'bad\nname' }), { path: 'key', message: 'value must be a valid HTTP header name' });
  // a rule on a oneof member applies only when it is set
  ok('envoy.config.route.v3.RouteAction', { cluster_header: 'x-cluster' });
  // Listener.name has no rules in the protos: an unnamed listener is valid config
  ok(LISTENER, {});
});

test('PGV rules also run on the binary form', () => {
  const bytes = encodeBinary(CLUSTER, { name: 'a', connect_timeout: 0.5 });
  const issues: ConfigIssue[] = [];
  decodeBinary(CLUSTER, encodeBinary(CLUSTER, { connect_timeout: 1000 }), 'resources[0]', issues);
  assert.deepEqual(issues, [{ path: 'resources[0].name', message: 'value length must be at least 1 characters' }]);
  const ok2: ConfigIssue[] = [];
  assert.deepStrictEqual(decodeBinary(T + CLUSTER, bytes, '', ok2), { name: 'a', connect_timeout: 0.5 });
  assert.deepEqual(ok2, []);
});

test('binary: proto3 zero scalars are absent, wrappers and oneof members keep presence', () => {
  const d = { name: 'a', per_connection_buffer_limit_bytes: 0, lb_policy: 'ROUND_ROBIN', respect_dns_ttl: false };
  const issues: ConfigIssue[] = [];
  assert.deepStrictEqual(decodeBinary(CLUSTER, encodeBinary(CLUSTER, d), '', issues), { name: 'a', per_connection_buffer_limit_bytes: 0 });
  const sa = { address: 'x', port_value: 0 };
  assert.deepStrictEqual(decodeBinary('envoy.config.core.v3.SocketAddress', encodeBinary('envoy.config.core.v3.SocketAddress', sa), '', issues), sa);
  assert.deepEqual(issues, []);
  assert.deepEqual(
    (() => {
      const i: ConfigIssue[] = [];
      decodeBinary(CLUSTER, new Uint8Array([0x0a, 0x05, 0x61]), 'r', i);
      return i.map((x) => x.path);
    })(),
    ['r'],
  );
});

test('packAny wraps an encoded message with its type URL', () => {
  const listener = ok(LISTENER, HCM_LISTENER);
  const any = packAny(T + LISTENER, listener);
  assert.equal(any.type_url, T + LISTENER);
  const issues: ConfigIssue[] = [];
  assert.deepStrictEqual(decodeBinary(any.type_url, any.value, '', issues), listener);
  assert.deepEqual(issues, []);
});

test('unknown message type names are issues', () => {
  const issues: ConfigIssue[] = [];
  assert.equal(decodeJson('envoy.nope.Nope', {}, 'x', issues), undefined);
  assert.deepEqual(issues, [{ path: 'x', message: 'unknown message type "envoy.nope.Nope"' }]);
});
