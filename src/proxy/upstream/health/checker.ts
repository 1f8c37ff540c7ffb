import type { UpstreamTransport } from '../transport-socket';
/**
 * Active health checking with Envoy's semantics (HealthCheckerImplBase): one session per host,
 * the first check at start (after initial_jitter), then interval / unhealthy_interval / edge
 * intervals (no_traffic_interval while the cluster has seen no traffic) plus jitter. A host added
 * while health checking is on starts FAILED_ACTIVE_HC; its first successful check makes it
 * healthy at once, later ones need healthy_threshold in a row. An ACTIVE (protocol-level) failure
 * marks a host unhealthy at once; network failures, timeouts and retriable statuses need
 * unhealthy_threshold in a row. Timers are unref'd and nothing here runs on the request path.
 */
import type { Counter, Gauge } from '../../telemetry/stats';
import { HealthFlag, Host } from '../host';
import type { HealthCheckConfig } from './config';
import { GrpcProbe } from './grpc-probe';
import { HttpProbe } from './http-probe';
import { FailureType, Probe, ProbeSink, ProbeTarget } from './probe';
import { TcpProbe } from './tcp-probe';

/** Envoy's HealthTransition. */
export const enum HealthTransition {
  Unchanged = 0,
  Changed = 1,
  ChangePending = 2,
}

/** Envoy's HealthState: the result of the check just completed. */
export const enum HealthState {
  Unhealthy = 0,
  Healthy = 1,
}

export type HostCheckCompleteCallback = (host: Host, transition: HealthTransition, result: HealthState) => void;

export interface HealthCheckerStats {
  attempt: Counter;
  success: Counter;
  failure: Counter;
  passive_failure: Counter;
  network_failure: Counter;
  verify_cluster: Counter;
  healthy: Gauge;
  degraded: Gauge;
}

export interface HealthCheckerDeps {
  /** The cluster's name: the default Host header / :authority. */
  clusterName: string;
  /** Creates `cluster.<name>.<suffix>` stats. */
  counter(suffix: string): Counter;
  gauge(suffix: string): Gauge;
  /** True once the cluster has carried traffic (Envoy: upstream_cx_total / bytes "used"). */
  hasTraffic(): boolean;
  log(level: 'debug' | 'info' | 'warn', msg: string): void;
  /** Random integer source (tests may pin it); default Math.random based. */
  random?: () => number;
  /** [tls] The cluster's transport socket (checks use it when it is TLS). */
  transport?: UpstreamTransport;
}

const defaultRandom = (): number => Math.floor(Math.random() * 0x100000000);

export class HealthChecker {
  readonly stats: HealthCheckerStats;
  private readonly sessions = new Map<Host, HostSession>();
  private readonly callbacks = new Set<HostCheckCompleteCallback>();
  private readonly random: () => number;
  private closed = false;

  constructor(
    readonly config: HealthCheckConfig,
    readonly deps: HealthCheckerDeps,
  ) {
    const c = (n: string): Counter => deps.counter('health_check.' + n);
    this.stats = {
      attempt: c('attempt'),
      success: c('success'),
      failure: c('failure'),
      passive_failure: c('passive_failure'),
      network_failure: c('network_failure'),
      verify_cluster: c('verify_cluster'),
      healthy: deps.gauge('health_check.healthy'),
      degraded: deps.gauge('health_check.degraded'),
    };
    this.random = deps.random ?? defaultRandom;
  }

  /** Starts a session (and its first check) for each host not already checked. */
  addHosts(hosts: readonly Host[]): void {
    if (this.closed) return;
    for (const h of hosts) {
      if (this.sessions.has(h)) continue;
      const s = new HostSession(this, h);
      this.sessions.set(h, s);
      s.start();
    }
  }

  removeHosts(hosts: readonly Host[]): void {
    for (const h of hosts) {
      const s = this.sessions.get(h);
      if (!s) continue;
      this.sessions.delete(h);
      s.destroy();
    }
  }

