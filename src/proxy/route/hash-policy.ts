/**
 * RouteAction.hash_policy: a request hash for consistent-hash load balancers, as Envoy's
 * HashPolicyImpl: policies are evaluated in order; each one that yields a value is folded into the
 * running hash (rotate-left-1 xor); a terminal policy that has produced a hash stops evaluation.
 */
import { joinPath, type ConfigIssue } from '../../lib/config-error';
import { combineHash, hash32 } from '../../lib/hash';
import { compileRegexMatchAndSubstitute, type RegexSubstitution } from '../../lib/matchers';
import type { StreamInfo } from '../stream-info';
import { Fields, type Msg } from './fields';
import { firstQueryParam } from './request-matchers';
import type { RouteRequest } from './types';

const enum Kind {
  Header,
  Cookie,
  SourceIp,
  QueryParameter,
}

interface HashMethod {
  kind: Kind;
  /** Header name (lower-case), cookie name or query parameter name. */
  name: string;
  rewrite: RegexSubstitution | null;
  terminal: boolean;
}

/** The IP part of "ip:port", "[v6]:port", or a bare address; "" when none. */
export function addressIp(addr: string): string {
  if (addr.length === 0) return '';
  if (addr.charCodeAt(0) === 91 /* [ */) {
    const close = addr.indexOf(']');
    return close === -1 ? addr : addr.slice(1, close);
  }
  const colon = addr.lastIndexOf(':');
  if (colon === -1) return addr;
  // More than one colon and no brackets: a bare IPv6 address.
  if (addr.indexOf(':') !== colon) return addr;
  return addr.slice(0, colon);
}

/** The value of cookie `name` as Envoy's Utility::parseCookieValue (quotes stripped); undefined if absent. */
export function cookieValue(cookieHeaders: readonly string[], name: string): string | undefined {
  for (const h of cookieHeaders) {
    let start = 0;
    while (start <= h.length) {
      let end = h.indexOf(';', start);
      if (end === -1) end = h.length;
      const eq = h.indexOf('=', start);
      if (eq !== -1 && eq < end) {
        let ks = start;
        while (ks < eq && h.charCodeAt(ks) === 32) ks++;
        if (eq - ks === name.length && h.startsWith(name, ks)) {
          let v = h.slice(eq + 1, end);
          if (v.length >= 2 && v.charCodeAt(0) === 34 && v.charCodeAt(v.length - 1) === 34) v = v.slice(1, -1);
          return v;
        }
      }
      start = end + 1;
    }
  }
  return undefined;
}

export class HashPolicy {
  constructor(private readonly methods: readonly HashMethod[]) {}

  hash(req: RouteRequest, info: StreamInfo): number | undefined {
    let h: number | undefined;
    const methods = this.methods;
    for (let i = 0; i < methods.length; i++) {
      const m = methods[i];
      const v = this.evaluate(m, req, info);
      if (v !== undefined) h = h === undefined ? v : combineHash(h, v);
      if (m.terminal && h !== undefined) break;
    }
    return h;
  }

  private evaluate(m: HashMethod, req: RouteRequest, info: StreamInfo): number | undefined {
    switch (m.kind) {
      case Kind.Header: {
        let values: string[];
        if (m.name.charCodeAt(0) === 58) {
          const v =
            m.name === ':authority' ? req.authority : m.name === ':path' ? req.path : m.name === ':method' ? req.method : m.name === ':scheme' ? req.scheme : undefined;
          if (v === undefined) return undefined;
          values = [v];
        } else {
          if (!req.headers.has(m.name)) return undefined;
          values = req.headers.getAll(m.name);
        }
        if (m.rewrite !== null) for (let k = 0; k < values.length; k++) values[k] = m.rewrite.replaceAll(values[k]);
        if (values.length === 1) return hash32(values[0]);
        // Same hash whatever the order of the values.
        values.sort();
        let h = 0;
        for (let k = 0; k < values.length; k++) h = hash32(values[k], h);
        return h;
      }
      case Kind.Cookie: {
        if (!req.headers.has('cookie')) return undefined;
        const v = cookieValue(req.headers.getAll('cookie'), m.name);
        return v === undefined ? undefined : hash32(v);
      }
      case Kind.SourceIp: {
        const ip = addressIp(info.downstreamRemoteAddress);
        return ip.length === 0 ? undefined : hash32(ip);
      }
      case Kind.QueryParameter: {
        const v = firstQueryParam(req.path, m.name);
        return v === undefined ? undefined : hash32(v);
      }
    }
  }
}

