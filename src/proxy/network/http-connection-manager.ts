import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import type { StatsStore } from '../telemetry/stats';
import type { AccessLogSink, ClusterLookup, RouteMatcher } from '../http/contracts';
import { HcmStats, type HcmConfig } from '../http/hcm-config';
import { compileHttpFilters } from './http-filters';
import { compileHttp2Options, defaultHttp2Options } from '../codec/http2/options';
import { isObject, readArray, readBool, readEnum, readNumber, readObject, readString, type Decoded } from '../../lib/decoded-read';

/** envoy.filters.network.http_connection_manager: compiles the decoded config into an HcmConfig. */

export const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

const SUPPORTED = [
  'stat_prefix',
  'codec_type',
  'route_config',
  'rds',
  'http_filters',
  'access_log',
  'use_remote_address',
  'skip_xff_append',
  'generate_request_id',
  'preserve_external_request_id',
  'server_name',
  'server_header_transformation',
  'common_http_protocol_options',
  'http_protocol_options',
  'max_request_headers_kb',
  'stream_idle_timeout',
  'request_timeout',
  'request_headers_timeout',
  'drain_timeout',
  'delayed_close_timeout',
  'upgrade_configs',
  'http2_protocol_options',
];

const DEFAULT_SERVER_NAME = 'envoy';

export interface HcmDeps {
  stats: StatsStore;
  clusters: ClusterLookup;
  bufferLimitBytes: number;
  compileRoutes: (rc: Decoded, path: string, issues: ConfigIssue[]) => RouteMatcher | undefined;
  compileAccessLogs: (list: unknown[], path: string) => AccessLogSink[];
  /** xDS: the route provider for `rds` (absent without dynamic_resources, which rejects `rds`). */
  rdsRoutes?: RdsRoutesHook;
}

/** Looks up a filter's compiled per-route config for a matched route (HcmConfig.perRouteConfig). */
export type PerRouteLookup = HcmConfig['perRouteConfig'];
/** Compiles the typed_per_filter_configs of a RouteConfiguration against this manager's filters. */
export type PerRouteCompiler = (rc: Decoded, path: string, issues: ConfigIssue[]) => PerRouteLookup;
/** What `rds` gives a connection manager: routes and per-route filter configs that RDS swaps together. */
export interface RdsBinding {
  routes: RouteMatcher;
  perRouteConfig: PerRouteLookup;
}
export type RdsRoutesHook = (rds: Decoded, path: string, issues: ConfigIssue[], statPrefix: string, compilePerRoute: PerRouteCompiler) => RdsBinding | undefined;

