/**
 * Envoy's string and regex matchers (envoy.type.matcher.v3.StringMatcher / RegexMatcher /
 * RegexMatchAndSubstitute), compiled once into plain functions.
 *
 * Regexes are written in RE2 syntax (Envoy's only engine). They are translated to JavaScript
 * RegExp source with the `u` flag; RE2 constructs JavaScript cannot express exactly (inline flag
 * groups, \C, \pN negated inside classes, …) and constructs RE2 itself rejects (backreferences,
 * lookaround) are configuration errors. Matching is a full match where Envoy full-matches
 * (RE2::FullMatch): every StringMatcher.safe_regex, route safe_regex, header safe_regex_match.
 * Rewrites replace every non-overlapping match as RE2::GlobalReplace does, with \0..\9 in the
 * substitution.
 *
 * Case-insensitive comparisons are ASCII-only, as Envoy's absl::EqualsIgnoreCase & co.
 */
import { joinPath, rejectUnsupported, type ConfigIssue } from './config-error';

/** A decoded message as read here: any object; fields are checked as they are read. */
export type MessageLike = object;

/** A compiled string matcher: true when `value` matches. */
export type StringMatchFn = (value: string) => boolean;

// ---------------------------------------------------------------------------------------------
// ASCII case helpers (no allocation when nothing needs lowering)

/** Lower-cases ASCII A-Z only; returns `s` itself when it has no upper-case ASCII letter. */
export function asciiLower(s: string): string {
  let i = 0;
  const n = s.length;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 65 && c <= 90) break;
  }
  if (i === n) return s;
  let out = s.slice(0, i);
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    out += c >= 65 && c <= 90 ? String.fromCharCode(c + 32) : s[i];
  }
  return out;
}

