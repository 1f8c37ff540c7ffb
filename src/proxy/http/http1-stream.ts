import type { HeaderMap } from '../../lib/headers';
import type { MessageHead } from '../codec/http1/parser';
import { chunkHeader, encodeLastChunk, encodeResponseHead, Framing } from '../codec/http1/encoder';
import { ResponseFlag } from '../stream-info';
import { ActiveStream, State, type StreamConnection } from './active-stream';
import type * as reply from './local-reply';

const CONTINUE_100 = 'HTTP/1.1 100 Continue\r\n\r\n';
/** Bodies up to this size are copied behind the head into one buffer; larger ones are written as they are. */
const COALESCE_LIMIT = 16 * 1024;

/** An exchange on a downstream HTTP/1.1 connection: HTTP/1.1 framing written straight to the socket. */
export class Http1ActiveStream extends ActiveStream {
  protected readonly http2 = false;
  private responseFraming = Framing.Length;
  /** A response head waiting to leave together with the first body bytes. */
  private pendingHead: string | null = null;
  /**
   * TLS connections cork the socket for each batch (one upstream read), so everything it produces
   * (e.g. a chunk and the last chunk) is one write and one TLS record. Plaintext skips it: the head
   * and body are already one write and cork/uncork would only cost.
   */
  private readonly corkBatches: boolean;
  private corked = false;

  constructor(
    private readonly conn: StreamConnection,
    head: MessageHead,
  ) {
    super(conn, head);
    this.corkBatches = conn.info.tls !== undefined;
  }

  protected pauseDownstream(): void {
    this.conn.socket.pause();
  }

  protected resumeDownstream(): void {
    const s = this.conn.socket;
    if (s.isPaused()) s.resume();
  }

  protected sendContinue(): void {
    this.conn.write(CONTINUE_100);
  }

  protected writeResponseHead(head: MessageHead, status: number, headers: HeaderMap): void {
    let upgrade: string | undefined;
    let contentLength = head.contentLength;
    if (head.upgrade && this.upgrade !== undefined) {
      upgrade = headers.get('upgrade') ?? this.upgrade;
      this.responseFraming = Framing.Length;
      contentLength = -1;
    } else if (this.method === 'HEAD' || status === 204 || status === 304) {
      this.responseFraming = Framing.Length;
      if (status === 204) contentLength = -1;
    } else if (contentLength >= 0) {
      this.responseFraming = Framing.Length;
    } else if (this.head.versionMinor === 1) {
      this.responseFraming = Framing.Chunked;
    } else {
      this.responseFraming = Framing.Close;
      this.keepAlive = false;
    }
    // The connection to the client stays open only if the request allowed it and it is fully read.
    if (!this.requestComplete && upgrade === undefined) this.keepAlive = false;
    if (this.conn.draining) this.keepAlive = false;
    const text = encodeResponseHead(status, headers, this.responseFraming, contentLength, this.keepAlive, this.head.versionMinor, upgrade);
    // Usually the body arrives in the same upstream read: hold the head so that both leave in one
    // write (endBatch flushes it otherwise). One write instead of a writev of two is measurably cheaper.
    if (this.responseFraming === Framing.Length && contentLength > 0 && upgrade === undefined && this.method !== 'HEAD') {
      this.pendingHead = text;
    } else {
      this.conn.write(text);
    }
  }

  encodeData(chunk: Buffer): boolean {
    if (this.state === State.Done) return true;
    this.info.bytesSent += chunk.length;
    let ok: boolean;
    const head = this.pendingHead;
    if (head !== null) {
      this.pendingHead = null;
      if (chunk.length <= COALESCE_LIMIT) {
        const buf = Buffer.allocUnsafe(head.length + chunk.length);
        buf.write(head, 0, 'latin1');
        chunk.copy(buf, head.length);
        ok = this.conn.write(buf);
      } else {
        this.conn.socket.cork();
        this.conn.write(head);
        ok = this.conn.write(Buffer.from(chunk));
        this.conn.socket.uncork();
      }
    } else if (this.responseFraming === Framing.Chunked) {
      // Upstream bytes live in a shared read buffer: what a write may keep must be a copy.
      const socket = this.conn.socket;
      socket.cork();
      this.conn.write(chunkHeader(chunk.length));
      this.conn.write(Buffer.from(chunk));
      ok = this.conn.write('\r\n');
      socket.uncork();
    } else {
      ok = this.conn.write(Buffer.from(chunk));
    }
    if (!ok) this.conn.waitForDrain();
    return ok;
  }

  encodeComplete(trailers: HeaderMap | null): void {
    if (this.state === State.Done) return;
    this.flushPendingHead();
    if (this.responseFraming === Framing.Chunked) this.conn.write(encodeLastChunk(trailers));
    this.info.responseTrailers = trailers;
    if (!this.requestComplete) this.conn.draining = true;
    this.complete(this.keepAlive);
  }

  startTunnel(): void {
    this.state = State.Tunnel;
    const stats = this.config.stats;
    stats.downstream_cx_upgrades_total.inc();
    stats.downstream_cx_upgrades_active.inc();
    this.conn.startTunnel();
  }

  tunnelDone(): void {
    if (this.state === State.Tunnel) this.config.stats.downstream_cx_upgrades_active.dec();
    this.conn.draining = true;
    this.complete(false);
  }

  pauseReading(): void {
    this.conn.socket.pause();
  }

  resumeReading(): void {
    const s = this.conn.socket;
    if (s.isPaused() && this.heldBytes <= this.config.bufferLimitBytes) s.resume();
  }

  beginBatch(): void {
    if (this.corkBatches && !this.corked) {
      this.corked = true;
      this.conn.socket.cork();
    }
  }

  endBatch(): void {
    this.flushPendingHead();
    if (this.corked) {
      this.corked = false;
      this.conn.socket.uncork();
    }
  }

  private flushPendingHead(): void {
    const head = this.pendingHead;
    if (head !== null) {
      this.pendingHead = null;
      this.conn.write(head);
    }
  }

  protected localReplyKeepsConnection(r: reply.LocalReply): boolean {
    // A request whose body was not read cannot be followed by another on this connection.
    const keep = this.keepAlive && !this.conn.draining && (this.requestComplete || (this.head.contentLength <= 0 && !this.head.chunked));
    return keep && r.flag !== ResponseFlag.DownstreamProtocolError;
  }

  protected writeLocalReply(status: number, headers: HeaderMap, body: string, keep: boolean): void {
    const bodyBytes = Buffer.byteLength(body);
    const text = encodeResponseHead(status, headers, Framing.Length, bodyBytes, keep, this.head.versionMinor, undefined);
    this.conn.write(bodyBytes > 0 && this.method !== 'HEAD' ? text + body : text);
  }

  protected resetDownstream(): void {
    this.conn.draining = true;
    this.conn.socket.destroy();
  }
}
