/**
 * Upstream HTTP options: `typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]`
 * and the deprecated cluster-level common_http_protocol_options / http_protocol_options /
 * max_requests_per_connection. The upstream protocol is HTTP/1.1 (default), HTTP/2
 * (explicit_http_config.http2_protocol_options) or chosen by ALPN (auto_config).
 */
import { ConfigIssue, joinPath, rejectUnsupported } from '../../lib/config-error';
import { Decoded, isObject, readNumber, readObject } from '../../lib/decoded-read';
import { compileHttp2Options, defaultHttp2Options, type Http2Options } from '../codec/http2/options';

/** Envoy's default per_connection_buffer_limit_bytes, which sizes the default HTTP/2 windows. */
const DEFAULT_BUFFER_LIMIT = 1024 * 1024;

export const HTTP_PROTOCOL_OPTIONS_NAME = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const HTTP_PROTOCOL_OPTIONS_TYPE = 'type.googleapis.com/' + HTTP_PROTOCOL_OPTIONS_NAME;

export interface UpstreamHttpOptions {
  /** Upstream protocol: HTTP/1.1, HTTP/2, or by ALPN ('auto': HTTP/2 if the TLS peer offers h2). */
  readonly protocol: 'http1' | 'http2' | 'auto';
  readonly http2: Http2Options;
  /** Close an upstream connection idle this long (ms); default 1 h; 0 disables. */
  readonly idleTimeoutMs: number;
  /** Close a connection this long after it was opened (ms), draining it first; undefined = no limit. */
  readonly maxConnectionDurationMs: number | undefined;
  /** Max stream duration (ms); undefined = no limit. */
  readonly maxStreamDurationMs: number | undefined;
  /** Max response headers accepted from upstream (default 100). */
  readonly maxHeadersCount: number;
  /** Max response headers size in KiB (default 60). */
  readonly maxResponseHeadersKb: number;
  /** Requests per connection before it is closed; undefined = unlimited. */
  readonly maxRequestsPerConnection: number | undefined;
}

export const DEFAULT_HTTP_OPTIONS: UpstreamHttpOptions = {
  protocol: 'http1',
  http2: defaultHttp2Options(DEFAULT_BUFFER_LIMIT),
  idleTimeoutMs: 3600_000,
  maxConnectionDurationMs: undefined,
  maxStreamDurationMs: undefined,
  maxHeadersCount: 100,
  maxResponseHeadersKb: 60,
  maxRequestsPerConnection: undefined,
};

type Mutable = {
  -readonly [K in keyof UpstreamHttpOptions]: UpstreamHttpOptions[K];
};

function applyCommon(o: Decoded, path: string, issues: ConfigIssue[], out: Mutable): void {
  rejectUnsupported(
    o,
    path,
    ['idle_timeout', 'max_connection_duration', 'max_headers_count', 'max_response_headers_kb', 'max_stream_duration', 'max_requests_per_connection'],
    issues,
  );
  const ms = { min: 0 };
  const idle = readNumber(o, 'idle_timeout', path, issues, ms);
  if (idle !== undefined) out.idleTimeoutMs = idle;
  const mcd = readNumber(o, 'max_connection_duration', path, issues, ms);
  if (mcd !== undefined) out.maxConnectionDurationMs = mcd === 0 ? undefined : mcd;
  const msd = readNumber(o, 'max_stream_duration', path, issues, ms);
  if (msd !== undefined) out.maxStreamDurationMs = msd === 0 ? undefined : msd;
  out.maxHeadersCount = readNumber(o, 'max_headers_count', path, issues, { min: 1, integer: true }) ?? out.maxHeadersCount;
  out.maxResponseHeadersKb =
    readNumber(o, 'max_response_headers_kb', path, issues, { min: 1, max: 8192, integer: true }) ?? out.maxResponseHeadersKb;
  const mrpc = readNumber(o, 'max_requests_per_connection', path, issues, { min: 0, integer: true });
  if (mrpc !== undefined) out.maxRequestsPerConnection = mrpc === 0 ? undefined : mrpc;
}

function applyHttp1(o: Decoded, path: string, issues: ConfigIssue[]): void {
  // Http1ProtocolOptions knobs belong to the HTTP/1 codec; none is wired to the upstream codec yet.
  rejectUnsupported(o, path, [], issues);
}


