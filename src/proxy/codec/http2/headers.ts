import type { OutgoingHttpHeaders } from 'node:http2';
import { HeaderMap } from '../../../lib/headers';
import { isHopByHop } from '../http1/encoder';

/**
 * HTTP/1.1 ⇄ HTTP/2 header translation (RFC 9113 §8.2): pseudo-headers carry what the HTTP/1.1
 * start line and Host header carry; connection-specific headers never cross into HTTP/2 (except
 * "te: trailers"); several cookie fields become one "; "-joined field for HTTP/1.1.
 */

export interface Http2RequestHead {
  method: string;
  path: string;
  authority: string;
  scheme: string;
  /** :protocol of an extended CONNECT (RFC 8441), or "". */
  protocol: string;
  headers: HeaderMap;
}

/** Reads node:http2's flat raw header list ([name, value, name, value, …]; names are lower-case). */
export function readRequestHead(raw: readonly string[]): Http2RequestHead {
  const head: Http2RequestHead = { method: '', path: '', authority: '', scheme: 'http', protocol: '', headers: new HeaderMap() };
  const headers = head.headers;
  let cookie: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    if (name.charCodeAt(0) === 58 /* : */) {
      switch (name) {
        case ':method':
          head.method = value;
          break;
        case ':path':
          head.path = value;
          break;
        case ':authority':
          head.authority = value;
          break;
        case ':scheme':
          head.scheme = value;
          break;
        case ':protocol':
          head.protocol = value;
          break;
      }
    } else if (name === 'cookie') {
      cookie = cookie === undefined ? value : cookie + '; ' + value;
    } else {
      headers.add(name, value);
    }
  }
  if (cookie !== undefined) headers.add('cookie', cookie);
  return head;
}

/** Reads response (or trailer) headers; `:status` is returned, other pseudo-headers are dropped. */
export function readResponseHeaders(raw: readonly string[], into: HeaderMap): number {
  let status = 0;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    if (name.charCodeAt(0) === 58 /* : */) {
      if (name === ':status') status = Number(raw[i + 1]);
      continue;
    }
    into.add(name, raw[i + 1]);
  }
  return status;
}

/** Copies headers into a node:http2 header object, leaving out what HTTP/2 forbids. */
export function writeHeaders(headers: HeaderMap, out: OutgoingHttpHeaders): OutgoingHttpHeaders {
  const names = headers.names;
  const values = headers.values;
  for (let i = 0; i < names.length; i++) {
    const n = names[i];
    if (n === 'host') continue;
    if (isHopByHop(n)) {
      if (n === 'te' && values[i].trim().toLowerCase() === 'trailers') out[n] = 'trailers';
      continue;
    }
    const prev = out[n];
    if (prev === undefined) out[n] = values[i];
    else if (Array.isArray(prev)) prev.push(values[i]);
    else out[n] = [String(prev), values[i]];
  }
  return out;
}
