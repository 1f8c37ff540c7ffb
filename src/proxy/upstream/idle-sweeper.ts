/** A pool that closes connections idle for longer than its cluster's idle timeout. */
export interface IdleSweepable {
  sweepIdle(now: number): void;
}

/**
 * One timer for all upstream pools, HTTP/1.1 and HTTP/2: idle connections are swept once a second
 * rather than timed one by one; the timer runs only while some pool has an idle timeout.
 */
class IdleSweeper {
  private readonly pools = new Set<IdleSweepable>();
  private timer: NodeJS.Timeout | null = null;

  add(pool: IdleSweepable): void {
    this.pools.add(pool);
    if (this.timer === null) {
      this.timer = setInterval(() => {
        const now = performance.now();
        for (const p of this.pools) p.sweepIdle(now);
      }, 1000);
      this.timer.unref();
    }
  }

  delete(pool: IdleSweepable): void {
    this.pools.delete(pool);
    if (this.pools.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}

export const idleSweeper = new IdleSweeper();