function lowerCode(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/** `value` starts with `lowerPrefix` ignoring ASCII case (`lowerPrefix` already lower-cased). */
export function startsWithIgnoreCase(value: string, lowerPrefix: string): boolean {
  const n = lowerPrefix.length;
  if (value.length < n) return false;
  for (let i = 0; i < n; i++) {
    if (lowerCode(value.charCodeAt(i)) !== lowerPrefix.charCodeAt(i)) return false;
  }
  return true;
}

export function endsWithIgnoreCase(value: string, lowerSuffix: string): boolean {
  const n = lowerSuffix.length;
  const off = value.length - n;
  if (off < 0) return false;
  for (let i = 0; i < n; i++) {
    if (lowerCode(value.charCodeAt(off + i)) !== lowerSuffix.charCodeAt(i)) return false;
  }
  return true;
}

export function equalsIgnoreCase(value: string, lower: string): boolean {
  return value.length === lower.length && startsWithIgnoreCase(value, lower);
}

// ---------------------------------------------------------------------------------------------
// RE2 → JavaScript translation

export interface Re2Translation {
  /** JavaScript RegExp source (to be compiled with `flags`). */
  source: string;
  /** Flags to use for matching: always contains "u"; "i" when the pattern starts with (?i). */
  flags: string;
}

class Re2Error extends Error {}

const JS_SYNTAX_CHARS = '^$\\.*+?()[]{}|/';
const CLASS_ESCAPE_CHARS = '\\]-^[';
const MAX_REPEAT = 1000;

const POSIX_CLASSES: Readonly<Record<string, string>> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

/** RE2's \s: [\t\n\f\r ] (no \v, no Unicode spaces, unlike JavaScript's \s). */
const RE2_SPACE = '\\t\\n\\f\\r ';

function isWordCode(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
}

function isOctal(ch: string | undefined): boolean {
  return ch !== undefined && ch >= '0' && ch <= '7';
}

function isHex(ch: string | undefined): boolean {
  return ch !== undefined && /^[0-9A-Fa-f]$/.test(ch);
}

function codePointEscape(cp: number): string {
  if (cp > 0x10ffff) throw new Re2Error('invalid escape sequence: code point out of range');
  return `\\u{${cp.toString(16)}}`;
}

/** Translates an RE2 \p / \P class name to a JavaScript \p{…} body; `negate` flips p/P. */
function unicodeClass(name: string, negate: boolean, inClass: boolean): string {
  if (name === 'Any') {
    if (negate) throw new Re2Error('\\P{Any} (matches nothing) is not supported');
    return inClass ? '\\u{0}-\\u{10ffff}' : '[\\u{0}-\\u{10ffff}]';
  }
  const body = /^[A-Z][a-z]?$/.test(name) ? name : `Script=${name}`;
  // Validate the name now so that the error names it.
  try {
    new RegExp(`\\p{${body}}`, 'u');
  } catch {
    throw new Re2Error(`invalid character class range: \\p{${name}}`);
  }
  return `${negate ? '\\P' : '\\p'}{${body}}`;
}

/** Parses \p and \P after the backslash+letter at `i` (pointing at 'p' or 'P'). Returns [js, next]. */
function parseUnicodeEscape(re: string, i: number, inClass: boolean): [string, number] {
  let negate = re[i] === 'P';
  let j = i + 1;
  let name: string;
  if (re[j] === '{') {
    const close = re.indexOf('}', j);
    if (close === -1) throw new Re2Error('invalid character class range: missing }');
    name = re.slice(j + 1, close);
    j = close + 1;
    if (name.startsWith('^')) {
      negate = !negate;
      name = name.slice(1);
    }
  } else {
    if (j >= re.length) throw new Re2Error('invalid character class range: \\p at end');
    name = re[j];
    j++;
  }
  if (!name) throw new Re2Error('invalid character class range: empty \\p{}');
  return [unicodeClass(name, negate, inClass), j];
}

/**
 * Parses a numeric escape (octal or \x) starting at the character after the backslash.
 * Returns [code point, next index] or undefined when `re[i]` does not start one.
 */
function parseNumericEscape(re: string, i: number): [number, number] | undefined {
  const c = re[i];
  if (c >= '1' && c <= '7' && isOctal(re[i + 1])) {
    // \123: octal, but a lone non-zero digit is a backreference, which RE2 rejects.
    let j = i;
    let v = 0;
    while (j < re.length && j < i + 3 && isOctal(re[j])) v = v * 8 + (re.charCodeAt(j++) - 48);
    return [v, j];
  }
  if (c >= '1' && c <= '9') throw new Re2Error('invalid escape sequence: backreferences are not supported by RE2');
  if (c === '0') {
    let j = i + 1;
    let v = 0;
    while (j < re.length && j < i + 3 && isOctal(re[j])) v = v * 8 + (re.charCodeAt(j++) - 48);
    return [v, j];
  }
  if (c === 'x') {
    if (re[i + 1] === '{') {
      const close = re.indexOf('}', i + 2);
      const hex = close === -1 ? '' : re.slice(i + 2, close);
      if (!/^[0-9A-Fa-f]{1,8}$/.test(hex)) throw new Re2Error('invalid escape sequence: bad \\x{…}');
      return [parseInt(hex, 16), close + 1];
    }
    if (isHex(re[i + 1]) && isHex(re[i + 2])) return [parseInt(re.slice(i + 1, i + 3), 16), i + 3];
    throw new Re2Error('invalid escape sequence: bad \\x');
  }
  return undefined;
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  a: '\\x07',
  f: '\\f',
  n: '\\n',
  r: '\\r',
  t: '\\t',
  v: '\\v',
};

const SIMPLE_ESCAPE_CODES: Readonly<Record<string, number>> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11 };

/** One class atom (a single code point) or a set (\d, \pL, [:alpha:], …). */
interface ClassAtom {
  js: string;
  /** Set when the atom is a single code point, so it can be a range endpoint. */
  cp?: number;
}

