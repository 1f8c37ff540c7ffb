import type { ConfigIssue } from '../../lib/config-error';
import type { Decoded } from '../../lib/decoded-read';
import { logger } from '../../lib/log';
import { AdsClient, type ResourceUpdate, type ResourceWatcher, type UpdateOutcome, type XdsNode } from '../../xds/client/ads-client';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from '../../xds/type-urls';
import type { RdsRoutesHook } from '../network/http-connection-manager';
import type { Listener, ListenerConfig } from '../listener/listener';
import type { StatsStore } from '../telemetry/stats';
import type { Cluster, ClusterDeps } from '../upstream/cluster';
import type { HttpClusterBinding } from '../upstream/http-binding';
import type { DynamicResourcesSettings, SubscriptionSettings } from './config-source';
import { DynamicClusters } from './dynamic-clusters';
import { ListenerManager } from './listener-manager';
import { whenRoutesReady, type RdsUse, type RouteProviders } from './route-providers';

/**
 * Dynamic configuration: the ADS client feeding CDS/EDS into the cluster table and LDS/RDS into
 * listeners, with Envoy's initialisation order: clusters first (the first CDS response and every
 * cluster warm, or cds_config initial_fetch_timeout), then listeners (the first LDS response and
 * every listener warm, or lds_config initial_fetch_timeout). Readiness waits for both.
 */

const log = logger('xds');

export type RdsHook = RdsRoutesHook;

export interface XdsRuntimeOptions {
  settings: DynamicResourcesSettings;
  target: string;
  node: XdsNode;
  stats: StatsStore;
  table: Map<string, HttpClusterBinding>;
  staticClusterNames: ReadonlySet<string>;
  staticListenerNames: ReadonlySet<string>;
  clusterDeps: ClusterDeps;
  /** Compiles a Listener resource with the given rds hook for its connection managers. */
  compileListener: (resource: Decoded, path: string, issues: ConfigIssue[], rds: RdsHook, clusterExists: (name: string) => boolean) => ListenerConfig | undefined;
  drainMs: () => number;
  /** RDS providers, created before the runtime so that static listeners can name `rds` too. */
  routes: RouteProviders;
  /** The RDS uses of static listeners (kept subscribed for the life of the process). */
  staticRdsUses: readonly RdsUse[];
  /** Called for every cluster CDS compiles, before it warms. */
  onClusterCompiled?: (cluster: Cluster) => void;
}

/** Runs `fn` after a watcher has handled its first update (accepted or not). */
function firstUpdate(w: ResourceWatcher, fn: () => void): ResourceWatcher {
  let first = true;
  return {
    onUpdate(u: ResourceUpdate): UpdateOutcome {
      const out = w.onUpdate(u);
      if (first) {
        first = false;
        fn();
      }
      return out;
    },
  };
}

export class XdsRuntime {
  readonly client: AdsClient;
  readonly clusters: DynamicClusters;
  readonly routes: RouteProviders;
  readonly listeners: ListenerManager;
  private readonly initialized: Promise<void>;
  private resolveInit!: () => void;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(private readonly opts: XdsRuntimeOptions) {
    const connected = opts.stats.gauge('control_plane.connected_state');
    this.client = new AdsClient({
      target: opts.target,
      delta: opts.settings.ads.delta,
      node: opts.node,
      setNodeOnFirstMessageOnly: opts.settings.ads.setNodeOnFirstMessageOnly,
      backoffBaseMs: opts.settings.ads.backoffBaseMs,
      backoffMaxMs: opts.settings.ads.backoffMaxMs,
      stats: { setConnected: (c) => connected.set(c ? 1 : 0) },
      log: (level, msg) => log[level](msg),
    });
    this.clusters = new DynamicClusters(
      opts.table,
      opts.staticClusterNames,
      opts.clusterDeps,
      opts.stats,
      opts.settings.ads,
      (names) => this.client.setResourceNames(ENDPOINT_TYPE, names),
      opts.onClusterCompiled,
    );
    const exists = (name: string): boolean => this.clusters.exists(name);
    this.routes = opts.routes;
    this.routes.subscribe = (names) => this.client.setResourceNames(ROUTE_TYPE, names);
    this.listeners = new ListenerManager(
      opts.stats,
      (resource, path, issues) => {
        const named: RdsUse[] = [];
        const hook: RdsHook = (rds, p, is, statPrefix, compilePerRoute) => {
          const use = this.routes.forRds(rds, p, is, statPrefix, compilePerRoute);
          if (use !== undefined) named.push(use);
          return use;
        };
        const config = opts.compileListener(resource, path, issues, hook, exists);
        return config === undefined ? undefined : { config, routes: named };
      },
      opts.staticListenerNames,
      opts.drainMs,
      (uses) => this.routes.retain([...opts.staticRdsUses, ...uses]),
    );
    this.initialized = new Promise((r) => (this.resolveInit = r));
  }

