import * as grpc from '@grpc/grpc-js';
import type { ConfigIssue } from '../../src/lib/config-error';
import { decodeBinary, encodeBinary } from '../../src/xds/decode';
import type { DecodedMessage } from '../../src/xds/decoded';
import {
  DELTA_DISCOVERY_REQUEST,
  DELTA_DISCOVERY_RESPONSE,
  DISCOVERY_REQUEST,
  DISCOVERY_RESPONSE,
} from '../../src/xds/type-urls';
import { address } from './proxy';

/**
 * A scripted ADS control plane for tests (not `weft control`): a real gRPC server speaking
 * envoy.service.discovery.v3.AggregatedDiscoveryService (SotW and delta) with the real protos,
 * that records every request and sends exactly the responses a test tells it to.
 */

export interface RecordedRequest {
  stream: number;
  delta: boolean;
  req: DecodedMessage;
}

type Duplex = grpc.ServerDuplexStream<Buffer, Buffer>;

export class ScriptedAdsServer {
  readonly requests: RecordedRequest[] = [];
  private readonly streams = new Map<number, { call: Duplex; delta: boolean }>();
  private nextStream = 1;
  private nonce = 0;
  private waiters: { pred: (r: RecordedRequest) => boolean; resolve: (r: RecordedRequest) => void }[] = [];

  private constructor(
    private readonly server: grpc.Server,
    readonly port: number,
    readonly socketPath: string | undefined,
  ) {}

  static async start(opts: { unixPath?: string; port?: number } = {}): Promise<ScriptedAdsServer> {
    const server = new grpc.Server();
    let self: ScriptedAdsServer | undefined;
    const handler = (delta: boolean) => (call: Duplex) => self!.onStream(call, delta);
    const method = (name: string, delta: boolean): grpc.MethodDefinition<Buffer, Buffer> => ({
      path: `/envoy.service.discovery.v3.AggregatedDiscoveryService/${name}`,
      requestStream: true,
      responseStream: true,
      requestSerialize: (b: Buffer) => b,
      requestDeserialize: (b: Buffer) => b,
      responseSerialize: (b: Buffer) => b,
      responseDeserialize: (b: Buffer) => b,
      originalName: name,
    });
    server.addService(
      { StreamAggregatedResources: method('StreamAggregatedResources', false), DeltaAggregatedResources: method('DeltaAggregatedResources', true) },
      { StreamAggregatedResources: handler(false), DeltaAggregatedResources: handler(true) },
    );
    const target = opts.unixPath !== undefined ? `unix:${opts.unixPath}` : `127.0.0.1:${opts.port ?? 0}`;
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    self = new ScriptedAdsServer(server, port, opts.unixPath);
    return self;
  }

  /** The bootstrap cluster for this server (named xds_cluster). */
  cluster(): object {
    const addr = this.socketPath !== undefined ? { pipe: { path: this.socketPath } } : address(this.port);
    return {
      name: 'xds_cluster',
      type: 'STATIC',
      connect_timeout: '1s',
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
          explicit_http_config: { http2_protocol_options: {} },
        },
      },
      load_assignment: { cluster_name: 'xds_cluster', endpoints: [{ lb_endpoints: [{ endpoint: { address: addr } }] }] },
    };
  }

  get openStreams(): number {
    return this.streams.size;
  }

  private onStream(call: Duplex, delta: boolean): void {
    const id = this.nextStream++;
    this.streams.set(id, { call, delta });
    call.on('data', (b: Buffer) => {
      const issues: ConfigIssue[] = [];
      const req = decodeBinary(delta ? DELTA_DISCOVERY_REQUEST : DISCOVERY_REQUEST, b, '', issues);
      if (req === undefined || issues.length > 0) throw new Error(`undecodable request: ${JSON.stringify(issues)}`);
      const rec = { stream: id, delta, req };
      this.requests.push(rec);
      for (const w of this.waiters.filter((x) => x.pred(rec))) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(rec);
      }
    });
    const gone = (): void => {
      this.streams.delete(id);
    };
    call.on('end', () => {
      gone();
      call.end();
    });
    call.on('error', gone);
    call.on('close', gone);
    call.on('cancelled', gone);
  }

  /** Resolves with the first request (already received or future) matching `pred`, after index `from`; bounded. */
  waitForRequest(pred: (r: RecordedRequest) => boolean, opts: { from?: number; timeoutMs?: number } = {}): Promise<RecordedRequest> {
    const from = opts.from ?? 0;
    const hit = this.requests.slice(from).find(pred);
    if (hit !== undefined) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (r: RecordedRequest) => {
          clearTimeout(t);
          resolve(r);
        },
      };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`no matching xDS request within ${opts.timeoutMs ?? 10_000} ms; got:\n${this.requests.map((r) => JSON.stringify({ ...r.req, node: undefined })).join('\n')}`));
      }, opts.timeoutMs ?? 10_000);
      this.waiters.push(w);
    });
  }

  /** Waits for the ACK or NACK answering `nonce` (SotW or delta). */
  waitForAnswer(nonce: string, timeoutMs?: number): Promise<RecordedRequest> {
    return this.waitForRequest((r) => r.req.response_nonce === nonce, { timeoutMs });
  }

  /** Sends a SotW DiscoveryResponse on every open SotW stream; returns its nonce. */
  push(typeUrl: string, resources: DecodedMessage[], version: string): string {
    const nonce = `n${++this.nonce}`;
    const msg: DecodedMessage = { version_info: version, type_url: typeUrl, nonce, resources: resources.map((r) => ({ '@type': typeUrl, ...r })) };
    const bytes = Buffer.from(encodeBinary(DISCOVERY_RESPONSE, msg));
    for (const s of this.streams.values()) if (!s.delta) s.call.write(bytes);
    return nonce;
  }

  /** Sends a DeltaDiscoveryResponse on every open delta stream; returns its nonce. */
  pushDelta(typeUrl: string, resources: { name: string; version: string; resource: DecodedMessage }[], removed: string[] = [], systemVersion = ''): string {
    const nonce = `d${++this.nonce}`;
    const msg: DecodedMessage = {
      type_url: typeUrl,
      nonce,
      system_version_info: systemVersion,
      resources: resources.map((r) => ({ name: r.name, version: r.version, resource: { '@type': typeUrl, ...r.resource } })),
      removed_resources: removed,
    };
    const bytes = Buffer.from(encodeBinary(DELTA_DISCOVERY_RESPONSE, msg));
    for (const s of this.streams.values()) if (s.delta) s.call.write(bytes);
    return nonce;
  }

  /** Sends raw bytes as a response (for malformed-input tests). */
  pushRaw(bytes: Buffer): void {
    for (const s of this.streams.values()) s.call.write(bytes);
  }

  /** Ends every open stream with UNAVAILABLE (a control plane restarting). */
  dropStreams(): void {
    for (const s of this.streams.values()) s.call.destroy(Object.assign(new Error('going away'), { code: grpc.status.UNAVAILABLE }));
    this.streams.clear();
  }

  stop(): Promise<void> {
    this.dropStreams();
    this.server.forceShutdown();
    return Promise.resolve();
  }
}

