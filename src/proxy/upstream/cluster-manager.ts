/**
 * The set of compiled clusters by name (Envoy's ClusterManager, without the xDS plumbing):
 * compileClusters for static_resources, add/remove for CDS, and the cluster_manager.* stats.
 */
import { ConfigIssue, joinPath } from '../../lib/config-error';
import { Counter, Gauge, GaugeMode } from '../telemetry/stats';
import { Cluster, ClusterDeps, compileCluster } from './cluster';
import { isObject } from '../../lib/decoded-read';
import type { Locality } from './host';

/** Bootstrap cluster_manager.local_cluster_name plus node.locality: enables zone-aware routing. */
export interface LocalClusterSettings {
  name: string;
  locality: Locality;
}

export class ClusterManager {
  private readonly clusters = new Map<string, Cluster>();
  private readonly clusterAdded: Counter;
  private readonly clusterModified: Counter;
  private readonly clusterRemoved: Counter;
  private readonly activeClusters: Gauge;
  private readonly warmingClusters: Gauge;
  private local: LocalClusterSettings | undefined;

  constructor(readonly deps: ClusterDeps) {
    const s = deps.stats;
    this.clusterAdded = s.counter('cluster_manager.cluster_added');
    this.clusterModified = s.counter('cluster_manager.cluster_modified');
    this.clusterRemoved = s.counter('cluster_manager.cluster_removed');
    this.activeClusters = s.gauge('cluster_manager.active_clusters', GaugeMode.NeverImport);
    this.warmingClusters = s.gauge('cluster_manager.warming_clusters', GaugeMode.NeverImport);
  }

  get(name: string): Cluster | undefined {
    return this.clusters.get(name);
  }

  /** All clusters, sorted by name. */
  all(): Cluster[] {
    return [...this.clusters.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /**
   * Names the local cluster (cluster_manager.local_cluster_name) and this proxy's locality; every
   * cluster, present and future, then routes zone-aware against it.
   */
  setLocal(local: LocalClusterSettings | undefined): void {
    this.local = local;
    const lc = local ? this.clusters.get(local.name) : undefined;
    for (const c of this.clusters.values()) c.setLocalCluster(lc ?? null, local?.locality ?? EMPTY_LOCALITY);
  }

  /**
   * Adds a compiled cluster, replacing (and closing: timers stop, pools drain) one of the same
   * name. Requests in flight keep the Host objects they hold.
   */
  add(cluster: Cluster): void {
    const old = this.clusters.get(cluster.name);
    this.clusters.set(cluster.name, cluster);
    if (old) {
      old.close();
      this.clusterModified.inc();
    } else {
      this.clusterAdded.inc();
    }
    if (this.local) {
      if (cluster.name === this.local.name) this.setLocal(this.local);
      else {
        const lc = this.clusters.get(this.local.name);
        cluster.setLocalCluster(lc ?? null, this.local.locality);
      }
    }
    this.updateGauges();
    if (!cluster.initialized) {
      void cluster.whenInitialized().then(() => this.updateGauges());
    }
  }

  /** Compiles a decoded Cluster (from CDS) and adds it; undefined with issues when rejected. */
  addDecoded(decoded: unknown, path: string, issues: ConfigIssue[]): Cluster | undefined {
    const c = compileCluster(decoded, { ...this.deps, addedViaApi: true }, path, issues);
    if (c) this.add(c);
    return c;
  }

  remove(name: string): boolean {
    const c = this.clusters.get(name);
    if (!c) return false;
    this.clusters.delete(name);
    c.close();
    if (this.local?.name === name) this.setLocal(this.local);
    this.clusterRemoved.inc();
    this.updateGauges();
    return true;
  }

  /** Resolves when every current cluster has finished warming. */
  async whenInitialized(): Promise<void> {
    await Promise.all([...this.clusters.values()].map((c) => c.whenInitialized()));
  }

  close(): void {
    for (const c of this.clusters.values()) c.close();
  }

  private updateGauges(): void {
    let warming = 0;
    for (const c of this.clusters.values()) if (!c.initialized) warming++;
    this.activeClusters.set(this.clusters.size - warming);
    this.warmingClusters.set(warming);
  }
}

/**
 * Compiles `static_resources.clusters` (decoded form). Returns undefined, with every issue found,
 * when any cluster is invalid.
 */
export function compileClusters(
  decodedClusters: unknown[],
  deps: ClusterDeps,
  path: string,
  issues: ConfigIssue[],
  local?: LocalClusterSettings,
): ClusterManager | undefined {
  const start = issues.length;
  const seen = new Set<string>();
  decodedClusters.forEach((d, i) => {
    const name = isObject(d) ? d['name'] : undefined;
    if (typeof name === 'string' && name !== '') {
      if (seen.has(name)) issues.push({ path: joinPath(joinPath(path, i), 'name'), message: `duplicate cluster name ${name}` });
      seen.add(name);
    }
  });
  if (issues.length > start) return undefined;
  const compiled: Cluster[] = [];
  decodedClusters.forEach((d, i) => {
    const c = compileCluster(d, deps, joinPath(path, i), issues);
    if (c) compiled.push(c);
  });
  if (issues.length > start) {
    for (const c of compiled) c.close();
    return undefined;
  }
  if (local && !compiled.some((c) => c.name === local.name)) {
    issues.push({ path: 'cluster_manager.local_cluster_name', message: `local cluster '${local.name}' must be defined in static clusters` });
    for (const c of compiled) c.close();
    return undefined;
  }
  const cm = new ClusterManager(deps);
  for (const c of compiled) cm.add(c);
  cm.setLocal(local);
  return cm;
}

const EMPTY_LOCALITY: Locality = { region: '', zone: '', sub_zone: '' };
