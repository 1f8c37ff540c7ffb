// protoc-gen-validate rules ((validate.rules) on fields, (validate.required) on oneofs), checked
// on the decoded form. Durations are compared in milliseconds, as the decoded form holds them.
import { isIP } from 'node:net';
import * as protobuf from 'protobufjs';
import { ConfigIssue, joinPath } from '../lib/config-error';
import { DecodedMessage, DecodedValue, isDecodedMessage } from './decoded';
import { durationToMs, formatDuration } from './well-known';

type Rules = Record<string, unknown>;

const rulesCache = new WeakMap<protobuf.Field, Rules | null>();

function asRules(v: unknown): Rules | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Rules) : undefined;
}

function merge(into: Rules, from: Rules): void {
  for (const [k, v] of Object.entries(from)) {
    const a = asRules(into[k]);
    const b = asRules(v);
    if (a && b) merge(a, b);
    else into[k] = b ? { ...b } : v;
  }
}

/** The field's (validate.rules), merged from however many option statements declared them. */
export function fieldRules(field: protobuf.Field): Rules | undefined {
  const hit = rulesCache.get(field);
  if (hit !== undefined) return hit ?? undefined;
  let rules: Rules | null = null;
  // protobufjs types parsedOptions loosely; at runtime it is a list of {optionName: value}.
  const entries = Array.isArray(field.parsedOptions) ? (field.parsedOptions as unknown[]) : [];
  for (const entry of entries) {
    const r = asRules(asRules(entry)?.['(validate.rules)']);
    if (r) merge((rules ??= {}), r);
  }
  rulesCache.set(field, rules);
  return rules ?? undefined;
}

/** Whether a field's absence is observable; otherwise absent means the zero value (proto3). */
export function hasPresence(field: protobuf.Field): boolean {
  return field.partOf != null || field.resolvedType instanceof protobuf.Type;
}

/**
 * Whether a decoded value is the proto3 default of a field without presence. Such values are left
 * out of the decoded form (whether from JSON or binary), as the wire format cannot carry them.
 */
export function isImplicitDefault(field: protobuf.Field, v: DecodedValue): boolean {
  if (hasPresence(field) || field.repeated || field.map) return false;
  if (field.resolvedType instanceof protobuf.Enum) return v === 0 || (typeof v === 'string' && field.resolvedType.values[v] === 0);
  if (Buffer.isBuffer(v)) return v.length === 0;
  return v === 0 || v === '' || v === false;
}

function zeroValue(field: protobuf.Field): DecodedValue {
  if (field.resolvedType instanceof protobuf.Enum) return field.resolvedType.valuesById[0] ?? 0;
  switch (field.type) {
    case 'string':
      return '';
    case 'bool':
      return false;
    case 'bytes':
      return Buffer.alloc(0);
    default:
      return 0;
  }
}

function isRequired(rules: Rules): boolean {
  return ['message', 'duration', 'timestamp', 'any'].some((k) => asRules(rules[k])?.required === true);
}

/** Checks the rules of one message's own fields and oneofs (nested messages are checked when built). */
export function checkMessageRules(type: protobuf.Type, msg: DecodedMessage, path: string, issues: ConfigIssue[]): void {
  for (const field of type.fieldsArray) {
    const rules = fieldRules(field);
    if (!rules) continue;
    const fpath = joinPath(path, field.name);
    let v = msg[field.name];
    if (field.map) {
      checkMap(asRules(rules.map), v, fpath, field, issues);
      continue;
    }
    if (field.repeated) {
      checkRepeated(asRules(rules.repeated), Array.isArray(v) ? v : [], fpath, field, issues);
      continue;
    }
    if (v === undefined) {
      // Rules on a oneof member apply only when that member is the one set.
      if (field.partOf) continue;
      if (isRequired(rules)) issues.push({ path: fpath, message: 'value is required' });
      if (hasPresence(field)) continue;
      v = zeroValue(field);
    }
    checkValue(rules, v, fpath, field.resolvedType, issues);
  }
  for (const oneof of type.oneofsArray) {
    if (oneof.options?.['(validate.required)'] !== true) continue;
    if (!oneof.fieldsArray.some((f) => msg[f.name] !== undefined)) {
      const names = oneof.fieldsArray.map((f) => f.name).join(', ');
      issues.push({ path, message: `one of [${names}] must be set` });
    }
  }
}

function checkRepeated(r: Rules | undefined, arr: DecodedValue[], path: string, field: protobuf.Field, issues: ConfigIssue[]): void {
  if (!r || (r.ignore_empty === true && arr.length === 0)) return;
  const min = num(r.min_items);
  const max = num(r.max_items);
  if (min !== undefined && arr.length < min) issues.push({ path, message: `value must contain at least ${min} item(s)` });
  if (max !== undefined && arr.length > max) issues.push({ path, message: `value must contain no more than ${max} item(s)` });
  if (r.unique === true) {
    const seen = new Set<string>();
    arr.forEach((v, i) => {
      const key = JSON.stringify(v);
      if (seen.has(key)) issues.push({ path: joinPath(path, i), message: 'repeated value must contain unique items' });
      seen.add(key);
    });
  }
  const items = asRules(r.items);
  if (items) arr.forEach((v, i) => checkValue(items, v, joinPath(path, i), field.resolvedType, issues));
}

