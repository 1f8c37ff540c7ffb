/**
 * Host sets per priority and Envoy's priority-load arithmetic (LoadBalancerBase in
 * source/common/upstream/load_balancer_impl.cc): per-priority health scaled by the
 * overprovisioning factor, healthy then degraded load distribution, per-priority panic and
 * "total panic" where load follows host counts. Recomputed only when membership or health changes.
 */
import { CoarseHealth, Host, Locality } from './host';

/** Hosts of one locality within one priority. */
export class LocalityGroup {
  readonly hosts: Host[] = [];
  healthyHosts: Host[] = [];
  degradedHosts: Host[] = [];
  /** Hosts excluded from load arithmetic (pending active HC, immediate HC failure). */
  excludedCount = 0;
  constructor(
    readonly key: string,
    readonly locality: Locality,
    /** load_balancing_weight of the locality; 0 = unset (receives no traffic under locality weighting). */
    readonly weight: number,
  ) {}
}

export class HostSet {
  hosts: Host[] = [];
  healthyHosts: Host[] = [];
  degradedHosts: Host[] = [];
  excludedHosts: Host[] = [];
  localities: LocalityGroup[] = [];
  /** Effective locality weights (Envoy's effectiveLocalityWeight) for healthy and degraded picks. */
  healthyLocalityWeights: number[] = [];
  degradedLocalityWeights: number[] = [];
  /** True when any locality carries a load_balancing_weight. */
  hasLocalityWeights = false;

  constructor(readonly priority: number) {}

  setHosts(hosts: Host[], overprovisioningFactor: number): void {
    this.hosts = hosts;
    const byKey = new Map<string, LocalityGroup>();
    this.localities = [];
    for (const h of hosts) {
      let g = byKey.get(h.localityKey);
      if (!g) {
        g = new LocalityGroup(h.localityKey, h.locality, h.localityWeight);
        byKey.set(h.localityKey, g);
        this.localities.push(g);
      }
      g.hosts.push(h);
    }
    this.hasLocalityWeights = this.localities.some((g) => g.weight > 0);
    this.recomputeHealth(overprovisioningFactor);
  }

  recomputeHealth(overprovisioningFactor: number): void {
    const healthy: Host[] = [];
    const degraded: Host[] = [];
    const excluded: Host[] = [];
    for (const h of this.hosts) {
      if (h.excluded) excluded.push(h);
      const c = h.coarseHealth;
      if (c === CoarseHealth.Healthy) healthy.push(h);
      else if (c === CoarseHealth.Degraded) degraded.push(h);
    }
    this.healthyHosts = healthy;
    this.degradedHosts = degraded;
    this.excludedHosts = excluded;
    this.healthyLocalityWeights = [];
    this.degradedLocalityWeights = [];
    for (const g of this.localities) {
      g.healthyHosts = g.hosts.filter((h) => h.coarseHealth === CoarseHealth.Healthy);
      g.degradedHosts = g.hosts.filter((h) => h.coarseHealth === CoarseHealth.Degraded);
      g.excludedCount = g.hosts.reduce((n, h) => (h.excluded ? n + 1 : n), 0);
      this.healthyLocalityWeights.push(effectiveLocalityWeight(g, g.healthyHosts.length, overprovisioningFactor));
      this.degradedLocalityWeights.push(effectiveLocalityWeight(g, g.degradedHosts.length, overprovisioningFactor));
    }
  }
}

/** Envoy's effectiveLocalityWeight: weight × min(1, factor × eligible / (hosts − excluded)). */
function effectiveLocalityWeight(g: LocalityGroup, eligible: number, overprovisioningFactor: number): number {
  const count = g.hosts.length - g.excludedCount;
  if (count <= 0) return 0;
  const ratio = eligible / count;
  return g.weight * Math.min(1, (overprovisioningFactor / 100) * ratio);
}

/** Per-priority host sets plus the loads/panic flags the load balancers read. */
export class PrioritySet {
  hostSets: HostSet[] = [new HostSet(0)];
  /** Percent of traffic (0..100, summing to 100 with degradedLoad) sent to each priority's healthy hosts. */
  healthyLoad: number[] = [100];
  degradedLoad: number[] = [0];
  /** Per-priority health and degraded availability, 0..100. */
  health: number[] = [0];
  degradedAvailability: number[] = [0];
  panic: boolean[] = [false];
  totalPanic = false;

  constructor(
    public overprovisioningFactor = 140,
    /** Percent; 0 disables panic mode. */
    public panicThreshold = 50,
  ) {}

  getOrCreate(priority: number): HostSet {
    while (this.hostSets.length <= priority) this.hostSets.push(new HostSet(this.hostSets.length));
    return this.hostSets[priority];
  }

