import { HeaderMap } from '../../../lib/headers';

/**
 * An incremental, strict HTTP/1.x parser for both directions (requests from downstream, responses
 * from upstream).
 *
 * Written by hand rather than using node:http's llhttp binding because the proxy needs the raw
 * bytes, zero-copy body slices, per-message control (pause between pipelined requests, tunnel mode
 * after an upgrade) and Envoy's exact error behaviour; node:http's server + client pair costs about
 * three quarters of nginx's throughput on this path.
 *
 * Smuggling defences: Content-Length together with Transfer-Encoding, conflicting or malformed
 * Content-Length, a Transfer-Encoding other than "chunked", obs-fold, bare CR/LF, invalid token or
 * field-value characters are all rejected before anything reaches an upstream.
 */

export const enum ParserMode {
  Request = 0,
  Response = 1,
}

/** Why a message was rejected, as Envoy's response code details name it. */
export class Http1ParseError extends Error {
  constructor(
    /** Status to answer with (400, 413, 431, 501) when this is a downstream request. */
    readonly status: number,
    /** Envoy-style detail, e.g. "http1.invalid_characters". */
    readonly details: string,
    message: string,
  ) {
    super(message);
  }
}

export interface MessageHead {
  /** Request only. */
  method: string;
  path: string;
  /** Response only. */
  status: number;
  reason: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  versionMinor: number;
  headers: HeaderMap;
  /** -1 when the message has no Content-Length. */
  contentLength: number;
  chunked: boolean;
  /** Whether the connection may be reused after this message (version and Connection header). */
  keepAlive: boolean;
  /** Request: Connection: upgrade with an Upgrade header. Response: status 101. */
  upgrade: boolean;
  /** Request: Expect: 100-continue. */
  expectContinue: boolean;
  /** Bytes of the head on the wire (request line/status line and header lines). */
  headBytes: number;
}

export interface ParserHandler {
  /**
   * A complete head. For responses, return true if the message has no body regardless of its
   * headers (the request was HEAD, or a CONNECT got 2xx).
   */
  onMessageHead(head: MessageHead): boolean | void;
  /** A slice of the (de-chunked) body. The buffer may be a view into socket data: copy to keep it. */
  onBody(chunk: Buffer): void;
  onMessageComplete(trailers: HeaderMap | null): void;
  onParseError(err: Http1ParseError): void;
}

const enum State {
  Head,
  BodyLength,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  BodyUntilClose,
  Tunnel,
  Done,
  Error,
}

/** tchar from RFC 9110: the characters allowed in methods and header names. */
const TOKEN = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TOKEN[c.charCodeAt(0)] = 1;
for (let c = 0x30; c <= 0x39; c++) TOKEN[c] = 1;
for (let c = 0x41; c <= 0x5a; c++) TOKEN[c] = 1;
for (let c = 0x61; c <= 0x7a; c++) TOKEN[c] = 1;

function isToken(s: string, from: number, to: number): boolean {
  if (from >= to) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || TOKEN[c] === 0) return false;
  }
  return true;
}