  /** Subscribes to every completed check; returns the unsubscribe function. */
  onHostCheckComplete(cb: HostCheckCompleteCallback): () => void {
    this.callbacks.add(cb);
    return () => this.callbacks.delete(cb);
  }

  /**
   * Calls `done` once every host checked now has had its first result (or was removed), as
   * Envoy's cluster waits for the first round before it finishes warming.
   */
  afterFirstChecks(done: () => void): void {
    let pending = 0;
    for (const s of this.sessions.values()) if (s.firstCheck) pending++;
    if (pending === 0) {
      done();
      return;
    }
    const off = this.onHostCheckComplete(() => {
      let left = 0;
      for (const s of this.sessions.values()) if (s.firstCheck) left++;
      if (left === 0) {
        off();
        done();
      }
    });
  }

  /**
   * The router's passive report (Envoy's HealthCheckHostMonitor::setUnhealthy): the upstream
   * answered with `x-envoy-immediate-health-check-fail`. The host is excluded and failed at once.
   */
  setUnhealthyImmediate(host: Host): void {
    const s = this.sessions.get(host);
    if (!s) return;
    host.setHealthFlag(HealthFlag.EXCLUDED_VIA_IMMEDIATE_HC_FAIL);
    s.setUnhealthy(FailureType.PASSIVE, false, 'x-envoy-immediate-health-check-fail');
  }

  get hostCount(): number {
    return this.sessions.size;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const all = [...this.sessions.values()];
    this.sessions.clear();
    // Sessions still waiting for their first result report it (Unchanged), so warm-up waiters finish.
    for (const s of all) s.destroy();
    this.callbacks.clear();
  }

  /** @internal */
  runCallbacks(host: Host, t: HealthTransition, r: HealthState): void {
    for (const cb of [...this.callbacks]) cb(host, t, r);
  }

  /** @internal Envoy's interval(state, transition) with jitter; at least 1 ms. */
  nextInterval(state: HealthState, t: HealthTransition): number {
    const c = this.config;
    let base: number;
    if (this.deps.hasTraffic()) {
      if (state === HealthState.Unhealthy) base = t === HealthTransition.ChangePending ? c.unhealthyEdgeIntervalMs : c.unhealthyIntervalMs;
      else base = t === HealthTransition.ChangePending ? c.healthyEdgeIntervalMs : c.intervalMs;
    } else {
      base = state === HealthState.Healthy && t !== HealthTransition.ChangePending ? c.noTrafficHealthyIntervalMs : c.noTrafficIntervalMs;
    }
    return this.withJitter(base, c.intervalJitterMs);
  }

  /** @internal */
  withJitter(baseMs: number, jitterMs: number): number {
    let ms = Math.floor(baseMs);
    const pct = Math.floor((this.config.intervalJitterPercent * ms) / 100);
    if (pct > 0) ms += this.random() % pct;
    const j = Math.floor(jitterMs);
    if (j > 0) ms += this.random() % j;
    return Math.max(1, ms);
  }

  /** @internal */
  makeProbe(host: Host, sink: ProbeSink): Probe {
    const c = this.config;
    const spec = c.check;
    const authority =
      spec.kind === 'http' ? spec.host || this.deps.clusterName : spec.kind === 'grpc' ? spec.authority || this.deps.clusterName : '';
    // Read the address at each connect: a LOGICAL_DNS host may move.
    const altPort = c.altPort;
    const target: ProbeTarget = {
      get address() {
        return host.address;
      },
      get port() {
        return altPort ?? host.port;
      },
      authority,
      tls: this.deps.transport?.secure ? this.deps.transport : undefined,
    };
    switch (spec.kind) {
      case 'http':
        return new HttpProbe(spec, target, sink, c.reuseConnection, this.stats.verify_cluster);
      case 'tcp':
        return new TcpProbe(spec, target, sink, c.reuseConnection);
      case 'grpc':
        return new GrpcProbe(spec, target, sink, c.reuseConnection, c.timeoutMs);
    }
  }
}

