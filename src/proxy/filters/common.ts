/**
 * Small pieces shared by the HTTP stream filters: fractional percentages (envoy.type.v3.FractionalPercent
 * and RuntimeFractionalPercent), absl::SimpleAtoi-style header number parsing, HeaderValueOption
 * lists, HTTP status enum names, and the injectable random source / clock.
 */
import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { compileHeaderValueOption, type HeaderAdd } from '../route/header-value-option';
import { isObject, readArray, readEnum, readNumber, readObject, readString, type Decoded } from '../../lib/decoded-read';

/** A uniform random number in [0, 1); injectable so tests are deterministic. */
export type RandomSource = () => number;
/** A monotonic clock in milliseconds; injectable so tests control time. */
export type MonotonicClock = () => number;

export const defaultRandom: RandomSource = Math.random;
export const defaultClock: MonotonicClock = () => performance.now();

// ---------------------------------------------------------------------------------------------
// Fractional percentages

export interface Fraction {
  readonly numerator: number;
  readonly denominator: number;
}

const DENOMINATORS: Readonly<Record<string, number>> = { HUNDRED: 100, TEN_THOUSAND: 10000, MILLION: 1000000 };

/** Envoy's FractionalPercent; an absent message is 0/100 (never). */
export function readFraction(obj: Decoded, field: string, path: string, issues: ConfigIssue[]): Fraction {
  const m = readObject(obj, field, path, issues);
  if (!m) return { numerator: 0, denominator: 100 };
  const p = joinPath(path, field);
  rejectUnsupported(m, p, ['numerator', 'denominator'], issues);
  const numerator = readNumber(m, 'numerator', p, issues, { min: 0, max: 0xffffffff, integer: true }) ?? 0;
  const den = readEnum(m, 'denominator', p, issues, ['HUNDRED', 'TEN_THOUSAND', 'MILLION']) ?? 'HUNDRED';
  return { numerator, denominator: DENOMINATORS[den] };
}

/**
 * RuntimeFractionalPercent: only default_value applies (runtime_key names a runtime override, and
 * Weft has no runtime layer — the same as Envoy with no runtime value set).
 */
export function readRuntimeFraction(obj: Decoded, field: string, path: string, issues: ConfigIssue[]): Fraction | undefined {
  const m = readObject(obj, field, path, issues);
  if (!m) return undefined;
  const p = joinPath(path, field);
  rejectUnsupported(m, p, ['default_value', 'runtime_key'], issues);
  readString(m, 'runtime_key', p, issues);
  if (m.default_value === undefined) issues.push({ path: joinPath(p, 'default_value'), message: 'default_value is required' });
  return readFraction(m, 'default_value', p, issues);
}

/** Envoy's featureEnabled(FractionalPercent): a random draw below numerator/denominator. */
export function fractionHit(f: Fraction, random: RandomSource): boolean {
  if (f.numerator === 0) return false;
  if (f.numerator >= f.denominator) return true;
  return Math.floor(random() * f.denominator) < f.numerator;
}

// ---------------------------------------------------------------------------------------------
// Numbers in headers

const UINT_RE = /^[\t\n\v\f\r ]*\+?(\d+)[\t\n\v\f\r ]*$/;

/** absl::SimpleAtoi into an unsigned integer no larger than `max`; undefined when it fails. */
export function parseUnsigned(value: string | undefined, max: number): number | undefined {
  if (value === undefined) return undefined;
  const m = UINT_RE.exec(value);
  if (m === null) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n <= max ? n : undefined;
}

export const UINT32_MAX = 0xffffffff;
/** Unsigned 64-bit values beyond 2^53 are not representable; treat them as unparsable. */
export const UINT64_SAFE_MAX = Number.MAX_SAFE_INTEGER;

// ---------------------------------------------------------------------------------------------
// HTTP status codes (envoy.type.v3.StatusCode enum names)

