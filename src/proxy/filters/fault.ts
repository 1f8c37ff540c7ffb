/**
 * envoy.filters.http.fault (envoy.extensions.filters.http.fault.v3.HTTPFault).
 *
 * As Envoy's FaultFilter: settings come from the most specific typed_per_filter_config (an HTTPFault)
 * or else the filter's own; the request must match upstream_cluster, downstream_nodes
 * (x-envoy-downstream-service-node) and headers; then a delay is injected (flag DI, the request is
 * held with StopIteration and resumed by a timer), and an abort is tried after the delay or, without
 * one, at once (flag FI, local reply "fault filter abort", details "fault_filter_abort"). Header
 * controls: x-envoy-fault-delay-request[-percentage], x-envoy-fault-abort-request[-percentage],
 * x-envoy-fault-abort-grpc-request; a header percentage is capped by the configured one.
 * max_active_faults bounds the faults in progress (gauge active_faults, counter faults_overflow).
 *
 * Stats: http.<hcm prefix>.fault.{delays_injected, aborts_injected, response_rl_injected,
 * faults_overflow} and the gauge active_faults; per downstream cluster (x-envoy-downstream-service-cluster)
 * http.<prefix>.fault.<cluster>.{delays_injected, aborts_injected} unless disable_downstream_cluster_stats.
 *
 * Runtime keys (*_runtime) are accepted: Weft has no runtime layer, so configured values apply, as in
 * Envoy with no runtime values set. response_rate_limit and filter_metadata are not implemented.
 */
import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { isObject, readArray, readBool, readNumber, readObject, readString, type Decoded } from '../../lib/decoded-read';
import type { HeaderMap } from '../../lib/headers';
import { ResponseFlag } from '../stream-info';
import { compileHeaderMatcher, type HeaderMatcher } from '../route/request-matchers';
import type { Counter, Gauge, StatsStore } from '../telemetry/stats';
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
  defaultRandom,
  fractionHit,
  parseUnsigned,
  readFraction,
  UINT32_MAX,
  UINT64_SAFE_MAX,
  type Fraction,
  type RandomSource,
} from './common';

export const FAULT_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';

export const FAULT_HEADERS = {
  abortRequest: 'x-envoy-fault-abort-request',
  abortRequestPercentage: 'x-envoy-fault-abort-request-percentage',
  abortGrpcRequest: 'x-envoy-fault-abort-grpc-request',
  delayRequest: 'x-envoy-fault-delay-request',
  delayRequestPercentage: 'x-envoy-fault-delay-request-percentage',
  downstreamServiceNode: 'x-envoy-downstream-service-node',
  downstreamServiceCluster: 'x-envoy-downstream-service-cluster',
} as const;

/** The "fault filter abort" local reply's %RESPONSE_CODE_DETAILS%. */
export const FAULT_ABORT_DETAILS = 'fault_filter_abort';

interface DelaySettings {
  /** Fixed delay in ms, or null for header_delay. */
  readonly fixedMs: number | null;
  readonly percentage: Fraction;
}

interface AbortSettings {
  /** Fixed HTTP status, or null. */
  readonly httpStatus: number | null;
  /** Fixed gRPC status, or null. */
  readonly grpcStatus: number | null;
  /** header_abort: statuses come from the request headers. */
  readonly fromHeaders: boolean;
  readonly percentage: Fraction;
}

/** Compiled HTTPFault (the filter's config and the per-route override have the same shape). */
export class FaultSettings {
  constructor(
    readonly delay: DelaySettings | null,
    readonly abort: AbortSettings | null,
    readonly upstreamCluster: string,
    readonly headers: readonly HeaderMatcher[],
    readonly downstreamNodes: ReadonlySet<string>,
    readonly maxActiveFaults: number,
    readonly disableDownstreamClusterStats: boolean,
  ) {}
}

const HTTP_FAULT_FIELDS = [
  'delay',
  'abort',
  'upstream_cluster',
  'headers',
  'downstream_nodes',
  'max_active_faults',
  'delay_percent_runtime',
  'abort_percent_runtime',
  'delay_duration_runtime',
  'abort_http_status_runtime',
  'max_active_faults_runtime',
  'response_rate_limit_percent_runtime',
  'abort_grpc_status_runtime',
  'disable_downstream_cluster_stats',
];

