/**
 * envoy.config.route.v3.RouteConfiguration compiled into an immutable matcher.
 *
 * Virtual host selection (Envoy's RouteMatcher::findVirtualHost): the host is lower-cased (and its
 * port dropped when ignore_port_in_host_matching); exact domains first (a Map lookup), then suffix
 * wildcards "*.foo.com" / "*-bar.foo.com" longest first, then prefix wildcards "foo.*" longest
 * first, then "*". A wildcard never matches the empty string. Without ignore_port_in_host_matching
 * the port is part of the host: "foo.com" does not match "foo.com:8080" (the connection manager's
 * strip_matching_host_port / strip_any_host_port change the host before routing).
 *
 * Route selection: the first route whose path specifier and every other condition match. Path
 * matching uses the :path without its query string and fragment.
 */
import { joinPath, type ConfigIssue } from '../../lib/config-error';
import { compileRetryPolicy } from './retry-policy';
import { asciiLower, compileRegexMatcher, startsWithIgnoreCase } from '../../lib/matchers';
import { Fields, type Msg } from './fields';
import { compileHeaderMutation, type HeaderMutation } from './header-mutation';
import { compileHeaderMatchers, compileQueryParamMatcher, type HeaderMatcher, type QueryParamMatcher } from './request-matchers';
import { DEFAULT_MAX_DIRECT_RESPONSE_BODY_SIZE_BYTES, RouteEntryImpl, type EntryContext } from './route-entry';
import type { RawMessage, RouteEntry, RouteRequest, RouteTable } from './types';

const enum PathKind {
  Prefix,
  Path,
  Regex,
  SeparatedPrefix,
  Connect,
}

const enum Tls {
  None,
  ExternalOnly,
  All,
}

const FRACTION_DENOMINATORS: Readonly<Record<string, number>> = { HUNDRED: 100, TEN_THOUSAND: 10000, MILLION: 1000000 };

/** One compiled route: its match conditions and its entry. A plain class so the match loop stays monomorphic. */
class CompiledRoute {
  constructor(
    readonly pathKind: PathKind,
    /** Prefix / path value (lower-cased when !caseSensitive). */
    readonly value: string,
    readonly caseSensitive: boolean,
    readonly regex: RegExp | null,
    readonly headers: readonly HeaderMatcher[] | null,
    readonly query: readonly QueryParamMatcher[] | null,
    /** runtime_fraction: matches when random % denominator < numerator; denominator 0 = none. */
    readonly fractionNumerator: number,
    readonly fractionDenominator: number,
    readonly grpc: boolean,
    readonly entry: RouteEntryImpl,
  ) {}
}

/**
 * `s` starts with `v` (the caller checked s.length >= v.length). Compares from the end: route
 * prefixes usually share their leading characters ("/api/v1/", "/api/v2/"), so a mismatch shows
 * up sooner, and a JIT-inlined charCodeAt loop beats the String.prototype.startsWith call here.
 */
function headEquals(s: string, v: string): boolean {
  for (let i = v.length - 1; i >= 0; i--) if (s.charCodeAt(i) !== v.charCodeAt(i)) return false;
  return true;
}

/** gRPC request: content-type "application/grpc" or "application/grpc+…". */
function isGrpc(req: RouteRequest): boolean {
  const ct = req.headers.get('content-type');
  if (ct === undefined || !ct.startsWith('application/grpc')) return false;
  return ct.length === 16 || ct.charCodeAt(16) === 43 /* + */;
}

class VirtualHostImpl {
  constructor(
    readonly name: string,
    private readonly routes: readonly CompiledRoute[],
    private readonly tls: Tls,
    private readonly tlsRedirect: RouteEntryImpl | null,
    private readonly ignorePathParameters: boolean,
  ) {}

  referencedClusters(out: Set<string>): void {
    for (const r of this.routes) r.entry.referencedClusters(out);
  }

