import type { HeaderMap } from '../../lib/headers';
import type { MessageHead } from '../codec/http1/parser';
import type { UpstreamCluster, UpstreamHost } from './contracts';
import { BodyBuffer, upstreamChunked, upstreamContentLength } from './request-body';
import type { RouterDownstream } from './router';
import { UpstreamRequest, type UpstreamRequestOwner } from './upstream-request';

const NO_HASH: { hashKey?: number } = {};

/**
 * A shadow copy of a request: sent to the mirror cluster with the same head and body, its answer
 * read and dropped. It never affects the main request: failures are only counted by the cluster.
 */
export class Shadow implements UpstreamRequestOwner {
  private readonly upstream: UpstreamRequest;
  private readonly method: string;
  private readonly path: string;
  private readonly authority: string;
  private readonly headers: HeaderMap;
  private readonly contentLength: number;
  private readonly body: BodyBuffer;
  private readonly bufferLimit: number;
  private connected = false;
  private complete_ = false;
  private trailers: HeaderMap | null = null;
  private readonly chunked: boolean;

  /** The route timeout bounds the shadow too (from the end of the request), as in Envoy. */
  private timer: NodeJS.Timeout | null = null;

  static start(cluster: UpstreamCluster, down: RouterDownstream, authority: string, timeoutMs: number): Shadow | null {
    const host = cluster.chooseHost(NO_HASH);
    if (host === null || !cluster.canSendRequest()) return null;
    return new Shadow(cluster, host, down, authority, timeoutMs);
  }

  private constructor(
    private readonly cluster: UpstreamCluster,
    private readonly host: UpstreamHost,
    down: RouterDownstream,
    authority: string,
    private readonly timeoutMs: number,
  ) {
    this.chunked = upstreamChunked(down);
    this.method = down.method;
    this.path = down.path;
    this.authority = authority;
    // A snapshot: the main request's headers change per attempt.
    this.headers = down.headers.clone();
    this.contentLength = upstreamContentLength(down);
    this.bufferLimit = down.config.bufferLimitBytes;
    this.body = new BodyBuffer(this.bufferLimit);
    cluster.requestStarted();
    host.activeRequests++;
    cluster.stats.upstream_rq_total.inc();
    cluster.stats.upstream_rq_active.inc();
    this.upstream = new UpstreamRequest(this, cluster, host, down.method === 'HEAD');
    this.upstream.start();
  }

  data(chunk: Buffer): void {
    if (this.finished) return;
    if (!this.connected) {
      if (!this.body.add(chunk)) this.abandon();
      return;
    }
    this.write(chunk);
    // A mirror that cannot keep up is dropped rather than buffered without bound.
    const c = this.upstream.conn;
    if (c !== null && c.writableLength > this.bufferLimit) this.abandon();
  }

  private abandon(): void {
    if (this.finished) return;
    this.cluster.stats.retry_or_shadow_abandoned.inc();
    this.upstream.cancel();
    this.done();
  }

  /** The main request was abandoned before its body ended: this copy can never complete. */
  cancelIfIncomplete(): void {
    if (this.complete_ || this.finished) return;
    this.upstream.cancel();
    this.done();
  }

  onTimeout(): void {
    this.timer = null;
    if (this.finished) return;
    this.cluster.stats.upstream_rq_timeout.inc();
    this.upstream.cancel();
    this.done();
  }

  complete(trailers: HeaderMap | null): void {
    this.complete_ = true;
    this.trailers = trailers;
    if (this.timeoutMs > 0 && !this.finished) this.timer = setTimeout(onShadowTimeout, this.timeoutMs, this);
    if (this.connected) this.end();
  }

  private write(chunk: Buffer): void {
    const c = this.upstream.conn;
    if (c === null) return;
    c.sendBody(chunk);
  }

  private end(): void {
    const c = this.upstream.conn;
    if (c === null) return;
    c.sendEnd(this.trailers, true);
  }

  onUpstreamConnected(): void {
    if (this.finished) return;
    this.connected = true;
    const noBody = this.complete_ && this.body.chunks.length === 0 && this.trailers === null;
    this.upstream.conn!.sendHead(this.method, this.path, this.authority, this.headers, this.chunked, this.contentLength, undefined, noBody);
    for (const chunk of this.body.chunks) this.write(chunk);
    this.body.chunks = [];
    if (this.complete_) this.end();
  }
  onUpstreamFailure(): void {
    this.done();
  }
  onUpstreamHeaders(head: MessageHead): void {
    this.cluster.stats.chargeResponseCode(head.status);
    this.cluster.reportHttpStatus(this.host, head.status);
  }
  onUpstreamData(): void {}
  onUpstreamComplete(): void {
    this.done();
  }
  onUpstreamReset(): void {
    this.done();
  }
  onUpstreamDrain(): void {}
  beginBatch(): void {}
  endBatch(): void {}

  private finished = false;
  private done(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.cluster.requestFinished();
    this.host.activeRequests--;
    this.cluster.stats.upstream_rq_active.dec();
    this.cluster.stats.upstream_rq_completed.inc();
  }
}

function onShadowTimeout(s: Shadow): void {
  s.onTimeout();
}