  /** Recomputes every priority's health and the load distribution (call after any change). */
  recompute(): void {
    const n = this.hostSets.length;
    const f = this.overprovisioningFactor;
    const health = new Array<number>(n).fill(0);
    const degraded = new Array<number>(n).fill(0);
    const healthyLoad = new Array<number>(n).fill(0);
    const degradedLoad = new Array<number>(n).fill(0);
    for (let p = 0; p < n; p++) {
      const hs = this.hostSets[p];
      const count = hs.hosts.length - hs.excludedHosts.length;
      if (count > 0) {
        health[p] = Math.min(100, Math.floor((f * hs.healthyHosts.length) / count));
        degraded[p] = Math.min(100, Math.floor((f * hs.degradedHosts.length) / count));
      }
    }
    const total = normalizedTotalAvailability(health, degraded);
    if (total > 0) {
      const [firstHealthy, remainingAfterHealthy] = distributeLoad(healthyLoad, health, 100, total);
      const [firstDegraded, remaining] = distributeLoad(degradedLoad, degraded, remainingAfterHealthy, total);
      if (remaining !== 0) {
        if (firstHealthy !== -1) healthyLoad[firstHealthy] += remaining;
        else if (firstDegraded !== -1) degradedLoad[firstDegraded] += remaining;
      }
    }
    this.health = health;
    this.degradedAvailability = degraded;
    this.healthyLoad = healthyLoad;
    this.degradedLoad = degradedLoad;

    // Panic.
    const threshold = Math.min(100, this.panicThreshold);
    const panic = new Array<boolean>(n).fill(false);
    this.panic = panic;
    this.totalPanic = false;
    if (threshold === 0 && total === 0) {
      healthyLoad[0] = 100;
      return;
    }
    let totalPanic = true;
    for (let p = 0; p < n; p++) {
      panic[p] = total === 100 ? false : isHostSetInPanic(this.hostSets[p], threshold);
      totalPanic = totalPanic && panic[p];
    }
    if (totalPanic) {
      this.totalPanic = true;
      let totalHosts = 0;
      for (const hs of this.hostSets) totalHosts += hs.hosts.length;
      degradedLoad.fill(0);
      if (totalHosts === 0) {
        healthyLoad.fill(0);
        healthyLoad[0] = 100;
        return;
      }
      let left = 100;
      let firstNonEmpty = -1;
      for (let p = 0; p < n; p++) {
        const c = this.hostSets[p].hosts.length;
        if (firstNonEmpty < 0 && c !== 0) firstNonEmpty = p;
        healthyLoad[p] = Math.floor((100 * c) / totalHosts);
        left -= healthyLoad[p];
      }
      healthyLoad[firstNonEmpty] += left;
    }
  }

  /**
   * Envoy's choosePriority: `hash % 100 + 1` walked over cumulative healthy then degraded loads.
   * Returns the priority, with bit 16 set when the degraded hosts of that priority are to be used.
   */
  choosePriority(hash: number): number {
    const h = (hash % 100) + 1;
    let acc = 0;
    const hl = this.healthyLoad;
    for (let p = 0; p < hl.length; p++) {
      acc += hl[p];
      if (h <= acc) return p;
    }
    const dl = this.degradedLoad;
    for (let p = 0; p < dl.length; p++) {
      acc += dl[p];
      if (h <= acc) return p | DEGRADED_BIT;
    }
    return 0;
  }
}

export const DEGRADED_BIT = 0x10000;

function normalizedTotalAvailability(health: number[], degraded: number[]): number {
  let s = 0;
  for (let i = 0; i < health.length; i++) s += health[i] + degraded[i];
  return Math.min(100, s);
}

function distributeLoad(load: number[], availability: number[], totalLoad: number, normTotal: number): [number, number] {
  let first = -1;
  for (let i = 0; i < availability.length; i++) {
    if (first < 0 && availability[i] > 0) first = i;
    load[i] = Math.min(totalLoad, Math.floor((availability[i] * 100) / normTotal));
    totalLoad -= load[i];
  }
  return [first, totalLoad];
}

/** Envoy's isHostSetInPanic: healthy + degraded share of the non-excluded hosts below `threshold` percent. */
export function isHostSetInPanic(hs: HostSet, threshold: number): boolean {
  const count = hs.hosts.length - hs.excludedHosts.length;
  const healthyPct = count === 0 ? 0 : (100 * hs.healthyHosts.length) / count;
  const degradedPct = count === 0 ? 0 : (100 * hs.degradedHosts.length) / count;
  return healthyPct + degradedPct < threshold;
}
