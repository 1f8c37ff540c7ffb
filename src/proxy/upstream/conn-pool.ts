import type * as net from 'node:net';
import type { HeaderMap } from '../../lib/headers';
import { Http1Parser, ParserMode, type Http1ParseError, type MessageHead, type ParserHandler } from '../codec/http1/parser';
import { chunkHeader, encodeLastChunk, encodeRequestHead, Framing } from '../codec/http1/encoder';
import type { Http2Options } from '../codec/http2/options';
import type { Http2CodecStats } from '../codec/http2/stats';
import type { UpstreamTransport } from './transport-socket';
import { idleSweeper } from './idle-sweeper';
import { PendingQueue } from './pending-queue';

/**
 * HTTP/1.1 upstream connection pool, one per host: idle connections are reused LIFO (the warmest
 * socket first), new ones are opened up to the cluster's max_connections circuit breaker, and
 * requests beyond that wait in a bounded pending queue (max_pending_requests).
 */

/** What the pool needs from its cluster; implemented by the upstream Cluster. */
export interface PoolCluster {
  readonly name: string;
  readonly connectTimeoutMs: number;
  readonly perConnectionBufferLimitBytes: number;
  /** Idle upstream connections are closed after this long (0: never). */
  readonly upstreamIdleTimeoutMs: number;
  /** 0: unlimited. */
  readonly maxRequestsPerConnection: number;
  readonly maxResponseHeaderBytes: number;
  readonly maxResponseHeaderCount: number;
  readonly poolStats: PoolStats;
  readonly limits: PoolLimits;
  /** How connections are opened: the cluster's transport_socket (TLS) or plaintext. */
  readonly transport: UpstreamTransport;
  /** The upstream protocol from the cluster's HttpProtocolOptions. */
  readonly protocol: 'http1' | 'http2' | 'auto';
  /** explicit_http_config.http2_protocol_options (or auto_config's). */
  readonly http2Options: Http2Options;
  /** cluster.<name>.http2.* */
  readonly http2Stats: Http2CodecStats;
}

/** A host's connection pool, whatever its protocol. */
export interface ConnectionPool {
  /**
   * Asks for a stream. Calls handler.onPoolReady synchronously when one can start at once (and
   * returns null); otherwise returns the pending request, or calls onPoolFailure(Overflow).
   */
  newStream(handler: UpstreamStreamHandler): PendingRequest | null;
  drain(): void;
  close(): void;
}

/** Why an upstream stream ended before its response did (Envoy's StreamResetReason). */
export const enum ResetReason {
  ConnectionTermination,
  ProtocolError,
  /** The upstream reset the stream (HTTP/2 RST_STREAM). */
  RemoteReset,
  /** REFUSED_STREAM, or above a GOAWAY's last stream id: never processed, safe to retry. */
  RemoteRefusedStream,
}

/**
 * One request's stream towards an upstream, as the router drives it: the HTTP/1.1 connection
 * frames it on the socket, the HTTP/2 stream hands it to nghttp2.
 */
export interface UpstreamStream {
  /** Sends the request head; `endStream` when the request is complete without body. */
  sendHead(method: string, path: string, authority: string, headers: HeaderMap, chunked: boolean, contentLength: number, upgrade: string | undefined, endStream: boolean): void;
  /** Sends body bytes; false when the caller should wait for onUpstreamDrain. */
  sendBody(chunk: Buffer): boolean;
  /** Ends the request (with trailers where the protocol carries them); `complete`: not a tunnel. */
  sendEnd(trailers: HeaderMap | null, complete: boolean): void;
  /** Raw bytes of an upgraded (tunnel) exchange. */
  sendTunnelData(chunk: Buffer): boolean;
  cork(): void;
  uncork(): void;
  readonly writableLength: number;
  pauseReading(): void;
  resumeReading(): void;
  startTunnel(): void;
  /** Half-closes the write side (a tunnel's downstream ended). */
  endWrite(): void;
  /** The stream gives up mid-exchange. */
  reset(): void;
}

