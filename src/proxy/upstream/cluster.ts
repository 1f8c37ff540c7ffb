/**
 * A compiled `envoy.config.cluster.v3.Cluster`: hosts per priority, the load balancer, circuit
 * breakers, stats and upstream options. Membership changes (DNS, EDS, health) rebuild the
 * priority loads and LB tables off the request path; chooseHost only reads them.
 */
import { ConfigIssue } from '../../lib/config-error';
import type { StatsStore } from '../telemetry/stats';
import { CircuitBreakers } from './circuit-breakers';
import { ClusterStats } from './cluster-stats';
import { Decoded } from '../../lib/decoded-read';
import { DnsResolve, systemDnsResolve } from './dns';
import { CoarseHealth, HealthFlag, Host, Locality } from './host';
import { UpstreamHttpOptions } from './http-options';
import { createLoadBalancer, LbPolicy } from './lb';
import { LbContext, LoadBalancer } from './lb/types';
import { EndpointSpec, hostFromSpec, parseLoadAssignment } from './load-assignment';
import { PrioritySet } from './priority';
import { HealthChecker, HealthState, HealthTransition } from './health/checker';
import { OutlierDetector } from './outlier/detector';
import { parseClusterConfig, type ClusterConfig, type ClusterType, type DnsSettings } from './cluster-config';
import type { UpstreamTransport } from './transport-socket';
import { SecretStore } from '../secret/secret-store';

export type { ClusterConfig, ClusterType, DnsSettings } from './cluster-config';
export { parseClusterConfig } from './cluster-config';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';
export type LogFn = (level: LogLevel, msg: string) => void;

export interface ClusterDeps {
  stats: StatsStore;
  log?: LogFn;
  /** Random integer source for health-check jitter and outlier enforcement (tests pin it). */
  random?: () => number;
  /** uint32 random source of the load balancer for picks without LbContext.random (tests pin it). */
  lbRandom?: () => number;
  /** DNS resolver for STRICT_DNS / LOGICAL_DNS (default: the system resolver). */
  dnsResolve?: DnsResolve;
  /** True for clusters from CDS (shown as added_via_api in /clusters). */
  addedViaApi?: boolean;
  /** Secrets for transport_socket (TLS); a private store when absent (inline certificates only). */
  secrets?: SecretStore;
}

/** Called after a priority's membership changed: the hosts added and removed. */
export type HostsChangedCallback = (priority: number, added: readonly Host[], removed: readonly Host[]) => void;

interface DnsTarget {
  spec: EndpointSpec;
  hosts: Host[];
  timer: NodeJS.Timeout | null;
  failures: number;
  resolvedOnce: boolean;
}

export class Cluster {
  readonly name: string;
  readonly type: ClusterType;
  readonly connectTimeoutMs: number;
  readonly lbPolicy: LbPolicy;
  readonly perConnectionBufferLimitBytes: number;
  readonly http: UpstreamHttpOptions;
  readonly circuitBreakers: CircuitBreakers;
  readonly stats: ClusterStats;
  readonly prioritySet: PrioritySet;
  readonly metadata: Decoded;
  readonly edsServiceName: string | undefined;
  readonly edsConfig: Decoded | undefined;
  readonly addedViaApi: boolean;
  readonly dns: DnsSettings;
  readonly config: ClusterConfig;
  /** How connections to this cluster's hosts are opened (transport_socket): pools call transport.connect. */
  readonly transport: UpstreamTransport;

  /** False while warming: DNS clusters until every name resolved once, EDS until the first assignment. */
  initialized = false;

  /** Active health checking (health_checks), or null. Hosts start FAILED_ACTIVE_HC when set. */
  readonly healthChecker: HealthChecker | null = null;
  /**
   * Outlier detection (outlier_detection), or null. The router reports every upstream outcome:
   * `cluster.outlierDetector?.putHttpResponseCode(host, status)` / `.putResult(host, result)`.
   */
  readonly outlierDetector: OutlierDetector | null = null;
  /** Set by markTraffic(): health checks leave no_traffic_interval once traffic was seen. */
  private trafficSeen = false;
  /** markInitialized() was called and waits for the first round of health checks. */
  private initAfterHealthChecks = false;

