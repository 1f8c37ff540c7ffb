import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Test PKI generated with the openssl CLI in a temp dir: two CAs, server and client certificates
 * with DNS/IP and SPIFFE URI SANs, a client certificate from the other CA, an expired client
 * certificate (`openssl ca -startdate/-enddate`), a second server certificate for rotation tests,
 * and a key that matches none of the certificates. EC P-256 keys keep generation fast.
 */

export interface CertPair {
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  ca: CertPair;
  otherCa: CertPair;
  server: CertPair;
  /** Same names as `server`, newer serial: what a rotation installs. */
  serverV2: CertPair;
  client: CertPair;
  /** Signed by otherCa. */
  clientOtherCa: CertPair;
  clientExpired: CertPair;
  /** A key that matches no certificate here. */
  strayKey: string;
  serverSpiffe: string;
  clientSpiffe: string;
  remove(): void;
}

export const SPIFFE_PREFIX = 'spiffe://cluster.local/ns/default/sa/';

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function newKey(dir: string, name: string): string {
  const key = path.join(dir, `${name}.key`);
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key], dir);
  return key;
}

function makeCa(dir: string, name: string): CertPair {
  const key = newKey(dir, name);
  const cert = path.join(dir, `${name}.crt`);
  openssl(['req', '-x509', '-new', '-key', key, '-subj', `/CN=${name}`, '-days', '3650', '-out', cert,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  return { cert, key };
}

/** Issues a leaf with `openssl ca`, which (unlike `x509 -req` on OpenSSL 3.0) accepts explicit dates. */
function issue(dir: string, ca: CertPair, name: string, sans: string, dates?: { start: string; end: string }): CertPair {
  const key = newKey(dir, name);
  const csr = path.join(dir, `${name}.csr`);
  const cert = path.join(dir, `${name}.crt`);
  openssl(['req', '-new', '-key', key, '-subj', `/CN=${name}`, '-out', csr], dir);
  const caDir = path.join(dir, `ca-db-${path.basename(ca.cert, '.crt')}`);
  if (!fs.existsSync(caDir)) {
    fs.mkdirSync(caDir);
    fs.writeFileSync(path.join(caDir, 'index.txt'), '');
    fs.writeFileSync(path.join(caDir, 'serial'), `${Date.now().toString(16).padStart(16, '0')}\n`);
  }
  const cnf = path.join(dir, `${name}.cnf`);
  fs.writeFileSync(
    cnf,
    [
      '[ca]', 'default_ca = ca_default', '[ca_default]', `dir = ${caDir}`, 'database = $dir/index.txt',
      'serial = $dir/serial', 'new_certs_dir = $dir', 'default_md = sha256', 'policy = policy_any',
      'unique_subject = no', 'copy_extensions = none', 'default_days = 825',
      '[policy_any]', 'commonName = supplied', '[ext]', 'basicConstraints = CA:FALSE',
      'keyUsage = critical,digitalSignature,keyEncipherment', 'extendedKeyUsage = serverAuth,clientAuth', `subjectAltName = ${sans}`,
    ].join('\n'),
  );
  const dateArgs = dates ? ['-startdate', dates.start, '-enddate', dates.end] : [];
  openssl(['ca', '-batch', '-config', cnf, '-extensions', 'ext', '-cert', ca.cert, '-keyfile', ca.key, '-in', csr, '-out', cert, ...dateArgs], dir);
  return { cert, key };
}

export function createTestPki(): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-pki-'));
  const ca = makeCa(dir, 'root-ca');
  const otherCa = makeCa(dir, 'other-ca');
  const serverSpiffe = `${SPIFFE_PREFIX}server`;
  const clientSpiffe = `${SPIFFE_PREFIX}client`;
  const serverSans = `DNS:localhost,DNS:server.example.com,IP:127.0.0.1,URI:${serverSpiffe}`;
  return {
    dir,
    ca,
    otherCa,
    server: issue(dir, ca, 'server', serverSans),
    serverV2: issue(dir, ca, 'server-v2', serverSans),
    client: issue(dir, ca, 'client', `URI:${clientSpiffe},DNS:client.example.com,email:client@example.com`),
    clientOtherCa: issue(dir, otherCa, 'client-other-ca', `URI:${clientSpiffe}`),
    clientExpired: issue(dir, ca, 'client-expired', `URI:${clientSpiffe}`, { start: '20200101000000Z', end: '20210101000000Z' }),
    strayKey: newKey(dir, 'stray'),
    serverSpiffe,
    clientSpiffe,
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** Envoy DataSource for a file. */
export function fileSource(file: string): { filename: string } {
  return { filename: file };
}

export const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
export const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
export const TLS_INSPECTOR = {
  name: 'envoy.filters.listener.tls_inspector',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' },
};
export const HTTP_INSPECTOR = {
  name: 'envoy.filters.listener.http_inspector',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector' },
};

export function tlsCertificate(pair: CertPair): object {
  return { certificate_chain: fileSource(pair.cert), private_key: fileSource(pair.key) };
}

/** A transport_socket with a DownstreamTlsContext; `common`/`extra` are merged in. */
export function downstreamTlsSocket(pair: CertPair, opts: { common?: object; extra?: object } = {}): object {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: { '@type': DOWNSTREAM_TLS, common_tls_context: { tls_certificates: [tlsCertificate(pair)], ...opts.common }, ...opts.extra },
  };
}

export function upstreamTlsSocket(common: object, extra: object = {}): object {
  return { name: 'envoy.transport_sockets.tls', typed_config: { '@type': UPSTREAM_TLS, common_tls_context: common, ...extra } };
}

/** A validation_context trusting `caFile` and requiring one URI SAN. */
export function uriSanValidation(caFile: string, uri?: string): object {
  const v: Record<string, unknown> = { trusted_ca: fileSource(caFile) };
  if (uri !== undefined) v.match_typed_subject_alt_names = [{ san_type: 'URI', matcher: { exact: uri } }];
  return v;
}
