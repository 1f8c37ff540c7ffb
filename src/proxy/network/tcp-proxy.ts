import * as net from 'node:net';
import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { ResponseFlag, StreamInfo } from '../stream-info';
import type { Counter, Gauge, StatsStore } from '../telemetry/stats';
import type { AccessLogSink, ClusterLookup, UpstreamCluster } from '../http/contracts';
import { isObject, readArray, readNumber, readString, type Decoded } from '../../lib/decoded-read';
import type { DownstreamConnectionInfo } from '../http/connection-manager';

/**
 * envoy.filters.network.tcp_proxy: a byte pipe from each downstream connection to a host of the
 * configured cluster, with backpressure both ways (a side that cannot keep up pauses the other).
 */

export const TCP_PROXY_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

interface WeightedCluster {
  name: string;
  weight: number;
}

class TcpProxyStats {
  readonly downstream_cx_total: Counter;
  readonly downstream_cx_no_route: Counter;
  readonly downstream_cx_tx_bytes_total: Counter;
  readonly downstream_cx_rx_bytes_total: Counter;
  readonly downstream_flow_control_paused_reading_total: Counter;
  readonly downstream_flow_control_resumed_reading_total: Counter;
  readonly idle_timeout: Counter;
  readonly upstream_flush_active: Gauge;

  constructor(store: StatsStore, prefix: string) {
    const p = `tcp.${prefix}.`;
    this.downstream_cx_total = store.counter(p + 'downstream_cx_total');
    this.downstream_cx_no_route = store.counter(p + 'downstream_cx_no_route');
    this.downstream_cx_tx_bytes_total = store.counter(p + 'downstream_cx_tx_bytes_total');
    this.downstream_cx_rx_bytes_total = store.counter(p + 'downstream_cx_rx_bytes_total');
    this.downstream_flow_control_paused_reading_total = store.counter(p + 'downstream_flow_control_paused_reading_total');
    this.downstream_flow_control_resumed_reading_total = store.counter(p + 'downstream_flow_control_resumed_reading_total');
    this.idle_timeout = store.counter(p + 'idle_timeout');
    this.upstream_flush_active = store.gauge(p + 'upstream_flush_active');
  }
}

export interface TcpProxyConfig {
  readonly statPrefix: string;
  readonly clusters: readonly WeightedCluster[];
  readonly totalWeight: number;
  /** 0: no idle timeout. */
  readonly idleTimeoutMs: number;
  readonly maxConnectAttempts: number;
  readonly accessLogs: readonly AccessLogSink[];
  readonly stats: TcpProxyStats;
  readonly clusterLookup: ClusterLookup;
}

const SUPPORTED = ['stat_prefix', 'cluster', 'weighted_clusters', 'idle_timeout', 'access_log', 'max_connect_attempts'];

export function compileTcpProxy(
  cfg: Decoded,
  path: string,
  issues: ConfigIssue[],
  deps: { stats: StatsStore; clusters: ClusterLookup; compileAccessLogs: (list: unknown[], path: string) => AccessLogSink[] },
): TcpProxyConfig {
  rejectUnsupported(cfg, path, SUPPORTED, issues);
  const statPrefix = readString(cfg, 'stat_prefix', path, issues) ?? '';
  if (statPrefix === '') issues.push({ path: joinPath(path, 'stat_prefix'), message: 'stat_prefix is required' });
  const clusters: WeightedCluster[] = [];
  const single = readString(cfg, 'cluster', path, issues);
  if (single !== undefined) clusters.push({ name: single, weight: 1 });
  const wc = cfg.weighted_clusters;
  if (isObject(wc)) {
    const wp = joinPath(path, 'weighted_clusters');
    readArray(wc, 'clusters', wp, issues).forEach((c, i) => {
      const cp = joinPath(joinPath(wp, 'clusters'), i);
      if (!isObject(c)) return;
      rejectUnsupported(c, cp, ['name', 'weight'], issues);
      const name = readString(c, 'name', cp, issues) ?? '';
      const weight = readNumber(c, 'weight', cp, issues, { min: 1, integer: true }) ?? 0;
      clusters.push({ name, weight });
    });
  }
  if (clusters.length === 0) issues.push({ path, message: 'one of cluster or weighted_clusters is required' });
  const idle = readNumber(cfg, 'idle_timeout', path, issues, { min: 0 });
  return {
    statPrefix,
    clusters,
    totalWeight: clusters.reduce((s, c) => s + c.weight, 0),
    idleTimeoutMs: idle ?? 3_600_000,
    maxConnectAttempts: readNumber(cfg, 'max_connect_attempts', path, issues, { min: 1, integer: true }) ?? 1,
    accessLogs: deps.compileAccessLogs(readArray(cfg, 'access_log', path, issues), joinPath(path, 'access_log')),
    stats: new TcpProxyStats(deps.stats, statPrefix),
    clusterLookup: deps.clusters,
  };
}

