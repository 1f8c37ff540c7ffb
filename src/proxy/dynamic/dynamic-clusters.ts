import type { ConfigIssue } from '../../lib/config-error';
import type { Decoded } from '../../lib/decoded-read';
import type { ResourceUpdate, ResourceWatcher, UpdateOutcome } from '../../xds/client/ads-client';
import { formatIssues } from '../../xds/client/format-issues';
import { hash32 } from '../../lib/hash';
import type { Counter, Gauge, StatsStore } from '../telemetry/stats';
import { compileCluster, type Cluster, type ClusterDeps } from '../upstream/cluster';
import { HttpClusterBinding } from '../upstream/http-binding';
import { parseConfigSource, type AdsSettings } from './config-source';
import { failureState, sameResource, SubscriptionStats, tallyUndecodable, type UpdateFailureState } from './subscription-stats';

/**
 * CDS and EDS: clusters added, updated and removed over xDS, and their endpoints.
 *
 * A new or updated cluster warms before it takes traffic: an EDS cluster until its
 * ClusterLoadAssignment arrives (or its eds_config initial_fetch_timeout passes), a DNS cluster
 * until its names resolved. Until then the previous version (if any) keeps serving. A removed
 * cluster leaves the routing table at once; requests in flight keep the hosts they hold.
 */

interface ClusterVersion {
  cluster: Cluster;
  version: string;
  source: Decoded;
  lastUpdated: string;
  fetchTimer: NodeJS.Timeout | null;
}

interface Entry {
  active: ClusterVersion | undefined;
  warming: ClusterVersion | undefined;
  error: UpdateFailureState | undefined;
}

/** EDS stats beyond those Cluster.applyLoadAssignment keeps (update_attempt/success/failure/empty). */
interface EdsStats {
  update_rejected: Counter;
  init_fetch_timeout: Counter;
  version: Gauge;
}

interface Assignment {
  cla: Decoded;
  version: string;
  lastUpdated: string;
  error: UpdateFailureState | undefined;
}

export class DynamicClusters {
  private readonly entries = new Map<string, Entry>();
  /** Last good ClusterLoadAssignment by EDS service name (a re-created cluster takes it at once). */
  private readonly assignments = new Map<string, Assignment>();
  private readonly edsStats = new Map<string, EdsStats>();
  readonly cdsStats: SubscriptionStats;
  private readonly cm: { added: Counter; modified: Counter; removed: Counter; active: Gauge; warming: Gauge };
  private readonly warmingWaiters: (() => void)[] = [];
  version = '';
  readonly cds: ResourceWatcher = { onUpdate: (u) => this.onCds(u) };
  readonly eds: ResourceWatcher = { onUpdate: (u) => this.onEds(u) };

  constructor(
    private readonly table: Map<string, HttpClusterBinding>,
    private readonly staticNames: ReadonlySet<string>,
    private readonly deps: ClusterDeps,
    private readonly store: StatsStore,
    private readonly ads: AdsSettings,
    private readonly onEdsNamesChanged: (names: string[]) => void,
    /** Called for every compiled cluster before it warms (zone-aware routing setup). */
    private readonly onCompiled: (cluster: Cluster) => void = () => undefined,
  ) {
    this.cdsStats = new SubscriptionStats(store, 'cluster_manager.cds');
    this.cm = {
      added: store.counter('cluster_manager.cluster_added'),
      modified: store.counter('cluster_manager.cluster_modified'),
      removed: store.counter('cluster_manager.cluster_removed'),
      active: store.gauge('cluster_manager.active_clusters'),
      warming: store.gauge('cluster_manager.warming_clusters'),
    };
    this.updateGauges();
  }

  private updateGauges(): void {
    let active = 0;
    let warming = 0;
    for (const e of this.entries.values()) {
      if (e.active) active++;
      if (e.warming) warming++;
    }
    this.cm.active.set(this.staticNames.size + active);
    this.cm.warming.set(warming);
  }

  /** Clusters that take traffic now (static ones are the server's). */
  activeClusters(): Cluster[] {
    const out: Cluster[] = [];
    for (const e of this.entries.values()) if (e.active) out.push(e.active.cluster);
    return out;
  }

