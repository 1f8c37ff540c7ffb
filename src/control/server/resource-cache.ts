/**
 * Packs resources once. The mesh model memoises its output, so proxies that see the same scope
 * share resource objects: encodings are cached by object identity and diffed by content hash.
 */
import { createHash } from 'node:crypto';
import type { XdsResource } from '../contracts';
import { packAny } from '../../xds/decode';
import type { PackedResource } from './ads-codec';

const cache = new WeakMap<object, PackedResource>();

/** The packed form of one resource; throws if the model produced something its type cannot encode. */
export function packResource(typeUrl: string, r: XdsResource): PackedResource {
  const hit = cache.get(r.resource);
  if (hit && hit.name === r.name && hit.typeUrl === typeUrl) return hit;
  const any = packAny(typeUrl, r.resource);
  const hash = createHash('sha1').update(any.value).digest('base64url').slice(0, 16);
  const packed: PackedResource = { name: r.name, typeUrl, value: any.value, hash };
  cache.set(r.resource, packed);
  return packed;
}
