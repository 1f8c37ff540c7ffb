import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { address, bootstrap, HCM_TYPE, ROUTER, simpleRoutes, startProxy, staticCluster, TCP_PROXY_TYPE, waitFor, type RunningProxy } from '../helpers/proxy';
import { curl } from '../helpers/curl';
import { rawExchange, getRequest, hasResponses } from '../helpers/raw';
import { startTcpEcho, freePort, type TcpServer } from '../helpers/upstream';
import { createTestPki, downstreamTlsSocket, HTTP_INSPECTOR, TLS_INSPECTOR, type TestPki } from '../helpers/certs';

/**
 * Listener filters with real clients: one port serving TLS, HTTP/1.1 cleartext and h2c (prior
 * knowledge), bounded detection (listener_filters_timeout), oversized ClientHello, original_dst
 * hand-off to a bind_to_port:false listener.
 */

const H2_PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

function hcm(name: string, body: string): object {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': HCM_TYPE,
      stat_prefix: name,
      route_config: simpleRoutes([{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: body } } }]),
      http_filters: [ROUTER],
    },
  };
}

function tcpProxy(prefix: string, cluster: string): object {
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY_TYPE, stat_prefix: prefix, cluster } };
}

describe('listener filters: one port for TLS, HTTP/1.1 and h2c', () => {
  let pki: TestPki;
  let echo: TcpServer;
  let px: RunningProxy;
  let odPort: number;

  before(async () => {
    pki = createTestPki();
    echo = await startTcpEcho();
    odPort = await freePort();
    px = await startProxy(
      bootstrap(
        [
          {
            name: 'mixed',
            stat_prefix: 'mixed',
            address: address(0),
            listener_filters: [TLS_INSPECTOR, HTTP_INSPECTOR],
            filter_chains: [
              { filter_chain_match: { transport_protocol: 'tls' }, filters: [hcm('mixed_tls', 'over-tls')], transport_socket: downstreamTlsSocket(pki.server) },
              // h2c: the HTTP/2 connection manager is built elsewhere; a byte pipe shows which chain got it.
              { filter_chain_match: { application_protocols: ['h2c'] }, filters: [tcpProxy('mixed_h2c', 'echo')] },
              { filter_chain_match: { application_protocols: ['http/1.1', 'http/1.0'] }, filters: [hcm('mixed_h1', 'cleartext')] },
              { filters: [tcpProxy('mixed_other', 'echo')] },
            ],
          },
          {
            name: 'timeout',
            stat_prefix: 'timeout',
            address: address(0),
            listener_filters: [TLS_INSPECTOR],
            listener_filters_timeout: '0.2s',
            filter_chains: [{ filters: [hcm('timeout', 'late')] }],
          },
          {
            name: 'timeout_continue',
            stat_prefix: 'timeout_continue',
            address: address(0),
            listener_filters: [TLS_INSPECTOR, HTTP_INSPECTOR],
            listener_filters_timeout: '0.2s',
            continue_on_listener_filters_timeout: true,
            filter_chains: [{ filters: [hcm('timeout_continue', 'continued')] }],
          },
          {
            name: 'outbound',
            stat_prefix: 'outbound',
            address: { socket_address: { address: '0.0.0.0', port_value: odPort } },
            use_original_dst: true,
            listener_filters: [{ name: 'envoy.filters.listener.original_dst', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst' } }],
            filter_chains: [{ filters: [hcm('outbound', 'passthrough')] }],
          },
          {
            name: 'virtual',
            stat_prefix: 'virtual',
            address: { socket_address: { address: '127.0.0.1', port_value: odPort } },
            bind_to_port: false,
            filter_chains: [{ filters: [hcm('virtual', 'virtual-listener')] }],
          },
        ],
        [staticCluster('echo', [echo.port])],
      ),
    );
  });
  after(async () => {
    await px?.stop();
    await echo?.stop();
    pki?.remove();
  });

  test('TLS on the shared port goes to the TLS chain (curl https)', async () => {
    const r = await curl(`https://localhost:${px.ports.mixed}/`, ['--cacert', pki.ca.cert], 10_000);
    assert.equal(r.status, 200, r.stderr);
    assert.equal(r.body.toString(), 'over-tls');
    assert.equal(await px.stat('tls_inspector.tls_found'), 1);
  });

  test('HTTP/1.1 cleartext on the same port (curl http, keep-alive reuse)', async () => {
    const r = await curl(`http://127.0.0.1:${px.ports.mixed}/`, [], 10_000);
    assert.equal(r.status, 200, r.stderr);
    assert.equal(r.body.toString(), 'cleartext');
    // Two pipelined requests arriving in the first read are both served: peeked bytes were given back.
    const two = await rawExchange(px.ports.mixed, getRequest('/a') + getRequest('/b'), { until: hasResponses(2) });
    assert.equal(two.text.match(/HTTP\/1\.1 200/g)?.length, 2, two.text);
    const st = await px.stats();
    assert.equal(st['http_inspector.http11_found'], 2);
    assert.ok(st['tls_inspector.tls_not_found'] >= 2);
  });

  test('h2c prior knowledge is detected and reaches the h2c chain with the preface intact', async () => {
    const r = await rawExchange(px.ports.mixed, H2_PREFACE, { until: (d) => d.length >= H2_PREFACE.length });
    assert.equal(r.text, H2_PREFACE, 'the echo behind the h2c chain returned the exact preface');
    const st = await px.stats();
    assert.equal(st['http_inspector.http2_found'], 1);
    assert.equal(st['tcp.mixed_h2c.downstream_cx_total'], 1);
  });

  test('neither TLS nor HTTP: the catch-all chain, bytes intact', async () => {
    const r = await rawExchange(px.ports.mixed, '\x00\x01binary', { until: (d) => d.length >= 8 });
    assert.equal(r.text, '\x00\x01binary');
    assert.equal(await px.stat('http_inspector.http_not_found'), 1);
  });

  test('a client that sends nothing is closed at listener_filters_timeout (downstream_pre_cx_timeout)', async () => {
    const r = await rawExchange(px.ports.timeout, Buffer.alloc(0), { timeoutMs: 8000 });
    assert.ok(r.closed, 'closed by the proxy');
    assert.equal(await px.stat('listener.timeout.downstream_pre_cx_timeout'), 1);
    assert.equal(await px.stat('listener.timeout.downstream_cx_active'), 0);
  });

  test('continue_on_listener_filters_timeout: after the timeout the connection goes on to the default chain', async () => {
    const s = net.connect({ host: '127.0.0.1', port: px.ports.timeout_continue });
    s.on('error', () => undefined);
    await new Promise((r) => s.once('connect', r));
    await waitFor(async () => (await px.stat('listener.timeout_continue.downstream_pre_cx_timeout')) === 1, 8000, 'timeout');
    const chunks: Buffer[] = [];
    s.on('data', (d) => chunks.push(d));
    s.write(getRequest('/'));
    await waitFor(() => Buffer.concat(chunks).includes('continued'), 5000, 'response');
    s.destroy();
  });

  test('an oversized ClientHello closes the connection (client_hello_too_large, downstream_listener_filter_error)', async () => {
    // A handshake record announcing a 128 KiB ClientHello.
    const hello = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x02, 0x00, 0x00]);
    const r = await rawExchange(px.ports.mixed, hello, { timeoutMs: 5000 });
    assert.ok(r.closed);
    const st = await px.stats();
    assert.equal(st['tls_inspector.client_hello_too_large'], 1);
    assert.equal(st['listener.mixed.downstream_listener_filter_error'], 1);
  });

  test('original_dst + use_original_dst hands the connection to the bind_to_port:false listener of its destination', async () => {
    const r = await curl(`http://127.0.0.1:${odPort}/`, [], 10_000);
    assert.equal(r.body.toString(), 'virtual-listener', r.stderr);
  });
});
