/**
 * The load balancers' source of randomness: uint32 draws, either from Math.random() or, when the
 * caller supplies LbContext.random, a deterministic sequence seeded from it (splitmix32), or an
 * injected uint32 source (LbDeps.random).
 * One instance per load balancer; `begin` is called once per pick. No allocation.
 */
export class Rng {
  private state = 0;
  private seeded = false;

  /** `source`: the uint32 generator used when a pick carries no seed (default: Math.random()). */
  constructor(private readonly source: (() => number) | undefined = undefined) {}

  begin(random: number | undefined): void {
    if (random === undefined) {
      this.seeded = false;
    } else {
      this.seeded = true;
      this.state = Math.floor(random * 4294967296) >>> 0;
      this.first = true;
    }
  }

  private first = false;

  /** A uniformly distributed uint32. */
  next(): number {
    if (!this.seeded) return this.source !== undefined ? this.source() >>> 0 : Math.floor(Math.random() * 4294967296) >>> 0;
    if (this.first) {
      // The first draw is the supplied value itself, so callers can reason about it.
      this.first = false;
      return this.state;
    }
    let z = (this.state = (this.state + 0x9e3779b9) >>> 0);
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }
}
