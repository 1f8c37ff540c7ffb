import * as grpc from '@grpc/grpc-js';
import type { ConfigIssue } from '../../lib/config-error';
import { decodeBinary, encodeBinary } from '../decode';
import type { DecodedMessage } from '../decoded';
import {
  ADS_DELTA_METHOD,
  ADS_SOTW_METHOD,
  CLUSTER_TYPE,
  ENDPOINT_TYPE,
  ROUTE_TYPE,
  DELTA_DISCOVERY_REQUEST,
  DELTA_DISCOVERY_RESPONSE,
  DISCOVERY_REQUEST,
  DISCOVERY_RESPONSE,
  LISTENER_TYPE,
  RESOURCE_WRAPPER_TYPE,
  resourceName,
  shortTypeName,
} from '../type-urls';
import { Backoff } from './backoff';
import { formatIssues } from './format-issues';

export { formatIssues } from './format-issues';

/**
 * The proxy's ADS client: one gRPC stream to the control plane carrying every resource type, in
 * state-of-the-world (StreamAggregatedResources) or incremental (DeltaAggregatedResources) form.
 *
 * Protocol rules followed (Envoy's):
 * - SotW: a request carries the last accepted version_info and the nonce of the response it
 *   answers; an ACK echoes the new version, a NACK keeps the old version and adds error_detail
 *   (google.rpc.Status, code 3). A subscription change resends the whole name list with the last
 *   version and nonce.
 * - Delta: subscribe/unsubscribe name diffs; an ACK is the response's nonce alone; on reconnect,
 *   initial_resource_versions lists what the proxy holds.
 * - Responses are handled one at a time and synchronously; requests a watcher causes while it is
 *   handling one (e.g. EDS names after CDS) go out after that response's ACK, as Envoy's pausing does.
 * - The stream breaks → reconnect after jittered exponential back-off; watchers keep their state,
 *   so the proxy keeps serving its last good configuration meanwhile.
 */

export interface XdsNode {
  id: string;
  cluster: string;
  metadata: Record<string, unknown>;
  locality: { region: string; zone: string; sub_zone: string };
  userAgentName: string;
  userAgentVersion: { major: number; minor: number; patch: number };
}

export interface DecodedResource {
  name: string;
  /** Delta: the resource's own version; SotW: the response's version_info. */
  version: string;
  resource: DecodedMessage;
}

export interface ResourceUpdate {
  typeUrl: string;
  /** version_info (SotW) or system_version_info (delta). */
  version: string;
  /** Resources that decoded cleanly (not yet validated by the watcher). */
  resources: DecodedResource[];
  /** Resources that failed to decode, by name where one could be read. */
  undecodable: { name: string; issues: ConfigIssue[] }[];
  /** Delta: removed_resources. SotW: empty; for full-state types the watcher removes what is absent. */
  removed: string[];
  /** SotW LDS/CDS: the response is the complete set, so anything absent is removed. */
  fullState: boolean;
}

/** What a watcher made of an update: the problems (any → NACK) and the names it rejected. */
export interface UpdateOutcome {
  issues: ConfigIssue[];
  rejected: readonly string[];
}

export interface ResourceWatcher {
  /** Validates and applies an update (valid resources apply even if others are rejected). Must not throw. */
  onUpdate(update: ResourceUpdate): UpdateOutcome;
}

export interface AdsClientStats {
  setConnected(connected: boolean): void;
}

export interface AdsClientOptions {
  /** A gRPC target: "ipv4:127.0.0.1:15010" or "unix:/path". */
  target: string;
  delta: boolean;
  node: XdsNode;
  setNodeOnFirstMessageOnly: boolean;
  backoffBaseMs: number;
  backoffMaxMs: number;
  stats: AdsClientStats;
  log: (level: 'debug' | 'info' | 'warn', msg: string) => void;
}

