// Proto3 JSON mapping (as Envoy reads YAML/JSON config) → Weft's decoded form.
import * as protobuf from 'protobufjs';
import { ConfigIssue, joinPath } from '../lib/config-error';
import { DecodedMessage, DecodedValue, isValueInAny, TYPED_STRUCT_TYPES, WRAPPER_TYPES } from './decoded';
import { typeByUrl } from './protos';
import { checkMessageRules, isImplicitDefault } from './validate';
import {
  describe,
  durationInRange,
  durationToMs,
  isPlainObject,
  jsonObject,
  jsonValue,
  parseDurationString,
  parseTimestamp,
  SecondsNanos,
} from './well-known';

const MAX_DEPTH = 100;

/** JSON names accepted for each field: the proto name and its lowerCamelCase JSON name. */
const fieldIndex = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();

function jsonName(field: protobuf.Field): string {
  const explicit = field.options?.json_name;
  if (typeof explicit === 'string') return explicit;
  return field.name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function fieldsByJsonKey(type: protobuf.Type): Map<string, protobuf.Field> {
  let index = fieldIndex.get(type);
  if (!index) {
    index = new Map();
    for (const f of type.fieldsArray) {
      index.set(f.name, f);
      index.set(jsonName(f), f);
    }
    fieldIndex.set(type, index);
  }
  return index;
}

/** Decodes input of a message type; well-known types yield their special form (see decode.ts). */
export function decodeJsonValue(
  type: protobuf.Type,
  input: unknown,
  path: string,
  issues: ConfigIssue[],
  depth = 0,
): DecodedValue | undefined {
  if (depth > MAX_DEPTH) {
    issues.push({ path, message: `message nesting is deeper than ${MAX_DEPTH}` });
    return undefined;
  }
  const name = type.fullName.slice(1);
  if (WRAPPER_TYPES.has(name)) return decodeScalar(type.fields.value, input, path, issues);
  switch (name) {
    case 'google.protobuf.Duration':
      return decodeDuration(input, path, issues);
    case 'google.protobuf.Timestamp': {
      const iso = typeof input === 'string' ? parseTimestamp(input) : undefined;
      if (iso === undefined) issues.push({ path, message: `expected an RFC 3339 timestamp, got ${describe(input)}` });
      return iso;
    }
    case 'google.protobuf.Struct':
      if (isPlainObject(input)) return jsonObject(input, path, issues);
      issues.push({ path, message: `expected an object, got ${describe(input)}` });
      return undefined;
    case 'google.protobuf.Value':
      return jsonValue(input, path, issues);
    case 'google.protobuf.ListValue':
      if (Array.isArray(input)) return jsonValue(input, path, issues);
      issues.push({ path, message: `expected a list, got ${describe(input)}` });
      return undefined;
    case 'google.protobuf.Any':
      return decodeAny(input, path, issues, depth);
  }
  return decodeMessage(type, input, path, issues, depth);
}

function decodeMessage(
  type: protobuf.Type,
  input: unknown,
  path: string,
  issues: ConfigIssue[],
  depth: number,
): DecodedMessage | undefined {
  if (!isPlainObject(input)) {
    issues.push({ path, message: `expected an object (${type.name}), got ${describe(input)}` });
    return undefined;
  }
  const index = fieldsByJsonKey(type);
  const out: DecodedMessage = {};
  const seen = new Set<protobuf.Field>();
  const oneofSeen = new Map<protobuf.OneOf, string>();
  for (const [key, raw] of Object.entries(input)) {
    const fpath = joinPath(path, key);
    const field = index.get(key);
    if (!field) {
      issues.push({ path: fpath, message: `unknown field "${key}" in ${type.fullName.slice(1)}` });
      continue;
    }
    // JSON null means "not set", except for google.protobuf.Value, where it is a value.
    if (raw === null && field.resolvedType?.fullName !== '.google.protobuf.Value') continue;
    if (seen.has(field)) {
      issues.push({ path: fpath, message: `field ${field.name} is set twice` });
      continue;
    }
    seen.add(field);
    if (field.partOf) {
      const other = oneofSeen.get(field.partOf);
      if (other !== undefined) {
        issues.push({
          path: joinPath(path, field.name),
          message: `only one of ${other} and ${field.name} may be set (oneof ${field.partOf.name})`,
        });
        continue;
      }
      oneofSeen.set(field.partOf, field.name);
    }
    const fieldPath = joinPath(path, field.name);
    const v = decodeField(field, raw, fieldPath, issues, depth);
    if (v !== undefined && !isImplicitDefault(field, v)) out[field.name] = v;
  }
  checkMessageRules(type, out, path, issues);
  return out;
}

function decodeField(
  field: protobuf.Field,
  raw: unknown,
  path: string,
  issues: ConfigIssue[],
  depth: number,
): DecodedValue | undefined {
  if (field.map) {
    if (!isPlainObject(raw)) {
      issues.push({ path, message: `expected an object (map), got ${describe(raw)}` });
      return undefined;
    }
    const keyType = field instanceof protobuf.MapField ? field.keyType : 'string';
    const out: DecodedMessage = {};
    for (const [k, v] of Object.entries(raw)) {
      const kpath = joinPath(path, k);
      if (!validMapKey(keyType, k)) {
        issues.push({ path: kpath, message: `invalid ${keyType} map key` });
        continue;
      }
      const d = decodeSingle(field, v, kpath, issues, depth);
      if (d !== undefined) out[k] = d;
    }
    return out;
  }
  if (field.repeated) {
    if (!Array.isArray(raw)) {
      issues.push({ path, message: `expected a list, got ${describe(raw)}` });
      return undefined;
    }
    const out: DecodedValue[] = [];
    raw.forEach((v, i) => {
      const d = decodeSingle(field, v, joinPath(path, i), issues, depth);
      if (d !== undefined) out.push(d);
    });
    return out;
  }
  return decodeSingle(field, raw, path, issues, depth);
}

function decodeSingle(
  field: protobuf.Field,
  raw: unknown,
  path: string,
  issues: ConfigIssue[],
  depth: number,
): DecodedValue | undefined {
  if (field.resolvedType instanceof protobuf.Type) {
    return decodeJsonValue(field.resolvedType, raw, path, issues, depth + 1);
  }
  return decodeScalar(field, raw, path, issues);
}

function validMapKey(keyType: string, k: string): boolean {
  switch (keyType) {
    case 'string':
      return true;
    case 'bool':
      return k === 'true' || k === 'false';
    default:
      return /^-?\d+$/.test(k);
  }
}

const INT_RANGES: Record<string, [number, number]> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  sint32: [-(2 ** 31), 2 ** 31 - 1],
  sfixed32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  fixed32: [0, 2 ** 32 - 1],
  int64: [-(2 ** 63), 2 ** 63],
  sint64: [-(2 ** 63), 2 ** 63],
  sfixed64: [-(2 ** 63), 2 ** 63],
  uint64: [0, 2 ** 64],
  fixed64: [0, 2 ** 64],
};

