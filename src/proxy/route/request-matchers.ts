/**
 * envoy.config.route.v3.HeaderMatcher and QueryParameterMatcher, compiled.
 * Semantics follow Envoy's HeaderUtility::matchHeaders: repeated headers are joined with ",";
 * a missing header matches only present_match:false (or, inverted, present_match:true) unless
 * treat_missing_header_as_empty; a matcher with no specifier is a presence match.
 */
import { joinPath, type ConfigIssue } from '../../lib/config-error';
import { compileRegexMatcher, compileStringMatcher, type StringMatchFn } from '../../lib/matchers';
import { Fields, isMsg, type Msg } from './fields';
import type { RouteRequest } from './types';

/** Value of a request header for matching; pseudo-headers come from the request line. */
export function requestHeaderValue(req: RouteRequest, lowerName: string): string | undefined {
  if (lowerName.charCodeAt(0) === 58 /* : */) {
    switch (lowerName) {
      case ':method':
        return req.method;
      case ':path':
        return req.path;
      case ':authority':
        return req.authority;
      case ':scheme':
        return req.scheme;
    }
  }
  return req.headers.getJoined(lowerName);
}

/** First value of a request header (pseudo-headers from the request line). */
export function requestHeaderFirst(req: RouteRequest, lowerName: string): string | undefined {
  if (lowerName.charCodeAt(0) === 58) return requestHeaderValue(req, lowerName);
  return req.headers.get(lowerName);
}

const enum HM {
  Value,
  Regex,
  Range,
  Present,
  Prefix,
  Suffix,
  Contains,
  StringMatch,
}

/** absl::SimpleAtoi for int64: optional surrounding ASCII whitespace and sign. */
const INT_RE = /^[\t\n\v\f\r ]*([+-]?\d+)[\t\n\v\f\r ]*$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

export class HeaderMatcher {
  constructor(
    readonly name: string,
    private readonly type: HM,
    private readonly value: string,
    private readonly fn: StringMatchFn | null,
    private readonly rangeStart: bigint,
    private readonly rangeEnd: bigint,
    private readonly present: boolean,
    private readonly invert: boolean,
    private readonly missingAsEmpty: boolean,
  ) {}

  matches(req: RouteRequest): boolean {
    let v = requestHeaderValue(req, this.name);
    if (v === undefined) {
      if (!this.missingAsEmpty) {
        return this.type === HM.Present && (this.invert ? this.present : !this.present);
      }
      v = '';
    }
    let m: boolean;
    switch (this.type) {
      case HM.Value:
        m = this.value.length === 0 || v === this.value;
        break;
      case HM.Prefix:
        m = v.startsWith(this.value);
        break;
      case HM.Suffix:
        m = v.endsWith(this.value);
        break;
      case HM.Contains:
        m = v.includes(this.value);
        break;
      case HM.Present:
        m = this.present;
        break;
      case HM.Range: {
        const r = INT_RE.exec(v);
        if (r === null) {
          m = false;
        } else {
          const n = BigInt(r[1]);
          m = n >= INT64_MIN && n <= INT64_MAX && n >= this.rangeStart && n < this.rangeEnd;
        }
        break;
      }
      default:
        m = (this.fn as StringMatchFn)(v);
    }
    return m !== this.invert;
  }
}

const HEADER_MATCHER_FIELDS = [
  'name',
  'exact_match',
  'safe_regex_match',
  'range_match',
  'present_match',
  'prefix_match',
  'suffix_match',
  'contains_match',
  'string_match',
  'invert_match',
  'treat_missing_header_as_empty',
];
const SPECIFIERS = [
  'exact_match',
  'safe_regex_match',
  'range_match',
  'present_match',
  'prefix_match',
  'suffix_match',
  'contains_match',
  'string_match',
];

