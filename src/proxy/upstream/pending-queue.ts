import { PoolFailure, type PendingRequest, type PoolCluster, type UpstreamStreamHandler } from './conn-pool';

/**
 * A pool's queue of requests waiting for a connection or a stream slot, with the cluster's
 * max_pending_requests breaker and the upstream_rq_pending_* / upstream_rq_cancelled accounting
 * kept in one place for every protocol's pool.
 */
export class PendingQueue {
  private readonly entries: PendingEntry[] = [];

  constructor(private readonly cluster: PoolCluster) {}

  get length(): number {
    return this.entries.length;
  }

  /** Queues a request, or fails it with Overflow (and returns null) when the breaker is full. */
  push(handler: UpstreamStreamHandler): PendingRequest | null {
    const limits = this.cluster.limits;
    if (!limits.canQueueRequest()) {
      limits.pendingOverflow();
      handler.onPoolFailure(PoolFailure.Overflow, 'overflow');
      return null;
    }
    const entry = new PendingEntry(this, handler);
    this.entries.push(entry);
    limits.requestQueued();
    this.cluster.poolStats.upstream_rq_pending_total.inc();
    this.cluster.poolStats.upstream_rq_pending_active.inc();
    return entry;
  }

  /** Takes the oldest waiter off the queue. */
  shift(): UpstreamStreamHandler | undefined {
    const entry = this.entries.shift();
    if (entry === undefined) return undefined;
    this.dequeued();
    return entry.handler;
  }

  /** Fails the oldest waiters until at most `keep` remain. */
  failBeyond(keep: number, reason: PoolFailure, detail: string): void {
    while (this.entries.length > keep) this.shift()!.onPoolFailure(reason, detail);
  }

  cancel(entry: PendingEntry): void {
    const i = this.entries.indexOf(entry);
    if (i === -1) return;
    this.entries.splice(i, 1);
    this.dequeued();
    this.cluster.poolStats.upstream_rq_cancelled.inc();
  }

  private dequeued(): void {
    this.cluster.limits.requestDequeued();
    this.cluster.poolStats.upstream_rq_pending_active.dec();
  }
}

class PendingEntry implements PendingRequest {
  constructor(
    private readonly queue: PendingQueue,
    readonly handler: UpstreamStreamHandler,
  ) {}
  cancel(): void {
    this.queue.cancel(this);
  }
}
