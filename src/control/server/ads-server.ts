/**
 * `weft control`'s ADS server: AggregatedDiscoveryService (state-of-the-world and delta) on
 * @grpc/grpc-js, serving each connected proxy what the MeshSource generates for it, with istiod's
 * debounce, push throttle and per-type ordering.
 */
import * as grpc from '@grpc/grpc-js';
import type { ConfigProblem, MeshSnapshot, MeshSource, ProxyNode } from '../contracts';
import { logger } from '../../lib/log';
import { isDecodedMessage } from '../../xds/decode';
import { adsServiceDefinition, DecodedRequest, DeltaResponse, encodeDelta, encodeSotw, SotwResponse } from './ads-codec';
import { Burst, DebounceOptions, Debouncer, ISTIOD_DEBOUNCE } from './debounce';
import { ControlMetrics } from './metrics';
import { proxyNodeOf } from './node';
import { ConnectionContext, ProxyConnection, StreamMode } from './proxy-connection';
import { PushQueue, PushTarget } from './push-queue';
import { SharedResponses } from './shared-responses';

const log = logger('ads');

export const DEFAULT_XDS_ADDRESS = '127.0.0.1:15010';
export const DEFAULT_MAX_CONNECTIONS = 10_000;
export const DEFAULT_PUSH_THROTTLE = 100;

export interface AdsServerOptions {
  /** host:port (port 0 = ephemeral) or unix:/path. */
  readonly xdsAddress?: string;
  readonly maxConnections?: number;
  readonly debounce?: DebounceOptions;
  readonly pushThrottle?: number;
}

/** A queued push: one connection, served the latest snapshot when its turn comes. */
class QueuedPush implements PushTarget {
  constructor(
    readonly conn: ProxyConnection,
    private readonly server: AdsServer,
  ) {}
  pushNow(): number {
    return this.conn.push(this.server.snapshot());
  }
}

/** Parses an xDS listen address; throws a message naming the flag's expected forms. */
export function grpcBindAddress(address: string): string {
  if (address.startsWith('unix:')) {
    if (address.length <= 'unix:'.length) throw new Error(`xDS address "${address}": unix: needs a socket path (unix:/path/to/sock)`);
    return address;
  }
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(address);
  if (!m || Number(m[2]) > 65535) throw new Error(`xDS address "${address}" is not host:port or unix:/path`);
  return address;
}

export class AdsServer {
  readonly metrics = new ControlMetrics();
  private readonly connections = new Map<ProxyConnection, QueuedPush>();
  private readonly grpcServer: grpc.Server;
  private readonly debouncer: Debouncer;
  private readonly queue: PushQueue<QueuedPush>;
  private readonly maxConnections: number;
  private served: MeshSnapshot;
  private seq = 0;
  private nonce = 0;
  private boundAt = '';
  private closing = false;
  private readonly ctx: ConnectionContext;

