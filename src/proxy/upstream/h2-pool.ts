import * as http2 from 'node:http2';
import type * as net from 'node:net';
import { HeaderMap } from '../../lib/headers';
import type { MessageHead } from '../codec/http1/parser';
import { readResponseHeaders, writeHeaders } from '../codec/http2/headers';
import {
  PoolFailure,
  ResetReason,
  type ConnectionPool,
  type PendingRequest,
  type PoolCluster,
  type PoolHost,
  type UpstreamStream,
  type UpstreamStreamHandler,
} from './conn-pool';
import { idleSweeper } from './idle-sweeper';
import { PendingQueue } from './pending-queue';

/**
 * HTTP/2 upstream connection pool, one per host: every connection multiplexes up to
 * min(our max_concurrent_streams, the peer's SETTINGS_MAX_CONCURRENT_STREAMS) streams; a new
 * connection is opened (within max_connections) only when all are full, and requests beyond
 * that wait in the bounded pending queue (max_pending_requests). A GOAWAY drains its connection:
 * streams it accepted finish there, new ones go elsewhere, and streams above its last-stream-id
 * are reset as refused (retried by the router under retry_on refused-stream, as in Envoy).
 */

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, HTTP2_HEADER_STATUS } = http2.constants;
/** Streams a connection may carry before the peer's SETTINGS arrive (RFC 9113 recommends ≥ 100). */
const STREAMS_BEFORE_SETTINGS = 100;
const H2_ALPN: readonly string[] = ['h2'];
const END_STREAM = 0x1;
const END_REQUEST: http2.ClientSessionRequestOptions = { endStream: true };
const OPEN_REQUEST: http2.ClientSessionRequestOptions = { endStream: false };

/** One HTTP/2 connection to the host. */
export class Http2Client {
  readonly session: http2.ClientHttp2Session;
  active = 0;
  served = 0;
  connected = false;
  /** No new streams: GOAWAY received, max_requests_per_connection reached, or the pool drains. */
  draining = false;
  closed = false;
  lastUsed = performance.now();
  private connectTimer: NodeJS.Timeout | null = null;

  /** close()/destroy() came from us (for upstream_cx_destroy_local vs _remote). */
  private closedLocally = false;

  constructor(
    readonly pool: Http2ConnectionPool,
    socket?: net.Socket,
  ) {
    const cluster = pool.cluster;
    const o = cluster.http2Options;
    const transport = cluster.transport;
    const host = pool.host;
    const sock = socket ?? transport.connect({ host: host.address, port: host.port, alpn: transport.secure ? H2_ALPN : undefined });
    const authority = `${transport.secure ? 'https' : 'http'}://${host.address}:${host.port}`;
    this.session = http2.connect(authority, {
      createConnection: () => sock,
      settings: {
        enablePush: false,
        initialWindowSize: o.initialStreamWindowSize,
        headerTableSize: o.hpackTableSize,
        maxHeaderListSize: cluster.maxResponseHeaderBytes,
      },
      maxHeaderListPairs: cluster.maxResponseHeaderCount + 8,
    });
    const session = this.session;
    session.on('connect', () => this.onConnect());
    session.on('remoteSettings', () => pool.onCapacity(this));
    session.on('goaway', () => this.onGoaway());
    session.on('error', (e: NodeJS.ErrnoException) => this.onError(e));
    session.on('frameError', () => cluster.http2Stats.rx_messaging_error.inc());
    session.on('close', () => this.onClose());
    if (socket !== undefined && !socket.connecting) queueMicrotask(() => this.onConnect());
    else if (cluster.connectTimeoutMs > 0) this.connectTimer = setTimeout(() => this.onConnectTimeout(), cluster.connectTimeoutMs);
  }

  /** Streams this connection can take now. */
  get capacity(): number {
    if (!this.connected || this.draining || this.closed) return 0;
    const peer = this.session.remoteSettings.maxConcurrentStreams ?? STREAMS_BEFORE_SETTINGS;
    const limit = Math.min(peer, this.pool.cluster.http2Options.maxConcurrentStreams);
    return limit - this.active;
  }

