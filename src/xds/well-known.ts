// Conversions between google.protobuf well-known types and Weft's decoded form.
import { ConfigIssue, joinPath } from '../lib/config-error';
import { DecodedMessage, DecodedValue } from './decoded';
import { lookupType } from './protos';

const MAX_DURATION_SECONDS = 315_576_000_000;

export interface SecondsNanos {
  seconds: number;
  nanos: number;
}

/** Proto3 JSON form of a Duration: "<seconds>[.<fraction>]s". */
export function parseDurationString(s: string): SecondsNanos | undefined {
  const m = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(s);
  if (!m) return undefined;
  const sign = m[1] ? -1 : 1;
  const seconds = Number(m[2]);
  const nanos = m[3] ? Number(m[3].padEnd(9, '0')) : 0;
  return { seconds: sign * seconds, nanos: nanos === 0 ? 0 : sign * nanos };
}

export function durationInRange(d: SecondsNanos): boolean {
  return (
    Number.isInteger(d.seconds) &&
    Number.isInteger(d.nanos) &&
    Math.abs(d.seconds) <= MAX_DURATION_SECONDS &&
    Math.abs(d.nanos) < 1e9 &&
    !(d.seconds > 0 && d.nanos < 0) &&
    !(d.seconds < 0 && d.nanos > 0)
  );
}

export function durationToMs(d: SecondsNanos): number {
  return d.seconds * 1000 + d.nanos / 1e6;
}

export function msToDuration(ms: number): SecondsNanos {
  const seconds = Math.trunc(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  return { seconds, nanos };
}

/** A duration for messages, in proto3 JSON form: 1500 → "1.5s". */
export function formatDuration(ms: number): string {
  return `${ms / 1000}s`;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;

/** RFC 3339 text → ISO string (millisecond precision), or undefined if malformed. */
export function parseTimestamp(s: string): string | undefined {
  if (!RFC3339.test(s)) return undefined;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

export function timestampToIso(ts: SecondsNanos): string {
  return new Date(ts.seconds * 1000 + Math.floor(ts.nanos / 1e6)).toISOString();
}

export function isoToTimestamp(iso: string): SecondsNanos {
  const ms = Date.parse(iso);
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1e6 };
}

/** Checks that input is JSON (as google.protobuf.Value allows) and copies it. */
export function jsonValue(input: unknown, path: string, issues: ConfigIssue[]): DecodedValue | undefined {
  if (input === null || typeof input === 'string' || typeof input === 'boolean') return input;
  if (typeof input === 'number') {
    if (Number.isFinite(input)) return input;
    issues.push({ path, message: 'a Struct value must be a finite number' });
    return undefined;
  }
  if (Array.isArray(input)) {
    const out: DecodedValue[] = [];
    input.forEach((v, i) => {
      const d = jsonValue(v, joinPath(path, i), issues);
      if (d !== undefined) out.push(d);
    });
    return out;
  }
  if (isPlainObject(input)) return jsonObject(input, path, issues);
  issues.push({ path, message: `expected a JSON value, got ${describe(input)}` });
  return undefined;
}

export function jsonObject(input: Record<string, unknown>, path: string, issues: ConfigIssue[]): DecodedMessage {
  const out: DecodedMessage = {};
  for (const [k, v] of Object.entries(input)) {
    const d = jsonValue(v, joinPath(path, k), issues);
    if (d !== undefined) out[k] = d;
  }
  return out;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v) && !(v instanceof Uint8Array);
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `string ${JSON.stringify(v)}`;
  return `${typeof v} ${String(v)}`;
}

// google.protobuf.Value as protobufjs bundles it (its field names are camelCase there), by field number.
function valueFieldNames(): string[] {
  const t = lookupType('google.protobuf.Value');
  if (!t) throw new Error('google.protobuf.Value is not loaded');
  return [1, 2, 3, 4, 5, 6].map((id) => t.fieldsById[id].name);
}
let valueNames: string[] | undefined;

/** Decoded JSON → the protobufjs object shape of google.protobuf.Value. */
export function valueToProto(v: DecodedValue): Record<string, unknown> {
  const [nullV, numV, strV, boolV, structV, listV] = (valueNames ??= valueFieldNames());
  if (v === null) return { [nullV]: 0 };
  if (typeof v === 'number') return { [numV]: v };
  if (typeof v === 'string') return { [strV]: v };
  if (typeof v === 'boolean') return { [boolV]: v };
  if (Array.isArray(v)) return { [listV]: { values: v.map(valueToProto) } };
  if (Buffer.isBuffer(v)) return { [strV]: v.toString('base64') };
  return { [structV]: structToProto(v) };
}

export function structToProto(v: DecodedMessage): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) fields[k] = valueToProto(x);
  return { fields };
}

/** protobufjs google.protobuf.Value → decoded JSON. */
export function valueFromProto(m: unknown): DecodedValue {
  const [, numV, strV, boolV, structV, listV] = (valueNames ??= valueFieldNames());
  if (!isPlainObjectLike(m)) return null;
  // protobufjs keeps field defaults on the prototype; only own properties were on the wire.
  const has = (k: string): boolean => Object.prototype.hasOwnProperty.call(m, k) && m[k] != null;
  if (has(numV)) return Number(m[numV]);
  if (has(strV)) return String(m[strV]);
  if (has(boolV)) return Boolean(m[boolV]);
  if (has(structV)) return structFromProto(m[structV]);
  if (has(listV)) return listFromProto(m[listV]);
  return null;
}

export function structFromProto(m: unknown): DecodedMessage {
  const out: DecodedMessage = {};
  const fields = isPlainObjectLike(m) ? m.fields : undefined;
  if (isPlainObjectLike(fields)) for (const [k, v] of Object.entries(fields)) out[k] = valueFromProto(v);
  return out;
}

export function listFromProto(m: unknown): DecodedValue[] {
  const values = isPlainObjectLike(m) ? m.values : undefined;
  return Array.isArray(values) ? values.map(valueFromProto) : [];
}

/** Like isPlainObject but also accepts protobufjs Message instances. */
function isPlainObjectLike(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
