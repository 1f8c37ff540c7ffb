import type { HeaderMap } from '../../lib/headers';
import type { MessageHead } from '../codec/http1/parser';
import type { PoolFailure, PendingRequest, ResetReason, UpstreamStream, UpstreamStreamHandler } from '../upstream/conn-pool';
import type { UpstreamCluster, UpstreamHost } from './contracts';

/** The downstream side of one upstream exchange: the connection manager's active stream. */
export interface UpstreamRequestOwner {
  onUpstreamConnected(): void;
  onUpstreamFailure(reason: PoolFailure, detail: string): void;
  onUpstreamHeaders(head: MessageHead): void;
  onUpstreamData(chunk: Buffer): void;
  onUpstreamComplete(trailers: HeaderMap | null): void;
  onUpstreamReset(detail: string, reason: ResetReason): void;
  onUpstreamDrain(): void;
  beginBatch(): void;
  endBatch(): void;
}

/**
 * One attempt at sending a request to one upstream host: it asks the host's pool for a connection,
 * writes through it, and relays the response events to its owner. A retry (a later issue) is a new
 * UpstreamRequest; this object never outlives its attempt.
 */
export class UpstreamRequest implements UpstreamStreamHandler {
  conn: UpstreamStream | null = null;
  private pendingRequest: PendingRequest | null = null;
  private finished = false;

  constructor(
    private readonly owner: UpstreamRequestOwner,
    readonly cluster: UpstreamCluster,
    readonly host: UpstreamHost,
    readonly expectsNoBody: boolean,
  ) {}

  start(): void {
    this.pendingRequest = this.cluster.poolFor(this.host).newStream(this);
  }

  /** Gives up on this attempt: cancels the queued request or resets the connection. */
  cancel(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.pendingRequest !== null) {
      this.pendingRequest.cancel();
      this.pendingRequest = null;
    }
    if (this.conn !== null) {
      this.conn.reset();
      this.conn = null;
    }
  }

  onPoolReady(conn: UpstreamStream): void {
    this.pendingRequest = null;
    this.conn = conn;
    this.owner.onUpstreamConnected();
  }

  onPoolFailure(reason: PoolFailure, detail: string): void {
    this.pendingRequest = null;
    this.finished = true;
    this.owner.onUpstreamFailure(reason, detail);
  }

  onResponseHead(head: MessageHead): void {
    this.owner.onUpstreamHeaders(head);
  }

  onResponseBody(chunk: Buffer): void {
    this.owner.onUpstreamData(chunk);
  }

  onResponseComplete(trailers: HeaderMap | null): void {
    this.finished = true;
    this.owner.onUpstreamComplete(trailers);
  }

  onUpstreamReset(detail: string, reason: ResetReason): void {
    this.conn = null;
    if (this.finished) return;
    this.finished = true;
    this.owner.onUpstreamReset(detail, reason);
  }

  onUpstreamDrain(): void {
    this.owner.onUpstreamDrain();
  }

  beginBatch(): void {
    this.owner.beginBatch();
  }

  endBatch(): void {
    this.owner.endBatch();
  }
}
