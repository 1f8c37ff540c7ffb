import type { RouterDownstream } from './router';

/** The request body as the router and shadows send it upstream. */

/** Request bytes kept for replay on a retry (or for a shadow that has not connected yet). */
export class BodyBuffer {
  chunks: Buffer[] = [];
  bytes = 0;
  overflowed = false;
  constructor(private readonly limit: number) {}
  /** Keeps a copy of the chunk; false (keeping nothing more) once the limit would be passed. */
  add(chunk: Buffer): boolean {
    if (this.overflowed) return false;
    if (this.bytes + chunk.length > this.limit) {
      this.overflowed = true;
      return false;
    }
    this.chunks.push(Buffer.from(chunk));
    this.bytes += chunk.length;
    return true;
  }
}

/**
 * A chunked request goes upstream chunked, unless a filter buffered the whole body and gave it a
 * content-length (the buffer filter): then it goes with that length.
 */
export function upstreamChunked(down: RouterDownstream): boolean {
  return down.requestChunked && !down.headers.has('content-length');
}

export function upstreamContentLength(down: RouterDownstream): number {
  if (!down.requestChunked) return down.requestContentLength;
  const v = down.headers.get('content-length');
  return v === undefined ? -1 : Number(v);
}
