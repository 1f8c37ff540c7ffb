import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { address, bootstrap, HCM_TYPE, ROUTER, simpleRoutes, startProxy, waitFor, type RunningProxy } from '../helpers/proxy';
import { curl } from '../helpers/curl';
import { createTestPki, DOWNSTREAM_TLS, downstreamTlsSocket, UPSTREAM_TLS, type TestPki } from '../helpers/certs';
import { ConfigError } from '../../src/lib/config-error';

/** Secrets: static_resources.secrets by name, rotation through watched_directory, and config errors named by path. */

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

function tlsListener(name: string, transportSocket: object): object {
  return { name, stat_prefix: name, address: address(0), filter_chains: [{ filters: [hcm(name, name)], transport_socket: transportSocket }] };
}

/** Opens a keep-alive TLS connection; `get()` sends one request on it and resolves with the response text. */
async function openTls(port: number, ca: string): Promise<{ cn: string; get(): Promise<string>; close(): void }> {
  const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: fs.readFileSync(ca) });
  await new Promise<void>((resolve, reject) => {
    s.once('secureConnect', resolve);
    s.once('error', reject);
  });
  s.on('error', () => undefined);
  return {
    cn: String(s.getPeerCertificate().subject.CN),
    get: () =>
      new Promise((resolve, reject) => {
        let text = '';
        const onData = (d: Buffer): void => {
          text += d.toString('latin1');
          if (/\r\n\r\n[\s\S]*\S$/.test(text) || /content-length: 0/i.test(text)) {
            s.off('data', onData);
            resolve(text);
          }
        };
        s.on('data', onData);
        s.once('close', () => reject(new Error('connection closed')));
        s.write('GET / HTTP/1.1\r\nhost: localhost\r\n\r\n');
      }),
    close: () => s.destroy(),
  };
}

describe('secrets', () => {
  let pki: TestPki;
  let px: RunningProxy;
  let certDir: string;

  before(async () => {
    pki = createTestPki();
    certDir = fs.mkdtempSync(path.join(pki.dir, 'watched-'));
    fs.copyFileSync(pki.server.cert, path.join(certDir, 'cert.pem'));
    fs.copyFileSync(pki.server.key, path.join(certDir, 'key.pem'));
    const byName = (name: string): object => ({
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': DOWNSTREAM_TLS,
        common_tls_context: { tls_certificate_sds_secret_configs: [{ name }], validation_context_sds_secret_config: { name: 'mesh-ca' } },
        require_client_certificate: true,
      },
    });
    const config = bootstrap([tlsListener('named', byName('server-cert')), tlsListener('rotating', byName('rotating-cert'))], []) as {
      static_resources: Record<string, unknown>;
    };
    config.static_resources.secrets = [
      { name: 'server-cert', tls_certificate: { certificate_chain: { inline_bytes: fs.readFileSync(pki.server.cert).toString('base64') }, private_key: { inline_string: fs.readFileSync(pki.server.key, 'utf8') } } },
      {
        name: 'rotating-cert',
        tls_certificate: {
          certificate_chain: { filename: path.join(certDir, 'cert.pem') },
          private_key: { filename: path.join(certDir, 'key.pem') },
          watched_directory: { path: certDir },
        },
      },
      { name: 'mesh-ca', validation_context: { trusted_ca: { filename: pki.ca.cert } } },
    ];
    px = await startProxy(config);
  });
  after(async () => {
    await px?.stop();
    pki?.remove();
  });

  test('static secrets referenced by name (inline_bytes, inline_string, filename) serve mTLS', async () => {
    const r = await curl(`https://localhost:${px.ports.named}/`, ['--cacert', pki.ca.cert, '--cert', pki.client.cert, '--key', pki.client.key], 10_000);
    assert.equal(r.status, 200, r.stderr);
    assert.equal(r.body.toString(), 'named');
  });

  test('watched_directory rotation: new handshakes get the new certificate, an open connection stays up', async () => {
    const mtls = { cert: fs.readFileSync(pki.client.cert), key: fs.readFileSync(pki.client.key) };
    const openMtls = async (): Promise<Awaited<ReturnType<typeof openTls>>> => {
      const s = tls.connect({ host: '127.0.0.1', port: px.ports.rotating, servername: 'localhost', ca: fs.readFileSync(pki.ca.cert), ...mtls });
      await new Promise<void>((resolve, reject) => {
        s.once('secureConnect', resolve);
        s.once('error', reject);
      });
      s.on('error', () => undefined);
      const cn = String(s.getPeerCertificate().subject.CN);
      return {
        cn,
        get: () =>
          new Promise<string>((resolve, reject) => {
            let text = '';
            s.on('data', (d: Buffer) => {
              text += d.toString('latin1');
              if (text.endsWith('rotating')) resolve(text);
            });
            s.once('close', () => reject(new Error('connection closed')));
            s.write('GET / HTTP/1.1\r\nhost: localhost\r\n\r\n');
          }),
        close: () => s.destroy(),
      };
    };
    const before = await openMtls();
    assert.equal(before.cn, 'server');
    // Kubernetes-style atomic swap: write aside, then rename into the watched directory.
    fs.copyFileSync(pki.serverV2.key, path.join(certDir, '.key.tmp'));
    fs.copyFileSync(pki.serverV2.cert, path.join(certDir, '.cert.tmp'));
    fs.renameSync(path.join(certDir, '.key.tmp'), path.join(certDir, 'key.pem'));
    fs.renameSync(path.join(certDir, '.cert.tmp'), path.join(certDir, 'cert.pem'));
    let cn = '';
    await waitFor(async () => {
      const c = await openMtls();
      cn = c.cn;
      c.close();
      return cn === 'server-v2';
    }, 5000, 'the rotated certificate');
    assert.match(await before.get(), /HTTP\/1\.1 200/, 'the connection opened before the rotation still works');
    before.close();
    assert.equal(await px.stat('sds.rotating-cert.key_rotation_failed'), 0);
  });

  test('a broken file after rotation keeps the last good certificate and counts key_rotation_failed', async () => {
    fs.writeFileSync(path.join(certDir, 'key.pem'), '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n');
    await waitFor(async () => (await px.stat('sds.rotating-cert.key_rotation_failed')) >= 1, 5000, 'the failed reload');
    const s = await openTls(px.ports.rotating, pki.ca.cert).catch(() => undefined);
    // The listener requires a client certificate, but the server certificate is still presented.
    assert.equal(s?.cn, 'server-v2');
    s?.close();
  });
});

