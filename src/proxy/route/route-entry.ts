/**
 * Route actions (RouteAction, RedirectAction, DirectResponseAction) compiled into RouteEntry
 * objects: everything is precomputed; per-request methods allocate only their result strings.
 */
import * as fs from 'node:fs';
import { compileRetryPolicy, type RetryPolicy } from './retry-policy';
import { compileMirrorPolicies, NO_MIRRORS, type MirrorPolicy } from './mirror-policy';
import { joinPath, type ConfigIssue } from '../../lib/config-error';
import type { HeaderMap } from '../../lib/headers';
import { compileRegexMatchAndSubstitute, type RegexSubstitution } from '../../lib/matchers';
import type { StreamInfo } from '../stream-info';
import { Fields, isMsg, type Msg } from './fields';
import { compileHashPolicy, type HashPolicy } from './hash-policy';
import { compileHeaderMutation, type HeaderMutation } from './header-mutation';
import { requestHeaderFirst } from './request-matchers';
import type { RawMessage, RouteEntry, RouteRequest } from './types';

export const DEFAULT_ROUTE_TIMEOUT_MS = 15000;
export const DEFAULT_MAX_DIRECT_RESPONSE_BODY_SIZE_BYTES = 4096;

/** Settings of the enclosing virtual host and route configuration that a route entry reads. */
export interface EntryContext {
  readonly virtualHostName: string;
  /** Virtual host and route configuration header mutations (null when none). */
  readonly vhostRequest: HeaderMutation | null;
  readonly vhostResponse: HeaderMutation | null;
  readonly globalRequest: HeaderMutation | null;
  readonly globalResponse: HeaderMutation | null;
  readonly mostSpecificHeaderMutationsWins: boolean;
  readonly vhostRetryPolicy: RetryPolicy | undefined;
  readonly vhostTypedPerFilterConfig: RawMessage | undefined;
  readonly globalTypedPerFilterConfig: RawMessage | undefined;
  readonly includeRequestAttemptCount: boolean;
  readonly includeAttemptCountInResponse: boolean;
  readonly maxDirectResponseBodyBytes: number;
}

/**
 * How the route matched, for prefix_rewrite: the length of the configured prefix/path that is
 * replaced, or -1 to replace the whole path before the query (regex and CONNECT routes).
 */
export type MatchedLength = number;

/** Index of the first '?' or '#', or the length: the end of the path part of a :path. */
export function pathEnd(path: string): number {
  const q = path.indexOf('?');
  const h = path.indexOf('#');
  if (q === -1) return h === -1 ? path.length : h;
  return h === -1 || q < h ? q : h;
}

interface WeightedClusterEntry {
  readonly name: string;
  /** Lower-case header name when the cluster comes from a header; "" otherwise. */
  readonly clusterHeader: string;
  readonly weight: number;
  readonly request: HeaderMutation | null;
  readonly response: HeaderMutation | null;
  readonly hostRewriteLiteral: string | undefined;
  readonly typedPerFilterConfig: RawMessage | undefined;
}

const enum ClusterKind {
  None,
  Static,
  Header,
  Weighted,
}

interface RedirectConfig {
  readonly scheme: string;
  readonly https: boolean;
  readonly host: string;
  /** ":port" or "". */
  readonly port: string;
  readonly path: string;
  readonly pathHasQuery: boolean;
  readonly prefixRewrite: string;
  readonly regexRewrite: RegexSubstitution | null;
  readonly stripQuery: boolean;
  readonly status: number;
}

const REDIRECT_CODES: Readonly<Record<string, number>> = {
  MOVED_PERMANENTLY: 301,
  FOUND: 302,
  SEE_OTHER: 303,
  TEMPORARY_REDIRECT: 307,
  PERMANENT_REDIRECT: 308,
};
const CLUSTER_NOT_FOUND_CODES: Readonly<Record<string, number>> = {
  SERVICE_UNAVAILABLE: 503,
  NOT_FOUND: 404,
  INTERNAL_SERVER_ERROR: 500,
};

/**
 * Envoy's processRequestHost: the request host, without its port when a port is being set, or
 * when the scheme changes and the port is the default one of the request's scheme.
 */