function compileDelay(d: Decoded, p: string, issues: ConfigIssue[]): DelaySettings | undefined {
  rejectUnsupported(d, p, ['fixed_delay', 'header_delay', 'percentage'], issues);
  const percentage = readFraction(d, 'percentage', p, issues);
  const hasFixed = d.fixed_delay !== undefined;
  const hasHeader = d.header_delay !== undefined;
  if (hasFixed && hasHeader) {
    issues.push({ path: p, message: 'only one of fixed_delay, header_delay may be set' });
    return undefined;
  }
  if (hasHeader) {
    const h = readObject(d, 'header_delay', p, issues);
    if (h) rejectUnsupported(h, joinPath(p, 'header_delay'), [], issues);
    return { fixedMs: null, percentage };
  }
  if (!hasFixed) {
    issues.push({ path: p, message: 'one of fixed_delay, header_delay is required' });
    return undefined;
  }
  const ms = readNumber(d, 'fixed_delay', p, issues, { gt: 0 });
  if (ms === undefined) return undefined;
  return { fixedMs: Math.floor(ms), percentage };
}

function compileAbort(a: Decoded, p: string, issues: ConfigIssue[]): AbortSettings | undefined {
  rejectUnsupported(a, p, ['http_status', 'grpc_status', 'header_abort', 'percentage'], issues);
  const percentage = readFraction(a, 'percentage', p, issues);
  const set = ['http_status', 'grpc_status', 'header_abort'].filter((k) => a[k] !== undefined);
  if (set.length > 1) {
    issues.push({ path: p, message: `only one of ${set.join(', ')} may be set` });
    return undefined;
  }
  switch (set[0]) {
    case 'http_status': {
      const s = readNumber(a, 'http_status', p, issues, { min: 200, max: 599, integer: true });
      return s === undefined ? undefined : { httpStatus: s, grpcStatus: null, fromHeaders: false, percentage };
    }
    case 'grpc_status': {
      const s = readNumber(a, 'grpc_status', p, issues, { min: 0, max: UINT32_MAX, integer: true });
      return s === undefined ? undefined : { httpStatus: null, grpcStatus: s, fromHeaders: false, percentage };
    }
    case 'header_abort': {
      const h = readObject(a, 'header_abort', p, issues);
      if (h) rejectUnsupported(h, joinPath(p, 'header_abort'), [], issues);
      return { httpStatus: null, grpcStatus: null, fromHeaders: true, percentage };
    }
    default:
      issues.push({ path: p, message: 'one of http_status, grpc_status, header_abort is required' });
      return undefined;
  }
}

/** Compiles an HTTPFault message; undefined when it has problems (all reported). */
export function compileFaultSettings(config: Decoded, path: string, issues: ConfigIssue[]): FaultSettings | undefined {
  const before = issues.length;
  rejectUnsupported(config, path, HTTP_FAULT_FIELDS, issues);
  for (const k of HTTP_FAULT_FIELDS) if (k.endsWith('_runtime')) readString(config, k, path, issues);
  const d = readObject(config, 'delay', path, issues);
  const delay = d ? compileDelay(d, joinPath(path, 'delay'), issues) : undefined;
  const a = readObject(config, 'abort', path, issues);
  const abort = a ? compileAbort(a, joinPath(path, 'abort'), issues) : undefined;
  const upstreamCluster = readString(config, 'upstream_cluster', path, issues) ?? '';
  const headers: HeaderMatcher[] = [];
  const hl = readArray(config, 'headers', path, issues);
  for (let i = 0; i < hl.length; i++) {
    const hp = joinPath(joinPath(path, 'headers'), i);
    const h = hl[i];
    if (!isObject(h)) {
      issues.push({ path: hp, message: 'expected a message' });
      continue;
    }
    const m = compileHeaderMatcher(h, hp, issues);
    if (m) headers.push(m);
  }
  const nodes = new Set<string>();
  const nl = readArray(config, 'downstream_nodes', path, issues);
  for (let i = 0; i < nl.length; i++) {
    const n = nl[i];
    if (typeof n === 'string') nodes.add(n);
    else issues.push({ path: joinPath(joinPath(path, 'downstream_nodes'), i), message: 'expected a string' });
  }
  const maxActive = readNumber(config, 'max_active_faults', path, issues, { min: 0, integer: true });
  const disableDsStats = readBool(config, 'disable_downstream_cluster_stats', path, issues) ?? false;
  if (config.response_rate_limit !== undefined) {
    issues.push({ path: joinPath(path, 'response_rate_limit'), message: 'field is not implemented by Weft yet' });
  }
  if (issues.length !== before) return undefined;
  return new FaultSettings(
    delay ?? null,
    abort ?? null,
    upstreamCluster,
    headers,
    nodes,
    maxActive ?? Number.POSITIVE_INFINITY,
    disableDsStats,
  );
}

