/** Small readers for decoded-form config objects (see src/xds/decode.ts): report, never throw. */
import { ConfigIssue, joinPath } from './config-error';

export type Decoded = Record<string, unknown>;

export function isObject(v: unknown): v is Decoded {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads a sub-message; reports a non-object. */
export function readObject(obj: Decoded, field: string, path: string, issues: ConfigIssue[]): Decoded | undefined {
  const v = obj[field];
  if (v === undefined) return undefined;
  if (!isObject(v)) {
    issues.push({ path: joinPath(path, field), message: 'expected a message' });
    return undefined;
  }
  return v;
}

export function readArray(obj: Decoded, field: string, path: string, issues: ConfigIssue[]): unknown[] {
  const v = obj[field];
  if (v === undefined) return [];
  if (!Array.isArray(v)) {
    issues.push({ path: joinPath(path, field), message: 'expected a list' });
    return [];
  }
  return v;
}

export interface NumberRule {
  min?: number;
  max?: number;
  /** Exclusive lower bound (protoc-gen-validate "gt"). */
  gt?: number;
  integer?: boolean;
}

/** Reads a number (also wrapper types, which decode to primitives); undefined when absent or invalid. */
export function readNumber(
  obj: Decoded,
  field: string,
  path: string,
  issues: ConfigIssue[],
  rule: NumberRule = {},
): number | undefined {
  const v = obj[field];
  if (v === undefined) return undefined;
  const p = joinPath(path, field);
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    issues.push({ path: p, message: 'expected a number' });
    return undefined;
  }
  if (rule.integer && !Number.isInteger(v)) {
    issues.push({ path: p, message: 'expected an integer' });
    return undefined;
  }
  if (rule.min !== undefined && v < rule.min) {
    issues.push({ path: p, message: `value must be >= ${rule.min}` });
    return undefined;
  }
  if (rule.gt !== undefined && v <= rule.gt) {
    issues.push({ path: p, message: `value must be > ${rule.gt}` });
    return undefined;
  }
  if (rule.max !== undefined && v > rule.max) {
    issues.push({ path: p, message: `value must be <= ${rule.max}` });
    return undefined;
  }
  return v;
}

export function readString(obj: Decoded, field: string, path: string, issues: ConfigIssue[]): string | undefined {
  const v = obj[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') {
    issues.push({ path: joinPath(path, field), message: 'expected a string' });
    return undefined;
  }
  return v;
}

export function readBool(obj: Decoded, field: string, path: string, issues: ConfigIssue[]): boolean | undefined {
  const v = obj[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') {
    issues.push({ path: joinPath(path, field), message: 'expected a boolean' });
    return undefined;
  }
  return v;
}

/** Reads an enum (decoded as its string name) and checks it against the values Weft accepts. */
export function readEnum<T extends string>(
  obj: Decoded,
  field: string,
  path: string,
  issues: ConfigIssue[],
  supported: readonly T[],
  known: readonly string[] = [],
): T | undefined {
  const v = obj[field];
  if (v === undefined) return undefined;
  const p = joinPath(path, field);
  if (typeof v !== 'string') {
    issues.push({ path: p, message: 'expected an enum name' });
    return undefined;
  }
  if ((supported as readonly string[]).includes(v)) return v as T;
  if (known.includes(v)) issues.push({ path: p, message: `${v} is not implemented by Weft` });
  else issues.push({ path: p, message: `unknown value ${JSON.stringify(v)}` });
  return undefined;
}

/** Reports a field as recognised but not implemented yet. */
export function notImplemented(obj: Decoded, fields: readonly string[], path: string, issues: ConfigIssue[]): void {
  for (const f of fields) {
    if (obj[f] !== undefined) issues.push({ path: joinPath(path, f), message: 'field is not implemented by Weft yet' });
  }
}
