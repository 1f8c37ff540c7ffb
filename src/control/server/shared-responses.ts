/**
 * Responses (state of the world or delta) encoded once and written to every stream that is sent
 * the same thing (same version, type, resources and, for delta, removed names): at a thousand proxies, encoding and copying one large
 * route table per stream is most of a push. A shared response carries one nonce; the xDS protocol
 * only needs a nonce to tell a stream's responses apart, and two responses sharing a nonce here are
 * identical, so ACKing either means the same. Entries live for one snapshot version, bounded in
 * count and bytes; past the bounds a response is encoded for its stream alone.
 */
import type { PackedResource } from './ads-codec';

export interface EncodedResponse {
  readonly nonce: string;
  readonly encoded: Buffer;
}

export const MAX_SHARED_RESPONSES = 4096;
export const MAX_SHARED_BYTES = 256 * 1024 * 1024;

/** Encodes one response (version, type, nonce, resources, removed names) to its wire bytes. */
export type ResponseEncoder = (version: string, typeUrl: string, nonce: string, resources: readonly PackedResource[], removed: readonly string[]) => Buffer;

export class SharedResponses {
  private version = '';
  /** Lists the model generated (shared by identity across proxies) → type URL → response. */
  private byList = new WeakMap<readonly PackedResource[], Map<string, EncodedResponse>>();
  /** Per-proxy lists (e.g. only what changed) → response, by type URL and content hashes. */
  private byContent = new Map<string, EncodedResponse>();
  private entries = 0;
  private bytes = 0;

  constructor(
    private readonly nextNonce: () => string,
    private readonly encode: ResponseEncoder,
    private readonly limits: { readonly entries: number; readonly bytes: number } = { entries: MAX_SHARED_RESPONSES, bytes: MAX_SHARED_BYTES },
  ) {}

  /** Responses kept for sharing now, and their bytes. */
  get size(): { readonly entries: number; readonly bytes: number } {
    return { entries: this.entries, bytes: this.bytes };
  }

  /**
   * The encoded response at `version`, shared when the same was built before. `generatedList`:
   * `resources` is a list the model generated (shared by identity across proxies).
   */
  get(version: string, typeUrl: string, resources: readonly PackedResource[], removed: readonly string[], generatedList: boolean): EncodedResponse {
    if (version !== this.version) this.reset(version);
    let perType: Map<string, EncodedResponse> | undefined;
    let key: string | undefined;
    if (generatedList && removed.length === 0) {
      perType = this.byList.get(resources);
      const hit = perType?.get(typeUrl);
      if (hit !== undefined) return hit;
    } else {
      key = contentKey(typeUrl, resources, removed);
      const hit = this.byContent.get(key);
      if (hit !== undefined) return hit;
    }
    const nonce = this.nextNonce();
    const response: EncodedResponse = { nonce, encoded: this.encode(version, typeUrl, nonce, resources, removed) };
    if (this.entries >= this.limits.entries || this.bytes + response.encoded.length > this.limits.bytes) return response;
    this.entries++;
    this.bytes += response.encoded.length;
    if (key !== undefined) this.byContent.set(key, response);
    else {
      if (perType === undefined) this.byList.set(resources, (perType = new Map()));
      perType.set(typeUrl, response);
    }
    return response;
  }

  private reset(version: string): void {
    this.version = version;
    this.byList = new WeakMap();
    this.byContent.clear();
    this.entries = 0;
    this.bytes = 0;
  }
}

/** The type URL, each resource's name and content hash, and the removed names, in order. */
function contentKey(typeUrl: string, resources: readonly PackedResource[], removed: readonly string[]): string {
  let key = typeUrl;
  for (const r of resources) key += `\n${r.name}\t${r.hash}`;
  key += '\n\t';
  for (const name of removed) key += `\n${name}`;
  return key;
}
