import * as net from 'node:net';
import { joinPath, type ConfigIssue } from '../../lib/config-error';
import { isObject, notImplemented, readArray, readNumber, readString, type Decoded } from '../../lib/decoded-read';

/**
 * Envoy's filter chain selection: criteria are applied in Envoy's order (destination port,
 * destination IP, server name, transport protocol, application protocols, direct source IP, source
 * type, source IP, source port), and at each step the most specific match wins over a chain that
 * does not constrain that criterion. Server name, transport and application protocols come from
 * the listener filters (tls_inspector, http_inspector); without them a connection has no server
 * name, transport protocol "raw_buffer" and no application protocols.
 */

export interface CidrRange {
  readonly family: 4 | 6;
  /** Address bits as a bigint, masked to the prefix. */
  readonly bits: bigint;
  readonly prefixLen: number;
}

export interface ChainMatch {
  destinationPort: number | undefined;
  prefixRanges: CidrRange[];
  sourceType: 'ANY' | 'SAME_IP_OR_LOOPBACK' | 'EXTERNAL';
  sourcePrefixRanges: CidrRange[];
  directSourcePrefixRanges: CidrRange[];
  sourcePorts: number[];
  /** server_names, lower-cased: exact names and "*.suffix" wildcards. */
  serverNames: string[];
  /** '' when unconstrained. */
  transportProtocol: string;
  applicationProtocols: string[];
}

export interface ConnectionFacts {
  readonly localAddress: string;
  readonly localPort: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** SNI from tls_inspector ('' when none). */
  readonly serverName?: string;
  /** 'tls' or 'raw_buffer' (the default). */
  readonly transportProtocol?: string;
  /** ALPN from tls_inspector, or 'http/1.1' / 'http/1.0' / 'h2c' from http_inspector. */
  readonly applicationProtocols?: readonly string[];
}

function addressBits(ip: string): { family: 4 | 6; bits: bigint } | undefined {
  if (ip.startsWith('::ffff:') && net.isIPv4(ip.slice(7))) ip = ip.slice(7);
  if (net.isIPv4(ip)) {
    let v = 0n;
    for (const part of ip.split('.')) v = (v << 8n) | BigInt(Number(part));
    return { family: 4, bits: v };
  }
  if (net.isIPv6(ip)) {
    const [head, tail = ''] = ip.split('::');
    const h = head === '' ? [] : head.split(':');
    const t = tail === '' ? [] : tail.split(':');
    const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
    let v = 0n;
    for (const g of groups) v = (v << 16n) | BigInt(parseInt(g || '0', 16));
    return { family: 6, bits: v };
  }
  return undefined;
}

function mask(bits: bigint, family: 4 | 6, prefixLen: number): bigint {
  const width = family === 4 ? 32 : 128;
  if (prefixLen === 0) return 0n;
  return (bits >> BigInt(width - prefixLen)) << BigInt(width - prefixLen);
}

export function parseCidrRanges(list: unknown[], path: string, issues: ConfigIssue[]): CidrRange[] {
  const out: CidrRange[] = [];
  list.forEach((r, i) => {
    const p = joinPath(path, i);
    if (!isObject(r)) return;
    const prefix = readString(r, 'address_prefix', p, issues) ?? '';
    const parsed = addressBits(prefix);
    if (parsed === undefined) {
      issues.push({ path: joinPath(p, 'address_prefix'), message: `not an IP address: ${JSON.stringify(prefix)}` });
      return;
    }
    const width = parsed.family === 4 ? 32 : 128;
    const len = readNumber(r, 'prefix_len', p, issues, { min: 0, max: width, integer: true }) ?? width;
    out.push({ family: parsed.family, bits: mask(parsed.bits, parsed.family, len), prefixLen: len });
  });
  return out;
}

/** Length of the longest range containing ip, or -1 if none does. */
function longestMatch(ranges: readonly CidrRange[], ip: string): number {
  const a = addressBits(ip);
  if (a === undefined) return -1;
  let best = -1;
  for (const r of ranges) {
    if (r.family === a.family && r.prefixLen > best && mask(a.bits, a.family, r.prefixLen) === r.bits) best = r.prefixLen;
  }
  return best;
}

const SUPPORTED_MATCH_FIELDS = [
  'destination_port',
  'prefix_ranges',
  'source_type',
  'source_prefix_ranges',
  'direct_source_prefix_ranges',
  'source_ports',
  'server_names',
  'transport_protocol',
  'application_protocols',
];

