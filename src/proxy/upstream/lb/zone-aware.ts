/**
 * The shared pick path of ROUND_ROBIN, LEAST_REQUEST and RANDOM (Envoy's ZoneAwareLoadBalancerBase):
 *
 *  1. choose a priority (and healthy/degraded) by the priority loads;
 *  2. that priority in panic: lb_healthy_panic, and all its hosts — or no host at all with
 *     zone_aware_lb_config.fail_traffic_on_panic;
 *  3. with locality_weighted_lb_config: a locality by effective locality weight (EDF);
 *  4. zone-aware routing, priority 0 only, when a local cluster is known (bootstrap
 *     cluster_manager.local_cluster_name) and the routing structures allow it (see regenerate()):
 *     routing_enabled % of picks, not while the local cluster is in panic (lb_local_cluster_not_ok),
 *     go to the caller's own locality directly (lb_zone_routing_all_directly), sampled
 *     (lb_zone_routing_sampled) or to another locality by residual capacity (lb_zone_routing_cross_zone);
 *  5. otherwise the priority's healthy (or degraded) hosts.
 *
 * The concrete balancer then picks a host from that source. Tables and zone structures are rebuilt
 * in refresh() / setLocal() / localUpdated(); chooseHost allocates nothing.
 */
import type { Host, Locality } from '../host';
import { DEGRADED_BIT, HostSet, isHostSetInPanic } from '../priority';
import { EdfScheduler } from './edf';
import { Rng } from './rng';
import { DEFAULT_ZONE_AWARE, LbContext, LbDeps, LoadBalancer, LocalClusterView, ZoneAwareConfig } from './types';

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
  /** Per-locality sources, indexed like HostSet.localities (built for locality weighting and zone routing). */
  localityHealthy: HostSource<S>[];
  localityDegraded: HostSource<S>[];
  healthyLocality: EdfScheduler<number> | null;
  degradedLocality: EdfScheduler<number> | null;
  localityWeighted: boolean;
}

/** Envoy's LocalityRoutingState for priority 0. */
export const enum ZoneRouting {
  None = 0,
  /** The local locality can take all of this proxy's traffic. */
  Direct = 1,
  /** Part of the traffic stays local; the rest goes by residual capacity. */
  Residual = 2,
}

/** Envoy's LocalityPercentages: shares in 1/10000 of the local and upstream healthy hosts. */
export interface LocalityPercentages {
  local: number;
  upstream: number;
}

/** The zone routing structures of priority 0 (exposed for tests and admin). */
export interface ZoneRoutingState {
  routing: ZoneRouting;
  /** Index (in HostSet.localities of priority 0) of the proxy's own locality, or -1. */
  localIndex: number;
  /** In 1/10000: the share of picks sampled to stay local under Residual routing. */
  localPercentToRoute: number;
  /** Cumulative residual capacity per locality (the local one adds nothing). */
  residualCapacity: number[];
  percentages: LocalityPercentages[];
}

const NO_ZONE_ROUTING: ZoneRoutingState = { routing: ZoneRouting.None, localIndex: -1, localPercentToRoute: 0, residualCapacity: [], percentages: [] };

export abstract class ZoneAwareLb<S> implements LoadBalancer {
  protected readonly rng: Rng;
  private tables: PriorityTables<S>[] = [];
  private readonly zoneCfg: ZoneAwareConfig;
  private local: LocalClusterView | null = null;
  private zone: ZoneRoutingState = NO_ZONE_ROUTING;
  /** The local cluster's priority 0 is in panic (checked per pick in Envoy; it only changes with the local cluster). */
  private localPanic = false;

  constructor(protected readonly deps: LbDeps) {
    this.rng = new Rng(deps.random);
    this.zoneCfg = deps.zoneAware ?? DEFAULT_ZONE_AWARE;
  }

  /** Builds the per-source state (EDF scheduler, index, cumulative weights…) for a host list. */
  protected abstract makeState(hosts: Host[]): S;
  /** Picks from one source; must not allocate. */
  protected abstract pickFrom(source: HostSource<S>): Host | null;

  /** The current zone routing structures of priority 0. */
  get zoneRouting(): Readonly<ZoneRoutingState> {
    return this.zone;
  }

