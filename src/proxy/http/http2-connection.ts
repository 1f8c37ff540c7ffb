import * as http2 from 'node:http2';
import type * as net from 'node:net';
import type { HcmConfig } from './hcm-config';
import type { ActiveStream, StreamOwner } from './active-stream';
import type { ConnectionAddresses } from './forwarding';
import { Http2ActiveStream } from './http2-stream';

/**
 * The HTTP connection manager for one downstream HTTP/2 connection. Framing, HPACK, flow control
 * and the protocol's error handling are nghttp2's, through node:http2: a hand-written HTTP/2 codec
 * would have to re-implement (and re-harden) all of that, while nghttp2 is the library Envoy itself
 * used for years. Each request stream becomes an Http2ActiveStream on the shared filter/router path.
 */

export interface Http2ConnectionOwner {
  onConnectionClosed(conn: Http2ServerConnection): void;
}

/** One node:http2 server per connection-manager config: it only turns sockets into sessions. */
const servers = new WeakMap<HcmConfig, http2.Http2Server>();
/** The connection whose socket is being handed over (the 'session' event fires synchronously). */
let adopting: Http2ServerConnection | null = null;

function serverFor(config: HcmConfig): http2.Http2Server {
  let server = servers.get(config);
  if (server !== undefined) return server;
  const o = config.http2;
  server = http2.createServer({
    settings: {
      maxConcurrentStreams: o.maxConcurrentStreams,
      initialWindowSize: o.initialStreamWindowSize,
      headerTableSize: o.hpackTableSize,
      enableConnectProtocol: o.allowConnect,
      maxHeaderListSize: config.maxRequestHeaderBytes,
    },
    maxHeaderListPairs: config.maxHeadersCount + 8,
    // Unacknowledged pings, settings and queued outbound frames are bounded by nghttp2/node defaults.
  });
  server.on('session', (session: http2.ServerHttp2Session) => {
    const conn = adopting;
    adopting = null;
    if (conn === null) {
      session.destroy();
      return;
    }
    conn.attach(session);
  });
  servers.set(config, server);
  return server;
}

