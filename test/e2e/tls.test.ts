import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import * as net from 'node:net';
import { address, bootstrap, fileAccessLog, HCM_TYPE, ROUTER, simpleRoutes, startProxy, TCP_PROXY_TYPE, tempDir, waitForLogLine, type RunningProxy } from '../helpers/proxy';
import { curl, run } from '../helpers/curl';
import { createTestPki, downstreamTlsSocket, SPIFFE_PREFIX, TLS_INSPECTOR, type CertPair, type TestPki } from '../helpers/certs';

/** Downstream TLS with real clients (curl, openssl s_client, node:tls): handshakes, mTLS, SNI/ALPN chain selection. */

function hcm(name: string, body: string, extra: object = {}): object {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': HCM_TYPE,
      stat_prefix: name,
      route_config: simpleRoutes([{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: body } } }]),
      http_filters: [ROUTER],
      ...extra,
    },
  };
}

const TLS_LOG = '%DOWNSTREAM_TLS_VERSION% %REQUESTED_SERVER_NAME% %DOWNSTREAM_PEER_URI_SAN% %DOWNSTREAM_PEER_SUBJECT% %DOWNSTREAM_TLS_CIPHER%\n';

/** Envoy's verify_certificate_hash format: colon-separated upper-case hex SHA-256. */
function certHash(file: string): string {
  return new X509Certificate(fs.readFileSync(file)).fingerprint256;
}

function listener(name: string, chains: object[], extra: object = {}): object {
  return { name, stat_prefix: name, address: address(0), filter_chains: chains, ...extra };
}

function curlTls(px: RunningProxy, name: string, host: string, ca: string, client?: CertPair, extra: string[] = []): ReturnType<typeof curl> {
  const args = ['--cacert', ca, '--resolve', `${host}:${px.ports[name]}:127.0.0.1`, ...extra];
  if (client) args.push('--cert', client.cert, '--key', client.key);
  return curl(`https://${host}:${px.ports[name]}/`, args, 10_000);
}

/** A TLS handshake with node:tls; resolves with what the client saw (never rejects). */
function handshake(port: number, opts: tls.ConnectionOptions): Promise<{ ok: boolean; alpn: string | false | null; cn: string; error: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ...opts });
    let result = { ok: false, alpn: null as string | false | null, cn: '', error: '', closed: false };
    s.on('secureConnect', () => {
      const cert = s.getPeerCertificate();
      result = { ...result, ok: true, alpn: s.alpnProtocol, cn: String(cert.subject?.CN ?? '') };
      // TLS 1.3: a rejected client certificate shows up after the client's handshake; ask and see.
      s.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    });
    s.on('data', () => s.end());
    s.on('error', (e) => (result.error = e.message));
    s.on('close', () => resolve({ ...result, closed: true }));
    s.setTimeout(8000, () => s.destroy());
  });
}

