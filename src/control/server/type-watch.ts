/** What one proxy subscribed to for one xDS type on its stream, and what it was sent and ACKed. */
import type { PackedResource } from './ads-codec';
import { transition } from './list-transitions';
import { internName, sharedSentMap } from './resource-cache';
import type { ShortType } from './xds-types';

export interface NackRecord {
  /** version_info of the rejecting request: the last version the proxy accepted. */
  readonly acceptedVersion: string;
  /** The version that was rejected (the one sent with the nonce). */
  readonly rejectedVersion: string;
  readonly nonce: string;
  readonly message: string;
  readonly at: string;
}

/** Most names a proxy may subscribe to for one type; more is a bad request. */
export const MAX_SUBSCRIBED_NAMES = 100_000;

export class TypeWatch {
  wildcard = false;
  readonly names = new Set<string>();
  /** What the proxy has, by our account: name → content hash. Possibly shared: change it via ownSent(). */
  private sentMap: ReadonlyMap<string, string> = new Map();
  private sentShared = false;
  /** The generated list whose shared map `sentMap` is (while the proxy holds exactly a list). */
  private heldList: readonly PackedResource[] | undefined;
  /** The last generated list the subscription covered whole (names unchanged since). */
  private coveredList: readonly PackedResource[] | undefined;
  /** The packed list last diffed against: the same list again means nothing changed for this watch. */
  lastPacked: readonly PackedResource[] | undefined;
  versionSent = '';
  nonceSent = '';
  versionAcked = '';
  nonceAcked = '';
  /** A request asked for a response while the stream was backed up: send it (even if unchanged) on drain. */
  answerPending = false;
  /** Responses sent on this stream for this type. */
  responses = 0;
  lastNack: NackRecord | undefined;

  constructor(
    readonly typeUrl: string,
    readonly short: ShortType,
  ) {}

  get sent(): ReadonlyMap<string, string> {
    return this.sentMap;
  }

  /** The sent map, copied first if it is shared with other proxies. */
  ownSent(): Map<string, string> {
    if (this.sentShared || !(this.sentMap instanceof Map)) {
      this.sentMap = new Map(this.sentMap);
      this.sentShared = false;
    }
    this.heldList = undefined;
    return this.sentMap as Map<string, string>;
  }

  /** Records that the proxy now holds exactly `packed`. */
  holdExactly(packed: readonly PackedResource[]): void {
    this.sentMap = sharedSentMap(packed);
    this.sentShared = true;
    this.heldList = packed;
  }

  /**
   * What `selected` (a generated list) adds, changes and removes against what the proxy holds;
   * computed once per pair of lists when the proxy holds exactly a generated list.
   */
  diff(selected: readonly PackedResource[], generated: boolean): { changed: readonly PackedResource[]; removed: readonly string[] } | undefined {
    if (!generated || this.heldList === undefined || !this.sentShared) return undefined;
    return transition(this.heldList, selected);
  }

  /** The subscription changed: the next push must diff, not trust `lastPacked`. */
  subscriptionChanged(): void {
    this.lastPacked = undefined;
    this.coveredList = undefined;
  }

  subscribe(name: string): void {
    if (name === '*') this.wildcard = true;
    else this.names.add(internName(name));
    this.subscriptionChanged();
  }

  /** The resources of `all` this watch covers (`all` itself when it covers them all). */
  select(all: readonly PackedResource[]): readonly PackedResource[] {
    if (this.wildcard) return all;
    // Names covering a list cover any list with the same names.
    if (this.coveredList !== undefined && (this.coveredList === all || transition(this.coveredList, all).sameNames)) {
      this.coveredList = all;
      return all;
    }
    const out: PackedResource[] = [];
    for (const r of all) if (this.names.has(r.name)) out.push(r);
    if (out.length !== all.length) return out;
    this.coveredList = all;
    return all;
  }

  /** Whether `resources` is exactly what the proxy already has. */
  sameAsSent(resources: readonly PackedResource[], generated: boolean): boolean {
    const d = this.diff(resources, generated);
    if (d !== undefined) return d.changed.length === 0 && d.removed.length === 0;
    if (resources.length !== this.sentMap.size) return false;
    for (const r of resources) if (this.sentMap.get(r.name) !== r.hash) return false;
    return true;
  }

  /** Replaces the SotW subscription; true if it changed. */
  setNames(names: readonly string[], firstRequest: boolean, wildcardByDefault: boolean): boolean {
    let wildcard = names.includes('*');
    // An empty first request for LDS/CDS is a wildcard; a legacy wildcard stays one while it sends no names.
    if (names.length === 0 && wildcardByDefault && (firstRequest || this.wildcard)) wildcard = true;
    const explicit = wildcard && names.length > 0 ? names.filter((n) => n !== '*') : wildcard ? [] : names;
    // The common case, an ACK repeating the same names, costs one pass and no allocation.
    let same = wildcard === this.wildcard && explicit.length === this.names.size;
    for (let i = 0; same && i < explicit.length; i++) same = this.names.has(explicit[i]);
    if (same) return false;
    this.wildcard = wildcard;
    this.names.clear();
    for (const n of explicit) this.names.add(internName(n));
    this.subscriptionChanged();
    return true;
  }
}