export function compileChainMatch(m: Decoded | undefined, path: string, issues: ConfigIssue[]): ChainMatch {
  const match: ChainMatch = {
    destinationPort: undefined,
    prefixRanges: [],
    sourceType: 'ANY',
    sourcePrefixRanges: [],
    directSourcePrefixRanges: [],
    sourcePorts: [],
    serverNames: [],
    transportProtocol: '',
    applicationProtocols: [],
  };
  if (m === undefined) return match;
  for (const key of Object.keys(m)) {
    if (SUPPORTED_MATCH_FIELDS.includes(key)) continue;
    notImplemented(m, [key], path, issues);
  }
  readArray(m, 'server_names', path, issues).forEach((n, i) => {
    const np = joinPath(joinPath(path, 'server_names'), i);
    if (typeof n !== 'string' || n === '') {
      issues.push({ path: np, message: 'expected a non-empty server name' });
      return;
    }
    // Envoy: only a leading "*." wildcard; "*" elsewhere (partial wildcards) is refused.
    if (n.includes('*') && !(n.startsWith('*.') && !n.slice(1).includes('*'))) {
      issues.push({ path: np, message: `partial wildcards are not supported in server_names: ${JSON.stringify(n)}` });
      return;
    }
    match.serverNames.push(n.toLowerCase());
  });
  match.transportProtocol = readString(m, 'transport_protocol', path, issues) ?? '';
  readArray(m, 'application_protocols', path, issues).forEach((a, i) => {
    if (typeof a !== 'string' || a === '') issues.push({ path: joinPath(joinPath(path, 'application_protocols'), i), message: 'expected a protocol name' });
    else match.applicationProtocols.push(a);
  });
  match.destinationPort = readNumber(m, 'destination_port', path, issues, { min: 1, max: 65535, integer: true });
  match.prefixRanges = parseCidrRanges(readArray(m, 'prefix_ranges', path, issues), joinPath(path, 'prefix_ranges'), issues);
  match.sourcePrefixRanges = parseCidrRanges(
    readArray(m, 'source_prefix_ranges', path, issues),
    joinPath(path, 'source_prefix_ranges'),
    issues,
  );
  match.directSourcePrefixRanges = parseCidrRanges(
    readArray(m, 'direct_source_prefix_ranges', path, issues),
    joinPath(path, 'direct_source_prefix_ranges'),
    issues,
  );
  const st = m.source_type;
  if (st === 'SAME_IP_OR_LOOPBACK' || st === 'EXTERNAL' || st === 'ANY') match.sourceType = st;
  match.sourcePorts = readArray(m, 'source_ports', path, issues).filter((p): p is number => typeof p === 'number');
  return match;
}

/** A stable text of a match's criteria, to find chains Envoy would reject as duplicates. */
export function matchKey(m: ChainMatch): string {
  const ranges = (rs: CidrRange[]): string => rs.map((r) => `${r.family}/${r.bits}/${r.prefixLen}`).sort().join(',');
  return [
    m.destinationPort ?? '*',
    ranges(m.prefixRanges),
    [...m.serverNames].sort().join(','),
    m.transportProtocol,
    [...m.applicationProtocols].sort().join(','),
    m.sourceType,
    ranges(m.sourcePrefixRanges),
    ranges(m.directSourcePrefixRanges),
    [...m.sourcePorts].sort().join(','),
  ].join('|');
}

function isLocalSource(c: ConnectionFacts): boolean {
  const r = c.remoteAddress.replace(/^::ffff:/, '');
  return r === c.localAddress.replace(/^::ffff:/, '') || r.startsWith('127.') || r === '::1';
}

/**
 * Narrows candidates step by step. `score` returns -1 when the chain does not match, 0 when the
 * chain does not constrain this criterion, and a positive specificity otherwise.
 */
function narrow<T extends { match: ChainMatch }>(chains: T[], score: (m: ChainMatch) => number): T[] {
  let best = -1;
  let out: T[] = [];
  for (const c of chains) {
    const s = score(c.match);
    if (s < 0) continue;
    if (s > best) {
      best = s;
      out = [c];
    } else if (s === best) out.push(c);
  }
  return out;
}

/**
 * Envoy's server name rule: an exact name beats any wildcard, and a longer wildcard suffix beats a
 * shorter one ("*.b.example.com" over "*.example.com" for "a.b.example.com").
 */
export function serverNameScore(names: readonly string[], sni: string): number {
  if (names.length === 0) return 0;
  if (sni === '') return -1;
  const name = sni.toLowerCase();
  let best = -1;
  for (const n of names) {
    if (n === name) return 0x10000;
    if (n.startsWith('*.') && name.length > n.length - 1 && name.endsWith(n.slice(1)) && n.length > best) best = n.length;
  }
  return best;
}

function protocolsScore(wanted: readonly string[], offered: readonly string[] | undefined): number {
  if (wanted.length === 0) return 0;
  if (offered === undefined) return -1;
  for (const p of offered) if (wanted.includes(p)) return 1;
  return -1;
}

export function selectChain<T extends { match: ChainMatch }>(chains: readonly T[], c: ConnectionFacts): T | undefined {
  let cands = chains as T[];
  cands = narrow(cands, (m) => (m.destinationPort === undefined ? 0 : m.destinationPort === c.localPort ? 1 : -1));
  cands = narrow(cands, (m) => (m.prefixRanges.length === 0 ? 0 : longestMatch(m.prefixRanges, c.localAddress) + 1 || -1));
  const sni = c.serverName ?? '';
  cands = narrow(cands, (m) => serverNameScore(m.serverNames, sni));
  const transport = c.transportProtocol ?? 'raw_buffer';
  cands = narrow(cands, (m) => (m.transportProtocol === '' ? 0 : m.transportProtocol === transport ? 1 : -1));
  cands = narrow(cands, (m) => protocolsScore(m.applicationProtocols, c.applicationProtocols));
  cands = narrow(cands, (m) =>
    m.directSourcePrefixRanges.length === 0 ? 0 : longestMatch(m.directSourcePrefixRanges, c.remoteAddress) + 1 || -1,
  );
  cands = narrow(cands, (m) => {
    if (m.sourceType === 'ANY') return 0;
    const local = isLocalSource(c);
    return (m.sourceType === 'SAME_IP_OR_LOOPBACK') === local ? 1 : -1;
  });
  cands = narrow(cands, (m) => (m.sourcePrefixRanges.length === 0 ? 0 : longestMatch(m.sourcePrefixRanges, c.remoteAddress) + 1 || -1));
  cands = narrow(cands, (m) => (m.sourcePorts.length === 0 ? 0 : m.sourcePorts.includes(c.remotePort) ? 1 : -1));
  return cands[0];
}