  private readonly lb: LoadBalancer;
  private readonly log: LogFn;
  private readonly dnsResolve: DnsResolve;
  private readonly callbacks = new Set<HostsChangedCallback>();
  /** Called after every rebuild (membership or health change): clusters routing zone-aware against this one. */
  private readonly updateListeners = new Set<() => void>();
  /** Unsubscribes from the local cluster set by setLocalCluster. */
  private localUnsubscribe: (() => void) | null = null;
  private readonly initWaiters: (() => void)[] = [];
  private readonly dnsTargets: DnsTarget[] = [];
  /** Hosts of each priority contributed by static IP endpoints (STRICT/LOGICAL_DNS mix them with DNS hosts). */
  private readonly staticHosts: Host[][] = [];
  private closed = false;

  constructor(cfg: ClusterConfig, deps: ClusterDeps) {
    this.config = cfg;
    this.transport = cfg.transport;
    this.name = cfg.name;
    this.type = cfg.type;
    this.connectTimeoutMs = cfg.connectTimeoutMs;
    this.lbPolicy = cfg.lb.policy;
    this.perConnectionBufferLimitBytes = cfg.perConnectionBufferLimitBytes;
    this.http = cfg.http;
    this.metadata = cfg.metadata;
    this.edsServiceName = cfg.edsServiceName;
    this.edsConfig = cfg.edsConfig;
    this.addedViaApi = deps.addedViaApi ?? false;
    this.dns = cfg.dns;
    this.log = deps.log ?? (() => {});
    this.dnsResolve = deps.dnsResolve ?? systemDnsResolve;
    const prefix = `cluster.${cfg.altStatName ?? cfg.name}.`;
    this.stats = new ClusterStats(deps.stats, prefix);
    this.circuitBreakers = new CircuitBreakers(deps.stats, prefix, cfg.circuitBreakers.default, cfg.circuitBreakers.high);
    this.prioritySet = new PrioritySet(cfg.overprovisioningFactor, cfg.healthyPanicThreshold);
    this.lb = createLoadBalancer(
      cfg.lb,
      {
        prioritySet: this.prioritySet,
        stats: this.stats,
        localityWeighted: cfg.localityWeighted,
        zoneAware: cfg.zoneAware,
        random: deps.lbRandom,
      },
      (n) => this.stats.gauge(n),
    );
    this.setupHealthAndOutlier(cfg, deps);
    this.start(cfg.endpoints);
  }

  /**
   * Marks the cluster as having carried traffic (Envoy reads upstream_cx_total / byte counters);
   * health checks then use interval instead of no_traffic_interval. Opening a connection through
   * the cluster's pools already counts.
   */
  markTraffic(): void {
    this.trafficSeen = true;
  }

  get hasTraffic(): boolean {
    return this.trafficSeen || this.stats.upstream_cx_total.value > 0 || this.stats.upstream_cx_tx_bytes_total.value > 0 || this.stats.upstream_cx_rx_bytes_total.value > 0;
  }

  /**
   * The router saw `x-envoy-immediate-health-check-fail` on a response from `host`: with active
   * health checking the host is excluded and marked failed at once (Envoy's passive HC failure).
   */
  hostImmediateHealthCheckFail(host: Host): void {
    this.healthChecker?.setUnhealthyImmediate(host);
  }

  private setupHealthAndOutlier(cfg: ClusterConfig, deps: ClusterDeps): void {
    const self = this as { healthChecker: HealthChecker | null; outlierDetector: OutlierDetector | null };
    const statDeps = {
      clusterName: this.name,
      counter: (n: string) => this.stats.counter(n),
      gauge: (n: string) => this.stats.gauge(n),
      log: (level: LogLevel, msg: string) => this.log(level, msg),
      random: deps.random,
    };
    const hcCfg = cfg.healthChecks[0];
    if (hcCfg) {
      const hc = new HealthChecker(hcCfg, { ...statDeps, hasTraffic: () => this.hasTraffic, transport: cfg.transport });
      self.healthChecker = hc;
      this.callbacks.add((_p, added, removed) => {
        hc.removeHosts(removed);
        hc.addHosts(added);
      });
    }
    if (cfg.outlierDetection) {
      const od = new OutlierDetector(cfg.outlierDetection, statDeps);
      self.outlierDetector = od;
      this.callbacks.add((_p, added, removed) => {
        od.removeHosts(removed);
        od.addHosts(added);
      });
      if (this.healthChecker) {
        this.healthChecker.onHostCheckComplete((host: Host, _t: HealthTransition, result: HealthState) => {
          if (result === HealthState.Healthy) od.onActiveHealthCheckSuccess(host);
        });
      }
    }
  }

