// Protobuf wire format ↔ Weft's decoded form (for xDS resources, which arrive as Any).
import * as protobuf from 'protobufjs';
import { ConfigIssue, joinPath } from '../lib/config-error';
import { DecodedMessage, DecodedValue, isDecodedMessage, isValueInAny, TYPED_STRUCT_TYPES, WRAPPER_TYPES } from './decoded';
import { decodeTypedStructValue } from './json';
import { lookupType, typeByUrl } from './protos';
import { checkMessageRules, isImplicitDefault } from './validate';
import {
  durationToMs,
  isoToTimestamp,
  listFromProto,
  msToDuration,
  structFromProto,
  structToProto,
  timestampToIso,
  valueFromProto,
  valueToProto,
} from './well-known';

const MAX_DEPTH = 100;

function own(m: Record<string, unknown>, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(m, k) && m[k] != null;
}

function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'object' && v !== null && 'toNumber' in v && typeof v.toNumber === 'function') {
    return Number(v.toNumber());
  }
  return Number(v);
}

function secondsNanos(m: Record<string, unknown>): { seconds: number; nanos: number } {
  return {
    seconds: own(m, 'seconds') ? toNumber(m.seconds) : 0,
    nanos: own(m, 'nanos') ? toNumber(m.nanos) : 0,
  };
}

/** Decodes bytes of `type` and normalises them into the decoded form. */
export function decodeBinaryValue(
  type: protobuf.Type,
  bytes: Uint8Array,
  path: string,
  issues: ConfigIssue[],
  depth = 0,
): DecodedValue | undefined {
  let msg: protobuf.Message;
  try {
    msg = type.decode(bytes);
  } catch (e) {
    issues.push({ path, message: `malformed ${type.fullName.slice(1)}: ${(e as Error).message}` });
    return undefined;
  }
  return normalise(type, msg as unknown as Record<string, unknown>, path, issues, depth);
}

function normalise(
  type: protobuf.Type,
  m: Record<string, unknown>,
  path: string,
  issues: ConfigIssue[],
  depth: number,
): DecodedValue | undefined {
  if (depth > MAX_DEPTH) {
    issues.push({ path, message: `message nesting is deeper than ${MAX_DEPTH}` });
    return undefined;
  }
  const name = type.fullName.slice(1);
  if (WRAPPER_TYPES.has(name)) {
    const f = type.fields.value;
    return own(m, 'value') ? scalar(f, m.value, path, issues) : zeroOf(f);
  }
  switch (name) {
    case 'google.protobuf.Duration':
      return durationToMs(secondsNanos(m));
    case 'google.protobuf.Timestamp':
      return timestampToIso(secondsNanos(m));
    case 'google.protobuf.Struct':
      return structFromProto(m);
    case 'google.protobuf.Value':
      return valueFromProto(m);
    case 'google.protobuf.ListValue':
      return listFromProto(m);
    case 'google.protobuf.Any':
      return normaliseAny(m, path, issues, depth);
  }
  const out: DecodedMessage = {};
  for (const field of type.fieldsArray) {
    if (!own(m, field.name)) continue;
    const fpath = joinPath(path, field.name);
    const raw = m[field.name];
    if (field.map) {
      const entries = Object.entries(raw as Record<string, unknown>);
      if (entries.length === 0) continue;
      const obj: DecodedMessage = {};
      for (const [k, v] of entries) {
        const d = single(field, v, joinPath(fpath, k), issues, depth);
        if (d !== undefined) obj[k] = d;
      }
      out[field.name] = obj;
    } else if (field.repeated) {
      const arr = raw as unknown[];
      if (arr.length === 0) continue;
      const list: DecodedValue[] = [];
      arr.forEach((v, i) => {
        const d = single(field, v, joinPath(fpath, i), issues, depth);
        if (d !== undefined) list.push(d);
      });
      out[field.name] = list;
    } else {
      const d = single(field, raw, fpath, issues, depth);
      if (d === undefined) continue;
      if (isImplicitDefault(field, d)) continue;
      out[field.name] = d;
    }
  }
  checkMessageRules(type, out, path, issues);
  return out;
}

function single(field: protobuf.Field, v: unknown, path: string, issues: ConfigIssue[], depth: number): DecodedValue | undefined {
  if (field.resolvedType instanceof protobuf.Type) {
    return normalise(field.resolvedType, v as Record<string, unknown>, path, issues, depth + 1);
  }
  return scalar(field, v, path, issues);
}

function scalar(field: protobuf.Field, v: unknown, path: string, issues: ConfigIssue[]): DecodedValue | undefined {
  if (field.resolvedType instanceof protobuf.Enum) {
    const n = toNumber(v);
    const name = field.resolvedType.valuesById[n];
    if (name === undefined) issues.push({ path, message: `unknown ${field.resolvedType.name} value ${n}` });
    return name;
  }
  switch (field.type) {
    case 'string':
      return String(v);
    case 'bool':
      return Boolean(v);
    case 'bytes':
      return Buffer.from(v as Uint8Array);
    default:
      return toNumber(v);
  }
}

