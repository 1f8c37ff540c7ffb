/**
 * RANDOM: a uniformly random host of the chosen source. Unlike Envoy (which ignores host weights
 * for RANDOM), different weights are honoured: the pick is proportional to weight, by binary search
 * over cumulative weights. With equal weights this is exactly Envoy's behaviour.
 */
import type { Host } from '../host';
import { HostSource, weightsAreEqual, ZoneAwareLb } from './zone-aware';

interface RandomState {
  /** Cumulative weights, or null when all weights are equal. */
  cumulative: Float64Array | null;
}

export class RandomLb extends ZoneAwareLb<RandomState> {
  protected makeState(hosts: Host[]): RandomState {
    if (hosts.length <= 1 || weightsAreEqual(hosts)) return { cumulative: null };
    const c = new Float64Array(hosts.length);
    let acc = 0;
    for (let i = 0; i < hosts.length; i++) c[i] = acc += hosts[i].weight;
    return { cumulative: c };
  }

  protected pickFrom(source: HostSource<RandomState>): Host | null {
    const hosts = source.hosts;
    const n = hosts.length;
    if (n === 0) return null;
    const c = source.state.cumulative;
    const r = this.rng.next();
    if (c === null) return hosts[r % n];
    const target = (r / 4294967296) * c[n - 1];
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (c[mid] > target) hi = mid;
      else lo = mid + 1;
    }
    return hosts[lo];
  }
}
