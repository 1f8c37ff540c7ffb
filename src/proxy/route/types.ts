import type { HeaderMap } from '../../lib/headers';
import type { StreamInfo } from '../stream-info';
import type { RetryPolicy } from './retry-policy';
import type { MirrorPolicy } from './mirror-policy';

/** What route matching reads from a request. `path` is the :path with its query string. */
export interface RouteRequest {
  method: string;
  path: string;
  authority: string;
  scheme: string;
  headers: HeaderMap;
}

/** A decoded protobuf message kept as-is for a later consumer (retry policy, per-filter config…). */
export type RawMessage = { readonly [field: string]: unknown };

/** The route a request matched: everything the HTTP connection manager and router read. */
export interface RouteEntry {
  /** Route.name ("" when unnamed). */
  readonly name: string;
  readonly virtualHostName: string;
  readonly kind: 'cluster' | 'direct_response' | 'redirect';

  // --- cluster routes -------------------------------------------------------------------------
  /**
   * The upstream cluster for this request: `cluster`, a weighted pick (uses `random`, or the
   * weighted_clusters.header_name value when present), or the value of `cluster_header`.
   * null when the cluster cannot be determined (cluster_header missing/empty): answer
   * `clusterNotFoundResponseCode`. Always null for direct_response / redirect routes.
   */
  pickCluster(req: RouteRequest, random: number): string | null;
  /** 503 (default), 404 or 500: the status when the picked cluster does not exist. */
  readonly clusterNotFoundResponseCode: number;
  /** RouteAction.timeout in ms; 15000 by default; 0 means no timeout. */
  readonly timeoutMs: number;
  /** RouteAction.idle_timeout in ms (0 disables); undefined: use the connection manager's. */
  readonly idleTimeoutMs: number | undefined;
  /** RouteAction.max_stream_duration fields, in ms, when set. */
  readonly maxStreamDurationMs: number | undefined;
  readonly grpcTimeoutHeaderMaxMs: number | undefined;
  readonly grpcTimeoutHeaderOffsetMs: number | undefined;
  /** The :path to send upstream after prefix_rewrite / regex_rewrite (query kept); undefined: unchanged. */
  rewritePath(req: RouteRequest): string | undefined;
  /** host_rewrite_literal (the route's; see hostRewriteFor for weighted clusters). */
  readonly hostRewriteLiteral: string | undefined;
  /** Host rewrite for a picked cluster: the route's literal, else the weighted cluster's. */
  hostRewriteFor(cluster: string | null): string | undefined;
  readonly autoHostRewrite: boolean;
  /** True when hash_policy is configured (hashKey may return a value). */
  readonly hasHashPolicy: boolean;
  /** Hash for consistent-hash load balancers per hash_policy; undefined when no policy produced one. */
  hashKey(req: RouteRequest, info: StreamInfo): number | undefined;
  /** RouteAction.retry_policy, else the virtual host's retry_policy, compiled. */
  readonly retryPolicy: RetryPolicy | undefined;
  /** RouteAction.request_mirror_policies: shadow copies of the request. */
  readonly mirrorPolicies: readonly MirrorPolicy[];
  /** Route.typed_per_filter_config as decoded (filter name → decoded Any / FilterConfig). */
  readonly typedPerFilterConfig: RawMessage | undefined;
  /**
   * The most specific per-filter config for `filterName`: weighted cluster (when `cluster` is
   * given) > route > virtual host > route configuration; undefined when none.
   */
  perFilterConfig(filterName: string, cluster?: string | null): RawMessage | undefined;
  /** Route.metadata / Route.decorator as decoded (for tracing and filters). */
  readonly metadata: RawMessage | undefined;
  readonly decorator: RawMessage | undefined;
  /** VirtualHost.include_request_attempt_count / include_attempt_count_in_response. */
  readonly includeRequestAttemptCount: boolean;
  readonly includeAttemptCountInResponse: boolean;
  /** Whether an upgrade (lower-case type, e.g. "websocket") is allowed: the route's upgrade_configs, else hcmDefault. */
  upgradeAllowed(upgradeType: string, hcmDefault: boolean): boolean;

  // --- header mutation ------------------------------------------------------------------------
  /**
   * Applies request_headers_to_add/remove of the weighted cluster `cluster` (if any), then of the
   * route, virtual host and route configuration, in Envoy's order. Pseudo-headers are never touched.
   */
  applyRequestHeaders(headers: HeaderMap, info: StreamInfo, cluster?: string | null): void;
  /** Same for response_headers_to_add/remove. */
  applyResponseHeaders(headers: HeaderMap, info: StreamInfo, cluster?: string | null): void;

  // --- direct responses and redirects ---------------------------------------------------------
  /** For kind 'direct_response': the status and body (null when none). */
  readonly directResponse: { status: number; body: Buffer | null } | undefined;
  /**
   * For kind 'redirect': the status and Location. For kind 'direct_response' the location is the
   * one Envoy adds when the status is 201 or 3xx (scheme://host/path of the request).
   */
  redirect(req: RouteRequest): { status: number; location: string };
}

/** A compiled RouteConfiguration. Immutable; share it freely. */
export interface RouteTable {
  readonly name: string;
  /** The route for a request, or null when no virtual host / route matches. */
  match(req: RouteRequest, random: number): RouteEntry | null;
  /** Every cluster named by `cluster` or weighted_clusters (for validate_clusters). */
  readonly referencedClusters: ReadonlySet<string>;
  /** RouteConfiguration.validate_clusters as configured (undefined when unset). */
  readonly validateClusters: boolean | undefined;
}