function zeroOf(field: protobuf.Field): DecodedValue {
  if (field.type === 'string') return '';
  if (field.type === 'bool') return false;
  if (field.type === 'bytes') return Buffer.alloc(0);
  return 0;
}

function normaliseAny(m: Record<string, unknown>, path: string, issues: ConfigIssue[], depth: number): DecodedMessage | undefined {
  const url = own(m, 'type_url') ? String(m.type_url) : '';
  const value = own(m, 'value') ? (m.value as Uint8Array) : new Uint8Array(0);
  if (url === '') {
    issues.push({ path, message: 'google.protobuf.Any has no type_url' });
    return undefined;
  }
  const type = typeByUrl(url);
  if (!type) {
    issues.push({ path, message: `unknown type URL "${url}"` });
    return undefined;
  }
  const name = type.fullName.slice(1);
  if (TYPED_STRUCT_TYPES.has(name)) {
    const ts = type.decode(value) as unknown as Record<string, unknown>;
    const inner = own(ts, 'type_url') ? String(ts.type_url) : '';
    if (inner === '') {
      issues.push({ path: joinPath(path, 'type_url'), message: 'TypedStruct needs a type_url' });
      return undefined;
    }
    const json = own(ts, 'value') ? structFromProto(ts.value) : {};
    return decodeTypedStructValue(inner, json, path, issues, depth);
  }
  const inner = decodeBinaryValue(type, value, path, issues, depth + 1);
  if (inner === undefined) return undefined;
  if (isDecodedMessage(inner) && !isValueInAny(name)) return { '@type': url, ...inner };
  return { '@type': url, value: inner };
}

// ---- encoding: decoded form → protobufjs plain objects → bytes ----

function toProto(type: protobuf.Type, d: DecodedValue): Record<string, unknown> {
  const name = type.fullName.slice(1);
  if (WRAPPER_TYPES.has(name)) return { value: scalarToProto(type.fields.value, d) };
  switch (name) {
    case 'google.protobuf.Duration':
      return { ...msToDuration(d as number) };
    case 'google.protobuf.Timestamp':
      return { ...isoToTimestamp(d as string) };
    case 'google.protobuf.Struct':
      return structToProto(d as DecodedMessage);
    case 'google.protobuf.Value':
      return valueToProto(d);
    case 'google.protobuf.ListValue':
      return { values: (d as DecodedValue[]).map(valueToProto) };
    case 'google.protobuf.Any':
      return anyToProto(d as DecodedMessage);
  }
  if (!isDecodedMessage(d)) throw new TypeError(`${name}: expected a decoded message`);
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const v = d[field.name];
    if (v === undefined || v === null) continue;
    if (field.map) {
      const obj: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as DecodedMessage)) obj[k] = singleToProto(field, x);
      out[field.name] = obj;
    } else if (field.repeated) {
      out[field.name] = (v as DecodedValue[]).map((x) => singleToProto(field, x));
    } else {
      if (isImplicitDefault(field, v)) continue;
      out[field.name] = singleToProto(field, v);
    }
  }
  return out;
}

function singleToProto(field: protobuf.Field, v: DecodedValue): unknown {
  if (field.resolvedType instanceof protobuf.Type) return toProto(field.resolvedType, v);
  return scalarToProto(field, v);
}

function scalarToProto(field: protobuf.Field, v: DecodedValue): unknown {
  if (field.resolvedType instanceof protobuf.Enum) {
    const n = typeof v === 'string' ? field.resolvedType.values[v] : v;
    if (typeof n !== 'number') throw new TypeError(`${field.fullName}: unknown enum value ${String(v)}`);
    return n;
  }
  return v;
}

function anyToProto(d: DecodedMessage): Record<string, unknown> {
  const url = d['@type'];
  if (typeof url !== 'string') throw new TypeError('google.protobuf.Any: decoded form has no "@type"');
  const type = typeByUrl(url);
  if (!type) throw new TypeError(`unknown type URL "${url}"`);
  const inner = isValueInAny(type.fullName.slice(1)) ? (d.value ?? null) : withoutType(d);
  return { type_url: url, value: encodeValue(type, inner) };
}

function withoutType(d: DecodedMessage): DecodedMessage {
  const rest: DecodedMessage = { ...d };
  delete rest['@type'];
  return rest;
}

export function encodeValue(type: protobuf.Type, d: DecodedValue): Uint8Array {
  return type.encode(toProto(type, d)).finish();
}

export function resolveType(typeUrlOrName: string): protobuf.Type | undefined {
  return typeUrlOrName.includes('/') ? typeByUrl(typeUrlOrName) : lookupType(typeUrlOrName);
}
