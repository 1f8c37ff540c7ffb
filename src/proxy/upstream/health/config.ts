/**
 * Compiles `Cluster.health_checks[]` (envoy.config.core.v3.HealthCheck, decoded form) into a
 * HealthCheckConfig. Defaults are Envoy's (health_checker_base_impl.cc / http / tcp / grpc).
 */
import { ConfigIssue, joinPath, rejectUnsupported } from '../../../lib/config-error';
import { Decoded, isObject, notImplemented, readArray, readBool, readEnum, readNumber, readObject, readString } from '../../../lib/decoded-read';
import { compileStringMatcher } from '../../../lib/matchers';
import { parsePayload, parsePayloads } from './payload';

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE' | 'OPTIONS' | 'TRACE' | 'PATCH';
const METHODS: readonly HttpMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'PATCH'];
const BODYLESS: readonly HttpMethod[] = ['GET', 'HEAD', 'DELETE', 'TRACE'];

/** [start, end) ranges of HTTP status codes. */
export type StatusRanges = ReadonlyArray<readonly [number, number]>;

export interface HttpCheckSpec {
  kind: 'http';
  /** `host` header; '' = the cluster name (Envoy's default when the endpoint has no HC hostname). */
  host: string;
  path: string;
  method: HttpMethod;
  send: Buffer | undefined;
  receive: Buffer[];
  responseBufferSize: number;
  /** Extra request headers after removals (lower-case names), in order. */
  headers: ReadonlyArray<readonly [string, string]>;
  /** Default headers the config removed (e.g. user-agent). */
  removeHeaders: readonly string[];
  expected: StatusRanges;
  retriable: StatusRanges;
  serviceNameMatcher: ((v: string) => boolean) | undefined;
}

export interface TcpCheckSpec {
  kind: 'tcp';
  send: Buffer | undefined;
  receive: Buffer[];
}

export interface GrpcCheckSpec {
  kind: 'grpc';
  serviceName: string;
  /** '' = the same default as the HTTP host header. */
  authority: string;
  metadata: ReadonlyArray<readonly [string, string]>;
}

export type CheckSpec = HttpCheckSpec | TcpCheckSpec | GrpcCheckSpec;

export interface HealthCheckConfig {
  timeoutMs: number;
  intervalMs: number;
  initialJitterMs: number;
  intervalJitterMs: number;
  intervalJitterPercent: number;
  unhealthyThreshold: number;
  healthyThreshold: number;
  reuseConnection: boolean;
  noTrafficIntervalMs: number;
  noTrafficHealthyIntervalMs: number;
  unhealthyIntervalMs: number;
  unhealthyEdgeIntervalMs: number;
  healthyEdgeIntervalMs: number;
  /** Port to check instead of the host's own; undefined = the host's port. */
  altPort: number | undefined;
  alwaysLogFailures: boolean;
  alwaysLogSuccess: boolean;
  check: CheckSpec;
}

const HC_FIELDS = [
  'timeout',
  'interval',
  'initial_jitter',
  'interval_jitter',
  'interval_jitter_percent',
  'unhealthy_threshold',
  'healthy_threshold',
  'alt_port',
  'reuse_connection',
  'http_health_check',
  'tcp_health_check',
  'grpc_health_check',
  'no_traffic_interval',
  'no_traffic_healthy_interval',
  'unhealthy_interval',
  'unhealthy_edge_interval',
  'healthy_edge_interval',
  'always_log_health_check_failures',
  'always_log_health_check_success',
];
/** Known HealthCheck fields Weft does not implement (reported by path, never ignored). */
const HC_NOT_IMPLEMENTED = ['custom_health_check', 'event_log_path', 'event_logger', 'event_service', 'tls_options', 'transport_socket_match_criteria'];

/** Compiles `health_checks`; Envoy runs one health checker per cluster, so more than one is an issue. */
export function parseHealthChecks(c: Decoded, path: string, issues: ConfigIssue[]): HealthCheckConfig[] {
  const list = readArray(c, 'health_checks', path, issues);
  const lp = joinPath(path, 'health_checks');
  if (list.length > 1) issues.push({ path: lp, message: 'only one health check per cluster is supported' });
  const out: HealthCheckConfig[] = [];
  list.forEach((hc, i) => {
    const r = parseHealthCheck(hc, joinPath(lp, i), issues);
    if (r) out.push(r);
  });
  return out;
}

