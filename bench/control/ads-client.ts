/**
 * A lightweight ADS client (SotW or delta) on @grpc/grpc-js: many of them share a few channels in
 * one process to stand in for connected proxies. It ACKs what it receives, can NACK on demand, and
 * (with `follow`) subscribes to the routes its listeners name and the endpoints of its EDS clusters,
 * as Envoy does. Used by `npm run bench:control` and by the ADS server's tests.
 */
import * as grpc from '@grpc/grpc-js';
import type * as protobuf from 'protobufjs';
import { TYPE_URL } from '../../src/control/contracts';
import { ConfigIssue } from '../../src/lib/config-error';
import { decodeBinary, DecodedMessage, encodeBinary, isDecodedMessage } from '../../src/xds/decode';
import { lookupType } from '../../src/xds/protos';

export type Mode = 'sotw' | 'delta';

/** One response as received. */
export interface Received {
  readonly typeUrl: string;
  readonly version: string;
  readonly nonce: string;
  readonly names: readonly string[];
  readonly removed: readonly string[];
  readonly values: ReadonlyMap<string, Uint8Array>;
}

interface RawResponse {
  version_info?: string;
  system_version_info?: string;
  type_url?: string;
  nonce?: string;
  resources?: Array<{ type_url?: string; value?: Uint8Array; name?: string; resource?: { type_url?: string; value?: Uint8Array } }>;
  removed_resources?: string[];
}

function type(name: string): protobuf.Type {
  const t = lookupType(name);
  if (!t) throw new Error(`proto type ${name} is not loaded`);
  return t;
}

function clientDefinition(): grpc.ServiceDefinition {
  const def = (method: string, req: string, res: string): grpc.MethodDefinition<DecodedMessage, RawResponse> => ({
    path: `/envoy.service.discovery.v3.AggregatedDiscoveryService/${method}`,
    requestStream: true,
    responseStream: true,
    requestSerialize: (m: DecodedMessage) => Buffer.from(encodeBinary(req, m)),
    requestDeserialize: () => ({}),
    responseSerialize: () => Buffer.alloc(0),
    responseDeserialize: (b: Buffer) => type(res).decode(b) as unknown as RawResponse,
  });
  return {
    StreamAggregatedResources: def('StreamAggregatedResources', 'envoy.service.discovery.v3.DiscoveryRequest', 'envoy.service.discovery.v3.DiscoveryResponse'),
    DeltaAggregatedResources: def('DeltaAggregatedResources', 'envoy.service.discovery.v3.DeltaDiscoveryRequest', 'envoy.service.discovery.v3.DeltaDiscoveryResponse'),
  };
}

let ctor: grpc.ServiceClientConstructor | undefined;

/** A channel to an ADS server; pass one to many AdsClients. */
export function adsChannel(address: string, options: grpc.ChannelOptions = {}): grpc.Client {
  ctor ??= grpc.makeGenericClientConstructor(clientDefinition(), 'AggregatedDiscoveryService');
  // A distinct option makes grpc-js open a separate subchannel (TCP connection) per channel.
  // HTTP/2 windows of 16 MiB, as the Weft proxy's ADS client (Envoy's are 256 MiB): with the 64 KiB
  // default, a large RDS table crawls through a shared connection one window update at a time.
  return new ctor(address, grpc.credentials.createInsecure(), {
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc-node.flow_control_window': 16 * 1024 * 1024,
    ...options,
  });
}

/** Names a resource refers to that the client then subscribes to (cached by content: clients share them). */
const referenceCache = new Map<string, readonly string[]>();
const REFERENCE_CACHE_MAX = 100_000;

/** A cache key for a resource body: its bytes as a latin1 string (cheaper than a digest, exact). */
function bodyKey(typeUrl: string, value: Uint8Array): string {
  return typeUrl + Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1');
}

