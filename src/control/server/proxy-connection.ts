/**
 * One proxy's ADS stream (state-of-the-world or delta): its node, what it subscribed to per type,
 * what it was sent and what it ACKed or NACKed. Requests and pushes both end in `respond`, which
 * sends a type only when what the proxy should have differs from what it has.
 */
import type { MeshSnapshot, ProxyNode } from '../contracts';
import { logger } from '../../lib/log';
import { DecodedMessage, isDecodedMessage } from '../../xds/decode';
import type { DeltaResponse, PackedResource, SotwResponse } from './ads-codec';
import type { ControlMetrics } from './metrics';
import { internName, packList } from './resource-cache';
import type { SharedResponses } from './shared-responses';
import { MAX_SUBSCRIBED_NAMES, NackRecord, TypeWatch } from './type-watch';
import { fullStateType, PUSH_ORDER, shortType, wildcardByDefault } from './xds-types';

const log = logger('ads');

export type StreamMode = 'sotw' | 'delta';

/** What a connection needs from its server. */
export interface ConnectionContext {
  readonly metrics: ControlMetrics;
  /** The snapshot proxies are served from (the last debounced one). */
  snapshot(): MeshSnapshot;
  nextNonce(): string;
  /** Responses encoded once for every stream sent the same, per mode. */
  readonly sotwResponses: SharedResponses;
  readonly deltaResponses: SharedResponses;
}

/** What the proxy lacks (new or changed) and what it holds that it should no longer. */
function diffAgainstSent(sent: ReadonlyMap<string, string>, selected: readonly PackedResource[]): { changed: PackedResource[]; removed: string[] } {
  const changed: PackedResource[] = [];
  let held = 0;
  for (const r of selected) {
    const h = sent.get(r.name);
    if (h !== undefined) held++;
    if (h !== r.hash) changed.push(r);
  }
  const removed: string[] = [];
  // Every held name is still selected (the common case) unless some were not found above.
  if (held !== sent.size) {
    const present = new Set<string>();
    for (const r of selected) present.add(r.name);
    for (const name of sent.keys()) if (!present.has(name)) removed.push(name);
  }
  return { changed, removed };
}

/** The write side of the stream; false = the transport is backed up (wait for drain). */
export type ResponseSink = (response: SotwResponse | DeltaResponse) => boolean;

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

export class ProxyConnection {
  node: ProxyNode | undefined;
  readonly connectedAt = new Date();
  readonly watches = new Map<string, TypeWatch>();
  /** A push arrived while the stream was backed up; it is sent (at the latest state) on drain. */
  pushPending = false;
  backedUp = false;
  closed = false;

  constructor(
    readonly seq: number,
    readonly mode: StreamMode,
    readonly peer: string,
    private readonly ctx: ConnectionContext,
    private readonly sink: ResponseSink,
  ) {}

  /** istiod's connection id: the node id and a per-server sequence number. */
  get id(): string {
    return `${this.node?.id ?? 'unknown'}-${this.seq}`;
  }

  /**
   * Handles one request. Returns an error message when the request cannot be used (the stream is
   * then closed with INVALID_ARGUMENT).
   */
  onRequest(req: DecodedMessage, node: ProxyNode | undefined): string | undefined {
    if (!this.node) {
      if (!node) return 'the first request on a stream must carry node';
      this.node = node;
    }
    const typeUrl = str(req.type_url);
    const short = shortType(typeUrl);
    if (!short) {
      // Istio ignores types it does not generate (e.g. NameTable); so does Weft, visibly.
      log.warn(`${this.id}: ignoring request for type "${typeUrl}", which Weft does not serve`);
      this.ctx.metrics.badRequests.inc({ type: 'unknown' });
      return undefined;
    }
    return this.mode === 'sotw' ? this.onSotwRequest(req, typeUrl, short) : this.onDeltaRequest(req, typeUrl, short);
  }