export class Http2ServerConnection implements StreamOwner {
  draining = false;
  private session: http2.ServerHttp2Session | null = null;
  private readonly streams = new Set<Http2ActiveStream>();
  private closed = false;
  /** The connection is going away: stream closes are connection terminations, not resets. */
  get closing(): boolean {
    return this.closed || this.session === null || this.session.destroyed;
  }
  private readonly openedAt = performance.now();
  private durationTimer: NodeJS.Timeout | null = null;
  private keepaliveTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private drainTimer: NodeJS.Timeout | null = null;
  /** One stream_idle_timeout timer for all the connection's streams (not one per stream). */
  private streamIdleTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly socket: net.Socket,
    readonly config: HcmConfig,
    readonly info: ConnectionAddresses,
    private readonly owner: Http2ConnectionOwner,
  ) {
    const stats = config.stats;
    stats.downstream_cx_total.inc();
    stats.downstream_cx_active.inc();
    stats.downstream_cx_http2_total.inc();
    stats.downstream_cx_http2_active.inc();
    socket.setNoDelay(true);
    socket.on('close', () => this.onClose());
    // The listener's sockets allow half-open (HTTP/1.1 needs it); an HTTP/2 client's FIN ends the connection.
    socket.on('end', () => this.destroy());
    adopting = this;
    serverFor(config).emit('connection', socket);
    if (adopting === this) {
      // node:http2 refused the socket (it never does for a plain or h2 socket): do not leak it.
      adopting = null;
      socket.destroy();
    }
  }

  attach(session: http2.ServerHttp2Session): void {
    this.session = session;
    const config = this.config;
    const o = config.http2;
    if (o.initialConnectionWindowSize > 65535) {
      // The window can only be set on a session that is up; one still connecting would throw.
      const size = o.initialConnectionWindowSize;
      if (session.connecting) session.once('connect', () => session.setLocalWindowSize(size));
      else session.setLocalWindowSize(size);
    }
    session.on('stream', (stream: http2.ServerHttp2Stream, _h: http2.IncomingHttpHeaders, _f: number, raw: string[]) => this.onStream(stream, raw));
    session.on('error', (e: NodeJS.ErrnoException) => this.onSessionError(e));
    session.on('frameError', () => config.stats.http2.rx_messaging_error.inc());
    session.on('close', () => this.socket.destroy());
    if (config.idleTimeoutMs > 0) session.setTimeout(config.idleTimeoutMs, () => this.onIdle());
    if (config.maxConnectionDurationMs > 0) {
      this.durationTimer = setTimeout(() => {
        this.durationTimer = null;
        config.stats.downstream_cx_max_duration_reached.inc();
        this.drain();
      }, config.maxConnectionDurationMs);
    }
    if (o.keepaliveIntervalMs > 0) this.keepaliveTimer = setInterval(() => this.sendPing(), o.keepaliveIntervalMs);
  }

  get hasActiveStream(): boolean {
    return this.streams.size > 0;
  }

  /** Graceful close: GOAWAY now; the connection ends when its streams have (or after drain_timeout). */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    const session = this.session;
    if (session === null || session.closed || session.destroyed) return;
    this.config.stats.http2.goaway_sent.inc();
    session.close();
    const ms = this.config.drainTimeoutMs;
    if (ms > 0 && this.streams.size > 0) this.drainTimer = setTimeout(() => this.destroy(), ms);
  }

  destroy(): void {
    if (this.session !== null && !this.session.destroyed) this.session.destroy();
    this.socket.destroy();
  }

  streamDone(stream: ActiveStream): void {
    this.streams.delete(stream as Http2ActiveStream);
    this.config.stats.http2.streams_active.dec();
    if (this.draining && this.streams.size === 0 && this.session !== null && !this.session.closed) this.session.close();
  }

  private onStream(stream: http2.ServerHttp2Stream, raw: string[]): void {
    if (this.closed) {
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    const s = new Http2ActiveStream(this, stream, raw);
    this.streams.add(s);
    this.config.stats.http2.streams_active.inc();
    const idle = this.config.streamIdleTimeoutMs;
    if (idle > 0 && this.streamIdleTimer === null) this.streamIdleTimer = setTimeout(onStreamIdleCheck, idle, this);
    s.begin();
  }

  /** @internal Times out the streams idle for stream_idle_timeout; re-arms for the next one due. */
  checkStreamIdle(): void {
    this.streamIdleTimer = null;
    if (this.closed) return;
    const idle = this.config.streamIdleTimeoutMs;
    const now = performance.now();
    let expired: Http2ActiveStream[] | null = null;
    let next = Infinity;
    for (const s of this.streams) {
      const due = s.lastActivity + idle;
      // Timers may fire up to a millisecond early relative to performance.now().
      if (due <= now + 1) (expired ??= []).push(s);
      else if (due < next) next = due;
    }
    if (expired !== null) {
      for (const s of expired) {
        s.onStreamIdleTimeout();
        // A stream the timeout leaves open (a tunnel) gets a new period rather than a busy loop.
        s.lastActivity = now;
        if (this.streams.has(s) && now + idle < next) next = now + idle;
      }
    }
    if (next !== Infinity && !this.closed) this.streamIdleTimer = setTimeout(onStreamIdleCheck, Math.max(1, Math.ceil(next - now)), this);
  }

  private onSessionError(e: NodeJS.ErrnoException): void {
    // A connection-level protocol error: nghttp2 already sent GOAWAY; 'close' does the accounting.
    const stats = this.config.stats;
    stats.downstream_cx_protocol_error.inc();
    if (e.code !== 'ERR_HTTP2_SESSION_ERROR') stats.http2.rx_messaging_error.inc();
  }

  private onIdle(): void {
    if (this.streams.size > 0) return;
    this.config.stats.downstream_cx_idle_timeout.inc();
    this.config.stats.downstream_cx_destroy_local.inc();
    // Closed outright: nghttp2 may already have ended the session on a peer's protocol error (it
    // sends GOAWAY and stops reading without node:http2 telling us), and then a graceful close never ends.
    this.destroy();
  }

  private sendPing(): void {
    const session = this.session;
    if (session === null || session.destroyed || this.pingTimer !== null) return;
    this.pingTimer = setTimeout(() => {
      this.pingTimer = null;
      this.config.stats.http2.keepalive_timeout.inc();
      this.destroy();
    }, this.config.http2.keepaliveTimeoutMs);
    session.ping((err) => {
      if (this.pingTimer !== null) clearTimeout(this.pingTimer);
      this.pingTimer = null;
      if (err !== null) this.destroy();
    });
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of [this.durationTimer, this.pingTimer, this.drainTimer, this.streamIdleTimer]) if (t !== null) clearTimeout(t);
    if (this.keepaliveTimer !== null) clearInterval(this.keepaliveTimer);
    const stats = this.config.stats;
    stats.downstream_cx_active.dec();
    stats.downstream_cx_http2_active.dec();
    stats.downstream_cx_destroy.inc();
    stats.downstream_cx_length_ms.record(performance.now() - this.openedAt);
    stats.downstream_cx_rx_bytes_total.add(this.socket.bytesRead);
    stats.downstream_cx_tx_bytes_total.add(this.socket.bytesWritten);
    if (this.streams.size > 0) {
      stats.downstream_cx_destroy_active_rq.inc();
      stats.downstream_cx_destroy_remote_active_rq.inc();
      stats.downstream_cx_destroy_remote.inc();
      for (const s of [...this.streams]) s.onConnectionClosed();
    }
    if (this.session !== null && !this.session.destroyed) this.session.destroy();
    this.owner.onConnectionClosed(this);
  }
}

function onStreamIdleCheck(conn: Http2ServerConnection): void {
  conn.checkStreamIdle();
}