function referencesOf(typeUrl: string, value: Uint8Array): readonly string[] {
  const key = bodyKey(typeUrl, value);
  const hit = referenceCache.get(key);
  if (hit) return hit;
  const issues: ConfigIssue[] = [];
  const m = decodeBinary(typeUrl, value, '', issues);
  const out: string[] = [];
  if (m && typeUrl === TYPE_URL.listener) collectRouteNames(m, out, 0);
  if (m && typeUrl === TYPE_URL.cluster && (m.type === 'EDS' || isDecodedMessage(m.eds_cluster_config))) {
    const eds = isDecodedMessage(m.eds_cluster_config) ? m.eds_cluster_config : {};
    out.push(typeof eds.service_name === 'string' && eds.service_name ? eds.service_name : String(m.name));
  }
  if (referenceCache.size >= REFERENCE_CACHE_MAX) referenceCache.clear();
  referenceCache.set(key, out);
  return out;
}

/** Every rds.route_config_name inside a listener (filter chains and api_listener alike). */
function collectRouteNames(v: unknown, out: string[], depth: number): void {
  if (depth > 30) return;
  if (Array.isArray(v)) {
    for (const x of v) collectRouteNames(x, out, depth + 1);
    return;
  }
  if (!isDecodedMessage(v)) return;
  if (isDecodedMessage(v.rds) && typeof v.rds.route_config_name === 'string') out.push(v.rds.route_config_name);
  for (const k of Object.keys(v)) if (k !== 'rds') collectRouteNames(v[k], out, depth + 1);
}

interface TypeState {
  names: Set<string>;
  wildcard: boolean;
  version: string;
  nonce: string;
  resources: Map<string, Uint8Array>;
}

export interface AdsClientOptions {
  readonly nodeId: string;
  readonly cluster?: string;
  readonly metadata?: DecodedMessage;
  readonly mode?: Mode;
  /** Subscribe to the RDS/EDS names that listeners and clusters refer to (default true). */
  readonly follow?: boolean;
  /** Returns an error message to NACK a response with, or undefined to ACK it. */
  readonly nack?: (r: Received) => string | undefined;
  /** Most responses kept in `received` (oldest dropped). */
  readonly keep?: number;
  /**
   * Keep names and bodies only of listeners and clusters (what `follow` needs): a fleet of many
   * clients in one process then spends its time on the protocol, not on decoding routes.
   */
  readonly light?: boolean;
  /** Called for every response, after it was ACKed or NACKed. */
  readonly onReceived?: (r: Received) => void;
}

export class AdsClient {
  readonly received: Received[] = [];
  private readonly state = new Map<string, TypeState>();
  private readonly call: grpc.ClientDuplexStream<DecodedMessage, RawResponse>;
  private readonly waiters = new Set<() => void>();
  private sentNode = false;
  readonly mode: Mode;
  ended: grpc.StatusObject | undefined;
  private readonly keep: number;

  constructor(
    channel: grpc.Client,
    private readonly options: AdsClientOptions,
  ) {
    this.mode = options.mode ?? 'sotw';
    this.keep = options.keep ?? 1000;
    const method = this.mode === 'sotw' ? 'StreamAggregatedResources' : 'DeltaAggregatedResources';
    const fn = (channel as unknown as Record<string, () => grpc.ClientDuplexStream<DecodedMessage, RawResponse>>)[method];
    this.call = fn.call(channel);
    this.call.on('data', (r: RawResponse) => this.onResponse(r));
    this.call.on('status', (s: grpc.StatusObject) => {
      this.ended = s;
      this.wake();
    });
    this.call.on('error', () => undefined);
  }