/** Decodes a non-message field value (scalar or enum). */
export function decodeScalar(
  field: protobuf.Field,
  raw: unknown,
  path: string,
  issues: ConfigIssue[],
): DecodedValue | undefined {
  const fail = (expected: string): undefined => {
    issues.push({ path, message: `expected ${expected}, got ${describe(raw)}` });
    return undefined;
  };
  if (field.resolvedType instanceof protobuf.Enum) {
    const e = field.resolvedType;
    if (typeof raw === 'string' && e.values[raw] !== undefined) return raw;
    if (typeof raw === 'number' && e.valuesById[raw] !== undefined) return e.valuesById[raw];
    return fail(`one of ${Object.keys(e.values).join(', ')} (${e.name})`);
  }
  const t = field.type;
  if (t === 'string') return typeof raw === 'string' ? raw : fail('a string');
  if (t === 'bool') return typeof raw === 'boolean' ? raw : fail('true or false');
  if (t === 'bytes') {
    if (typeof raw !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(raw.replace(/\s+/g, ''))) {
      return fail('base64 bytes');
    }
    return Buffer.from(raw, raw.includes('-') || raw.includes('_') ? 'base64url' : 'base64');
  }
  if (t === 'double' || t === 'float') {
    let n: number | undefined;
    if (typeof raw === 'number') n = raw;
    else if (raw === 'NaN' || raw === 'Infinity' || raw === '-Infinity') n = Number(raw);
    else if (typeof raw === 'string' && raw.trim() !== '' && !Number.isNaN(Number(raw))) n = Number(raw);
    if (n === undefined) return fail('a number');
    if (t === 'float' && Number.isFinite(n) && Math.abs(n) > 3.4028234663852886e38) {
      issues.push({ path, message: 'value is out of range for float' });
      return undefined;
    }
    return n;
  }
  const range = INT_RANGES[t];
  if (!range) return fail(`a supported scalar (field type ${t})`);
  let n: number | undefined;
  if (typeof raw === 'number') n = raw;
  else if (typeof raw === 'string' && /^-?\d+$/.test(raw.trim())) n = Number(raw.trim());
  if (n === undefined || !Number.isInteger(n)) return fail(`an integer (${t})`);
  if (n < range[0] || n > range[1]) {
    issues.push({ path, message: `value ${String(raw)} is out of range for ${t}` });
    return undefined;
  }
  return n;
}