/** Reads the cluster's HTTP options from every place Envoy accepts them. */
export function parseHttpOptions(c: Decoded, path: string, issues: ConfigIssue[]): UpstreamHttpOptions {
  const out: Mutable = { ...DEFAULT_HTTP_OPTIONS };

  // Deprecated cluster-level fields first; the typed extension options win when both are set.
  const legacyCommon = readObject(c, 'common_http_protocol_options', path, issues);
  if (legacyCommon) applyCommon(legacyCommon, joinPath(path, 'common_http_protocol_options'), issues, out);
  const legacyH1 = readObject(c, 'http_protocol_options', path, issues);
  if (legacyH1) applyHttp1(legacyH1, joinPath(path, 'http_protocol_options'), issues);
  const legacyH2 = readObject(c, 'http2_protocol_options', path, issues);
  if (legacyH2) {
    out.protocol = 'http2';
    out.http2 = compileHttp2Options(legacyH2, joinPath(path, 'http2_protocol_options'), issues, DEFAULT_BUFFER_LIMIT);
  }
  const legacyMrpc = readNumber(c, 'max_requests_per_connection', path, issues, { min: 0, integer: true });
  if (legacyMrpc !== undefined) out.maxRequestsPerConnection = legacyMrpc === 0 ? undefined : legacyMrpc;
  const sel = c['protocol_selection'];
  if (sel !== undefined && sel !== 'USE_CONFIGURED_PROTOCOL') {
    issues.push({ path: joinPath(path, 'protocol_selection'), message: `${String(sel)} is not implemented by Weft` });
  }

  const teo = c['typed_extension_protocol_options'];
  if (teo !== undefined) {
    const tp = joinPath(path, 'typed_extension_protocol_options');
    if (!isObject(teo)) {
      issues.push({ path: tp, message: 'expected a map' });
      return out;
    }
    for (const [name, value] of Object.entries(teo)) {
      const p = `${tp}[${JSON.stringify(name)}]`;
      if (name !== HTTP_PROTOCOL_OPTIONS_NAME) {
        issues.push({ path: p, message: `protocol options extension ${name} is not implemented by Weft` });
        continue;
      }
      if (!isObject(value)) {
        issues.push({ path: p, message: 'expected a message' });
        continue;
      }
      const type = value['@type'];
      if (type !== undefined && type !== HTTP_PROTOCOL_OPTIONS_TYPE) {
        issues.push({ path: p, message: `expected ${HTTP_PROTOCOL_OPTIONS_TYPE}, got ${String(type)}` });
        continue;
      }
      parseHttpProtocolOptions(value, p, issues, out);
    }
  }
  return out;
}

function parseHttpProtocolOptions(o: Decoded, p: string, issues: ConfigIssue[], out: Mutable): void {
  rejectUnsupported(o, p, ['common_http_protocol_options', 'explicit_http_config', 'use_downstream_protocol_config', 'auto_config'], issues);
  const common = readObject(o, 'common_http_protocol_options', p, issues);
  if (common) applyCommon(common, joinPath(p, 'common_http_protocol_options'), issues, out);
  const explicit = readObject(o, 'explicit_http_config', p, issues);
  if (explicit) {
    const ep = joinPath(p, 'explicit_http_config');
    rejectUnsupported(explicit, ep, ['http_protocol_options', 'http2_protocol_options', 'http3_protocol_options'], issues);
    const h1 = readObject(explicit, 'http_protocol_options', ep, issues);
    if (h1) applyHttp1(h1, joinPath(ep, 'http_protocol_options'), issues);
    const h2 = readObject(explicit, 'http2_protocol_options', ep, issues);
    if (h2) {
      out.protocol = 'http2';
      out.http2 = compileHttp2Options(h2, joinPath(ep, 'http2_protocol_options'), issues, DEFAULT_BUFFER_LIMIT);
    }
    if (h1 && h2) issues.push({ path: ep, message: 'set one of http_protocol_options and http2_protocol_options' });
    if (explicit['http3_protocol_options'] !== undefined) {
      issues.push({ path: joinPath(ep, 'http3_protocol_options'), message: 'HTTP/3 upstream not implemented' });
    }
  }
  if (o['use_downstream_protocol_config'] !== undefined) {
    issues.push({ path: joinPath(p, 'use_downstream_protocol_config'), message: 'downstream-protocol upstreams not yet implemented' });
  }
  const auto = readObject(o, 'auto_config', p, issues);
  if (auto) {
    const ap = joinPath(p, 'auto_config');
    rejectUnsupported(auto, ap, ['http_protocol_options', 'http2_protocol_options', 'http3_protocol_options'], issues);
    out.protocol = 'auto';
    const h1 = readObject(auto, 'http_protocol_options', ap, issues);
    if (h1) applyHttp1(h1, joinPath(ap, 'http_protocol_options'), issues);
    const h2 = readObject(auto, 'http2_protocol_options', ap, issues);
    if (h2) out.http2 = compileHttp2Options(h2, joinPath(ap, 'http2_protocol_options'), issues, DEFAULT_BUFFER_LIMIT);
    if (auto['http3_protocol_options'] !== undefined) issues.push({ path: joinPath(ap, 'http3_protocol_options'), message: 'HTTP/3 upstream not implemented' });
  }
  if ((explicit ? 1 : 0) + (o['use_downstream_protocol_config'] !== undefined ? 1 : 0) + (auto ? 1 : 0) > 1) {
    issues.push({ path: p, message: 'upstream_protocol_options: set only one of explicit_http_config, use_downstream_protocol_config, auto_config' });
  }
}
