/**
 * Circuit breakers (Envoy's ResourceManager per RoutingPriority): live counts against limits,
 * with the `circuit_breakers.<default|high>.*_open` gauges (1 while the limit is reached) and,
 * with track_remaining, the `remaining_*` gauges. Checks are plain comparisons: the pool/router
 * call canX(), then inc()/dec() on the resource, and charge the overflow counters
 * (cluster.stats.upstream_cx_overflow, upstream_rq_pending_overflow, upstream_rq_retry_overflow).
 */
import { ConfigIssue, joinPath, rejectUnsupported } from '../../lib/config-error';
import { Gauge, GaugeMode, StatsStore } from '../telemetry/stats';
import { isObject, readArray, readBool, readEnum, readNumber } from '../../lib/decoded-read';

export class Resource {
  /** Live count. */
  count = 0;
  constructor(
    readonly max: number,
    private readonly openGauge: Gauge,
    private readonly remainingGauge: Gauge | null,
  ) {
    this.update();
  }
  canCreate(): boolean {
    return this.count < this.max;
  }
  inc(): void {
    this.count++;
    this.update();
  }
  dec(): void {
    if (this.count > 0) this.count--;
    this.update();
  }
  private update(): void {
    this.openGauge.value = this.count >= this.max ? 1 : 0;
    if (this.remainingGauge) this.remainingGauge.value = this.count < this.max ? this.max - this.count : 0;
  }
}

export interface Thresholds {
  max_connections: number;
  max_pending_requests: number;
  max_requests: number;
  max_retries: number;
  max_connection_pools: number;
  track_remaining: boolean;
}

export const DEFAULT_THRESHOLDS: Readonly<Thresholds> = {
  max_connections: 1024,
  max_pending_requests: 1024,
  max_requests: 1024,
  max_retries: 3,
  max_connection_pools: 0xffffffff,
  track_remaining: false,
};

export class ResourceManager {
  readonly connections: Resource;
  readonly pendingRequests: Resource;
  readonly requests: Resource;
  readonly retries: Resource;
  readonly connectionPools: Resource;

  constructor(
    readonly thresholds: Readonly<Thresholds>,
    store: StatsStore,
    /** "cluster.<name>.circuit_breakers.default." */
    prefix: string,
  ) {
    const t = thresholds;
    const open = (n: string): Gauge => store.gauge(prefix + n, GaugeMode.NeverImport);
    const rem = (n: string): Gauge | null => (t.track_remaining ? store.gauge(prefix + n, GaugeMode.NeverImport) : null);
    this.connections = new Resource(t.max_connections, open('cx_open'), rem('remaining_cx'));
    this.pendingRequests = new Resource(t.max_pending_requests, open('rq_pending_open'), rem('remaining_pending'));
    this.requests = new Resource(t.max_requests, open('rq_open'), rem('remaining_rq'));
    this.retries = new Resource(t.max_retries, open('rq_retry_open'), rem('remaining_retries'));
    this.connectionPools = new Resource(t.max_connection_pools, open('cx_pool_open'), rem('remaining_cx_pools'));
  }
}

export class CircuitBreakers {
  readonly default: ResourceManager;
  readonly high: ResourceManager;

  constructor(store: StatsStore, clusterPrefix: string, defaultT: Readonly<Thresholds>, highT: Readonly<Thresholds>) {
    this.default = new ResourceManager(defaultT, store, clusterPrefix + 'circuit_breakers.default.');
    this.high = new ResourceManager(highT, store, clusterPrefix + 'circuit_breakers.high.');
  }

  resources(high = false): ResourceManager {
    return high ? this.high : this.default;
  }
  canCreateConnection(high = false): boolean {
    return (high ? this.high : this.default).connections.canCreate();
  }
  canQueue(high = false): boolean {
    return (high ? this.high : this.default).pendingRequests.canCreate();
  }
  canSendRequest(high = false): boolean {
    return (high ? this.high : this.default).requests.canCreate();
  }
  canRetry(high = false): boolean {
    return (high ? this.high : this.default).retries.canCreate();
  }
  canCreatePool(high = false): boolean {
    return (high ? this.high : this.default).connectionPools.canCreate();
  }
}

export interface CircuitBreakerConfig {
  default: Thresholds;
  high: Thresholds;
}

/** Reads `circuit_breakers` (envoy.config.cluster.v3.CircuitBreakers). */
export function parseCircuitBreakers(v: unknown, path: string, issues: ConfigIssue[]): CircuitBreakerConfig {
  const out: CircuitBreakerConfig = { default: { ...DEFAULT_THRESHOLDS }, high: { ...DEFAULT_THRESHOLDS } };
  if (v === undefined) return out;
  if (!isObject(v)) {
    issues.push({ path, message: 'expected a message' });
    return out;
  }
  rejectUnsupported(v, path, ['thresholds'], issues);
  const seen = new Set<string>();
  readArray(v, 'thresholds', path, issues).forEach((t, i) => {
    const p = joinPath(joinPath(path, 'thresholds'), i);
    if (!isObject(t)) {
      issues.push({ path: p, message: 'expected a message' });
      return;
    }
    rejectUnsupported(
      t,
      p,
      ['priority', 'max_connections', 'max_pending_requests', 'max_requests', 'max_retries', 'max_connection_pools', 'track_remaining'],
      issues,
    );
    const prio = readEnum(t, 'priority', p, issues, ['DEFAULT', 'HIGH'] as const) ?? 'DEFAULT';
    if (seen.has(prio)) issues.push({ path: joinPath(p, 'priority'), message: `duplicate thresholds for priority ${prio}` });
    seen.add(prio);
    const target = prio === 'HIGH' ? out.high : out.default;
    const u32 = { min: 0, max: 0xffffffff, integer: true };
    target.max_connections = readNumber(t, 'max_connections', p, issues, u32) ?? target.max_connections;
    target.max_pending_requests = readNumber(t, 'max_pending_requests', p, issues, u32) ?? target.max_pending_requests;
    target.max_requests = readNumber(t, 'max_requests', p, issues, u32) ?? target.max_requests;
    target.max_retries = readNumber(t, 'max_retries', p, issues, u32) ?? target.max_retries;
    if (t.max_connection_pools !== undefined) {
      issues.push({ path: joinPath(p, 'max_connection_pools'), message: 'field is not implemented by Weft yet' });
    }
    target.track_remaining = readBool(t, 'track_remaining', p, issues) ?? false;
  });
  return out;
}