export function parseHealthCheck(v: unknown, path: string, issues: ConfigIssue[]): HealthCheckConfig | undefined {
  const start = issues.length;
  if (!isObject(v)) {
    issues.push({ path, message: 'expected a HealthCheck' });
    return undefined;
  }
  notImplemented(v, HC_NOT_IMPLEMENTED, path, issues);
  const known = new Set([...HC_FIELDS, ...HC_NOT_IMPLEMENTED]);
  rejectUnsupported(v, path, [...known], issues);

  const required = (f: string): number | undefined => {
    if (v[f] === undefined) {
      issues.push({ path: joinPath(path, f), message: `${f} is required` });
      return undefined;
    }
    return readNumber(v, f, path, issues, { gt: 0 });
  };
  const timeoutMs = required('timeout') ?? 1;
  const intervalMs = required('interval') ?? 1;
  const thr = (f: string): number => {
    if (v[f] === undefined) {
      issues.push({ path: joinPath(path, f), message: `${f} is required` });
      return 1;
    }
    return readNumber(v, f, path, issues, { min: 0, max: 0xffffffff, integer: true }) ?? 1;
  };
  const unhealthyThreshold = thr('unhealthy_threshold');
  const healthyThreshold = thr('healthy_threshold');
  const optMs = (f: string, dflt: number, positive = true): number =>
    readNumber(v, f, path, issues, positive ? { gt: 0 } : { min: 0 }) ?? dflt;
  const noTrafficIntervalMs = optMs('no_traffic_interval', 60000);
  const unhealthyIntervalMs = optMs('unhealthy_interval', intervalMs);
  const altPort = readNumber(v, 'alt_port', path, issues, { min: 0, max: 65535, integer: true });

  const set = ['http_health_check', 'tcp_health_check', 'grpc_health_check', 'custom_health_check'].filter((f) => v[f] !== undefined);
  let check: CheckSpec | undefined;
  if (set.length === 0) issues.push({ path, message: 'one of http_health_check, tcp_health_check, grpc_health_check is required' });
  else if (set.length > 1) issues.push({ path, message: `only one of ${set.join(', ')} may be set` });
  else if (set[0] === 'http_health_check') check = parseHttp(v['http_health_check'], joinPath(path, 'http_health_check'), issues);
  else if (set[0] === 'tcp_health_check') check = parseTcp(v['tcp_health_check'], joinPath(path, 'tcp_health_check'), issues);
  else if (set[0] === 'grpc_health_check') check = parseGrpc(v['grpc_health_check'], joinPath(path, 'grpc_health_check'), issues);

  const cfg: HealthCheckConfig = {
    timeoutMs,
    intervalMs,
    initialJitterMs: optMs('initial_jitter', 0, false),
    intervalJitterMs: optMs('interval_jitter', 0, false),
    intervalJitterPercent: readNumber(v, 'interval_jitter_percent', path, issues, { min: 0, max: 0xffffffff, integer: true }) ?? 0,
    unhealthyThreshold,
    healthyThreshold,
    reuseConnection: readBool(v, 'reuse_connection', path, issues) ?? true,
    noTrafficIntervalMs,
    noTrafficHealthyIntervalMs: optMs('no_traffic_healthy_interval', noTrafficIntervalMs),
    unhealthyIntervalMs,
    unhealthyEdgeIntervalMs: optMs('unhealthy_edge_interval', unhealthyIntervalMs),
    healthyEdgeIntervalMs: optMs('healthy_edge_interval', intervalMs),
    altPort: altPort ? altPort : undefined,
    alwaysLogFailures: readBool(v, 'always_log_health_check_failures', path, issues) ?? false,
    alwaysLogSuccess: readBool(v, 'always_log_health_check_success', path, issues) ?? false,
    check: check ?? { kind: 'tcp', send: undefined, receive: [] },
  };
  return issues.length > start ? undefined : cfg;
}

