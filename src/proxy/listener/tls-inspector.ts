/**
 * envoy.filters.listener.tls_inspector's parser: finds out from the first bytes of a connection
 * whether it starts a TLS handshake, and reads the ClientHello's SNI and ALPN. Hand-written because
 * no Node API or library parses a ClientHello from bytes peeked on a raw socket (node:tls only
 * exposes the SNI after handing the socket to OpenSSL). Only reads; never allocates per byte.
 */

export const TLS_CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
/** Envoy's bound on a ClientHello (tls_inspector max_client_hello_size default). */
export const MAX_CLIENT_HELLO = 64 * 1024;

export type ClientHelloResult =
  | { readonly state: 'need_more' }
  | { readonly state: 'not_tls' }
  | { readonly state: 'too_large' }
  | { readonly state: 'tls'; readonly serverName: string; readonly alpn: readonly string[] };

const NEED_MORE: ClientHelloResult = { state: 'need_more' };
const NOT_TLS: ClientHelloResult = { state: 'not_tls' };
const TOO_LARGE: ClientHelloResult = { state: 'too_large' };

/**
 * Parses the handshake records at the start of `buf`. A ClientHello may span several records;
 * their fragments are joined (only when it does).
 */
export function parseClientHello(buf: Buffer, maxSize = MAX_CLIENT_HELLO): ClientHelloResult {
  if (buf.length === 0) return NEED_MORE;
  if (buf[0] !== TLS_CONTENT_HANDSHAKE) return NOT_TLS;
  if (buf.length >= 2 && buf[1] !== 3) return NOT_TLS;
  const fragments: Buffer[] = [];
  let total = 0;
  let off = 0;
  let helloLen = -1;
  while (helloLen < 0 || total < helloLen + 4) {
    if (off + 5 > buf.length) return buf.length > maxSize + 5 ? TOO_LARGE : NEED_MORE;
    if (buf[off] !== TLS_CONTENT_HANDSHAKE || buf[off + 1] !== 3) return NOT_TLS;
    const len = buf.readUInt16BE(off + 3);
    if (len === 0) return NOT_TLS;
    if (off + 5 + len > buf.length) {
      if (off + 5 + len > maxSize + 5 * 16) return TOO_LARGE;
      return NEED_MORE;
    }
    fragments.push(buf.subarray(off + 5, off + 5 + len));
    total += len;
    off += 5 + len;
    if (helloLen < 0 && total >= 4) {
      const first = fragments.length === 1 ? fragments[0] : Buffer.concat(fragments);
      if (first[0] !== HANDSHAKE_CLIENT_HELLO) return NOT_TLS;
      helloLen = (first[1] << 16) | (first[2] << 8) | first[3];
      if (helloLen > maxSize) return TOO_LARGE;
    }
  }
  const hs = fragments.length === 1 ? fragments[0] : Buffer.concat(fragments);
  return parseHelloBody(hs.subarray(4, 4 + helloLen));
}

function parseHelloBody(b: Buffer): ClientHelloResult {
  // legacy_version(2) random(32) session_id<0..32> cipher_suites<2..> compression_methods<1..>
  let p = 34;
  if (p + 1 > b.length) return NOT_TLS;
  p += 1 + b[p];
  if (p + 2 > b.length) return NOT_TLS;
  p += 2 + b.readUInt16BE(p);
  if (p + 1 > b.length) return NOT_TLS;
  p += 1 + b[p];
  let serverName = '';
  const alpn: string[] = [];
  if (p + 2 > b.length) return { state: 'tls', serverName, alpn };
  const extEnd = p + 2 + b.readUInt16BE(p);
  if (extEnd > b.length) return NOT_TLS;
  p += 2;
  while (p + 4 <= extEnd) {
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    const start = p + 4;
    const end = start + len;
    if (end > extEnd) return NOT_TLS;
    if (type === EXT_SERVER_NAME && len >= 2) {
      // server_name_list: name_type(1) HostName<1..2^16-1>; host_name (type 0) is the only type.
      let q = start + 2;
      const listEnd = Math.min(end, start + 2 + b.readUInt16BE(start));
      while (q + 3 <= listEnd) {
        const nameType = b[q];
        const nameLen = b.readUInt16BE(q + 1);
        if (q + 3 + nameLen > listEnd) break;
        if (nameType === 0 && serverName === '') serverName = b.toString('latin1', q + 3, q + 3 + nameLen).toLowerCase();
        q += 3 + nameLen;
      }
    } else if (type === EXT_ALPN && len >= 2) {
      let q = start + 2;
      const listEnd = Math.min(end, start + 2 + b.readUInt16BE(start));
      while (q + 1 <= listEnd) {
        const l = b[q];
        if (l === 0 || q + 1 + l > listEnd) break;
        alpn.push(b.toString('latin1', q + 1, q + 1 + l));
        q += 1 + l;
      }
    }
    p = end;
  }
  return { state: 'tls', serverName, alpn };
}
