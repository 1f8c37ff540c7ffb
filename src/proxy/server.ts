import * as os from 'node:os';
import { ConfigError, joinPath, type ConfigIssue } from '../lib/config-error';
import { logger, levels as logLevels, parseLevel, setLevel } from '../lib/log';
import type { DecodedMessage } from '../xds/decoded';
import { startAdmin, type AdminContext, type AdminServer, type ServerState } from './admin/server';
import { splitBootstrap, type BootstrapParts } from './config/bootstrap';
import type { AccessLogSink, ClusterLookup, RouteMatcher } from './http/contracts';
import { compileListener, Listener } from './listener/listener';
import { compileNetworkFilters } from './network/filter-chain';
import { compileRoutes } from './route/http-adapter';
import { compileAccessLogs, defaultAccessLogFiles, flushAll, reopenAll } from './telemetry/access-log';
import { StatsStore } from './telemetry/stats';
import { compileCluster, type Cluster } from './upstream/cluster';
import { clustersJson, clustersText } from './upstream/admin-view';
import { HttpClusterBinding } from './upstream/http-binding';
import { isObject, type Decoded } from '../lib/decoded-read';
import { adsTarget, checkAdsCluster, parseDynamicResources, type DynamicResourcesSettings } from './dynamic/config-source';
import type { XdsRuntime, RdsHook } from './dynamic/xds-runtime';
import { RouteProviders, type RdsUse } from './dynamic/route-providers';
import type { RdsRoutesHook } from './network/http-connection-manager';
import type { XdsNode } from '../xds/client/ads-client';
import { SecretStore } from './secret/secret-store';

/**
 * One proxy process: compiles a Bootstrap into clusters and listeners, binds them, serves admin,
 * and drains gracefully on shutdown. The whole configuration is compiled before anything binds, so
 * an invalid bootstrap is rejected whole.
 */

export const WEFT_VERSION = '0.1.0';
const VERSION_PARTS = { major: 0, minor: 1, patch: 0 };
const log = logger('main');

export interface ServerOptions {
  /** Seconds to drain connections on shutdown (Envoy's --drain-time-s). */
  drainTimeS: number;
  /** Overrides of node identity from the command line. */
  serviceNode?: string;
  serviceCluster?: string;
  /** --service-zone: overrides node.locality.zone. */
  serviceZone?: string;
  commandLine?: string[];
}

export class ClusterTable implements ClusterLookup {
  readonly byName = new Map<string, HttpClusterBinding>();
  get(name: string): HttpClusterBinding | undefined {
    return this.byName.get(name);
  }
}

export interface CompiledConfig {
  parts: BootstrapParts;
  clusters: Cluster[];
  listeners: ReturnType<typeof compileListener>[];
  adminAccessLogs: AccessLogSink[];
  /** TLS secrets (static_resources.secrets, inline certificates; SDS feeds it later). */
  secrets: SecretStore;
  /** dynamic_resources, the ADS cluster's gRPC target, and the RDS providers static listeners use. */
  dynamic: { settings: DynamicResourcesSettings; target: string; routes: RouteProviders; staticRdsUses: RdsUse[] } | undefined;
}

/** dynamic_resources: the settings, plus the ADS cluster (gRPC only, so kept out of the HTTP clusters). */
function compileDynamic(parts: BootstrapParts, issues: ConfigIssue[]): { settings: DynamicResourcesSettings; target: string; adsIndex: number } | undefined {
  if (parts.dynamicResources === undefined) return undefined;
  const settings = parseDynamicResources(parts.dynamicResources, 'dynamic_resources', issues);
  if (settings === undefined) return undefined;
  const name = settings.ads.clusterName;
  const adsIndex = parts.clusters.findIndex((c) => isObject(c) && c.name === name);
  if (adsIndex < 0) {
    issues.push({ path: 'dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name', message: `cluster '${name}' must be defined in static_resources.clusters` });
    return undefined;
  }
  const cluster = parts.clusters[adsIndex] as Decoded;
  const path = `static_resources.clusters[${adsIndex}]`;
  checkAdsCluster(cluster, path, issues);
  const t = adsTarget(cluster, path, issues);
  return t === undefined ? undefined : { settings, target: t.target, adsIndex };
}

