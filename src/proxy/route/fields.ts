/**
 * Typed reads of decoded-form fields, each reporting a wrong type as a config issue at its path.
 * Decoded form: snake_case keys, only fields present, enums as names, Duration as ms numbers,
 * wrappers as primitives, bytes as Buffer, Any as the message plus '@type'.
 */
import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import type { RawMessage } from './types';

export type Msg = RawMessage;

export function isMsg(v: unknown): v is Msg {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

export class Fields {
  constructor(readonly issues: ConfigIssue[]) {}

  private bad(path: string, what: string): undefined {
    this.issues.push({ path, message: `expected ${what}` });
    return undefined;
  }

  msg(o: Msg, key: string, path: string): Msg | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    return isMsg(v) ? v : this.bad(joinPath(path, key), 'a message');
  }

  str(o: Msg, key: string, path: string): string | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'string' ? v : this.bad(joinPath(path, key), 'a string');
  }

  bool(o: Msg, key: string, path: string): boolean | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'boolean' ? v : this.bad(joinPath(path, key), 'a boolean');
  }

  /** A non-negative integer (uint32/uint64/Duration-ms…). */
  uint(o: Msg, key: string, path: string): number | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : this.bad(joinPath(path, key), 'a non-negative integer');
  }

  int(o: Msg, key: string, path: string): number | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'number' && Number.isInteger(v) ? v : this.bad(joinPath(path, key), 'an integer');
  }

  /** A Duration in milliseconds (decoded form). */
  durationMs(o: Msg, key: string, path: string): number | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : this.bad(joinPath(path, key), 'a non-negative duration (ms)');
  }

  arr(o: Msg, key: string, path: string): unknown[] {
    const v = o[key];
    if (v === undefined || v === null) return [];
    if (Array.isArray(v)) return v;
    this.bad(joinPath(path, key), 'a list');
    return [];
  }

  msgs(o: Msg, key: string, path: string): Array<[Msg, string]> {
    const out: Array<[Msg, string]> = [];
    const list = this.arr(o, key, path);
    for (let i = 0; i < list.length; i++) {
      const p = joinPath(joinPath(path, key), i);
      const v = list[i];
      if (isMsg(v)) out.push([v, p]);
      else this.bad(p, 'a message');
    }
    return out;
  }

  strs(o: Msg, key: string, path: string): string[] {
    const out: string[] = [];
    const list = this.arr(o, key, path);
    for (let i = 0; i < list.length; i++) {
      const v = list[i];
      if (typeof v === 'string') out.push(v);
      else this.bad(joinPath(joinPath(path, key), i), 'a string');
    }
    return out;
  }

  /** An enum name among `names` (or its number index); undefined when unset. */
  enumName<T extends string>(o: Msg, key: string, path: string, names: readonly T[]): T | undefined {
    const v = o[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string' && (names as readonly string[]).includes(v)) return v as T;
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < names.length) return names[v];
    this.issues.push({ path: joinPath(path, key), message: `unknown enum value ${JSON.stringify(v)}; expected one of ${names.join(', ')}` });
    return undefined;
  }

  /**
   * rejectUnsupported, ignoring keys whose value is a proto3 default scalar (false, 0, "", []):
   * such a field is indistinguishable from unset in Envoy and changes nothing.
   */
  reject(o: Msg, path: string, supported: readonly string[]): void {
    const set: Record<string, unknown> = {};
    for (const k of Object.keys(o)) {
      const v = o[k];
      if (v === false || v === 0 || v === '' || v === null || v === undefined) continue;
      if (Array.isArray(v) && v.length === 0) continue;
      set[k] = v;
    }
    rejectUnsupported(set, path, supported, this.issues);
  }
}