  /** Subscribes (SotW: replaces the names of) one type; no names = wildcard for LDS/CDS. */
  subscribe(typeUrl: string, names: readonly string[] = []): void {
    let st = this.state.get(typeUrl);
    const fresh = !st;
    if (!st) {
      st = { names: new Set(), wildcard: names.length === 0, version: '', nonce: '', resources: new Map() };
      this.state.set(typeUrl, st);
    }
    const added = names.filter((n) => !st.names.has(n));
    for (const n of names) st.names.add(n);
    if (this.mode === 'sotw') this.send({ type_url: typeUrl, version_info: st.version, response_nonce: st.nonce, resource_names: st.wildcard ? [] : [...st.names] });
    else if (fresh || added.length > 0) this.send({ type_url: typeUrl, resource_names_subscribe: st.wildcard ? [] : added, ...(st.nonce ? { response_nonce: st.nonce } : {}) });
  }

  /** Drops names from a subscription. */
  unsubscribe(typeUrl: string, names: readonly string[]): void {
    const st = this.state.get(typeUrl);
    if (!st) return;
    for (const n of names) {
      st.names.delete(n);
      st.resources.delete(n);
    }
    if (this.mode === 'sotw') this.send({ type_url: typeUrl, version_info: st.version, response_nonce: st.nonce, resource_names: [...st.names] });
    else this.send({ type_url: typeUrl, resource_names_unsubscribe: [...names], response_nonce: st.nonce });
  }

  /** Sends a raw request (tests use it for stale nonces and odd inputs). */
  send(req: DecodedMessage): void {
    if (!this.sentNode) {
      this.sentNode = true;
      req = {
        ...req,
        node: {
          id: this.options.nodeId,
          cluster: this.options.cluster ?? 'bench',
          user_agent_name: 'weft-ads-client',
          ...(this.options.metadata ? { metadata: this.options.metadata } : {}),
        },
      };
    }
    this.call.write(req);
  }

  /** Types this client holds state for. */
  types(): string[] {
    return [...this.state.keys()];
  }

  /** The version last accepted for a type ('' if none). */
  version(typeUrl: string): string {
    return this.state.get(typeUrl)?.version ?? '';
  }

  /** Names of the resources held for a type. */
  names(typeUrl: string): string[] {
    return [...(this.state.get(typeUrl)?.resources.keys() ?? [])].sort();
  }

  resource(typeUrl: string, name: string): Uint8Array | undefined {
    return this.state.get(typeUrl)?.resources.get(name);
  }

  lastNonce(typeUrl: string): string {
    return this.state.get(typeUrl)?.nonce ?? '';
  }

  /** Resolves when `predicate` holds (checked after every response and every 25 ms); rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (predicate()) {
          cleanup();
          resolve();
        } else if (this.ended) {
          cleanup();
          reject(new Error(`${this.options.nodeId}: stream ended (${this.ended.code} ${this.ended.details}) before ${what}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.options.nodeId}: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const poll = setInterval(check, 25);
      const cleanup = (): void => {
        clearTimeout(timer);
        clearInterval(poll);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  /** Stops reading responses (flow control then backs the server up); resume() reads again. */
  pause(): void {
    this.call.pause();
  }

  resume(): void {
    this.call.resume();
  }