  match(req: RouteRequest, random: number): RouteEntry | null {
    if (this.tls !== Tls.None) {
      const proto = req.headers.get('x-forwarded-proto') ?? req.scheme;
      if (proto !== 'https' && (this.tls === Tls.All || req.headers.get('x-envoy-internal') !== 'true')) {
        return this.tlsRedirect;
      }
    }
    // The path part of :path ends at the first '?' or '#' (and ';' with
    // ignore_path_parameters_in_path_matching). Compare within [0, end) of the full string
    // rather than slicing: a configured value containing one of those characters can then never
    // match, exactly as when matching the stripped path.
    const full = req.path;
    let end = full.indexOf('?');
    const hash = full.indexOf('#');
    if (end === -1 || (hash !== -1 && hash < end)) end = hash;
    if (this.ignorePathParameters) {
      const semi = full.indexOf(';');
      if (semi !== -1 && (end === -1 || semi < end)) end = semi;
    }
    if (end === -1) end = full.length;
    let path: string | null = null;
    const routes = this.routes;
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i];
      switch (r.pathKind) {
        case PathKind.Prefix: {
          const v = r.value;
          if (full.length === 0 || end < v.length) continue;
          if (r.caseSensitive ? !headEquals(full, v) : !startsWithIgnoreCase(full, v)) continue;
          break;
        }
        case PathKind.Path: {
          const v = r.value;
          if (full.length === 0 || end !== v.length) continue;
          if (r.caseSensitive ? !headEquals(full, v) : !startsWithIgnoreCase(full, v)) continue;
          break;
        }
        case PathKind.SeparatedPrefix: {
          const v = r.value;
          const n = v.length;
          if (full.length === 0 || end < n || (end > n && full.charCodeAt(n) !== 47 /* / */)) continue;
          if (r.caseSensitive ? !headEquals(full, v) : !startsWithIgnoreCase(full, v)) continue;
          break;
        }
        case PathKind.Regex:
          if (full.length === 0) continue;
          if (path === null) path = end === full.length ? full : full.slice(0, end);
          if (!(r.regex as RegExp).test(path)) continue;
          break;
        case PathKind.Connect:
          if (req.method !== 'CONNECT') continue;
          break;
      }
      if (r.fractionDenominator !== 0 && (random >>> 0) % r.fractionDenominator >= r.fractionNumerator) continue;
      if (r.grpc && !isGrpc(req)) continue;
      if (r.headers !== null) {
        let ok = true;
        const hs = r.headers;
        for (let k = 0; k < hs.length; k++) {
          if (!hs[k].matches(req)) {
            ok = false;
            break;
          }
        }
        if (!ok) continue;
      }
      if (r.query !== null) {
        let ok = true;
        const qs = r.query;
        for (let k = 0; k < qs.length; k++) {
          if (!qs[k].matches(full)) {
            ok = false;
            break;
          }
        }
        if (!ok) continue;
      }
      return r.entry;
    }
    return null;
  }
}

/** Wildcard domains of one length: suffix (or prefix) → virtual host. */
interface WildcardGroup {
  readonly length: number;
  readonly hosts: Map<string, VirtualHostImpl>;
}

/** Envoy's HeaderUtility::getPortStart: index of the ':' before a port, or -1 (IPv6-aware). */
export function portStart(host: string): number {
  const colon = host.lastIndexOf(':');
  if (colon === -1) return -1;
  const v6end = host.lastIndexOf(']');
  return v6end === -1 || v6end < colon ? colon : -1;
}

class RouteTableImpl implements RouteTable {
  private readonly onlyDefault: boolean;

  constructor(
    readonly name: string,
    private readonly exact: Map<string, VirtualHostImpl>,
    private readonly suffixes: readonly WildcardGroup[],
    private readonly prefixes: readonly WildcardGroup[],
    private readonly defaultHost: VirtualHostImpl | null,
    private readonly ignorePort: boolean,
    readonly referencedClusters: ReadonlySet<string>,
    readonly validateClusters: boolean | undefined,
  ) {
    this.onlyDefault = exact.size === 0 && suffixes.length === 0 && prefixes.length === 0;
  }