  /** Streams this connection will take once connected (for deciding whether to open another). */
  get expectedCapacity(): number {
    if (this.draining || this.closed) return 0;
    if (this.connected) return this.capacity;
    return Math.min(STREAMS_BEFORE_SETTINGS, this.pool.cluster.http2Options.maxConcurrentStreams) - this.active;
  }

  startStream(handler: UpstreamStreamHandler): void {
    this.active++;
    this.served++;
    const max = this.pool.cluster.maxRequestsPerConnection;
    if (max > 0 && this.served >= max && !this.draining) {
      this.pool.cluster.poolStats.upstream_cx_max_requests.inc();
      this.draining = true;
    }
    this.pool.cluster.http2Stats.streams_active.inc();
    const s = new Http2UpstreamStream(this, handler);
    handler.onPoolReady(s);
  }

  streamDone(): void {
    this.active--;
    this.lastUsed = performance.now();
    this.pool.cluster.http2Stats.streams_active.dec();
    if (this.draining && this.active === 0) this.close();
    else this.pool.onCapacity(this);
  }

  close(): void {
    if (this.closed) return;
    this.closedLocally = true;
    if (!this.session.closed) this.session.close();
    if (!this.connected) this.session.destroy();
  }

  destroy(): void {
    this.closedLocally = true;
    if (!this.session.destroyed) this.session.destroy();
  }

  private onConnect(): void {
    if (this.connected || this.closed) return;
    this.connected = true;
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
    const o = this.pool.cluster.http2Options;
    if (o.initialConnectionWindowSize > 65535) this.session.setLocalWindowSize(o.initialConnectionWindowSize);
    this.pool.onConnected(this);
  }

  private onConnectTimeout(): void {
    this.connectTimer = null;
    if (this.connected || this.closed) return;
    this.pool.cluster.poolStats.upstream_cx_connect_timeout.inc();
    this.closed = true;
    this.session.destroy();
    this.pool.onConnectFailed(this, PoolFailure.Timeout, 'connection timeout');
  }

  private onGoaway(): void {
    this.draining = true;
    this.pool.onDraining(this);
  }

  private onError(e: NodeJS.ErrnoException): void {
    if (e.code === 'ERR_HTTP2_ERROR' || e.code === 'ERR_HTTP2_SESSION_ERROR') this.pool.cluster.poolStats.upstream_cx_protocol_error.inc();
    if (!this.connected && !this.closed) {
      this.closed = true;
      if (this.connectTimer !== null) clearTimeout(this.connectTimer);
      this.connectTimer = null;
      const errno = (e as { cause?: NodeJS.ErrnoException }).cause?.code ?? e.code ?? e.message;
      this.pool.onConnectFailed(this, PoolFailure.ConnectionFailure, errno);
    }
  }

  private onClose(): void {
    const wasConnected = this.connected;
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    if (this.closed && !wasConnected) return; // connect failure already reported
    this.closed = true;
    if (!wasConnected) {
      this.pool.onConnectFailed(this, PoolFailure.ConnectionFailure, 'connection closed');
      return;
    }
    const stats = this.pool.cluster.poolStats;
    stats.upstream_cx_destroy.inc();
    if (this.closedLocally) stats.upstream_cx_destroy_local.inc();
    else stats.upstream_cx_destroy_remote.inc();
    this.pool.onClosed(this);
  }
}

/**
 * The Http2UpstreamStream of a node:http2 client stream. The handlers below are shared by all
 * streams (node calls them with `this` = the emitting stream): no per-stream closures.
 */
const OWNER = Symbol('weft.http2.upstreamStream');
type OwnedStream = http2.ClientHttp2Stream & { [OWNER]: Http2UpstreamStream };
const owner = (s: http2.ClientHttp2Stream): Http2UpstreamStream => (s as OwnedStream)[OWNER];

function onStreamResponse(this: http2.ClientHttp2Stream, h: http2.IncomingHttpHeaders, flags: number, raw: string[]): void {
  owner(this).onResponse(h, flags, raw);
}
function onStreamData(this: http2.ClientHttp2Stream, chunk: Buffer): void {
  owner(this).handler.onResponseBody(chunk);
}
function onStreamTrailers(this: http2.ClientHttp2Stream, _h: http2.IncomingHttpHeaders, _f: number, raw: string[]): void {
  owner(this).onTrailers(raw);
}
function onStreamEnd(this: http2.ClientHttp2Stream): void {
  owner(this).onEnd();
}
function onStreamDrain(this: http2.ClientHttp2Stream): void {
  owner(this).handler.onUpstreamDrain();
}
function onStreamClose(this: http2.ClientHttp2Stream): void {
  owner(this).onClose();
}