  close(): void {
    this.call.cancel();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private onResponse(r: RawResponse): void {
    const typeUrl = r.type_url ?? '';
    const nonce = r.nonce ?? '';
    const version = (this.mode === 'sotw' ? r.version_info : r.system_version_info) ?? '';
    const values = new Map<string, Uint8Array>();
    const names: string[] = [];
    const skip = this.options.light === true && typeUrl !== TYPE_URL.listener && typeUrl !== TYPE_URL.cluster;
    for (const res of skip ? [] : (r.resources ?? [])) {
      if (this.mode === 'sotw') {
        const value = res.value ?? new Uint8Array();
        const name = nameOf(typeUrl, value);
        names.push(name);
        values.set(name, value);
      } else {
        names.push(res.name ?? '');
        values.set(res.name ?? '', res.resource?.value ?? new Uint8Array());
      }
    }
    const received: Received = { typeUrl, version, nonce, names, removed: r.removed_resources ?? [], values };
    this.received.push(received);
    if (this.received.length > this.keep) this.received.shift();
    let st = this.state.get(typeUrl);
    if (!st) {
      st = { names: new Set(), wildcard: false, version: '', nonce: '', resources: new Map() };
      this.state.set(typeUrl, st);
    }
    const nack = this.options.nack?.(received);
    st.nonce = nonce;
    if (nack !== undefined) {
      const base = { type_url: typeUrl, response_nonce: nonce, error_detail: { code: 3, message: nack } };
      this.send(this.mode === 'sotw' ? { ...base, version_info: st.version, resource_names: st.wildcard ? [] : [...st.names] } : base);
      this.options.onReceived?.(received);
      this.wake();
      return;
    }
    if (this.mode === 'sotw' && (typeUrl === TYPE_URL.listener || typeUrl === TYPE_URL.cluster)) st.resources = values;
    else if (this.mode === 'sotw') for (const [n, v] of values) st.resources.set(n, v);
    else {
      for (const [n, v] of values) st.resources.set(n, v);
      for (const n of received.removed) st.resources.delete(n);
    }
    st.version = version;
    this.send(this.mode === 'sotw' ? { type_url: typeUrl, version_info: version, response_nonce: nonce, resource_names: st.wildcard ? [] : [...st.names] } : { type_url: typeUrl, response_nonce: nonce });
    if (this.options.follow !== false) this.follow(typeUrl, st);
    this.options.onReceived?.(received);
    this.wake();
  }

  private follow(typeUrl: string, st: TypeState): void {
    const next = typeUrl === TYPE_URL.listener ? TYPE_URL.route : typeUrl === TYPE_URL.cluster ? TYPE_URL.endpoint : undefined;
    if (!next) return;
    const wanted = new Set<string>();
    for (const v of st.resources.values()) for (const n of referencesOf(typeUrl, v)) wanted.add(n);
    const cur = this.state.get(next);
    const have = cur ? cur.names : new Set<string>();
    const same = wanted.size === have.size && [...wanted].every((n) => have.has(n));
    if (same && cur) return;
    if (wanted.size === 0 && !cur) return;
    if (this.mode === 'sotw') {
      if (!cur) {
        this.state.set(next, { names: wanted, wildcard: false, version: '', nonce: '', resources: new Map() });
        this.send({ type_url: next, resource_names: [...wanted] });
      } else {
        cur.names = wanted;
        for (const n of [...cur.resources.keys()]) if (!wanted.has(n)) cur.resources.delete(n);
        this.send({ type_url: next, version_info: cur.version, response_nonce: cur.nonce, resource_names: [...wanted] });
      }
      return;
    }
    const gone = [...have].filter((n) => !wanted.has(n));
    if (gone.length) this.unsubscribe(next, gone);
    const added = [...wanted].filter((n) => !have.has(n));
    if (!cur) {
      this.state.set(next, { names: new Set(wanted), wildcard: false, version: '', nonce: '', resources: new Map() });
      this.send({ type_url: next, resource_names_subscribe: added });
    } else if (added.length) {
      for (const n of added) cur.names.add(n);
      this.send({ type_url: next, resource_names_subscribe: added, response_nonce: cur.nonce });
    }
  }
}

/** A SotW resource's name: the `name` field (cluster_name for ClusterLoadAssignment). */
const nameCache = new Map<string, string>();
function nameOf(typeUrl: string, value: Uint8Array): string {
  const key = bodyKey(typeUrl, value);
  const hit = nameCache.get(key);
  if (hit !== undefined) return hit;
  const t = lookupType(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
  const m = t ? (t.decode(value) as unknown as Record<string, unknown>) : {};
  const name = String(typeUrl === TYPE_URL.endpoint ? (m.cluster_name ?? '') : (m.name ?? ''));
  if (nameCache.size >= REFERENCE_CACHE_MAX) nameCache.clear();
  nameCache.set(key, name);
  return name;
}
