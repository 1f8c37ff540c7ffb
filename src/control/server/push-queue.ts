/**
 * Pushes to many proxies without stalling the process: at most `throttle` proxies per turn of the
 * event loop (istiod's PILOT_PUSH_THROTTLE, 100). A proxy is queued once however many pushes are
 * waiting for it, and is sent the state current when its turn comes: the latest, not a backlog.
 */
export interface PushTarget {
  /** Sends what changed; returns how many types were sent. */
  pushNow(): number;
}

export class PushQueue<T extends PushTarget> {
  /** Target → time of the earliest change it has not been pushed yet (for convergence time). */
  private readonly pending = new Map<T, number>();
  private scheduled = false;
  private closed = false;

  constructor(
    private readonly throttle: number,
    private readonly onPushed: (target: T, changeAt: number, typesSent: number) => void,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  enqueue(target: T, changeAt: number): void {
    if (this.closed) return;
    const had = this.pending.get(target);
    if (had === undefined || changeAt < had) this.pending.set(target, changeAt);
    this.schedule();
  }

  /** A target that went away is dropped from the queue. */
  remove(target: T): void {
    this.pending.delete(target);
  }

  close(): void {
    this.closed = true;
    this.pending.clear();
  }

  private schedule(): void {
    if (this.scheduled || this.pending.size === 0) return;
    this.scheduled = true;
    setImmediate(() => this.drainSome());
  }

  private drainSome(): void {
    this.scheduled = false;
    let n = 0;
    for (const [target, changeAt] of this.pending) {
      if (n++ >= this.throttle) break;
      this.pending.delete(target);
      this.onPushed(target, changeAt, target.pushNow());
    }
    this.schedule();
  }
}