function redirectHost(req: RouteRequest, newScheme: string, newPort: string): string {
  const host = req.authority;
  if (host.length === 0) return host;
  let end: number;
  if (host.charCodeAt(0) === 91 /* [ */) {
    end = host.lastIndexOf(']:');
    if (end !== -1) end += 1;
  } else {
    end = host.lastIndexOf(':');
  }
  if (end === -1) return host;
  const port = host.slice(end);
  const proto = (req.headers.get('x-forwarded-proto') ?? req.scheme).toLowerCase();
  let remove = newPort.length > 0;
  if (newScheme !== proto) {
    remove ||= proto === 'https' && port === ':443';
    remove ||= proto === 'http' && port === ':80';
  }
  return remove ? host.slice(0, end) : host;
}

const EMPTY_MUTATIONS: readonly HeaderMutation[] = [];

export class RouteEntryImpl implements RouteEntry {
  readonly kind: 'cluster' | 'direct_response' | 'redirect';
  private clusterKind: ClusterKind = ClusterKind.None;
  private clusterName = '';
  private clusterHeader = '';
  private weighted: readonly WeightedClusterEntry[] = [];
  private weightedTotal = 0;
  private weightedHeader = '';
  private weightedByName: Map<string, WeightedClusterEntry> | null = null;
  clusterNotFoundResponseCode = 503;
  timeoutMs = DEFAULT_ROUTE_TIMEOUT_MS;
  idleTimeoutMs: number | undefined = undefined;
  maxStreamDurationMs: number | undefined = undefined;
  grpcTimeoutHeaderMaxMs: number | undefined = undefined;
  grpcTimeoutHeaderOffsetMs: number | undefined = undefined;
  private prefixRewrite: string | undefined = undefined;
  private regexRewrite: RegexSubstitution | null = null;
  hostRewriteLiteral: string | undefined = undefined;
  autoHostRewrite = false;
  private hashPolicy: HashPolicy | null = null;
  retryPolicy: RetryPolicy | undefined;
  mirrorPolicies: readonly MirrorPolicy[] = NO_MIRRORS;
  typedPerFilterConfig: RawMessage | undefined;
  readonly metadata: RawMessage | undefined;
  readonly decorator: RawMessage | undefined;
  readonly includeRequestAttemptCount: boolean;
  readonly includeAttemptCountInResponse: boolean;
  private upgrades: Map<string, boolean> | null = null;
  private requestMutations: readonly HeaderMutation[] = EMPTY_MUTATIONS;
  private responseMutations: readonly HeaderMutation[] = EMPTY_MUTATIONS;
  directResponse: { status: number; body: Buffer | null } | undefined = undefined;
  private redirectConfig: RedirectConfig | null = null;
  private tlsOnly = false;

  constructor(
    readonly name: string,
    readonly virtualHostName: string,
    kind: 'cluster' | 'direct_response' | 'redirect',
    private readonly matchedLength: MatchedLength,
    private readonly ctx: EntryContext | null,
    metadata?: RawMessage,
    decorator?: RawMessage,
  ) {
    this.kind = kind;
    this.metadata = metadata;
    this.decorator = decorator;
    this.retryPolicy = ctx?.vhostRetryPolicy;
    this.includeRequestAttemptCount = ctx?.includeRequestAttemptCount ?? false;
    this.includeAttemptCountInResponse = ctx?.includeAttemptCountInResponse ?? false;
  }

  get hasHashPolicy(): boolean {
    return this.hashPolicy !== null;
  }

  pickCluster(req: RouteRequest, random: number): string | null {
    switch (this.clusterKind) {
      case ClusterKind.Static:
        return this.clusterName;
      case ClusterKind.Header: {
        const v = requestHeaderFirst(req, this.clusterHeader);
        return v === undefined || v.length === 0 ? null : v;
      }
      case ClusterKind.Weighted: {
        const total = this.weightedTotal;
        let selected = (random >>> 0) % total;
        if (this.weightedHeader.length !== 0 && req.headers.getAll(this.weightedHeader).length === 1) {
          const hv = req.headers.get(this.weightedHeader) as string;
          const m = /^[\t\n\v\f\r ]*\+?(\d+)[\t\n\v\f\r ]*$/.exec(hv);
          if (m !== null) {
            const n = BigInt(m[1]);
            if (n < 2n ** 64n) selected = Number(n % BigInt(total));
          }
        }
        const list = this.weighted;
        let end = 0;
        for (let i = 0; i < list.length; i++) {
          const w = list[i];
          end += w.weight;
          if (selected < end) {
            if (w.clusterHeader.length === 0) return w.name;
            const v = requestHeaderFirst(req, w.clusterHeader);
            return v === undefined || v.length === 0 ? null : v;
          }
        }
        return null;
      }
      default:
        return null;
    }
  }

