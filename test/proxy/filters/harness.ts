/** A fake FilterCallbacks and helpers to drive one filter instance the way the connection manager would. */
import type { ConfigIssue } from '../../../src/lib/config-error';
import { HeaderMap } from '../../../src/lib/headers';
import type { FilterCallbacks, HttpFilter, HttpFilterFactory, HttpFilterType, LocalReplyOptions } from '../../../src/proxy/http/filter';
import type { MatchedRoute, RouteRequest } from '../../../src/proxy/http/contracts';
import { StreamInfo } from '../../../src/proxy/stream-info';
import { StatsStore } from '../../../src/proxy/telemetry/stats';

export interface LocalReply {
  status: number;
  body: string;
  opts: LocalReplyOptions;
}

interface Timer {
  due: number;
  fn: () => void;
  cancelled: boolean;
}

/** A route stub: only what filters read (kind, pickCluster). */
export function fakeRoute(cluster = 'backend', kind: MatchedRoute['kind'] = 'cluster'): MatchedRoute {
  return { kind, name: 'r', virtualHostName: 'vh', pickCluster: () => cluster } as unknown as MatchedRoute;
}

export class FakeCallbacks implements FilterCallbacks {
  readonly info = new StreamInfo();
  readonly request: RouteRequest;
  routeValue: MatchedRoute | null = fakeRoute();
  perRoute: unknown = undefined;
  readonly replies: LocalReply[] = [];
  continued = 0;
  encodeContinued = 0;
  routeCleared = 0;
  /** Fake time for setTimeout, in ms. */
  now = 0;
  private readonly timers: Timer[] = [];

  constructor(method = 'GET', path = '/', headers: Iterable<readonly [string, string]> = [], authority = 'example.com') {
    const h = HeaderMap.from(headers);
    this.request = { method, path, authority, scheme: 'http', headers: h };
    this.info.method = method;
    this.info.path = path;
    this.info.authority = authority;
    this.info.requestHeaders = h;
  }

  get headers(): HeaderMap {
    return this.request.headers;
  }

  route(): MatchedRoute | null {
    return this.routeValue;
  }
  clearRouteCache(): void {
    this.routeCleared++;
  }
  upstreamCluster(): string | null {
    const r = this.routeValue;
    return r === null || r.kind !== 'cluster' ? null : r.pickCluster(this.request, 0);
  }
  perRouteConfig<T>(): T | undefined {
    return this.perRoute as T | undefined;
  }
  sendLocalReply(status: number, body: string, opts: LocalReplyOptions): void {
    this.replies.push({ status, body, opts });
    this.info.responseCode = status;
    this.info.responseCodeDetails = opts.details;
    if (opts.flag) this.info.addFlag(opts.flag);
  }
  continueDecoding(): void {
    this.continued++;
  }
  continueEncoding(): void {
    this.encodeContinued++;
  }
  setTimeout(ms: number, fn: () => void): void {
    this.timers.push({ due: this.now + ms, fn, cancelled: false });
  }

  /** Pending (not yet fired) timers' delays from now. */
  pendingTimers(): number[] {
    return this.timers.filter((t) => !t.cancelled).map((t) => t.due - this.now);
  }

  /** Advances fake time, firing due timers in order. */
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      const next = this.timers.filter((t) => !t.cancelled && t.due <= until).sort((a, b) => a.due - b.due)[0];
      if (!next) break;
      next.cancelled = true;
      this.now = next.due;
      next.fn();
    }
    this.now = until;
  }

  /** What the connection manager does at stream end: cancel timers, then onDestroy. */
  destroy(filter: HttpFilter): void {
    for (const t of this.timers) t.cancelled = true;
    filter.onDestroy?.();
  }

  /** The local reply's extra headers as an object. */
  replyHeaders(i = 0): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of this.replies[i]?.opts.headers ?? []) out[k] = v;
    return out;
  }
}

export const STAT_PREFIX = 'ingress_http';

/** Compiles a filter config; returns the factory (or undefined) and the issues. */
export function compile(
  type: HttpFilterType,
  config: Record<string, unknown>,
  stats = new StatsStore(),
  name = 'f',
): { factory: HttpFilterFactory | undefined; issues: ConfigIssue[]; stats: StatsStore } {
  const issues: ConfigIssue[] = [];
  const factory = type.compile({ '@type': type.typeUrl, ...config }, name, 'http_filters[0].typed_config', issues, {
    stats,
    statPrefix: STAT_PREFIX,
  });
  return { factory, issues, stats };
}

/** Compiles and asserts no issues. */
export function mustCompile(type: HttpFilterType, config: Record<string, unknown>, stats = new StatsStore()): HttpFilterFactory {
  const r = compile(type, config, stats);
  if (!r.factory || r.issues.length > 0) throw new Error(`unexpected issues: ${JSON.stringify(r.issues)}`);
  return r.factory;
}

export function perRoute(type: HttpFilterType, config: Record<string, unknown>): { value: unknown; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const value = type.compilePerRoute?.(config, 'typed_per_filter_config.f', issues);
  return { value, issues };
}

export function counter(stats: StatsStore, name: string): number {
  return stats.counters.get(name)?.value ?? -1;
}

export function gauge(stats: StatsStore, name: string): number {
  return stats.gauges.get(name)?.value ?? -1;
}

/** A random source that returns the given values in turn (then repeats the last). */
export function randoms(...values: number[]): () => number {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)];
}

export function paths(issues: ConfigIssue[]): string[] {
  return issues.map((i) => i.path);
}
