/**
 * envoy.filters.http.local_ratelimit (envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit).
 *
 * As Envoy's local rate limit filter: the most specific typed_per_filter_config (a LocalRateLimit with
 * its own token bucket and stats) replaces the filter's own config. When filter_enabled hits, one
 * token is taken from the bucket; without one, the request is rate limited: counted, and when
 * filter_enforced hits answered locally with `status` (429 by default; codes below 400 become 429),
 * body and details "local_rate_limited", flag RL, response_headers_to_add and x-envoy-ratelimited;
 * otherwise request_headers_to_add_when_not_enforced are added and the request goes on.
 * enable_x_ratelimit_headers: DRAFT_VERSION_03 adds x-ratelimit-limit/-remaining/-reset to the response.
 *
 * Token buckets follow Envoy's timer token bucket (start full; every fill_interval add tokens_per_fill,
 * capped at max_tokens) but fill lazily from a monotonic clock on use: no timer per bucket.
 * local_rate_limit_per_downstream_connection keeps one bucket per downstream connection (by
 * StreamInfo.connectionId); buckets that would be full again are dropped lazily.
 *
 * Stats: <stat_prefix>.http_local_rate_limit.{enabled, enforced, rate_limited, ok}.
 * Not implemented (reported by path): descriptors, rate_limits, stage, vh_rate_limits,
 * local_cluster_rate_limit, max_dynamic_descriptors.
 */
import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { readBool, readEnum, readNumber, readObject, readString, type Decoded } from '../../lib/decoded-read';
import type { HeaderMap } from '../../lib/headers';
import { ResponseFlag } from '../stream-info';
import type { Counter, StatsStore } from '../telemetry/stats';
import {
  FilterStatus,
  type FilterCallbacks,
  type FilterCompileContext,
  type HttpFilter,
  type HttpFilterFactory,
  type HttpFilterType,
} from '../http/filter';
import {
  checkPerRouteType,
  compileHeaderValueOptions,
  defaultClock,
  defaultRandom,
  fractionHit,
  readHttpStatus,
  readRuntimeFraction,
  type Fraction,
  type HeaderAdd,
  type MonotonicClock,
  type RandomSource,
} from './common';

export const LOCAL_RATELIMIT_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';
export const LOCAL_RATE_LIMITED = 'local_rate_limited';
/** gRPC RESOURCE_EXHAUSTED, for rate_limited_as_resource_exhausted. */
const GRPC_RESOURCE_EXHAUSTED = 8;

/** A token bucket that refills in whole fill intervals, computed when it is used. */
export class TokenBucket {
  private tokens: number;
  /** Monotonic time of the last (virtual) fill. */
  private fillTime: number;

  constructor(
    readonly maxTokens: number,
    readonly tokensPerFill: number,
    /** 0: never refills. */
    readonly fillIntervalMs: number,
    private readonly clock: MonotonicClock,
  ) {
    this.tokens = maxTokens;
    this.fillTime = clock();
  }

  private refill(now: number): void {
    const iv = this.fillIntervalMs;
    if (iv <= 0) return;
    const elapsed = now - this.fillTime;
    if (elapsed < iv) return;
    const fills = Math.floor(elapsed / iv);
    this.fillTime += fills * iv;
    if (this.tokens < this.maxTokens) {
      this.tokens = Math.min(this.maxTokens, this.tokens + fills * this.tokensPerFill);
    }
  }

  consume(): boolean {
    this.refill(this.clock());
    if (this.tokens === 0) return false;
    this.tokens--;
    return true;
  }

  remainingTokens(): number {
    this.refill(this.clock());
    return this.tokens;
  }

  /** Whole seconds until the next fill (Envoy's x-ratelimit-reset); 0 when none is due. */
  resetSeconds(): number {
    const now = this.clock();
    this.refill(now);
    const iv = this.fillIntervalMs;
    if (iv <= 0) return 0;
    const sinceFill = now - this.fillTime;
    if (sinceFill >= iv) return 0;
    return Math.floor((iv - Math.floor(sinceFill / 1000) * 1000) / 1000);
  }

  /** True when the bucket would be full now: it is then the same as a new bucket. */
  idleFull(): boolean {
    this.refill(this.clock());
    return this.tokens >= this.maxTokens;
  }
}

interface TokenBucketConfig {
  readonly maxTokens: number;
  readonly tokensPerFill: number;
  readonly fillIntervalMs: number;
}

interface LocalRateLimitStats {
  readonly enabled: Counter;
  readonly enforced: Counter;
  readonly rateLimited: Counter;
  readonly ok: Counter;
}

const PER_CONNECTION_SWEEP = 1024;

/** A compiled LocalRateLimit (filter-level or per-route); owns its bucket(s). */
export class LocalRateLimitConfig {
  private readonly bucket: TokenBucket;
  private readonly perConnection: Map<number, TokenBucket> | null;
  private nextSweep = PER_CONNECTION_SWEEP;
  private statsFor: StatsStore | null = null;
  private statsCache: LocalRateLimitStats | null = null;

