import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { after, before, test } from 'node:test';
import type { ConfigIssue } from '../../../src/lib/config-error';
import { SecretStore } from '../../../src/proxy/secret/secret-store';
import { StatsStore } from '../../../src/proxy/telemetry/stats';
import { compileDownstreamTransport } from '../../../src/proxy/tls/downstream';
import { parseSubjectAltNames, sanMatches } from '../../../src/proxy/tls/peer-validation';
import { compileValidationContext } from '../../../src/proxy/secret/validation-context';
import { compileTlsCertificate } from '../../../src/proxy/secret/tls-certificate';
import { execFileSync } from 'node:child_process';
import { createTestPki, DOWNSTREAM_TLS, type TestPki } from '../../helpers/certs';

let pki: TestPki;
before(() => {
  pki = createTestPki();
});
after(() => pki?.remove());

/** Serves the transport on a real socket and makes one handshake with node:tls; resolves with the peer CN or the error. */
async function handshakeThrough(transport: NonNullable<ReturnType<typeof compileDownstreamTransport>>): Promise<string> {
  const open = new Set<net.Socket>();
  const server = net.createServer((s) => {
    open.add(s);
    transport.accept(s, (t) => t.end('ok'), () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  try {
    return await new Promise<string>((resolve) => {
      const c = tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(pki.ca.cert), servername: 'localhost' });
      c.on('secureConnect', () => {
        resolve(String(c.getPeerCertificate().subject.CN));
        c.destroy();
      });
      c.on('error', (e) => resolve(`error: ${e.message}`));
      c.on('close', () => resolve('closed'));
    });
  } finally {
    for (const s of open) s.destroy();
    server.close();
  }
}

function sdsSecret(name: string, cert: string, key: string): object {
  return { name, tls_certificate: { certificate_chain: { filename: cert }, private_key: { filename: key } } };
}

test('SDS API: a referenced secret waits for SDS, set/update/remove apply to new handshakes, a bad update is NACKed', async () => {
  const stats = new StatsStore();
  const secrets = new SecretStore(stats);
  const issues: ConfigIssue[] = [];
  const transport = compileDownstreamTransport(
    {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': DOWNSTREAM_TLS,
        common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: { ads: {} } }] },
      },
    },
    'ts',
    issues,
    { secrets, stats, statPrefix: 'listener.t.', handshakeTimeoutCounter: stats.counter('listener.t.downstream_cx_transport_socket_connect_timeout') },
    undefined,
  );
  assert.deepEqual(issues, []);
  assert.ok(transport);
  assert.deepEqual(secrets.dynamicNames(), ['default']);
  assert.match(await handshakeThrough(transport), /closed|error/, 'no certificate yet: refused');
  assert.equal(stats.counter('listener.t.ssl.connection_error').value, 1);

  assert.deepEqual(secrets.setDynamic(sdsSecret('default', pki.server.cert, pki.server.key)), []);
  assert.equal(await handshakeThrough(transport), 'server');
  assert.deepEqual(secrets.setDynamic(sdsSecret('default', pki.serverV2.cert, pki.serverV2.key)), []);
  assert.equal(await handshakeThrough(transport), 'server-v2');
  assert.equal(stats.counter('sds.default.update_success').value, 2);

  const nack = secrets.setDynamic(sdsSecret('default', pki.server.cert, pki.strayKey));
  assert.match(nack[0]?.message ?? '', /does not match/);
  assert.equal(stats.counter('sds.default.update_rejected').value, 1);
  assert.equal(await handshakeThrough(transport), 'server-v2', 'the last good version stays');
  assert.match(secrets.setDynamic({ name: 'default', validation_context: { trusted_ca: { filename: pki.ca.cert } } })[0]?.message ?? '', /must be a tls_certificate/);
  assert.match(secrets.setDynamic(sdsSecret('unknown', pki.server.cert, pki.server.key))[0]?.message ?? '', /no listener or cluster references/);

  secrets.removeDynamic('default');
  assert.match(await handshakeThrough(transport), /closed|error/);
  transport.close();
  secrets.close();
});