function checkMap(r: Rules | undefined, v: DecodedValue | undefined, path: string, field: protobuf.Field, issues: ConfigIssue[]): void {
  if (!r) return;
  const entries = isDecodedMessage(v) ? Object.entries(v) : [];
  if (r.ignore_empty === true && entries.length === 0) return;
  const min = num(r.min_pairs);
  const max = num(r.max_pairs);
  if (min !== undefined && entries.length < min) issues.push({ path, message: `value must contain at least ${min} pair(s)` });
  if (max !== undefined && entries.length > max) issues.push({ path, message: `value must contain no more than ${max} pair(s)` });
  const keys = asRules(r.keys);
  const values = asRules(r.values);
  for (const [k, x] of entries) {
    if (keys) checkValue(keys, k, joinPath(path, k), null, issues);
    if (values) checkValue(values, x, joinPath(path, k), field.resolvedType, issues);
  }
}

const NUMERIC_KINDS = new Set([
  'double', 'float', 'int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64',
  'fixed32', 'fixed64', 'sfixed32', 'sfixed64',
]);

function checkValue(
  rules: Rules,
  v: DecodedValue,
  path: string,
  resolved: protobuf.ReflectionObject | null,
  issues: ConfigIssue[],
): void {
  for (const [kind, raw] of Object.entries(rules)) {
    const r = asRules(raw);
    if (!r) continue;
    if (NUMERIC_KINDS.has(kind) && typeof v === 'number') {
      if (!(r.ignore_empty === true && v === 0)) checkNumber(r, v, num, String, path, issues);
    } else if (kind === 'duration' && typeof v === 'number') {
      checkNumber(r, v, durationRuleMs, formatDuration, path, issues);
    } else if (kind === 'string' && typeof v === 'string') {
      checkString(r, v, path, issues);
    } else if (kind === 'bytes' && Buffer.isBuffer(v)) {
      checkLength(r, v.length, 'bytes', path, issues);
    } else if (kind === 'bool' && typeof v === 'boolean') {
      if (typeof r.const === 'boolean' && v !== r.const) issues.push({ path, message: `value must equal ${r.const}` });
    } else if (kind === 'enum' && typeof v === 'string' && resolved instanceof protobuf.Enum) {
      checkEnum(r, v, resolved, path, issues);
    } else if (kind === 'any' && isDecodedMessage(v)) {
      const url = v['@type'];
      const inList = asList(r.in);
      if (inList.length > 0 && !inList.includes(url)) issues.push({ path, message: `type URL must be one of ${inList.join(', ')}` });
      if (asList(r.not_in).includes(url)) issues.push({ path, message: `type URL must not be ${String(url)}` });
    }
  }
}

// A repeated option written with a single value (`not_in: 0`) parses as that value.
function asList(x: unknown): unknown[] {
  if (x === undefined) return [];
  return Array.isArray(x) ? x : [x];
}

function num(x: unknown): number | undefined {
  if (typeof x === 'number') return x;
  if (typeof x === 'string' && x.trim() !== '' && !Number.isNaN(Number(x))) return Number(x);
  if (typeof x === 'object' && x !== null && 'toNumber' in x && typeof x.toNumber === 'function') return Number(x.toNumber());
  return undefined;
}

function durationRuleMs(x: unknown): number | undefined {
  const r = asRules(x);
  if (!r) return undefined;
  return durationToMs({ seconds: num(r.seconds) ?? 0, nanos: num(r.nanos) ?? 0 });
}

function checkNumber(
  r: Rules,
  v: number,
  toNum: (x: unknown) => number | undefined,
  fmt: (n: number) => string,
  path: string,
  issues: ConfigIssue[],
): void {
  const gt = toNum(r.gt);
  const gte = toNum(r.gte);
  const lt = toNum(r.lt);
  const lte = toNum(r.lte);
  const lower = gt ?? gte;
  const upper = lt ?? lte;
  const fail = (message: string): void => {
    issues.push({ path, message });
  };
  if (lower !== undefined && upper !== undefined && upper < lower) {
    // PGV's exclusive range: the value must lie outside [upper, lower].
    const below = lt !== undefined ? v < lt : v <= upper;
    const above = gt !== undefined ? v > gt : v >= lower;
    if (!below && !above) fail(`value must be outside range [${fmt(upper)}, ${fmt(lower)}]`);
  } else {
    if (gt !== undefined && !(v > gt)) fail(`value must be greater than ${fmt(gt)}`);
    if (gte !== undefined && !(v >= gte)) fail(`value must be greater than or equal to ${fmt(gte)}`);
    if (lt !== undefined && !(v < lt)) fail(`value must be less than ${fmt(lt)}`);
    if (lte !== undefined && !(v <= lte)) fail(`value must be less than or equal to ${fmt(lte)}`);
  }
  const c = toNum(r.const);
  if (c !== undefined && v !== c) fail(`value must equal ${fmt(c)}`);
  const list = (x: unknown): number[] => asList(x).map(toNum).filter((n): n is number => n !== undefined);
  const inList = list(r.in);
  if (inList.length > 0 && !inList.includes(v)) fail(`value must be in list [${inList.map(fmt).join(', ')}]`);
  const notIn = list(r.not_in);
  if (notIn.includes(v)) fail(`value must not be in list [${notIn.map(fmt).join(', ')}]`);
}

