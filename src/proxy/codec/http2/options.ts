import { joinPath, rejectUnsupported, type ConfigIssue } from '../../../lib/config-error';
import { readBool, readNumber, readObject, type Decoded } from '../../../lib/decoded-read';

/**
 * envoy.config.core.v3.Http2ProtocolOptions, compiled once for a connection manager (downstream)
 * or a cluster (upstream). Fields Weft does not implement are rejected by path.
 */
export interface Http2Options {
  /** SETTINGS_MAX_CONCURRENT_STREAMS we advertise (downstream) / the most we open (upstream). */
  readonly maxConcurrentStreams: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE: what one stream may have in flight towards us. */
  readonly initialStreamWindowSize: number;
  /** The connection-level receive window. */
  readonly initialConnectionWindowSize: number;
  readonly hpackTableSize: number;
  /** CONNECT and extended CONNECT (RFC 8441, SETTINGS_ENABLE_CONNECT_PROTOCOL). */
  readonly allowConnect: boolean;
  /** connection_keepalive: PING every interval (0: off); no PING ACK within timeout closes the connection. */
  readonly keepaliveIntervalMs: number;
  readonly keepaliveTimeoutMs: number;
}

/** Envoy's largest legal values; its defaults for the windows are 256 MiB. */
const MAX_STREAMS = 2147483647;
const MAX_WINDOW = 2147483647;
const MIN_WINDOW = 65535;

/**
 * Defaults. The windows differ from Envoy's (256 MiB): a receive window is memory a peer may fill
 * without our consent, so Weft's default equals the stream buffer limit (per_connection_buffer_limit_bytes,
 * at least 64 KiB) and the connection window four times that. Both can be raised explicitly.
 */
export function defaultHttp2Options(bufferLimitBytes: number): Http2Options {
  const stream = Math.min(MAX_WINDOW, Math.max(MIN_WINDOW, bufferLimitBytes));
  return {
    maxConcurrentStreams: MAX_STREAMS,
    initialStreamWindowSize: stream,
    initialConnectionWindowSize: Math.min(MAX_WINDOW, stream * 4),
    hpackTableSize: 4096,
    allowConnect: false,
    keepaliveIntervalMs: 0,
    keepaliveTimeoutMs: 0,
  };
}

const SUPPORTED = [
  'hpack_table_size',
  'max_concurrent_streams',
  'initial_stream_window_size',
  'initial_connection_window_size',
  'allow_connect',
  'connection_keepalive',
];

export function compileHttp2Options(o: Decoded, path: string, issues: ConfigIssue[], bufferLimitBytes: number): Http2Options {
  const d = defaultHttp2Options(bufferLimitBytes);
  rejectUnsupported(o, path, SUPPORTED, issues);
  const streamWindow = readNumber(o, 'initial_stream_window_size', path, issues, { min: MIN_WINDOW, max: MAX_WINDOW, integer: true });
  const connWindow = readNumber(o, 'initial_connection_window_size', path, issues, { min: MIN_WINDOW, max: MAX_WINDOW, integer: true });
  let keepaliveIntervalMs = 0;
  let keepaliveTimeoutMs = 0;
  const ka = readObject(o, 'connection_keepalive', path, issues);
  if (ka !== undefined) {
    const kp = joinPath(path, 'connection_keepalive');
    rejectUnsupported(ka, kp, ['interval', 'timeout'], issues);
    keepaliveIntervalMs = readNumber(ka, 'interval', kp, issues, { min: 1 }) ?? 0;
    const timeout = readNumber(ka, 'timeout', kp, issues, { min: 1 });
    if (timeout === undefined) issues.push({ path: joinPath(kp, 'timeout'), message: 'timeout is required' });
    keepaliveTimeoutMs = timeout ?? 0;
  }
  return {
    maxConcurrentStreams: readNumber(o, 'max_concurrent_streams', path, issues, { min: 1, max: MAX_STREAMS, integer: true }) ?? d.maxConcurrentStreams,
    initialStreamWindowSize: streamWindow ?? d.initialStreamWindowSize,
    initialConnectionWindowSize: connWindow ?? (streamWindow !== undefined ? Math.min(MAX_WINDOW, streamWindow * 4) : d.initialConnectionWindowSize),
    hpackTableSize: readNumber(o, 'hpack_table_size', path, issues, { min: 0, max: 0xffffffff, integer: true }) ?? d.hpackTableSize,
    allowConnect: readBool(o, 'allow_connect', path, issues) ?? false,
    keepaliveIntervalMs,
    keepaliveTimeoutMs,
  };
}
