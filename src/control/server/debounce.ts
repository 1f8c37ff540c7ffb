/**
 * Coalesces bursts of changes into one push, as istiod does: fire once no change has come for
 * `quietMs` (PILOT_DEBOUNCE_AFTER, 100 ms), or `maxMs` after the first change of the burst
 * (PILOT_DEBOUNCE_MAX, 10 s), whichever comes first.
 */
export interface DebounceOptions {
  readonly quietMs: number;
  readonly maxMs: number;
}

export const ISTIOD_DEBOUNCE: DebounceOptions = { quietMs: 100, maxMs: 10_000 };

/** What a fired burst carries: when it started and how many changes it merged. */
export interface Burst {
  readonly firstChangeAt: number;
  readonly changes: number;
}

export class Debouncer {
  private firstAt = 0;
  private lastAt = 0;
  private changes = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: DebounceOptions,
    private readonly fire: (burst: Burst) => void,
  ) {}

  /** Records one change. */
  change(): void {
    const now = Date.now();
    if (this.changes === 0) this.firstAt = now;
    this.lastAt = now;
    this.changes++;
    if (!this.timer) this.schedule(now);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.changes = 0;
  }

  private schedule(now: number): void {
    const due = Math.min(this.lastAt + this.options.quietMs, this.firstAt + this.options.maxMs);
    this.timer = setTimeout(() => this.check(), Math.max(0, due - now));
  }

  private check(): void {
    this.timer = undefined;
    const now = Date.now();
    if (now - this.lastAt >= this.options.quietMs || now - this.firstAt >= this.options.maxMs) {
      const burst: Burst = { firstChangeAt: this.firstAt, changes: this.changes };
      this.changes = 0;
      this.fire(burst);
      return;
    }
    this.schedule(now);
  }
}
