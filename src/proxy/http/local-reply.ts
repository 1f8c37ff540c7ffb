import { ResponseFlag } from '../stream-info';

/**
 * Local replies: answers the proxy makes itself. Bodies and details follow Envoy's, so that
 * dashboards and runbooks written for Envoy read Weft's the same way.
 */
export interface LocalReply {
  status: number;
  body: string;
  /** %RESPONSE_CODE_DETAILS% */
  details: string;
  flag: ResponseFlag;
  /** grpc-status for a gRPC request when it is not the one mapped from `status`. */
  grpcStatus?: number;
}

/** Envoy's Grpc::Utility::httpToGrpcStatus: the grpc-status of a local reply to a gRPC request. */
export function httpToGrpcStatus(status: number): number {
  switch (status) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}

/** grpc-message is percent-encoded (gRPC over HTTP/2 spec): bytes outside 0x20–0x7E and '%'. */
export function percentEncodeGrpcMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte < 0x20 || byte > 0x7e || byte === 0x25 ? '%' + byte.toString(16).toUpperCase().padStart(2, '0') : String.fromCharCode(byte);
  }
  return out;
}

export const NO_ROUTE: LocalReply = { status: 404, body: '', details: 'route_not_found', flag: ResponseFlag.NoRouteFound };
export const NO_HEALTHY_UPSTREAM: LocalReply = {
  status: 503,
  body: 'no healthy upstream',
  details: 'no_healthy_upstream',
  flag: ResponseFlag.NoHealthyUpstream,
};
export const UPSTREAM_TIMEOUT: LocalReply = {
  status: 504,
  body: 'upstream request timeout',
  details: 'upstream_response_timeout',
  flag: ResponseFlag.UpstreamRequestTimeout,
};
export const STREAM_IDLE_TIMEOUT: LocalReply = {
  status: 408,
  body: 'stream timeout',
  details: 'stream_idle_timeout',
  flag: ResponseFlag.StreamIdleTimeout,
};
export const REQUEST_TIMEOUT: LocalReply = {
  status: 408,
  body: 'request timeout',
  details: 'request_overall_timeout',
  flag: ResponseFlag.StreamIdleTimeout,
};

export function clusterNotFound(status: number): LocalReply {
  return { status, body: '', details: 'cluster_not_found', flag: ResponseFlag.NoClusterFound };
}

/** Envoy: "upstream connect error or disconnect/reset before headers. reset reason: <reason>". */
export function upstreamReset(reason: string, flag: ResponseFlag, details: string, status = 503): LocalReply {
  return {
    status,
    body: 'upstream connect error or disconnect/reset before headers. reset reason: ' + reason,
    details,
    flag,
  };
}

/** The request outgrew the retry buffer while a retry was due (Envoy's 507). */
export const RETRY_BUFFER_OVERFLOW: LocalReply = {
  status: 507,
  body: 'exceeded request buffer limit while retrying upstream',
  details: 'request_payload_exceeded_retry_buffer_limit',
  flag: ResponseFlag.None,
};

export const OVERFLOW = upstreamReset('overflow', ResponseFlag.UpstreamOverflow, 'upstream_reset_before_response_started{overflow}');

export function protocolError(status: number, details: string): LocalReply {
  const text =
    status === 431 ? 'Request Header Fields Too Large' : status === 501 ? 'Not Implemented' : status === 505 ? 'HTTP Version Not Supported' : 'Bad Request';
  return { status, body: text, details, flag: ResponseFlag.DownstreamProtocolError };
}