  rewritePath(req: RouteRequest): string | undefined {
    const path = req.path;
    if (this.prefixRewrite !== undefined) {
      if (this.matchedLength < 0) return this.prefixRewrite + path.slice(pathEnd(path));
      return this.prefixRewrite + path.slice(this.matchedLength);
    }
    if (this.regexRewrite !== null) {
      const end = pathEnd(path);
      return this.regexRewrite.replaceAll(path.slice(0, end)) + path.slice(end);
    }
    return undefined;
  }

  hostRewriteFor(cluster: string | null): string | undefined {
    if (this.hostRewriteLiteral !== undefined || cluster === null || this.weightedByName === null) return this.hostRewriteLiteral;
    return this.weightedByName.get(cluster)?.hostRewriteLiteral;
  }

  hashKey(req: RouteRequest, info: StreamInfo): number | undefined {
    return this.hashPolicy === null ? undefined : this.hashPolicy.hash(req, info);
  }

  perFilterConfig(filterName: string, cluster?: string | null): RawMessage | undefined {
    if (cluster != null && this.weightedByName !== null) {
      const c = this.weightedByName.get(cluster)?.typedPerFilterConfig?.[filterName];
      if (isMsg(c)) return c;
    }
    for (const level of [this.typedPerFilterConfig, this.ctx?.vhostTypedPerFilterConfig, this.ctx?.globalTypedPerFilterConfig]) {
      const c = level?.[filterName];
      if (isMsg(c)) return c;
    }
    return undefined;
  }

  upgradeAllowed(upgradeType: string, hcmDefault: boolean): boolean {
    if (this.upgrades === null) return hcmDefault;
    return this.upgrades.get(upgradeType.toLowerCase()) ?? hcmDefault;
  }

  applyRequestHeaders(headers: HeaderMap, info: StreamInfo, cluster?: string | null): void {
    if (cluster != null && this.weightedByName !== null) {
      const w = this.weightedByName.get(cluster);
      if (w !== undefined && w.request !== null) w.request.apply(headers, info);
    }
    const list = this.requestMutations;
    for (let i = 0; i < list.length; i++) list[i].apply(headers, info);
  }

  applyResponseHeaders(headers: HeaderMap, info: StreamInfo, cluster?: string | null): void {
    if (cluster != null && this.weightedByName !== null) {
      const w = this.weightedByName.get(cluster);
      if (w !== undefined && w.response !== null) w.response.apply(headers, info);
    }
    const list = this.responseMutations;
    for (let i = 0; i < list.length; i++) list[i].apply(headers, info);
  }

  redirect(req: RouteRequest): { status: number; location: string } {
    const rc = this.redirectConfig;
    if (this.tlsOnly) {
      // Envoy's SslRedirector: https://<host as received><path>.
      return { status: 301, location: `https://${req.authority}${req.path}` };
    }
    if (rc === null) {
      // Direct response (or a TLS redirect built by the virtual host): the request's own URI.
      const status = this.directResponse?.status ?? 301;
      let path = req.path;
      if (!path.startsWith('/')) path = '/' + path;
      return { status, location: `${req.scheme}://${redirectHost(req, req.scheme, '')}${path}` };
    }
    const scheme = rc.scheme.length !== 0 ? rc.scheme : rc.https ? 'https' : req.scheme;
    const host = rc.host.length !== 0 ? rc.host : redirectHost(req, scheme, rc.port);
    let path: string;
    if (rc.path.length !== 0) {
      if (rc.pathHasQuery) {
        path = rc.path;
      } else {
        const q = req.path.indexOf('?');
        path = q === -1 ? rc.path : rc.path + req.path.slice(q);
      }
    } else if (rc.prefixRewrite.length !== 0) {
      path = this.matchedLength < 0 ? rc.prefixRewrite + req.path.slice(pathEnd(req.path)) : rc.prefixRewrite + req.path.slice(this.matchedLength);
    } else if (rc.regexRewrite !== null) {
      const end = pathEnd(req.path);
      path = rc.regexRewrite.replaceAll(req.path.slice(0, end)) + req.path.slice(end);
    } else {
      path = req.path;
    }
    if (!path.startsWith('/')) path = '/' + path;
    if (!rc.pathHasQuery && rc.stripQuery) {
      const q = path.indexOf('?');
      if (q !== -1) path = path.slice(0, q);
    }
    return { status: rc.status, location: `${scheme}://${host}${rc.port}${path}` };
  }

