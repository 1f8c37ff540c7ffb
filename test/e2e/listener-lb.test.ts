import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { request } from 'undici';
import {
  address,
  bootstrap,
  HCM_TYPE,
  httpListener,
  ROUTER,
  simpleRoutes,
  startProxy,
  staticCluster,
  waitFor,
  type RunningProxy,
} from '../helpers/proxy';
import { getRequest, hasResponses, parseResponses, rawExchange } from '../helpers/raw';
import { startEchoUpstream, type EchoUpstream } from '../helpers/upstream';

/**
 * Listener-level limits, consistent-hash load balancing through the proxy, DNS clusters and
 * graceful drain on shutdown, against real node:http upstreams.
 */

async function upstreamOf(port: number, path: string, headers: Record<string, string> = {}): Promise<string> {
  const r = await request(`http://127.0.0.1:${port}${path}`, { headers: { host: 'lb.example.com', ...headers } });
  await r.body.arrayBuffer();
  assert.equal(r.statusCode, 200);
  return String(r.headers['x-upstream']);
}

describe('listeners and load balancing', () => {
  const ups: EchoUpstream[] = [];
  let px: RunningProxy;

  before(async () => {
    for (const n of ['u0', 'u1', 'u2']) ups.push(await startEchoUpstream(n));
    const ports = ups.map((u) => u.port);
    const hashRoute = (prefix: string, cluster: string): object => ({
      match: { prefix },
      route: { cluster, hash_policy: [{ header: { header_name: 'x-user' } }] },
    });
    const limited = {
      name: 'limited',
      address: address(0),
      filter_chains: [
        {
          filters: [
            {
              name: 'envoy.filters.network.connection_limit',
              typed_config: {
                '@type': 'type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit',
                stat_prefix: 'limited',
                max_connections: 2,
              },
            },
            {
              name: 'envoy.filters.network.http_connection_manager',
              typed_config: {
                '@type': HCM_TYPE,
                stat_prefix: 'limited',
                route_config: simpleRoutes([{ match: { prefix: '/' }, route: { cluster: 'rr' } }]),
                http_filters: [ROUTER],
              },
            },
          ],
        },
      ],
    };
    px = await startProxy(
      bootstrap(
        [
          httpListener(
            'lb',
            simpleRoutes([hashRoute('/ring', 'ring'), hashRoute('/maglev', 'maglev'), { match: { prefix: '/dns' }, route: { cluster: 'dns' } }]),
          ),
          limited,
        ],
        [
          staticCluster('ring', ports, { lb_policy: 'RING_HASH' }),
          staticCluster('maglev', ports, { lb_policy: 'MAGLEV' }),
          staticCluster('rr', [ports[0]]),
          {
            name: 'dns',
            type: 'STRICT_DNS',
            connect_timeout: '1s',
            dns_lookup_family: 'V4_ONLY',
            load_assignment: {
              cluster_name: 'dns',
              endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'localhost', port_value: ports[1] } } } }] }],
            },
          },
        ],
      ),
      2000,
    );
  });
  after(async () => {
    await px?.stop();
    for (const u of ups) await u.stop();
  });

  for (const policy of ['ring', 'maglev']) {
    test(`${policy}: one user always reaches the same host, users spread over hosts`, async () => {
      const first = await upstreamOf(px.ports.lb, `/${policy}/a`, { 'x-user': 'alice' });
      for (let i = 0; i < 20; i++) assert.equal(await upstreamOf(px.ports.lb, `/${policy}/a`, { 'x-user': 'alice' }), first);
      const seen = new Set<string>();
      for (let i = 0; i < 60; i++) seen.add(await upstreamOf(px.ports.lb, `/${policy}/b`, { 'x-user': `user-${i}` }));
      assert.ok(seen.size >= 2, `users spread over ${[...seen].join(',')}`);
    });
  }

  test('STRICT_DNS cluster resolves localhost and serves', async () => {
    assert.equal(await upstreamOf(px.ports.lb, '/dns'), 'u1');
    assert.ok((await px.stat('cluster.dns.membership_total')) >= 1);
  });

  test('connection_limit: the third concurrent connection is closed, the first two are served', async () => {
    const port = px.ports.limited;
    const open = async (): Promise<net.Socket> => {
      const s = net.connect(port, '127.0.0.1');
      await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
      return s;
    };
    const a = await open();
    const b = await open();
    await waitFor(async () => (await px.stat('connection_limit.limited.active_connections')) === 2, 5000, 'two connections counted');
    const third = await rawExchange(port, getRequest('/', '', 'lb.example.com'), { timeoutMs: 3000 });
    assert.ok(third.closed, 'the third connection is closed');
    assert.equal(parseResponses(third.data).length, 0, 'and gets no response');
    assert.equal(await px.stat('connection_limit.limited.limited_connections'), 1);
    a.destroy();
    b.destroy();
    await waitFor(async () => (await px.stat('connection_limit.limited.active_connections')) === 0, 5000, 'slots released');
    const again = await rawExchange(port, getRequest('/', 'connection: close\r\n', 'lb.example.com'), { until: hasResponses(1), timeoutMs: 3000 });
    assert.equal(parseResponses(again.data)[0]?.status, 200);
  });

  test('shutdown drains: a request in flight completes, new connections are refused', async () => {
    const inflight = request(`http://127.0.0.1:${px.ports.lb}/dns/slow`, { headers: { host: 'lb.example.com', 'x-delay-ms': '400' } });
    await waitFor(() => ups[1].requests.some((r) => r.url === '/dns/slow'), 5000, 'request reached the upstream');
    const stopping = px.stop();
    const r = await inflight;
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['connection'], 'close', 'a draining connection closes after its response');
    await r.body.arrayBuffer();
    await assert.rejects(
      new Promise<void>((resolve, reject) => {
        const s = net.connect(px.ports.lb, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          resolve();
        });
        s.once('error', reject);
      }),
      /ECONNREFUSED/,
    );
    await stopping;
  });
});