function pickCluster(cfg: TcpProxyConfig): string {
  if (cfg.clusters.length === 1) return cfg.clusters[0].name;
  let r = Math.random() * cfg.totalWeight;
  for (const c of cfg.clusters) {
    r -= c.weight;
    if (r < 0) return c.name;
  }
  return cfg.clusters[cfg.clusters.length - 1].name;
}

/** One proxied TCP connection. */
export class TcpProxySession {
  private readonly info = new StreamInfo();
  private upstream: net.Socket | null = null;
  private cluster: UpstreamCluster | null = null;
  private attempts = 0;
  private connected = false;
  private done = false;
  private idleTimer: NodeJS.Timeout | null = null;
  private lastActivity = performance.now();

  constructor(
    private readonly downstream: net.Socket,
    private readonly cfg: TcpProxyConfig,
    conn: DownstreamConnectionInfo,
    private readonly onDone: () => void,
  ) {
    const info = this.info;
    info.startMono = performance.now();
    info.connectionId = conn.id;
    info.downstreamRemoteAddress = `${conn.remoteAddress}:${conn.remotePort}`;
    info.downstreamDirectRemoteAddress = info.downstreamRemoteAddress;
    info.downstreamLocalAddress = `${conn.localAddress}:${conn.localPort}`;
    if (conn.tls !== undefined) {
      info.downstreamTls = conn.tls;
      info.requestedServerName = conn.tls.serverName;
    }
    cfg.stats.downstream_cx_total.inc();
    // Hold downstream bytes until the upstream is connected.
    downstream.pause();
    downstream.on('error', () => undefined);
    downstream.on('close', () => this.finish(ResponseFlag.None));
    this.connect();
  }

  /** Drain: a TCP proxy cannot ask its peer to stop; it finishes when either side closes. */
  drain(): void {}

  close(): void {
    this.downstream.destroy();
  }

