/** What one proxy subscribed to for one xDS type on its stream, and what it was sent and ACKed. */
import type { PackedResource } from './ads-codec';
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
  /**
   * What the proxy has, by our account: exactly a generated list (`heldList`, the common case,
   * kept by reference), or else name → content hash in a map of its own.
   */
  private heldList: readonly PackedResource[] | undefined;
  private ownMap: Map<string, string> | undefined;
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

  /** name → content hash of what the proxy holds (a map shared by every proxy holding the same list). */
  get sent(): ReadonlyMap<string, string> {
    if (this.heldList !== undefined) return sharedSentMap(this.heldList);
    return (this.ownMap ??= new Map());
  }

  /** The sent map as this watch's own, to change. */
  ownSent(): Map<string, string> {
    if (this.ownMap === undefined || this.heldList !== undefined) {
      this.ownMap = new Map(this.heldList === undefined ? [] : this.heldList.map((r) => [r.name, r.hash]));
      this.heldList = undefined;
    }
    return this.ownMap;
  }

  /** Records that the proxy now holds exactly `packed`. */
  holdExactly(packed: readonly PackedResource[]): void {
    this.heldList = packed;
    this.ownMap = undefined;
  }

  /**
   * What `selected` (a generated list) changes against what the proxy holds, when the proxy holds
   * exactly a generated list with the same names in the same order (the common case after a
   * change): an index-by-index identity check, no map lookups. Undefined when that does not apply.
   */
  diff(selected: readonly PackedResource[], generated: boolean): { changed: readonly PackedResource[]; removed: readonly string[] } | undefined {
    if (!generated || this.heldList === undefined) return undefined;
    const changed = alignedChanges(this.heldList, selected);
    return changed === undefined ? undefined : { changed, removed: [] };
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
    if (this.coveredList !== undefined && sameNamesInOrder(this.coveredList, all)) {
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
    const sent = this.sent;
    if (resources.length !== sent.size) return false;
    for (const r of resources) if (sent.get(r.name) !== r.hash) return false;
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

/** Resources of `next` whose content differs from `held`'s at the same index; undefined unless the names line up. */
function alignedChanges(held: readonly PackedResource[], next: readonly PackedResource[]): PackedResource[] | undefined {
  if (held.length !== next.length) return undefined;
  const changed: PackedResource[] = [];
  for (let i = 0; i < next.length; i++) {
    const a = held[i];
    const b = next[i];
    if (a === b) continue;
    if (a.name !== b.name) return undefined;
    if (a.hash !== b.hash) changed.push(b);
  }
  return changed;
}

function sameNamesInOrder(a: readonly PackedResource[], b: readonly PackedResource[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && a[i].name !== b[i].name) return false;
  return true;
}