function parseRanges(o: Decoded, field: string, path: string, issues: ConfigIssue[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  readArray(o, field, path, issues).forEach((r, i) => {
    const rp = joinPath(joinPath(path, field), i);
    if (!isObject(r)) {
      issues.push({ path: rp, message: 'expected an Int64Range' });
      return;
    }
    rejectUnsupported(r, rp, ['start', 'end'], issues);
    const s = readNumber(r, 'start', rp, issues, { integer: true }) ?? 0;
    const e = readNumber(r, 'end', rp, issues, { integer: true }) ?? 0;
    if (s >= e) issues.push({ path: rp, message: `invalid status range: expecting start < end, but found start=${s} and end=${e}` });
    else if (s < 100) issues.push({ path: rp, message: `invalid status range: expecting start >= 100, but found start=${s}` });
    else if (e > 600) issues.push({ path: rp, message: `invalid status range: expecting end <= 600, but found end=${e}` });
    else out.push([s, e]);
  });
  return out;
}

const HEADER_NAME_RE = /^[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
const APPEND_ACTIONS = ['APPEND_IF_EXISTS_OR_ADD', 'ADD_IF_ABSENT', 'OVERWRITE_IF_EXISTS_OR_ADD', 'OVERWRITE_IF_EXISTS'] as const;
export type AppendAction = (typeof APPEND_ACTIONS)[number];

/** Static HeaderValueOptions (values with %-formatting are not implemented for health checks). */
export function parseHeaderOptions(
  o: Decoded,
  field: string,
  path: string,
  issues: ConfigIssue[],
): Array<{ key: string; value: string; action: AppendAction }> {
  const out: Array<{ key: string; value: string; action: AppendAction }> = [];
  readArray(o, field, path, issues).forEach((opt, i) => {
    const p = joinPath(joinPath(path, field), i);
    if (!isObject(opt)) {
      issues.push({ path: p, message: 'expected a HeaderValueOption' });
      return;
    }
    rejectUnsupported(opt, p, ['header', 'append', 'append_action'], issues);
    const hv = readObject(opt, 'header', p, issues);
    if (!hv) {
      if (opt['header'] === undefined) issues.push({ path: joinPath(p, 'header'), message: 'header is required' });
      return;
    }
    const hp = joinPath(p, 'header');
    rejectUnsupported(hv, hp, ['key', 'value', 'raw_value'], issues);
    const key = (readString(hv, 'key', hp, issues) ?? '').toLowerCase();
    if (!HEADER_NAME_RE.test(key) || key === 'host') {
      issues.push({ path: joinPath(hp, 'key'), message: 'a valid header name (not host or a pseudo-header) is required' });
      return;
    }
    let value = readString(hv, 'value', hp, issues) ?? '';
    const raw = hv['raw_value'];
    if (Buffer.isBuffer(raw)) value = raw.toString('latin1');
    if (value.includes('%')) {
      issues.push({ path: joinPath(hp, 'value'), message: 'header value formatting (%...%) is not implemented by Weft for health checks' });
      return;
    }
    if (opt['append'] !== undefined && opt['append_action'] !== undefined) {
      issues.push({ path: p, message: 'only one of append, append_action may be set' });
      return;
    }
    const append = readBool(opt, 'append', p, issues);
    const action: AppendAction =
      readEnum(opt, 'append_action', p, issues, APPEND_ACTIONS) ?? (append === false ? 'OVERWRITE_IF_EXISTS_OR_ADD' : 'APPEND_IF_EXISTS_OR_ADD');
    out.push({ key, value, action });
  });
  return out;
}

/** Applies header options to a base list (removals already done); returns the final list. */
export function applyHeaderOptions(
  base: Array<[string, string]>,
  opts: ReadonlyArray<{ key: string; value: string; action: AppendAction }>,
): Array<[string, string]> {
  const out = base.slice();
  for (const o of opts) {
    const has = out.some(([k]) => k === o.key);
    switch (o.action) {
      case 'APPEND_IF_EXISTS_OR_ADD':
        out.push([o.key, o.value]);
        break;
      case 'ADD_IF_ABSENT':
        if (!has) out.push([o.key, o.value]);
        break;
      case 'OVERWRITE_IF_EXISTS':
      case 'OVERWRITE_IF_EXISTS_OR_ADD':
        if (has || o.action === 'OVERWRITE_IF_EXISTS_OR_ADD') {
          for (let i = out.length - 1; i >= 0; i--) if (out[i][0] === o.key) out.splice(i, 1);
          out.push([o.key, o.value]);
        }
        break;
    }
  }
  return out;
}

function parseHttp(v: unknown, path: string, issues: ConfigIssue[]): HttpCheckSpec | undefined {
  if (!isObject(v)) {
    issues.push({ path, message: 'expected an HttpHealthCheck' });
    return undefined;
  }
  rejectUnsupported(
    v,
    path,
    [
      'host',
      'path',
      'send',
      'receive',
      'response_buffer_size',
      'request_headers_to_add',
      'request_headers_to_remove',
      'expected_statuses',
      'retriable_statuses',
      'codec_client_type',
      'service_name_matcher',
      'method',
    ],
    issues,
  );
  const p = readString(v, 'path', path, issues) ?? '';
  if (p === '') issues.push({ path: joinPath(path, 'path'), message: 'path is required' });
  const codec = readEnum(v, 'codec_client_type', path, issues, ['HTTP1'] as const, ['HTTP2', 'HTTP3']);
  void codec;
  const mRaw = v['method'];
  let method: HttpMethod = 'GET';
  if (mRaw !== undefined && mRaw !== 'METHOD_UNSPECIFIED') {
    method = readEnum(v, 'method', path, issues, METHODS, ['CONNECT']) ?? 'GET';
  }
  let send: Buffer | undefined;
  if (v['send'] !== undefined) {
    send = parsePayload(v['send'], joinPath(path, 'send'), issues);
    if (BODYLESS.includes(method)) {
      issues.push({
        path: joinPath(path, 'send'),
        message: `HTTP health check cannot specify a request payload with method '${method}'; use POST, PUT, PATCH or OPTIONS`,
      });
    }
  }
  const receive = parsePayloads(v['receive'], joinPath(path, 'receive'), issues);
  const responseBufferSize = readNumber(v, 'response_buffer_size', path, issues, { min: 0, integer: true }) ?? 1024;
  const total = receive.reduce((n, b) => n + b.length, 0);
  if (responseBufferSize !== 0 && total > responseBufferSize) {
    issues.push({
      path: joinPath(path, 'receive'),
      message: `the expected response length '${total}' is over than http health response buffer size '${responseBufferSize}'`,
    });
  }
  const removeHeaders: string[] = [];
  readArray(v, 'request_headers_to_remove', path, issues).forEach((h, i) => {
    const hp = joinPath(joinPath(path, 'request_headers_to_remove'), i);
    if (typeof h !== 'string' || !HEADER_NAME_RE.test(h) || h.toLowerCase() === 'host') {
      issues.push({ path: hp, message: 'a valid header name (not host or a pseudo-header) is required' });
    } else removeHeaders.push(h.toLowerCase());
  });
  const adds = parseHeaderOptions(v, 'request_headers_to_add', path, issues);
  const expected = parseRanges(v, 'expected_statuses', path, issues);
  const retriable = parseRanges(v, 'retriable_statuses', path, issues);
  let serviceNameMatcher: ((s: string) => boolean) | undefined;
  if (v['service_name_matcher'] !== undefined) {
    serviceNameMatcher = compileStringMatcher(v['service_name_matcher'], joinPath(path, 'service_name_matcher'), issues);
  }
  return {
    kind: 'http',
    host: readString(v, 'host', path, issues) ?? '',
    path: p,
    method,
    send,
    receive,
    responseBufferSize,
    headers: applyHeaderOptions([], adds),
    removeHeaders,
    expected: expected.length > 0 ? expected : [[200, 201]],
    retriable,
    serviceNameMatcher,
  };
}

function parseTcp(v: unknown, path: string, issues: ConfigIssue[]): TcpCheckSpec | undefined {
  if (!isObject(v)) {
    issues.push({ path, message: 'expected a TcpHealthCheck' });
    return undefined;
  }
  notImplemented(v, ['proxy_protocol_config'], path, issues);
  rejectUnsupported(v, path, ['send', 'receive', 'proxy_protocol_config'], issues);
  return {
    kind: 'tcp',
    send: v['send'] !== undefined ? parsePayload(v['send'], joinPath(path, 'send'), issues) : undefined,
    receive: parsePayloads(v['receive'], joinPath(path, 'receive'), issues),
  };
}

function parseGrpc(v: unknown, path: string, issues: ConfigIssue[]): GrpcCheckSpec | undefined {
  if (!isObject(v)) {
    issues.push({ path, message: 'expected a GrpcHealthCheck' });
    return undefined;
  }
  rejectUnsupported(v, path, ['service_name', 'authority', 'initial_metadata'], issues);
  const md = parseHeaderOptions(v, 'initial_metadata', path, issues);
  return {
    kind: 'grpc',
    serviceName: readString(v, 'service_name', path, issues) ?? '',
    authority: readString(v, 'authority', path, issues) ?? '',
    metadata: applyHeaderOptions([], md),
  };
}
