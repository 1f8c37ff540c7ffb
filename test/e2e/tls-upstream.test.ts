import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrap, httpListener, simpleRoutes, startProxy, staticCluster, tcpListener, waitFor, type RunningProxy } from '../helpers/proxy';
import { curl } from '../helpers/curl';
import { getRequest, rawExchange } from '../helpers/raw';
import { startNginx, type Nginx } from '../helpers/nginx';
import { createTestPki, SPIFFE_PREFIX, tlsCertificate, upstreamTlsSocket, uriSanValidation, type TestPki } from '../helpers/certs';

/** UpstreamTlsContext against a real nginx HTTPS server: SNI, server validation, mTLS, and failures counted under cluster.<name>.ssl.*. */

describe('upstream TLS (proxy → nginx https)', () => {
  let pki: TestPki;
  let nginx: Nginx;
  let px: RunningProxy;

  before(async () => {
    pki = createTestPki();
    nginx = await startNginx(`
      ssl on;
      ssl_protocols TLSv1.2 TLSv1.3;
      ssl_certificate ${pki.server.cert};
      ssl_certificate_key ${pki.server.key};
      ssl_client_certificate ${pki.ca.cert};
      ssl_verify_client optional;
      location / { return 200 "sni=$ssl_server_name client=$ssl_client_verify proto=$ssl_protocol\\n"; }
    `);
    const cluster = (name: string, common: object, extra: object = {}): object =>
      staticCluster(name, [nginx.port], { transport_socket: upstreamTlsSocket(common, { sni: 'server.example.com', ...extra }) });
    const route = (prefix: string, c: string): object => ({ match: { prefix }, route: { cluster: c } });
    const hc = (check: object): object => ({ timeout: '2s', interval: '0.2s', unhealthy_threshold: 1, healthy_threshold: 1, ...check });
    px = await startProxy(
      bootstrap(
        [
          httpListener(
            'edge',
            simpleRoutes([
              route('/mtls', 'mtls'),
              route('/tls', 'tls_only'),
              route('/wrong-san', 'wrong_san'),
              route('/wrong-ca', 'wrong_ca'),
              route('/unverified', 'unverified'),
              route('/resumed', 'resumed'),
              route('/hc-http', 'hc_http'),
              route('/hc-tcp', 'hc_tcp'),
            ]),
          ),
          tcpListener('tcp_tls', { stat_prefix: 'tcp_tls', cluster: 'mtls' }),
        ],
        [
          cluster('mtls', { tls_certificates: [tlsCertificate(pki.client)], validation_context: uriSanValidation(pki.ca.cert, pki.serverSpiffe) }),
          cluster('tls_only', { validation_context: uriSanValidation(pki.ca.cert, pki.serverSpiffe), tls_params: { tls_maximum_protocol_version: 'TLSv1_3' } }),
          cluster('wrong_san', { validation_context: uriSanValidation(pki.ca.cert, `${SPIFFE_PREFIX}not-the-server`) }),
          cluster('wrong_ca', { validation_context: uriSanValidation(pki.otherCa.cert) }),
          cluster('unverified', {}),
          { ...(cluster('hc_http', { validation_context: uriSanValidation(pki.ca.cert, pki.serverSpiffe) }) as object), health_checks: [hc({ http_health_check: { path: '/healthz' } })] },
          { ...(cluster('hc_tcp', { validation_context: uriSanValidation(pki.ca.cert, pki.serverSpiffe) }) as object), health_checks: [hc({ tcp_health_check: {} })] },
          { ...(cluster('resumed', { validation_context: uriSanValidation(pki.ca.cert, pki.serverSpiffe) }) as object), max_requests_per_connection: 1 },
        ],
      ),
    );
  });
  after(async () => {
    await px?.stop();
    await nginx?.stop();
    pki?.remove();
  });

  test('mTLS to nginx: SNI sent, client certificate verified by nginx, server SAN verified by the proxy', async () => {
    const r = await curl(`http://127.0.0.1:${px.port}/mtls`);
    assert.equal(r.status, 200, r.stderr);
    assert.equal(r.body.toString(), 'sni=server.example.com client=SUCCESS proto=TLSv1.2\n', 'Envoy clients default to TLS 1.2 at most');
    const st = await px.stats();
    assert.equal(st['cluster.mtls.ssl.handshake'], 1);
    // The pooled TLS connection is reused for the next request.
    await curl(`http://127.0.0.1:${px.port}/mtls`);
    assert.equal(await px.stat('cluster.mtls.upstream_cx_total'), 1);
  });

  test('TLS without a client certificate; tls_params raise the maximum to TLS 1.3', async () => {
    const r = await curl(`http://127.0.0.1:${px.port}/tls`);
    assert.equal(r.body.toString(), 'sni=server.example.com client=NONE proto=TLSv1.3\n');
  });

  test('server SAN mismatch: 503, cluster.wrong_san.ssl.fail_verify_san', async () => {
    const r = await curl(`http://127.0.0.1:${px.port}/wrong-san`);
    assert.equal(r.status, 503);
    assert.equal(await px.stat('cluster.wrong_san.ssl.fail_verify_san'), 1);
    assert.equal(await px.stat('cluster.wrong_san.ssl.handshake'), 0);
  });

  test('server certificate from an untrusted CA: 503, cluster.wrong_ca.ssl.fail_verify_error', async () => {
    const r = await curl(`http://127.0.0.1:${px.port}/wrong-ca`);
    assert.equal(r.status, 503);
    assert.equal(await px.stat('cluster.wrong_ca.ssl.fail_verify_error'), 1);
    assert.ok((await px.stat('cluster.wrong_ca.upstream_cx_connect_fail')) >= 1);
  });

  test('no validation context: the server certificate is not verified (Envoy semantics)', async () => {
    const r = await curl(`http://127.0.0.1:${px.port}/unverified`);
    assert.equal(r.status, 200);
    assert.match(r.body.toString(), /sni=server\.example\.com/);
  });

  test('tcp_proxy originates TLS upstream: plaintext in, mTLS to nginx', async () => {
    const r = await rawExchange(px.ports.tcp_tls, getRequest('/', 'connection: close\r\n'), { timeoutMs: 5000 });
    assert.match(r.text, /^HTTP\/1\.1 200/);
    assert.match(r.text, /client=SUCCESS/);
  });

  test('a new upstream connection resumes the previous TLS session (max_session_keys default 1): ssl.session_reused', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await curl(`http://127.0.0.1:${px.port}/resumed`)).status, 200);
    const st = await px.stats();
    assert.equal(st['cluster.resumed.upstream_cx_total'], 3, 'one connection per request');
    assert.equal(st['cluster.resumed.ssl.handshake'], 3);
    assert.equal(st['cluster.resumed.ssl.session_reused'], 2);
  });

  test('active health checks (HTTP and TCP) go through the cluster TLS transport socket, as Envoy', async () => {
    for (const c of ['hc_http', 'hc_tcp']) {
      await waitFor(async () => (await px.stat(`cluster.${c}.health_check.success`)) >= 1, 5000, `${c} health check`);
      assert.equal(await px.stat(`cluster.${c}.health_check.failure`), 0);
      assert.equal((await curl(`http://127.0.0.1:${px.port}/${c.replace('_', '-')}`)).status, 200);
    }
    assert.ok((await px.stat('cluster.hc_http.ssl.handshake')) >= 1);
  });
});