  /**
   * Picks an upstream host, or null when none is available — in which case
   * `upstream_cx_none_healthy` has already been charged (callers must not charge it again).
   */
  chooseHost(ctx: LbContext): Host | null {
    const h = this.lb.chooseHost(ctx);
    if (h === null) this.stats.upstream_cx_none_healthy.inc();
    return h;
  }

  /**
   * Zone-aware routing (Envoy's local priority set): `local` is the cluster named by the
   * bootstrap's cluster_manager.local_cluster_name, `locality` this proxy's node.locality.
   * ROUND_ROBIN, LEAST_REQUEST and RANDOM then keep priority-0 traffic in the proxy's locality
   * as far as the upstream's share there allows; the structures follow every membership or
   * health change of either cluster. `null` turns it off. Hash balancers ignore it, as in Envoy.
   */
  setLocalCluster(local: Cluster | null, locality: Locality): void {
    this.localUnsubscribe?.();
    this.localUnsubscribe = null;
    const lb = this.lb;
    if (!lb.setLocal) return;
    if (local === null || this.closed) {
      lb.setLocal(null);
      return;
    }
    lb.setLocal({ prioritySet: local.prioritySet, locality: { ...locality } });
    if (local !== this) {
      const listener = (): void => {
        if (!this.closed) lb.localUpdated?.();
      };
      this.localUnsubscribe = local.onUpdated(listener);
    }
  }

  /** Subscribes to every rebuild of this cluster's priority set; returns the unsubscribe function. */
  onUpdated(listener: () => void): () => void {
    this.updateListeners.add(listener);
    return () => this.updateListeners.delete(listener);
  }

  /** Every host, all priorities. */
  allHosts(): Host[] {
    const out: Host[] = [];
    for (const hs of this.prioritySet.hostSets) out.push(...hs.hosts);
    return out;
  }

  /** Subscribes to membership changes; returns the unsubscribe function. */
  onHostsChanged(cb: HostsChangedCallback): () => void {
    this.callbacks.add(cb);
    return () => this.callbacks.delete(cb);
  }

  /** Resolves when the cluster has finished warming (immediately for STATIC). */
  whenInitialized(): Promise<void> {
    if (this.initialized) return Promise.resolve();
    return new Promise((resolve) => this.initWaiters.push(resolve));
  }

  /**
   * Marks the cluster warm (EDS: also on initial_fetch_timeout, decided by the xDS client). With
   * active health checking, as in Envoy, warming ends once every host has had its first check.
   */
  markInitialized(): void {
    if (this.initialized || this.initAfterHealthChecks) return;
    const hc = this.healthChecker;
    if (hc && !this.closed) {
      this.initAfterHealthChecks = true;
      hc.afterFirstChecks(() => {
        this.initAfterHealthChecks = false;
        this.finishInitialization();
      });
      return;
    }
    this.finishInitialization();
  }

  private finishInitialization(): void {
    if (this.initialized) return;
    this.initialized = true;
    for (const w of this.initWaiters.splice(0)) w();
  }