/** One host's checks: timers, counters toward the thresholds, the prober. */
class HostSession implements ProbeSink {
  firstCheck = true;
  private numHealthy = 0;
  private numUnhealthy = 0;
  private inFlight = false;
  private destroyed = false;
  private intervalTimer: NodeJS.Timeout | null = null;
  private timeoutTimer: NodeJS.Timeout | null = null;
  private readonly probe: Probe;

  constructor(
    private readonly parent: HealthChecker,
    private readonly host: Host,
  ) {
    this.probe = parent.makeProbe(host, this);
    if (!host.healthFlagGet(HealthFlag.FAILED_ACTIVE_HC)) parent.stats.healthy.inc();
    if (host.healthFlagGet(HealthFlag.DEGRADED_ACTIVE_HC)) parent.stats.degraded.inc();
  }

  start(): void {
    const j = this.parent.config.initialJitterMs;
    if (j === 0) this.onInterval();
    else this.armInterval(this.parent.withJitter(0, j));
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.clearTimers();
    this.probe.close();
    const p = this.parent;
    if (!this.host.healthFlagGet(HealthFlag.FAILED_ACTIVE_HC)) p.stats.healthy.dec();
    if (this.host.healthFlagGet(HealthFlag.DEGRADED_ACTIVE_HC)) p.stats.degraded.dec();
    if (this.firstCheck) {
      this.firstCheck = false;
      p.runCallbacks(this.host, HealthTransition.Unchanged, this.host.healthFlagGet(HealthFlag.FAILED_ACTIVE_HC) ? HealthState.Unhealthy : HealthState.Healthy);
    }
  }

  private clearTimers(): void {
    if (this.intervalTimer) clearTimeout(this.intervalTimer);
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    this.intervalTimer = this.timeoutTimer = null;
  }

  private armInterval(ms: number): void {
    if (this.destroyed) return;
    if (this.intervalTimer) clearTimeout(this.intervalTimer);
    this.intervalTimer = setTimeout(this.onInterval, ms);
    this.intervalTimer.unref();
  }

  private readonly onInterval = (): void => {
    this.intervalTimer = null;
    if (this.destroyed) return;
    this.inFlight = true;
    this.timeoutTimer = setTimeout(this.onTimeout, this.parent.config.timeoutMs);
    this.timeoutTimer.unref();
    this.parent.stats.attempt.inc();
    this.probe.start();
  };

  private readonly onTimeout = (): void => {
    this.timeoutTimer = null;
    if (this.destroyed) return;
    this.inFlight = false;
    this.probe.abort();
    this.handleFailure(FailureType.NETWORK_TIMEOUT, false, 'timeout');
  };

  // ---- ProbeSink ----

  success(degraded: boolean): void {
    if (this.destroyed) return;
    this.inFlight = false;
    this.handleSuccess(degraded);
  }

  failure(type: FailureType, retriable: boolean, detail: string): void {
    if (this.destroyed) return;
    this.inFlight = false;
    this.handleFailure(type, retriable, detail);
  }

  immediateFail(): void {
    if (this.destroyed) return;
    this.host.setHealthFlag(HealthFlag.EXCLUDED_VIA_IMMEDIATE_HC_FAIL);
  }

  // ---- Envoy's state machine ----