/** The cluster's circuit breaker counters for connections and pending requests. */
export interface PoolLimits {
  canCreateConnection(): boolean;
  canQueueRequest(): boolean;
  connectionOpened(): void;
  connectionClosed(): void;
  requestQueued(): void;
  requestDequeued(): void;
  /** Counts an overflow of max_connections / max_pending_requests. */
  connectionOverflow(): void;
  pendingOverflow(): void;
}

/** Counters the pool maintains, named after Envoy's cluster stats. */
export interface PoolStats {
  upstream_cx_total: { inc(): void };
  upstream_cx_http1_total: { inc(): void };
  upstream_cx_http2_total: { inc(): void };
  upstream_cx_active: { inc(): void; dec(): void };
  upstream_cx_connect_fail: { inc(): void };
  upstream_cx_connect_timeout: { inc(): void };
  upstream_cx_destroy: { inc(): void };
  upstream_cx_destroy_local: { inc(): void };
  upstream_cx_destroy_remote: { inc(): void };
  upstream_cx_rx_bytes_total: { add(n: number): void };
  upstream_cx_tx_bytes_total: { add(n: number): void };
  upstream_cx_max_requests: { inc(): void };
  upstream_cx_idle_timeout: { inc(): void };
  upstream_rq_pending_total: { inc(): void };
  upstream_rq_pending_active: { inc(): void; dec(): void };
  upstream_rq_cancelled: { inc(): void };
  upstream_cx_protocol_error: { inc(): void };
}

/** The host a pool connects to; per-host counters are plain fields for /clusters. */
export interface PoolHost {
  readonly address: string;
  readonly port: number;
  activeConnections: number;
  cx_total: number;
  cx_connect_fail: number;
}

export const enum PoolFailure {
  Overflow,
  ConnectionFailure,
  Timeout,
}

/** The user of one upstream exchange: the router's upstream request. */
export interface UpstreamStreamHandler {
  onPoolReady(conn: UpstreamStream): void;
  onPoolFailure(reason: PoolFailure, detail: string): void;
  onResponseHead(head: MessageHead): void;
  onResponseBody(chunk: Buffer): void;
  onResponseComplete(trailers: HeaderMap | null): void;
  /** The connection failed or closed while this exchange was on it. */
  onUpstreamReset(detail: string, reason: ResetReason): void;
  /** The upstream socket drained after a write returned false. */
  onUpstreamDrain(): void;
  /** Brackets the events of one upstream read, so the client gets them in one write. */
  beginBatch(): void;
  endBatch(): void;
  /** True when the request was HEAD: the response carries no body whatever it says. */
  readonly expectsNoBody: boolean;
}

/** A pending request's place in the queue; cancel() takes it out. */
export interface PendingRequest {
  cancel(): void;
}

const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

export class UpstreamConnection implements ParserHandler, UpstreamStream {
  readonly socket: net.Socket;
  private readonly parser: Http1Parser;
  stream: UpstreamStreamHandler | null = null;
  private requestsServed = 0;
  /** Set when this exchange's request has been fully written. */
  private requestDone = false;
  private responseDone = false;
  private responseKeepAlive = true;
  private connected = false;
  private closed = false;
  private connectTimer: NodeJS.Timeout | null = null;
  /** The current request's body goes chunked. */
  private chunked = false;
  lastUsed = 0;
  /** Whether the last write left data in the socket's buffer past the limit. */

  constructor(
    private readonly pool: Http1ConnectionPool,
    cluster: PoolCluster,
    host: PoolHost,
  ) {
    this.parser = new Http1Parser(ParserMode.Response, this, {
      maxHeaderBytes: cluster.maxResponseHeaderBytes,
      maxHeaderCount: cluster.maxResponseHeaderCount,
    });
    // Reads land in one shared buffer and are parsed before the next read: no allocation and no
    // Readable-stream machinery per read. Whatever outlives the read is copied (parser.pending,
    // bodies that cannot be written at once).
    const transport = cluster.transport;
    const socket = transport.connect({
      host: host.address,
      port: host.port,
      alpn: transport.secure ? HTTP1_ALPN : undefined,
      onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => this.onRead(n, buf) },
    });
    this.socket = socket;
    socket.on(transport.readyEvent, () => this.onConnect());