/** Compiles everything, throwing a ConfigError with every issue found. Nothing is bound or started. */
export function compileBootstrap(bootstrap: DecodedMessage, stats: StatsStore, table: ClusterTable): CompiledConfig {
  const issues: ConfigIssue[] = [];
  const parts = splitBootstrap(bootstrap as Decoded, issues);
  const dynamic = compileDynamic(parts, issues);
  // [tls] the secret store first: clusters and listeners reference its secrets by name.
  const secrets = new SecretStore(stats);
  parts.secrets.forEach((s, i) => secrets.addStatic(s, `static_resources.secrets[${i}]`, issues));
  const clusters: Cluster[] = [];
  parts.clusters.forEach((c, i) => {
    if (dynamic !== undefined && i === dynamic.adsIndex) return;
    const path = `static_resources.clusters[${i}]`;
    const cluster = compileCluster(c, { stats, secrets, log: (level, msg) => logger('upstream')[level](msg) }, path, issues);
    if (cluster === undefined) return;
    if (table.byName.has(cluster.name)) {
      issues.push({ path: joinPath(path, 'name'), message: `duplicate cluster name ${cluster.name}` });
      cluster.close();
      return;
    }
    clusters.push(cluster);
    table.byName.set(cluster.name, new HttpClusterBinding(cluster));
  });
  // Zone-aware routing: Envoy requires the local cluster among the static clusters.
  const localName = parts.clusterManager.localClusterName;
  if (localName !== undefined) {
    const local = clusters.find((c) => c.name === localName);
    if (local === undefined) {
      if (!parts.clusters.some((c) => typeof c === 'object' && c !== null && (c as Decoded).name === localName)) {
        issues.push({ path: 'cluster_manager.local_cluster_name', message: `local cluster '${localName}' must be defined in static_resources.clusters` });
      }
    } else {
      for (const c of clusters) c.setLocalCluster(local, parts.node.locality);
    }
  }
  const accessLogs = (list: unknown[], path: string): AccessLogSink[] => compileAccessLogs(list, path, issues);
  const routes = (rc: Decoded, path: string, is: ConfigIssue[]): RouteMatcher | undefined =>
    compileRoutes(rc, path, is, (name) => table.byName.has(name));
  // With dynamic_resources, static listeners may take their routes over RDS too.
  const routeProviders = dynamic === undefined ? undefined : new RouteProviders(stats, dynamic.settings.ads, (name) => table.byName.has(name));
  const staticRdsUses: RdsUse[] = [];
  const rdsRoutes: RdsRoutesHook | undefined =
    routeProviders === undefined
      ? undefined
      : (rds, p, is, statPrefix, compilePerRoute) => {
          const use = routeProviders.forRds(rds, p, is, statPrefix, compilePerRoute);
          if (use !== undefined) staticRdsUses.push(use);
          return use;
        };
  const listeners = parts.listeners.map((l, i) => {
    const path = `static_resources.listeners[${i}]`;
    if (typeof l !== 'object' || l === null) return undefined;
    return compileListener(
      l as Decoded,
      path,
      issues,
      (filters, fp, is, buf) => compileNetworkFilters(filters, fp, is, buf, { stats, clusters: table, compileRoutes: routes, compileAccessLogs: accessLogs, rdsRoutes }),
      { secrets, stats },
    );
  });
  const adminAccessLogs = parts.admin ? accessLogs(parts.admin.accessLog, 'admin.access_log') : [];
  if (issues.length > 0) {
    for (const c of clusters) c.close();
    secrets.close();
    throw new ConfigError(issues);
  }
  return {
    parts,
    clusters,
    listeners,
    adminAccessLogs,
    secrets,
    dynamic: dynamic && routeProviders && { settings: dynamic.settings, target: dynamic.target, routes: routeProviders, staticRdsUses },
  };
}