  setLocal(local: LocalClusterView | null): void {
    this.local = local;
    this.refresh();
  }

  localUpdated(): void {
    if (this.local !== null) this.regenerateZoneStructures();
  }

  refresh(): void {
    const ps = this.deps.prioritySet;
    const tables: PriorityTables<S>[] = [];
    ps.hostSets.forEach((hs, p) => {
      const src = (hosts: Host[]): HostSource<S> => new HostSource(hosts, this.makeState(hosts));
      const localityWeighted = this.deps.localityWeighted && hs.hasLocalityWeights;
      const perLocality = localityWeighted || (p === 0 && this.local !== null);
      const idx = hs.localities.map((_, i) => i);
      const hw = hs.healthyLocalityWeights;
      const dw = hs.degradedLocalityWeights;
      tables.push({
        all: src(hs.hosts),
        healthy: src(hs.healthyHosts),
        degraded: src(hs.degradedHosts),
        localityHealthy: perLocality ? hs.localities.map((g) => src(g.healthyHosts)) : [],
        localityDegraded: perLocality ? hs.localities.map((g) => src(g.degradedHosts)) : [],
        healthyLocality: localityWeighted ? new EdfScheduler(idx, (i) => hw[i]) : null,
        degradedLocality: localityWeighted ? new EdfScheduler(idx, (i) => dw[i]) : null,
        localityWeighted,
      });
    });
    this.tables = tables;
    if (this.local !== null) this.regenerateZoneStructures();
    else this.zone = NO_ZONE_ROUTING;
  }

  /**
   * Envoy's regenerateLocalityRoutingStructures (counted as lb_recalculate_zone_structures):
   * decides, for priority 0, whether picks stay in the proxy's locality directly, are sampled
   * between local and residual capacity, or ignore localities.
   */
  private regenerateZoneStructures(): void {
    const local = this.local;
    if (local === null) return;
    this.deps.stats.lb_recalculate_zone_structures.inc();
    const upstream = this.deps.prioritySet.hostSets[0];
    const localSet = local.prioritySet.hostSets[0];
    this.localPanic = isHostSetInPanic(localSet, Math.min(100, this.deps.prioritySet.panicThreshold));
    this.zone = computeZoneRouting(upstream, localSet, local.locality, this.zoneCfg.minClusterSize, this.deps.stats);
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
      if (this.zoneCfg.failTrafficOnPanic) return null;
      return this.pickFrom(t.all);
    }
    const degraded = (sel & DEGRADED_BIT) !== 0;
    if (t.localityWeighted) {
      const li = degraded ? t.degradedLocality!.pick() : t.healthyLocality!.pick();
      if (li !== null) return this.pickFrom(degraded ? t.localityDegraded[li] : t.localityHealthy[li]);
    }
    const plain = degraded ? t.degraded : t.healthy;
    if (p !== 0 || this.zone.routing === ZoneRouting.None) return this.pickFrom(plain);
    const cfg = this.zoneCfg;
    // routing_enabled: the share of picks considered for zone routing (Envoy's featureEnabled draw).
    if (cfg.routingEnabled < 100 && this.rng.next() % 100 >= cfg.routingEnabled) return this.pickFrom(plain);
    if (this.localPanic) {
      this.deps.stats.lb_local_cluster_not_ok.inc();
      return cfg.failTrafficOnPanic ? null : this.pickFrom(plain);
    }
    const li = this.chooseLocality();
    // As Envoy: a degraded pick uses the chosen locality's degraded hosts (which may be none).
    return this.pickFrom(degraded ? t.localityDegraded[li] : t.localityHealthy[li]);
  }

  /** Envoy's tryChooseLocalLocalityHosts: the locality index for this pick. */
  private chooseLocality(): number {
    const z = this.zone;
    const stats = this.deps.stats;
    if (z.routing === ZoneRouting.Direct) {
      stats.lb_zone_routing_all_directly.inc();
      return z.localIndex;
    }
    if (this.rng.next() % 10000 < z.localPercentToRoute) {
      stats.lb_zone_routing_sampled.inc();
      return z.localIndex;
    }
    stats.lb_zone_routing_cross_zone.inc();
    const residual = z.residualCapacity;
    const n = residual.length;
    const total = residual[n - 1];
    if (total === 0) {
      // Only possible through rounding: any locality.
      stats.lb_zone_no_capacity_left.inc();
      return this.rng.next() % n;
    }
    const threshold = this.rng.next() % total;
    let i = 0;
    while (threshold >= residual[i]) i++;
    return i;
  }
}