  get warmingCount(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.warming) n++;
    return n;
  }

  /** Calls `fn` once no cluster is warming. */
  whenNoneWarming(fn: () => void): void {
    if (this.warmingCount === 0) fn();
    else this.warmingWaiters.push(fn);
  }

  exists(name: string): boolean {
    return this.table.has(name) || this.entries.get(name)?.warming !== undefined;
  }

  close(): void {
    for (const e of this.entries.values()) {
      for (const v of [e.active, e.warming]) {
        if (v === undefined) continue;
        if (v.fetchTimer) clearTimeout(v.fetchTimer);
        v.cluster.close();
      }
    }
  }

  private onCds(u: ResourceUpdate): UpdateOutcome {
    const stats = this.cdsStats;
    stats.update_attempt.inc();
    const { issues, rejected, seen } = tallyUndecodable(u, 'Cluster', (name) => this.entries.get(name));
    for (const r of u.resources) {
      seen.add(r.name);
      const path = `Cluster(${r.name})`;
      if (this.staticNames.has(r.name)) {
        issues.push({ path, message: `cannot update static cluster '${r.name}' over CDS` });
        rejected.push(r.name);
        continue;
      }
      const e = this.entries.get(r.name) ?? { active: undefined, warming: undefined, error: undefined };
      const latest = e.warming ?? e.active;
      if (latest !== undefined && sameResource(latest.source, r.resource)) {
        e.error = undefined;
        continue;
      }
      const own: ConfigIssue[] = [];
      const cluster = compileCluster(r.resource, { ...this.deps, addedViaApi: true }, path, own);
      let fetchTimeoutMs = 0;
      if (cluster !== undefined && cluster.type === 'EDS') {
        const cfg = cluster.config.edsConfig;
        if (cfg === undefined) own.push({ path: `${path}.eds_cluster_config.eds_config`, message: 'eds_config is required for an EDS cluster' });
        else fetchTimeoutMs = parseConfigSource(cfg, `${path}.eds_cluster_config.eds_config`, own, this.ads)?.initialFetchTimeoutMs ?? 0;
      }
      if (own.length > 0 || cluster === undefined) {
        cluster?.close();
        e.error = failureState(r.resource, r.version, formatIssues(own));
        this.entries.set(r.name, e);
        issues.push(...own);
        rejected.push(r.name);
        continue;
      }
      e.error = undefined;
      this.entries.set(r.name, e);
      if (e.active !== undefined || e.warming !== undefined) this.cm.modified.inc();
      else this.cm.added.inc();
      this.onCompiled(cluster);
      this.startWarming(e, { cluster, version: r.version, source: r.resource, lastUpdated: new Date().toISOString(), fetchTimer: null }, fetchTimeoutMs);
    }
    const gone = u.fullState ? [...this.entries.keys()].filter((n) => !seen.has(n)) : u.removed;
    for (const name of gone) this.remove(name);
    this.publishEdsNames();
    this.updateGauges();
    this.notifyWarming();
    if (issues.length > 0) stats.update_rejected.inc();
    else {
      this.version = u.version;
      stats.accepted(u.version);
    }
    return { issues, rejected };
  }

  private startWarming(e: Entry, v: ClusterVersion, fetchTimeoutMs: number): void {
    if (e.warming !== undefined) this.discard(e.warming);
    e.warming = v;
    const c = v.cluster;
    if (c.type === 'EDS') {
      const cached = this.assignments.get(c.config.edsServiceName ?? c.name);
      if (cached !== undefined) c.applyLoadAssignment(cached.cla, '', []);
      else if (fetchTimeoutMs > 0) {
        v.fetchTimer = setTimeout(() => {
          v.fetchTimer = null;
          this.edsStatsFor(c.name).init_fetch_timeout.inc();
          c.markInitialized();
        }, fetchTimeoutMs);
        v.fetchTimer.unref();
      }
    }
    void c.whenInitialized().then(() => {
      if (e.warming !== v) return;
      if (v.fetchTimer) clearTimeout(v.fetchTimer);
      v.fetchTimer = null;
      e.warming = undefined;
      const old = e.active;
      e.active = v;
      this.table.set(c.name, new HttpClusterBinding(c));
      if (old !== undefined) this.discard(old);
      this.updateGauges();
      this.notifyWarming();
    });
  }

  private discard(v: ClusterVersion): void {
    if (v.fetchTimer) clearTimeout(v.fetchTimer);
    v.fetchTimer = null;
    v.cluster.close();
  }

  private remove(name: string): void {
    const e = this.entries.get(name);
    if (e === undefined) return;
    this.entries.delete(name);
    this.edsStats.delete(name);
    if (e.active || e.warming) this.cm.removed.inc();
    if (e.warming) this.discard(e.warming);
    if (e.active) {
      this.table.delete(name);
      this.discard(e.active);
    }
  }

  private notifyWarming(): void {
    if (this.warmingCount > 0) return;
    for (const w of this.warmingWaiters.splice(0)) w();
  }

  /** EDS names: the service names of every EDS cluster, active or warming. */
  private publishEdsNames(): void {
    const names = new Set<string>();
    for (const e of this.entries.values()) {
      for (const v of [e.active, e.warming]) {
        if (v !== undefined && v.cluster.type === 'EDS') names.add(v.cluster.config.edsServiceName ?? v.cluster.name);
      }
    }
    for (const n of [...this.assignments.keys()]) if (!names.has(n)) this.assignments.delete(n);
    this.onEdsNamesChanged([...names]);
  }

  private edsStatsFor(name: string): EdsStats {
    let s = this.edsStats.get(name);
    if (s === undefined) {
      const p = `cluster.${name}.`;
      s = { update_rejected: this.store.counter(p + 'update_rejected'), init_fetch_timeout: this.store.counter(p + 'init_fetch_timeout'), version: this.store.gauge(p + 'version') };
      this.edsStats.set(name, s);
    }
    return s;
  }

  private clustersForService(service: string): Cluster[] {
    const out: Cluster[] = [];
    for (const e of this.entries.values()) {
      for (const v of [e.active, e.warming]) {
        if (v !== undefined && v.cluster.type === 'EDS' && (v.cluster.config.edsServiceName ?? v.cluster.name) === service) out.push(v.cluster);
      }
    }
    return out;
  }

  private onEds(u: ResourceUpdate): UpdateOutcome {
    const { issues, rejected } = tallyUndecodable(u, 'ClusterLoadAssignment', (name) => {
      for (const c of this.clustersForService(name)) this.edsStatsFor(c.name).update_rejected.inc();
      return this.assignments.get(name);
    });
    const apply = (service: string, cla: Decoded, version: string): void => {
      const clusters = this.clustersForService(service);
      if (clusters.length === 0) return; // not subscribed (any more): ignored, as Envoy
      const path = `ClusterLoadAssignment(${service})`;
      const own: ConfigIssue[] = [];
      let ok = true;
      // Cluster.applyLoadAssignment counts update_attempt/success/failure/empty itself. The first
      // cluster validates; a rejected assignment changes nothing anywhere.
      for (const c of clusters) {
        if (ok && !c.applyLoadAssignment(cla, path, own)) ok = false;
        const s = this.edsStatsFor(c.name);
        if (!ok) s.update_rejected.inc();
        else s.version.set(hash32(version));
      }
      if (!ok) {
        const prev = this.assignments.get(service);
        const err = failureState(cla, version, formatIssues(own));
        if (prev !== undefined) prev.error = err;
        else this.assignments.set(service, { cla: {}, version: '', lastUpdated: '', error: err });
        issues.push(...own);
        rejected.push(service);
        return;
      }
      this.assignments.set(service, { cla, version, lastUpdated: new Date().toISOString(), error: undefined });
    };
    for (const r of u.resources) apply(r.name, r.resource, r.version);
    for (const name of u.removed) apply(name, { cluster_name: name }, u.version);
    return { issues, rejected };
  }

  /** ClustersConfigDump's dynamic sections. */
  dump(): { version_info: string; dynamic_active_clusters: object[]; dynamic_warming_clusters: object[] } {
    const active: object[] = [];
    const warming: object[] = [];
    const names = [...this.entries.keys()].sort();
    for (const n of names) {
      const e = this.entries.get(n)!;
      const err = e.error === undefined ? {} : { error_state: e.error };
      if (e.active) active.push({ version_info: e.active.version, cluster: e.active.source, last_updated: e.active.lastUpdated, ...(e.warming ? {} : err) });
      if (e.warming) warming.push({ version_info: e.warming.version, cluster: e.warming.source, last_updated: e.warming.lastUpdated, ...err });
      if (!e.active && !e.warming && e.error) active.push({ error_state: e.error });
    }
    return { version_info: this.version, dynamic_active_clusters: active, dynamic_warming_clusters: warming };
  }

  /** EndpointsConfigDump's dynamic section (admin /config_dump?include_eds). */
  dumpEndpoints(): object[] {
    const out: object[] = [];
    for (const [name, a] of [...this.assignments.entries()].sort(([x], [y]) => (x < y ? -1 : 1))) {
      const err = a.error === undefined ? {} : { error_state: a.error };
      if (a.version !== '' || a.lastUpdated !== '') out.push({ version_info: a.version, endpoint_config: { cluster_name: name, ...a.cla }, last_updated: a.lastUpdated, ...err });
      else out.push({ endpoint_config: { cluster_name: name }, ...err });
    }
    return out;
  }
}