  constructor(
    readonly statPrefix: string,
    readonly status: number,
    private readonly bucketConfig: TokenBucketConfig,
    readonly filterEnabled: Fraction | undefined,
    readonly filterEnforced: Fraction | undefined,
    readonly responseHeaders: readonly HeaderAdd[],
    readonly requestHeadersWhenNotEnforced: readonly HeaderAdd[],
    readonly xRateLimitHeaders: boolean,
    readonly perDownstreamConnection: boolean,
    readonly grpcStatus: number | undefined,
    private readonly clock: MonotonicClock,
  ) {
    this.bucket = this.newBucket();
    this.perConnection = perDownstreamConnection ? new Map() : null;
  }

  private newBucket(): TokenBucket {
    const c = this.bucketConfig;
    return new TokenBucket(c.maxTokens, c.tokensPerFill, c.fillIntervalMs, this.clock);
  }

  /** The counters of this config in `store` (created once; per-route configs are compiled without a store). */
  stats(store: StatsStore): LocalRateLimitStats {
    if (this.statsFor !== store || this.statsCache === null) {
      const p = `${this.statPrefix}.http_local_rate_limit.`;
      this.statsCache = {
        enabled: store.counter(p + 'enabled'),
        enforced: store.counter(p + 'enforced'),
        rateLimited: store.counter(p + 'rate_limited'),
        ok: store.counter(p + 'ok'),
      };
      this.statsFor = store;
    }
    return this.statsCache;
  }

  /** The bucket a request on `connectionId` uses. */
  bucketFor(connectionId: number): TokenBucket {
    const pc = this.perConnection;
    if (pc === null) return this.bucket;
    let b = pc.get(connectionId);
    if (b === undefined) {
      if (pc.size >= this.nextSweep) this.sweep(pc);
      b = this.newBucket();
      pc.set(connectionId, b);
    }
    return b;
  }

  private sweep(pc: Map<number, TokenBucket>): void {
    for (const [id, b] of pc) if (b.idleFull()) pc.delete(id);
    this.nextSweep = Math.max(PER_CONNECTION_SWEEP, pc.size * 2);
  }

  /** Buckets currently kept per connection (for tests and admin). */
  get perConnectionBuckets(): number {
    return this.perConnection?.size ?? 0;
  }
}

const FIELDS = [
  'stat_prefix',
  'status',
  'token_bucket',
  'filter_enabled',
  'filter_enforced',
  'request_headers_to_add_when_not_enforced',
  'response_headers_to_add',
  'local_rate_limit_per_downstream_connection',
  'enable_x_ratelimit_headers',
  'rate_limited_as_resource_exhausted',
  'always_consume_default_token_bucket',
];

function compileConfig(
  config: Decoded,
  path: string,
  issues: ConfigIssue[],
  perRoute: boolean,
  clock: MonotonicClock,
): LocalRateLimitConfig | undefined {
  const before = issues.length;
  // An explicitly empty descriptors / rate_limits list configures nothing.
  const supported = FIELDS.concat(
    ['descriptors', 'rate_limits'].filter((k) => Array.isArray(config[k]) && (config[k] as unknown[]).length === 0),
  );
  rejectUnsupported(config, path, supported, issues);
  const statPrefix = readString(config, 'stat_prefix', path, issues);
  if (!statPrefix) issues.push({ path: joinPath(path, 'stat_prefix'), message: 'stat_prefix is required' });
  let status = readHttpStatus(config, 'status', path, issues) ?? 429;
  if (status < 400) status = 429;
  const tb = readObject(config, 'token_bucket', path, issues);
  let bucket: TokenBucketConfig = { maxTokens: 0, tokensPerFill: 1, fillIntervalMs: 0 };
  if (tb) {
    const tp = joinPath(path, 'token_bucket');
    rejectUnsupported(tb, tp, ['max_tokens', 'tokens_per_fill', 'fill_interval'], issues);
    const maxTokens = readNumber(tb, 'max_tokens', tp, issues, { gt: 0, integer: true, max: 0xffffffff });
    if (tb.max_tokens === undefined) issues.push({ path: joinPath(tp, 'max_tokens'), message: 'value must be > 0' });
    const perFill = readNumber(tb, 'tokens_per_fill', tp, issues, { gt: 0, integer: true, max: 0xffffffff }) ?? 1;
    const interval = readNumber(tb, 'fill_interval', tp, issues, { gt: 0 });
    if (tb.fill_interval === undefined) issues.push({ path: joinPath(tp, 'fill_interval'), message: 'fill_interval is required' });
    else if (interval !== undefined && interval < 50) {
      issues.push({ path: joinPath(tp, 'fill_interval'), message: 'local rate limit token bucket fill timer must be >= 50ms' });
    }
    bucket = { maxTokens: maxTokens ?? 0, tokensPerFill: perFill, fillIntervalMs: Math.floor(interval ?? 0) };
  } else if (perRoute) {
    issues.push({ path: joinPath(path, 'token_bucket'), message: 'local rate limit token bucket must be set for per filter configs' });
  }
  const enabled = readRuntimeFraction(config, 'filter_enabled', path, issues);
  const enforced = readRuntimeFraction(config, 'filter_enforced', path, issues);
  const responseHeaders = compileHeaderValueOptions(config, 'response_headers_to_add', path, issues);
  const requestHeaders = compileHeaderValueOptions(config, 'request_headers_to_add_when_not_enforced', path, issues);
  const perConn = readBool(config, 'local_rate_limit_per_downstream_connection', path, issues) ?? false;
  const xrl = readEnum(config, 'enable_x_ratelimit_headers', path, issues, ['OFF', 'DRAFT_VERSION_03']) ?? 'OFF';
  const exhausted = readBool(config, 'rate_limited_as_resource_exhausted', path, issues) ?? false;
  // Only affects requests that matched descriptors, which Weft does not implement: accepted, inert.
  readBool(config, 'always_consume_default_token_bucket', path, issues);
  if (issues.length !== before) return undefined;
  return new LocalRateLimitConfig(
    statPrefix as string,
    status,
    bucket,
    enabled,
    enforced,
    responseHeaders,
    requestHeaders,
    xrl === 'DRAFT_VERSION_03',
    perConn,
    exhausted ? GRPC_RESOURCE_EXHAUSTED : undefined,
    clock,
  );
}