function decodeDuration(input: unknown, path: string, issues: ConfigIssue[]): number | undefined {
  let d: SecondsNanos | undefined;
  if (typeof input === 'string') d = parseDurationString(input);
  else if (isPlainObject(input)) {
    const extra = Object.keys(input).filter((k) => k !== 'seconds' && k !== 'nanos');
    for (const k of extra) issues.push({ path: joinPath(path, k), message: `unknown field "${k}" in google.protobuf.Duration` });
    if (extra.length > 0) return undefined;
    const seconds = toInt(input.seconds ?? 0);
    const nanos = toInt(input.nanos ?? 0);
    if (seconds !== undefined && nanos !== undefined) d = { seconds, nanos };
  }
  if (d === undefined) {
    issues.push({ path, message: `expected a duration such as "1.5s", got ${describe(input)}` });
    return undefined;
  }
  if (!durationInRange(d)) {
    issues.push({ path, message: 'duration is out of range' });
    return undefined;
  }
  return durationToMs(d);
}

function toInt(x: unknown): number | undefined {
  if (typeof x === 'number' && Number.isInteger(x)) return x;
  if (typeof x === 'string' && /^-?\d+$/.test(x)) return Number(x);
  return undefined;
}

function decodeAny(input: unknown, path: string, issues: ConfigIssue[], depth: number): DecodedMessage | undefined {
  if (!isPlainObject(input)) {
    issues.push({ path, message: `expected an object with "@type", got ${describe(input)}` });
    return undefined;
  }
  const url = input['@type'];
  if (typeof url !== 'string' || url === '') {
    issues.push({ path, message: 'missing "@type" in google.protobuf.Any' });
    return undefined;
  }
  const type = typeByUrl(url);
  if (!type) {
    issues.push({ path, message: `unknown type URL "${url}"` });
    return undefined;
  }
  const body: Record<string, unknown> = { ...input };
  delete body['@type'];
  const name = type.fullName.slice(1);
  if (TYPED_STRUCT_TYPES.has(name)) return decodeTypedStruct(type, body, path, issues, depth);
  if (isValueInAny(name)) {
    // Well-known types inside an Any carry their JSON form under "value".
    const extra = Object.keys(body).filter((k) => k !== 'value');
    for (const k of extra) issues.push({ path: joinPath(path, k), message: `unknown field "${k}" in Any of ${name}` });
    const v = decodeJsonValue(type, body.value, joinPath(path, 'value'), issues, depth + 1);
    return v === undefined ? undefined : { '@type': url, value: v };
  }
  const v = decodeJsonValue(type, body, path, issues, depth + 1);
  if (v === undefined || typeof v !== 'object' || v === null || Array.isArray(v) || Buffer.isBuffer(v)) return undefined;
  return { '@type': url, ...v };
}

/** TypedStruct carries a message of type_url as a Struct: decode that message in its place. */
function decodeTypedStruct(
  tsType: protobuf.Type,
  body: Record<string, unknown>,
  path: string,
  issues: ConfigIssue[],
  depth: number,
): DecodedMessage | undefined {
  const ts = decodeMessage(tsType, body, path, issues, depth + 1);
  if (!ts) return undefined;
  const inner = ts.type_url;
  if (typeof inner !== 'string' || inner === '') {
    issues.push({ path: joinPath(path, 'type_url'), message: 'TypedStruct needs a type_url' });
    return undefined;
  }
  return decodeTypedStructValue(inner, ts.value ?? {}, path, issues, depth);
}

export function decodeTypedStructValue(
  innerUrl: string,
  value: DecodedValue,
  path: string,
  issues: ConfigIssue[],
  depth: number,
): DecodedMessage | undefined {
  const type = typeByUrl(innerUrl);
  if (!type) {
    issues.push({ path: joinPath(path, 'type_url'), message: `unknown type URL "${innerUrl}"` });
    return undefined;
  }
  const v = decodeJsonValue(type, value, joinPath(path, 'value'), issues, depth + 1);
  if (v === undefined || typeof v !== 'object' || v === null || Array.isArray(v) || Buffer.isBuffer(v)) return undefined;
  return { '@type': innerUrl, ...v };
}