    socket.on('end', () => this.onEnd());
    socket.on('error', (e: Error) => this.onError(e));
    socket.on('close', () => this.onClose());
    socket.on('drain', () => this.stream?.onUpstreamDrain());
    if (cluster.connectTimeoutMs > 0) {
      this.connectTimer = setTimeout(() => this.onConnectTimeout(), cluster.connectTimeoutMs);
    }
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** Starts an exchange on this connection. */
  attach(stream: UpstreamStreamHandler): void {
    // The previous exchange may have paused reading for a slow client and then finished.
    if (this.socket.isPaused()) this.socket.resume();
    this.stream = stream;
    this.requestDone = false;
    this.responseDone = false;
    this.responseKeepAlive = true;
    this.requestsServed++;
    this.parser.expectNoBody(stream.expectsNoBody);
    this.parser.resume();
  }

  sendHead(method: string, path: string, authority: string, headers: HeaderMap, chunked: boolean, contentLength: number, upgrade: string | undefined): void {
    this.chunked = chunked;
    this.write(encodeRequestHead(method, path, authority, headers, chunked ? Framing.Chunked : Framing.Length, contentLength, upgrade));
  }

  sendBody(chunk: Buffer): boolean {
    if (!this.chunked) return this.write(chunk);
    const socket = this.socket;
    socket.cork();
    this.write(chunkHeader(chunk.length));
    this.write(chunk);
    const ok = this.write('\r\n');
    socket.uncork();
    return ok;
  }

  sendEnd(trailers: HeaderMap | null, complete: boolean): void {
    if (this.chunked) this.write(encodeLastChunk(trailers));
    if (complete) this.requestComplete();
  }

  sendTunnelData(chunk: Buffer): boolean {
    return this.write(chunk);
  }

  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  /** Writes request bytes; returns false when the caller should wait for onUpstreamDrain. */
  write(data: string | Buffer): boolean {
    const n = typeof data === 'string' ? data.length : data.length;
    this.pool.cluster.poolStats.upstream_cx_tx_bytes_total.add(n);
    return typeof data === 'string' ? this.socket.write(data, 'latin1') : this.socket.write(data);
  }

  get writableLength(): number {
    return this.socket.writableLength;
  }

  pauseReading(): void {
    this.socket.pause();
  }

  resumeReading(): void {
    this.socket.resume();
  }

  /** The request has been fully written. */
  requestComplete(): void {
    this.requestDone = true;
    if (this.responseDone && !this.closed) this.exchangeDone();
  }

  /** Switches to a raw byte tunnel (after a 101 response). */
  startTunnel(): void {
    this.parser.startTunnel();
  }

  /** The stream gives up on this connection mid-exchange: it cannot be reused. */
  reset(): void {
    this.stream = null;
    this.destroy(true);
  }

  /** Half-closes the write side (a tunnel's downstream ended). */
  endWrite(): void {
    this.socket.end();
  }

  destroy(local: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.parser.abort();
    if (!this.connected) {
      // Still connecting (pool closed, host removed): no 'connect' will come to settle the accounting.
      if (this.connectTimer !== null) {
        clearTimeout(this.connectTimer);
        this.connectTimer = null;
      }
      this.socket.destroy();
      this.pool.onConnectAbandoned(this);
      return;
    }
    const stats = this.pool.cluster.poolStats;
    stats.upstream_cx_destroy.inc();
    if (local) stats.upstream_cx_destroy_local.inc();
    else stats.upstream_cx_destroy_remote.inc();
    this.socket.destroy();
  }

  onMessageHead(head: MessageHead): boolean {
    this.responseKeepAlive = head.keepAlive;
    this.stream?.onResponseHead(head);
    return false;
  }

  onBody(chunk: Buffer): void {
    this.stream?.onResponseBody(chunk);
  }

  onMessageComplete(trailers: HeaderMap | null): void {
    this.responseDone = true;
    const stream = this.stream;
    // The exchange is over for the stream; whether the connection can serve another is decided
    // after this read has been fully parsed (see onData), never from inside the parser.
    this.stream = null;
    stream?.onResponseComplete(trailers);
    if (!this.requestDone) {
      // The upstream answered before the whole request was sent: the rest of the request can never
      // be framed on this connection again.
      this.destroy(true);
    }
  }

