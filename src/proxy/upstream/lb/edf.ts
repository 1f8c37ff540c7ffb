/**
 * Earliest-deadline-first scheduler, as Envoy's EdfScheduler: each entry's next deadline is
 * `current time + 1 / weight`; a pick takes the earliest deadline (ties: earlier insertion) and
 * re-arms it with its *current* weight (LEAST_REQUEST's weight changes with active requests).
 * A binary heap over preallocated typed arrays: picks do not allocate.
 */
export class EdfScheduler<T> {
  private readonly deadline: Float64Array;
  private readonly order: Float64Array;
  private readonly heap: Int32Array;
  private now = 0;
  private seq = 0;

  constructor(
    readonly items: readonly T[],
    private readonly weightOf: (item: T) => number,
    /** Picks to advance before first use, so that several proxies do not start in lockstep. */
    initialPicks = 0,
  ) {
    const n = items.length;
    this.deadline = new Float64Array(n);
    this.order = new Float64Array(n);
    this.heap = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const w = weightOf(items[i]);
      this.deadline[i] = w > 0 ? 1 / w : Infinity;
      this.order[i] = this.seq++;
      this.heap[i] = i;
    }
    for (let i = (n >> 1) - 1; i >= 0; i--) this.siftDown(i);
    for (let i = 0; i < initialPicks; i++) this.pick();
  }

  get size(): number {
    return this.heap.length;
  }

  /** Takes the earliest entry and re-arms it; null when empty or every weight is 0. */
  pick(): T | null {
    if (this.heap.length === 0) return null;
    const idx = this.heap[0];
    const d = this.deadline[idx];
    if (d === Infinity) return null;
    this.now = d;
    const item = this.items[idx];
    const w = this.weightOf(item);
    this.deadline[idx] = w > 0 ? this.now + 1 / w : Infinity;
    this.order[idx] = this.seq++;
    this.siftDown(0);
    return item;
  }

  private less(a: number, b: number): boolean {
    const da = this.deadline[a];
    const db = this.deadline[b];
    return da < db || (da === db && this.order[a] < this.order[b]);
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) return;
      const r = l + 1;
      let m = l;
      if (r < n && this.less(heap[r], heap[l])) m = r;
      if (!this.less(heap[m], heap[i])) return;
      const t = heap[m];
      heap[m] = heap[i];
      heap[i] = t;
      i = m;
    }
  }
}
