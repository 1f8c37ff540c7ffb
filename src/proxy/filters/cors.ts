/**
 * envoy.filters.http.cors (envoy.extensions.filters.http.cors.v3.Cors, an empty message) with the
 * policy from typed_per_filter_config (envoy.extensions.filters.http.cors.v3.CorsPolicy).
 *
 * As Envoy's CorsFilter: without a route or a policy nothing happens. filter_enabled (default on) and
 * shadow_enabled (default off) gate the filter; a request with a non-empty Origin is counted
 * origin_valid / origin_invalid against allow_origin_string_match (a matcher that matches "*" allows
 * every origin); in shadow mode that is all. A preflight (OPTIONS with Origin and
 * Access-Control-Request-Method) is answered locally: 200, details "cors_response", with
 * access-control-allow-origin (the request's origin, when allowed), -allow-credentials, -allow-methods
 * and -allow-headers ("*" echoes the request's access-control-request-method/-headers), -max-age and
 * access-control-allow-private-network; a preflight from a disallowed origin is forwarded upstream
 * unless forward_not_matching_preflights is false. Other requests from an allowed origin get
 * access-control-allow-origin, -allow-credentials and -expose-headers on the response.
 *
 * Stats: http.<hcm prefix>.cors.{origin_valid, origin_invalid}.
 *
 * Envoy merges the policies of every level (route, then virtual host) field by field; Weft's filter
 * callbacks give only the most specific level's policy, which is used whole.
 */
import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { isObject, readArray, readBool, readString, type Decoded } from '../../lib/decoded-read';
import type { HeaderMap } from '../../lib/headers';
import { compileStringMatcher, type StringMatchFn } from '../../lib/matchers';
import type { Counter } from '../telemetry/stats';
import {
  FilterStatus,
  type FilterCallbacks,
  type FilterCompileContext,
  type HttpFilter,
  type HttpFilterFactory,
  type HttpFilterType,
} from '../http/filter';
import { checkPerRouteType, defaultRandom, fractionHit, readRuntimeFraction, type Fraction, type RandomSource } from './common';

export const CORS_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors';
export const CORS_POLICY_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy';
export const CORS_RESPONSE_DETAILS = 'cors_response';

/** A compiled CorsPolicy. */
export class CorsPolicy {
  constructor(
    readonly allowOrigins: readonly StringMatchFn[],
    readonly allowMethods: string,
    readonly allowHeaders: string,
    readonly exposeHeaders: string,
    readonly maxAge: string,
    readonly allowCredentials: boolean,
    readonly allowPrivateNetworkAccess: boolean,
    readonly forwardNotMatchingPreflights: boolean,
    /** undefined: enabled. */
    readonly filterEnabled: Fraction | undefined,
    /** undefined: not in shadow mode. */
    readonly shadowEnabled: Fraction | undefined,
  ) {}

  originAllowed(origin: string): boolean {
    for (const m of this.allowOrigins) if (m('*') || m(origin)) return true;
    return false;
  }
}

const POLICY_FIELDS = [
  'allow_origin_string_match',
  'allow_methods',
  'allow_headers',
  'expose_headers',
  'max_age',
  'allow_credentials',
  'allow_private_network_access',
  'forward_not_matching_preflights',
  'filter_enabled',
  'shadow_enabled',
];

export function compileCorsPolicy(config: Decoded, path: string, issues: ConfigIssue[]): CorsPolicy | undefined {
  const before = issues.length;
  rejectUnsupported(config, path, POLICY_FIELDS, issues);
  const origins: StringMatchFn[] = [];
  const list = readArray(config, 'allow_origin_string_match', path, issues);
  for (let i = 0; i < list.length; i++) {
    const p = joinPath(joinPath(path, 'allow_origin_string_match'), i);
    if (!isObject(list[i])) {
      issues.push({ path: p, message: 'expected a message' });
      continue;
    }
    const fn = compileStringMatcher(list[i], p, issues);
    if (fn) origins.push(fn);
  }
  const policy = new CorsPolicy(
    origins,
    readString(config, 'allow_methods', path, issues) ?? '',
    readString(config, 'allow_headers', path, issues) ?? '',
    readString(config, 'expose_headers', path, issues) ?? '',
    readString(config, 'max_age', path, issues) ?? '',
    readBool(config, 'allow_credentials', path, issues) ?? false,
    readBool(config, 'allow_private_network_access', path, issues) ?? false,
    readBool(config, 'forward_not_matching_preflights', path, issues) ?? true,
    readRuntimeFraction(config, 'filter_enabled', path, issues),
    readRuntimeFraction(config, 'shadow_enabled', path, issues),
  );
  return issues.length === before ? policy : undefined;
}

