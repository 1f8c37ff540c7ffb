import type * as net from 'node:net';
import type * as tls from 'node:tls';
import { Http1ConnectionPool, PoolFailure, type ConnectionPool, type PendingRequest, type PoolCluster, type PoolHost, type UpstreamStreamHandler } from './conn-pool';
import { Http2ConnectionPool } from './h2-pool';

/**
 * auto_config: the upstream protocol is whatever ALPN negotiates. The host's first connection
 * offers ["h2", "http/1.1"]; if the upstream picks h2 that connection becomes the first of an
 * HTTP/2 pool, otherwise it is closed and an HTTP/1.1 pool serves the host from then on (its
 * connections offer "http/1.1"). Requests that arrive meanwhile wait in the bounded pending queue.
 */

class Waiter implements PendingRequest {
  inner: PendingRequest | null = null;
  cancelled = false;
  constructor(
    readonly pool: AlpnConnectionPool,
    readonly handler: UpstreamStreamHandler,
  ) {}
  cancel(): void {
    if (this.inner !== null) this.inner.cancel();
    else this.pool.cancelWaiter(this);
  }
}

const AUTO_ALPN: readonly string[] = ['h2', 'http/1.1'];

export class AlpnConnectionPool implements ConnectionPool {
  private chosen: ConnectionPool | null = null;
  private probe: net.Socket | null = null;
  private readonly waiters: Waiter[] = [];
  private probeTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly cluster: PoolCluster,
    readonly host: PoolHost,
  ) {}

  newStream(handler: UpstreamStreamHandler): PendingRequest | null {
    if (this.chosen !== null) return this.chosen.newStream(handler);
    const limits = this.cluster.limits;
    if (!limits.canQueueRequest()) {
      limits.pendingOverflow();
      handler.onPoolFailure(PoolFailure.Overflow, 'overflow');
      return null;
    }
    if (this.probe === null) this.startProbe();
    const w = new Waiter(this, handler);
    this.waiters.push(w);
    limits.requestQueued();
    this.cluster.poolStats.upstream_rq_pending_total.inc();
    this.cluster.poolStats.upstream_rq_pending_active.inc();
    return w;
  }

  cancelWaiter(w: Waiter): void {
    const i = this.waiters.indexOf(w);
    if (i === -1) return;
    this.waiters.splice(i, 1);
    this.dequeued();
    this.cluster.poolStats.upstream_rq_cancelled.inc();
  }

  drain(): void {
    this.chosen?.drain();
  }

  close(): void {
    this.chosen?.close();
    this.probe?.destroy();
    this.fail(PoolFailure.ConnectionFailure, 'pool closed');
  }

  private startProbe(): void {
    const transport = this.cluster.transport;
    const socket = transport.connect({ host: this.host.address, port: this.host.port, alpn: AUTO_ALPN });
    this.probe = socket;
    const onError = (e: NodeJS.ErrnoException): void => this.onProbeFailed(PoolFailure.ConnectionFailure, e.code ?? e.message);
    socket.once('error', onError);
    socket.once(transport.readyEvent, () => {
      socket.off('error', onError);
      if (this.probeTimer !== null) clearTimeout(this.probeTimer);
      this.decide(socket, (socket as tls.TLSSocket).alpnProtocol);
    });
    if (this.cluster.connectTimeoutMs > 0) {
      this.probeTimer = setTimeout(() => {
        this.cluster.poolStats.upstream_cx_connect_timeout.inc();
        socket.destroy();
        this.onProbeFailed(PoolFailure.Timeout, 'connection timeout');
      }, this.cluster.connectTimeoutMs);
    }
  }

  private onProbeFailed(reason: PoolFailure, detail: string): void {
    if (this.probeTimer !== null) clearTimeout(this.probeTimer);
    this.probeTimer = null;
    this.probe = null;
    this.host.cx_connect_fail++;
    this.cluster.poolStats.upstream_cx_connect_fail.inc();
    this.fail(reason, detail);
  }

  private decide(socket: net.Socket, alpn: string | false | null | undefined): void {
    let pool: ConnectionPool;
    if (alpn === 'h2') {
      const h2 = new Http2ConnectionPool(this.cluster, this.host);
      h2.adopt(socket);
      pool = h2;
    } else {
      socket.destroy();
      pool = new Http1ConnectionPool(this.cluster, this.host);
    }
    this.chosen = pool;
    for (const w of this.waiters.splice(0)) {
      this.dequeued();
      w.inner = pool.newStream(w.handler);
    }
  }

  private fail(reason: PoolFailure, detail: string): void {
    for (const w of this.waiters.splice(0)) {
      this.dequeued();
      w.handler.onPoolFailure(reason, detail);
    }
  }

  private dequeued(): void {
    this.cluster.limits.requestDequeued();
    this.cluster.poolStats.upstream_rq_pending_active.dec();
  }
}