function checkLength(r: Rules, length: number, unit: string, path: string, issues: ConfigIssue[]): void {
  const len = num(r.len);
  const min = num(r.min_len);
  const max = num(r.max_len);
  if (len !== undefined && length !== len) issues.push({ path, message: `value length must be ${len} ${unit}` });
  if (min !== undefined && length < min) issues.push({ path, message: `value length must be at least ${min} ${unit}` });
  if (max !== undefined && length > max) issues.push({ path, message: `value length must be at most ${max} ${unit}` });
}

// PGV's HTTP header regexes; "strict: false" only forbids NUL, CR and LF.
const HEADER_NAME_STRICT = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;
const HEADER_VALUE_STRICT = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
const HEADER_LOOSE = /^[^\u0000\u000A\u000D]*$/;
const HOSTNAME = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/;
const patternCache = new Map<string, RegExp | null>();

function checkString(r: Rules, v: string, path: string, issues: ConfigIssue[]): void {
  if (r.ignore_empty === true && v === '') return;
  const fail = (message: string): void => {
    issues.push({ path, message });
  };
  checkLength(r, [...v].length, 'characters', path, issues);
  const bytes = Buffer.byteLength(v);
  const minB = num(r.min_bytes);
  const maxB = num(r.max_bytes);
  if (minB !== undefined && bytes < minB) fail(`value length must be at least ${minB} bytes`);
  if (maxB !== undefined && bytes > maxB) fail(`value length must be at most ${maxB} bytes`);
  if (typeof r.const === 'string' && v !== r.const) fail(`value must equal ${JSON.stringify(r.const)}`);
  if (typeof r.prefix === 'string' && !v.startsWith(r.prefix)) fail(`value does not have prefix ${JSON.stringify(r.prefix)}`);
  if (typeof r.suffix === 'string' && !v.endsWith(r.suffix)) fail(`value does not have suffix ${JSON.stringify(r.suffix)}`);
  if (typeof r.contains === 'string' && !v.includes(r.contains)) fail(`value does not contain ${JSON.stringify(r.contains)}`);
  if (typeof r.not_contains === 'string' && v.includes(r.not_contains)) fail(`value contains ${JSON.stringify(r.not_contains)}`);
  const inList = asList(r.in);
  if (inList.length > 0 && !inList.includes(v)) fail(`value must be in list [${inList.join(', ')}]`);
  if (asList(r.not_in).includes(v)) fail(`value must not be in list [${asList(r.not_in).join(', ')}]`);
  if (typeof r.pattern === 'string') {
    let re = patternCache.get(r.pattern);
    if (re === undefined) {
      try {
        re = new RegExp(r.pattern, 'u');
      } catch {
        re = null; // an RE2 construct JavaScript lacks: not checked
      }
      patternCache.set(r.pattern, re);
    }
    if (re && !re.test(v)) fail(`value does not match regex pattern ${JSON.stringify(r.pattern)}`);
  }
  const strict = r.strict !== false;
  if (r.well_known_regex === 'HTTP_HEADER_NAME' && !(strict ? HEADER_NAME_STRICT : HEADER_LOOSE).test(v)) {
    fail('value must be a valid HTTP header name');
  }
  if (r.well_known_regex === 'HTTP_HEADER_VALUE' && !(strict ? HEADER_VALUE_STRICT : HEADER_LOOSE).test(v)) {
    fail('value must be a valid HTTP header value');
  }
  if (r.ip === true && isIP(v) === 0) fail('value must be a valid IP address');
  if (r.ipv4 === true && isIP(v) !== 4) fail('value must be a valid IPv4 address');
  if (r.ipv6 === true && isIP(v) !== 6) fail('value must be a valid IPv6 address');
  if (r.hostname === true && !HOSTNAME.test(v)) fail('value must be a valid hostname');
  if (r.address === true && isIP(v) === 0 && !HOSTNAME.test(v)) fail('value must be a valid hostname or IP address');
}

function checkEnum(r: Rules, name: string, e: protobuf.Enum, path: string, issues: ConfigIssue[]): void {
  const n = e.values[name];
  if (n === undefined) {
    if (r.defined_only === true) issues.push({ path, message: 'value must be one of the defined enum values' });
    return;
  }
  const names = (x: unknown): string => asList(x).map((i) => e.valuesById[Number(i)] ?? String(i)).join(', ');
  if (r.const !== undefined && num(r.const) !== n) issues.push({ path, message: `value must equal ${names(r.const)}` });
  const inList = asList(r.in).map(num);
  if (inList.length > 0 && !inList.includes(n)) issues.push({ path, message: `value must be in list [${names(r.in)}]` });
  if (asList(r.not_in).map(num).includes(n)) issues.push({ path, message: `value must not be in list [${names(r.not_in)}]` });
}