/** Bounds: what a misbehaving control plane can make the proxy hold. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
const MAX_RESOURCES_PER_RESPONSE = 100_000;
const FLOW_CONTROL_WINDOW_BYTES = 16 * 1024 * 1024;
/** INVALID_ARGUMENT, as Envoy puts in a NACK's error_detail. */
const STATUS_INVALID_ARGUMENT = 3;

class TypeState {
  /** Last accepted version_info (SotW). */
  version = '';
  /** Nonce of the last response received on the current stream. */
  nonce = '';
  /** Names the proxy wants (ignored when wildcard). */
  names = new Set<string>();
  /** Delta: names announced as subscribed on the current stream. */
  sentNames = new Set<string>();
  /** Delta: resource name → version the proxy holds. */
  readonly held = new Map<string, string>();
  /** The first request of this type went out on the current stream. */
  requested = false;

  constructor(
    readonly typeUrl: string,
    readonly watcher: ResourceWatcher,
    readonly wildcard: boolean,
  ) {}
}

type Stream = grpc.ClientDuplexStream<DecodedMessage, Buffer>;

export class AdsClient {
  private readonly types = new Map<string, TypeState>();
  private readonly order: string[] = [];
  private readonly client: grpc.Client;
  private readonly backoff: Backoff;
  private stream: Stream | null = null;
  private streamSentNode = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private handling = false;
  private readonly deferred = new Set<string>();
  private connectedNow = false;

