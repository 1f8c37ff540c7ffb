/**
 * VirtualService HTTP routes → Envoy routes (one per match, as Istio), and Istio's default route
 * for services without a VirtualService.
 */
import type { DecodedMessage, DecodedValue } from '../../xds/decoded';
import type { Destination, HeaderOps, Headers, HTTPMatchRequest, HTTPRoute, StringMatch } from '../config/types';
import { labelsMatch } from '../registry/registry';
import type { Labels, Service } from '../registry/types';
import { resolveHost, type MeshModel, type ScopedVirtualService } from '../model/mesh';
import { FILTER_NAMES, fractionalPercent, ms, outboundClusterName, TYPES } from './common';
import { effectivePolicy, hashPolicy } from './clusters';

/** Istio's default retry policy (2 attempts on connect-failure, refused-stream, unavailable, cancelled, 503). */
export function defaultRetryPolicy(): DecodedMessage {
  return retryPolicy(2, 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes', [503], undefined);
}

function retryPolicy(attempts: number, retryOn: string, codes: number[], perTryMs: number | undefined): DecodedMessage {
  const p: DecodedMessage = {
    retry_on: retryOn,
    num_retries: attempts,
    retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate' } }],
    host_selection_retry_max_attempts: 5,
  };
  if (codes.length > 0) p.retriable_status_codes = codes;
  if (perTryMs !== undefined) p.per_try_timeout = perTryMs;
  return p;
}

/** What the route builder needs from its caller. */
export interface RouteContext {
  readonly model: MeshModel;
  readonly proxyNamespace: string;
  readonly proxyLabels: Labels;
  /** 'mesh' for sidecars and proxyless clients; `ns/name` of the Gateway for routers. */
  readonly gateway: string;
  /** The port the request arrived for (the service port, or the Gateway server port). */
  readonly port: number;
  /** Proxyless gRPC clients: no retries/mirrors/CORS (gRPC ignores or rejects them). */
  readonly proxyless: boolean;
  /**
   * For proxyless clients, which reject redirect and direct_response routes: the cluster such a
   * route names while a 100% fault abort answers it (direct response: its status; redirect: UNIMPLEMENTED).
   */
  readonly nonForwardingCluster?: string;
}

/** The cluster for a destination: its host resolved in the VirtualService's namespace, its port or the only/context port. */
function destinationCluster(ctx: RouteContext, dest: Destination, vsNamespace: string): { cluster: string; service: Service | undefined } {
  const host = resolveHost(dest.host, vsNamespace);
  const service = ctx.model.registry.byHost(host)[0];
  let port = dest.port?.number;
  if (port === undefined) port = service && service.ports.length === 1 ? service.ports[0].port : ctx.port;
  return { cluster: outboundClusterName(port, dest.subset ?? '', host), service };
}

function stringMatcher(m: StringMatch, ignoreCase = false): DecodedMessage {
  const out: DecodedMessage = {};
  if (m.exact !== undefined) out.exact = m.exact;
  else if (m.prefix !== undefined) out.prefix = m.prefix;
  else if (m.regex !== undefined) out.safe_regex = { regex: m.regex };
  if (ignoreCase && m.regex === undefined) out.ignore_case = true;
  return out;
}

function headerMatcher(name: string, m: StringMatch, invert: boolean): DecodedMessage {
  const h: DecodedMessage = { name };
  if (m.exact === undefined && m.prefix === undefined && m.regex === undefined) h.present_match = true;
  else h.string_match = stringMatcher(m);
  if (invert) h.invert_match = true;
  return h;
}

function buildMatch(m: HTTPMatchRequest | undefined): DecodedMessage {
  const match: DecodedMessage = {};
  const uri = m?.uri;
  if (uri?.exact !== undefined) match.path = uri.exact;
  else if (uri?.regex !== undefined) match.safe_regex = { regex: uri.regex };
  else match.prefix = uri?.prefix ?? '/';
  if (m?.ignoreUriCase) match.case_sensitive = false;
  const headers: DecodedMessage[] = [];
  if (m?.method) headers.push(headerMatcher(':method', m.method, false));
  if (m?.authority) headers.push(headerMatcher(':authority', m.authority, false));
  for (const [name, sm] of Object.entries(m?.headers ?? {})) headers.push(headerMatcher(name.toLowerCase(), sm, false));
  for (const [name, sm] of Object.entries(m?.withoutHeaders ?? {})) headers.push(headerMatcher(name.toLowerCase(), sm, true));
  if (headers.length > 0) match.headers = headers;
  const qps = Object.entries(m?.queryParams ?? {}).map(([name, sm]) => {
    const q: DecodedMessage = { name };
    if (sm.exact === '' || (sm.exact === undefined && sm.prefix === undefined && sm.regex === undefined)) q.present_match = true;
    else q.string_match = stringMatcher(sm);
    return q;
  });
  if (qps.length > 0) match.query_parameters = qps;
  return match;
}

function headerOptions(ops: HeaderOps | undefined): { add: DecodedMessage[]; remove: string[] } {
  const add: DecodedMessage[] = [];
  for (const [key, value] of Object.entries(ops?.set ?? {})) add.push({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' });
  // APPEND_IF_EXISTS_OR_ADD is append_action's default (0).
  for (const [key, value] of Object.entries(ops?.add ?? {})) add.push({ header: { key, value } });
  return { add, remove: [...(ops?.remove ?? [])] };
}

function applyHeaders(target: DecodedMessage, headers: Headers | undefined): void {
  if (!headers) return;
  const rq = headerOptions(headers.request);
  const rs = headerOptions(headers.response);
  if (rq.add.length > 0) target.request_headers_to_add = rq.add;
  if (rq.remove.length > 0) target.request_headers_to_remove = rq.remove;
  if (rs.add.length > 0) target.response_headers_to_add = rs.add;
  if (rs.remove.length > 0) target.response_headers_to_remove = rs.remove;
}

const GRPC_CODES: Readonly<Record<string, number>> = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, ALREADY_EXISTS: 6, PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, ABORTED: 10, OUT_OF_RANGE: 11, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14,
  DATA_LOSS: 15, UNAUTHENTICATED: 16,
};

const GRPC_RETRY_ON: ReadonlySet<string> = new Set(['cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable']);

export function grpcStatusCode(s: string): number | undefined {
  if (/^\d+$/.test(s)) return Number(s) <= 16 ? Number(s) : undefined;
  return GRPC_CODES[s.toUpperCase()];
}

function faultConfig(f: NonNullable<HTTPRoute['fault']>): DecodedMessage {
  const out: DecodedMessage = { '@type': TYPES.fault };
  if (f.delay) {
    const pct = f.delay.percentage?.value ?? f.delay.percent ?? 100;
    out.delay = { fixed_delay: ms(f.delay.fixedDelay), percentage: fractionalPercent(pct) };
  }
  if (f.abort) {
    const abort: DecodedMessage = { percentage: fractionalPercent(f.abort.percentage?.value ?? 100) };
    if (f.abort.httpStatus !== undefined) abort.http_status = f.abort.httpStatus;
    else if (f.abort.grpcStatus !== undefined) abort.grpc_status = grpcStatusCode(f.abort.grpcStatus) ?? 2;
    out.abort = abort;
  }
  return out;
}

function corsConfig(c: NonNullable<HTTPRoute['corsPolicy']>): DecodedMessage {
  const out: DecodedMessage = { '@type': TYPES.corsPolicy };
  const origins: DecodedValue[] = (c.allowOrigins ?? []).map((m) => stringMatcher(m));
  for (const o of c.allowOrigin ?? []) origins.push(o === '*' ? { prefix: '' } : { exact: o });
  if (origins.length > 0) out.allow_origin_string_match = origins;
  if (c.allowMethods) out.allow_methods = c.allowMethods.join(',');
  if (c.allowHeaders) out.allow_headers = c.allowHeaders.join(',');
  if (c.exposeHeaders) out.expose_headers = c.exposeHeaders.join(',');
  if (c.maxAge) out.max_age = String(Math.floor(ms(c.maxAge) / 1000));
  if (c.allowCredentials !== undefined) out.allow_credentials = c.allowCredentials;
  return out;
}

const REDIRECT_CODES: Readonly<Record<number, string>> = { 301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT' };

function redirectAction(r: NonNullable<HTTPRoute['redirect']>): DecodedMessage {
  const out: DecodedMessage = {};
  if (r.uri !== undefined) out.path_redirect = r.uri;
  if (r.authority !== undefined) out.host_redirect = r.authority;
  if (r.port !== undefined) out.port_redirect = r.port;
  if (r.scheme !== undefined) out.scheme_redirect = r.scheme;
  const code = REDIRECT_CODES[r.redirectCode ?? 301] ?? 'MOVED_PERMANENTLY';
  if (code !== 'MOVED_PERMANENTLY') out.response_code = code; // the default (0)
  return out;
}

function routeAction(ctx: RouteContext, http: HTTPRoute, vsNamespace: string): DecodedMessage {
  const dests = (http.route ?? []).filter((d) => d.weight === undefined || d.weight > 0 || (http.route ?? []).length === 1);
  const action: DecodedMessage = {};
  const first = dests[0];
  if (dests.length === 1 && first.headers === undefined) {
    action.cluster = destinationCluster(ctx, first.destination, vsNamespace).cluster;
  } else {
    action.weighted_clusters = {
      clusters: dests.map((d) => {
        const wc: DecodedMessage = { name: destinationCluster(ctx, d.destination, vsNamespace).cluster, weight: d.weight ?? 100 };
        applyHeaders(wc, d.headers);
        return wc;
      }),
    };
  }
  // Consistent hashing comes from the first destination's DestinationRule (as Istio).
  const firstDest = destinationCluster(ctx, first.destination, vsNamespace);
  if (firstDest.service) {
    const dr = ctx.model.destinationRuleFor(ctx.proxyNamespace, firstDest.service);
    const port = first.destination.port?.number ?? (firstDest.service.ports.length === 1 ? firstDest.service.ports[0].port : ctx.port);
    const hp = hashPolicy(effectivePolicy(dr?.spec, port, first.destination.subset).loadBalancer?.consistentHash);
    if (hp) action.hash_policy = hp;
  }
  action.timeout = http.timeout ? ms(http.timeout) : 0;
  if (ctx.proxyless) {
    // gRPC clients take their deadline from max_stream_duration and retry only on gRPC status codes.
    if (http.timeout) action.max_stream_duration = { max_stream_duration: ms(http.timeout) };
    const attempts = http.retries?.attempts ?? 0;
    const codes = (http.retries?.retryOn ?? '').split(',').map((p) => p.trim()).filter((p) => GRPC_RETRY_ON.has(p));
    if (attempts > 0 && codes.length > 0) {
      const rp: DecodedMessage = { retry_on: codes.join(','), num_retries: attempts };
      if (http.retries?.perTryTimeout) rp.per_try_timeout = ms(http.retries.perTryTimeout);
      action.retry_policy = rp;
    }
  } else {
    const retries = http.retries;
    if (retries === undefined) action.retry_policy = defaultRetryPolicy();
    else if ((retries.attempts ?? 0) > 0) {
      const parts = (retries.retryOn ?? 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes').split(',').map((s) => s.trim());
      const codes = parts.filter((p) => /^\d{3}$/.test(p)).map(Number);
      const conds = parts.filter((p) => !/^\d{3}$/.test(p));
      if (codes.length > 0 && !conds.includes('retriable-status-codes')) conds.push('retriable-status-codes');
      if (retries.retryOn === undefined) codes.push(503);
      action.retry_policy = retryPolicy(retries.attempts ?? 0, conds.join(','), codes, retries.perTryTimeout ? ms(retries.perTryTimeout) : undefined);
    }
    const mirrors: DecodedMessage[] = [];
    if (http.mirror) {
      const pct = http.mirrorPercentage?.value ?? http.mirrorPercent ?? http.mirror_percent ?? 100;
      mirrors.push(mirrorPolicy(destinationCluster(ctx, http.mirror, vsNamespace).cluster, pct));
    }
    for (const m of http.mirrors ?? []) mirrors.push(mirrorPolicy(destinationCluster(ctx, m.destination, vsNamespace).cluster, m.percentage?.value ?? 100));
    if (mirrors.length > 0) action.request_mirror_policies = mirrors;
  }
  if (http.rewrite?.uri !== undefined) action.prefix_rewrite = http.rewrite.uri;
  if (http.rewrite?.uriRegexRewrite) action.regex_rewrite = { pattern: { regex: http.rewrite.uriRegexRewrite.match }, substitution: http.rewrite.uriRegexRewrite.rewrite };
  if (http.rewrite?.authority !== undefined) action.host_rewrite_literal = http.rewrite.authority;
  return action;
}

function mirrorPolicy(cluster: string, pct: number): DecodedMessage {
  return { cluster, runtime_fraction: { default_value: fractionalPercent(pct) } };
}

/** A match request applies to this proxy when its sourceLabels and gateways fit. */
function matchApplies(ctx: RouteContext, m: HTTPMatchRequest): boolean {
  if (m.sourceLabels && !labelsMatch(m.sourceLabels, ctx.proxyLabels)) return false;
  if (m.gateways && m.gateways.length > 0) {
    return m.gateways.some((g) => g === ctx.gateway || (g !== 'mesh' && !g.includes('/') && ctx.gateway.endsWith(`/${g}`)));
  }
  return true;
}

/** Envoy routes for one VirtualService in this context, in order; `usesFault` tells the HCM to carry the fault filter. */
export function buildVirtualServiceRoutes(ctx: RouteContext, vs: ScopedVirtualService): { routes: DecodedMessage[]; usesFault: boolean; usesCors: boolean } {
  const routes: DecodedMessage[] = [];
  let usesFault = false;
  let usesCors = false;
  const ns = vs.resource.meta.namespace;
  for (const [i, http] of (vs.resource.spec.http ?? []).entries()) {
    const matches = http.match && http.match.length > 0 ? http.match.filter((m) => matchApplies(ctx, m)) : [undefined];
    if (matches.length === 0) continue;
    let action: DecodedMessage | undefined;
    let kind: 'route' | 'redirect' | 'direct_response';
    if (http.redirect) kind = 'redirect';
    else if (http.directResponse) kind = 'direct_response';
    else {
      kind = 'route';
      action = routeAction(ctx, http, ns);
    }
    for (const m of matches) {
      const r: DecodedMessage = { match: buildMatch(m) };
      const name = [http.name, m?.name].filter((x) => x).join('.');
      if (name) r.name = name;
      else r.name = `${vs.resource.meta.namespace}/${vs.resource.meta.name}.${i}`;
      const perFilter: DecodedMessage = {};
      if (kind !== 'route' && ctx.proxyless && ctx.nonForwardingCluster !== undefined) {
        r.route = { cluster: ctx.nonForwardingCluster, timeout: 0 };
        const abort: DecodedMessage = { percentage: fractionalPercent(100) };
        if (kind === 'direct_response') abort.http_status = http.directResponse!.status;
        else abort.grpc_status = GRPC_CODES.UNIMPLEMENTED;
        perFilter[FILTER_NAMES.fault] = { '@type': TYPES.fault, abort };
        usesFault = true;
      } else if (kind === 'route') r.route = action!;
      else if (kind === 'redirect') r.redirect = redirectAction(http.redirect!);
      else {
        const dr: DecodedMessage = { status: http.directResponse!.status };
        const body = http.directResponse!.body;
        if (body?.string !== undefined) dr.body = { inline_string: body.string };
        else if (body?.bytes !== undefined) dr.body = { inline_bytes: Buffer.from(body.bytes, 'base64') };
        r.direct_response = dr;
      }
      applyHeaders(r, http.headers);
      if (http.fault && perFilter[FILTER_NAMES.fault] === undefined) {
        perFilter[FILTER_NAMES.fault] = faultConfig(http.fault);
        usesFault = true;
      }
      if (http.corsPolicy && !ctx.proxyless) {
        perFilter[FILTER_NAMES.cors] = corsConfig(http.corsPolicy);
        usesCors = true;
      }
      if (Object.keys(perFilter).length > 0) r.typed_per_filter_config = perFilter;
      routes.push(r);
    }
  }
  return { routes, usesFault, usesCors };
}

/** Istio's route for a service without a VirtualService: everything to the service port's cluster. */
export function buildDefaultRoute(ctx: RouteContext, service: Service, port: number): DecodedMessage {
  const action: DecodedMessage = { cluster: outboundClusterName(port, '', service.hostname), timeout: 0 };
  const dr = ctx.model.destinationRuleFor(ctx.proxyNamespace, service);
  const hp = hashPolicy(effectivePolicy(dr?.spec, port, undefined).loadBalancer?.consistentHash);
  if (hp) action.hash_policy = hp;
  if (!ctx.proxyless) action.retry_policy = defaultRetryPolicy();
  return { name: 'default', match: { prefix: '/' }, route: action };
}
