import { createPrivateKey, X509Certificate } from 'node:crypto';
import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { readObject, readString, type Decoded } from '../../lib/decoded-read';
import { compileDataSource, type DataSource } from './data-source';

/**
 * envoy.extensions.transport_sockets.tls.v3.TlsCertificate: a certificate chain and its private key
 * (optionally encrypted, with `password`), from any DataSource, plus `watched_directory`.
 * `load()` reads and checks the pair: a key that does not parse, a key that does not match the
 * leaf certificate, or a chain with no certificate is an error; an expired leaf is loaded (as
 * Envoy does) and reported through `notAfter`.
 */

export interface LoadedCertificate {
  readonly certChain: Buffer;
  readonly privateKey: Buffer;
  readonly passphrase: string | undefined;
  /** Leaf certificate's notAfter. */
  readonly notAfter: Date;
  readonly subject: string;
}

export interface TlsCertificateSpec {
  readonly kind: 'tls_certificate';
  readonly files: readonly string[];
  readonly watchedDirectory: string | undefined;
  load(): LoadedCertificate | Error;
}

const FIELDS = ['certificate_chain', 'private_key', 'password', 'watched_directory'];

export function compileTlsCertificate(m: Decoded, p: string, issues: ConfigIssue[]): TlsCertificateSpec | undefined {
  const before = issues.length;
  rejectUnsupported(m, p, FIELDS, issues);
  const chainMsg = m.certificate_chain;
  const keyMsg = m.private_key;
  if (chainMsg === undefined) issues.push({ path: joinPath(p, 'certificate_chain'), message: 'certificate_chain is required' });
  if (keyMsg === undefined) issues.push({ path: joinPath(p, 'private_key'), message: 'private_key is required' });
  const chain = chainMsg === undefined ? undefined : compileDataSource(chainMsg, joinPath(p, 'certificate_chain'), issues);
  const key = keyMsg === undefined ? undefined : compileDataSource(keyMsg, joinPath(p, 'private_key'), issues);
  const password = m.password === undefined ? undefined : compileDataSource(m.password, joinPath(p, 'password'), issues);
  const watchedDirectory = readWatchedDirectory(m, p, issues);
  if (issues.length > before || chain === undefined || key === undefined) return undefined;
  const files = [chain.filename, key.filename, password?.filename].filter((f): f is string => f !== undefined);
  return {
    kind: 'tls_certificate',
    files,
    watchedDirectory,
    load: () => loadPair(chain, key, password, p),
  };
}

export function readWatchedDirectory(m: Decoded, p: string, issues: ConfigIssue[]): string | undefined {
  const wd = readObject(m, 'watched_directory', p, issues);
  if (wd === undefined) return undefined;
  const wp = joinPath(p, 'watched_directory');
  rejectUnsupported(wd, wp, ['path'], issues);
  const dir = readString(wd, 'path', wp, issues);
  if (!dir) issues.push({ path: joinPath(wp, 'path'), message: 'path is required' });
  return dir || undefined;
}

function loadPair(chain: DataSource, key: DataSource, password: DataSource | undefined, p: string): LoadedCertificate | Error {
  const certChain = chain.read();
  if (certChain instanceof Error) return new Error(`${joinPath(p, 'certificate_chain')}: ${certChain.message}`);
  const privateKey = key.read();
  if (privateKey instanceof Error) return new Error(`${joinPath(p, 'private_key')}: ${privateKey.message}`);
  const pw = password?.read();
  if (pw instanceof Error) return new Error(`${joinPath(p, 'password')}: ${pw.message}`);
  const passphrase = pw?.toString('utf8');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certChain);
  } catch (e) {
    return new Error(`${joinPath(p, 'certificate_chain')}: failed to load certificate chain from ${chain.description}: ${(e as Error).message}`);
  }
  let keyObject;
  try {
    keyObject = createPrivateKey({ key: privateKey, passphrase });
  } catch (e) {
    return new Error(`${joinPath(p, 'private_key')}: failed to load private key from ${key.description}: ${(e as Error).message}`);
  }
  if (!leaf.checkPrivateKey(keyObject)) {
    return new Error(`${joinPath(p, 'private_key')}: private key from ${key.description} does not match the certificate chain's leaf (${leaf.subject.replace(/\n/g, ',')})`);
  }
  return { certChain, privateKey, passphrase, notAfter: new Date(leaf.validTo), subject: leaf.subject.replace(/\n/g, ',') };
}
