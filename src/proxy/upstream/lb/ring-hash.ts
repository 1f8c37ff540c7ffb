/**
 * RING_HASH (ketama), as Envoy's RingHashLoadBalancer: each host gets `scale * normalized weight`
 * points on the ring, where scale makes the lightest host get a whole number of points and the
 * ring at least minimum_ring_size (default 1024) and at most maximum_ring_size (default 8M)
 * entries (Weft rounds the lightest host's point count up to a power of two; see build()).
 * Point i of a host hashes "<ip:port>_<i>". A request's hash maps to the first point at
 * or after it (wrapping), found by binary search.
 *
 * Hashing: Weft uses its 32-bit MurmurHash3 (src/lib/hash.ts hash32) for both XX_HASH and
 * MURMUR_HASH_2, so ring positions are stable across Weft proxies but are not Envoy's exact positions.
 */
import { hash32 } from '../../../lib/hash';
import type { Gauge } from '../../telemetry/stats';
import type { Host } from '../host';
import { HashLb, HashTable, NormalizedHost } from './hash-base';
import type { LbDeps } from './types';

export interface RingHashOptions {
  minimumRingSize: number;
  maximumRingSize: number;
}

export interface RingHashGauges {
  size: Gauge;
  min_hashes_per_host: Gauge;
  max_hashes_per_host: Gauge;
}

export class Ring implements HashTable {
  constructor(
    readonly hashes: Uint32Array,
    readonly hosts: Host[],
  ) {}

  choose(h: number): Host | null {
    const hashes = this.hashes;
    const n = hashes.length;
    if (n === 0) return null;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (hashes[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    return this.hosts[lo === n ? 0 : lo];
  }
}

export class RingHashLb extends HashLb {
  constructor(
    deps: LbDeps,
    private readonly opts: RingHashOptions,
    private readonly gauges?: RingHashGauges,
  ) {
    super(deps);
  }

  protected build(hosts: NormalizedHost[], minWeight: number): HashTable {
    // Envoy: the lightest host gets ceil(minWeight * minimum_ring_size) points. Weft rounds that
    // count up to a power of two, so adding/removing a host rarely changes the other hosts'
    // point counts and only the changed host's keys move (Envoy's exact count moves ~10% more).
    const lightest = nextPow2(Math.ceil(minWeight * this.opts.minimumRingSize));
    const scale = Math.min(lightest / minWeight, this.opts.maximumRingSize);
    const ringSize = Math.ceil(scale);
    const hashes: number[] = [];
    const owners: Host[] = [];
    let current = 0;
    let target = 0;
    let minPer = ringSize;
    let maxPer = 0;
    for (const { host, weight } of hosts) {
      const prefix = host.key + '_';
      target += scale * weight;
      let i = 0;
      while (current < target) {
        hashes.push(hash32(prefix + i));
        owners.push(host);
        i++;
        current++;
      }
      if (i < minPer) minPer = i;
      if (i > maxPer) maxPer = i;
    }
    const order = hashes.map((_, i) => i).sort((a, b) => hashes[a] - hashes[b] || a - b);
    const sorted = new Uint32Array(order.length);
    const sortedHosts = new Array<Host>(order.length);
    for (let i = 0; i < order.length; i++) {
      sorted[i] = hashes[order[i]];
      sortedHosts[i] = owners[order[i]];
    }
    if (this.gauges) {
      this.gauges.size.set(ringSize);
      this.gauges.min_hashes_per_host.set(minPer);
      this.gauges.max_hashes_per_host.set(maxPer);
    }
    return new Ring(sorted, sortedHosts);
  }
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