interface FaultStats {
  readonly store: StatsStore;
  /** "http.<prefix>.fault." */
  readonly prefix: string;
  readonly delaysInjected: Counter;
  readonly abortsInjected: Counter;
  readonly faultsOverflow: Counter;
  readonly responseRlInjected: Counter;
  readonly activeFaults: Gauge;
}

interface FaultShared {
  readonly settings: FaultSettings;
  readonly stats: FaultStats;
  readonly random: RandomSource;
}

class FaultFilter implements HttpFilter {
  private settings: FaultSettings;
  private faultActive = false;
  private delayPending = false;
  private destroyed = false;
  private downstreamCluster = '';

  constructor(
    private readonly shared: FaultShared,
    private readonly cb: FilterCallbacks,
  ) {
    this.settings = shared.settings;
  }

  decodeHeaders(headers: HeaderMap): FilterStatus {
    const s = this.cb.perRouteConfig<FaultSettings>() ?? this.shared.settings;
    this.settings = s;
    if (!this.matchesUpstreamCluster(s)) return FilterStatus.Continue;
    if (s.downstreamNodes.size > 0) {
      const node = headers.get(FAULT_HEADERS.downstreamServiceNode);
      if (node === undefined || !s.downstreamNodes.has(node)) return FilterStatus.Continue;
    }
    const req = this.cb.request;
    for (let i = 0; i < s.headers.length; i++) if (!s.headers[i].matches(req)) return FilterStatus.Continue;
    const dc = headers.get(FAULT_HEADERS.downstreamServiceCluster);
    if (dc !== undefined) this.downstreamCluster = dc;

    const delayMs = this.delayDuration(headers);
    if (delayMs !== undefined && this.tryIncActiveFaults()) {
      this.delayPending = true;
      this.cb.setTimeout(delayMs, () => this.postDelay());
      this.record('delays_injected', this.shared.stats.delaysInjected);
      this.cb.info.addFlag(ResponseFlag.DelayInjected);
      return FilterStatus.StopIteration;
    }
    if (this.maybeAbort(headers)) return FilterStatus.StopIteration;
    return FilterStatus.Continue;
  }

  decodeData(): FilterStatus {
    // Hold the body while the delay runs (Envoy: StopIterationAndWatermark).
    return this.delayPending ? FilterStatus.StopIteration : FilterStatus.Continue;
  }

  onDestroy(): void {
    this.destroyed = true;
    this.delayPending = false;
    if (this.faultActive) {
      this.faultActive = false;
      this.shared.stats.activeFaults.dec();
    }
  }

  private matchesUpstreamCluster(s: FaultSettings): boolean {
    if (s.upstreamCluster === '') return true;
    const route = this.cb.route();
    if (route === null || route.kind !== 'cluster') return false;
    return this.cb.upstreamCluster() === s.upstreamCluster;
  }

  private delayDuration(headers: HeaderMap): number | undefined {
    const d = this.settings.delay;
    if (d === null) return undefined;
    let pct = d.percentage;
    let ms: number | undefined;
    if (d.fixedMs !== null) {
      ms = d.fixedMs;
    } else {
      pct = headerPercentage(headers, FAULT_HEADERS.delayRequestPercentage, pct);
    }
    if (!fractionHit(pct, this.shared.random)) return undefined;
    if (d.fixedMs === null) ms = parseUnsigned(headers.get(FAULT_HEADERS.delayRequest), UINT64_SAFE_MAX);
    return ms !== undefined && ms > 0 ? ms : undefined;
  }

