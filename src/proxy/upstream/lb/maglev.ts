/**
 * MAGLEV, as Envoy's MaglevLoadBalancer: a lookup table of `table_size` (prime, default 65537)
 * entries filled by each host's permutation `(offset + skip * j) % M`, where offset and skip come
 * from hashing "<ip:port>" with two seeds. Weighted: a host takes a turn in a round only when its
 * accumulated weight allows (a host of half the maximum weight fills every other round).
 * Lookup is `table[hash % M]`. Hashing uses src/lib/hash.ts hash32 (seeds 0 and 1), not xxHash.
 */
import { hash32 } from '../../../lib/hash';
import type { Gauge } from '../../telemetry/stats';
import type { Host } from '../host';
import { HashLb, HashTable, NormalizedHost } from './hash-base';
import type { LbDeps } from './types';

export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;
export const MAX_MAGLEV_TABLE_SIZE = 5000011;

export interface MaglevGauges {
  min_entries_per_host: Gauge;
  max_entries_per_host: Gauge;
}

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

export class MaglevTable implements HashTable {
  constructor(readonly table: Host[]) {}
  choose(h: number): Host | null {
    const t = this.table;
    return t.length === 0 ? null : t[h % t.length];
  }
}

export class MaglevLb extends HashLb {
  constructor(
    deps: LbDeps,
    private readonly tableSize: number,
    private readonly gauges?: MaglevGauges,
  ) {
    super(deps);
  }

  protected build(hosts: NormalizedHost[], _min: number, maxWeight: number): HashTable {
    const M = this.tableSize;
    const n = hosts.length;
    const offset = new Float64Array(n);
    const skip = new Float64Array(n);
    const next = new Float64Array(n);
    const targetWeight = new Float64Array(n);
    const count = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const key = hosts[i].host.key;
      offset[i] = hash32(key, 0) % M;
      skip[i] = (hash32(key, 1) % (M - 1)) + 1;
    }
    const table = new Array<Host | undefined>(M);
    let filled = 0;
    for (let iteration = 1; filled < M; iteration++) {
      for (let i = 0; i < n && filled < M; i++) {
        if (iteration * hosts[i].weight < targetWeight[i]) continue;
        targetWeight[i] += maxWeight;
        let c = (offset[i] + skip[i] * next[i]) % M;
        while (table[c] !== undefined) {
          next[i]++;
          c = (offset[i] + skip[i] * next[i]) % M;
        }
        table[c] = hosts[i].host;
        next[i]++;
        count[i]++;
        filled++;
      }
    }
    if (this.gauges) {
      let mn = Infinity;
      let mx = 0;
      for (let i = 0; i < n; i++) {
        mn = Math.min(mn, count[i]);
        mx = Math.max(mx, count[i]);
      }
      this.gauges.min_entries_per_host.set(mn);
      this.gauges.max_entries_per_host.set(mx);
    }
    return new MaglevTable(table as Host[]);
  }
}