class CorkedStreams {
  private readonly streams: Http2UpstreamStream[] = [];
  private readonly flushBound = (): void => this.flush();
  add(s: Http2UpstreamStream): void {
    if (this.streams.push(s) === 1) setImmediate(this.flushBound);
  }
  private flush(): void {
    const list = this.streams;
    // Uncorking cannot add streams (only sendBody does), but a handler may: take the batch first.
    const batch = list.splice(0, list.length);
    for (let i = 0; i < batch.length; i++) batch[i].uncork();
  }
}

/** Streams whose request body writes wait for the end of this event-loop turn (at most one entry per stream). */
const corked = new CorkedStreams();

/** One request stream on an upstream HTTP/2 connection. */
class Http2UpstreamStream implements UpstreamStream {
  private stream: http2.ClientHttp2Stream | null = null;
  private trailers: HeaderMap | null = null;
  private requestEnded = false;
  private responseEnded = false;
  private done = false;
  private drainListening = false;
  /** Request body writes are held (stream corked) until the end of this event-loop turn. */
  private corked = false;

  constructor(
    private readonly client: Http2Client,
    readonly handler: UpstreamStreamHandler,
  ) {}

  sendHead(method: string, path: string, authority: string, headers: HeaderMap, _chunked: boolean, contentLength: number, upgrade: string | undefined, endStream: boolean): void {
    const session = this.client.session;
    const secure = this.client.pool.cluster.transport?.secure === true;
    const out: http2.OutgoingHttpHeaders =
      method === 'CONNECT' && upgrade === undefined
        ? { ':method': method, ':authority': authority }
        : upgrade !== undefined
          ? { ':method': 'CONNECT', ':protocol': upgrade, ':scheme': secure ? 'https' : 'http', ':path': path, ':authority': authority }
          : { ':method': method, ':scheme': secure ? 'https' : 'http', ':path': path, ':authority': authority };
    writeHeaders(headers, out);
    if (contentLength >= 0 && upgrade === undefined) out['content-length'] = contentLength;
    let stream: http2.ClientHttp2Stream;
    try {
      // Request trailers are not relayed (the connection manager does not pass them on for either
      // codec yet), so the request's last DATA frame carries END_STREAM.
      stream = session.request(out, endStream ? END_REQUEST : OPEN_REQUEST);
    } catch (e) {
      // The session went away between the pool's choice and now, or a header HTTP/2 cannot carry.
      this.finish();
      const code = (e as NodeJS.ErrnoException).code;
      queueMicrotask(() =>
        this.handler.onUpstreamReset(
          code === 'ERR_HTTP2_INVALID_HEADER_VALUE' || code === 'ERR_HTTP2_INVALID_CONNECTION_HEADERS' ? 'protocol error' : 'connection termination',
          code === 'ERR_HTTP2_INVALID_HEADER_VALUE' || code === 'ERR_HTTP2_INVALID_CONNECTION_HEADERS' ? ResetReason.ProtocolError : ResetReason.RemoteRefusedStream,
        ),
      );
      return;
    }
    this.stream = stream;
    this.requestEnded = endStream;
    (stream as OwnedStream)[OWNER] = this;
    stream.on('response', onStreamResponse);
    stream.on('data', onStreamData);
    stream.on('trailers', onStreamTrailers);
    stream.on('end', onStreamEnd);
    stream.on('error', noop); // 'close' follows with the reset code
    stream.on('close', onStreamClose);
    // 'drain' is listened to once a write has found the stream's buffer full.
  }

  sendBody(chunk: Buffer): boolean {
    const s = this.stream;
    if (s === null || s.destroyed) return true;
    if (!this.corked) {
      // Held until this event-loop turn's I/O is handled: a request end read in the same turn then
      // rides on the last DATA frame (END_STREAM) instead of costing an empty frame and a write.
      this.corked = true;
      s.cork();
      corked.add(this);
    }
    return this.write(s, chunk);
  }