  onParseError(err: Http1ParseError): void {
    this.pool.cluster.poolStats.upstream_cx_protocol_error.inc();
    const stream = this.stream;
    this.stream = null;
    this.destroy(true);
    stream?.onUpstreamReset('protocol error: ' + err.message, ResetReason.ProtocolError);
  }

  private exchangeDone(): void {
    this.stream = null;
    if (this.parser.bufferedBytes > 0) {
      // Bytes after a complete response: the upstream broke framing. Never reuse this connection.
      this.pool.cluster.poolStats.upstream_cx_protocol_error.inc();
      this.destroy(true);
      return;
    }
    const max = this.pool.cluster.maxRequestsPerConnection;
    if (!this.responseKeepAlive || this.closed) {
      this.destroy(true);
    } else if (max > 0 && this.requestsServed >= max) {
      this.pool.cluster.poolStats.upstream_cx_max_requests.inc();
      this.destroy(true);
    } else {
      this.pool.release(this);
    }
  }

  private onConnect(): void {
    this.connected = true;
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
    this.pool.onConnected(this);
  }

  private onConnectTimeout(): void {
    this.connectTimer = null;
    if (this.connected) return;
    this.pool.cluster.poolStats.upstream_cx_connect_timeout.inc();
    this.closed = true;
    this.socket.destroy();
    this.pool.onConnectFailed(this, PoolFailure.Timeout, 'connection timeout');
  }

  private onRead(n: number, buf: Uint8Array): boolean {
    this.onData((buf as Buffer).subarray(0, n));
    return true;
  }

  private onData(data: Buffer): void {
    this.pool.cluster.poolStats.upstream_cx_rx_bytes_total.add(data.length);
    if (this.stream === null) {
      // Bytes on an idle connection: the upstream broke framing; never hand this connection out again.
      this.pool.cluster.poolStats.upstream_cx_protocol_error.inc();
      this.destroy(true);
      return;
    }
    // Everything this read produces for the client (head and body) leaves in one write.
    const stream = this.stream;
    stream.beginBatch();
    this.parser.execute(data);
    stream.endBatch();
    if (this.responseDone && this.requestDone && !this.closed) this.exchangeDone();
  }

  private onEnd(): void {
    // The upstream half-closed. A close-delimited body ends here; anything else mid-response is a reset.
    if (this.stream !== null && this.parser.isTunnel) {
      this.stream.onResponseComplete(null);
      return;
    }
    // A close-delimited body ends here (finish() completes it); otherwise onClose reports the reset.
    if (this.stream !== null) this.parser.finish();
    this.socket.end();
  }

  private onError(e: Error): void {
    if (!this.connected && !this.closed) {
      this.closed = true;
      if (this.connectTimer !== null) {
        clearTimeout(this.connectTimer);
        this.connectTimer = null;
      }
      this.pool.onConnectFailed(this, PoolFailure.ConnectionFailure, (e as NodeJS.ErrnoException).code ?? e.message);
    }
  }

  private onClose(): void {
    const wasClosed = this.closed;
    this.closed = true;
    if (this.connectTimer !== null) {
      clearTimeout(this.connectTimer);
      this.connectTimer = null;
    }
    if (!this.connected) return; // connect failure already reported
    if (!wasClosed) {
      const stats = this.pool.cluster.poolStats;
      stats.upstream_cx_destroy.inc();
      stats.upstream_cx_destroy_remote.inc();
    }
    this.pool.onClosed(this);
    const stream = this.stream;
    this.stream = null;
    if (stream !== null && !this.responseDone) stream.onUpstreamReset('connection termination', ResetReason.ConnectionTermination);
  }
}

const HTTP1_ALPN: readonly string[] = ['http/1.1'];

