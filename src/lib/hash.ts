/**
 * MurmurHash3 (x86, 32-bit) of a string's UTF-16 code units.
 * Written here because consistent hashing (ring hash, Maglev, hash policies) needs a fast, stable,
 * well-spread hash and Node's crypto hashes are far slower for short keys.
 */
export function hash32(key: string, seed = 0): number {
  let h = seed >>> 0;
  const len = key.length;
  let i = 0;
  for (; i + 1 < len; i += 2) {
    let k = (key.charCodeAt(i) & 0xffff) | ((key.charCodeAt(i + 1) & 0xffff) << 16);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < len) {
    let k = key.charCodeAt(i) & 0xffff;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= len * 2;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Combines two hashes the way Envoy folds several hash policies into one key. */
export function combineHash(a: number, b: number): number {
  return (((a << 1) | (a >>> 31)) ^ b) >>> 0;
}