export function compileHttpConnectionManager(cfg: Decoded, path: string, issues: ConfigIssue[], deps: HcmDeps): HcmConfig | undefined {
  rejectUnsupported(cfg, path, SUPPORTED, issues);
  const statPrefix = readString(cfg, 'stat_prefix', path, issues) ?? '';
  if (statPrefix === '') issues.push({ path: joinPath(path, 'stat_prefix'), message: 'stat_prefix is required' });
  const codecType = readEnum(cfg, 'codec_type', path, issues, ['AUTO', 'HTTP1', 'HTTP2'] as const, ['HTTP3']) ?? 'AUTO';
  const h2cfg = readObject(cfg, 'http2_protocol_options', path, issues);
  const http2 =
    h2cfg === undefined
      ? defaultHttp2Options(deps.bufferLimitBytes)
      : compileHttp2Options(h2cfg, joinPath(path, 'http2_protocol_options'), issues, deps.bufferLimitBytes);

  let routes: RouteMatcher | undefined;
  const rc = readObject(cfg, 'route_config', path, issues);
  const rds = readObject(cfg, 'rds', path, issues);
  if (rc !== undefined) routes = deps.compileRoutes(rc, joinPath(path, 'route_config'), issues);
  else if (rds === undefined) issues.push({ path: joinPath(path, 'route_config'), message: 'route_config or rds is required' });
  const filterList = readArray(cfg, 'http_filters', path, issues);
  const filters = compileHttpFilters(filterList, rc, joinPath(path, 'http_filters'), issues, {
    stats: deps.stats,
    statPrefix,
  });
  // xDS RDS: routes and per-route filter configs come from the route provider (the filter list is
  // compiled again only to compile each new RouteConfiguration's typed_per_filter_configs).
  let perRouteConfig: PerRouteLookup = filters.perRouteConfig;
  if (rds !== undefined && rc === undefined) {
    const rp = joinPath(path, 'rds');
    if (deps.rdsRoutes === undefined) issues.push({ path: rp, message: 'rds needs bootstrap dynamic_resources.ads_config (Weft takes RDS over ADS)' });
    else {
      // An RDS table is shared by every manager naming it, so (as in Envoy) a per-route config for a
      // filter this manager does not have is simply unused here, not an error.
      const compilePerRoute: PerRouteCompiler = (routeConfig, p, is) => {
        const own: ConfigIssue[] = [];
        const lookup = compileHttpFilters(filterList, routeConfig, p, own, { stats: deps.stats, statPrefix }).perRouteConfig;
        for (const i of own) if (!i.message.startsWith('no http filter named')) is.push(i);
        return lookup;
      };
      const binding = deps.rdsRoutes(rds, rp, issues, statPrefix, compilePerRoute);
      if (binding !== undefined) {
        routes = binding.routes;
        perRouteConfig = binding.perRouteConfig;
      }
    }
  }

  const common = readObject(cfg, 'common_http_protocol_options', path, issues) ?? {};
  const cp = joinPath(path, 'common_http_protocol_options');
  rejectUnsupported(common, cp, ['idle_timeout', 'max_headers_count', 'max_connection_duration', 'max_stream_duration', 'headers_with_underscores_action'], issues);
  const underscores = readEnum(common, 'headers_with_underscores_action', cp, issues, ['ALLOW', 'REJECT_REQUEST'] as const, ['DROP_HEADER']);
  const h1 = readObject(cfg, 'http_protocol_options', path, issues) ?? {};
  const h1p = joinPath(path, 'http_protocol_options');
  rejectUnsupported(h1, h1p, ['accept_http_10', 'default_host_for_http_10'], issues);

  let serverName: string | undefined = readString(cfg, 'server_name', path, issues) ?? DEFAULT_SERVER_NAME;
  const transform = readEnum(cfg, 'server_header_transformation', path, issues, ['OVERWRITE', 'PASS_THROUGH'] as const, ['APPEND_IF_ABSENT']);
  if (transform === 'PASS_THROUGH') serverName = undefined;

  const upgradeTypes = new Set<string>();
  readArray(cfg, 'upgrade_configs', path, issues).forEach((u, i) => {
    const up = joinPath(joinPath(path, 'upgrade_configs'), i);
    if (!isObject(u)) return;
    rejectUnsupported(u, up, ['upgrade_type', 'enabled'], issues);
    const type = readString(u, 'upgrade_type', up, issues);
    if (type !== undefined && readBool(u, 'enabled', up, issues) !== false) upgradeTypes.add(type.toLowerCase());
  });

  const headersKb = readNumber(cfg, 'max_request_headers_kb', path, issues, { min: 1, max: 8192, integer: true }) ?? 60;
  const config: HcmConfig = {
    statPrefix,
    routes: routes ?? { match: () => null },
    clusters: deps.clusters,
    accessLogs: deps.compileAccessLogs(readArray(cfg, 'access_log', path, issues), joinPath(path, 'access_log')),
    stats: new HcmStats(deps.stats, statPrefix),
    useRemoteAddress: readBool(cfg, 'use_remote_address', path, issues) ?? false,
    skipXffAppend: readBool(cfg, 'skip_xff_append', path, issues) ?? false,
    generateRequestId: readBool(cfg, 'generate_request_id', path, issues) ?? true,
    preserveExternalRequestId: readBool(cfg, 'preserve_external_request_id', path, issues) ?? false,
    serverName,
    maxRequestHeaderBytes: headersKb * 1024,
    maxHeadersCount: readNumber(common, 'max_headers_count', cp, issues, { min: 1, integer: true }) ?? 100,
    idleTimeoutMs: readNumber(common, 'idle_timeout', cp, issues, { min: 0 }) ?? 3_600_000,
    streamIdleTimeoutMs: readNumber(cfg, 'stream_idle_timeout', path, issues, { min: 0 }) ?? 300_000,
    requestTimeoutMs: readNumber(cfg, 'request_timeout', path, issues, { min: 0 }) ?? 0,
    requestHeadersTimeoutMs: readNumber(cfg, 'request_headers_timeout', path, issues, { min: 0 }) ?? 0,
    maxConnectionDurationMs: readNumber(common, 'max_connection_duration', cp, issues, { min: 0 }) ?? 0,
    drainTimeoutMs: readNumber(cfg, 'drain_timeout', path, issues, { min: 0 }) ?? 5000,
    delayedCloseTimeoutMs: readNumber(cfg, 'delayed_close_timeout', path, issues, { min: 0 }) ?? 1000,
    upgradeTypes,
    bufferLimitBytes: deps.bufferLimitBytes,
    rejectHeadersWithUnderscores: underscores === 'REJECT_REQUEST',
    httpFilters: filters.factories,
    perRouteConfig,
    maxStreamDurationMs: readNumber(common, 'max_stream_duration', cp, issues, { min: 0 }) ?? 0,
    acceptHttp10: readBool(h1, 'accept_http_10', h1p, issues) ?? false,
    defaultHostForHttp10: readString(h1, 'default_host_for_http_10', h1p, issues) ?? '',
    codecType,
    http2,
  };
  if (config.requestTimeoutMs > 0) {
    issues.push({ path: joinPath(path, 'request_timeout'), message: 'field is not implemented by Weft yet' });
  }
  return config;
}