  /** Connects and subscribes; whenInitialized() resolves when the initial configuration is in. */
  start(): void {
    const { cds, lds } = this.opts.settings;
    this.client.watch(ROUTE_TYPE, this.routes, false);
    this.routes.retain(this.opts.staticRdsUses);
    // Last, as Envoy's init manager: the routes static listeners name.
    const staticRoutes = (): void => {
      const t = whenRoutesReady(
        this.opts.staticRdsUses.map((u) => u.provider),
        () => this.resolveInit(),
      );
      if (t !== null) this.timers.push(t);
    };
    const afterClusters = (): void => {
      if (lds === undefined) return staticRoutes();
      void this.phase(lds, 'LDS', (done) => {
        this.client.watch(LISTENER_TYPE, firstUpdate(this.listeners, () => this.listeners.whenNoneWarming(done)), true);
      }).then(staticRoutes);
    };
    if (cds === undefined) afterClusters();
    else {
      this.client.watch(ENDPOINT_TYPE, this.clusters.eds, false);
      void this.phase(cds, 'CDS', (done) => {
        this.client.watch(CLUSTER_TYPE, firstUpdate(this.clusters.cds, () => this.clusters.whenNoneWarming(done)), true);
      }).then(afterClusters);
    }
    this.client.start();
  }

  /** One initialisation phase, bounded by the subscription's initial_fetch_timeout (0: unbounded). */
  private phase(sub: SubscriptionSettings, what: string, begin: (done: () => void) => void): Promise<void> {
    return new Promise((resolve) => {
      let finished = false;
      const done = (): void => {
        if (finished) return;
        finished = true;
        resolve();
      };
      if (sub.initialFetchTimeoutMs > 0) {
        const t = setTimeout(() => {
          if (finished) return;
          const prefix = what === 'CDS' ? 'cluster_manager.cds' : 'listener_manager.lds';
          this.opts.stats.counter(`${prefix}.init_fetch_timeout`).inc();
          log.warn(`${what}: no initial configuration within initial_fetch_timeout (${sub.initialFetchTimeoutMs} ms); continuing without it`);
          done();
        }, sub.initialFetchTimeoutMs);
        t.unref();
        this.timers.push(t);
      }
      begin(done);
    });
  }

  whenInitialized(): Promise<void> {
    return this.initialized;
  }

  activeClusters(): Cluster[] {
    return this.clusters.activeClusters();
  }

  activeListeners(): Listener[] {
    return this.listeners.activeListeners();
  }

  async close(drainMs: number): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.client.close();
    await this.listeners.close(drainMs);
    this.clusters.close();
  }

  /** RoutesConfigDump's dynamic section. */
  dumpRoutes(): object[] {
    return this.routes.all().map((p) => ({
      ...(p.source === undefined ? {} : { version_info: p.version, route_config: p.source, last_updated: p.lastUpdated }),
      ...(p.error === undefined ? {} : { error_state: p.error }),
    }));
  }
}