/** A bootstrap whose listeners and clusters come over ADS from `ads` (SotW unless delta). */
export function adsBootstrap(ads: ScriptedAdsServer, opts: { delta?: boolean; initialFetchTimeout?: string; nodeId?: string; staticClusters?: object[]; setNodeOnce?: boolean } = {}): object {
  const source = { ads: {}, resource_api_version: 'V3', ...(opts.initialFetchTimeout !== undefined ? { initial_fetch_timeout: opts.initialFetchTimeout } : {}) };
  return {
    node: { id: opts.nodeId ?? 'sidecar~127.0.0.1~test.default~default.svc.cluster.local', cluster: 'test', locality: { zone: 'z1' }, metadata: { ISTIO_VERSION: '1.22.0' } },
    admin: { address: address(0) },
    dynamic_resources: {
      ads_config: {
        api_type: opts.delta ? 'DELTA_GRPC' : 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: 'xds_cluster', retry_policy: { retry_back_off: { base_interval: '0.05s', max_interval: '0.2s' } } } }],
        ...(opts.setNodeOnce ? { set_node_on_first_message_only: true } : {}),
      },
      lds_config: source,
      cds_config: source,
    },
    static_resources: { clusters: [ads.cluster(), ...(opts.staticClusters ?? [])] },
  };
}

// ---------------------------------------------------------------------------------------------
// xDS resources in decoded form (what the scripted server sends).

export function edsCluster(name: string, extra: DecodedMessage = {}): DecodedMessage {
  return { name, type: 'EDS', connect_timeout: 1000, eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } }, ...extra };
}

export function loadAssignment(cluster: string, ports: number[], weights?: number[]): DecodedMessage {
  return {
    cluster_name: cluster,
    endpoints: [
      {
        lb_endpoints: ports.map((p, i) => ({
          endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } },
          ...(weights ? { load_balancing_weight: weights[i] } : {}),
        })),
      },
    ],
  };
}

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER_FILTER = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };

/** A listener on 127.0.0.1:port whose connection manager takes routes `routeName` over RDS. */
export function rdsListener(name: string, routeName: string, port = 0, hcmExtra: DecodedMessage = {}): DecodedMessage {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM,
              stat_prefix: name,
              rds: { route_config_name: routeName, config_source: { ads: {}, resource_api_version: 'V3' } },
              http_filters: [ROUTER_FILTER],
              ...hcmExtra,
            },
          },
        ],
      },
    ],
  };
}

/** A RouteConfiguration sending everything (or `prefix`) to `cluster`, with a marker response header. */
export function routeTo(name: string, cluster: string, marker = cluster): DecodedMessage {
  return {
    name,
    virtual_hosts: [
      {
        name: 'all',
        domains: ['*'],
        routes: [{ match: { prefix: '/' }, route: { cluster }, response_headers_to_add: [{ header: { key: 'x-route', value: marker } }] }],
      },
    ],
  };
}

/** GET through the proxy: status, the echo upstream's name and the route's marker header. */
export async function get(port: number, path = '/'): Promise<{ status: number; upstream: string; route: string; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, upstream: r.headers.get('x-upstream') ?? '', route: r.headers.get('x-route') ?? '', body: await r.text() };
}

/** Polls `fn` until it returns something other than undefined; bounded. */
export async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