  /** Envoy's abortStatus: [http status, grpc status] or undefined when no abort applies. */
  private abortStatus(headers: HeaderMap): [number, number | undefined] | undefined {
    const a = this.settings.abort;
    if (a === null) return undefined;
    const pct = a.fromHeaders ? headerPercentage(headers, FAULT_HEADERS.abortRequestPercentage, a.percentage) : a.percentage;
    if (!fractionHit(pct, this.shared.random)) return undefined;
    let http: number | undefined;
    let grpc: number | undefined;
    if (a.fromHeaders) {
      const code = parseUnsigned(headers.get(FAULT_HEADERS.abortRequest), UINT64_SAFE_MAX);
      if (code !== undefined && code >= 200 && code < 600) http = code;
      else grpc = parseUnsigned(headers.get(FAULT_HEADERS.abortGrpcRequest), UINT64_SAFE_MAX);
    } else if (a.httpStatus !== null) {
      http = a.httpStatus;
    } else if (a.grpcStatus !== null) {
      grpc = a.grpcStatus;
    }
    if (http !== undefined) return [http, undefined];
    // A gRPC abort answers HTTP 200 with the grpc-status.
    if (grpc !== undefined) return [200, grpc];
    return undefined;
  }

  private maybeAbort(headers: HeaderMap): boolean {
    const st = this.abortStatus(headers);
    if (st === undefined || !this.tryIncActiveFaults()) return false;
    this.abortWith(st[0], st[1]);
    return true;
  }

  private abortWith(http: number, grpc: number | undefined): void {
    this.record('aborts_injected', this.shared.stats.abortsInjected);
    this.cb.sendLocalReply(http, 'fault filter abort', {
      details: FAULT_ABORT_DETAILS,
      flag: ResponseFlag.FaultInjected,
      grpcStatus: grpc,
    });
  }

  private postDelay(): void {
    if (this.destroyed || !this.delayPending) return;
    this.delayPending = false;
    const st = this.abortStatus(this.cb.request.headers);
    if (st !== undefined) {
      this.abortWith(st[0], st[1]);
      return;
    }
    // The delay is over and no other fault is active on this request.
    if (this.faultActive) {
      this.faultActive = false;
      this.shared.stats.activeFaults.dec();
    }
    this.cb.continueDecoding();
  }

  private tryIncActiveFaults(): boolean {
    if (this.faultActive) return true;
    const stats = this.shared.stats;
    if (stats.activeFaults.value >= this.settings.maxActiveFaults) {
      stats.faultsOverflow.inc();
      return false;
    }
    stats.activeFaults.inc();
    this.faultActive = true;
    return true;
  }

  private record(name: string, general: Counter): void {
    if (this.downstreamCluster !== '' && !this.settings.disableDownstreamClusterStats) {
      const st = this.shared.stats;
      st.store.counter(`${st.prefix}${this.downstreamCluster}.${name}`).inc();
    }
    general.inc();
  }
}

/** A header percentage (uint32) capped by the configured numerator, with its denominator. */
function headerPercentage(headers: HeaderMap, name: string, configured: Fraction): Fraction {
  const n = parseUnsigned(headers.get(name), UINT32_MAX);
  if (n === undefined) return configured;
  return { numerator: Math.min(n, configured.numerator), denominator: configured.denominator };
}

export interface FaultTypeOptions {
  random?: RandomSource;
}

/** The fault filter type; tests inject the random source. */
export function createFaultFilterType(opts: FaultTypeOptions = {}): HttpFilterType {
  const random = opts.random ?? defaultRandom;
  return {
    typeUrl: FAULT_TYPE_URL,
    compile(config: Decoded, name: string, path: string, issues: ConfigIssue[], ctx: FilterCompileContext): HttpFilterFactory | undefined {
      const settings = compileFaultSettings(config, path, issues);
      if (!settings) return undefined;
      const prefix = `http.${ctx.statPrefix}.fault.`;
      const s = ctx.stats;
      const shared: FaultShared = {
        settings,
        random,
        stats: {
          store: s,
          prefix,
          delaysInjected: s.counter(prefix + 'delays_injected'),
          abortsInjected: s.counter(prefix + 'aborts_injected'),
          faultsOverflow: s.counter(prefix + 'faults_overflow'),
          responseRlInjected: s.counter(prefix + 'response_rl_injected'),
          activeFaults: s.gauge(prefix + 'active_faults'),
        },
      };
      return { name, create: (cb) => new FaultFilter(shared, cb) };
    },
    compilePerRoute(config: Decoded, path: string, issues: ConfigIssue[]): FaultSettings | undefined {
      if (!checkPerRouteType(config, path, issues, [FAULT_TYPE_URL])) return undefined;
      return compileFaultSettings(config, path, issues);
    },
  };
}

export const faultFilterType: HttpFilterType = createFaultFilterType();