  /** @internal The corked writes go out (or already went with end()). */
  uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    const s = this.stream;
    if (s !== null && !s.destroyed) s.uncork();
  }

  private write(s: http2.ClientHttp2Stream, chunk: Buffer): boolean {
    // The chunk may be a view into a socket read buffer: nghttp2 may hold it until the window opens.
    const ok = s.write(Buffer.from(chunk));
    if (!ok && !this.drainListening) {
      this.drainListening = true;
      s.on('drain', onStreamDrain);
    }
    return ok;
  }

  sendEnd(_trailers: HeaderMap | null, _complete: boolean): void {
    const s = this.stream;
    if (s === null || this.requestEnded) return;
    this.requestEnded = true;
    // end() also sends what is corked.
    this.corked = false;
    if (!s.destroyed) s.end();
  }

  sendTunnelData(chunk: Buffer): boolean {
    const s = this.stream;
    if (s === null || s.destroyed) return true;
    return this.write(s, chunk);
  }

  cork(): void {}

  get writableLength(): number {
    return this.stream?.writableLength ?? 0;
  }

  pauseReading(): void {
    this.stream?.pause();
  }

  resumeReading(): void {
    const s = this.stream;
    if (s !== null && s.isPaused()) s.resume();
  }

  startTunnel(): void {}

  endWrite(): void {
    this.sendEnd(null, false);
  }

  reset(): void {
    if (this.done) return;
    const s = this.stream;
    this.finish();
    if (s !== null && !s.destroyed) {
      this.client.pool.cluster.http2Stats.tx_reset.inc();
      s.close(NGHTTP2_CANCEL);
    }
  }

  /** @internal */
  onResponse(h: http2.IncomingHttpHeaders, flags: number, raw: string[]): void {
    if (this.done) return;
    const headers = new HeaderMap();
    const status = readResponseHeaders(raw, headers);
    const cl = headers.get('content-length');
    const head: MessageHead = {
      method: '',
      path: '',
      status: status || Number(h[HTTP2_HEADER_STATUS]),
      reason: '',
      versionMinor: 1,
      headers,
      // END_STREAM on the headers (e.g. a gRPC trailers-only response): no body, and the
      // downstream HTTP/2 codec must end the stream with these headers too.
      contentLength: (flags & END_STREAM) !== 0 ? 0 : cl === undefined ? -1 : Number(cl),
      // As for a chunked HTTP/1.1 body: trailers may follow.
      chunked: (flags & END_STREAM) === 0,
      keepAlive: true,
      upgrade: false,
      expectContinue: false,
      headBytes: 0,
    };
    this.handler.onResponseHead(head);
  }

  /** @internal */
  onTrailers(raw: string[]): void {
    const t = new HeaderMap();
    readResponseHeaders(raw, t);
    this.trailers = t;
    this.client.pool.cluster.http2Stats.trailers.inc();
  }

  /** @internal */
  onEnd(): void {
    if (this.done) return;
    this.responseEnded = true;
    const t = this.trailers;
    if (!this.requestEnded) {
      // The response is complete before the request: the rest of the request is not wanted.
      this.finish();
      this.stream?.close(http2.constants.NGHTTP2_NO_ERROR);
      this.handler.onResponseComplete(t);
      return;
    }
    this.finish();
    this.handler.onResponseComplete(t);
  }

  /** @internal */
  onClose(): void {
    if (this.done) return;
    const s = this.stream!;
    const code = s.rstCode;
    this.finish();
    if (this.responseEnded) return;
    const session = this.client.session;
    if (code === NGHTTP2_REFUSED_STREAM) {
      this.client.pool.cluster.http2Stats.rx_reset.inc();
      this.handler.onUpstreamReset('remote refused stream reset', ResetReason.RemoteRefusedStream);
    } else if (session.destroyed || session.closed) {
      this.handler.onUpstreamReset('connection termination', ResetReason.ConnectionTermination);
    } else {
      this.client.pool.cluster.http2Stats.rx_reset.inc();
      this.handler.onUpstreamReset('remote reset', code === http2.constants.NGHTTP2_PROTOCOL_ERROR ? ResetReason.ProtocolError : ResetReason.RemoteReset);
    }
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.client.streamDone();
  }
}

