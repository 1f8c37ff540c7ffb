import { createHash, type X509Certificate } from 'node:crypto';
import type { LoadedValidation, SanMatcher, SanType } from '../secret/validation-context';

/**
 * Checks a peer certificate against a validation context after OpenSSL's chain verification, the
 * way Envoy's default certificate validator does: chain (trusted_ca) first, then SAN matchers, then
 * the SPKI / hash pins. The outcome names the Envoy counter (ssl.fail_verify_*) that counts it.
 */

export type PeerVerdict = 'ok' | 'no_cert' | 'fail_verify_error' | 'fail_verify_san' | 'fail_verify_cert_hash';

/**
 * `verifyError` is OpenSSL's verification result code (authorizationError), undefined when the
 * chain verified. It is only consulted when trusted_ca is configured.
 */
export function checkPeer(cert: X509Certificate | undefined, verifyError: string | undefined, v: LoadedValidation): PeerVerdict {
  if (cert === undefined) return 'no_cert';
  if (v.trustedCa !== undefined && verifyError !== undefined && !(v.allowExpired && verifyError === 'CERT_HAS_EXPIRED')) {
    return 'fail_verify_error';
  }
  if (v.sanMatchers.length > 0 && !sanMatches(cert.subjectAltName, v.sanMatchers)) return 'fail_verify_san';
  if (v.spkiPins.length > 0 || v.hashPins.length > 0) {
    // Either list matching is enough (Envoy).
    const hash = createHash('sha256').update(cert.raw).digest('hex');
    if (v.hashPins.includes(hash)) return 'ok';
    if (v.spkiPins.length > 0) {
      const spki = createHash('sha256').update(cert.publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
      if (v.spkiPins.includes(spki)) return 'ok';
    }
    return 'fail_verify_cert_hash';
  }
  return 'ok';
}

export interface SubjectAltName {
  readonly type: SanType | 'OTHER';
  readonly value: string;
}

const SAN_PREFIX: Record<string, SanType> = { DNS: 'DNS', URI: 'URI', email: 'EMAIL', 'IP Address': 'IP_ADDRESS' };

/**
 * Parses Node's subjectAltName text ("DNS:a, URI:spiffe://x, IP Address:1.2.3.4, email:e"); values
 * with separators in them are JSON-quoted by Node.
 */
export function parseSubjectAltNames(text: string | undefined): SubjectAltName[] {
  const out: SubjectAltName[] = [];
  if (text === undefined) return out;
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const label = text.slice(i, colon);
    let value: string;
    let next: number;
    if (text[colon + 1] === '"') {
      let j = colon + 2;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(text.slice(colon + 1, j + 1)) as string;
      } catch {
        value = text.slice(colon + 2, j);
      }
      next = text.indexOf(', ', j);
    } else {
      next = text.indexOf(', ', colon);
      value = text.slice(colon + 1, next < 0 ? text.length : next);
    }
    out.push({ type: SAN_PREFIX[label] ?? 'OTHER', value });
    if (next < 0) break;
    i = next + 2;
  }
  return out;
}

/** Envoy's DNS SAN rule: a "*.example.com" SAN covers exactly one more label. */
function dnsWildcardMatch(name: string, san: string): boolean {
  if (!san.startsWith('*.')) return false;
  const dot = name.indexOf('.');
  return dot > 0 && name.slice(dot).toLowerCase() === san.slice(1).toLowerCase();
}

export function sanMatches(text: string | undefined, matchers: readonly SanMatcher[]): boolean {
  const sans = parseSubjectAltNames(text);
  for (const m of matchers) {
    for (const san of sans) {
      if (m.type !== undefined && san.type !== m.type) continue;
      if (san.type === 'OTHER') continue;
      if (m.match(san.value)) return true;
      if (m.exactDns !== undefined && san.type === 'DNS' && dnsWildcardMatch(m.exactDns, san.value)) return true;
    }
  }
  return false;
}