const STATUS_CODES: Readonly<Record<string, number>> = {
  Empty: 0, Continue: 100, OK: 200, Created: 201, Accepted: 202, NonAuthoritativeInformation: 203,
  NoContent: 204, ResetContent: 205, PartialContent: 206, MultiStatus: 207, AlreadyReported: 208,
  IMUsed: 226, MultipleChoices: 300, MovedPermanently: 301, Found: 302, SeeOther: 303,
  NotModified: 304, UseProxy: 305, TemporaryRedirect: 307, PermanentRedirect: 308, BadRequest: 400,
  Unauthorized: 401, PaymentRequired: 402, Forbidden: 403, NotFound: 404, MethodNotAllowed: 405,
  NotAcceptable: 406, ProxyAuthenticationRequired: 407, RequestTimeout: 408, Conflict: 409, Gone: 410,
  LengthRequired: 411, PreconditionFailed: 412, PayloadTooLarge: 413, URITooLong: 414,
  UnsupportedMediaType: 415, RangeNotSatisfiable: 416, ExpectationFailed: 417, MisdirectedRequest: 421,
  UnprocessableEntity: 422, Locked: 423, FailedDependency: 424, UpgradeRequired: 426,
  PreconditionRequired: 428, TooManyRequests: 429, RequestHeaderFieldsTooLarge: 431,
  InternalServerError: 500, NotImplemented: 501, BadGateway: 502, ServiceUnavailable: 503,
  GatewayTimeout: 504, HTTPVersionNotSupported: 505, VariantAlsoNegotiates: 506, InsufficientStorage: 507,
  LoopDetected: 508, NotExtended: 510, NetworkAuthenticationRequired: 511,
};

/** envoy.type.v3.HttpStatus {code}: the status number, or undefined when absent/invalid (reported). */
export function readHttpStatus(obj: Decoded, field: string, path: string, issues: ConfigIssue[]): number | undefined {
  const m = readObject(obj, field, path, issues);
  if (!m) return undefined;
  const p = joinPath(path, field);
  rejectUnsupported(m, p, ['code'], issues);
  const v = m.code;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && STATUS_CODES[v] !== undefined) return STATUS_CODES[v];
  issues.push({ path: joinPath(p, 'code'), message: v === undefined ? 'code is required' : `unknown status code ${JSON.stringify(v)}` });
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Header names

const HEADER_NAME_RE = /^[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;

/**
 * Validates a header name that a filter adds or removes. Pseudo-headers and host are not in Weft's
 * header maps (the request line carries them), so they cannot be changed here.
 */
export function checkMutableHeaderName(name: string, path: string, issues: ConfigIssue[]): boolean {
  if (name.startsWith(':') || name === 'host') {
    issues.push({ path, message: `${name}: pseudo-headers and host cannot be changed by this filter in Weft` });
    return false;
  }
  if (!HEADER_NAME_RE.test(name)) {
    issues.push({ path, message: 'a valid header name is required' });
    return false;
  }
  return true;
}

export { AppendAction, HeaderAdd } from '../route/header-value-option';

/** A repeated HeaderValueOption field. */
export function compileHeaderValueOptions(obj: Decoded, field: string, path: string, issues: ConfigIssue[]): HeaderAdd[] {
  const out: HeaderAdd[] = [];
  const list = readArray(obj, field, path, issues);
  for (let i = 0; i < list.length; i++) {
    const p = joinPath(joinPath(path, field), i);
    const v = list[i];
    if (!isObject(v)) {
      issues.push({ path: p, message: 'expected a message' });
      continue;
    }
    const h = compileHeaderValueOption(v, p, issues, checkMutableHeaderName);
    if (h) out.push(h);
  }
  return out;
}

/** Checks the '@type' of a per-route config against the type(s) this filter accepts there. */
export function checkPerRouteType(config: Decoded, path: string, issues: ConfigIssue[], accepted: readonly string[]): boolean {
  const t = config['@type'];
  if (t === undefined || (typeof t === 'string' && accepted.includes(t))) return true;
  issues.push({ path: joinPath(path, '@type'), message: `expected ${accepted.join(' or ')}, got ${JSON.stringify(t)}` });
  return false;
}