export function sameLocality(a: Locality, b: Locality): boolean {
  return a.region === b.region && a.zone === b.zone && a.sub_zone === b.sub_zone;
}

/**
 * The zone routing decision for an upstream priority-0 host set, given the local cluster's
 * priority-0 host set and the proxy's locality (Envoy's earlyExitNonLocalityRouting,
 * calculateLocalityPercentages and the residual-capacity table). Charges lb_local_cluster_not_ok
 * and lb_zone_cluster_too_small when it gives up for those reasons.
 */
export function computeZoneRouting(
  upstream: HostSet,
  localSet: HostSet,
  locality: Locality,
  minClusterSize: number,
  stats: { lb_local_cluster_not_ok: { inc(): void }; lb_zone_cluster_too_small: { inc(): void } },
): ZoneRoutingState {
  const ups = upstream.localities;
  // Fewer than two upstream localities: nothing to choose between.
  if (ups.length < 2) return NO_ZONE_ROUTING;
  // Fewer than two local localities: zone routing can have no effect.
  if (localSet.localities.length < 2) return NO_ZONE_ROUTING;
  // The local cluster must have hosts in this proxy's own locality, or it is misconfigured.
  const ownLocal = localSet.localities.find((g) => sameLocality(g.locality, locality));
  if (ownLocal === undefined || ownLocal.hosts.length === 0) {
    stats.lb_local_cluster_not_ok.inc();
    return NO_ZONE_ROUTING;
  }
  if (upstream.healthyHosts.length < minClusterSize) {
    stats.lb_zone_cluster_too_small.inc();
    return NO_ZONE_ROUTING;
  }

  // Envoy's calculateLocalityPercentages over healthy hosts, in 1/10000 (integer division).
  let totalLocal = 0;
  for (const g of localSet.localities) totalLocal += g.healthyHosts.length;
  let totalUpstream = 0;
  for (const g of ups) totalUpstream += g.healthyHosts.length;
  const percentages: LocalityPercentages[] = ups.map((g) => {
    const up = g.healthyHosts.length;
    if (up === 0) return { local: 0, upstream: 0 };
    const lg = localSet.localities.find((x) => sameLocality(x.locality, g.locality));
    const localCount = lg === undefined ? 0 : lg.healthyHosts.length;
    return {
      local: totalLocal > 0 ? Math.floor((10000 * localCount) / totalLocal) : 0,
      upstream: totalUpstream > 0 ? Math.floor((10000 * up) / totalUpstream) : 0,
    };
  });

  const localIndex = ups.findIndex((g) => sameLocality(g.locality, locality));
  if (localIndex >= 0) {
    const own = percentages[localIndex];
    // The upstream's share in our locality covers our locality's share of callers: all local.
    if (own.upstream > 0 && own.upstream >= own.local) {
      return { routing: ZoneRouting.Direct, localIndex, localPercentToRoute: 10000, residualCapacity: [], percentages };
    }
  }
  // Otherwise route what the local locality can take, the rest by residual capacity elsewhere.
  const own = localIndex >= 0 ? percentages[localIndex] : undefined;
  const localPercentToRoute = own !== undefined && own.local > 0 ? Math.floor((own.upstream * 10000) / own.local) : 0;
  const residualCapacity: number[] = [];
  for (let i = 0; i < ups.length; i++) {
    const last = i > 0 ? residualCapacity[i - 1] : 0;
    const pc = percentages[i];
    residualCapacity.push(i !== localIndex && pc.upstream > pc.local ? last + pc.upstream - pc.local : last);
  }
  return { routing: ZoneRouting.Residual, localIndex, localPercentToRoute, residualCapacity, percentages };
}

/** True when all hosts have the same weight (Envoy then skips EDF and uses the unweighted pick). */
export function weightsAreEqual(hosts: readonly Host[]): boolean {
  for (let i = 1; i < hosts.length; i++) if (hosts[i].weight !== hosts[0].weight) return false;
  return true;
}