describe('downstream TLS', () => {
  let pki: TestPki;
  let px: RunningProxy;
  const tmp = tempDir();
  const logFile = tmp.file('tls.log');

  before(async () => {
    pki = createTestPki();
    const validation = (uri: string): object => ({
      validation_context: { trusted_ca: { filename: pki.ca.cert }, match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: uri } }] },
    });
    px = await startProxy(
      bootstrap(
        [
          listener('https', [{ filters: [hcm('https', 'secure')], transport_socket: downstreamTlsSocket(pki.server, { common: { alpn_protocols: ['http/1.1'] } }) }]),
          listener('mtls', [
            {
              filters: [hcm('mtls', 'mutual', { access_log: [fileAccessLog(logFile, TLS_LOG)] })],
              transport_socket: downstreamTlsSocket(pki.server, { common: validation(pki.clientSpiffe), extra: { require_client_certificate: true } }),
            },
          ]),
          listener('mtls_other_san', [
            {
              filters: [hcm('mtls_other_san', 'x')],
              transport_socket: downstreamTlsSocket(pki.server, { common: validation(`${SPIFFE_PREFIX}someone-else`), extra: { require_client_certificate: true } }),
            },
          ]),
          listener('slow_handshake', [
            { filters: [hcm('slow_handshake', 'x')], transport_socket: downstreamTlsSocket(pki.server), transport_socket_connect_timeout: '0.2s' },
          ]),
          listener('pinned', [
            {
              filters: [hcm('pinned', 'pinned')],
              transport_socket: downstreamTlsSocket(pki.server, {
                common: { validation_context: { trusted_ca: { filename: pki.ca.cert }, verify_certificate_hash: [certHash(pki.client.cert)] } },
                extra: { require_client_certificate: true, require_sni: true },
              }),
            },
          ]),
          listener('optional_client', [
            { filters: [hcm('optional_client', 'optional')], transport_socket: downstreamTlsSocket(pki.server, { common: validation(pki.clientSpiffe) }) },
          ]),
          listener(
            'sni',
            [
              { filter_chain_match: { server_names: ['server.example.com'] }, filters: [hcm('sni_exact', 'exact')], transport_socket: downstreamTlsSocket(pki.server) },
              { filter_chain_match: { server_names: ['*.example.com'] }, filters: [hcm('sni_wild', 'wildcard')], transport_socket: downstreamTlsSocket(pki.serverV2) },
              {
                filter_chain_match: { application_protocols: ['x-weft-test'] },
                filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY_TYPE, stat_prefix: 'alpn', cluster: 'nowhere' } }],
                transport_socket: downstreamTlsSocket(pki.server, { common: { alpn_protocols: ['x-weft-test'] } }),
              },
            ],
            { listener_filters: [TLS_INSPECTOR] },
          ),
        ],
        [{ name: 'nowhere', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'nowhere', endpoints: [] } }],
      ),
    );
  });
  after(async () => {
    await px?.stop();
    pki?.remove();
    tmp.remove();
  });

  test('curl over HTTPS: handshake, ALPN http/1.1, ssl.handshake and ssl.versions counted', async () => {
    const r = await curlTls(px, 'https', 'localhost', pki.ca.cert);
    assert.equal(r.status, 200, r.stderr);
    assert.equal(r.body.toString(), 'secure');
    const st = await px.stats();
    assert.equal(st['listener.https.ssl.handshake'], 1);
    assert.equal(st['listener.https.ssl.versions.TLSv1.3'], 1);
  });

  test('curl that does not trust the CA fails its own verification; the proxy counts a connection error', async () => {
    const r = await curlTls(px, 'https', 'localhost', pki.otherCa.cert);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /certificate/i);
  });

  test('mTLS: a client certificate with the right SPIFFE ID gets through', async () => {
    const r = await curlTls(px, 'mtls', 'localhost', pki.ca.cert, pki.client);
    assert.equal(r.status, 200, r.stderr);
    assert.equal(r.body.toString(), 'mutual');
    const line = await waitForLogLine(logFile, () => true);
    assert.match(line, new RegExp(`^TLSv1\\.3 localhost ${pki.clientSpiffe} CN=client TLS_\\w+$`));
  });

  test('a missing client certificate is refused in the handshake: curl sees the "certificate required" alert', async () => {
    const r = await curlTls(px, 'mtls', 'localhost', pki.ca.cert);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /certificate required/);
    assert.equal(await px.stat('listener.mtls.ssl.fail_verify_no_cert'), 1);
  });

  test('mTLS failures: missing cert, other CA, expired, SAN mismatch — each refused and counted', async () => {
    const base = { ca: fs.readFileSync(pki.ca.cert), servername: 'localhost' };
    const withCert = (p: CertPair): tls.ConnectionOptions => ({ ...base, cert: fs.readFileSync(p.cert), key: fs.readFileSync(p.key) });
    const none = await handshake(px.ports.mtls, base);
    const other = await handshake(px.ports.mtls, withCert(pki.clientOtherCa));
    const expired = await handshake(px.ports.mtls, withCert(pki.clientExpired));
    const san = await handshake(px.ports.mtls_other_san, withCert(pki.client));
    for (const r of [none, other, expired, san]) assert.ok(r.closed);
    const st = await px.stats();
    assert.equal(st['listener.mtls.ssl.fail_verify_no_cert'], 2, 'curl in the test before, node:tls here');
    assert.equal(st['listener.mtls.ssl.fail_verify_error'], 2, 'other CA and expired');
    assert.equal(st['listener.mtls_other_san.ssl.fail_verify_san'], 1);
    assert.equal(st['http.mtls.downstream_rq_total'], 1, 'only the earlier good client reached the connection manager');
    assert.equal(st['http.mtls_other_san.downstream_rq_total'] ?? 0, 0);
  });

  test('without require_client_certificate a client without a certificate is let in (ssl.no_certificate)', async () => {
    const r = await curlTls(px, 'optional_client', 'localhost', pki.ca.cert);
    assert.equal(r.status, 200, r.stderr);
    const bad = await curlTls(px, 'optional_client', 'localhost', pki.ca.cert, pki.clientOtherCa);
    assert.notEqual(bad.status, 200);
    const st = await px.stats();
    assert.equal(st['listener.optional_client.ssl.no_certificate'], 1);
    assert.equal(st['listener.optional_client.ssl.fail_verify_error'], 1, 'a presented certificate is still verified');
  });

  test('SNI picks the chain: exact name over wildcard, wildcard for other names (curl --resolve)', async () => {
    const exact = await curlTls(px, 'sni', 'server.example.com', pki.ca.cert, undefined, ['--insecure']);
    assert.equal(exact.body.toString(), 'exact', exact.stderr);
    const wild = await curlTls(px, 'sni', 'other.example.com', pki.ca.cert, undefined, ['--insecure']);
    assert.equal(wild.body.toString(), 'wildcard', wild.stderr);
    const st = await px.stats();
    assert.equal(st['tls_inspector.sni_found'], 2);
  });

  test('openssl s_client: -servername selects the certificate, -alpn selects the chain and is negotiated', async () => {
    const v1 = await run('openssl', ['s_client', '-connect', `127.0.0.1:${px.ports.sni}`, '-servername', 'server.example.com'], 10_000, '');
    assert.match(v1.stdout, /subject=CN ?= ?server\n/, v1.stdout);
    const v2 = await run('openssl', ['s_client', '-connect', `127.0.0.1:${px.ports.sni}`, '-servername', 'a.example.com'], 10_000, '');
    assert.match(v2.stdout, /subject=CN ?= ?server-v2\n/);
    const alpn = await run('openssl', ['s_client', '-connect', `127.0.0.1:${px.ports.sni}`, '-alpn', 'x-weft-test'], 10_000, '');
    assert.match(alpn.stdout, /ALPN protocol: x-weft-test/);
    const none = await run('openssl', ['s_client', '-connect', `127.0.0.1:${px.ports.sni}`, '-servername', 'nope.invalid'], 10_000, '');
    assert.doesNotMatch(none.stdout, /BEGIN CERTIFICATE/);
    const st = await px.stats();
    assert.equal(st['listener.sni.no_filter_chain_match'], 1);
    assert.ok(st['tls_inspector.alpn_found'] >= 1);
  });

  test('a client that never completes the handshake is closed at transport_socket_connect_timeout', async () => {
    const s = net.connect({ host: '127.0.0.1', port: px.ports.slow_handshake });
    s.on('error', () => undefined);
    await new Promise((r) => s.once('close', r));
    assert.equal(await px.stat('listener.slow_handshake.downstream_cx_transport_socket_connect_timeout'), 1);
    assert.equal(await px.stat('listener.slow_handshake.downstream_cx_active'), 0);
  });

  test('verify_certificate_hash pins the client certificate; require_sni refuses a handshake without SNI', async () => {
    const ok = await curlTls(px, 'pinned', 'localhost', pki.ca.cert, pki.client);
    assert.equal(ok.body.toString(), 'pinned', ok.stderr);
    const other = { ca: fs.readFileSync(pki.ca.cert), servername: 'localhost', cert: fs.readFileSync(pki.serverV2.cert), key: fs.readFileSync(pki.serverV2.key) };
    await handshake(px.ports.pinned, other);
    const noSni = { ca: fs.readFileSync(pki.ca.cert), cert: fs.readFileSync(pki.client.cert), key: fs.readFileSync(pki.client.key), checkServerIdentity: () => undefined };
    await handshake(px.ports.pinned, noSni);
    const st = await px.stats();
    assert.equal(st['listener.pinned.ssl.fail_verify_cert_hash'], 1);
    assert.equal(st['listener.pinned.ssl.connection_error'], 1, 'no SNI');
    assert.equal(st['listener.pinned.ssl.handshake'], 1);
  });
});
