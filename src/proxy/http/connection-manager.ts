import type * as net from 'node:net';
import { HeaderMap } from '../../lib/headers';
import { Http1Parser, ParserMode, type Http1ParseError, type MessageHead, type ParserHandler } from '../codec/http1/parser';
import { encodeResponseHead, Framing } from '../codec/http1/encoder';
import { StreamInfo } from '../stream-info';
import type { ActiveStream, StreamConnection } from './active-stream';
import { Http1ActiveStream } from './http1-stream';
import { fillConnectionInfo, logStream, type ConnectionAddresses } from './forwarding';
import type { HcmConfig } from './hcm-config';
import * as reply from './local-reply';

/**
 * The HTTP connection manager for one downstream HTTP/1.1 connection: it parses requests, routes
 * each to a cluster and host, relays it through a pooled upstream connection, and writes the
 * response back. Pipelined requests are served one after another, as HTTP/1.1 requires.
 */

/** Where a downstream connection came from; filled once by the listener. */
export type DownstreamConnectionInfo = ConnectionAddresses;

/** Lets the listener track connections for draining and limits. */
export interface ConnectionOwner {
  onConnectionClosed(conn: Http1ServerConnection): void;
}


export class Http1ServerConnection implements ParserHandler, StreamConnection {
  private readonly parser: Http1Parser;
  private stream: Http1ActiveStream | null = null;
  private closed = false;
  /** The next response closes the connection (drain, shutdown, or a protocol error). */
  draining = false;
  private idleSince = performance.now();
  private readonly timeoutMs: number;
  private readonly openedAt = performance.now();
  private durationTimer: NodeJS.Timeout | null = null;
  private headersTimer: NodeJS.Timeout | null = null;
  private closing = false;
  /** The socket timer currently runs at stream_idle_timeout for a long-idle stream. */
  private streamTimerExtended = false;
  private closeTimer: NodeJS.Timeout | null = null;
  private drainTimer: NodeJS.Timeout | null = null;
  /** A stream waits for this connection's socket to drain before reading more from upstream. */
  private waitingForDrain = false;

  constructor(
    readonly socket: net.Socket,
    readonly config: HcmConfig,
    readonly info: DownstreamConnectionInfo,
    private readonly owner: ConnectionOwner,
  ) {
    this.parser = new Http1Parser(ParserMode.Request, this, {
      maxHeaderBytes: config.maxRequestHeaderBytes,
      maxHeaderCount: config.maxHeadersCount,
    });
    const stats = config.stats;
    stats.downstream_cx_total.inc();
    stats.downstream_cx_active.inc();
    stats.downstream_cx_http1_total.inc();
    stats.downstream_cx_http1_active.inc();
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('end', () => this.onEnd());
    socket.on('error', () => this.onSocketError());
    socket.on('close', () => this.onClose());
    socket.on('drain', () => this.onDrain());
    socket.on('timeout', () => this.onTimeout());
    // One socket timer serves both idle_timeout and stream_idle_timeout: it fires after the shorter
    // of the two with no socket activity, and onTimeout works out which one has expired.
    const idle = config.idleTimeoutMs;
    const streamIdle = config.streamIdleTimeoutMs;
    this.timeoutMs = idle > 0 && streamIdle > 0 ? Math.min(idle, streamIdle) : idle || streamIdle;
    if (this.timeoutMs > 0) socket.setTimeout(this.timeoutMs);
    if (config.maxConnectionDurationMs > 0) {
      this.durationTimer = setTimeout(() => this.onMaxDuration(), config.maxConnectionDurationMs);
    }
    if (config.requestHeadersTimeoutMs > 0) this.armHeadersTimer();
  }

  get hasActiveStream(): boolean {
    return this.stream !== null;
  }