  /**
   * Replaces the hosts of one priority (EDS and DNS use this). Hosts whose key and locality match
   * an existing host keep the existing Host object (its pool, stats and health-check/outlier
   * flags), taking the new weight, metadata and EDS health. Removed hosts' pools are drained.
   */
  updateHosts(priority: number, hosts: readonly Host[]): void {
    const hs = this.prioritySet.getOrCreate(priority);
    const existing = new Map<string, Host>();
    for (const h of hs.hosts) existing.set(h.key + '|' + h.localityKey, h);
    const next: Host[] = [];
    const added: Host[] = [];
    for (const h of hosts) {
      const id = h.key + '|' + h.localityKey;
      const old = existing.get(id);
      if (old) {
        existing.delete(id);
        old.weight = h.weight;
        old.localityWeight = h.localityWeight;
        old.metadata = h.metadata;
        const edsMask = HealthFlag.FAILED_EDS_HEALTH | HealthFlag.DEGRADED_EDS_HEALTH;
        old.healthFlags = (old.healthFlags & ~edsMask) | (h.healthFlags & edsMask);
        next.push(old);
      } else {
        h.priority = priority;
        // With active health checking a new host starts unhealthy until its first check passes.
        if (this.healthChecker) h.healthFlags |= HealthFlag.FAILED_ACTIVE_HC;
        h.healthChangedCallback = this.onHostHealthChanged;
        next.push(h);
        added.push(h);
      }
    }
    const removed = [...existing.values()];
    for (const h of removed) {
      h.healthChangedCallback = null;
      h.pool?.drain();
    }
    hs.setHosts(next, this.prioritySet.overprovisioningFactor);
    this.rebuild();
    if (added.length > 0 || removed.length > 0) {
      this.stats.membership_change.inc();
      for (const cb of this.callbacks) cb(priority, added, removed);
    }
    if (this.type === 'EDS') this.markInitialized();
  }

  /**
   * Applies a ClusterLoadAssignment (EDS). Returns false, changing nothing, when it has issues.
   */
  applyLoadAssignment(cla: unknown, path: string, issues: ConfigIssue[]): boolean {
    const local: ConfigIssue[] = [];
    const parsed = parseLoadAssignment(cla, path, local);
    for (const e of parsed.endpoints) {
      if (!e.isIp) local.push({ path, message: `endpoint address ${e.address} is not an IP address` });
    }
    this.stats.update_attempt.inc();
    if (local.length > 0) {
      issues.push(...local);
      this.stats.update_failure.inc();
      return false;
    }
    // An assignment without a policy goes back to Envoy's default factor.
    this.prioritySet.overprovisioningFactor = parsed.overprovisioningFactor ?? 140;
    const byPriority: Host[][] = [];
    for (const e of parsed.endpoints) (byPriority[e.priority] ??= []).push(hostFromSpec(e));
    const n = Math.max(byPriority.length, this.prioritySet.hostSets.length);
    for (let p = 0; p < n; p++) this.updateHosts(p, byPriority[p] ?? []);
    if (parsed.endpoints.length === 0) this.stats.update_empty.inc();
    this.stats.update_success.inc();
    this.markInitialized();
    return true;
  }

