import * as http2 from 'node:http2';
import { HeaderMap } from '../../lib/headers';
import type { MessageHead } from '../codec/http1/parser';
import { readRequestHead, writeHeaders } from '../codec/http2/headers';
import { ResponseFlag } from '../stream-info';
import { ActiveStream, State } from './active-stream';
import type { Http2ServerConnection } from './http2-connection';
import type * as reply from './local-reply';

const { NGHTTP2_NO_ERROR } = http2.constants;
const END_WITH_HEADERS: http2.ServerStreamResponseOptions = { endStream: true };
const WAIT_FOR_TRAILERS: http2.ServerStreamResponseOptions = { waitForTrailers: true };
const NO_TRAILERS: http2.ServerStreamResponseOptions = {};

/**
 * The Http2ActiveStream of a node:http2 stream. The event handlers below are shared by all streams
 * (node calls them with `this` = the emitting stream): no per-stream closures on the hot path.
 */
const OWNER = Symbol('weft.http2.activeStream');
type OwnedStream = http2.ServerHttp2Stream & { [OWNER]: Http2ActiveStream };
const owner = (s: http2.ServerHttp2Stream): Http2ActiveStream => (s as OwnedStream)[OWNER];

function onStreamData(this: http2.ServerHttp2Stream, chunk: Buffer): void {
  const a = owner(this);
  a.lastActivity = performance.now();
  a.onDownstreamData(chunk);
}
function onStreamEnd(this: http2.ServerHttp2Stream): void {
  owner(this).onDownstreamComplete();
}
function onStreamTrailers(this: http2.ServerHttp2Stream): void {
  owner(this).config.stats.http2.trailers.inc();
}
function onStreamDrain(this: http2.ServerHttp2Stream): void {
  const a = owner(this);
  a.lastActivity = performance.now();
  a.onDownstreamDrain();
}
function onStreamClosed(this: http2.ServerHttp2Stream): void {
  owner(this).onStreamClose();
}
function onWantTrailers(this: http2.ServerHttp2Stream): void {
  owner(this).sendTrailers();
}
/** 'close' follows with the reset code. */
function ignoreError(): void {}

/**
 * One request stream on a downstream HTTP/2 connection. The request head is translated to the
 * shared form (":authority" → host, cookies joined) and goes through the same filters and router as
 * HTTP/1.1; the response is written with node:http2's stream, whose write() reports when the
 * client's flow-control window (and our bounded send buffer) is full.
 */
export class Http2ActiveStream extends ActiveStream {
  protected readonly http2 = true;
  private trailers: HeaderMap | null = null;
  /** The response ended with its headers (HEAD, 204, 304, a local reply without body). */
  private headersEnded = false;
  private drainListening = false;
  /** performance.now() of the last read or write on the stream (stream_idle_timeout, checked by the connection). */
  lastActivity = performance.now();

  constructor(
    private readonly conn: Http2ServerConnection,
    private readonly stream: http2.ServerHttp2Stream,
    raw: readonly string[],
  ) {
    const h = readRequestHead(raw);
    const headers = h.headers;
    if (h.authority !== '') headers.set('host', h.authority);
    const extendedConnect = h.method === 'CONNECT' && h.protocol !== '';
    if (extendedConnect) headers.set('upgrade', h.protocol);
    const cl = headers.get('content-length');
    const contentLength = cl === undefined ? -1 : Number(cl);
    const endStream = stream.readableEnded || (stream as { endAfterHeaders?: boolean }).endAfterHeaders === true;
    const head: MessageHead = {
      // RFC 8441 §5: an extended CONNECT is the HTTP/2 form of an HTTP/1.1 GET with Upgrade.
      method: extendedConnect ? 'GET' : h.method,
      path: h.path === '' && h.method === 'CONNECT' ? h.authority : h.path,
      status: 0,
      reason: '',
      versionMinor: 1,
      headers,
      contentLength: Number.isInteger(contentLength) && contentLength >= 0 ? contentLength : -1,
      chunked: !endStream && !(contentLength >= 0) && !extendedConnect,
      keepAlive: true,
      upgrade: extendedConnect,
      expectContinue: headers.get('expect')?.toLowerCase() === '100-continue',
      headBytes: 0,
    };
    super(conn, head);
    this.scheme = h.scheme;
  }

  begin(): void {
    const s = this.stream;
    (s as OwnedStream)[OWNER] = this;
    s.on('data', onStreamData);
    s.on('end', onStreamEnd);
    s.on('trailers', onStreamTrailers);
    s.on('error', ignoreError);
    s.on('close', onStreamClosed);
    // 'drain' and 'wantTrailers' are listened to only when needed; stream_idle_timeout is the connection's sweep.
    this.start();
  }

  /** The whole connection went away under this stream. */
  onConnectionClosed(): void {
    this.onDownstreamReset();
  }

  /** @internal node:http2 closed the stream. */
  onStreamClose(): void {
    if (this.state === State.Done) return;
    const code = this.stream.rstCode;
    if (code !== undefined && code !== NGHTTP2_NO_ERROR && !this.conn.closing) {
      this.config.stats.http2.rx_reset.inc();
      this.info.responseCodeDetails = 'http2.remote_reset';
      this.onDownstreamReset(ResponseFlag.DownstreamRemoteReset);
      return;
    }
    this.onDownstreamReset();
  }