export class Http2ConnectionPool implements ConnectionPool {
  private readonly clients: Http2Client[] = [];
  private readonly pending: PendingQueue;
  private draining = false;

  constructor(
    readonly cluster: PoolCluster,
    readonly host: PoolHost,
  ) {
    this.pending = new PendingQueue(cluster);
    idleSweeper.add(this);
  }

  get activeConnections(): number {
    return this.clients.length;
  }

  newStream(handler: UpstreamStreamHandler): PendingRequest | null {
    const clients = this.clients;
    for (let i = 0; i < clients.length; i++) {
      const c = clients[i];
      if (c.capacity > 0) {
        c.startStream(handler);
        return null;
      }
    }
    const limits = this.cluster.limits;
    let expected = 0;
    for (const c of clients) if (!c.connected) expected += c.expectedCapacity;
    if (expected <= this.pending.length) {
      if (limits.canCreateConnection()) this.openConnection();
      else {
        limits.connectionOverflow();
        if (clients.length === 0) {
          handler.onPoolFailure(PoolFailure.Overflow, 'overflow');
          return null;
        }
      }
    }
    return this.pending.push(handler);
  }

  /** Takes over a connection whose TLS handshake already chose h2 (auto_config). */
  adopt(socket: net.Socket): void {
    this.track(new Http2Client(this, socket));
  }

  onConnected(c: Http2Client): void {
    if (this.draining) c.draining = true;
    this.onCapacity(c);
  }

  /** A stream slot opened on `c` (connected, a stream ended, or the peer raised its limit). */
  onCapacity(c: Http2Client): void {
    while (this.pending.length > 0 && c.capacity > 0) c.startStream(this.pending.shift()!);
  }

  /** `c` takes no new streams (GOAWAY): waiters may need a fresh connection. */
  onDraining(c: Http2Client): void {
    void c;
    this.openForWaiters();
  }

  onConnectFailed(c: Http2Client, reason: PoolFailure, detail: string): void {
    this.forget(c);
    this.host.cx_connect_fail++;
    this.cluster.poolStats.upstream_cx_connect_fail.inc();
    let room = 0;
    for (const o of this.clients) room += o.expectedCapacity;
    this.pending.failBeyond(room, reason, detail);
  }

  onClosed(c: Http2Client): void {
    this.forget(c);
    this.openForWaiters();
  }

  drain(): void {
    this.draining = true;
    for (const c of [...this.clients]) {
      c.draining = true;
      if (c.active === 0) c.close();
    }
  }

  close(): void {
    this.drain();
    for (const c of [...this.clients]) c.destroy();
    this.pending.failBeyond(0, PoolFailure.ConnectionFailure, 'pool closed');
    idleSweeper.delete(this);
  }

  sweepIdle(now: number): void {
    const timeout = this.cluster.upstreamIdleTimeoutMs;
    if (timeout <= 0) return;
    for (const c of [...this.clients]) {
      if (c.connected && c.active === 0 && now - c.lastUsed >= timeout) {
        this.cluster.poolStats.upstream_cx_idle_timeout.inc();
        c.draining = true;
        c.close();
      }
    }
  }

  private openForWaiters(): void {
    if (this.draining || this.pending.length === 0) return;
    let room = 0;
    for (const o of this.clients) room += o.expectedCapacity;
    if (room < this.pending.length && this.cluster.limits.canCreateConnection()) this.openConnection();
  }

  private openConnection(): void {
    this.track(new Http2Client(this));
  }

  private track(c: Http2Client): void {
    this.clients.push(c);
    this.cluster.limits.connectionOpened();
    this.host.activeConnections++;
    this.host.cx_total++;
    const stats = this.cluster.poolStats;
    stats.upstream_cx_total.inc();
    stats.upstream_cx_http2_total.inc();
    stats.upstream_cx_active.inc();
  }

  private forget(c: Http2Client): void {
    const i = this.clients.indexOf(c);
    if (i === -1) return;
    this.clients.splice(i, 1);
    this.cluster.limits.connectionClosed();
    this.host.activeConnections--;
    this.cluster.poolStats.upstream_cx_active.dec();
  }
}

function noop(): void {}