function parseClassAtom(re: string, i: number): [ClassAtom, number] {
  const c = re[i];
  if (c === '[' && re[i + 1] === ':') {
    const close = re.indexOf(':]', i + 2);
    if (close !== -1) {
      const name = re.slice(i + 2, close);
      if (name.startsWith('^')) throw new Re2Error(`negated POSIX class [:${name}:] is not supported`);
      const set = POSIX_CLASSES[name];
      if (set === undefined) throw new Re2Error(`invalid character class range: [:${name}:]`);
      return [{ js: set }, close + 2];
    }
  }
  if (c === '\\') {
    const e = re[i + 1];
    if (e === undefined) throw new Re2Error('trailing \\');
    const num = parseNumericEscape(re, i + 1);
    if (num) return [{ js: codePointEscape(num[0]), cp: num[0] }, num[1]];
    const simple = SIMPLE_ESCAPE_CODES[e];
    if (simple !== undefined) return [{ js: SIMPLE_ESCAPES[e], cp: simple }, i + 2];
    if (e === 'd' || e === 'D' || e === 'w' || e === 'W') return [{ js: '\\' + e }, i + 2];
    if (e === 's') return [{ js: RE2_SPACE }, i + 2];
    if (e === 'S') throw new Re2Error('\\S inside a character class is not supported');
    if (e === 'p' || e === 'P') {
      const [js, next] = parseUnicodeEscape(re, i + 1, true);
      return [{ js }, next];
    }
    const code = e.charCodeAt(0);
    if (code < 128 && !isWordCode(code)) {
      return [{ js: CLASS_ESCAPE_CHARS.includes(e) ? '\\' + e : e, cp: code }, i + 2];
    }
    throw new Re2Error(`invalid escape sequence: \\${e}`);
  }
  const cp = re.codePointAt(i) as number;
  const len = cp > 0xffff ? 2 : 1;
  const ch = re.slice(i, i + len);
  return [{ js: CLASS_ESCAPE_CHARS.includes(ch) ? '\\' + ch : ch, cp }, i + len];
}

/** Parses a character class starting at `i` ('['). Returns [js, next index]. */
function parseClass(re: string, i: number): [string, number] {
  let j = i + 1;
  let out = '[';
  if (re[j] === '^') {
    out += '^';
    j++;
  }
  let first = true;
  for (;;) {
    if (j >= re.length) throw new Re2Error('missing closing ]');
    if (re[j] === ']' && !first) break;
    first = false;
    let lo: ClassAtom;
    [lo, j] = parseClassAtom(re, j);
    if (re[j] === '-' && re[j + 1] !== ']' && j + 1 < re.length) {
      let hi: ClassAtom;
      [hi, j] = parseClassAtom(re, j + 1);
      if (lo.cp === undefined || hi.cp === undefined || hi.cp < lo.cp) {
        throw new Re2Error('invalid character class range');
      }
      out += `${lo.js}-${hi.js}`;
    } else {
      out += lo.js;
    }
  }
  return [out + ']', j + 1];
}

/**
 * Translates an RE2 pattern into JavaScript RegExp source and flags.
 * Throws an Error whose message explains what is not supported.
 */