  protected pauseDownstream(): void {
    this.stream.pause();
  }

  protected resumeDownstream(): void {
    if (this.stream.isPaused()) this.stream.resume();
  }

  protected sendContinue(): void {
    if (!this.stream.headersSent) this.stream.additionalHeaders({ ':status': 100 });
  }

  protected writeResponseHead(head: MessageHead, status: number, headers: HeaderMap): void {
    const s = this.stream;
    if (s.destroyed || s.headersSent) return;
    let st = status;
    if (head.upgrade && this.upgrade !== undefined) {
      // The upstream switched protocols: over HTTP/2 that is a 200 to the extended CONNECT.
      st = 200;
      headers.remove('sec-websocket-accept');
    }
    const out = writeHeaders(headers, { ':status': st });
    if (head.upgrade) delete out['content-length'];
    // No body can follow: the stream ends with the headers (a gRPC trailers-only answer stays one).
    this.headersEnded = this.method === 'HEAD' || status === 204 || status === 304 || (head.contentLength === 0 && !head.upgrade);
    this.lastActivity = performance.now();
    // Trailers can only follow a chunked HTTP/1.1 body or an HTTP/2 upstream's (both marked chunked).
    const waitForTrailers = !this.headersEnded && head.chunked;
    if (waitForTrailers) s.once('wantTrailers', onWantTrailers);
    try {
      s.respond(out, this.headersEnded ? END_WITH_HEADERS : waitForTrailers ? WAIT_FOR_TRAILERS : NO_TRAILERS);
    } catch {
      // Headers HTTP/2 cannot carry (invalid names or values from upstream): a protocol error.
      this.resetStream(ResponseFlag.UpstreamProtocolError, 'upstream_reset_after_response_started{protocol_error}');
    }
  }

  encodeData(chunk: Buffer): boolean {
    if (this.state === State.Done || this.headersEnded) return true;
    this.info.bytesSent += chunk.length;
    this.lastActivity = performance.now();
    // Upstream bytes may live in a shared read buffer: what the stream keeps must be a copy.
    const ok = this.stream.write(Buffer.from(chunk));
    if (!ok && !this.drainListening) {
      this.drainListening = true;
      this.stream.on('drain', onStreamDrain);
    }
    return ok;
  }

  encodeComplete(trailers: HeaderMap | null): void {
    if (this.state === State.Done) return;
    this.info.responseTrailers = trailers;
    this.trailers = trailers;
    if (!this.headersEnded && !this.stream.destroyed) this.stream.end();
    // A request body still arriving is read and dropped (the stream stays open until it ends).
    this.resumeDownstream();
    this.complete(true);
  }

  /** @internal node:http2 asks for the trailers (the response was sent with waitForTrailers). */
  sendTrailers(): void {
    const s = this.stream;
    if (s.destroyed) return;
    const t = this.trailers;
    try {
      // Empty trailers become an empty DATA frame with END_STREAM (node:http2).
      s.sendTrailers(t === null ? {} : writeHeaders(t, {}));
    } catch {
      s.close(NGHTTP2_NO_ERROR);
    }
  }

  startTunnel(): void {
    this.state = State.Tunnel;
    const stats = this.config.stats;
    stats.downstream_cx_upgrades_total.inc();
    stats.downstream_cx_upgrades_active.inc();
    this.resumeDownstream();
  }

  tunnelDone(): void {
    if (this.state === State.Tunnel) this.config.stats.downstream_cx_upgrades_active.dec();
    if (!this.stream.destroyed) {
      if (this.stream.headersSent) this.stream.end();
      else this.stream.close(NGHTTP2_NO_ERROR);
    }
    this.complete(false);
  }

  /** Data frames of a tunnel (extended CONNECT) go straight to the router; its end half-closes upstream. */
  override onDownstreamComplete(): void {
    if (this.state === State.Tunnel) {
      this.onDownstreamTunnelEnd();
      return;
    }
    super.onDownstreamComplete();
  }

  pauseReading(): void {
    this.stream.pause();
  }

  resumeReading(): void {
    if (this.stream.isPaused() && this.heldBytes <= this.config.bufferLimitBytes) this.stream.resume();
  }

  beginBatch(): void {}
  endBatch(): void {}

  protected localReplyKeepsConnection(r: reply.LocalReply): boolean {
    return r.flag !== ResponseFlag.DownstreamProtocolError;
  }

  protected writeLocalReply(status: number, headers: HeaderMap, body: string, _keep: boolean): void {
    const s = this.stream;
    if (s.destroyed || s.headersSent) return;
    const bytes = Buffer.byteLength(body);
    const out = writeHeaders(headers, { ':status': status });
    const withBody = bytes > 0 && this.method !== 'HEAD';
    if (bytes > 0 || status !== 200 || headers.get('grpc-status') === undefined) out['content-length'] = bytes;
    s.respond(out, { endStream: !withBody });
    if (withBody) s.end(body);
    this.resumeDownstream();
  }

  protected resetDownstream(): void {
    this.config.stats.http2.tx_reset.inc();
    // Envoy resets downstream streams with NO_ERROR (REFUSED_STREAM only for refused ones).
    if (!this.stream.destroyed) this.stream.close(NGHTTP2_NO_ERROR);
  }
}