  private handleSuccess(degraded: boolean): void {
    const p = this.parent;
    const host = this.host;
    this.numUnhealthy = 0;
    let t = HealthTransition.Unchanged;
    let set = 0;
    let clear = 0;
    if (host.healthFlagGet(HealthFlag.FAILED_ACTIVE_HC)) {
      if (this.firstCheck || ++this.numHealthy >= p.config.healthyThreshold) {
        clear |= HealthFlag.ACTIVE_HC_TIMEOUT | HealthFlag.EXCLUDED_VIA_IMMEDIATE_HC_FAIL | HealthFlag.FAILED_ACTIVE_HC;
        p.stats.healthy.inc();
        t = HealthTransition.Changed;
        p.deps.log('info', `health check: ${host.key} in cluster ${p.deps.clusterName} is now healthy${this.firstCheck ? ' (first check)' : ''}`);
      } else {
        t = HealthTransition.ChangePending;
      }
    } else if (p.config.alwaysLogSuccess) {
      p.deps.log('info', `health check: ${host.key} in cluster ${p.deps.clusterName} passed`);
    }
    if (host.healthFlagGet(HealthFlag.PENDING_ACTIVE_HC)) {
      clear |= HealthFlag.PENDING_ACTIVE_HC;
      t = HealthTransition.Changed;
    }
    if (degraded !== host.healthFlagGet(HealthFlag.DEGRADED_ACTIVE_HC)) {
      if (degraded) {
        set |= HealthFlag.DEGRADED_ACTIVE_HC;
        p.stats.degraded.inc();
      } else {
        clear |= HealthFlag.DEGRADED_ACTIVE_HC;
        p.stats.degraded.dec();
      }
      if (t === HealthTransition.Unchanged) t = HealthTransition.Changed;
    }
    host.updateHealthFlags(set, clear);
    p.stats.success.inc();
    this.firstCheck = false;
    p.runCallbacks(host, t, HealthState.Healthy);
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    this.timeoutTimer = null;
    this.armInterval(p.nextInterval(HealthState.Healthy, t));
  }

  /** Envoy's setUnhealthy: also used for passive failures (no timer change). */
  setUnhealthy(type: FailureType, retriable: boolean, detail: string): HealthTransition {
    const p = this.parent;
    const host = this.host;
    this.numHealthy = 0;
    let t = HealthTransition.Unchanged;
    let set = 0;
    let clear = 0;
    const network = type === FailureType.NETWORK || type === FailureType.NETWORK_TIMEOUT;
    let failed = host.healthFlagGet(HealthFlag.FAILED_ACTIVE_HC);
    if (!failed) {
      if ((!network && !retriable) || ++this.numUnhealthy >= p.config.unhealthyThreshold) {
        set |= HealthFlag.FAILED_ACTIVE_HC;
        failed = true;
        p.stats.healthy.dec();
        t = HealthTransition.Changed;
        p.deps.log('warn', `health check: ${host.key} in cluster ${p.deps.clusterName} is now unhealthy (${detail})`);
      } else {
        t = HealthTransition.ChangePending;
      }
    }
    if (type === FailureType.NETWORK_TIMEOUT && failed) set |= HealthFlag.ACTIVE_HC_TIMEOUT;
    else clear |= HealthFlag.ACTIVE_HC_TIMEOUT;
    if (host.healthFlagGet(HealthFlag.PENDING_ACTIVE_HC)) {
      clear |= HealthFlag.PENDING_ACTIVE_HC;
      t = HealthTransition.Changed;
    }
    if ((this.firstCheck || p.config.alwaysLogFailures) && t !== HealthTransition.Changed) {
      p.deps.log('warn', `health check: ${host.key} in cluster ${p.deps.clusterName} failed (${detail})`);
    }
    host.updateHealthFlags(set, clear);
    p.stats.failure.inc();
    if (network) p.stats.network_failure.inc();
    else if (type === FailureType.PASSIVE) p.stats.passive_failure.inc();
    this.firstCheck = false;
    p.runCallbacks(host, t, HealthState.Unhealthy);
    return t;
  }

  private handleFailure(type: FailureType, retriable: boolean, detail: string): void {
    const t = this.setUnhealthy(type, retriable, detail);
    if (this.destroyed) return;
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    this.timeoutTimer = null;
    this.armInterval(this.parent.nextInterval(HealthState.Unhealthy, t));
  }

  get checking(): boolean {
    return this.inFlight;
  }
}
