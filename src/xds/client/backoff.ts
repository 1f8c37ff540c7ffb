/**
 * Jittered exponential back-off for reconnecting to a control plane (Envoy's
 * JitteredExponentialBackOffStrategy): the n-th retry waits a random time in [0, min(max, base·2ⁿ)),
 * never less than a small floor so a dead server is not hammered.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt; each call moves one step further. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.max(Math.min(this.baseMs, 10), Math.floor(this.random() * ceiling));
  }

  reset(): void {
    this.attempt = 0;
  }
}