  private onSotwRequest(req: DecodedMessage, typeUrl: string, short: string): string | undefined {
    const names = strings(req.resource_names);
    if (names.length > MAX_SUBSCRIBED_NAMES) return `resource_names has ${names.length} names; the limit is ${MAX_SUBSCRIBED_NAMES}`;
    const nonce = str(req.response_nonce);
    let watch = this.watches.get(typeUrl);
    if (!watch || nonce === '') {
      // A new subscription (or the proxy starting this type over on the same stream).
      watch ??= new TypeWatch(typeUrl, shortType(typeUrl)!);
      this.watches.set(typeUrl, watch);
      watch.setNames(names, true, wildcardByDefault(typeUrl));
      this.respond(watch, this.ctx.snapshot(), true);
      return undefined;
    }
    if (nonce !== watch.nonceSent) {
      // The proxy answers an older response; a newer one is on its way (xDS protocol: ignore).
      this.ctx.metrics.expiredNonce.inc({ type: short });
      log.debug(`${this.id}: ${short} request with expired nonce ${nonce} (latest ${watch.nonceSent}) ignored`);
      return undefined;
    }
    if (isDecodedMessage(req.error_detail)) this.recordNack(watch, req, nonce);
    else this.recordAck(watch, str(req.version_info), nonce);
    // A changed subscription is answered even when the set is unchanged (e.g. a name that does not exist).
    if (watch.setNames(names, false, wildcardByDefault(typeUrl))) this.respond(watch, this.ctx.snapshot(), true);
    return undefined;
  }

  private onDeltaRequest(req: DecodedMessage, typeUrl: string, short: string): string | undefined {
    const subscribe = strings(req.resource_names_subscribe);
    const unsubscribe = strings(req.resource_names_unsubscribe);
    let watch = this.watches.get(typeUrl);
    const first = !watch;
    if (!watch) {
      watch = new TypeWatch(typeUrl, shortType(typeUrl)!);
      this.watches.set(typeUrl, watch);
      if (subscribe.length === 0 && wildcardByDefault(typeUrl)) watch.wildcard = true;
      const initial = isDecodedMessage(req.initial_resource_versions) ? req.initial_resource_versions : {};
      const held = Object.keys(initial).length;
      if (held > MAX_SUBSCRIBED_NAMES) return `initial_resource_versions has ${held} ${short} names; the limit is ${MAX_SUBSCRIBED_NAMES}`;
      const sent = watch.ownSent();
      for (const [name, version] of Object.entries(initial)) if (typeof version === 'string') sent.set(internName(name), version);
    }
    const nonce = str(req.response_nonce);
    if (nonce !== '') {
      if (nonce !== watch.nonceSent) {
        this.ctx.metrics.expiredNonce.inc({ type: short });
      } else if (isDecodedMessage(req.error_detail)) {
        this.recordNack(watch, req, nonce);
      } else {
        this.recordAck(watch, watch.versionSent, nonce);
      }
    }
    for (const n of unsubscribe) {
      watch.subscriptionChanged();
      if (n === '*') watch.wildcard = false;
      else {
        watch.names.delete(n);
        if (watch.sent.has(n)) watch.ownSent().delete(n);
      }
    }
    for (const n of subscribe) watch.subscribe(n);
    if (watch.names.size > MAX_SUBSCRIBED_NAMES) return `subscribed to ${watch.names.size} ${short} names; the limit is ${MAX_SUBSCRIBED_NAMES}`;
    if (!watch.wildcard && unsubscribe.length > 0) {
      // Forget what the proxy had under names it no longer watches.
      for (const n of [...watch.sent.keys()]) if (!watch.names.has(n)) watch.ownSent().delete(n);
    }
    if (first || subscribe.length > 0) this.respond(watch, this.ctx.snapshot(), first);
    return undefined;
  }

  private recordAck(watch: TypeWatch, version: string, nonce: string): void {
    watch.versionAcked = version;
    watch.nonceAcked = nonce;
    watch.lastNack = undefined;
  }

  private recordNack(watch: TypeWatch, req: DecodedMessage, nonce: string): void {
    const detail = req.error_detail as DecodedMessage;
    const nack: NackRecord = {
      acceptedVersion: str(req.version_info),
      rejectedVersion: watch.versionSent,
      nonce,
      message: str(detail.message) || `code ${String(detail.code ?? '?')}`,
      at: new Date().toISOString(),
    };
    watch.lastNack = nack;
    this.ctx.metrics.totalRejects.inc({ type: watch.short });
    this.ctx.metrics.rejectsOf(watch.short)?.inc();
    log.warn(`ADS:${watch.short.toUpperCase()}: ACK ERROR ${this.id} version ${nack.rejectedVersion} nonce ${nonce}: ${nack.message}`);
  }

  /** Sends every watched type that changed for this proxy, in push order. */
  push(snapshot: MeshSnapshot): number {
    if (this.closed) return 0;
    if (this.backedUp) {
      this.pushPending = true;
      return 0;
    }
    let sent = 0;
    for (const typeUrl of PUSH_ORDER) {
      const watch = this.watches.get(typeUrl);
      if (watch && this.respond(watch, snapshot, watch.answerPending)) sent++;
    }
    return sent;
  }