  /** Stops DNS timers, health checks and outlier detection, and drains every host's pool. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Whoever waits for this cluster to warm must not wait forever for a cluster that is gone.
    for (const w of this.initWaiters.splice(0)) w();
    this.localUnsubscribe?.();
    this.localUnsubscribe = null;
    this.updateListeners.clear();
    this.outlierDetector?.close();
    this.healthChecker?.close();
    // A TLS transport holds secret subscriptions (and inline secrets' file watches).
    (this.transport as { close?: () => void }).close?.();
    for (const t of this.dnsTargets) {
      if (t.timer) clearTimeout(t.timer);
      t.timer = null;
    }
    for (const h of this.allHosts()) {
      h.healthChangedCallback = null;
      h.pool?.drain();
    }
    this.callbacks.clear();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private readonly onHostHealthChanged = (_host: Host): void => {
    if (this.closed) return;
    this.rebuild();
  };

  private rebuild(): void {
    const ps = this.prioritySet;
    for (const hs of ps.hostSets) hs.recomputeHealth(ps.overprovisioningFactor);
    ps.recompute();
    this.lb.refresh();
    let total = 0;
    let healthy = 0;
    let degraded = 0;
    let excluded = 0;
    let maxWeight = 0;
    for (const hs of ps.hostSets) {
      for (const h of hs.hosts) {
        total++;
        const c = h.coarseHealth;
        if (c === CoarseHealth.Healthy) healthy++;
        else if (c === CoarseHealth.Degraded) degraded++;
        if (h.excluded) excluded++;
        if (h.weight > maxWeight) maxWeight = h.weight;
      }
    }
    this.stats.membership_total.set(total);
    this.stats.membership_healthy.set(healthy);
    this.stats.membership_degraded.set(degraded);
    this.stats.membership_excluded.set(excluded);
    this.stats.max_host_weight.set(maxWeight);
    for (const l of this.updateListeners) l();
  }

  // ---- initial hosts and DNS ----

  private start(endpoints: EndpointSpec[]): void {
    if (this.type === 'EDS') {
      this.rebuild();
      return;
    }
    const byPriority: Host[][] = [];
    for (const e of endpoints) {
      if (e.isIp) (byPriority[e.priority] ??= []).push(hostFromSpec(e));
      else this.dnsTargets.push({ spec: e, hosts: [], timer: null, failures: 0, resolvedOnce: false });
    }
    for (let p = 0; p < byPriority.length; p++) this.staticHosts[p] = byPriority[p] ?? [];
    for (let p = 0; p < this.staticHosts.length; p++) this.updateHosts(p, this.staticHosts[p]);
    this.rebuild();
    if (this.dnsTargets.length === 0) {
      this.markInitialized();
      return;
    }
    for (const t of this.dnsTargets) this.resolve(t);
  }

  private resolve(t: DnsTarget): void {
    if (this.closed) return;
    t.timer = null;
    const name = t.spec.address;
    this.stats.update_attempt.inc();
    this.dnsResolve(name, this.dns.lookupFamily, this.dns.respectTtl).then(
      (answer) => {
        if (this.closed) return;
        t.failures = 0;
        this.stats.update_success.inc();
        if (answer.addresses.length === 0) this.stats.update_empty.inc();
        this.applyDnsAnswer(t, answer.addresses);
        const ttl = this.dns.respectTtl && answer.ttlMs !== undefined && answer.ttlMs > 0 ? answer.ttlMs : undefined;
        this.log('debug', `cluster ${this.name}: resolved ${name} to [${answer.addresses.join(', ')}]`);
        this.scheduleResolve(t, ttl ?? this.dns.refreshRateMs);
      },
      (err: unknown) => {
        if (this.closed) return;
        t.failures++;
        this.stats.update_failure.inc();
        this.log('warn', `cluster ${this.name}: DNS resolution of ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
        const fr = this.dns.failureRefresh;
        const delay = fr
          ? Math.min(fr.maxMs, fr.baseMs * Math.pow(2, t.failures - 1)) * (0.5 + Math.random() * 0.5)
          : this.dns.refreshRateMs;
        this.targetResolved(t);
        this.scheduleResolve(t, delay);
      },
    );
  }

  private scheduleResolve(t: DnsTarget, delayMs: number): void {
    if (this.closed) return;
    t.timer = setTimeout(() => this.resolve(t), Math.max(1, delayMs));
    t.timer.unref();
  }

  private applyDnsAnswer(t: DnsTarget, addresses: string[]): void {
    const spec = t.spec;
    if (this.type === 'LOGICAL_DNS') {
      const addr = addresses[0];
      if (addr !== undefined) {
        if (t.hosts.length === 0) t.hosts = [hostFromSpec(spec, addr, spec.hostname || spec.address)];
        else if (t.hosts[0].address !== addr) t.hosts[0].setAddress(addr, spec.port);
      }
    } else {
      const old = new Map(t.hosts.map((h) => [h.address, h]));
      t.hosts = addresses.map((a) => old.get(a) ?? hostFromSpec(spec, a, spec.hostname || spec.address));
    }
    // Priority = static hosts of that priority plus every DNS target's hosts at it.
    const p = spec.priority;
    const hosts: Host[] = [...(this.staticHosts[p] ?? [])];
    for (const other of this.dnsTargets) if (other.spec.priority === p) hosts.push(...other.hosts);
    this.updateHosts(p, hosts);
    this.targetResolved(t);
  }

  private targetResolved(t: DnsTarget): void {
    t.resolvedOnce = true;
    if (!this.initialized && this.dnsTargets.every((x) => x.resolvedOnce)) this.markInitialized();
  }
}

// ---- compile ----

/** Compiles one decoded Cluster; undefined (with issues) when it cannot be used. */
export function compileCluster(decoded: unknown, deps: ClusterDeps, path: string, issues: ConfigIssue[]): Cluster | undefined {
  const cfg = parseClusterConfig(decoded, path, issues, { secrets: deps.secrets ?? new SecretStore(deps.stats), stats: deps.stats });
  return cfg ? new Cluster(cfg, deps) : undefined;
}
