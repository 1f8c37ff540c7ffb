/** What one proxy subscribed to for one xDS type on its stream, and what it was sent and ACKed. */
import type { PackedResource } from './ads-codec';
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
  /** What the proxy has, by our account: name → content hash. */
  sent = new Map<string, string>();
  versionSent = '';
  nonceSent = '';
  versionAcked = '';
  nonceAcked = '';
  /** Responses sent on this stream for this type. */
  responses = 0;
  lastNack: NackRecord | undefined;

  constructor(
    readonly typeUrl: string,
    readonly short: ShortType,
  ) {}

  /** The resources of `all` this watch covers. */
  select(all: readonly PackedResource[]): PackedResource[] {
    if (this.wildcard) return all.slice();
    const out: PackedResource[] = [];
    for (const r of all) if (this.names.has(r.name)) out.push(r);
    return out;
  }

  /** Whether `resources` is exactly what the proxy already has. */
  sameAsSent(resources: readonly PackedResource[]): boolean {
    if (resources.length !== this.sent.size) return false;
    for (const r of resources) if (this.sent.get(r.name) !== r.hash) return false;
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
    for (const n of explicit) this.names.add(n);
    return true;
  }
}
