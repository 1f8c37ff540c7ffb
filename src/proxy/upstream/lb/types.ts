import type { Host, Locality } from '../host';
import type { PrioritySet } from '../priority';

/**
 * What the router hands the load balancer for one pick.
 * - hashKey: the request's hash (from route hash_policy) for RING_HASH / MAGLEV; without it they pick at random.
 * - random: a number in [0, 1) to use as this pick's randomness (tests, or a caller that wants
 *   deterministic picks); further draws the pick needs are derived from it. Absent: the
 *   balancer's random source (LbDeps.random, else Math.random()).
 */
export interface LbContext {
  hashKey?: number;
  random?: number;
}

interface Inc {
  inc(): void;
}

/** The counters a load balancer charges (cluster.<name>.lb_*), named as Envoy names them. */
export interface LbStats {
  lb_healthy_panic: Inc;
  lb_local_cluster_not_ok: Inc;
  lb_recalculate_zone_structures: Inc;
  lb_zone_cluster_too_small: Inc;
  lb_zone_no_capacity_left: Inc;
  lb_zone_number_differs: Inc;
  lb_zone_routing_all_directly: Inc;
  lb_zone_routing_sampled: Inc;
  lb_zone_routing_cross_zone: Inc;
}

/**
 * common_lb_config.zone_aware_lb_config, with Envoy's defaults when absent:
 * routing_enabled 100 (%, rounded), min_cluster_size 6, fail_traffic_on_panic false.
 */
export interface ZoneAwareConfig {
  routingEnabled: number;
  minClusterSize: number;
  failTrafficOnPanic: boolean;
}

export const DEFAULT_ZONE_AWARE: ZoneAwareConfig = { routingEnabled: 100, minClusterSize: 6, failTrafficOnPanic: false };

/**
 * The local cluster (bootstrap cluster_manager.local_cluster_name: the hosts of the service this
 * proxy belongs to) and this proxy's own locality (node.locality). Zone-aware routing reads the
 * local cluster's priority 0 only, as Envoy does.
 */
export interface LocalClusterView {
  readonly prioritySet: PrioritySet;
  readonly locality: Locality;
}

/** A compiled load balancer over one cluster's PrioritySet. */
export interface LoadBalancer {
  /** Picks a host, or null when none is available. Must not allocate. */
  chooseHost(ctx: LbContext): Host | null;
  /** Rebuilds internal tables after membership/health of `ps` changed (off the hot path). */
  refresh(): void;
  /**
   * Zone-aware balancers (ROUND_ROBIN, LEAST_REQUEST, RANDOM): sets (or clears, with null) the
   * local cluster and recomputes the zone routing structures. Call again, or localUpdated(),
   * whenever the local cluster's membership or health changes.
   */
  setLocal?(local: LocalClusterView | null): void;
  localUpdated?(): void;
}

export interface LbDeps {
  prioritySet: PrioritySet;
  stats: LbStats;
  /** Honour locality load_balancing_weight (common_lb_config.locality_weighted_lb_config set). */
  localityWeighted: boolean;
  /** Zone-aware routing settings (defaults apply when the cluster sets none). */
  zoneAware?: ZoneAwareConfig;
  /** uint32 random source used when a pick carries no LbContext.random (tests pin it). */
  random?: () => number;
}