  /** Graceful close: an idle connection closes now, a busy one after its current response. */
  drain(): void {
    if (this.draining && this.drainTimer !== null) return;
    this.draining = true;
    if (this.stream === null) {
      this.close(true);
      return;
    }
    // The response in flight gets drain_timeout to finish; then the connection goes anyway.
    const ms = this.config.drainTimeoutMs;
    if (ms > 0 && this.drainTimer === null) this.drainTimer = setTimeout(() => this.socket.destroy(), ms);
  }

  destroy(): void {
    this.socket.destroy();
  }

  close(local: boolean): void {
    if (this.closed || this.closing) return;
    this.closing = true;
    if (local) this.config.stats.downstream_cx_destroy_local.inc();
    this.socket.end();
    // A client that stops reading would keep the socket (and what is buffered for it) forever:
    // Envoy's delayed_close_timeout bounds the wait for the flush.
    const ms = this.config.delayedCloseTimeoutMs;
    if (ms > 0) this.closeTimer = setTimeout(() => this.socket.destroy(), ms);
    else this.socket.destroy();
  }

  /** Counts bytes written to the client and reports whether the socket's buffer has room. */
  write(data: string | Buffer): boolean {
    this.config.stats.downstream_cx_tx_bytes_total.add(data.length);
    return typeof data === 'string' ? this.socket.write(data, 'latin1') : this.socket.write(data);
  }

  /** Asks to be told (via the stream's onDownstreamDrain) when the socket's buffer has drained. */
  waitForDrain(): void {
    this.waitingForDrain = true;
  }

  // --- parser events ---

  onMessageHead(head: MessageHead): void {
    if (this.headersTimer !== null) {
      clearTimeout(this.headersTimer);
      this.headersTimer = null;
    }
    const stream = new Http1ActiveStream(this, head);
    this.stream = stream;
    stream.start();
  }

  onBody(chunk: Buffer): void {
    this.stream?.onDownstreamData(chunk);
  }

  onMessageComplete(): void {
    const stream = this.stream;
    if (stream !== null) {
      stream.onDownstreamComplete();
      return;
    }
    // The stream answered before its request was fully read (a local reply): now that the request
    // has ended, the next pipelined one may start.
    if (!this.draining && !this.closed) this.parser.resume();
  }

  onParseError(err: Http1ParseError): void {
    const stats = this.config.stats;
    stats.downstream_cx_protocol_error.inc();
    if (err.status === 431) stats.downstream_rq_too_large.inc();
    this.draining = true;
    const stream = this.stream;
    if (stream !== null) {
      stream.onDownstreamProtocolError(err);
      return;
    }
    // The head itself was bad: answer without a stream, as Envoy does, and close.
    const info = new StreamInfo();
    info.startMono = performance.now();
    fillConnectionInfo(info, this.info);
    info.protocol = 'HTTP/1.1';
    const r = reply.protocolError(err.status, err.details);
    stats.downstream_rq_total.inc();
    stats.recordResponseClass(r.status);
    sendLocalReplyRaw(this, info, r, 1, false);
    logStream(this.config, info);
    // The reply says "connection: close": flush it and close.
    this.close(true);
  }

  // --- socket events ---

  private onData(data: Buffer): void {
    this.config.stats.downstream_cx_rx_bytes_total.add(data.length);
    this.parser.execute(data);
    // Pipelined requests wait in the parser; never let them pile up without bound.
    if (this.parser.bufferedBytes > this.config.bufferLimitBytes) this.socket.pause();
  }

  private onEnd(): void {
    const stream = this.stream;
    if (stream !== null) {
      if (stream.isTunnel) {
        stream.onDownstreamTunnelEnd();
        return;
      }
    }
    // As in Envoy (half-close is not enabled for HTTP), a client's FIN is a disconnect: closing
    // our side too makes 'close' fire, which resets an active stream (DC) and aborts its upstream.
    this.socket.end();
  }