  match(req: RouteRequest, random: number): RouteEntry | null {
    const vh = this.findVirtualHost(req.authority);
    return vh === null ? null : vh.match(req, random);
  }

  findVirtualHost(authority: string): VirtualHostImpl | null {
    if (this.onlyDefault) return this.defaultHost;
    let host = authority;
    if (this.ignorePort) {
      const p = portStart(host);
      if (p !== -1) host = host.slice(0, p);
    }
    host = asciiLower(host);
    const vh = this.exact.get(host);
    if (vh !== undefined) return vh;
    const len = host.length;
    const suffixes = this.suffixes;
    for (let i = 0; i < suffixes.length; i++) {
      const g = suffixes[i];
      if (g.length >= len) continue;
      const m = g.hosts.get(host.slice(len - g.length));
      if (m !== undefined) return m;
    }
    const prefixes = this.prefixes;
    for (let i = 0; i < prefixes.length; i++) {
      const g = prefixes[i];
      if (g.length >= len) continue;
      const m = g.hosts.get(host.slice(0, g.length));
      if (m !== undefined) return m;
    }
    return this.defaultHost;
  }
}

// ---------------------------------------------------------------------------------------------
// Compilation

const ROUTE_CONFIGURATION_FIELDS = [
  'name',
  'virtual_hosts',
  'response_headers_to_add',
  'response_headers_to_remove',
  'request_headers_to_add',
  'request_headers_to_remove',
  'most_specific_header_mutations_wins',
  'validate_clusters',
  'max_direct_response_body_size_bytes',
  'ignore_port_in_host_matching',
  'ignore_path_parameters_in_path_matching',
  'typed_per_filter_config',
  'metadata',
];

const VIRTUAL_HOST_FIELDS = [
  'name',
  'domains',
  'routes',
  'require_tls',
  'request_headers_to_add',
  'request_headers_to_remove',
  'response_headers_to_add',
  'response_headers_to_remove',
  'typed_per_filter_config',
  'include_request_attempt_count',
  'include_attempt_count_in_response',
  'retry_policy',
  'metadata',
];

const ROUTE_FIELDS = [
  'name',
  'match',
  'route',
  'redirect',
  'direct_response',
  'metadata',
  'decorator',
  'typed_per_filter_config',
  'request_headers_to_add',
  'request_headers_to_remove',
  'response_headers_to_add',
  'response_headers_to_remove',
];

const ROUTE_MATCH_FIELDS = [
  'prefix',
  'path',
  'safe_regex',
  'connect_matcher',
  'path_separated_prefix',
  'case_sensitive',
  'runtime_fraction',
  'headers',
  'query_parameters',
  'grpc',
];

interface GlobalSettings {
  readonly request: HeaderMutation | null;
  readonly response: HeaderMutation | null;
  readonly mostSpecificWins: boolean;
  readonly maxBody: number;
  readonly ignorePathParameters: boolean;
  readonly typedPerFilterConfig: RawMessage | undefined;
}

