/**
 * Packs resources once. The mesh model memoises its output, so proxies that see the same scope
 * share resource objects (and usually the same generated list): encodings are cached by object
 * identity, diffed by content hash, and a proxy holding exactly a generated list shares one
 * name → hash map with every other proxy holding it.
 */
import { createHash } from 'node:crypto';
import type { XdsResource } from '../contracts';
import { packAny } from '../../xds/decode';
import type { PackedResource } from './ads-codec';

const byResource = new WeakMap<object, PackedResource>();
const byList = new WeakMap<readonly XdsResource[], { typeUrl: string; packed: readonly PackedResource[] }>();
const sentMaps = new WeakMap<readonly PackedResource[], ReadonlyMap<string, string>>();
/**
 * Per type and name, the content (as JSON) and packed form last made: content unchanged across
 * snapshots keeps its packed object and is not encoded again. Bounded in entries and characters.
 */
const latestByName = new Map<string, { readonly json: string; readonly packed: PackedResource }>();
const LATEST_MAX = 1_000_000;
const LATEST_JSON_CHARS = 256 * 1024 * 1024;
let latestJsonChars = 0;

/** The packed form of one resource; throws if the model produced something its type cannot encode. */
export function packResource(typeUrl: string, r: XdsResource): PackedResource {
  const hit = byResource.get(r.resource);
  if (hit && hit.name === r.name && hit.typeUrl === typeUrl) return hit;
  const key = `${typeUrl}\n${r.name}`;
  // A new snapshot builds new objects for every resource; most have the content they had before.
  // Their JSON text is far cheaper to make than their protobuf encoding and tells them apart exactly
  // (decoded values are plain objects, arrays, strings, numbers, booleans, null and Buffers).
  const json = JSON.stringify(r.resource);
  const previous = latestByName.get(key);
  if (previous !== undefined && previous.json === json) {
    // Unchanged since the last snapshot: the same object, so pushes compare lists by identity.
    byResource.set(r.resource, previous.packed);
    return previous.packed;
  }
  const any = packAny(typeUrl, r.resource);
  const hash = createHash('sha1').update(any.value).digest('base64url').slice(0, 16);
  const packed: PackedResource = previous !== undefined && previous.packed.hash === hash
    ? previous.packed
    : { name: internGenerated(r.name), typeUrl, value: any.value, hash };
  byResource.set(r.resource, packed);
  rememberLatest(key, json, packed);
  return packed;
}

/** Records the latest content of a name, within the table's bounds (past them it starts over). */
function rememberLatest(key: string, json: string, packed: PackedResource): void {
  const previous = latestByName.get(key);
  if (previous !== undefined) latestJsonChars -= previous.json.length;
  if (latestByName.size >= LATEST_MAX || latestJsonChars + json.length > LATEST_JSON_CHARS) {
    latestByName.clear();
    latestJsonChars = 0;
  }
  latestByName.set(key, { json, packed });
  latestJsonChars += json.length;
}

/** A generated list, packed; the same list object gives the same packed array. */
export function packList(typeUrl: string, generated: readonly XdsResource[]): readonly PackedResource[] {
  const hit = byList.get(generated);
  if (hit && hit.typeUrl === typeUrl) return hit.packed;
  const packed = generated.map((r) => packResource(typeUrl, r));
  byList.set(generated, { typeUrl, packed });
  return packed;
}

/** name → hash of a packed array, shared by every proxy that holds exactly that array. */
export function sharedSentMap(packed: readonly PackedResource[]): ReadonlyMap<string, string> {
  let m = sentMaps.get(packed);
  if (!m) {
    m = new Map(packed.map((r) => [r.name, r.hash]));
    sentMaps.set(packed, m);
  }
  return m;
}

const interned = new Map<string, string>();
const INTERN_MAX = 1_000_000;

/**
 * The one string object for a resource name the model generated (bounded table): proxies subscribing
 * to it share that string. Only generated names enter the table, never names a client sends.
 */
function internGenerated(name: string): string {
  const hit = interned.get(name);
  if (hit !== undefined) return hit;
  if (interned.size < INTERN_MAX) interned.set(name, name);
  return name;
}

/** A name a client sent: the shared string if the model generated that name, else the client's own. */
export function internName(name: string): string {
  return interned.get(name) ?? name;
}

/** How many names the intern table holds (for tests: client input must not grow it). */
export function internedNames(): number {
  return interned.size;
}
