import type { Host } from '../host';
import type { PrioritySet } from '../priority';

/**
 * What the router hands the load balancer for one pick.
 * - hashKey: the request's hash (from route hash_policy) for RING_HASH / MAGLEV; without it they pick at random.
 * - random: a number in [0, 1) to use as this pick's randomness (tests, or a caller that wants
 *   deterministic picks); further draws the pick needs are derived from it. Absent: Math.random().
 */
export interface LbContext {
  hashKey?: number;
  random?: number;
}

/** The counters a load balancer charges (cluster.<name>.lb_*). */
export interface LbStats {
  lb_healthy_panic: { inc(): void };
}

/** A compiled load balancer over one cluster's PrioritySet. */
export interface LoadBalancer {
  /** Picks a host, or null when none is available. Must not allocate. */
  chooseHost(ctx: LbContext): Host | null;
  /** Rebuilds internal tables after membership/health of `ps` changed (off the hot path). */
  refresh(): void;
}

export interface LbDeps {
  prioritySet: PrioritySet;
  stats: LbStats;
  /** Honour locality load_balancing_weight (common_lb_config.locality_weighted_lb_config set). */
  localityWeighted: boolean;
}