interface CorsShared {
  readonly originValid: Counter;
  readonly originInvalid: Counter;
  readonly random: RandomSource;
}

class CorsFilter implements HttpFilter {
  private policy: CorsPolicy | null = null;
  /** The allowed Origin of a CORS request, to echo on the response ("" when none). */
  private latchedOrigin = '';

  constructor(
    private readonly shared: CorsShared,
    private readonly cb: FilterCallbacks,
  ) {}

  decodeHeaders(headers: HeaderMap): FilterStatus {
    if (this.cb.route() === null) return FilterStatus.Continue;
    const policy = this.cb.perRouteConfig<CorsPolicy>();
    if (policy === undefined) return FilterStatus.Continue;
    const random = this.shared.random;
    const enabled = policy.filterEnabled === undefined || fractionHit(policy.filterEnabled, random);
    const shadow = policy.shadowEnabled !== undefined && fractionHit(policy.shadowEnabled, random);
    if (!enabled && !shadow) return FilterStatus.Continue;
    const origin = headers.get('origin');
    if (origin === undefined || origin === '') return FilterStatus.Continue;
    const allowed = policy.originAllowed(origin);
    if (allowed) {
      this.shared.originValid.inc();
      this.latchedOrigin = origin;
    } else {
      this.shared.originInvalid.inc();
    }
    if (shadow && !enabled) {
      this.latchedOrigin = '';
      return FilterStatus.Continue;
    }
    this.policy = policy;
    if (this.cb.request.method !== 'OPTIONS') return FilterStatus.Continue;
    const requestMethod = headers.get('access-control-request-method');
    if (requestMethod === undefined || requestMethod === '') return FilterStatus.Continue;
    if (!allowed && policy.forwardNotMatchingPreflights) return FilterStatus.Continue;

    const out: Array<readonly [string, string]> = [];
    if (allowed) out.push(['access-control-allow-origin', origin]);
    if (policy.allowCredentials) out.push(['access-control-allow-credentials', 'true']);
    if (policy.allowMethods !== '') {
      out.push(['access-control-allow-methods', policy.allowMethods === '*' ? requestMethod : policy.allowMethods]);
    }
    if (policy.allowHeaders !== '') {
      out.push([
        'access-control-allow-headers',
        policy.allowHeaders === '*' ? (headers.get('access-control-request-headers') ?? '') : policy.allowHeaders,
      ]);
    }
    if (policy.maxAge !== '') out.push(['access-control-max-age', policy.maxAge]);
    if (policy.allowPrivateNetworkAccess && headers.get('access-control-request-private-network') === 'true') {
      out.push(['access-control-allow-private-network', 'true']);
    }
    this.cb.sendLocalReply(200, '', { details: CORS_RESPONSE_DETAILS, headers: out });
    return FilterStatus.StopIteration;
  }

  encodeHeaders(_status: number, headers: HeaderMap): FilterStatus {
    const policy = this.policy;
    if (policy === null || this.latchedOrigin === '') return FilterStatus.Continue;
    headers.set('access-control-allow-origin', this.latchedOrigin);
    if (policy.allowCredentials) headers.set('access-control-allow-credentials', 'true');
    if (policy.exposeHeaders !== '') headers.set('access-control-expose-headers', policy.exposeHeaders);
    return FilterStatus.Continue;
  }
}

export interface CorsTypeOptions {
  random?: RandomSource;
}

export function createCorsFilterType(opts: CorsTypeOptions = {}): HttpFilterType {
  const random = opts.random ?? defaultRandom;
  return {
    typeUrl: CORS_TYPE_URL,
    compile(config: Decoded, name: string, path: string, issues: ConfigIssue[], ctx: FilterCompileContext): HttpFilterFactory | undefined {
      const before = issues.length;
      rejectUnsupported(config, path, [], issues);
      if (issues.length !== before) return undefined;
      const prefix = `http.${ctx.statPrefix}.cors.`;
      const shared: CorsShared = {
        originValid: ctx.stats.counter(prefix + 'origin_valid'),
        originInvalid: ctx.stats.counter(prefix + 'origin_invalid'),
        random,
      };
      return { name, create: (cb) => new CorsFilter(shared, cb) };
    },
    compilePerRoute(config: Decoded, path: string, issues: ConfigIssue[]): CorsPolicy | undefined {
      if (!checkPerRouteType(config, path, issues, [CORS_POLICY_TYPE_URL])) return undefined;
      return compileCorsPolicy(config, path, issues);
    },
  };
}

export const corsFilterType: HttpFilterType = createCorsFilterType();