const HEADER_NAME_RE = /^:?[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;

export function compileHeaderMatcher(m: Msg, path: string, issues: ConfigIssue[]): HeaderMatcher | undefined {
  const f = new Fields(issues);
  const before = issues.length;
  f.reject(m, path, HEADER_MATCHER_FIELDS);
  const name = f.str(m, 'name', path);
  if (!name || !HEADER_NAME_RE.test(name)) {
    issues.push({ path: joinPath(path, 'name'), message: 'a valid header name is required' });
  }
  const invert = f.bool(m, 'invert_match', path) ?? false;
  const missingAsEmpty = f.bool(m, 'treat_missing_header_as_empty', path) ?? false;
  const set = SPECIFIERS.filter((k) => m[k] !== undefined && m[k] !== null);
  if (set.length > 1) issues.push({ path, message: `only one of ${set.join(', ')} may be set` });
  let type = HM.Present;
  let value = '';
  let fn: StringMatchFn | null = null;
  let start = 0n;
  let end = 0n;
  let present = true;
  switch (set[0]) {
    case 'exact_match':
      type = HM.Value;
      value = f.str(m, 'exact_match', path) ?? '';
      break;
    case 'prefix_match':
    case 'suffix_match':
    case 'contains_match': {
      const k = set[0];
      type = k === 'prefix_match' ? HM.Prefix : k === 'suffix_match' ? HM.Suffix : HM.Contains;
      value = f.str(m, k, path) ?? '';
      if (value.length === 0) issues.push({ path: joinPath(path, k), message: 'value length must be at least 1 character' });
      break;
    }
    case 'safe_regex_match': {
      type = HM.Regex;
      const re = compileRegexMatcher(m.safe_regex_match, joinPath(path, 'safe_regex_match'), issues);
      if (re) {
        const full = re.full;
        fn = (v) => full.test(v);
      }
      break;
    }
    case 'string_match':
      type = HM.StringMatch;
      fn = compileStringMatcher(m.string_match, joinPath(path, 'string_match'), issues) ?? null;
      break;
    case 'range_match': {
      type = HM.Range;
      const r = f.msg(m, 'range_match', path);
      if (r) {
        const rp = joinPath(path, 'range_match');
        f.reject(r, rp, ['start', 'end']);
        start = BigInt(f.int(r, 'start', rp) ?? 0);
        end = BigInt(f.int(r, 'end', rp) ?? 0);
      }
      break;
    }
    case 'present_match':
      type = HM.Present;
      present = f.bool(m, 'present_match', path) ?? false;
      break;
    default:
      type = HM.Present;
      present = true;
  }
  if (issues.length !== before) return undefined;
  return new HeaderMatcher((name as string).toLowerCase(), type, value, fn, start, end, present, invert, missingAsEmpty);
}

export function compileHeaderMatchers(list: Array<[Msg, string]>, issues: ConfigIssue[]): HeaderMatcher[] | undefined {
  const out: HeaderMatcher[] = [];
  let ok = true;
  for (const [m, p] of list) {
    const hm = compileHeaderMatcher(m, p, issues);
    if (hm) out.push(hm);
    else ok = false;
  }
  return ok ? out : undefined;
}

/**
 * The first value of query parameter `name` in `path` (undecoded, as Envoy's
 * QueryParamsMulti::parseQueryString): "" for a bare key, undefined when absent.
 * Scans in place: no arrays or maps are built.
 */
export function firstQueryParam(path: string, name: string): string | undefined {
  const q = path.indexOf('?');
  if (q === -1) return undefined;
  const n = name.length;
  let start = q + 1;
  const len = path.length;
  while (start < len) {
    let end = path.indexOf('&', start);
    if (end === -1) end = len;
    // key is [start, eq) where eq is the first '=' before end
    if (path.startsWith(name, start)) {
      const after = start + n;
      if (after === end) return '';
      if (after < end && path.charCodeAt(after) === 61 /* = */) return path.slice(after + 1, end);
    }
    start = end + 1;
  }
  return undefined;
}

export class QueryParamMatcher {
  constructor(
    readonly name: string,
    private readonly fn: StringMatchFn | null,
  ) {}

  matches(path: string): boolean {
    const v = firstQueryParam(path, this.name);
    if (v === undefined) return false;
    return this.fn === null || this.fn(v);
  }
}

export function compileQueryParamMatcher(m: Msg, path: string, issues: ConfigIssue[]): QueryParamMatcher | undefined {
  const f = new Fields(issues);
  const before = issues.length;
  f.reject(m, path, ['name', 'string_match', 'present_match']);
  const name = f.str(m, 'name', path);
  if (!name) issues.push({ path: joinPath(path, 'name'), message: 'name is required' });
  f.bool(m, 'present_match', path);
  let fn: StringMatchFn | null = null;
  if (m.string_match !== undefined && m.string_match !== null) {
    if (m.present_match !== undefined && m.present_match !== null) {
      issues.push({ path, message: 'only one of string_match, present_match may be set' });
    }
    if (!isMsg(m.string_match)) issues.push({ path: joinPath(path, 'string_match'), message: 'expected a message' });
    else fn = compileStringMatcher(m.string_match, joinPath(path, 'string_match'), issues) ?? null;
  }
  if (issues.length !== before) return undefined;
  return new QueryParamMatcher(name as string, fn);
}
