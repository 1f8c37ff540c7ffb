/**
 * A small structural schema for Istio/Kubernetes YAML: field names, types, required fields and
 * rule checks, each problem reported with the field path (spec.http[0].route[1].weight).
 */
import { compileRe2 } from '../../lib/matchers';
import type { ConfigIssue } from '../../lib/config-error';

export type Schema =
  | { readonly t: 'string'; readonly enum?: readonly string[]; readonly nonEmpty?: boolean; readonly check?: StringCheck }
  | { readonly t: 'int'; readonly min?: number; readonly max?: number }
  | { readonly t: 'number'; readonly min?: number; readonly max?: number }
  | { readonly t: 'bool' }
  | { readonly t: 'duration'; readonly minMs?: number }
  | { readonly t: 'regex' }
  | { readonly t: 'intOrString' }
  | { readonly t: 'object'; readonly fields: Readonly<Record<string, Schema>>; readonly required?: readonly string[];
      readonly oneOf?: readonly string[]; readonly open?: boolean; readonly check?: ObjectCheck }
  | { readonly t: 'array'; readonly of: Schema; readonly minItems?: number; readonly maxItems?: number }
  | { readonly t: 'map'; readonly of: Schema }
  | { readonly t: 'any' };

export type StringCheck = (value: string) => string | undefined;
export type ObjectCheck = (value: Record<string, unknown>, path: string, issues: ConfigIssue[]) => void;

export const str: Schema = { t: 'string' };
export const nonEmptyStr: Schema = { t: 'string', nonEmpty: true };
export const bool: Schema = { t: 'bool' };
export const uint32: Schema = { t: 'int', min: 0, max: 0xffffffff };
export const int32: Schema = { t: 'int', min: -0x80000000, max: 0x7fffffff };
export const portNumber: Schema = { t: 'int', min: 1, max: 65535 };
export const duration: Schema = { t: 'duration' };
export const durationMin1ms: Schema = { t: 'duration', minMs: 1 };
export const stringMap: Schema = { t: 'map', of: str };
export const strings: Schema = { t: 'array', of: str };