export function translateRe2(re: string): Re2Translation {
  let flags = 'u';
  let dotAll = false;
  let multiLine = false;
  let i = 0;
  // Leading flag groups (?i) (?s) (?m) (?is) … set flags for the whole pattern.
  for (;;) {
    const m = /^\(\?([imsU]*)(?:-([imsU]*))?\)/.exec(re.slice(i));
    if (!m || m[0] === '(?)' || m[0] === '(?-)') break;
    const on = m[1];
    if (on.includes('U') || (m[2] ?? '').includes('U')) throw new Re2Error('the (?U) ungreedy flag is not supported');
    if (on.includes('i') && !flags.includes('i')) flags += 'i';
    if (on.includes('s')) dotAll = true;
    if (on.includes('m')) multiLine = true;
    if (m[2]?.includes('i')) flags = flags.replace('i', '');
    if (m[2]?.includes('s')) dotAll = false;
    if (m[2]?.includes('m')) multiLine = false;
    i += m[0].length;
  }
  let out = '';
  while (i < re.length) {
    const c = re[i];
    switch (c) {
      case '\\': {
        const e = re[i + 1];
        if (e === undefined) throw new Re2Error('trailing \\');
        const num = parseNumericEscape(re, i + 1);
        if (num) {
          out += codePointEscape(num[0]);
          i = num[1];
          break;
        }
        if (SIMPLE_ESCAPES[e] !== undefined) {
          out += SIMPLE_ESCAPES[e];
          i += 2;
          break;
        }
        switch (e) {
          case 'd':
          case 'D':
          case 'w':
          case 'W':
          case 'b':
          case 'B':
            out += '\\' + e;
            i += 2;
            continue;
          case 's':
            out += `[${RE2_SPACE}]`;
            i += 2;
            continue;
          case 'S':
            out += `[^${RE2_SPACE}]`;
            i += 2;
            continue;
          case 'A':
            out += '(?<![\\s\\S])';
            i += 2;
            continue;
          case 'z':
            out += '(?![\\s\\S])';
            i += 2;
            continue;
          case 'p':
          case 'P': {
            const [js, next] = parseUnicodeEscape(re, i + 1, false);
            out += js;
            i = next;
            continue;
          }
          case 'Q': {
            const end = re.indexOf('\\E', i + 2);
            const lit = end === -1 ? re.slice(i + 2) : re.slice(i + 2, end);
            for (const ch of lit) out += JS_SYNTAX_CHARS.includes(ch) ? '\\' + ch : ch;
            i = end === -1 ? re.length : end + 2;
            continue;
          }
          case 'C':
            throw new Re2Error('\\C (any byte) is not supported');
          default: {
            const code = e.charCodeAt(0);
            if (code < 128 && !isWordCode(code)) {
              out += JS_SYNTAX_CHARS.includes(e) ? '\\' + e : e;
              i += 2;
              continue;
            }
            throw new Re2Error(`invalid escape sequence: \\${e}`);
          }
        }
        break;
      }
      case '[': {
        const [js, next] = parseClass(re, i);
        out += js;
        i = next;
        break;
      }
      case '(': {
        if (re[i + 1] !== '?') {
          out += '(';
          i++;
          break;
        }
        const rest = re.slice(i + 2);
        if (rest.startsWith(':')) {
          out += '(?:';
          i += 3;
        } else if (rest.startsWith('P<') || rest.startsWith('<')) {
          const start = rest.startsWith('P<') ? i + 4 : i + 3;
          if (re[start] === '=' || re[start] === '!') throw new Re2Error('lookbehind assertions are not supported by RE2');
          const close = re.indexOf('>', start);
          const name = close === -1 ? '' : re.slice(start, close);
          if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Re2Error(`invalid named capture group: ${name}`);
          out += `(?<${name}>`;
          i = close + 1;
        } else if (rest.startsWith('P=') || rest.startsWith('P>')) {
          throw new Re2Error('named backreferences are not supported by RE2');
        } else if (rest.startsWith('=') || rest.startsWith('!')) {
          throw new Re2Error('lookahead assertions are not supported by RE2');
        } else if (/^-?[imsU]/.test(rest)) {
          throw new Re2Error('inline flags are supported only at the start of the pattern, e.g. (?i)');
        } else {
          throw new Re2Error('invalid or unsupported Perl syntax after (?');
        }
        break;
      }
      case '{': {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(re.slice(i));
        if (m) {
          const lo = Number(m[1]);
          const hi = m[3] ? Number(m[3]) : lo;
          if (lo > MAX_REPEAT || hi > MAX_REPEAT || (m[3] && hi < lo)) {
            throw new Re2Error(`bad repetition operator: ${m[0]}`);
          }
          out += m[0];
          i += m[0].length;
        } else {
          out += '\\{';
          i++;
        }
        break;
      }
      case '}':
      case ']':
        out += '\\' + c;
        i++;
        break;
      case '.':
        out += dotAll ? '[\\s\\S]' : '[^\\n]';
        i++;
        break;
      case '^':
        out += multiLine ? '(?<![^\\n])' : '^';
        i++;
        break;
      case '$':
        out += multiLine ? '(?![^\\n])' : '$';
        i++;
        break;
      default: {
        const cp = re.codePointAt(i) as number;
        const len = cp > 0xffff ? 2 : 1;
        out += re.slice(i, i + len);
        i += len;
      }
    }
  }
  return { source: out, flags };
}

// ---------------------------------------------------------------------------------------------
// Compiled regexes

export interface CompiledRegex {
  /** The original RE2 pattern. */
  readonly pattern: string;
  /** Anchored full-match regex (RE2::FullMatch). Not global: safe to share. */
  readonly full: RegExp;
  /** Unanchored global regex for searching / replacing (lastIndex is reset by users). */
  readonly search: RegExp;
  /** Number of capturing groups. */
  readonly groupCount: number;
}

