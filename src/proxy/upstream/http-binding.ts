import type { UpstreamTransport } from './transport-socket';
import type { ClusterStatsView, UpstreamCluster, UpstreamHost } from '../http/contracts';
import type { Cluster } from './cluster';
import type { Host } from './host';
import { Http1ConnectionPool, type ConnectionPool, type PoolLimits, type PoolStats } from './conn-pool';
import { Http2ConnectionPool } from './h2-pool';
import { AlpnConnectionPool } from './alpn-pool';
import type { Http2Options } from '../codec/http2/options';
import { Http2CodecStats } from '../codec/http2/stats';
import { OutlierResult } from './outlier/host-monitor';

/**
 * Binds a compiled Cluster to what the HTTP router and the connection pools need from it:
 * circuit breaker accounting, pool settings and one pool per host.
 */
export class HttpClusterBinding implements UpstreamCluster, PoolLimits {
  readonly name: string;
  readonly connectTimeoutMs: number;
  readonly perConnectionBufferLimitBytes: number;
  readonly upstreamIdleTimeoutMs: number;
  readonly maxRequestsPerConnection: number;
  readonly maxResponseHeaderBytes: number;
  readonly maxResponseHeaderCount: number;
  readonly stats: ClusterStatsView;
  readonly poolStats: PoolStats;
  readonly limits: PoolLimits = this;
  readonly transport: UpstreamTransport;
  readonly protocol: 'http1' | 'http2' | 'auto';
  readonly http2Options: Http2Options;
  readonly http2Stats: Http2CodecStats;

  constructor(readonly cluster: Cluster) {
    this.name = cluster.name;
    this.connectTimeoutMs = cluster.connectTimeoutMs;
    this.perConnectionBufferLimitBytes = cluster.perConnectionBufferLimitBytes;
    const http = cluster.http;
    this.upstreamIdleTimeoutMs = http.idleTimeoutMs;
    this.maxRequestsPerConnection = http.maxRequestsPerConnection ?? 0;
    this.maxResponseHeaderBytes = http.maxResponseHeadersKb * 1024;
    this.maxResponseHeaderCount = http.maxHeadersCount;
    this.stats = cluster.stats;
    this.poolStats = cluster.stats;
    this.transport = cluster.transport;
    this.protocol = http.protocol;
    this.http2Options = http.http2;
    this.http2Stats = new Http2CodecStats(cluster.stats, '');
  }

  chooseHost(ctx: { hashKey?: number }): UpstreamHost | null {
    return this.cluster.chooseHost(ctx);
  }

  poolFor(host: UpstreamHost): ConnectionPool {
    const h = host as Host;
    let pool = h.pool as ConnectionPool | null;
    if (pool === null) {
      pool = this.newPool(h);
      h.pool = pool;
    }
    return pool;
  }

  private newPool(h: Host): ConnectionPool {
    switch (this.protocol) {
      case 'http1':
        return new Http1ConnectionPool(this, h);
      case 'http2':
        return new Http2ConnectionPool(this, h);
      case 'auto':
        // ALPN needs TLS; over plaintext there is nothing to negotiate and HTTP/1.1 is used.
        return this.transport?.secure === true ? new AlpnConnectionPool(this, h) : new Http1ConnectionPool(this, h);
    }
  }

  canSendRequest(): boolean {
    return this.cluster.circuitBreakers.default.requests.canCreate();
  }
  requestStarted(): void {
    this.cluster.circuitBreakers.default.requests.inc();
  }
  requestFinished(): void {
    this.cluster.circuitBreakers.default.requests.dec();
  }
  requestOverflow(): void {
    this.cluster.stats.upstream_rq_pending_overflow.inc();
  }

  canRetry(): boolean {
    return this.cluster.circuitBreakers.default.retries.canCreate();
  }
  retryStarted(): void {
    this.cluster.circuitBreakers.default.retries.inc();
  }
  retryFinished(): void {
    this.cluster.circuitBreakers.default.retries.dec();
  }

  reportHttpStatus(host: UpstreamHost, status: number): void {
    this.cluster.outlierDetector?.putHttpResponseCode(host as Host, status);
  }
  reportConnectFailure(host: UpstreamHost, timedOut: boolean): void {
    this.cluster.outlierDetector?.putResult(host as Host, timedOut ? OutlierResult.LOCAL_ORIGIN_TIMEOUT : OutlierResult.LOCAL_ORIGIN_CONNECT_FAILED);
  }
  reportConnectSuccess(host: UpstreamHost): void {
    this.cluster.outlierDetector?.putResult(host as Host, OutlierResult.LOCAL_ORIGIN_CONNECT_SUCCESS);
  }
  reportConnectSuccessFinal(host: UpstreamHost): void {
    this.cluster.outlierDetector?.putResult(host as Host, OutlierResult.LOCAL_ORIGIN_CONNECT_SUCCESS_FINAL);
  }
  reportImmediateHealthCheckFail(host: UpstreamHost): void {
    this.cluster.hostImmediateHealthCheckFail(host as Host);
  }
  reportTimeout(host: UpstreamHost): void {
    this.cluster.outlierDetector?.putResult(host as Host, OutlierResult.LOCAL_ORIGIN_TIMEOUT);
  }

  canCreateConnection(): boolean {
    return this.cluster.circuitBreakers.default.connections.canCreate();
  }
  canQueueRequest(): boolean {
    return this.cluster.circuitBreakers.default.pendingRequests.canCreate();
  }
  connectionOpened(): void {
    this.cluster.circuitBreakers.default.connections.inc();
  }
  connectionClosed(): void {
    this.cluster.circuitBreakers.default.connections.dec();
  }
  requestQueued(): void {
    this.cluster.circuitBreakers.default.pendingRequests.inc();
  }
  requestDequeued(): void {
    this.cluster.circuitBreakers.default.pendingRequests.dec();
  }
  connectionOverflow(): void {
    this.cluster.stats.upstream_cx_overflow.inc();
  }
  pendingOverflow(): void {
    this.cluster.stats.upstream_rq_pending_overflow.inc();
  }
}