  private constructor(
    private readonly source: MeshSource,
    options: AdsServerOptions,
  ) {
    this.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    this.served = source.current();
    this.metrics.configProblems.set(source.problems().length);
    const nextNonce = (): string => String(++this.nonce);
    this.ctx = {
      metrics: this.metrics,
      snapshot: () => this.served,
      nextNonce,
      sotwResponses: new SharedResponses(nextNonce, (versionInfo, typeUrl, nonce, resources) => encodeSotw({ versionInfo, typeUrl, nonce, resources })),
      deltaResponses: new SharedResponses(nextNonce, (systemVersionInfo, typeUrl, nonce, resources, removedResources) => encodeDelta({ systemVersionInfo, typeUrl, nonce, resources, removedResources })),
    };
    this.debouncer = new Debouncer(options.debounce ?? ISTIOD_DEBOUNCE, (burst) => this.pushAll(burst));
    this.queue = new PushQueue(options.pushThrottle ?? DEFAULT_PUSH_THROTTLE, (_target, changeAt, sent) => {
      if (sent > 0) this.metrics.convergenceTime.observe((Date.now() - changeAt) / 1000);
    });
    this.grpcServer = new grpc.Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });
    this.grpcServer.addService(adsServiceDefinition(), {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<DecodedRequest, SotwResponse>) => this.accept(call, 'sotw'),
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<DecodedRequest, DeltaResponse>) => this.accept(call, 'delta'),
    });
    source.onChange(() => {
      if (this.closing) return;
      this.metrics.debouncedChanges.inc();
      this.debouncer.change();
    });
  }

  /** Starts serving; resolves once the address is bound. */
  static async start(source: MeshSource, options: AdsServerOptions = {}): Promise<AdsServer> {
    const server = new AdsServer(source, options);
    const address = grpcBindAddress(options.xdsAddress ?? DEFAULT_XDS_ADDRESS);
    const port = await new Promise<number>((resolve, reject) => {
      server.grpcServer.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(new Error(`cannot listen for xDS on ${address}: ${err.message}`)) : resolve(p)));
    });
    server.boundAt = address.startsWith('unix:') ? address : `${address.slice(0, address.lastIndexOf(':'))}:${port}`;
    log.info(`xDS (ADS, SotW and delta) listening on ${server.boundAt}`);
    return server;
  }

  /** The bound address (host:port with the real port, or unix:/path). */
  get address(): string {
    return this.boundAt;
  }

  /** The snapshot proxies are served from: the one current at the last debounced push. */
  snapshot(): MeshSnapshot {
    return this.served;
  }

  problems(): readonly ConfigProblem[] {
    return this.source.problems();
  }

  /** Connected proxies (those that sent their node), in connection order. */
  proxies(): ProxyConnection[] {
    const out: ProxyConnection[] = [];
    for (const c of this.connections.keys()) if (c.node) out.push(c);
    return out;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.debouncer.close();
    this.queue.close();
    // Streams are cancelled: proxies see UNAVAILABLE and reconnect (to us or a restarted us).
    this.grpcServer.forceShutdown();
    this.connections.clear();
    this.metrics.connectedProxies.set(0);
  }

  private pushAll(burst: Burst): void {
    const started = Date.now();
    this.served = this.source.current();
    this.metrics.configProblems.set(this.source.problems().length);
    this.metrics.debounceTime.observe((started - burst.firstChangeAt) / 1000);
    this.metrics.pushTriggers.inc();
    log.info(`push: version ${this.served.version} (${burst.changes} change(s) merged) to ${this.connections.size} proxies`);
    for (const q of this.connections.values()) this.queue.enqueue(q, burst.firstChangeAt);
  }

  private accept<R extends SotwResponse | DeltaResponse>(call: grpc.ServerDuplexStream<DecodedRequest, R>, mode: StreamMode): void {
    if (this.closing) {
      call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'control plane is shutting down' });
      return;
    }
    if (this.connections.size >= this.maxConnections) {
      this.metrics.rejectedConnections.inc();
      log.warn(`refusing xDS stream from ${call.getPeer()}: ${this.connections.size} connections is the limit (--max-connections)`);
      call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: `connection limit ${this.maxConnections} reached; try another control plane instance` });
      return;
    }
    const conn = new ProxyConnection(++this.seq, mode, call.getPeer(), this.ctx, (r) => call.write(r as R));
    const queued = new QueuedPush(conn, this);
    this.connections.set(conn, queued);
    this.metrics.connectedProxies.set(this.connections.size);
    let done = false;
    const forget = (why: string): void => {
      if (done) return;
      done = true;
      conn.closed = true;
      this.connections.delete(conn);
      this.queue.remove(queued);
      this.metrics.connectedProxies.set(this.connections.size);
      log.info(`ADS: ${mode} stream of ${conn.id} (${conn.peer}) closed: ${why}`);
    };
    const fail = (code: grpc.status, details: string): void => {
      this.metrics.badRequests.inc({ type: 'request' });
      log.warn(`ADS: closing ${mode} stream of ${conn.id} (${conn.peer}): ${details}`);
      forget(details);
      call.emit('error', { code, details });
    };
    call.on('data', (req: DecodedRequest) => {
      if (done) return;
      if (!req.ok) return fail(grpc.status.INVALID_ARGUMENT, `malformed request: ${req.error}`);
      let node: ProxyNode | undefined;
      if (!conn.node) {
        const n = proxyNodeOf(isDecodedMessage(req.message.node) ? req.message.node : undefined);
        if (typeof n === 'string') return fail(grpc.status.INVALID_ARGUMENT, n);
        node = n;
      }
      const error = conn.onRequest(req.message, node);
      if (node) log.info(`ADS: new ${mode} connection ${conn.id} from ${conn.peer} (${node.userAgent || 'unknown agent'})`);
      if (error) fail(grpc.status.INVALID_ARGUMENT, error);
    });
    call.on('drain', () => conn.onDrain(this.served));
    call.on('end', () => {
      forget('proxy ended the stream');
      call.end();
    });
    call.on('cancelled', () => forget('cancelled'));
    call.on('error', (e: Error) => forget(e.message));
    call.on('close', () => forget('closed'));
  }
}