/** Compiles an RE2 pattern; on error pushes an issue at `path` and returns undefined. */
export function compileRe2(pattern: string, path: string, issues: ConfigIssue[]): CompiledRegex | undefined {
  let t: Re2Translation;
  try {
    t = translateRe2(pattern);
  } catch (e) {
    issues.push({ path, message: `invalid RE2 regex '${pattern}': ${(e as Error).message}` });
    return undefined;
  }
  try {
    const full = new RegExp(`^(?:${t.source})$`, t.flags);
    const search = new RegExp(t.source, t.flags + 'g');
    const probe = new RegExp(`${t.source}|`, t.flags).exec('');
    const groupCount = probe ? probe.length - 1 : 0;
    return { pattern, full, search, groupCount };
  } catch (e) {
    issues.push({ path, message: `invalid RE2 regex '${pattern}': ${(e as Error).message}` });
    return undefined;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

/** Compiles an envoy.type.matcher.v3.RegexMatcher ({google_re2: {}, regex}). */
export function compileRegexMatcher(m: unknown, path: string, issues: ConfigIssue[]): CompiledRegex | undefined {
  if (!isObject(m)) {
    issues.push({ path, message: 'expected a RegexMatcher message' });
    return undefined;
  }
  const before = issues.length;
  rejectUnsupported(m, path, ['google_re2', 'regex'], issues);
  const g = m.google_re2;
  if (g !== undefined) {
    if (!isObject(g)) issues.push({ path: joinPath(path, 'google_re2'), message: 'expected a message' });
    else rejectUnsupported(g, joinPath(path, 'google_re2'), [], issues);
  }
  const regex = m.regex;
  if (typeof regex !== 'string' || regex.length === 0) {
    issues.push({ path: joinPath(path, 'regex'), message: 'regex is required (a non-empty RE2 pattern)' });
    return undefined;
  }
  if (issues.length !== before) return undefined;
  return compileRe2(regex, joinPath(path, 'regex'), issues);
}

/** Parsed RE2 rewrite string: literal strings and group numbers. */
type RewritePart = string | number;

function parseRewrite(sub: string, groupCount: number, path: string, issues: ConfigIssue[]): RewritePart[] | undefined {
  const parts: RewritePart[] = [];
  let lit = '';
  for (let i = 0; i < sub.length; i++) {
    const c = sub[i];
    if (c !== '\\') {
      lit += c;
      continue;
    }
    const n = sub[i + 1];
    if (n === '\\') {
      lit += '\\';
      i++;
    } else if (n !== undefined && n >= '0' && n <= '9') {
      const g = n.charCodeAt(0) - 48;
      if (g > groupCount) {
        issues.push({
          path,
          message: `substitution references \\${g} but the regex has only ${groupCount} capturing group(s)`,
        });
        return undefined;
      }
      if (lit) parts.push(lit);
      lit = '';
      parts.push(g);
      i++;
    } else {
      issues.push({ path, message: "invalid rewrite pattern: '\\' must be followed by a digit or '\\'" });
      return undefined;
    }
  }
  if (lit) parts.push(lit);
  return parts;
}

/** A compiled RegexMatchAndSubstitute: replaces every match in its input. */
export interface RegexSubstitution {
  readonly regex: CompiledRegex;
  replaceAll(input: string): string;
}

class RegexSubstitutionImpl implements RegexSubstitution {
  constructor(
    readonly regex: CompiledRegex,
    private readonly parts: readonly RewritePart[],
  ) {}

  /** RE2::GlobalReplace: non-overlapping matches left to right; no empty match right after a match. */
  replaceAll(input: string): string {
    const re = this.regex.search;
    let out = '';
    let p = 0;
    let lastEnd = -1;
    let count = 0;
    while (p <= input.length) {
      re.lastIndex = p;
      const m = re.exec(input);
      if (m === null) break;
      const start = m.index;
      const end = start + m[0].length;
      if (p < start) out += input.slice(p, start);
      if (start === lastEnd && start === end) {
        // Disallow an empty match at the end of the previous match: copy one character and go on.
        if (p < input.length) {
          const cp = input.codePointAt(p) as number;
          const len = cp > 0xffff ? 2 : 1;
          out += input.slice(p, p + len);
          p += len;
        } else {
          p++;
        }
        continue;
      }
      for (let k = 0; k < this.parts.length; k++) {
        const part = this.parts[k];
        if (typeof part === 'string') out += part;
        else out += m[part] ?? '';
      }
      p = end;
      lastEnd = end;
      count++;
      if (start === end && p >= input.length) break;
    }
    if (count === 0) return input;
    if (p < input.length) out += input.slice(p);
    return out;
  }
}

/** Compiles an envoy.type.matcher.v3.RegexMatchAndSubstitute ({pattern, substitution}). */
export function compileRegexMatchAndSubstitute(
  m: unknown,
  path: string,
  issues: ConfigIssue[],
): RegexSubstitution | undefined {
  if (!isObject(m)) {
    issues.push({ path, message: 'expected a RegexMatchAndSubstitute message' });
    return undefined;
  }
  rejectUnsupported(m, path, ['pattern', 'substitution'], issues);
  if (m.pattern === undefined) {
    issues.push({ path: joinPath(path, 'pattern'), message: 'pattern is required' });
    return undefined;
  }
  const regex = compileRegexMatcher(m.pattern, joinPath(path, 'pattern'), issues);
  const sub = m.substitution ?? '';
  if (typeof sub !== 'string') {
    issues.push({ path: joinPath(path, 'substitution'), message: 'expected a string' });
    return undefined;
  }
  if (!regex) return undefined;
  const parts = parseRewrite(sub, regex.groupCount, joinPath(path, 'substitution'), issues);
  if (!parts) return undefined;
  return new RegexSubstitutionImpl(regex, parts);
}

// ---------------------------------------------------------------------------------------------
// StringMatcher

const STRING_MATCHER_FIELDS = ['exact', 'prefix', 'suffix', 'contains', 'safe_regex', 'ignore_case'] as const;
const PATTERN_FIELDS = ['exact', 'prefix', 'suffix', 'contains', 'safe_regex', 'custom'] as const;

/**
 * Compiles an envoy.type.matcher.v3.StringMatcher into a function.
 * On error pushes issues naming the field and returns undefined.
 */
export function compileStringMatcher(m: unknown, path: string, issues: ConfigIssue[]): StringMatchFn | undefined {
  if (!isObject(m)) {
    issues.push({ path, message: 'expected a StringMatcher message' });
    return undefined;
  }
  const before = issues.length;
  rejectUnsupported(m, path, STRING_MATCHER_FIELDS, issues);
  const ignoreCase = m.ignore_case;
  if (ignoreCase !== undefined && typeof ignoreCase !== 'boolean') {
    issues.push({ path: joinPath(path, 'ignore_case'), message: 'expected a boolean' });
  }
  const set = PATTERN_FIELDS.filter((f) => m[f] !== undefined);
  if (set.length !== 1) {
    issues.push({
      path,
      message: set.length === 0 ? 'one of exact, prefix, suffix, contains, safe_regex is required' : `only one of ${set.join(', ')} may be set`,
    });
    return undefined;
  }
  const kind = set[0];
  if (kind === 'custom') return undefined; // already reported by rejectUnsupported
  if (issues.length !== before) return undefined;
  const ic = ignoreCase === true;
  if (kind === 'safe_regex') {
    if (ic) {
      issues.push({ path: joinPath(path, 'ignore_case'), message: 'ignore_case has no effect for safe_regex' });
      return undefined;
    }
    const re = compileRegexMatcher(m.safe_regex, joinPath(path, 'safe_regex'), issues);
    if (!re) return undefined;
    const full = re.full;
    return (v) => full.test(v);
  }
  const value = m[kind];
  if (typeof value !== 'string') {
    issues.push({ path: joinPath(path, kind), message: 'expected a string' });
    return undefined;
  }
  if (kind !== 'exact' && value.length === 0) {
    issues.push({ path: joinPath(path, kind), message: 'value length must be at least 1 character' });
    return undefined;
  }
  const lower = asciiLower(value);
  switch (kind) {
    case 'exact':
      return ic ? (v) => equalsIgnoreCase(v, lower) : (v) => v === value;
    case 'prefix':
      return ic ? (v) => startsWithIgnoreCase(v, lower) : (v) => v.startsWith(value);
    case 'suffix':
      return ic ? (v) => endsWithIgnoreCase(v, lower) : (v) => v.endsWith(value);
    case 'contains':
      return ic ? (v) => asciiLower(v).includes(lower) : (v) => v.includes(value);
  }
}
