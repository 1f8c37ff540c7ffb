/**
 * An ordered multi-map of HTTP headers with lower-case names, as Envoy keeps them.
 *
 * Hand-written rather than a Map of arrays: the HTTP/1 codec fills it on the hot path, and two
 * parallel arrays with a linear scan beat hashing for the ~10 headers a request usually has.
 * Pseudo-headers (":method", ":path", ":authority", ":scheme", ":status") are not stored here;
 * the request/response heads carry them as fields.
 */
export class HeaderMap {
  /** Lower-case names; names[i] goes with values[i]. */
  readonly names: string[] = [];
  readonly values: string[] = [];

  get size(): number {
    return this.names.length;
  }

  /** First value of `name` (lower-case), or undefined. */
  get(name: string): string | undefined {
    const names = this.names;
    for (let i = 0; i < names.length; i++) if (names[i] === name) return this.values[i];
    return undefined;
  }

  /** All values of `name` joined with ",", as a proxy must treat repeated headers; undefined if absent. */
  getJoined(name: string): string | undefined {
    let out: string | undefined;
    const names = this.names;
    for (let i = 0; i < names.length; i++) {
      if (names[i] === name) out = out === undefined ? this.values[i] : out + ',' + this.values[i];
    }
    return out;
  }

  getAll(name: string): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.names.length; i++) if (this.names[i] === name) out.push(this.values[i]);
    return out;
  }

  has(name: string): boolean {
    return this.names.indexOf(name) !== -1;
  }

  /** Appends a value; `name` must already be lower-case. */
  add(name: string, value: string): void {
    this.names.push(name);
    this.values.push(value);
  }

  /** Replaces every value of `name` with one value. */
  set(name: string, value: string): void {
    const i = this.names.indexOf(name);
    if (i === -1) {
      this.add(name, value);
      return;
    }
    this.values[i] = value;
    this.removeFrom(name, i + 1);
  }

  /** Removes every value of `name`; returns how many were removed. */
  remove(name: string): number {
    return this.removeFrom(name, 0);
  }

  private removeFrom(name: string, start: number): number {
    let removed = 0;
    for (let i = this.names.length - 1; i >= start; i--) {
      if (this.names[i] === name) {
        this.names.splice(i, 1);
        this.values.splice(i, 1);
        removed++;
      }
    }
    return removed;
  }

  forEach(fn: (name: string, value: string) => void): void {
    for (let i = 0; i < this.names.length; i++) fn(this.names[i], this.values[i]);
  }

  clone(): HeaderMap {
    const copy = new HeaderMap();
    copy.names.push(...this.names);
    copy.values.push(...this.values);
    return copy;
  }

  /** Byte size of the headers as name: value pairs, for header size limits. */
  byteSize(): number {
    let n = 0;
    for (let i = 0; i < this.names.length; i++) n += this.names[i].length + this.values[i].length + 4;
    return n;
  }

  toObject(): Record<string, string> {
    const out: Record<string, string> = {};
    for (let i = 0; i < this.names.length; i++) {
      const n = this.names[i];
      out[n] = out[n] === undefined ? this.values[i] : out[n] + ',' + this.values[i];
    }
    return out;
  }

  static from(entries: Iterable<readonly [string, string]>): HeaderMap {
    const map = new HeaderMap();
    for (const [n, v] of entries) map.add(n.toLowerCase(), v);
    return map;
  }
}
