/**
 * How one generated list differs from the one generated before it. After a change, the proxies of
 * a scope all go from the same old list to the same new one; comparing the two once (instead of
 * once per proxy, a thousand map lookups each for a thousand clusters) is what lets a push skip
 * unchanged types quickly. Entries live as long as both lists do (weak keys).
 */
import type { PackedResource } from './ads-codec';

export interface ListTransition {
  /** The same names, in any order (so a subscription covering the old list covers the new). */
  readonly sameNames: boolean;
  /** Resources of the new list that are new or whose content changed. */
  readonly changed: readonly PackedResource[];
  /** Names of the old list that the new one lacks. */
  readonly removed: readonly string[];
}

const transitions = new WeakMap<readonly PackedResource[], WeakMap<readonly PackedResource[], ListTransition>>();

export function transition(from: readonly PackedResource[], to: readonly PackedResource[]): ListTransition {
  let byTo = transitions.get(from);
  const hit = byTo?.get(to);
  if (hit !== undefined) return hit;
  const old = new Map<string, string>();
  for (const r of from) old.set(r.name, r.hash);
  const changed: PackedResource[] = [];
  const present = new Set<string>();
  for (const r of to) {
    present.add(r.name);
    if (old.get(r.name) !== r.hash) changed.push(r);
  }
  const removed: string[] = [];
  for (const name of old.keys()) if (!present.has(name)) removed.push(name);
  const result: ListTransition = { sameNames: removed.length === 0 && present.size === old.size, changed, removed };
  if (byTo === undefined) transitions.set(from, (byTo = new WeakMap()));
  byTo.set(to, result);
  return result;
}
