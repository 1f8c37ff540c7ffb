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