  private connect(): void {
    const cfg = this.cfg;
    const cluster = cfg.clusterLookup.get(pickCluster(cfg));
    if (cluster === undefined) {
      cfg.stats.downstream_cx_no_route.inc();
      this.fail(ResponseFlag.NoClusterFound);
      return;
    }
    this.cluster = cluster;
    this.info.upstreamCluster = cluster.name;
    const host = cluster.chooseHost({});
    if (host === null) {
      this.fail(ResponseFlag.NoHealthyUpstream);
      return;
    }
    if (!cluster.limits.canCreateConnection()) {
      cluster.limits.connectionOverflow();
      this.fail(ResponseFlag.UpstreamOverflow);
      return;
    }
    this.attempts++;
    this.info.upstreamHost = host.key;
    cluster.limits.connectionOpened();
    const ps = cluster.poolStats;
    ps.upstream_cx_total.inc();
    ps.upstream_cx_active.inc();
    host.activeRequests++;
    // TLS upstream (cluster transport_socket); plaintext keeps half-open relaying.
    const transport = cluster.transport;
    const up = transport.secure
      ? transport.connect({ host: host.address, port: host.port })
      : net.connect({ host: host.address, port: host.port, noDelay: true, allowHalfOpen: true });
    this.upstream = up;
    const timer = setTimeout(() => {
      if (this.connected) return;
      ps.upstream_cx_connect_timeout.inc();
      up.destroy(new Error('connection timeout'));
    }, cluster.connectTimeoutMs);
    up.on(transport.readyEvent, () => {
      clearTimeout(timer);
      this.connected = true;
      cluster.reportConnectSuccessFinal(host);
      this.info.upstreamLocalAddress = `${up.localAddress}:${up.localPort}`;
      this.pipe();
    });
    up.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (!this.connected) this.info.upstreamTransportFailureReason = e.code ?? e.message;
    });
    up.on('close', () => {
      clearTimeout(timer);
      cluster.limits.connectionClosed();
      ps.upstream_cx_active.dec();
      ps.upstream_cx_destroy.inc();
      host.activeRequests--;
      if (!this.connected) {
        ps.upstream_cx_connect_fail.inc();
        // A client that left while we were connecting says nothing about the host.
        if (!this.done) cluster.reportConnectFailure(host, this.info.upstreamTransportFailureReason === 'connection timeout');
        if (this.attempts < cfg.maxConnectAttempts && !this.done) {
          this.connect();
          return;
        }
        this.fail(ResponseFlag.UpstreamConnectionFailure);
        return;
      }
      // Upstream gone: let the downstream flush what it has, then close.
      this.downstream.end();
    });
  }

  private pipe(): void {
    const up = this.upstream!;
    const down = this.downstream;
    const cfg = this.cfg;
    const ps = this.cluster!.poolStats;
    down.on('data', (d: Buffer) => {
      this.lastActivity = performance.now();
      this.info.bytesReceived += d.length;
      cfg.stats.downstream_cx_rx_bytes_total.add(d.length);
      ps.upstream_cx_tx_bytes_total.add(d.length);
      if (!up.write(d)) {
        cfg.stats.downstream_flow_control_paused_reading_total.inc();
        down.pause();
      }
    });
    up.on('data', (d: Buffer) => {
      this.lastActivity = performance.now();
      this.info.bytesSent += d.length;
      cfg.stats.downstream_cx_tx_bytes_total.add(d.length);
      ps.upstream_cx_rx_bytes_total.add(d.length);
      if (!down.write(d)) up.pause();
    });
    up.on('drain', () => {
      if (down.isPaused()) {
        cfg.stats.downstream_flow_control_resumed_reading_total.inc();
        down.resume();
      }
    });
    down.on('drain', () => up.resume());
    down.on('end', () => up.end());
    up.on('end', () => down.end());
    down.resume();
    if (cfg.idleTimeoutMs > 0) this.armIdle();
  }

  private armIdle(): void {
    const ms = this.cfg.idleTimeoutMs;
    this.idleTimer = setTimeout(() => {
      const idle = performance.now() - this.lastActivity;
      if (idle >= ms - 1) {
        this.cfg.stats.idle_timeout.inc();
        this.upstream?.destroy();
        this.downstream.destroy();
        return;
      }
      this.idleTimer = null;
      this.armIdle();
    }, Math.max(1, ms - (performance.now() - this.lastActivity)));
  }

  private fail(flag: ResponseFlag): void {
    this.info.addFlag(flag);
    this.downstream.destroy();
    this.finish(ResponseFlag.None);
  }

  private finish(flag: ResponseFlag): void {
    if (this.done) return;
    this.done = true;
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.info.addFlag(flag);
    this.upstream?.destroy();
    this.info.durationMs = performance.now() - this.info.startMono;
    for (const log of this.cfg.accessLogs) log.log(this.info);
    this.onDone();
  }
}