/** field-value: visible ASCII, obs-text (0x80-0xff), SP and HTAB; no other control characters. */
function hasInvalidValueChar(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const MAX_CHUNK_LINE = 4096;

export interface ParserLimits {
  /** Maximum bytes of request line/status line plus headers (Envoy's max_request_headers_kb). */
  maxHeaderBytes: number;
  /** Maximum number of headers (Envoy's max_headers_count, default 100). */
  maxHeaderCount: number;
}

export class Http1Parser {
  private state = State.Head;
  /** Unconsumed bytes waiting for more data (an incomplete head, chunk line or a paused tail). */
  private pending: Buffer | null = null;
  /** A head arriving in pieces (see addHeadChunk). */
  private headChunks: Buffer[] | null = null;
  private headLength = 0;
  private headTail: Buffer = Buffer.alloc(0);
  private remaining = 0;
  private paused = false;
  private chunkLine = '';
  private trailerBytes = 0;
  private trailers: HeaderMap | null = null;
  /** Set by the response side: the request was HEAD, so the response has no body. */
  private noBody = false;

  constructor(
    private readonly mode: ParserMode,
    private readonly handler: ParserHandler,
    private readonly limits: ParserLimits,
  ) {}

  /** True between a message's head and its end. */
  get inMessage(): boolean {
    return this.state !== State.Head && this.state !== State.Done && this.state !== State.Error;
  }

  get isTunnel(): boolean {
    return this.state === State.Tunnel;
  }

  /** Bytes held back while paused (pipelined requests not yet started). */
  get bufferedBytes(): number {
    return (this.pending === null ? 0 : this.pending.length) + (this.headChunks === null ? 0 : this.headLength);
  }

  /** Stops delivering messages after the current one completes; bytes are held until resume(). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.state === State.Done) this.state = State.Head;
    const buf = this.pending;
    if (buf !== null && this.state !== State.Error) {
      this.pending = null;
      this.execute(buf);
    }
  }

  /** After a request upgrade was accepted (or a response 101), every further byte is tunnel data. */
  startTunnel(): void {
    this.state = State.Tunnel;
    const buf = this.pending;
    if (buf !== null) {
      this.pending = null;
      if (buf.length > 0) this.handler.onBody(buf);
    }
  }

  execute(data: Buffer): void {
    if (this.state === State.Error) return;
    let buf = data;
    if (this.headChunks !== null) {
      const whole = this.addHeadChunk(data);
      if (whole === null) return;
      buf = whole;
    } else if (this.pending !== null) {
      buf = Buffer.concat([this.pending, data]);
      this.pending = null;
    }
    let pos = 0;
    const len = buf.length;
    while (pos < len) {
      if (this.paused && (this.state === State.Done || this.state === State.Head)) {
        this.pending = Buffer.from(buf.subarray(pos));
        return;
      }
      switch (this.state) {
        case State.Head:
        case State.Done: {
          this.state = State.Head;
          const next = this.parseHead(buf, pos);
          if (next < 0) return; // incomplete (stored in pending) or error
          pos = next;
          break;
        }
        case State.BodyLength: {
          const n = Math.min(this.remaining, len - pos);
          this.remaining -= n;
          const end = pos + n;
          const slice = pos === 0 && end === len ? buf : buf.subarray(pos, end);
          pos = end;
          if (this.remaining === 0) this.state = State.Done;
          this.handler.onBody(slice);
          if (this.remaining === 0 && this.state === State.Done) this.finishMessage(null);
          break;
        }
        case State.ChunkSize: {
          const next = this.parseChunkLine(buf, pos);
          if (next < 0) return;
          pos = next;
          break;
        }
        case State.ChunkData: {
          const n = Math.min(this.remaining, len - pos);
          this.remaining -= n;
          const slice = buf.subarray(pos, pos + n);
          pos += n;
          if (this.remaining === 0) this.state = State.ChunkDataEnd;
          this.handler.onBody(slice);
          break;
        }
        case State.ChunkDataEnd: {
          if (len - pos < 2) {
            this.pending = Buffer.from(buf.subarray(pos));
            return;
          }
          if (buf[pos] !== 13 || buf[pos + 1] !== 10) {
            this.fail(400, 'http1.invalid_chunk_terminator', 'chunk data is not followed by CRLF');
            return;
          }
          pos += 2;
          this.state = State.ChunkSize;
          break;
        }
        case State.Trailers: {
          const next = this.parseTrailerLine(buf, pos);
          if (next < 0) return;
          pos = next;
          break;
        }
        case State.BodyUntilClose:
        case State.Tunnel: {
          const slice = pos === 0 ? buf : buf.subarray(pos);
          pos = len;
          this.handler.onBody(slice);
          break;
        }
        default:
          return;
      }
    }
  }

  /**
   * The peer closed. Returns true if that cleanly ends a message (a close-delimited response body),
   * false if a message was cut short.
   */
  finish(): boolean {
    if (this.state === State.BodyUntilClose) {
      this.finishMessage(null);
      return true;
    }
    return !this.inMessage && this.headChunks === null && (this.pending === null || this.pending.length === 0 || this.paused);
  }

  /** Tells the response parser that the request it answers was HEAD (or a 2xx CONNECT). */
  expectNoBody(noBody: boolean): void {
    this.noBody = noBody;
  }

  /** A method, not a field read, so that TypeScript does not narrow it away across handler calls. */
  private failed(): boolean {
    return this.state === State.Error;
  }

  /** Stops parsing for good (the connection is being closed). */
  abort(): void {
    this.state = State.Error;
    this.pending = null;
    this.headChunks = null;
  }

  private fail(status: number, details: string, message: string): void {
    this.state = State.Error;
    this.pending = null;
    this.handler.onParseError(new Http1ParseError(status, details, message));
  }

  private finishMessage(trailers: HeaderMap | null): void {
    this.state = State.Done;
    // One message at a time in both directions: bytes after it wait until resume(). For responses
    // that means the connection's owner sees them (bufferedBytes) before reusing the connection.
    this.paused = true;
    this.handler.onMessageComplete(trailers);
  }

  /** Returns the position after the head, or -1 if more data is needed or the head was rejected. */
  private parseHead(buf: Buffer, pos: number): number {
    // RFC 9112 §2.2: ignore empty lines before a request line.
    while (pos + 1 < buf.length && buf[pos] === 13 && buf[pos + 1] === 10) pos += 2;
    if (pos >= buf.length) return -1;
    const end = buf.indexOf(CRLFCRLF, pos);
    if (end === -1) {
      if (buf.length - pos > this.limits.maxHeaderBytes) {
        this.fail(431, 'http1.headers_too_large', 'headers exceed the size limit');
        return -1;
      }
      // An incomplete head is checked early so that garbage and bare-LF heads are answered now
      // rather than waiting for a CRLFCRLF that may never come.
      if (this.mode === ParserMode.Request && !this.plausibleHeadPrefix(buf, pos)) return -1;
      const part = Buffer.from(buf.subarray(pos));
      this.headChunks = [part];
      this.headLength = part.length;
      this.headTail = part.subarray(Math.max(0, part.length - 3));
      return -1;
    }
    if (end - pos > this.limits.maxHeaderBytes) {
      this.fail(431, 'http1.headers_too_large', 'headers exceed the size limit');
      return -1;
    }
    const text = buf.toString('latin1', pos, end);
    const head = this.parseHeadText(text);
    if (head === null) return -1;
    head.headBytes = end + 4 - pos;
    const bodyStart = end + 4;
    if (this.mode === ParserMode.Response && head.status < 200 && head.status !== 101) {
      // Interim responses (100 Continue, 103 Early Hints) are not forwarded: the proxy answers
      // Expect: 100-continue itself, as Envoy does by default.
      this.state = State.Head;
      return bodyStart;
    }
    this.beginBody(head);
    if (this.failed()) return -1;
    const noBody = this.handler.onMessageHead(head) === true;
    if (this.failed()) return -1; // the handler rejected it
    if (noBody && this.state !== State.Done) this.state = State.Done;
    if (this.state === State.Done) this.finishMessage(null);
    return bodyStart;
  }

  /**
   * Adds bytes to a head still waiting for its CRLFCRLF. Only the new bytes (with the three before
   * them) can complete it, so a head trickling in byte by byte costs linear, not quadratic, work.
   * Returns the whole head buffer once complete, or null while more is needed (or on error).
   */
  private addHeadChunk(data: Buffer): Buffer | null {
    const chunks = this.headChunks!;
    const window = Buffer.concat([this.headTail, data]);
    if (this.mode === ParserMode.Request) {
      // Every LF among the new bytes must follow a CR (the tail supplies the byte before the first).
      for (let lf = window.indexOf(10, this.headTail.length); lf !== -1; lf = window.indexOf(10, lf + 1)) {
        if (lf === 0 || window[lf - 1] !== 13) {
          this.headChunks = null;
          this.fail(400, 'http1.codec_error', 'bare LF is not allowed');
          return null;
        }
      }
    }
    chunks.push(Buffer.from(data));
    this.headLength += data.length;
    if (window.indexOf(CRLFCRLF) === -1) {
      if (this.headLength > this.limits.maxHeaderBytes) {
        this.headChunks = null;
        this.fail(431, 'http1.headers_too_large', 'headers exceed the size limit');
        return null;
      }
      this.headTail = window.subarray(Math.max(0, window.length - 3));
      return null;
    }
    this.headChunks = null;
    return Buffer.concat(chunks, this.headLength);
  }

  /** Fails the message if the start of an incomplete request head is already invalid. */
  private plausibleHeadPrefix(buf: Buffer, pos: number): boolean {
    for (let i = pos; i < buf.length; i++) {
      const c = buf[i];
      if (c === 32 || c === 13) break;
      if (c > 127 || TOKEN[c] === 0) {
        this.fail(400, 'http1.codec_error', 'malformed request line');
        return false;
      }
    }
    const lf = buf.indexOf(10, pos);
    if (lf !== -1 && (lf === pos || buf[lf - 1] !== 13)) {
      this.fail(400, 'http1.codec_error', 'bare LF is not allowed');
      return false;
    }
    return true;
  }

  private beginBody(head: MessageHead): void {
    if (this.mode === ParserMode.Response) {
      const s = head.status;
      if (s === 101) {
        this.state = State.Tunnel;
        return;
      }
      if (this.noBody || s === 204 || s === 304 || (s >= 100 && s < 200)) {
        this.state = State.Done;
        return;
      }
    }
    if (head.chunked) {
      this.state = State.ChunkSize;
      this.chunkLine = '';
    } else if (head.contentLength > 0) {
      this.state = State.BodyLength;
      this.remaining = head.contentLength;
    } else if (head.contentLength === -1 && this.mode === ParserMode.Response && !head.upgrade) {
      this.state = State.BodyUntilClose;
      head.keepAlive = false;
    } else {
      this.state = State.Done;
    }
  }

  private parseHeadText(text: string): MessageHead | null {
    let lineEnd = text.indexOf('\r\n');
    if (lineEnd === -1) lineEnd = text.length;
    const head: MessageHead = {
      method: '',
      path: '',
      status: 0,
      reason: '',
      versionMinor: 1,
      headers: new HeaderMap(),
      contentLength: -1,
      chunked: false,
      keepAlive: true,
      upgrade: false,
      expectContinue: false,
      headBytes: 0,
    };
    if (!(this.mode === ParserMode.Request ? this.parseRequestLine(text, lineEnd, head) : this.parseStatusLine(text, lineEnd, head))) {
      return null;
    }
    let connectionClose = false;
    let connectionKeepAlive = false;
    let connectionUpgrade = false;
    let transferEncoding: string | undefined;
    const headers = head.headers;
    let pos = lineEnd + 2;
    while (pos < text.length) {
      let eol = text.indexOf('\r\n', pos);
      if (eol === -1) eol = text.length;
      const first = text.charCodeAt(pos);
      if (first === 32 || first === 9) {
        this.fail(400, 'http1.invalid_characters', 'obsolete line folding in headers is not allowed');
        return null;
      }
      const colon = text.indexOf(':', pos);
      if (colon === -1 || colon > eol || !isToken(text, pos, colon)) {
        this.fail(400, 'http1.invalid_characters', 'invalid header name');
        return null;
      }
      let vs = colon + 1;
      let ve = eol;
      while (vs < ve && (text.charCodeAt(vs) === 32 || text.charCodeAt(vs) === 9)) vs++;
      while (ve > vs && (text.charCodeAt(ve - 1) === 32 || text.charCodeAt(ve - 1) === 9)) ve--;
      if (hasInvalidValueChar(text, vs, ve)) {
        this.fail(400, 'http1.invalid_characters', 'invalid character in header value');
        return null;
      }
      const name = text.slice(pos, colon).toLowerCase();
      const value = text.slice(vs, ve);
      if (headers.names.length >= this.limits.maxHeaderCount) {
        this.fail(431, 'http1.too_many_headers', 'too many headers');
        return null;
      }
      headers.add(name, value);
      // Framing and connection headers are interpreted here, once, while the name is at hand.
      switch (name) {
        case 'content-length': {
          const n = parseContentLength(value);
          if (n < 0 || (head.contentLength !== -1 && head.contentLength !== n)) {
            this.fail(400, 'http1.content_length_not_allowed', 'invalid or conflicting Content-Length');
            return null;
          }
          head.contentLength = n;
          break;
        }
        case 'transfer-encoding':
          transferEncoding = transferEncoding === undefined ? value : transferEncoding + ',' + value;
          break;
        case 'connection': {
          const v = value.toLowerCase();
          if (v === 'close') connectionClose = true;
          else if (v === 'keep-alive') connectionKeepAlive = true;
          else if (v === 'upgrade') connectionUpgrade = true;
          else
            for (const token of v.split(',')) {
              const t = token.trim();
              if (t === 'close') connectionClose = true;
              else if (t === 'keep-alive') connectionKeepAlive = true;
              else if (t === 'upgrade') connectionUpgrade = true;
            }
          break;
        }
        case 'expect':
          if (value.toLowerCase() === '100-continue') head.expectContinue = true;
          break;
      }
      pos = eol + 2;
    }
    if (transferEncoding !== undefined) {
      if (head.contentLength !== -1) {
        this.fail(400, 'http1.content_length_and_chunked_not_allowed', 'Content-Length with Transfer-Encoding is not allowed');
        return null;
      }
      if (head.versionMinor === 0 && this.mode === ParserMode.Request) {
        this.fail(400, 'http1.invalid_transfer_encoding', 'Transfer-Encoding is not allowed in HTTP/1.0');
        return null;
      }
      if (transferEncoding.trim().toLowerCase() !== 'chunked') {
        this.fail(501, 'http1.invalid_transfer_encoding', 'only Transfer-Encoding: chunked is supported');
        return null;
      }
      head.chunked = true;
    }
    head.keepAlive = head.versionMinor === 1 ? !connectionClose : connectionKeepAlive && !connectionClose;
    if (this.mode === ParserMode.Request) {
      head.upgrade = connectionUpgrade && headers.has('upgrade');
    } else {
      head.upgrade = head.status === 101;
    }
    return head;
  }

  private parseRequestLine(text: string, end: number, head: MessageHead): boolean {
    const sp1 = text.indexOf(' ');
    const sp2 = sp1 === -1 ? -1 : text.indexOf(' ', sp1 + 1);
    if (sp1 <= 0 || sp2 === -1 || sp2 > end || sp2 === sp1 + 1 || !isToken(text, 0, sp1)) {
      this.fail(400, 'http1.codec_error', 'malformed request line');
      return false;
    }
    const version = text.slice(sp2 + 1, end);
    if (version === 'HTTP/1.1') head.versionMinor = 1;
    else if (version === 'HTTP/1.0') head.versionMinor = 0;
    else {
      this.fail(/^HTTP\/\d\.\d$/.test(version) ? 505 : 400, 'http1.codec_error', 'unsupported HTTP version');
      return false;
    }
    const path = text.slice(sp1 + 1, sp2);
    for (let i = 0; i < path.length; i++) {
      const c = path.charCodeAt(i);
      if (c <= 0x20 || c === 0x7f) {
        this.fail(400, 'http1.codec_error', 'invalid character in request target');
        return false;
      }
    }
    head.method = text.slice(0, sp1);
    head.path = path;
    return true;
  }

  private parseStatusLine(text: string, end: number, head: MessageHead): boolean {
    // "HTTP/1.1 200 OK"
    if (end < 12 || !text.startsWith('HTTP/1.') || text.charCodeAt(8) !== 32) {
      this.fail(502, 'upstream_protocol_error', 'malformed status line');
      return false;
    }
    const minor = text.charCodeAt(7) - 48;
    const status = parseInt(text.slice(9, 12), 10);
    if ((minor !== 0 && minor !== 1) || !(status >= 100 && status <= 999) || (end > 12 && text.charCodeAt(12) !== 32)) {
      this.fail(502, 'upstream_protocol_error', 'malformed status line');
      return false;
    }
    head.versionMinor = minor;
    head.status = status;
    head.reason = end > 13 ? text.slice(13, end) : '';
    return true;
  }

  private parseChunkLine(buf: Buffer, pos: number): number {
    const eol = buf.indexOf(10, pos);
    if (eol === -1) {
      if (buf.length - pos + this.chunkLine.length > MAX_CHUNK_LINE) {
        this.fail(400, 'http1.invalid_chunk_size', 'chunk size line too long');
        return -1;
      }
      this.pending = Buffer.from(buf.subarray(pos));
      return -1;
    }
    if (eol === pos || buf[eol - 1] !== 13) {
      this.fail(400, 'http1.invalid_chunk_size', 'chunk size line must end with CRLF');
      return -1;
    }
    const line = buf.toString('latin1', pos, eol - 1);
    const semi = line.indexOf(';');
    const hex = (semi === -1 ? line : line.slice(0, semi)).trimEnd();
    if (hex.length === 0 || hex.length > 12 || !/^[0-9a-fA-F]+$/.test(hex)) {
      this.fail(400, 'http1.invalid_chunk_size', 'invalid chunk size');
      return -1;
    }
    const size = parseInt(hex, 16);
    if (size === 0) {
      this.state = State.Trailers;
      this.trailers = null;
      this.trailerBytes = 0;
    } else {
      this.state = State.ChunkData;
      this.remaining = size;
    }
    return eol + 1;
  }

  private parseTrailerLine(buf: Buffer, pos: number): number {
    const eol = buf.indexOf(10, pos);
    if (eol === -1) {
      if (buf.length - pos + this.trailerBytes > this.limits.maxHeaderBytes) {
        this.fail(431, 'http1.headers_too_large', 'trailers exceed the size limit');
        return -1;
      }
      this.pending = Buffer.from(buf.subarray(pos));
      return -1;
    }
    if (eol === pos || buf[eol - 1] !== 13) {
      this.fail(400, 'http1.invalid_characters', 'trailer line must end with CRLF');
      return -1;
    }
    this.trailerBytes += eol + 1 - pos;
    if (this.trailerBytes > this.limits.maxHeaderBytes) {
      this.fail(431, 'http1.headers_too_large', 'trailers exceed the size limit');
      return -1;
    }
    if (eol - 1 === pos) {
      const trailers = this.trailers;
      this.trailers = null;
      this.finishMessage(trailers);
      return eol + 1;
    }
    const line = buf.toString('latin1', pos, eol - 1);
    const colon = line.indexOf(':');
    if (colon <= 0 || !isToken(line, 0, colon) || hasInvalidValueChar(line, colon + 1, line.length)) {
      this.fail(400, 'http1.invalid_characters', 'invalid trailer');
      return -1;
    }
    if (this.trailers === null) this.trailers = new HeaderMap();
    this.trailers.add(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
    return eol + 1;
  }
}

/** Content-Length is 1*DIGIT (a list of identical values is allowed, RFC 9110 §8.6); -1 when invalid. */
function parseContentLength(value: string): number {
  let result = -1;
  for (const part of value.includes(',') ? value.split(',') : [value]) {
    const v = part.trim();
    if (v.length === 0 || v.length > 15) return -1;
    for (let i = 0; i < v.length; i++) {
      const c = v.charCodeAt(i);
      if (c < 48 || c > 57) return -1;
    }
    const n = parseInt(v, 10);
    if (result !== -1 && n !== result) return -1;
    result = n;
  }
  return result;
}