  constructor(private readonly opts: AdsClientOptions) {
    this.client = new grpc.Client(opts.target, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      // HTTP/2 stream and connection windows (Envoy's gRPC default is 256 MiB): with the 64 KiB
      // default, a large configuration arrives one window update round trip at a time.
      'grpc-node.flow_control_window': FLOW_CONTROL_WINDOW_BYTES,
      'grpc.keepalive_time_ms': 300_000,
    });
    this.backoff = new Backoff(opts.backoffBaseMs, opts.backoffMaxMs);
  }

  get connected(): boolean {
    return this.connectedNow;
  }

  /** Starts watching a type: wildcard (LDS/CDS) or the names given by setResourceNames (RDS/EDS). */
  watch(typeUrl: string, watcher: ResourceWatcher, wildcard: boolean): void {
    if (this.types.has(typeUrl)) throw new Error(`${typeUrl} is already watched`);
    this.types.set(typeUrl, new TypeState(typeUrl, watcher, wildcard));
    this.order.push(typeUrl);
    // On (re)connect, requests go out as Envoy sends them: CDS, EDS, LDS, RDS.
    this.order.sort((x, y) => rank(x) - rank(y));
    this.requestSoon(typeUrl);
  }

  /** Replaces the names subscribed for a non-wildcard type; sends a request if they changed. */
  setResourceNames(typeUrl: string, names: Iterable<string>): void {
    const t = this.types.get(typeUrl);
    if (t === undefined || t.wildcard) return;
    const next = new Set(names);
    if (next.size === t.names.size && [...next].every((n) => t.names.has(n))) return;
    t.names = next;
    // Delta: versions of names no longer wanted are forgotten (SotW keeps none; watchers drop their own).
    for (const n of [...t.held.keys()]) if (!next.has(n)) t.held.delete(n);
    this.requestSoon(typeUrl);
  }

  start(): void {
    this.connect();
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const s = this.stream;
    this.stream = null;
    s?.cancel();
    this.client.close();
    this.setConnected(false);
  }

  private setConnected(c: boolean): void {
    if (this.connectedNow === c) return;
    this.connectedNow = c;
    this.opts.stats.setConnected(c);
  }

  private connect(): void {
    if (this.closed) return;
    const method = this.opts.delta ? ADS_DELTA_METHOD : ADS_SOTW_METHOD;
    const requestType = this.opts.delta ? DELTA_DISCOVERY_REQUEST : DISCOVERY_REQUEST;
    const stream = this.client.makeBidiStreamRequest<DecodedMessage, Buffer>(
      method,
      (m) => Buffer.from(encodeBinary(requestType, m)),
      (b) => b,
    );
    this.stream = stream;
    this.streamSentNode = false;
    for (const t of this.types.values()) {
      t.nonce = '';
      t.requested = false;
      t.sentNames = new Set();
    }
    let gotResponse = false;
    stream.on('data', (buf: Buffer) => {
      if (this.stream !== stream) return;
      this.setConnected(true);
      // Back-off starts over once the server has said something sensible on this stream.
      if (this.onResponse(buf) && !gotResponse) {
        gotResponse = true;
        this.backoff.reset();
      }
    });
    stream.on('metadata', () => {
      if (this.stream === stream) this.setConnected(true);
    });
    const ended = (why: string): void => {
      if (this.stream !== stream) return;
      this.stream = null;
      this.setConnected(false);
      if (this.closed) return;
      const delay = this.backoff.next();
      this.opts.log('warn', `xDS stream to ${this.opts.target} closed (${why}); reconnecting in ${delay} ms`);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.connect();
      }, delay);
    };
    stream.on('error', (e: grpc.ServiceError) => ended(`${grpc.status[e.code] ?? e.code}: ${e.details || e.message}`));
    stream.on('status', (s: grpc.StatusObject) => {
      if (s.code === grpc.status.OK) ended('the server ended the stream');
    });
    stream.on('end', () => ended('the server ended the stream'));
    for (const typeUrl of this.order) this.sendRequest(this.types.get(typeUrl)!, undefined);
  }

  /** Sends (or, while a response is being handled, defers) a request for a type. */
  private requestSoon(typeUrl: string): void {
    if (this.handling) {
      this.deferred.add(typeUrl);
      return;
    }
    const t = this.types.get(typeUrl);
    if (t !== undefined && this.stream !== null) this.sendRequest(t, undefined);
  }

  private nodeField(): DecodedMessage | undefined {
    if (this.opts.setNodeOnFirstMessageOnly && this.streamSentNode) return undefined;
    this.streamSentNode = true;
    const n = this.opts.node;
    const node: DecodedMessage = {
      user_agent_name: n.userAgentName,
      user_agent_build_version: { version: { major_number: n.userAgentVersion.major, minor_number: n.userAgentVersion.minor, patch: n.userAgentVersion.patch } },
      client_features: ['envoy.lb.does_not_support_overprovisioning'],
    };
    if (n.id) node.id = n.id;
    if (n.cluster) node.cluster = n.cluster;
    if (Object.keys(n.metadata).length > 0) node.metadata = n.metadata as DecodedMessage;
    const loc: DecodedMessage = {};
    if (n.locality.region) loc.region = n.locality.region;
    if (n.locality.zone) loc.zone = n.locality.zone;
    if (n.locality.sub_zone) loc.sub_zone = n.locality.sub_zone;
    if (Object.keys(loc).length > 0) node.locality = loc;
    return node;
  }

  /** One request for a type: the initial one, an ACK/NACK (`ack` set), or a subscription change. */
  private sendRequest(t: TypeState, ack: { nonce: string; error?: string } | undefined): void {
    const stream = this.stream;
    if (stream === null) return;
    // Nothing named yet: an empty name list would mean "everything" (legacy wildcard) to a server.
    if (!t.wildcard && t.names.size === 0 && !t.requested) return;
    const req: DecodedMessage = { type_url: t.typeUrl };
    const node = this.nodeField();
    if (node !== undefined) req.node = node;
    if (ack?.error !== undefined) req.error_detail = { code: STATUS_INVALID_ARGUMENT, message: ack.error };
    if (!this.opts.delta) {
      if (t.version) req.version_info = t.version;
      const nonce = ack?.nonce ?? t.nonce;
      if (nonce) req.response_nonce = nonce;
      if (!t.wildcard) req.resource_names = [...t.names].sort();
    } else {
      if (ack !== undefined) req.response_nonce = ack.nonce;
      if (!t.requested && t.held.size > 0) req.initial_resource_versions = Object.fromEntries(t.held);
      if (!t.wildcard) {
        const sub = [...t.names].filter((n) => !t.sentNames.has(n)).sort();
        const unsub = [...t.sentNames].filter((n) => !t.names.has(n)).sort();
        if (sub.length > 0) req.resource_names_subscribe = sub;
        if (unsub.length > 0) req.resource_names_unsubscribe = unsub;
        t.sentNames = new Set(t.names);
        if (t.requested && ack === undefined && sub.length === 0 && unsub.length === 0) return;
      } else if (t.requested && ack === undefined) return;
    }
    t.requested = true;
    const kind = ack === undefined ? 'request' : ack.error === undefined ? 'ACK' : 'NACK';
    this.opts.log('debug', `xDS ${shortTypeName(t.typeUrl)} ${kind} version=${String(req.version_info ?? '')} nonce=${String(req.response_nonce ?? '')}`);
    stream.write(req);
  }

  /** Handles one response; false when it was not a decodable response at all. */
  private onResponse(buf: Buffer): boolean {
    const issues: ConfigIssue[] = [];
    const msg = decodeBinary(this.opts.delta ? DELTA_DISCOVERY_RESPONSE : DISCOVERY_RESPONSE, buf, '', issues);
    const typeUrl = typeof msg?.type_url === 'string' ? msg.type_url : '';
    const nonce = typeof msg?.nonce === 'string' ? msg.nonce : '';
    if (msg === undefined || typeUrl === '') {
      // Nothing to ACK or NACK (no type, no nonce): as Envoy on an undecodable message, the stream is
      // dropped and reconnected after back-off; the configuration held so far stays.
      const why = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ') || 'no type_url';
      this.opts.log('warn', `xDS response from ${this.opts.target} is not a valid ${this.opts.delta ? 'DeltaDiscoveryResponse' : 'DiscoveryResponse'} (${why}); reconnecting`);
      this.stream?.cancel();
      return false;
    }
    const t = this.types.get(typeUrl);
    if (t === undefined) {
      this.opts.log('warn', `xDS response for a type not subscribed: ${JSON.stringify(typeUrl)}; ignored`);
      return true;
    }
    t.nonce = nonce;
    const update = this.opts.delta ? this.deltaUpdate(t, msg ?? {}, issues) : this.sotwUpdate(t, msg ?? {}, issues);
    this.handling = true;
    let outcome: UpdateOutcome;
    try {
      outcome = t.watcher.onUpdate(update);
    } catch (e) {
      outcome = { issues: [{ path: '', message: `internal error applying the update: ${(e as Error).message}` }], rejected: update.resources.map((r) => r.name) };
    } finally {
      this.handling = false;
    }
    if (this.opts.delta) this.recordDeltaHeld(t, update, new Set(outcome.rejected));
    if (outcome.issues.length === 0) {
      if (!this.opts.delta) t.version = update.version;
      this.sendRequest(t, { nonce });
    } else {
      const error = formatIssues(outcome.issues);
      this.opts.log('warn', `xDS ${shortTypeName(typeUrl)} update version ${JSON.stringify(update.version)} rejected (NACK): ${error}`);
      this.sendRequest(t, { nonce, error });
    }
    const later = [...this.deferred];
    this.deferred.clear();
    for (const u of later) this.requestSoon(u);
    return true;
  }

  private sotwUpdate(t: TypeState, msg: DecodedMessage, issues: ConfigIssue[]): ResourceUpdate {
    const version = typeof msg.version_info === 'string' ? msg.version_info : '';
    const list = Array.isArray(msg.resources) ? msg.resources : [];
    const update: ResourceUpdate = {
      typeUrl: t.typeUrl,
      version,
      resources: [],
      undecodable: [],
      removed: [],
      fullState: t.typeUrl === LISTENER_TYPE || t.typeUrl === CLUSTER_TYPE,
    };
    this.collect(t, update, list.map((r, i) => ({ any: r, path: `resources[${i}]`, version })), issues);
    return update;
  }

  private deltaUpdate(t: TypeState, msg: DecodedMessage, issues: ConfigIssue[]): ResourceUpdate {
    const list = Array.isArray(msg.resources) ? msg.resources : [];
    const removed = Array.isArray(msg.removed_resources) ? msg.removed_resources.filter((x): x is string => typeof x === 'string') : [];
    const update: ResourceUpdate = {
      typeUrl: t.typeUrl,
      version: typeof msg.system_version_info === 'string' ? msg.system_version_info : '',
      resources: [],
      undecodable: [],
      removed,
      fullState: false,
    };
    const entries = list.map((r, i) => {
      const w = (r ?? {}) as DecodedMessage;
      return { any: w.resource, path: `resources[${i}].resource`, version: typeof w.version === 'string' ? w.version : '', name: typeof w.name === 'string' ? w.name : '' };
    });
    this.collect(t, update, entries, issues);
    return update;
  }

  /** Sorts decoded resources into the update, attributing decode issues to the resource they belong to. */
  private collect(
    t: TypeState,
    update: ResourceUpdate,
    entries: { any: unknown; path: string; version: string; name?: string }[],
    issues: ConfigIssue[],
  ): void {
    if (entries.length > MAX_RESOURCES_PER_RESPONSE) {
      update.undecodable.push({ name: '', issues: [{ path: 'resources', message: `more than ${MAX_RESOURCES_PER_RESPONSE} resources in one response` }] });
      return;
    }
    const general = issues.filter((i) => !entries.some((e) => i.path.startsWith(e.path)));
    if (general.length > 0) update.undecodable.push({ name: '', issues: general });
    for (const e of entries) {
      let res = e.any as DecodedMessage | undefined;
      let version = e.version;
      let name = e.name ?? '';
      // istiod may wrap SotW resources in envoy.service.discovery.v3.Resource.
      if (res !== undefined && res['@type'] === RESOURCE_WRAPPER_TYPE) {
        if (typeof res.version === 'string' && res.version) version = res.version;
        if (typeof res.name === 'string' && res.name) name = res.name;
        res = res.resource as DecodedMessage | undefined;
      }
      const own = issues.filter((i) => i.path === e.path || i.path.startsWith(e.path + '.') || i.path.startsWith(e.path + '['));
      if (res === undefined) {
        if (own.length === 0) own.push({ path: e.path, message: 'resource is missing' });
      } else if (res['@type'] !== t.typeUrl) {
        own.push({ path: e.path, message: `resource of type ${String(res['@type'])} in a ${t.typeUrl} response` });
      }
      const resName = res === undefined ? '' : resourceName(t.typeUrl, res);
      if (name === '') name = resName;
      else if (resName !== '' && resName !== name) own.push({ path: e.path, message: `resource named '${resName}' delivered as '${name}'` });
      if (own.length > 0 || res === undefined) {
        update.undecodable.push({ name, issues: own });
        continue;
      }
      update.resources.push({ name, version, resource: res });
    }
  }

  /** Delta: remembers the versions of the resources now held (for initial_resource_versions). */
  private recordDeltaHeld(t: TypeState, update: ResourceUpdate, rejected: ReadonlySet<string>): void {
    for (const n of update.removed) t.held.delete(n);
    for (const r of update.resources) if (!rejected.has(r.name)) t.held.set(r.name, r.version);
  }
}

const REQUEST_ORDER = [CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE];

function rank(typeUrl: string): number {
  const i = REQUEST_ORDER.indexOf(typeUrl);
  return i < 0 ? REQUEST_ORDER.length : i;
}
