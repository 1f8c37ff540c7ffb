import type * as net from 'node:net';
import type * as tls from 'node:tls';
import { TLSSocket } from 'node:tls';
import { Http1ServerConnection, type DownstreamConnectionInfo } from './connection-manager';
import type { HcmConfig } from './hcm-config';
import { Http2ServerConnection } from './http2-connection';

/**
 * Picks the downstream codec for a new connection, as Envoy's codec_type does: HTTP1 and HTTP2 are
 * fixed; AUTO takes HTTP/2 when TLS negotiated ALPN "h2", otherwise looks at the first bytes for the
 * HTTP/2 connection preface (at most its 24 bytes are held, then handed back to the chosen codec).
 */

export interface HttpConnectionLike {
  drain(): void;
  destroy(): void;
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export function selectHttpCodec(socket: net.Socket, config: HcmConfig, info: DownstreamConnectionInfo, onClosed: () => void): HttpConnectionLike {
  const owner = { onConnectionClosed: onClosed };
  switch (config.codecType) {
    case 'HTTP1':
      return new Http1ServerConnection(socket, config, info, owner);
    case 'HTTP2':
      return new Http2ServerConnection(adoptAsHttp2(socket), config, info, owner);
    case 'AUTO': {
      const alpn = (socket as tls.TLSSocket).alpnProtocol;
      if (alpn === 'h2') return new Http2ServerConnection(socket, config, info, owner);
      if (typeof alpn === 'string') return new Http1ServerConnection(socket, config, info, owner);
      return new PrefaceSniffer(socket, config, info, owner);
    }
  }
}

/** Holds a connection until its first bytes show whether it speaks HTTP/2 (prior knowledge) or HTTP/1.1. */
class PrefaceSniffer implements HttpConnectionLike {
  private conn: HttpConnectionLike | null = null;
  private held: Buffer | null = null;
  private drainAsked = false;
  private readonly onData = (d: Buffer): void => this.sniff(d);
  private readonly onEarlyClose = (): void => {
    for (const t of this.timers) clearTimeout(t);
    this.owner.onConnectionClosed();
  };
  /** The client went away before saying anything: nothing to answer. */
  private readonly onEnd = (): void => {
    this.socket.destroy();
  };

  constructor(
    private readonly socket: net.Socket,
    private readonly config: HcmConfig,
    private readonly info: DownstreamConnectionInfo,
    private readonly owner: { onConnectionClosed(): void },
  ) {
    socket.on('data', this.onData);
    socket.on('error', noop);
    socket.on('end', this.onEnd);
    socket.once('close', this.onEarlyClose);
    // The connection manager's connection timers run from accept, whichever codec comes.
    if (config.maxConnectionDurationMs > 0) this.timers.push(setTimeout(() => this.expire(config.stats.downstream_cx_max_duration_reached), config.maxConnectionDurationMs));
    if (config.requestHeadersTimeoutMs > 0) this.timers.push(setTimeout(() => this.expire(config.stats.downstream_rq_header_timeout), config.requestHeadersTimeoutMs));
    if (config.idleTimeoutMs > 0) this.timers.push(setTimeout(() => this.expire(config.stats.downstream_cx_idle_timeout), config.idleTimeoutMs));
  }

  private readonly timers: NodeJS.Timeout[] = [];

  private expire(counter: { inc(): void }): void {
    counter.inc();
    this.socket.destroy();
  }

  private sniff(d: Buffer): void {
    const buf = this.held === null ? d : Buffer.concat([this.held, d]);
    const n = Math.min(buf.length, PREFACE.length);
    const isPreface = buf.compare(PREFACE, 0, n, 0, n) === 0;
    if (isPreface && buf.length < PREFACE.length) {
      this.held = Buffer.from(buf);
      return;
    }
    this.held = null;
    const socket = this.socket;
    socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    socket.off('close', this.onEarlyClose);
    socket.off('error', noop);
    for (const t of this.timers) clearTimeout(t);
    socket.pause();
    socket.unshift(buf);
    let conn: HttpConnectionLike;
    if (isPreface) {
      // node:http2 takes the bytes already read from the socket's buffer when it adopts it.
      conn = new Http2ServerConnection(adoptAsHttp2(socket), this.config, this.info, this.owner);
    } else {
      conn = new Http1ServerConnection(socket, this.config, this.info, this.owner);
      socket.resume();
    }
    this.conn = conn;
    if (this.drainAsked) conn.drain();
  }

  drain(): void {
    if (this.conn !== null) this.conn.drain();
    else {
      this.drainAsked = true;
      this.socket.destroy();
    }
  }

  destroy(): void {
    if (this.conn !== null) this.conn.destroy();
    else this.socket.destroy();
  }
}

function noop(): void {}

/**
 * HTTP/2 on a TLS connection that did not negotiate ALPN "h2" (codec_type HTTP2, or AUTO seeing the
 * preface from a client that offered no ALPN) is served, as Envoy does; but node:http2 closes such
 * a socket ('unknownProtocol'), so the socket is told it negotiated h2.
 */
function adoptAsHttp2(socket: net.Socket): net.Socket {
  if (socket instanceof TLSSocket && socket.alpnProtocol !== 'h2') socket.alpnProtocol = 'h2';
  return socket;
}