export function compileHashPolicy(list: Array<[Msg, string]>, issues: ConfigIssue[]): HashPolicy | undefined {
  const f = new Fields(issues);
  const before = issues.length;
  const methods: HashMethod[] = [];
  for (const [hp, p] of list) {
    f.reject(hp, p, ['header', 'cookie', 'connection_properties', 'query_parameter', 'terminal']);
    const terminal = f.bool(hp, 'terminal', p) ?? false;
    const set = ['header', 'cookie', 'connection_properties', 'query_parameter', 'filter_state'].filter(
      (k) => hp[k] !== undefined && hp[k] !== null,
    );
    if (set.length !== 1) {
      if (set.length === 0) issues.push({ path: p, message: 'one of header, cookie, connection_properties, query_parameter is required' });
      else issues.push({ path: p, message: `only one of ${set.join(', ')} may be set` });
      continue;
    }
    const header = f.msg(hp, 'header', p);
    const cookie = f.msg(hp, 'cookie', p);
    const conn = f.msg(hp, 'connection_properties', p);
    const qp = f.msg(hp, 'query_parameter', p);
    if (header) {
      const sp = joinPath(p, 'header');
      f.reject(header, sp, ['header_name', 'regex_rewrite']);
      const name = (f.str(header, 'header_name', sp) ?? '').toLowerCase();
      if (!name) issues.push({ path: joinPath(sp, 'header_name'), message: 'header_name is required' });
      let rewrite: RegexSubstitution | null = null;
      if (header.regex_rewrite !== undefined && header.regex_rewrite !== null) {
        rewrite = compileRegexMatchAndSubstitute(header.regex_rewrite, joinPath(sp, 'regex_rewrite'), issues) ?? null;
      }
      methods.push({ kind: Kind.Header, name, rewrite, terminal });
    } else if (cookie) {
      const sp = joinPath(p, 'cookie');
      f.reject(cookie, sp, ['name', 'path', 'attributes']);
      if (cookie.ttl !== undefined && cookie.ttl !== null) {
        // rejectUnsupported skipped a ttl of 0 (a session cookie is still generated by Envoy).
        if (cookie.ttl === 0) issues.push({ path: joinPath(sp, 'ttl'), message: 'field is not implemented by Weft (cookie generation)' });
      }
      const name = f.str(cookie, 'name', sp) ?? '';
      if (!name) issues.push({ path: joinPath(sp, 'name'), message: 'name is required' });
      methods.push({ kind: Kind.Cookie, name, rewrite: null, terminal });
    } else if (conn) {
      const sp = joinPath(p, 'connection_properties');
      f.reject(conn, sp, ['source_ip']);
      // source_ip: false yields no hash, as in Envoy.
      if (f.bool(conn, 'source_ip', sp) === true) methods.push({ kind: Kind.SourceIp, name: '', rewrite: null, terminal });
    } else if (qp) {
      const sp = joinPath(p, 'query_parameter');
      f.reject(qp, sp, ['name']);
      const name = f.str(qp, 'name', sp) ?? '';
      if (!name) issues.push({ path: joinPath(sp, 'name'), message: 'name is required' });
      methods.push({ kind: Kind.QueryParameter, name, rewrite: null, terminal });
    }
  }
  if (issues.length !== before) return undefined;
  return new HashPolicy(methods);
}
