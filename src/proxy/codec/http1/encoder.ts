import type { HeaderMap } from '../../../lib/headers';

/**
 * Serialises HTTP/1.1 heads and body framing. Heads are built as one latin1 string and written
 * with a single socket write, which is the cheapest way to get them onto the wire from JS.
 */

const STATUS_TEXT: Record<number, string> = {
  100: 'Continue', 101: 'Switching Protocols', 200: 'OK', 201: 'Created', 202: 'Accepted',
  204: 'No Content', 206: 'Partial Content', 301: 'Moved Permanently', 302: 'Found', 303: 'See Other',
  304: 'Not Modified', 307: 'Temporary Redirect', 308: 'Permanent Redirect', 400: 'Bad Request',
  401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  408: 'Request Timeout', 411: 'Length Required', 413: 'Payload Too Large', 414: 'URI Too Long',
  415: 'Unsupported Media Type', 421: 'Misdirected Request', 426: 'Upgrade Required',
  429: 'Too Many Requests', 431: 'Request Header Fields Too Large', 500: 'Internal Server Error',
  501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported', 507: 'Insufficient Storage',
};

export function statusText(status: number): string {
  return STATUS_TEXT[status] ?? 'Unknown';
}

/** Headers never forwarded hop to hop (RFC 9110 §7.6.1), plus the framing headers Weft rewrites. */
export function isHopByHop(name: string): boolean {
  switch (name) {
    case 'connection':
    case 'keep-alive':
    case 'proxy-connection':
    case 'transfer-encoding':
    case 'te':
    case 'upgrade':
    case 'trailer':
      return true;
    default:
      return false;
  }
}

function appendHeaders(out: string, headers: HeaderMap, skipFraming: boolean): string {
  const names = headers.names;
  const values = headers.values;
  for (let i = 0; i < names.length; i++) {
    const n = names[i];
    if (skipFraming && (n === 'content-length' || isHopByHop(n))) continue;
    out += n + ': ' + values[i] + '\r\n';
  }
  return out;
}

export const enum Framing {
  /** Content-Length as given (or none needed: no body). */
  Length,
  Chunked,
  /** Body delimited by closing the connection (HTTP/1.0 peers). */
  Close,
}

/**
 * A request head for an upstream. `headers` must not contain hop-by-hop headers other than those
 * passed explicitly: framing is written from `contentLength`/`framing`.
 */
export function encodeRequestHead(
  method: string,
  path: string,
  host: string,
  headers: HeaderMap,
  framing: Framing,
  contentLength: number,
  upgrade: string | undefined,
): string {
  let out = method + ' ' + path + ' HTTP/1.1\r\nhost: ' + host + '\r\n';
  out = appendHeaders(out, headers, true);
  if (upgrade !== undefined) out += 'connection: upgrade\r\nupgrade: ' + upgrade + '\r\n';
  if (framing === Framing.Chunked) out += 'transfer-encoding: chunked\r\n';
  else if (contentLength >= 0) out += 'content-length: ' + contentLength + '\r\n';
  return out + '\r\n';
}

export function encodeResponseHead(
  status: number,
  headers: HeaderMap,
  framing: Framing,
  contentLength: number,
  keepAlive: boolean,
  versionMinor: number,
  upgrade: string | undefined,
): string {
  // The status line always says HTTP/1.1 (RFC 9110 §2.5: a server sends its highest version);
  // an HTTP/1.0 client only changes how keep-alive and framing are signalled.
  let out = 'HTTP/1.1 ' + status + ' ' + statusText(status) + '\r\n';
  out = appendHeaders(out, headers, true);
  if (upgrade !== undefined) out += 'connection: upgrade\r\nupgrade: ' + upgrade + '\r\n';
  else if (!keepAlive) out += 'connection: close\r\n';
  else if (versionMinor === 0) out += 'connection: keep-alive\r\n';
  if (framing === Framing.Chunked) out += 'transfer-encoding: chunked\r\n';
  else if (framing === Framing.Length && contentLength >= 0) out += 'content-length: ' + contentLength + '\r\n';
  return out + '\r\n';
}

export function chunkHeader(size: number): string {
  return size.toString(16) + '\r\n';
}

export const CHUNK_TRAILER_END = '0\r\n\r\n';

export function encodeLastChunk(trailers: HeaderMap | null): string {
  if (trailers === null || trailers.size === 0) return CHUNK_TRAILER_END;
  return appendHeaders('0\r\n', trailers, true) + '\r\n';
}
