/**
 * `envoy.config.core.v3.HealthCheck.Payload` (text = hex digits, binary = raw bytes) and Envoy's
 * PayloadMatcher: every expected segment must appear in the data, in order, each one searched
 * from where the previous one ended.
 */
import { ConfigIssue, joinPath, rejectUnsupported } from '../../../lib/config-error';
import { isObject } from '../../../lib/decoded-read';

/** Decodes one Payload; undefined (with an issue) when invalid. */
export function parsePayload(v: unknown, path: string, issues: ConfigIssue[]): Buffer | undefined {
  if (!isObject(v)) {
    issues.push({ path, message: 'expected a Payload message' });
    return undefined;
  }
  rejectUnsupported(v, path, ['text', 'binary'], issues);
  const text = v['text'];
  const binary = v['binary'];
  if (text !== undefined && binary !== undefined) {
    issues.push({ path, message: 'only one of text, binary may be set' });
    return undefined;
  }
  if (text !== undefined) {
    if (typeof text !== 'string' || text.length === 0) {
      issues.push({ path: joinPath(path, 'text'), message: 'expected a non-empty hex string' });
      return undefined;
    }
    if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
      issues.push({ path: joinPath(path, 'text'), message: `invalid hex string '${text}'` });
      return undefined;
    }
    return Buffer.from(text, 'hex');
  }
  if (binary !== undefined) {
    if (Buffer.isBuffer(binary)) return binary;
    if (binary instanceof Uint8Array) return Buffer.from(binary);
    if (typeof binary === 'string') return Buffer.from(binary, 'base64');
    issues.push({ path: joinPath(path, 'binary'), message: 'expected bytes' });
    return undefined;
  }
  issues.push({ path, message: 'one of text, binary is required' });
  return undefined;
}

/** Decodes a repeated Payload field. */
export function parsePayloads(v: unknown, path: string, issues: ConfigIssue[]): Buffer[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) {
    issues.push({ path, message: 'expected a list' });
    return [];
  }
  const out: Buffer[] = [];
  v.forEach((p, i) => {
    const b = parsePayload(p, joinPath(path, i), issues);
    if (b) out.push(b);
  });
  return out;
}

/** Envoy's PayloadMatcher::match: each segment found in order after the previous one. */
export function payloadMatches(expected: readonly Buffer[], data: Buffer): boolean {
  let from = 0;
  for (const seg of expected) {
    const at = data.indexOf(seg, from);
    if (at < 0) return false;
    from = at + seg.length;
  }
  return true;
}