test('SAN text parsing and matching (URI/SPIFFE, DNS wildcard, IP, email, quoted values)', () => {
  const sans = parseSubjectAltNames('DNS:*.example.com, URI:spiffe://cluster.local/ns/default/sa/a, IP Address:127.0.0.1, email:x@y.z, URI:"http://a, b"');
  assert.deepEqual(sans.map((s) => s.type), ['DNS', 'URI', 'IP_ADDRESS', 'EMAIL', 'URI']);
  assert.equal(sans[4].value, 'http://a, b');
  const issues: ConfigIssue[] = [];
  const v = compileValidationContext(
    {
      trusted_ca: { filename: pki.ca.cert },
      match_typed_subject_alt_names: [
        { san_type: 'URI', matcher: { prefix: 'spiffe://cluster.local/ns/prod/' } },
        { san_type: 'DNS', matcher: { exact: 'api.example.com' } },
      ],
    },
    'vc',
    issues,
  );
  assert.deepEqual(issues, []);
  const loaded = v?.load();
  assert.ok(loaded && !(loaded instanceof Error));
  assert.equal(sanMatches('DNS:*.example.com', loaded.sanMatchers), true, 'wildcard SAN covers api.example.com');
  assert.equal(sanMatches('DNS:*.example.com, URI:spiffe://cluster.local/ns/dev/sa/x', [loaded.sanMatchers[0]]), false);
  assert.equal(sanMatches('URI:spiffe://cluster.local/ns/prod/sa/x', loaded.sanMatchers), true);
  assert.equal(sanMatches('DNS:api.example.com.evil', loaded.sanMatchers), false);
  const bad: ConfigIssue[] = [];
  compileValidationContext({ match_typed_subject_alt_names: [{ san_type: 'OTHER_NAME', matcher: { exact: 'x' } }], verify_certificate_hash: ['zz'] }, 'vc', bad);
  assert.deepEqual(bad.map((i) => i.path), ['vc.match_typed_subject_alt_names[0].san_type', 'vc.verify_certificate_hash[0]']);
});

test('TlsCertificate: encrypted key with password, environment_variable source, wrong password named by path', () => {
  const encrypted = `${pki.dir}/server-encrypted.key`;
  execFileSync('openssl', ['pkcs8', '-topk8', '-in', pki.server.key, '-out', encrypted, '-v2', 'aes-256-cbc', '-passout', 'pass:s3cret']);
  process.env.WEFT_TEST_CERT = fs.readFileSync(pki.server.cert, 'utf8');
  try {
    const issues: ConfigIssue[] = [];
    const good = compileTlsCertificate(
      { certificate_chain: { environment_variable: 'WEFT_TEST_CERT' }, private_key: { filename: encrypted }, password: { inline_string: 's3cret' } },
      'tc',
      issues,
    );
    assert.deepEqual(issues, []);
    const loaded = good?.load();
    assert.ok(loaded && !(loaded instanceof Error), String(loaded));
    assert.equal(loaded.subject, 'CN=server');
    // The loaded pair builds a working context.
    tls.createSecureContext({ cert: loaded.certChain, key: loaded.privateKey, passphrase: loaded.passphrase });
    const wrong = compileTlsCertificate({ certificate_chain: { filename: pki.server.cert }, private_key: { filename: encrypted }, password: { inline_string: 'nope' } }, 'tc', issues)?.load();
    assert.ok(wrong instanceof Error);
    assert.match(wrong.message, /^tc\.private_key: failed to load private key from file/);
    const unset = compileTlsCertificate({ certificate_chain: { environment_variable: 'WEFT_TEST_UNSET_VAR' }, private_key: { filename: encrypted } }, 'tc', issues)?.load();
    assert.ok(unset instanceof Error);
    assert.match(unset.message, /^tc\.certificate_chain: environment variable WEFT_TEST_UNSET_VAR is not set/);
    const both: ConfigIssue[] = [];
    compileTlsCertificate({ certificate_chain: { filename: 'a', inline_string: 'b' } }, 'tc', both);
    assert.deepEqual(both.map((i) => i.path), ['tc.private_key', 'tc.certificate_chain']);
  } finally {
    delete process.env.WEFT_TEST_CERT;
  }
});