class LocalRateLimitFilter implements HttpFilter {
  private used: LocalRateLimitConfig;
  private bucket: TokenBucket | null = null;

  constructor(
    config: LocalRateLimitConfig,
    private readonly store: StatsStore,
    private readonly random: RandomSource,
    private readonly cb: FilterCallbacks,
  ) {
    this.used = config;
  }

  decodeHeaders(headers: HeaderMap): FilterStatus {
    const route = this.cb.perRouteConfig<LocalRateLimitConfig>();
    if (route !== undefined) this.used = route;
    const c = this.used;
    if (c.filterEnabled === undefined || !fractionHit(c.filterEnabled, this.random)) return FilterStatus.Continue;
    const stats = c.stats(this.store);
    stats.enabled.inc();
    const bucket = c.bucketFor(this.cb.info.connectionId);
    this.bucket = bucket;
    if (bucket.consume()) {
      stats.ok.inc();
      return FilterStatus.Continue;
    }
    stats.rateLimited.inc();
    if (c.filterEnforced === undefined || !fractionHit(c.filterEnforced, this.random)) {
      const info = this.cb.info;
      for (const h of c.requestHeadersWhenNotEnforced) h.apply(headers, info);
      return FilterStatus.Continue;
    }
    stats.enforced.inc();
    const extra: Array<readonly [string, string]> = [['x-envoy-ratelimited', 'true']];
    for (const h of c.responseHeaders) {
      const v = h.value(this.cb.info);
      if (v.length > 0 || h.keepEmpty) extra.push([h.key, v]);
    }
    this.cb.sendLocalReply(c.status, LOCAL_RATE_LIMITED, {
      details: LOCAL_RATE_LIMITED,
      flag: ResponseFlag.RateLimited,
      headers: extra,
      grpcStatus: c.grpcStatus,
    });
    return FilterStatus.StopIteration;
  }

  encodeHeaders(_status: number, headers: HeaderMap): FilterStatus {
    const b = this.bucket;
    if (b !== null && this.used.xRateLimitHeaders) {
      headers.add('x-ratelimit-limit', String(b.maxTokens));
      headers.add('x-ratelimit-remaining', String(b.remainingTokens()));
      headers.add('x-ratelimit-reset', String(b.resetSeconds()));
    }
    return FilterStatus.Continue;
  }
}

export interface LocalRateLimitTypeOptions {
  clock?: MonotonicClock;
  random?: RandomSource;
}

/** The local rate limit filter type; tests inject the clock and random source. */
export function createLocalRateLimitFilterType(opts: LocalRateLimitTypeOptions = {}): HttpFilterType {
  const clock = opts.clock ?? defaultClock;
  const random = opts.random ?? defaultRandom;
  return {
    typeUrl: LOCAL_RATELIMIT_TYPE_URL,
    compile(config: Decoded, name: string, path: string, issues: ConfigIssue[], ctx: FilterCompileContext): HttpFilterFactory | undefined {
      const c = compileConfig(config, path, issues, false, clock);
      if (!c) return undefined;
      const store = ctx.stats;
      c.stats(store);
      return { name, create: (cb) => new LocalRateLimitFilter(c, store, random, cb) };
    },
    compilePerRoute(config: Decoded, path: string, issues: ConfigIssue[]): LocalRateLimitConfig | undefined {
      if (!checkPerRouteType(config, path, issues, [LOCAL_RATELIMIT_TYPE_URL])) return undefined;
      return compileConfig(config, path, issues, true, clock);
    },
  };
}

export const localRateLimitFilterType: HttpFilterType = createLocalRateLimitFilterType();