function compileRoute(r: Msg, path: string, vhName: string, ctx: EntryContext, issues: ConfigIssue[]): CompiledRoute | undefined {
  const f = new Fields(issues);
  const before = issues.length;
  f.reject(r, path, ROUTE_FIELDS);
  const name = f.str(r, 'name', path) ?? '';

  // --- match ---
  const m = f.msg(r, 'match', path);
  if (!m) {
    issues.push({ path: joinPath(path, 'match'), message: 'match is required' });
    return undefined;
  }
  const mp = joinPath(path, 'match');
  f.reject(m, mp, ROUTE_MATCH_FIELDS);
  const specs = ['prefix', 'path', 'safe_regex', 'connect_matcher', 'path_separated_prefix', 'path_match_policy'].filter(
    (k) => m[k] !== undefined && m[k] !== null,
  );
  if (specs.length !== 1) {
    issues.push({
      path: mp,
      message: specs.length === 0 ? 'one of prefix, path, safe_regex, connect_matcher, path_separated_prefix is required' : `only one of ${specs.join(', ')} may be set`,
    });
    return undefined;
  }
  const caseSensitive = f.bool(m, 'case_sensitive', mp) ?? true;
  let kind = PathKind.Prefix;
  let value = '';
  let regex: RegExp | null = null;
  let matchedLength = -1;
  switch (specs[0]) {
    case 'prefix':
      kind = PathKind.Prefix;
      value = f.str(m, 'prefix', mp) ?? '';
      matchedLength = value.length;
      break;
    case 'path':
      kind = PathKind.Path;
      value = f.str(m, 'path', mp) ?? '';
      matchedLength = value.length;
      break;
    case 'path_separated_prefix':
      kind = PathKind.SeparatedPrefix;
      value = f.str(m, 'path_separated_prefix', mp) ?? '';
      if (!/^[^?#]+[^?#/]$/.test(value)) {
        issues.push({ path: joinPath(mp, 'path_separated_prefix'), message: 'must not be empty, contain ? or #, or end with /' });
      }
      matchedLength = value.length;
      break;
    case 'safe_regex': {
      kind = PathKind.Regex;
      const re = compileRegexMatcher(m.safe_regex, joinPath(mp, 'safe_regex'), issues);
      regex = re ? re.full : null;
      break;
    }
    case 'connect_matcher': {
      kind = PathKind.Connect;
      const cm = f.msg(m, 'connect_matcher', mp);
      if (cm) f.reject(cm, joinPath(mp, 'connect_matcher'), []);
      break;
    }
  }
  if (!caseSensitive) value = asciiLower(value);

  let fractionNumerator = 0;
  let fractionDenominator = 0;
  const rf = f.msg(m, 'runtime_fraction', mp);
  if (rf) {
    const rp = joinPath(mp, 'runtime_fraction');
    // runtime_key names a runtime override; Weft has no runtime layer, so default_value applies.
    f.reject(rf, rp, ['default_value', 'runtime_key']);
    f.str(rf, 'runtime_key', rp);
    const dv = f.msg(rf, 'default_value', rp);
    if (!dv) {
      issues.push({ path: joinPath(rp, 'default_value'), message: 'default_value is required' });
    } else {
      const dp = joinPath(rp, 'default_value');
      f.reject(dv, dp, ['numerator', 'denominator']);
      fractionNumerator = f.uint(dv, 'numerator', dp) ?? 0;
      const den = f.enumName(dv, 'denominator', dp, ['HUNDRED', 'TEN_THOUSAND', 'MILLION']) ?? 'HUNDRED';
      fractionDenominator = FRACTION_DENOMINATORS[den];
      // Envoy caps the numerator at the denominator.
      if (fractionNumerator > fractionDenominator) fractionNumerator = fractionDenominator;
    }
  }
  const headerList = f.msgs(m, 'headers', mp);
  const headers = headerList.length === 0 ? null : (compileHeaderMatchers(headerList, issues) ?? null);
  let query: QueryParamMatcher[] | null = null;
  const qlist = f.msgs(m, 'query_parameters', mp);
  if (qlist.length !== 0) {
    query = [];
    for (const [q, qp] of qlist) {
      const c = compileQueryParamMatcher(q, qp, issues);
      if (c) query.push(c);
    }
  }
  const grpcMsg = f.msg(m, 'grpc', mp);
  if (grpcMsg) f.reject(grpcMsg, joinPath(mp, 'grpc'), []);

  // --- action ---
  const actions = ['route', 'redirect', 'direct_response', 'filter_action', 'non_forwarding_action'].filter((k) => r[k] !== undefined && r[k] !== null);
  if (actions.length !== 1) {
    if (actions.length === 0) issues.push({ path, message: 'one of route, redirect, direct_response is required' });
    else issues.push({ path, message: `only one of ${actions.join(', ')} may be set` });
    return undefined;
  }
  const action = actions[0];
  const entryKind = action === 'route' ? 'cluster' : action === 'redirect' ? 'redirect' : 'direct_response';
  const entry = new RouteEntryImpl(name, vhName, entryKind, matchedLength, ctx, f.msg(r, 'metadata', path), f.msg(r, 'decorator', path));
  entry.typedPerFilterConfig = f.msg(r, 'typed_per_filter_config', path);
  const am = f.msg(r, action, path);
  if (am) {
    const ap = joinPath(path, action);
    if (action === 'route') entry.compileRouteAction(am, ap, issues);
    else if (action === 'redirect') entry.compileRedirect(am, ap, issues);
    else if (action === 'direct_response') entry.compileDirectResponse(am, ap, issues);
  }
  const req = compileHeaderMutation(r, path, 'request_', issues) ?? null;
  const resp = compileHeaderMutation(r, path, 'response_', issues) ?? null;
  entry.setMutations(req, resp);
  if (issues.length !== before) return undefined;
  return new CompiledRoute(
    kind,
    value,
    caseSensitive,
    regex,
    headers !== null && headers.length !== 0 ? headers : null,
    query,
    fractionNumerator,
    fractionDenominator,
    grpcMsg !== undefined,
    entry,
  );
}

function compileVirtualHost(v: Msg, path: string, g: GlobalSettings, issues: ConfigIssue[]): VirtualHostImpl | undefined {
  const f = new Fields(issues);
  const before = issues.length;
  f.reject(v, path, VIRTUAL_HOST_FIELDS);
  const name = f.str(v, 'name', path) ?? '';
  if (!name) issues.push({ path: joinPath(path, 'name'), message: 'name is required' });
  const tlsName = f.enumName(v, 'require_tls', path, ['NONE', 'EXTERNAL_ONLY', 'ALL']) ?? 'NONE';
  const tls = tlsName === 'ALL' ? Tls.All : tlsName === 'EXTERNAL_ONLY' ? Tls.ExternalOnly : Tls.None;
  const vreq = compileHeaderMutation(v, path, 'request_', issues) ?? null;
  const vresp = compileHeaderMutation(v, path, 'response_', issues) ?? null;
  const vhostRetry = f.msg(v, 'retry_policy', path);
  const ctx: EntryContext = {
    virtualHostName: name,
    vhostRequest: vreq,
    vhostResponse: vresp,
    globalRequest: g.request,
    globalResponse: g.response,
    mostSpecificHeaderMutationsWins: g.mostSpecificWins,
    vhostRetryPolicy: vhostRetry === undefined ? undefined : compileRetryPolicy(vhostRetry, joinPath(path, 'retry_policy'), issues),
    vhostTypedPerFilterConfig: f.msg(v, 'typed_per_filter_config', path),
    globalTypedPerFilterConfig: g.typedPerFilterConfig,
    includeRequestAttemptCount: f.bool(v, 'include_request_attempt_count', path) ?? false,
    includeAttemptCountInResponse: f.bool(v, 'include_attempt_count_in_response', path) ?? false,
    maxDirectResponseBodyBytes: g.maxBody,
  };
  f.msg(v, 'metadata', path);
  const routes: CompiledRoute[] = [];
  for (const [r, rp] of f.msgs(v, 'routes', path)) {
    const c = compileRoute(r, rp, name, ctx, issues);
    if (c) routes.push(c);
  }
  if (issues.length !== before) return undefined;
  return new VirtualHostImpl(name, routes, tls, tls === Tls.None ? null : RouteEntryImpl.tlsRedirect(name), g.ignorePathParameters);
}

/**
 * Compiles a decoded RouteConfiguration. Every problem is pushed to `issues` with its field path
 * (under `path`); returns undefined when there was any.
 */
export function compileRouteConfiguration(rc: object, path: string, issues: ConfigIssue[]): RouteTable | undefined {
  const before = issues.length;
  const f = new Fields(issues);
  const o = rc as Msg;
  f.reject(o, path, ROUTE_CONFIGURATION_FIELDS);
  const name = f.str(o, 'name', path) ?? '';
  const request = compileHeaderMutation(o, path, 'request_', issues) ?? null;
  const response = compileHeaderMutation(o, path, 'response_', issues) ?? null;
  const g: GlobalSettings = {
    request,
    response,
    mostSpecificWins: f.bool(o, 'most_specific_header_mutations_wins', path) ?? false,
    maxBody: f.uint(o, 'max_direct_response_body_size_bytes', path) ?? DEFAULT_MAX_DIRECT_RESPONSE_BODY_SIZE_BYTES,
    ignorePathParameters: f.bool(o, 'ignore_path_parameters_in_path_matching', path) ?? false,
    typedPerFilterConfig: f.msg(o, 'typed_per_filter_config', path),
  };
  const ignorePort = f.bool(o, 'ignore_port_in_host_matching', path) ?? false;
  const validateClusters = f.bool(o, 'validate_clusters', path);
  f.msg(o, 'metadata', path);

  const exact = new Map<string, VirtualHostImpl>();
  const suffixes = new Map<number, Map<string, VirtualHostImpl>>();
  const prefixes = new Map<number, Map<string, VirtualHostImpl>>();
  let defaultHost: VirtualHostImpl | null = null;
  let wildcardSeen = false;
  const referenced = new Set<string>();

  for (const [v, vp] of f.msgs(o, 'virtual_hosts', path)) {
    const vh = compileVirtualHost(v, vp, g, issues);
    vh?.referencedClusters(referenced);
    const domains = f.strs(v, 'domains', vp);
    if (domains.length === 0) issues.push({ path: joinPath(vp, 'domains'), message: 'at least one domain is required' });
    for (let i = 0; i < domains.length; i++) {
      const dp = joinPath(joinPath(vp, 'domains'), i);
      const domain = asciiLower(domains[i]);
      if (domain.length === 0 || /[\0\r\n]/.test(domain)) {
        issues.push({ path: dp, message: 'a domain must be a non-empty header value' });
        continue;
      }
      let duplicate = false;
      if (domain === '*') {
        if (wildcardSeen) {
          issues.push({ path: dp, message: `Only a single wildcard domain is permitted in route ${name}` });
          continue;
        }
        wildcardSeen = true;
        defaultHost = vh ?? null;
      } else if (domain.charCodeAt(0) === 42 /* * */) {
        const key = domain.length - 1;
        let m = suffixes.get(key);
        if (!m) suffixes.set(key, (m = new Map()));
        const s = domain.slice(1);
        duplicate = m.has(s);
        if (!duplicate && vh) m.set(s, vh);
      } else if (domain.charCodeAt(domain.length - 1) === 42) {
        const key = domain.length - 1;
        let m = prefixes.get(key);
        if (!m) prefixes.set(key, (m = new Map()));
        const s = domain.slice(0, -1);
        duplicate = m.has(s);
        if (!duplicate && vh) m.set(s, vh);
      } else {
        duplicate = exact.has(domain);
        if (!duplicate && vh) exact.set(domain, vh);
      }
      if (duplicate) {
        issues.push({ path: dp, message: `Only unique values for domains are permitted. Duplicate entry of domain ${domain} in route ${name}` });
      }
    }
  }
  if (issues.length !== before) return undefined;

  const groups = (m: Map<number, Map<string, VirtualHostImpl>>): WildcardGroup[] =>
    [...m.entries()].filter(([, hosts]) => hosts.size > 0).sort((a, b) => b[0] - a[0]).map(([length, hosts]) => ({ length, hosts }));
  return new RouteTableImpl(name, exact, groups(suffixes), groups(prefixes), defaultHost, ignorePort, referenced, validateClusters);
}