export function obj(fields: Record<string, Schema>, extra: Omit<Extract<Schema, { t: 'object' }>, 't' | 'fields'> = {}): Schema {
  return { t: 'object', fields, ...extra };
}
export function arr(of: Schema, extra: { minItems?: number; maxItems?: number } = {}): Schema {
  return { t: 'array', of, ...extra };
}
export function oneOfStrings(values: readonly string[]): Schema {
  return { t: 'string', enum: values };
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;

/** Parses a Go/Istio duration ("1.5s", "100ms", "1m30s") to milliseconds; undefined if malformed. */
export function parseDurationMs(s: string): number | undefined {
  if (s.length === 0 || s.length > 64) return undefined;
  if (s === '0') return 0;
  let total = 0;
  DURATION_PART.lastIndex = 0;
  let pos = 0;
  while (pos < s.length) {
    DURATION_PART.lastIndex = pos;
    const m = DURATION_PART.exec(s);
    if (!m) return undefined;
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    pos = DURATION_PART.lastIndex;
  }
  return Math.round(total * 1e6) / 1e6;
}

/** Checks `value` against `schema`; pushes every problem with its path. Returns true when clean. */
export function validate(schema: Schema, value: unknown, path: string, issues: ConfigIssue[]): boolean {
  const start = issues.length;
  check(schema, value, path, issues);
  return issues.length === start;
}

function check(schema: Schema, v: unknown, path: string, issues: ConfigIssue[]): void {
  switch (schema.t) {
    case 'any':
      return;
    case 'string':
      if (typeof v !== 'string') return void issues.push({ path, message: `expected a string, got ${describe(v)}` });
      if (schema.nonEmpty && v.length === 0) return void issues.push({ path, message: 'must not be empty' });
      if (schema.enum && !schema.enum.includes(v)) {
        return void issues.push({ path, message: `unknown value "${v}"; expected one of ${schema.enum.join(', ')}` });
      }
      if (schema.check) {
        const msg = schema.check(v);
        if (msg !== undefined) issues.push({ path, message: msg });
      }
      return;
    case 'int':
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v)) return void issues.push({ path, message: `expected a number, got ${describe(v)}` });
      if (schema.t === 'int' && !Number.isInteger(v)) return void issues.push({ path, message: `expected an integer, got ${v}` });
      if (schema.min !== undefined && v < schema.min) return void issues.push({ path, message: `must be at least ${schema.min}, got ${v}` });
      if (schema.max !== undefined && v > schema.max) return void issues.push({ path, message: `must be at most ${schema.max}, got ${v}` });
      return;
    case 'bool':
      if (typeof v !== 'boolean') issues.push({ path, message: `expected true or false, got ${describe(v)}` });
      return;
    case 'intOrString':
      if (typeof v !== 'string' && !(typeof v === 'number' && Number.isInteger(v))) {
        issues.push({ path, message: `expected a port number or name, got ${describe(v)}` });
      }
      return;
    case 'duration': {
      if (typeof v !== 'string') return void issues.push({ path, message: `expected a duration such as "1.5s" or "100ms", got ${describe(v)}` });
      const ms = parseDurationMs(v);
      if (ms === undefined) return void issues.push({ path, message: `invalid duration "${v}"; use a number with a unit, e.g. "1.5s", "100ms", "1m"` });
      if (schema.minMs !== undefined && ms < schema.minMs) issues.push({ path, message: `duration must be at least ${schema.minMs}ms, got "${v}"` });
      return;
    }
    case 'regex':
      if (typeof v !== 'string') return void issues.push({ path, message: `expected a regular expression string, got ${describe(v)}` });
      compileRe2(v, path, issues);
      return;
    case 'array':
      if (!Array.isArray(v)) return void issues.push({ path, message: `expected a list, got ${describe(v)}` });
      if (schema.minItems !== undefined && v.length < schema.minItems) {
        issues.push({ path, message: `needs at least ${schema.minItems} item${schema.minItems === 1 ? '' : 's'}` });
      }
      if (schema.maxItems !== undefined && v.length > schema.maxItems) issues.push({ path, message: `at most ${schema.maxItems} items` });
      v.forEach((item, i) => check(schema.of, item, `${path}[${i}]`, issues));
      return;
    case 'map':
      if (!isRecord(v)) return void issues.push({ path, message: `expected a map, got ${describe(v)}` });
      for (const [k, item] of Object.entries(v)) check(schema.of, item, `${path}.${k}`, issues);
      return;
    case 'object': {
      if (!isRecord(v)) return void issues.push({ path, message: `expected an object, got ${describe(v)}` });
      const start = issues.length;
      for (const [k, item] of Object.entries(v)) {
        const fp = path ? `${path}.${k}` : k;
        const fs = schema.fields[k];
        if (fs === undefined) {
          if (!schema.open) issues.push({ path: fp, message: `unknown field "${k}"${suggest(k, Object.keys(schema.fields))}` });
          continue;
        }
        if (item === null || item === undefined) continue;
        check(fs, item, fp, issues);
      }
      for (const r of schema.required ?? []) {
        if (v[r] === undefined || v[r] === null) issues.push({ path: path ? `${path}.${r}` : r, message: `${r} is required` });
      }
      if (schema.oneOf) {
        const set = schema.oneOf.filter((k) => v[k] !== undefined && v[k] !== null);
        if (set.length > 1) issues.push({ path, message: `only one of ${set.join(', ')} may be set` });
      }
      if (schema.check && issues.length === start) schema.check(v, path, issues);
      return;
    }
  }
}

function suggest(k: string, known: readonly string[]): string {
  const lower = k.toLowerCase().replace(/[_-]/g, '');
  const hit = known.find((n) => n.toLowerCase() === lower);
  if (hit) return `; did you mean "${hit}"?`;
  return known.length <= 12 ? `; known fields: ${known.join(', ')}` : '';
}