  /** The stream drained: send what was held back, at the latest state. */
  onDrain(snapshot: MeshSnapshot): void {
    this.backedUp = false;
    if (!this.pushPending) return;
    this.pushPending = false;
    this.push(snapshot);
  }

  /** Updates what the proxy holds: shared when it is a whole generated list, else its own map. */
  private recordHeld(watch: TypeWatch, selected: readonly PackedResource[], changed: readonly PackedResource[], removed: readonly string[]): void {
    if (selected === watch.lastPacked) {
      watch.holdExactly(selected);
      return;
    }
    if (changed === selected) {
      const own = watch.ownSent();
      own.clear();
      for (const r of selected) own.set(r.name, r.hash);
      return;
    }
    const own = watch.ownSent();
    for (const r of changed) own.set(r.name, r.hash);
    for (const name of removed) own.delete(name);
  }

  /** Writes one response and records it as the latest of its type; false if the stream is backed up. */
  private send(watch: TypeWatch, snapshot: MeshSnapshot, resources: readonly PackedResource[], removed: readonly string[]): boolean {
    watch.versionSent = snapshot.version;
    watch.responses++;
    const generated = resources === watch.lastPacked;
    if (this.mode === 'sotw') {
      const shared = this.ctx.sotwResponses.get(snapshot.version, watch.typeUrl, resources, removed, generated);
      watch.nonceSent = shared.nonce;
      return this.sink({ versionInfo: snapshot.version, typeUrl: watch.typeUrl, nonce: shared.nonce, resources, encoded: shared.encoded });
    }
    const shared = this.ctx.deltaResponses.get(snapshot.version, watch.typeUrl, resources, removed, generated);
    watch.nonceSent = shared.nonce;
    return this.sink({ systemVersionInfo: snapshot.version, typeUrl: watch.typeUrl, nonce: shared.nonce, resources, removedResources: removed, encoded: shared.encoded });
  }

  /** Sends the watch's type if it changed for this proxy (or always, if `force`); true if sent. */
  private respond(watch: TypeWatch, snapshot: MeshSnapshot, force: boolean): boolean {
    if (this.backedUp) {
      // Nothing more is queued on a stream that does not drain: the answer waits, bounded to one per type.
      watch.answerPending ||= force;
      this.pushPending = true;
      return false;
    }
    watch.answerPending = false;
    const started = process.hrtime.bigint();
    let packed: readonly PackedResource[];
    try {
      packed = packList(watch.typeUrl, snapshot.generate(this.node!, watch.typeUrl));
    } catch (e) {
      this.ctx.metrics.internalErrors.inc({ type: watch.short });
      log.error(`${this.id}: cannot build ${watch.short}: ${(e as Error).message}`);
      return false;
    }
    // The model memoises: the very list diffed last time means nothing changed for this proxy.
    if (!force && packed === watch.lastPacked) return false;
    watch.lastPacked = packed;
    const selected = watch.select(packed);
    let ok: boolean;
    if (this.mode === 'sotw' && (force || watch.responses === 0 || fullStateType(watch.typeUrl))) {
      // LDS/CDS responses are the whole set (a missing one is deleted); so is a first or re-asked RDS/EDS.
      if (!force && watch.responses > 0 && watch.sameAsSent(selected, selected === packed)) {
        // Held by content already: hold the list itself, so the next push compares it by reference.
        if (selected === packed) watch.holdExactly(selected);
        return false;
      }
      this.recordHeld(watch, selected, selected, []);
      ok = this.send(watch, snapshot, selected, []);
    } else {
      const { changed, removed } = watch.diff(selected, selected === packed) ?? diffAgainstSent(watch.sent, selected);
      if (!force && changed.length === 0 && removed.length === 0) return false;
      this.recordHeld(watch, selected, changed, removed);
      if (this.mode === 'sotw') {
        // SotW RDS/EDS may carry only what changed (the xDS protocol: absent ≠ deleted for these types).
        if (changed.length === 0) return false;
        ok = this.send(watch, snapshot, changed, []);
      } else {
        ok = this.send(watch, snapshot, changed, removed);
      }
    }
    if (!ok) this.backedUp = true;
    this.ctx.metrics.pushes.inc({ type: watch.short });
    this.ctx.metrics.pushTime.observe(Number(process.hrtime.bigint() - started) / 1e9, { type: watch.short });
    log.debug(`${this.id}: sent ${watch.short} version ${snapshot.version} nonce ${watch.nonceSent}`);
    return true;
  }
}
