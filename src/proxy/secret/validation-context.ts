import { X509Certificate } from 'node:crypto';
import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { isObject, readArray, readBool, readEnum, type Decoded } from '../../lib/decoded-read';
import { compileStringMatcher, type StringMatchFn } from '../../lib/matchers';
import { compileDataSource } from './data-source';
import { readWatchedDirectory } from './tls-certificate';

/**
 * envoy.extensions.transport_sockets.tls.v3.CertificateValidationContext: trusted_ca,
 * match_typed_subject_alt_names (DNS, URI — SPIFFE IDs —, EMAIL, IP_ADDRESS), the deprecated
 * match_subject_alt_names (any SAN type), verify_certificate_spki / verify_certificate_hash,
 * allow_expired_certificate, watched_directory.
 */

export type SanType = 'DNS' | 'URI' | 'EMAIL' | 'IP_ADDRESS';
const SAN_TYPES: readonly SanType[] = ['DNS', 'URI', 'EMAIL', 'IP_ADDRESS'];

export interface SanMatcher {
  /** undefined: any SAN type (match_subject_alt_names). */
  readonly type: SanType | undefined;
  readonly match: StringMatchFn;
  /** An exact DNS matcher value: also matched against wildcard DNS SANs as Envoy does. */
  readonly exactDns: string | undefined;
}

export interface LoadedValidation {
  /** PEM bytes of trusted_ca, or undefined when the chain is not verified. */
  readonly trustedCa: Buffer | undefined;
  readonly sanMatchers: readonly SanMatcher[];
  /** base64 SHA-256 of SubjectPublicKeyInfo. */
  readonly spkiPins: readonly string[];
  /** lower-case hex SHA-256 of the DER certificate, without colons. */
  readonly hashPins: readonly string[];
  readonly allowExpired: boolean;
}

export interface ValidationContextSpec {
  readonly kind: 'validation_context';
  readonly files: readonly string[];
  readonly watchedDirectory: string | undefined;
  /** SAN matchers are configured (Envoy refuses them without a trusted CA). */
  readonly hasSanMatchers: boolean;
  readonly hasTrustedCa: boolean;
  load(): LoadedValidation | Error;
}

const FIELDS = [
  'trusted_ca',
  'match_typed_subject_alt_names',
  'match_subject_alt_names',
  'verify_certificate_spki',
  'verify_certificate_hash',
  'allow_expired_certificate',
  'trust_chain_verification',
  'watched_directory',
];

export function compileValidationContext(m: Decoded, p: string, issues: ConfigIssue[]): ValidationContextSpec | undefined {
  const before = issues.length;
  rejectUnsupported(m, p, FIELDS, issues);
  const ca = m.trusted_ca === undefined ? undefined : compileDataSource(m.trusted_ca, joinPath(p, 'trusted_ca'), issues);
  const sanMatchers: SanMatcher[] = [];
  readArray(m, 'match_typed_subject_alt_names', p, issues).forEach((sm, i) => {
    const sp = joinPath(joinPath(p, 'match_typed_subject_alt_names'), i);
    if (!isObject(sm)) return;
    rejectUnsupported(sm, sp, ['san_type', 'matcher'], issues);
    const type = readEnum(sm, 'san_type', sp, issues, SAN_TYPES, ['OTHER_NAME', 'SAN_TYPE_UNSPECIFIED']);
    if (sm.san_type === undefined) issues.push({ path: joinPath(sp, 'san_type'), message: 'san_type is required' });
    const matcher = sm.matcher === undefined ? undefined : compileStringMatcher(sm.matcher, joinPath(sp, 'matcher'), issues);
    if (sm.matcher === undefined) issues.push({ path: joinPath(sp, 'matcher'), message: 'matcher is required' });
    if (type !== undefined && matcher !== undefined) sanMatchers.push({ type, match: matcher, exactDns: exactDnsValue(type, sm.matcher) });
  });
  readArray(m, 'match_subject_alt_names', p, issues).forEach((sm, i) => {
    const sp = joinPath(joinPath(p, 'match_subject_alt_names'), i);
    const matcher = compileStringMatcher(sm, sp, issues);
    if (matcher !== undefined) sanMatchers.push({ type: undefined, match: matcher, exactDns: exactDnsValue('DNS', sm) });
  });
  const spkiPins = readArray(m, 'verify_certificate_spki', p, issues).map((s, i) => {
    if (typeof s !== 'string' || Buffer.from(s, 'base64').length !== 32) {
      issues.push({ path: joinPath(joinPath(p, 'verify_certificate_spki'), i), message: 'expected a base64-encoded SHA-256 (32 bytes)' });
    }
    return String(s);
  });
  const hashPins = readArray(m, 'verify_certificate_hash', p, issues).map((s, i) => {
    const hex = typeof s === 'string' ? s.replace(/:/g, '').toLowerCase() : '';
    if (!/^[0-9a-f]{64}$/.test(hex)) issues.push({ path: joinPath(joinPath(p, 'verify_certificate_hash'), i), message: 'expected a hex SHA-256 (64 hex digits, colons allowed)' });
    return hex;
  });
  const allowExpired = readBool(m, 'allow_expired_certificate', p, issues) ?? false;
  readEnum(m, 'trust_chain_verification', p, issues, ['VERIFY_TRUST_CHAIN'], ['ACCEPT_UNTRUSTED']);
  const watchedDirectory = readWatchedDirectory(m, p, issues);
  if (issues.length > before) return undefined;
  return {
    kind: 'validation_context',
    files: ca?.filename === undefined ? [] : [ca.filename],
    watchedDirectory,
    hasSanMatchers: sanMatchers.length > 0,
    hasTrustedCa: ca !== undefined,
    load: () => {
      let trustedCa: Buffer | undefined;
      if (ca !== undefined) {
        const b = ca.read();
        if (b instanceof Error) return new Error(`${joinPath(p, 'trusted_ca')}: ${b.message}`);
        const err = checkCaBundle(b);
        if (err !== undefined) return new Error(`${joinPath(p, 'trusted_ca')}: ${ca.description}: ${err}`);
        trustedCa = b;
      }
      return { trustedCa, sanMatchers, spkiPins, hashPins, allowExpired };
    },
  };
}

function exactDnsValue(type: SanType, matcher: unknown): string | undefined {
  if (type !== 'DNS' || !isObject(matcher) || typeof matcher.exact !== 'string' || matcher.ignore_case === true) return undefined;
  return matcher.exact;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function checkCaBundle(b: Buffer): string | undefined {
  const pems = b.toString('latin1').match(PEM_CERT);
  if (pems === null) return 'no PEM certificate found';
  for (const pem of pems) {
    try {
      new X509Certificate(pem);
    } catch (e) {
      return `invalid CA certificate: ${(e as Error).message}`;
    }
  }
  return undefined;
}

/** Envoy merges an SDS validation context into combined_validation_context's default one (protobuf MergeFrom). */
export function mergeValidation(defaults: LoadedValidation, dynamic: LoadedValidation): LoadedValidation {
  return {
    trustedCa: dynamic.trustedCa ?? defaults.trustedCa,
    sanMatchers: [...defaults.sanMatchers, ...dynamic.sanMatchers],
    spkiPins: [...defaults.spkiPins, ...dynamic.spkiPins],
    hashPins: [...defaults.hashPins, ...dynamic.hashPins],
    allowExpired: defaults.allowExpired || dynamic.allowExpired,
  };
}