  private onSocketError(): void {
    // 'close' follows and does the accounting.
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.parser.abort();
    if (this.closeTimer !== null) clearTimeout(this.closeTimer);
    if (this.drainTimer !== null) clearTimeout(this.drainTimer);
    if (this.durationTimer !== null) clearTimeout(this.durationTimer);
    if (this.headersTimer !== null) clearTimeout(this.headersTimer);
    const stats = this.config.stats;
    stats.downstream_cx_active.dec();
    stats.downstream_cx_http1_active.dec();
    stats.downstream_cx_destroy.inc();
    stats.downstream_cx_length_ms.record(performance.now() - this.openedAt);
    const stream = this.stream;
    if (stream !== null) {
      stats.downstream_cx_destroy_active_rq.inc();
      stats.downstream_cx_destroy_remote_active_rq.inc();
      stats.downstream_cx_destroy_remote.inc();
      this.stream = null;
      stream.onDownstreamReset();
    }
    this.owner.onConnectionClosed(this);
  }

  private onDrain(): void {
    if (this.waitingForDrain) {
      this.waitingForDrain = false;
      this.stream?.onDownstreamDrain();
    }
  }

  private onTimeout(): void {
    const now = performance.now();
    const stream = this.stream;
    if (stream !== null) {
      const streamIdle = this.config.streamIdleTimeoutMs;
      if (streamIdle > 0 && (streamIdle <= this.timeoutMs || this.streamTimerExtended)) {
        stream.onStreamIdleTimeout();
        return;
      }
      if (streamIdle > 0) {
        // The shared timer ran at the shorter idle_timeout: give the stream its own full period.
        this.streamTimerExtended = true;
        this.socket.setTimeout(streamIdle);
        return;
      }
    } else if (this.config.idleTimeoutMs > 0 && now - this.idleSince >= this.config.idleTimeoutMs - 1) {
      this.config.stats.downstream_cx_idle_timeout.inc();
      this.close(true);
      return;
    }
    this.socket.setTimeout(this.timeoutMs);
  }

  private onMaxDuration(): void {
    this.durationTimer = null;
    this.config.stats.downstream_cx_max_duration_reached.inc();
    this.drain();
  }

  private armHeadersTimer(): void {
    this.headersTimer = setTimeout(() => {
      this.headersTimer = null;
      if (this.stream !== null) return;
      this.config.stats.downstream_rq_header_timeout.inc();
      this.close(true);
    }, this.config.requestHeadersTimeoutMs);
  }

  /** The active stream has finished (response written, or reset). */
  streamDone(stream: ActiveStream, keepAlive: boolean): void {
    if (this.stream !== stream) return;
    this.stream = null;
    this.idleSince = performance.now();
    if (this.streamTimerExtended) {
      this.streamTimerExtended = false;
      this.socket.setTimeout(this.timeoutMs);
    }
    if (!keepAlive || this.draining || this.closed) {
      this.close(false);
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
    if (this.config.requestHeadersTimeoutMs > 0) this.armHeadersTimer();
    this.parser.resume();
  }

  /** After a 101: the request parser becomes a byte pipe. */
  startTunnel(): void {
    this.parser.startTunnel();
  }
}

/** A reply to a request whose head could not be parsed: no stream exists for it. */
function sendLocalReplyRaw(conn: Http1ServerConnection, info: StreamInfo, r: reply.LocalReply, versionMinor: number, keepAlive: boolean): void {
  const headers = new HeaderMap();
  const body = r.body;
  if (body.length > 0) headers.add('content-type', 'text/plain');
  headers.add('date', new Date().toUTCString());
  if (conn.config.serverName !== undefined) headers.add('server', conn.config.serverName);
  info.responseCode = r.status;
  info.responseCodeDetails = r.details;
  info.addFlag(r.flag);
  info.responseHeaders = headers;
  conn.write(encodeResponseHead(r.status, headers, Framing.Length, Buffer.byteLength(body), keepAlive, versionMinor, undefined) + body);
  info.bytesSent += Buffer.byteLength(body);
}