  // --- compilation ---------------------------------------------------------------------------

  /** Orders route + virtual host + route configuration mutations as Envoy (least specific last by default). */
  setMutations(routeRequest: HeaderMutation | null, routeResponse: HeaderMutation | null): void {
    const ctx = this.ctx;
    if (ctx === null) return;
    const order = (r: HeaderMutation | null, v: HeaderMutation | null, g: HeaderMutation | null): HeaderMutation[] => {
      const levels = ctx.mostSpecificHeaderMutationsWins ? [g, v, r] : [r, v, g];
      return levels.filter((m): m is HeaderMutation => m !== null);
    };
    const req = order(routeRequest, ctx.vhostRequest, ctx.globalRequest);
    const resp = order(routeResponse, ctx.vhostResponse, ctx.globalResponse);
    this.requestMutations = req.length === 0 ? EMPTY_MUTATIONS : req;
    this.responseMutations = resp.length === 0 ? EMPTY_MUTATIONS : resp;
  }

  /** A redirect to https://host/path (VirtualHost.require_tls). */
  static tlsRedirect(virtualHostName: string): RouteEntryImpl {
    const e = new RouteEntryImpl('', virtualHostName, 'redirect', -1, null);
    e.tlsOnly = true;
    return e;
  }

  compileRouteAction(a: Msg, path: string, issues: ConfigIssue[]): void {
    const f = new Fields(issues);
    f.reject(a, path, [
      'cluster',
      'cluster_header',
      'weighted_clusters',
      'cluster_not_found_response_code',
      'prefix_rewrite',
      'regex_rewrite',
      'host_rewrite_literal',
      'auto_host_rewrite',
      'timeout',
      'idle_timeout',
      'retry_policy',
      'priority',
      'hash_policy',
      'upgrade_configs',
      'internal_redirect_action',
      'max_stream_duration',
      'request_mirror_policies',
    ]);
    const specifiers = ['cluster', 'cluster_header', 'weighted_clusters', 'cluster_specifier_plugin', 'inline_cluster_specifier_plugin'].filter(
      (k) => a[k] !== undefined && a[k] !== null,
    );
    if (specifiers.length === 0) issues.push({ path, message: 'one of cluster, cluster_header, weighted_clusters is required' });
    else if (specifiers.length > 1) issues.push({ path, message: `only one of ${specifiers.join(', ')} may be set` });
    const cluster = f.str(a, 'cluster', path);
    const clusterHeader = f.str(a, 'cluster_header', path);
    if (cluster !== undefined) {
      if (cluster.length === 0) issues.push({ path: joinPath(path, 'cluster'), message: 'cluster name must not be empty' });
      this.clusterKind = ClusterKind.Static;
      this.clusterName = cluster;
    } else if (clusterHeader !== undefined) {
      if (!/^[0-9a-zA-Z!#$%&'*+\-.^_|~`:]+$/.test(clusterHeader)) {
        issues.push({ path: joinPath(path, 'cluster_header'), message: 'a valid header name is required' });
      }
      this.clusterKind = ClusterKind.Header;
      this.clusterHeader = clusterHeader.toLowerCase();
    } else {
      const wc = f.msg(a, 'weighted_clusters', path);
      if (wc) this.compileWeighted(wc, joinPath(path, 'weighted_clusters'), issues);
    }

    const notFound = f.enumName(a, 'cluster_not_found_response_code', path, ['SERVICE_UNAVAILABLE', 'NOT_FOUND', 'INTERNAL_SERVER_ERROR']);
    if (notFound !== undefined) this.clusterNotFoundResponseCode = CLUSTER_NOT_FOUND_CODES[notFound];

    const prefixRewrite = f.str(a, 'prefix_rewrite', path);
    if (prefixRewrite) this.prefixRewrite = prefixRewrite;
    if (a.regex_rewrite !== undefined && a.regex_rewrite !== null) {
      if (this.prefixRewrite !== undefined) {
        issues.push({ path, message: 'Specify only one of prefix_rewrite, regex_rewrite or path_rewrite_policy' });
      }
      this.regexRewrite = compileRegexMatchAndSubstitute(a.regex_rewrite, joinPath(path, 'regex_rewrite'), issues) ?? null;
    }
    const hostLiteral = f.str(a, 'host_rewrite_literal', path);
    if (hostLiteral) this.hostRewriteLiteral = hostLiteral;
    this.autoHostRewrite = f.bool(a, 'auto_host_rewrite', path) ?? false;
    if (hostLiteral && this.autoHostRewrite) {
      issues.push({ path, message: 'only one of host_rewrite_literal, auto_host_rewrite may be set' });
    }

    const timeout = f.durationMs(a, 'timeout', path);
    if (timeout !== undefined) this.timeoutMs = timeout;
    this.idleTimeoutMs = f.durationMs(a, 'idle_timeout', path);
    const msd = f.msg(a, 'max_stream_duration', path);
    if (msd) {
      const mp = joinPath(path, 'max_stream_duration');
      f.reject(msd, mp, ['max_stream_duration', 'grpc_timeout_header_max', 'grpc_timeout_header_offset']);
      this.maxStreamDurationMs = f.durationMs(msd, 'max_stream_duration', mp);
      this.grpcTimeoutHeaderMaxMs = f.durationMs(msd, 'grpc_timeout_header_max', mp);
      this.grpcTimeoutHeaderOffsetMs = f.durationMs(msd, 'grpc_timeout_header_offset', mp);
    }

    const retry = f.msg(a, 'retry_policy', path);
    if (retry) this.retryPolicy = compileRetryPolicy(retry, joinPath(path, 'retry_policy'), issues);
    const mirrors = f.msgs(a, 'request_mirror_policies', path);
    if (mirrors.length !== 0) this.mirrorPolicies = compileMirrorPolicies(mirrors, issues);

    if (f.enumName(a, 'priority', path, ['DEFAULT', 'HIGH']) === 'HIGH') {
      issues.push({ path: joinPath(path, 'priority'), message: 'field is not implemented by Weft (HIGH priority)' });
    }
    const ira = f.enumName(a, 'internal_redirect_action', path, ['PASS_THROUGH_INTERNAL_REDIRECT', 'HANDLE_INTERNAL_REDIRECT']);
    if (ira === 'HANDLE_INTERNAL_REDIRECT') {
      issues.push({ path: joinPath(path, 'internal_redirect_action'), message: 'field is not implemented by Weft (internal redirects)' });
    }

    const hashList = f.msgs(a, 'hash_policy', path);
    if (hashList.length !== 0) this.hashPolicy = compileHashPolicy(hashList, issues) ?? null;

    const upgrades = f.msgs(a, 'upgrade_configs', path);
    if (upgrades.length !== 0) {
      this.upgrades = new Map();
      for (const [u, up] of upgrades) {
        f.reject(u, up, ['upgrade_type', 'enabled']);
        const type = (f.str(u, 'upgrade_type', up) ?? '').toLowerCase();
        if (!type) issues.push({ path: joinPath(up, 'upgrade_type'), message: 'upgrade_type is required' });
        if (this.upgrades.has(type)) issues.push({ path: joinPath(up, 'upgrade_type'), message: `Duplicate upgrade ${type}` });
        this.upgrades.set(type, f.bool(u, 'enabled', up) ?? true);
      }
    }
  }

  private compileWeighted(wc: Msg, path: string, issues: ConfigIssue[]): void {
    const f = new Fields(issues);
    f.reject(wc, path, ['clusters', 'total_weight', 'header_name']);
    const list: WeightedClusterEntry[] = [];
    let total = 0;
    const clusters = f.msgs(wc, 'clusters', path);
    if (clusters.length === 0) issues.push({ path: joinPath(path, 'clusters'), message: 'at least one cluster is required' });
    for (const [c, cp] of clusters) {
      f.reject(c, cp, [
        'name',
        'cluster_header',
        'weight',
        'request_headers_to_add',
        'request_headers_to_remove',
        'response_headers_to_add',
        'response_headers_to_remove',
        'typed_per_filter_config',
        'host_rewrite_literal',
      ]);
      const name = f.str(c, 'name', cp) ?? '';
      const header = f.str(c, 'cluster_header', cp) ?? '';
      if (name.length === 0 === (header.length === 0)) {
        issues.push({
          path: cp,
          message: name.length === 0 ? 'At least one of name or cluster_header need to be specified' : 'Only one of name or cluster_header can be specified',
        });
      }
      const weight = f.uint(c, 'weight', cp);
      if (weight === undefined) issues.push({ path: joinPath(cp, 'weight'), message: 'weight is required' });
      const request = compileHeaderMutation(c, cp, 'request_', issues) ?? null;
      const response = compileHeaderMutation(c, cp, 'response_', issues) ?? null;
      if (header.length !== 0 && (request !== null || response !== null)) {
        issues.push({ path: cp, message: 'header mutations on a cluster_header weighted cluster are not implemented by Weft' });
      }
      const tpfc = f.msg(c, 'typed_per_filter_config', cp);
      if (header.length !== 0 && tpfc) {
        issues.push({ path: joinPath(cp, 'typed_per_filter_config'), message: 'per-filter config on a cluster_header weighted cluster is not implemented by Weft' });
      }
      list.push({
        name,
        clusterHeader: header.toLowerCase(),
        weight: weight ?? 0,
        request,
        response,
        hostRewriteLiteral: f.str(c, 'host_rewrite_literal', cp) || undefined,
        typedPerFilterConfig: tpfc,
      });
      total += weight ?? 0;
    }
    f.uint(wc, 'total_weight', path); // deprecated: Envoy uses the sum of the weights
    if (total > 0xffffffff) issues.push({ path: joinPath(path, 'clusters'), message: `The sum of weights of all weighted clusters exceeds ${0xffffffff}` });
    else if (clusters.length !== 0 && total === 0) issues.push({ path: joinPath(path, 'clusters'), message: 'Sum of weights in the weighted_cluster must be greater than 0.' });
    this.weightedHeader = (f.str(wc, 'header_name', path) ?? '').toLowerCase();
    this.clusterKind = ClusterKind.Weighted;
    this.weighted = list;
    this.weightedTotal = total;
    const byName = new Map<string, WeightedClusterEntry>();
    for (const w of list) {
      if (w.name && !byName.has(w.name) && (w.request !== null || w.response !== null || w.hostRewriteLiteral !== undefined || w.typedPerFilterConfig !== undefined)) {
        byName.set(w.name, w);
      }
    }
    this.weightedByName = byName.size === 0 ? null : byName;
  }

  /** Clusters named by this entry (for validate_clusters). */
  referencedClusters(out: Set<string>): void {
    if (this.clusterKind === ClusterKind.Static) out.add(this.clusterName);
    for (const w of this.weighted) if (w.name) out.add(w.name);
  }

  compileRedirect(r: Msg, path: string, issues: ConfigIssue[]): void {
    const f = new Fields(issues);
    f.reject(r, path, [
      'https_redirect',
      'scheme_redirect',
      'host_redirect',
      'port_redirect',
      'path_redirect',
      'prefix_rewrite',
      'regex_rewrite',
      'response_code',
      'strip_query',
    ]);
    const https = f.bool(r, 'https_redirect', path) ?? false;
    const scheme = f.str(r, 'scheme_redirect', path) ?? '';
    if (https && scheme) issues.push({ path, message: 'only one of https_redirect, scheme_redirect may be set' });
    const port = f.uint(r, 'port_redirect', path) ?? 0;
    if (port > 65535) issues.push({ path: joinPath(path, 'port_redirect'), message: 'port must be at most 65535' });
    const pathRedirect = f.str(r, 'path_redirect', path) ?? '';
    const prefixRewrite = f.str(r, 'prefix_rewrite', path) ?? '';
    let regexRewrite: RegexSubstitution | null = null;
    if (r.regex_rewrite !== undefined && r.regex_rewrite !== null) {
      regexRewrite = compileRegexMatchAndSubstitute(r.regex_rewrite, joinPath(path, 'regex_rewrite'), issues) ?? null;
    }
    const pathSpecs = [pathRedirect !== '', prefixRewrite !== '', r.regex_rewrite !== undefined && r.regex_rewrite !== null].filter(Boolean).length;
    if (pathSpecs > 1) issues.push({ path, message: 'only one of path_redirect, prefix_rewrite, regex_rewrite may be set' });
    const code = f.enumName(r, 'response_code', path, ['MOVED_PERMANENTLY', 'FOUND', 'SEE_OTHER', 'TEMPORARY_REDIRECT', 'PERMANENT_REDIRECT']);
    this.redirectConfig = {
      scheme,
      https,
      host: f.str(r, 'host_redirect', path) ?? '',
      port: port !== 0 ? `:${port}` : '',
      path: pathRedirect,
      pathHasQuery: pathRedirect.includes('?'),
      prefixRewrite,
      regexRewrite,
      stripQuery: f.bool(r, 'strip_query', path) ?? false,
      status: REDIRECT_CODES[code ?? 'MOVED_PERMANENTLY'],
    };
  }

  compileDirectResponse(d: Msg, path: string, issues: ConfigIssue[]): void {
    const f = new Fields(issues);
    f.reject(d, path, ['status', 'body']);
    const status = f.uint(d, 'status', path);
    if (status === undefined || status < 200 || status >= 600) {
      issues.push({ path: joinPath(path, 'status'), message: 'status must be in [200, 600)' });
    }
    let body: Buffer | null = null;
    const b = f.msg(d, 'body', path);
    if (b) body = this.readDataSource(b, joinPath(path, 'body'), issues);
    this.directResponse = { status: status ?? 200, body };
  }

  private readDataSource(b: Msg, path: string, issues: ConfigIssue[]): Buffer | null {
    const f = new Fields(issues);
    f.reject(b, path, ['filename', 'inline_bytes', 'inline_string', 'environment_variable']);
    const max = this.ctx?.maxDirectResponseBodyBytes ?? DEFAULT_MAX_DIRECT_RESPONSE_BODY_SIZE_BYTES;
    const set = ['filename', 'inline_bytes', 'inline_string', 'environment_variable'].filter((k) => b[k] !== undefined && b[k] !== null);
    if (set.length > 1) {
      issues.push({ path, message: `only one of ${set.join(', ')} may be set` });
      return null;
    }
    let data: Buffer | null = null;
    const filename = f.str(b, 'filename', path);
    const env = f.str(b, 'environment_variable', path);
    const str = f.str(b, 'inline_string', path);
    if (filename !== undefined) {
      const fp = joinPath(path, 'filename');
      try {
        const st = fs.statSync(filename);
        if (st.size > max) {
          issues.push({ path: fp, message: `response body file ${filename} size is ${st.size} bytes; maximum is ${max}` });
          return null;
        }
        data = fs.readFileSync(filename);
      } catch {
        issues.push({ path: fp, message: `response body file ${filename} does not exist` });
        return null;
      }
    } else if (env !== undefined) {
      const v = process.env[env];
      if (v === undefined) {
        issues.push({ path: joinPath(path, 'environment_variable'), message: `Environment variable doesn't exist: ${env}` });
        return null;
      }
      data = Buffer.from(v, 'utf8');
    } else if (b.inline_bytes !== undefined && b.inline_bytes !== null) {
      const v = b.inline_bytes;
      if (Buffer.isBuffer(v)) data = v;
      else if (v instanceof Uint8Array) data = Buffer.from(v);
      else if (typeof v === 'string') data = Buffer.from(v, 'base64');
      else issues.push({ path: joinPath(path, 'inline_bytes'), message: 'expected bytes' });
    } else if (str !== undefined) {
      data = Buffer.from(str, 'utf8');
    }
    if (data !== null && data.length > max) {
      issues.push({ path, message: `response body size is ${data.length} bytes; maximum is ${max}` });
      return null;
    }
    return data !== null && data.length !== 0 ? data : null;
  }
}
