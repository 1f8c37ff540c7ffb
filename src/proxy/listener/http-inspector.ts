/**
 * envoy.filters.listener.http_inspector's detection: an HTTP/2 connection preface (h2c with prior
 * knowledge) or an HTTP/1.x request line. Detection stops at the first CRLF; a line longer than the
 * inspection limit is "not HTTP".
 */

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** Envoy inspects at most this much for a request line. */
export const MAX_HTTP_INSPECT = 64 * 1024;

export type HttpDetection = 'need_more' | 'http/1.0' | 'http/1.1' | 'h2c' | 'not_http';

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function detectHttp(buf: Buffer, maxSize = MAX_HTTP_INSPECT): HttpDetection {
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (buf.compare(H2_PREFACE, 0, n, 0, n) === 0) return buf.length >= H2_PREFACE.length ? 'h2c' : 'need_more';
  const eol = buf.indexOf('\r\n', 0, 'latin1');
  if (eol < 0) {
    if (buf.length >= maxSize) return 'not_http';
    // A method token so far, or a token and a space: could still become a request line.
    const sp = buf.indexOf(0x20);
    const method = buf.toString('latin1', 0, sp < 0 ? buf.length : sp);
    return method === '' || TOKEN.test(method) ? 'need_more' : 'not_http';
  }
  const line = buf.toString('latin1', 0, eol);
  const parts = line.split(' ');
  if (parts.length !== 3 || !TOKEN.test(parts[0]) || parts[1] === '') return 'not_http';
  if (parts[2] === 'HTTP/1.1') return 'http/1.1';
  if (parts[2] === 'HTTP/1.0') return 'http/1.0';
  return 'not_http';
}
