import type { HeaderMap } from '../lib/headers';

/** What the downstream TLS handshake established (access log operators). */
export interface DownstreamTlsInfo {
  /** "TLSv1.3" */
  readonly version: string;
  /** OpenSSL cipher name. */
  readonly cipher: string;
  /** SNI ('' when none). */
  readonly serverName: string;
  /** Negotiated ALPN ('' when none). */
  readonly alpn: string;
  readonly peerUriSans: readonly string[];
  readonly peerSubject: string;
}

/** Envoy's response flags, as bits; `responseFlagString` renders them in Envoy's short form. */
export const enum ResponseFlag {
  None = 0,
  FailedLocalHealthCheck = 1 << 0, // LH
  NoHealthyUpstream = 1 << 1, // UH
  UpstreamRequestTimeout = 1 << 2, // UT
  LocalReset = 1 << 3, // LR
  UpstreamRemoteReset = 1 << 4, // UR
  UpstreamConnectionFailure = 1 << 5, // UF
  UpstreamConnectionTermination = 1 << 6, // UC
  UpstreamOverflow = 1 << 7, // UO
  NoRouteFound = 1 << 8, // NR
  DelayInjected = 1 << 9, // DI
  FaultInjected = 1 << 10, // FI
  RateLimited = 1 << 11, // RL
  DownstreamConnectionTermination = 1 << 12, // DC
  UpstreamRetryLimitExceeded = 1 << 13, // URX
  StreamIdleTimeout = 1 << 14, // SI
  InvalidEnvoyRequestHeaders = 1 << 15, // IH
  DownstreamProtocolError = 1 << 16, // DPE
  UpstreamMaxStreamDurationReached = 1 << 17, // UMSDR
  NoClusterFound = 1 << 18, // NC
  OverloadManager = 1 << 19, // OM
  DurationTimeout = 1 << 20, // DT
  UpstreamProtocolError = 1 << 21, // UPE
  NoFilterConfigFound = 1 << 22, // NFCF
  UnauthorizedExternalService = 1 << 23, // UAEX
  RateLimitServiceError = 1 << 24, // RLSE
  DownstreamRemoteReset = 1 << 25, // DR
}

/** Short codes in the order Envoy prints them (joined with ","). */
const FLAG_CODES: ReadonlyArray<readonly [number, string]> = [
  [ResponseFlag.FailedLocalHealthCheck, 'LH'],
  [ResponseFlag.NoHealthyUpstream, 'UH'],
  [ResponseFlag.UpstreamRequestTimeout, 'UT'],
  [ResponseFlag.LocalReset, 'LR'],
  [ResponseFlag.UpstreamRemoteReset, 'UR'],
  [ResponseFlag.UpstreamConnectionFailure, 'UF'],
  [ResponseFlag.UpstreamConnectionTermination, 'UC'],
  [ResponseFlag.UpstreamOverflow, 'UO'],
  [ResponseFlag.NoRouteFound, 'NR'],
  [ResponseFlag.DelayInjected, 'DI'],
  [ResponseFlag.FaultInjected, 'FI'],
  [ResponseFlag.RateLimited, 'RL'],
  [ResponseFlag.UnauthorizedExternalService, 'UAEX'],
  [ResponseFlag.RateLimitServiceError, 'RLSE'],
  [ResponseFlag.DownstreamConnectionTermination, 'DC'],
  [ResponseFlag.UpstreamRetryLimitExceeded, 'URX'],
  [ResponseFlag.StreamIdleTimeout, 'SI'],
  [ResponseFlag.InvalidEnvoyRequestHeaders, 'IH'],
  [ResponseFlag.DownstreamProtocolError, 'DPE'],
  [ResponseFlag.UpstreamMaxStreamDurationReached, 'UMSDR'],
  [ResponseFlag.NoFilterConfigFound, 'NFCF'],
  [ResponseFlag.DurationTimeout, 'DT'],
  [ResponseFlag.UpstreamProtocolError, 'UPE'],
  [ResponseFlag.NoClusterFound, 'NC'],
  [ResponseFlag.OverloadManager, 'OM'],
  [ResponseFlag.DownstreamRemoteReset, 'DR'],
];

export function responseFlagString(flags: number): string {
  if (flags === 0) return '-';
  let out = '';
  for (const [bit, code] of FLAG_CODES) {
    if (flags & bit) out = out ? out + ',' + code : code;
  }
  return out;
}

/**
 * What is known about one request (HTTP) or one connection (TCP) as it goes through the proxy:
 * filled in by the connection manager and router, read by access logs, stats and header formatters.
 * A plain mutable record, one per stream: no getters, so the hot path writes fields directly.
 */
export class StreamInfo {
  /** Wall-clock start, ms since epoch (for %START_TIME%). */
  startTime = Date.now();
  /** Monotonic start, ms (performance.now()), for durations. */
  startMono = 0;
  /** Monotonic times relative to startMono, or -1 when not reached. */
  lastDownstreamRxByteMs = -1;
  firstUpstreamTxByteMs = -1;
  lastUpstreamTxByteMs = -1;
  firstUpstreamRxByteMs = -1;
  lastUpstreamRxByteMs = -1;
  firstDownstreamTxByteMs = -1;
  lastDownstreamTxByteMs = -1;
  /** Total duration, ms; set when the stream ends. */
  durationMs = -1;

  /** "HTTP/1.0", "HTTP/1.1", "HTTP/2", or "" for TCP. */
  protocol = '';
  method = '';
  /** The original :path (before rewrites), with query. */
  path = '';
  authority = '';
  scheme = 'http';
  requestHeaders: HeaderMap | null = null;
  responseHeaders: HeaderMap | null = null;
  responseTrailers: HeaderMap | null = null;

  /** 0 until a response status is known. */
  responseCode = 0;
  /** Envoy's %RESPONSE_CODE_DETAILS%, e.g. "via_upstream", "route_not_found". */
  responseCodeDetails = '';
  /** Bits of ResponseFlag. */
  responseFlags = 0;
  /** Envoy's %CONNECTION_TERMINATION_DETAILS% / %UPSTREAM_TRANSPORT_FAILURE_REASON%. */
  upstreamTransportFailureReason = '';

  bytesReceived = 0;
  bytesSent = 0;

  /** "ip:port" of the chosen upstream host, or "". */
  upstreamHost = '';
  upstreamCluster = '';
  upstreamLocalAddress = '';
  routeName = '';
  virtualClusterName = '';
  /** Milliseconds the upstream took to produce response headers (x-envoy-upstream-service-time), or -1. */
  upstreamServiceTimeMs = -1;

  downstreamRemoteAddress = '';
  downstreamDirectRemoteAddress = '';
  downstreamLocalAddress = '';
  requestedServerName = '';
  /** [tls] Set for requests on a TLS connection. */
  downstreamTls: DownstreamTlsInfo | undefined = undefined;
  connectionId = 0;
  /** Value of x-request-id, once known. */
  requestId = '';
  /** Attempt count (1 + retries). */
  attemptCount = 0;

  addFlag(flag: ResponseFlag): void {
    this.responseFlags |= flag;
  }

  hasFlag(flag: ResponseFlag): boolean {
    return (this.responseFlags & flag) !== 0;
  }
}