/** `--mode validate`: compiles the whole bootstrap and releases it, binding nothing. */
export function validateBootstrap(bootstrap: DecodedMessage): void {
  const config = compileBootstrap(bootstrap, new StatsStore(), new ClusterTable());
  for (const c of config.clusters) c.close();
  config.secrets.close();
}

export class ProxyServer {
  readonly stats = new StatsStore();
  private readonly clusterTable = new ClusterTable();
  private listeners: Listener[] = [];
  /** [tls] bind_to_port:false listeners: they only serve connections handed over (use_original_dst). */
  private virtualListeners: Listener[] = [];
  private clusters: Cluster[] = [];
  private admin: AdminServer | null = null;
  private state: ServerState = 'PRE_INITIALIZING';
  private readonly startedAt = Date.now();
  private healthFailed = false;
  private config: CompiledConfig | null = null;
  private statsTimer: NodeJS.Timeout | null = null;
  private shuttingDown: Promise<void> | null = null;
  private xds: XdsRuntime | null = null;
  private initialized: Promise<void> = Promise.resolve();

  constructor(
    private readonly bootstrap: DecodedMessage,
    private readonly options: ServerOptions,
  ) {}

  get adminPort(): number {
    return this.admin?.port ?? 0;
  }

  listenerPorts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const l of this.allListeners()) out[l.config.name] = l.boundPort;
    return out;
  }

  /** Resolves when the initial configuration is in (at once for a static bootstrap): Envoy's init manager. */
  whenInitialized(): Promise<void> {
    return this.initialized;
  }

  /** The xDS runtime, when the bootstrap has dynamic_resources. */
  get dynamic(): XdsRuntime | null {
    return this.xds;
  }

  private allListeners(): Listener[] {
    return this.xds === null ? this.listeners : [...this.listeners, ...this.xds.activeListeners()];
  }

  private allClusters(): Cluster[] {
    return this.xds === null ? this.clusters : [...this.clusters, ...this.xds.activeClusters()];
  }

  private xdsNode(): XdsNode {
    const n = this.config!.parts.node;
    return {
      id: this.options.serviceNode ?? n.id,
      cluster: this.options.serviceCluster ?? n.cluster,
      metadata: n.metadata,
      locality: { ...n.locality, zone: this.options.serviceZone ?? n.locality.zone },
      userAgentName: 'weft',
      userAgentVersion: VERSION_PARTS,
    };
  }

  private startDynamic(config: CompiledConfig): void {
    const dyn = config.dynamic!;
    const stats = this.stats;
    const table = this.clusterTable;
    const accessLogs = (list: unknown[], path: string, issues: ConfigIssue[]): AccessLogSink[] => compileAccessLogs(list, path, issues);
    // Loaded only for dynamic bootstraps: gRPC and the Envoy protos cost a static proxy memory it
    // would never use.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { XdsRuntime: Runtime } = require('./dynamic/xds-runtime') as typeof import('./dynamic/xds-runtime');
    const xds = new Runtime({
      settings: dyn.settings,
      target: dyn.target,
      node: this.xdsNode(),
      stats,
      table: table.byName,
      // Every static cluster, the ADS cluster (kept out of the HTTP table) included.
      staticClusterNames: new Set(config.parts.clusters.flatMap((c) => (isObject(c) && typeof c.name === 'string' ? [c.name] : []))),
      staticListenerNames: new Set(config.listeners.flatMap((l) => (l === undefined ? [] : [l.name]))),
      clusterDeps: { stats, secrets: config.secrets, log: (level, msg) => logger('upstream')[level](msg) },
      compileListener: (resource, path, issues, rds: RdsHook, clusterExists) =>
        compileListener(
          resource,
          path,
          issues,
          (filters, fp, is, buf) =>
            compileNetworkFilters(filters, fp, is, buf, {
              stats,
              clusters: table,
              compileRoutes: (rc, p, i) => compileRoutes(rc, p, i, clusterExists),
              compileAccessLogs: (list, p) => accessLogs(list, p, is),
              rdsRoutes: rds,
            }),
          { secrets: config.secrets, stats },
        ),
      drainMs: () => this.options.drainTimeS * 1000,
      routes: dyn.routes,
      staticRdsUses: dyn.staticRdsUses,
      // Zone-aware routing: CDS clusters route against the static local cluster too.
      onClusterCompiled: (c) => {
        const localName = config.parts.clusterManager.localClusterName;
        const local = localName === undefined ? undefined : config.clusters.find((x) => x.name === localName);
        if (local !== undefined) c.setLocalCluster(local, config.parts.node.locality);
      },
    });
    this.xds = xds;
    xds.start();
  }

  async start(): Promise<void> {
    defaultAccessLogFiles.setStats(this.stats);
    const config = compileBootstrap(this.bootstrap, this.stats, this.clusterTable);
    this.config = config;
    this.clusters = config.clusters;
    this.state = 'INITIALIZING';
    if (config.parts.admin !== undefined) {
      this.admin = await startAdmin({ address: config.parts.admin.address, port: config.parts.admin.port, ctx: this.adminContext() });
      log.info(`admin listening on ${config.parts.admin.address}:${this.admin.port}`);
    }
    // Like Envoy, listeners start once clusters have warmed (DNS resolved), bounded by a timeout.
    await Promise.race([Promise.all(this.clusters.map((c) => c.whenInitialized())), new Promise((r) => setTimeout(r, 5000).unref())]);
    config.secrets.startWatching();
    // [tls] bind_to_port:false listeners exist only to take connections handed over by a
    // use_original_dst listener (exact address first, then the wildcard address of that port).
    const all: Listener[] = [];
    for (const lc of config.listeners) {
      if (lc === undefined) continue;
      const listener = new Listener(lc, this.stats);
      all.push(listener);
      if (!lc.bindToPort) {
        this.virtualListeners.push(listener);
        continue;
      }
      await listener.listen();
      this.listeners.push(listener);
      log.info(`listener ${lc.name} on ${lc.address}:${listener.boundPort}`);
    }
    const lookup = (address: string, port: number): Listener | undefined =>
      all.find((l) => l.config.port === port && l.config.address === address) ??
      all.find((l) => l.config.port === port && (l.config.address === '0.0.0.0' || l.config.address === '::'));
    for (const l of all) l.originalDstLookup = lookup;
    if (config.dynamic !== undefined) {
      // Admin and static listeners serve now; the server is LIVE once the initial xDS
      // configuration is in (or its initial_fetch_timeouts passed).
      this.startDynamic(config);
      this.initialized = this.xds!.whenInitialized().then(() => {
        if (this.state === 'INITIALIZING') this.state = 'LIVE';
        this.updateServerStats();
      });
      this.statsTimer = setInterval(() => this.updateServerStats(), 5000);
      this.statsTimer.unref();
      return;
    }
    this.state = 'LIVE';
    this.updateServerStats();
    this.statsTimer = setInterval(() => this.updateServerStats(), 5000);
    this.statsTimer.unref();
  }

  /** Graceful shutdown: stop accepting, drain connections for up to drainTimeS, flush logs. */
  shutdown(drainMs = this.options.drainTimeS * 1000): Promise<void> {
    if (this.shuttingDown) return this.shuttingDown;
    this.shuttingDown = (async () => {
      this.state = 'DRAINING';
      log.info('draining listeners');
      await Promise.all([...[...this.listeners, ...this.virtualListeners].map((l) => l.drain(drainMs)), this.xds?.close(drainMs)]);
      for (const c of this.clusters) c.close();
      this.config?.secrets.close();
      for (const b of this.clusterTable.byName.values()) for (const h of b.cluster.allHosts()) h.pool?.close();
      if (this.statsTimer) clearInterval(this.statsTimer);
      await this.admin?.close();
      await flushAll();
    })();
    return this.shuttingDown;
  }

  private updateServerStats(): void {
    const s = this.stats;
    const mem = process.memoryUsage();
    s.gauge('server.live').set(this.state === 'LIVE' ? 1 : 0);
    s.gauge('server.state').set(this.state === 'LIVE' ? 0 : this.state === 'DRAINING' ? 1 : 2);
    s.gauge('server.uptime').set(Math.floor((Date.now() - this.startedAt) / 1000));
    s.gauge('server.memory_allocated').set(mem.heapUsed);
    s.gauge('server.memory_heap_size').set(mem.heapTotal);
    s.gauge('server.memory_physical_size').set(mem.rss);
    s.gauge('server.concurrency').set(1);
    s.gauge('server.total_connections').set(this.allListeners().reduce((n, l) => n + l.activeConnections, 0));
    s.gauge('server.version').set(0);
    s.gauge('server.hot_restart_epoch').set(0);
  }

  private adminContext(): AdminContext {
    const node = (): object => {
      const n = this.xdsNode();
      return {
        id: n.id,
        cluster: n.cluster,
        metadata: n.metadata,
        locality: n.locality,
        user_agent_name: n.userAgentName,
        user_agent_build_version: { version: { major_number: n.userAgentVersion.major, minor_number: n.userAgentVersion.minor, patch: n.userAgentVersion.patch } },
      };
    };
    return {
      stats: this.stats,
      serverInfo: () => {
        this.updateServerStats();
        const uptime = `${Math.floor((Date.now() - this.startedAt) / 1000)}s`;
        return {
          version: `weft/${WEFT_VERSION}/Node.js ${process.version}`,
          state: this.state,
          hot_restart_version: 'disabled',
          command_line_options: { args: this.options.commandLine ?? [], drain_time: `${this.options.drainTimeS}s` },
          node: node(),
          uptime_current_epoch: uptime,
          uptime_all_epochs: uptime,
        };
      },
      state: () => this.state,
      isLive: () => this.state === 'LIVE',
      listeners: () => this.allListeners().map((l) => ({ name: l.config.name, address: `${l.config.address}:${l.boundPort}` })),
      clustersText: () => clustersText(this.allClusters()),
      clustersJson: () => clustersJson(this.allClusters()),
      configDump: (includeEds) => this.configDump(node(), includeEds),
      setLogLevel: (level, name) => {
        const lv = parseLevel(level);
        return lv !== undefined && setLevel(lv, name);
      },
      logLevels: () => logLevels(),
      setHealthFail: (fail) => {
        this.healthFailed = fail;
        this.stats.gauge('server.healthcheck_failed').set(fail ? 1 : 0);
      },
      drainListeners: ({ graceful }) => {
        this.state = 'DRAINING';
        for (const l of this.allListeners()) void l.drain(graceful ? this.options.drainTimeS * 1000 : 0);
      },
      quit: () => {
        void this.shutdown(0).then(() => process.exit(0));
      },
      memory: () => {
        const m = process.memoryUsage();
        return {
          allocated: String(m.heapUsed),
          heap_size: String(m.heapTotal),
          pageheap_unmapped: '0',
          pageheap_free: String(m.heapTotal - m.heapUsed),
          total_thread_cache: '0',
          total_physical_bytes: String(m.rss),
        };
      },
      reopenLogs: () => void reopenAll(),
    };
  }

  private configDump(node: object, includeEds: boolean): object {
    const parts = this.config!.parts;
    const lastUpdated = new Date(this.startedAt).toISOString();
    const xds = this.xds;
    const configs: object[] = [
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump',
        bootstrap: { ...this.bootstrap, node },
        last_updated: lastUpdated,
      },
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
        static_clusters: parts.clusters.map((cluster) => ({ cluster, last_updated: lastUpdated })),
        ...(xds === null ? {} : xds.clusters.dump()),
      },
      {
        '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
        static_listeners: parts.listeners.map((listener) => ({ listener, last_updated: lastUpdated })),
        ...(xds === null ? {} : xds.listeners.dump()),
      },
    ];
    if (xds !== null) {
      configs.push({ '@type': 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump', dynamic_route_configs: xds.dumpRoutes() });
      if (includeEds) configs.push({ '@type': 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump', dynamic_endpoint_configs: xds.clusters.dumpEndpoints() });
    }
    return { configs };
  }

  get isHealthFailed(): boolean {
    return this.healthFailed;
  }
}

export function hostname(): string {
  return os.hostname();
}