export class Http1ConnectionPool implements ConnectionPool {
  private readonly idle: UpstreamConnection[] = [];
  private readonly connecting = new Set<UpstreamConnection>();
  private readonly busy = new Set<UpstreamConnection>();
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
    return this.idle.length + this.connecting.size + this.busy.size;
  }

  /**
   * Asks for a connection. Calls handler.onPoolReady synchronously when an idle one is at hand
   * (and returns null); otherwise returns the pending request, or calls onPoolFailure(Overflow).
   */
  newStream(handler: UpstreamStreamHandler): PendingRequest | null {
    const conn = this.idle.pop();
    if (conn !== undefined) {
      this.busy.add(conn);
      conn.attach(handler);
      handler.onPoolReady(conn);
      return null;
    }
    const limits = this.cluster.limits;
    // Open a connection if every one being opened is already spoken for.
    if (this.connecting.size <= this.pending.length) {
      if (limits.canCreateConnection()) this.openConnection();
      else if (this.connecting.size === 0 && this.busy.size === 0) {
        limits.connectionOverflow();
        handler.onPoolFailure(PoolFailure.Overflow, 'overflow');
        return null;
      } else limits.connectionOverflow();
    }
    return this.pending.push(handler);
  }

  /** An exchange finished cleanly; the connection goes back to the idle stack or to a waiter. */
  release(conn: UpstreamConnection): void {
    this.busy.delete(conn);
    if (this.draining) {
      conn.destroy(true);
      return;
    }
    conn.lastUsed = performance.now();
    this.assignOrIdle(conn);
  }

  onConnected(conn: UpstreamConnection): void {
    this.connecting.delete(conn);
    this.assignOrIdle(conn);
  }

  onConnectAbandoned(conn: UpstreamConnection): void {
    if (this.connecting.delete(conn)) this.forget();
  }

  onConnectFailed(conn: UpstreamConnection, reason: PoolFailure, detail: string): void {
    this.connecting.delete(conn);
    this.forget();
    this.host.cx_connect_fail++;
    this.cluster.poolStats.upstream_cx_connect_fail.inc();
    // Every waiter beyond what the remaining connection attempts can serve fails with this one.
    this.pending.failBeyond(this.connecting.size + this.busy.size, reason, detail);
  }

  onClosed(conn: UpstreamConnection): void {
    const i = this.idle.indexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
    this.busy.delete(conn);
    this.connecting.delete(conn);
    this.forget();
    // A waiter may now get a fresh connection.
    if (this.pending.length > this.connecting.size && this.cluster.limits.canCreateConnection() && !this.draining) {
      this.openConnection();
    }
  }

  /** Closes idle connections now and busy ones when their exchange ends. */
  drain(): void {
    this.draining = true;
    for (const c of this.idle.splice(0)) c.destroy(true);
  }

  close(): void {
    this.drain();
    for (const c of [...this.busy, ...this.connecting]) c.destroy(true);
    this.pending.failBeyond(0, PoolFailure.ConnectionFailure, 'pool closed');
    idleSweeper.delete(this);
  }

  /** Closes connections idle for longer than the cluster's idle timeout. */
  sweepIdle(now: number): void {
    const timeout = this.cluster.upstreamIdleTimeoutMs;
    if (timeout <= 0) return;
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const c = this.idle[i];
      if (now - c.lastUsed >= timeout) {
        this.idle.splice(i, 1);
        this.cluster.poolStats.upstream_cx_idle_timeout.inc();
        c.destroy(true);
      }
    }
  }

  private assignOrIdle(conn: UpstreamConnection): void {
    const handler = this.pending.shift();
    if (handler !== undefined) {
      this.busy.add(conn);
      conn.attach(handler);
      handler.onPoolReady(conn);
    } else {
      this.idle.push(conn);
    }
  }

  private openConnection(): void {
    const conn = new UpstreamConnection(this, this.cluster, this.host);
    this.connecting.add(conn);
    this.cluster.limits.connectionOpened();
    this.host.activeConnections++;
    this.host.cx_total++;
    this.cluster.poolStats.upstream_cx_total.inc();
    this.cluster.poolStats.upstream_cx_http1_total.inc();
    this.cluster.poolStats.upstream_cx_active.inc();
  }

  /** Accounting for a connection that is gone. */
  private forget(): void {
    this.cluster.limits.connectionClosed();
    this.host.activeConnections--;
    this.cluster.poolStats.upstream_cx_active.dec();
  }
}
