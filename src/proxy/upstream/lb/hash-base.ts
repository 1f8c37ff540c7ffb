/**
 * The shared path of RING_HASH and MAGLEV (Envoy's ThreadAwareLoadBalancerBase): the hash key (or
 * a random value when the request has none) picks the priority and then the host. Each priority's
 * table is built from its healthy hosts, or from all hosts while that priority is in panic.
 * Host weights are normalized to sum to 1; with locality weighting a host's share is
 * `host weight / locality's total host weight * locality weight / total locality weight`.
 */
import type { Host } from '../host';
import type { HostSet } from '../priority';
import { Rng } from './rng';
import type { LbContext, LbDeps, LoadBalancer } from './types';

export interface NormalizedHost {
  host: Host;
  weight: number;
}

export interface HashTable {
  choose(hash: number): Host | null;
}

export abstract class HashLb implements LoadBalancer {
  private readonly rng: Rng;
  private tables: (HashTable | null)[] = [];

  constructor(protected readonly deps: LbDeps) {
    this.rng = new Rng(deps.random);
  }

  protected abstract build(hosts: NormalizedHost[], minWeight: number, maxWeight: number): HashTable | null;

  refresh(): void {
    const ps = this.deps.prioritySet;
    this.tables = ps.hostSets.map((hs, p) => {
      const normalized = normalizeWeights(hs, ps.panic[p], this.deps.localityWeighted);
      if (normalized.length === 0) return null;
      let min = 1;
      let max = 0;
      for (const n of normalized) {
        if (n.weight < min) min = n.weight;
        if (n.weight > max) max = n.weight;
      }
      return this.build(normalized, min, max);
    });
  }

  chooseHost(ctx: LbContext): Host | null {
    let h: number;
    if (ctx.hashKey !== undefined) h = ctx.hashKey >>> 0;
    else {
      this.rng.begin(ctx.random);
      h = this.rng.next();
    }
    const ps = this.deps.prioritySet;
    const p = ps.choosePriority(h) & 0xffff;
    if (ps.panic[p]) this.deps.stats.lb_healthy_panic.inc();
    const t = this.tables[p];
    return t ? t.choose(h) : null;
  }
}

function normalizeWeights(hs: HostSet, panic: boolean, localityWeighted: boolean): NormalizedHost[] {
  const out: NormalizedHost[] = [];
  if (!localityWeighted || !hs.hasLocalityWeights) {
    normalizeHosts(panic ? hs.hosts : hs.healthyHosts, 1, out);
    return out;
  }
  let sum = 0;
  for (const g of hs.localities) sum += g.weight;
  if (sum === 0) return out;
  for (const g of hs.localities) {
    if (g.weight !== 0) normalizeHosts(panic ? g.hosts : g.healthyHosts, g.weight / sum, out);
  }
  return out;
}

function normalizeHosts(hosts: Host[], localityShare: number, out: NormalizedHost[]): void {
  let sum = 0;
  for (const h of hosts) sum += h.weight;
  if (sum === 0) return;
  for (const h of hosts) out.push({ host: h, weight: (h.weight * localityShare) / sum });
}
