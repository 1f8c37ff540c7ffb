import type { ConfigIssue } from '../../lib/config-error';
import type { Decoded } from '../../lib/decoded-read';
import type { HeaderMap } from '../../lib/headers';
import type { ResponseFlag, StreamInfo } from '../stream-info';
import type { StatsStore } from '../telemetry/stats';
import type { MatchedRoute, RouteRequest } from './contracts';

/**
 * HTTP stream filters, Envoy style: each configured filter gets one instance per request, runs in
 * configured order on the request (decode) and in reverse order on the response (encode), and may
 * continue, stop (and resume later), send a local reply, or ask for the route to be picked again.
 * The router is not a filter object here: it is the connection manager's terminal step, reached
 * when every decoder filter has continued.
 */

export const enum FilterStatus {
  /** Go on to the next filter. */
  Continue = 0,
  /** Stop here until the filter calls continueDecoding()/continueEncoding() (or sends a local reply). */
  StopIteration = 1,
}

export interface LocalReplyOptions {
  /** Envoy's %RESPONSE_CODE_DETAILS%, e.g. "fault_filter_abort". */
  details: string;
  flag?: ResponseFlag;
  /** Extra response headers (lower-case names). */
  headers?: ReadonlyArray<readonly [string, string]>;
  /** For gRPC requests: the grpc-status to answer with (a later issue renders it as trailers-only). */
  grpcStatus?: number;
}

/** What a filter instance can see and do on its stream. */
export interface FilterCallbacks {
  readonly info: StreamInfo;
  /** The request as routing sees it; headers may be changed by decoder filters. */
  readonly request: RouteRequest;
  /** The current route (null: no route matched). */
  route(): MatchedRoute | null;
  /** Re-runs route matching before the router (after a filter changed headers or the path). */
  clearRouteCache(): void;
  /** The cluster the router will send this request to (the weighted pick is made once), or null. */
  upstreamCluster(): string | null;
  /**
   * This filter's per-route config for the current route (typed_per_filter_config, most specific
   * level wins), compiled by the filter's compilePerRoute; undefined when none.
   */
  perRouteConfig<T>(): T | undefined;
  /** Answers the request locally; later filters and the router do not run. */
  sendLocalReply(status: number, body: string, opts: LocalReplyOptions): void;
  /** Resumes the decode chain after StopIteration. */
  continueDecoding(): void;
  /** Resumes the encode chain after StopIteration. */
  continueEncoding(): void;
  /** A timer cancelled automatically when the stream ends. */
  setTimeout(ms: number, fn: () => void): void;
}

export interface HttpFilter {
  decodeHeaders?(headers: HeaderMap, endStream: boolean): FilterStatus;
  /** Request body chunks; only called for filters that define it. */
  decodeData?(chunk: Buffer, endStream: boolean): FilterStatus;
  encodeHeaders?(status: number, headers: HeaderMap, endStream: boolean): FilterStatus;
  /** The stream ended (completed or reset): release anything held. */
  onDestroy?(): void;
}

/** A compiled filter config: creates one filter instance per request. */
export interface HttpFilterFactory {
  /** The configured name (HttpFilter.name), used to find per-route config. */
  readonly name: string;
  create(callbacks: FilterCallbacks): HttpFilter;
}

export interface FilterCompileContext {
  stats: StatsStore;
  /** The connection manager's stat_prefix: filter stats are http.<prefix>.<filter>.* in Envoy. */
  statPrefix: string;
}

/** One filter type, registered under its Envoy type URL. */
export interface HttpFilterType {
  readonly typeUrl: string;
  compile(config: Decoded, name: string, path: string, issues: ConfigIssue[], ctx: FilterCompileContext): HttpFilterFactory | undefined;
  /** Compiles typed_per_filter_config for this filter; absent when the filter has no per-route form. */
  compilePerRoute?(config: Decoded, path: string, issues: ConfigIssue[]): unknown;
}
