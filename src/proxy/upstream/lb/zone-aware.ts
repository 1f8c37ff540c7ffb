/**
 * The shared pick path of ROUND_ROBIN, LEAST_REQUEST and RANDOM (Envoy's ZoneAwareLoadBalancerBase):
 * choose a priority by the priority loads, use all hosts when that priority is in panic, else
 * (with locality weighting) pick a locality by effective locality weight, then let the concrete
 * balancer pick a host from that source. Tables are rebuilt in refresh(); chooseHost allocates nothing.
 */
import type { Host } from '../host';
import { DEGRADED_BIT } from '../priority';
import { EdfScheduler } from './edf';
import { Rng } from './rng';
import type { LbContext, LbDeps, LoadBalancer } from './types';

export class HostSource<S> {
  constructor(
    readonly hosts: Host[],
    readonly state: S,
  ) {}
}

interface PriorityTables<S> {
  all: HostSource<S>;
  healthy: HostSource<S>;
  degraded: HostSource<S>;
  localityHealthy: HostSource<S>[];
  localityDegraded: HostSource<S>[];
  healthyLocality: EdfScheduler<number> | null;
  degradedLocality: EdfScheduler<number> | null;
  localityWeighted: boolean;
}

export abstract class ZoneAwareLb<S> implements LoadBalancer {
  protected readonly rng = new Rng();
  private tables: PriorityTables<S>[] = [];

  constructor(protected readonly deps: LbDeps) {}

  /** Builds the per-source state (EDF scheduler, index, cumulative weights…) for a host list. */
  protected abstract makeState(hosts: Host[]): S;
  /** Picks from one source; must not allocate. */
  protected abstract pickFrom(source: HostSource<S>): Host | null;

  refresh(): void {
    const ps = this.deps.prioritySet;
    const tables: PriorityTables<S>[] = [];
    for (const hs of ps.hostSets) {
      const src = (hosts: Host[]): HostSource<S> => new HostSource(hosts, this.makeState(hosts));
      const localityWeighted = this.deps.localityWeighted && hs.hasLocalityWeights;
      const idx = hs.localities.map((_, i) => i);
      const hw = hs.healthyLocalityWeights;
      const dw = hs.degradedLocalityWeights;
      tables.push({
        all: src(hs.hosts),
        healthy: src(hs.healthyHosts),
        degraded: src(hs.degradedHosts),
        localityHealthy: localityWeighted ? hs.localities.map((g) => src(g.healthyHosts)) : [],
        localityDegraded: localityWeighted ? hs.localities.map((g) => src(g.degradedHosts)) : [],
        healthyLocality: localityWeighted ? new EdfScheduler(idx, (i) => hw[i]) : null,
        degradedLocality: localityWeighted ? new EdfScheduler(idx, (i) => dw[i]) : null,
        localityWeighted,
      });
    }
    this.tables = tables;
  }

  chooseHost(ctx: LbContext): Host | null {
    this.rng.begin(ctx.random);
    const ps = this.deps.prioritySet;
    // One priority with no degraded load: no draw needed (the common case).
    const sel = ps.hostSets.length === 1 && ps.degradedLoad[0] === 0 ? 0 : ps.choosePriority(this.rng.next());
    const p = sel & 0xffff;
    const t = this.tables[p];
    if (t === undefined) return null;
    if (ps.panic[p]) {
      this.deps.stats.lb_healthy_panic.inc();
      return this.pickFrom(t.all);
    }
    const degraded = (sel & DEGRADED_BIT) !== 0;
    if (t.localityWeighted) {
      const li = degraded ? t.degradedLocality!.pick() : t.healthyLocality!.pick();
      if (li !== null) return this.pickFrom(degraded ? t.localityDegraded[li] : t.localityHealthy[li]);
    }
    return this.pickFrom(degraded ? t.degraded : t.healthy);
  }
}

/** True when all hosts have the same weight (Envoy then skips EDF and uses the unweighted pick). */
export function weightsAreEqual(hosts: readonly Host[]): boolean {
  for (let i = 1; i < hosts.length; i++) if (hosts[i].weight !== hosts[0].weight) return false;
  return true;
}