describe('TLS configuration errors', () => {
  let pki: TestPki;
  before(() => {
    pki = createTestPki();
  });
  after(() => pki?.remove());

  async function rejects(config: object): Promise<string> {
    try {
      const px = await startProxy(config);
      await px.stop();
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      return e.message;
    }
    assert.fail('the configuration was accepted');
  }
  const TS = 'static_resources.listeners[0].filter_chains[0].transport_socket.typed_config';

  test('a private key that does not match the certificate names the field', async () => {
    const msg = await rejects(bootstrap([tlsListener('l', downstreamTlsSocket({ cert: pki.server.cert, key: pki.strayKey }))], []));
    assert.match(msg, new RegExp(`${TS.replace(/[.[\]]/g, '\\$&')}\\.common_tls_context\\.tls_certificates\\[0\\]\\.private_key: private key from file .* does not match`));
  });

  test('a key that does not parse, and a missing file, are named with the cause', async () => {
    const garbage = path.join(pki.dir, 'garbage.key');
    fs.writeFileSync(garbage, 'not a key');
    const bad = await rejects(bootstrap([tlsListener('l', downstreamTlsSocket({ cert: pki.server.cert, key: garbage }))], []));
    assert.match(bad, /tls_certificates\[0\]\.private_key: failed to load private key from file/);
    const missing = await rejects(bootstrap([tlsListener('l', downstreamTlsSocket({ cert: path.join(pki.dir, 'nope.crt'), key: pki.server.key }))], []));
    assert.match(missing, /tls_certificates\[0\]\.certificate_chain: cannot read .*nope\.crt: ENOENT/);
  });

  test('unknown static secret, unsupported fields and renegotiation are rejected by path', async () => {
    const unknown = await rejects(
      bootstrap([tlsListener('l', { name: 'tls', typed_config: { '@type': DOWNSTREAM_TLS, common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'nope' }] } } })], []),
    );
    assert.match(unknown, /tls_certificate_sds_secret_configs\[0\]\.name: static secret nope is not defined in static_resources\.secrets/);
    const unsupported = await rejects(bootstrap([tlsListener('l', downstreamTlsSocket(pki.server, { extra: { session_ticket_keys: { keys: [{ inline_string: 'x'.repeat(80) }] } } }))], []));
    assert.match(unsupported, /typed_config\.session_ticket_keys: field is not implemented by Weft/);
    const reneg = await rejects(
      bootstrap([], [{ name: 'c', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'c', endpoints: [] }, transport_socket: { name: 'tls', typed_config: { '@type': UPSTREAM_TLS, allow_renegotiation: true } } }]),
    );
    assert.match(reneg, /static_resources\.clusters\[0\]\.transport_socket\.typed_config\.allow_renegotiation: TLS renegotiation is not supported/);
    const sanNoCa = await rejects(
      bootstrap([tlsListener('l', downstreamTlsSocket(pki.server, { common: { validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: pki.clientSpiffe } }] } } }))], []),
    );
    assert.match(sanNoCa, /common_tls_context\.validation_context: SAN-based verification of peer certificates without trusted_ca is insecure/);
    const matches = await rejects(bootstrap([], [{ name: 'c', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'c', endpoints: [] }, transport_socket_matches: [] }]));
    assert.match(matches, /clusters\[0\]\.transport_socket_matches: field is not implemented/);
  });

  test('an expired server certificate is loaded with a warning (as Envoy) and server.days_until_first_cert_expiring is 0', async () => {
    const px = await startProxy(bootstrap([tlsListener('l', downstreamTlsSocket(pki.clientExpired))], []));
    try {
      assert.equal(await px.stat('server.days_until_first_cert_expiring'), 0);
    } finally {
      await px.stop();
    }
    const ok = await startProxy(bootstrap([tlsListener('l', downstreamTlsSocket(pki.server))], []));
    try {
      assert.ok((await ok.stat('server.days_until_first_cert_expiring')) > 700);
    } finally {
      await ok.stop();
    }
  });
});
