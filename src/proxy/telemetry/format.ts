/**
 * Envoy substitution format strings ("%REQ(X-REQUEST-ID)% %RESPONSE_CODE%") compiled once into an
 * array of parts; formatting a StreamInfo walks the parts with no parsing per call.
 *
 * Semantics follow Envoy's access log formatter:
 *  - a missing value prints "-" (or "" with omit_empty_values);
 *  - %REQ(X?Y):Z% looks up header X, falls back to Y, truncates to Z characters; header names are
 *    case-insensitive; the pseudo-headers :method/:path/:authority/:scheme come from StreamInfo;
 *  - in json_format a value that is exactly one operator keeps its type (numbers for
 *    %RESPONSE_CODE%, %BYTES_*%, %DURATION% …, null when missing); mixed values are strings;
 *  - %START_TIME(fmt)% formats in UTC with strftime specifiers plus Envoy's %[1-9]f / %f / %Es;
 *    without an argument it prints ISO 8601 with milliseconds ("2016-04-15T20:17:00.310Z").
 */
import * as os from 'node:os';
import { ConfigError } from '../../lib/config-error';
import { responseFlagString, type StreamInfo } from '../stream-info';

/** Envoy's default access log format (source/common/formatter DEFAULT_FORMAT; REQ/RESP spelling). */
export const DEFAULT_ACCESS_LOG_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ' +
  '%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ' +
  '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" ' +
  '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

export interface FormatOptions {
  /** Envoy's omit_empty_values: text prints "" instead of "-"; JSON omits keys whose value is null. */
  omitEmptyValues?: boolean;
}

/** A compiled text formatter. */
export type Formatter = (info: StreamInfo) => string;

/** One operator's value: string, number (typed in JSON), or null when not available. */
type Value = string | number | null;
type Provider = (info: StreamInfo) => Value;

/** A compiled part: a literal or an operator. */
type Part = string | Provider;

// ---------------------------------------------------------------------------------------------
// Operator table

function str(v: string): Value {
  return v === '' ? null : v;
}

/** A duration in ms relative to stream start, floored; -1 (unset) → null. */
function ms(v: number): Value {
  return v < 0 ? null : Math.floor(v);
}

function withoutPort(addr: string): Value {
  if (addr === '') return null;
  if (addr.startsWith('[')) {
    const end = addr.indexOf(']');
    return end > 0 ? addr.slice(1, end) : addr;
  }
  const colon = addr.lastIndexOf(':');
  // A bare IPv6 address (several colons, no brackets) has no port to strip.
  if (colon === -1 || addr.indexOf(':') !== colon) return addr;
  return addr.slice(0, colon);
}

let cachedHostname: string | undefined;
function hostname(): string {
  if (cachedHostname === undefined) cachedHostname = os.hostname();
  return cachedHostname;
}

const SIMPLE: Record<string, Provider> = {
  PROTOCOL: (i) => str(i.protocol),
  RESPONSE_CODE: (i) => i.responseCode,
  RESPONSE_CODE_DETAILS: (i) => str(i.responseCodeDetails),
  RESPONSE_FLAGS: (i) => (i.responseFlags === 0 ? null : responseFlagString(i.responseFlags)),
  BYTES_RECEIVED: (i) => i.bytesReceived,
  BYTES_SENT: (i) => i.bytesSent,
  DURATION: (i) => ms(i.durationMs),
  REQUEST_DURATION: (i) => ms(i.lastDownstreamRxByteMs),
  RESPONSE_DURATION: (i) => ms(i.firstUpstreamRxByteMs),
  RESPONSE_TX_DURATION: (i) =>
    i.lastDownstreamTxByteMs < 0 || i.firstUpstreamRxByteMs < 0
      ? null
      : Math.floor(i.lastDownstreamTxByteMs - i.firstUpstreamRxByteMs),
  UPSTREAM_HOST: (i) => str(i.upstreamHost),
  UPSTREAM_REMOTE_ADDRESS: (i) => str(i.upstreamHost),
  UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: (i) => withoutPort(i.upstreamHost),
  UPSTREAM_CLUSTER: (i) => str(i.upstreamCluster),
  UPSTREAM_LOCAL_ADDRESS: (i) => str(i.upstreamLocalAddress),
  UPSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: (i) => withoutPort(i.upstreamLocalAddress),
  UPSTREAM_TRANSPORT_FAILURE_REASON: (i) => str(i.upstreamTransportFailureReason),
  CONNECTION_TERMINATION_DETAILS: () => null,
  DOWNSTREAM_REMOTE_ADDRESS: (i) => str(i.downstreamRemoteAddress),
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: (i) => withoutPort(i.downstreamRemoteAddress),
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS: (i) => str(i.downstreamDirectRemoteAddress),
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT: (i) => withoutPort(i.downstreamDirectRemoteAddress),
  DOWNSTREAM_LOCAL_ADDRESS: (i) => str(i.downstreamLocalAddress),
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: (i) => withoutPort(i.downstreamLocalAddress),
  REQUESTED_SERVER_NAME: (i) => str(i.requestedServerName),
  DOWNSTREAM_TLS_VERSION: (i) => str(i.downstreamTls?.version ?? ''),
  DOWNSTREAM_TLS_CIPHER: (i) => str(i.downstreamTls?.cipher ?? ''),
  DOWNSTREAM_PEER_URI_SAN: (i) => str(i.downstreamTls?.peerUriSans.join(',') ?? ''),
  DOWNSTREAM_PEER_SUBJECT: (i) => str(i.downstreamTls?.peerSubject ?? ''),
  ROUTE_NAME: (i) => str(i.routeName),
  VIRTUAL_CLUSTER_NAME: (i) => str(i.virtualClusterName),
  CONNECTION_ID: (i) => i.connectionId,
  HOSTNAME: () => hostname(),
  UPSTREAM_REQUEST_ATTEMPT_COUNT: (i) => i.attemptCount,
  STREAM_ID: (i) => str(i.requestId),
};

/** Operators that render as JSON numbers in json_format. */
const NUMERIC = new Set([
  'RESPONSE_CODE',
  'BYTES_RECEIVED',
  'BYTES_SENT',
  'DURATION',
  'REQUEST_DURATION',
  'RESPONSE_DURATION',
  'RESPONSE_TX_DURATION',
  'CONNECTION_ID',
  'UPSTREAM_REQUEST_ATTEMPT_COUNT',
]);

type HeaderSource = 'req' | 'resp' | 'trailer';

function requestPseudo(info: StreamInfo, name: string, stripQuery: boolean): Value {
  switch (name) {
    case ':method':
      return str(info.method);
    case ':path': {
      const p = info.path;
      if (!stripQuery) return str(p);
      const q = p.indexOf('?');
      return str(q === -1 ? p : p.slice(0, q));
    }
    case ':authority':
    case 'host':
      if (info.authority !== '') return info.authority;
      break;
    case ':scheme':
      return str(info.scheme);
  }
  const h = info.requestHeaders;
  if (!h) return null;
  const v = h.get(name);
  if (v === undefined) return null;
  if (stripQuery) {
    const q = v.indexOf('?');
    return q === -1 ? v : v.slice(0, q);
  }
  return v;
}

function headerLookup(source: HeaderSource, name: string, stripQuery: boolean): Provider {
  if (source === 'req') return (i) => requestPseudo(i, name, stripQuery);
  if (source === 'resp') {
    if (name === ':status') return (i) => (i.responseCode === 0 ? null : String(i.responseCode));
    return (i) => {
      const h = i.responseHeaders;
      if (!h) return null;
      const v = h.get(name);
      return v === undefined ? null : v;
    };
  }
  return (i) => {
    const h = i.responseTrailers;
    if (!h) return null;
    const v = h.get(name);
    return v === undefined ? null : v;
  };
}

function headerProvider(cmd: string, source: HeaderSource, arg: string | undefined, stripQuery: boolean): Provider {
  if (arg === undefined || arg === '') throw new ConfigError({ path: '', message: `${cmd} requires a header name: %${cmd}(X?Y):Z%` });
  const parts = arg.split('?');
  if (parts.length > 2 || parts.some((p) => p === '')) {
    throw new ConfigError({ path: '', message: `invalid header configuration for ${cmd}: "${arg}"` });
  }
  const main = headerLookup(source, parts[0].toLowerCase(), stripQuery);
  if (parts.length === 1) return main;
  const alt = headerLookup(source, parts[1].toLowerCase(), stripQuery);
  return (i) => {
    const v = main(i);
    return v === null ? alt(i) : v;
  };
}

// ---------------------------------------------------------------------------------------------
// START_TIME / strftime (UTC), compiled into parts

type DatePart = string | ((d: Date, epochMs: number) => string);

function pad(n: number, w: number): string {
  let s = String(n);
  while (s.length < w) s = '0' + s;
  return s;
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const DAYS_FULL = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTHS_FULL = [
  'January', 'February', 'March', 'April', 'May', 'June',
  'July', 'August', 'September', 'October', 'November', 'December',
];

/** Sub-second digits: we only know milliseconds, so digits past 3 are zeros (as if ns were 0). */
function fraction(epochMs: number, digits: number): string {
  const msPart = pad(((epochMs % 1000) + 1000) % 1000, 3) + '000000';
  return msPart.slice(0, digits);
}

function dayOfYear(d: Date): number {
  const start = Date.UTC(d.getUTCFullYear(), 0, 1);
  return Math.floor((d.getTime() - start) / 86400000) + 1;
}

function compileDate(fmt: string): { parts: DatePart[]; subSecond: boolean } {
  const parts: DatePart[] = [];
  let lit = '';
  let subSecond = false;
  const push = (p: DatePart): void => {
    if (lit) parts.push(lit);
    lit = '';
    parts.push(p);
  };
  for (let i = 0; i < fmt.length; i++) {
    const c = fmt[i];
    if (c !== '%' || i + 1 >= fmt.length) {
      lit += c;
      continue;
    }
    let s = fmt[++i];
    // %1f … %9f and %E3S-style (Envoy/absl): digits then f / S.
    if (s >= '1' && s <= '9' && fmt[i + 1] === 'f') {
      const digits = Number(s);
      i++;
      subSecond = true;
      push((_d, e) => fraction(e, digits));
      continue;
    }
    if (s === 'E') {
      const m = /^E(\*|[0-9])?([Sfs])/.exec(fmt.slice(i));
      if (m) {
        i += m[0].length - 1;
        const digits = m[1] === undefined ? 0 : m[1] === '*' ? 9 : Number(m[1]);
        if (m[2] === 'S') {
          subSecond = true;
          push((d, e) => pad(d.getUTCSeconds(), 2) + (digits > 0 ? '.' + fraction(e, digits) : ''));
        } else if (m[2] === 's') {
          push((_d, e) => String(Math.floor(e / 1000)));
        } else {
          subSecond = true;
          push((_d, e) => fraction(e, digits || 9));
        }
        continue;
      }
      s = 'E';
    }
    switch (s) {
      case 'Y': push((d) => String(d.getUTCFullYear())); break;
      case 'y': push((d) => pad(d.getUTCFullYear() % 100, 2)); break;
      case 'C': push((d) => pad(Math.floor(d.getUTCFullYear() / 100), 2)); break;
      case 'm': push((d) => pad(d.getUTCMonth() + 1, 2)); break;
      case 'd': push((d) => pad(d.getUTCDate(), 2)); break;
      case 'e': push((d) => String(d.getUTCDate()).padStart(2, ' ')); break;
      case 'H': push((d) => pad(d.getUTCHours(), 2)); break;
      case 'I': push((d) => pad(d.getUTCHours() % 12 || 12, 2)); break;
      case 'p': push((d) => (d.getUTCHours() < 12 ? 'AM' : 'PM')); break;
      case 'M': push((d) => pad(d.getUTCMinutes(), 2)); break;
      case 'S': push((d) => pad(d.getUTCSeconds(), 2)); break;
      case 'f': subSecond = true; push((_d, e) => fraction(e, 9)); break;
      case 's': push((_d, e) => String(Math.floor(e / 1000))); break;
      case 'j': push((d) => pad(dayOfYear(d), 3)); break;
      case 'a': push((d) => DAYS[d.getUTCDay()]); break;
      case 'A': push((d) => DAYS_FULL[d.getUTCDay()]); break;
      case 'u': push((d) => String(d.getUTCDay() || 7)); break;
      case 'w': push((d) => String(d.getUTCDay())); break;
      case 'b': case 'h': push((d) => MONTHS[d.getUTCMonth()]); break;
      case 'B': push((d) => MONTHS_FULL[d.getUTCMonth()]); break;
      case 'z': lit += '+0000'; break;
      case 'Z': lit += 'UTC'; break;
      case 'T': push((d) => `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`); break;
      case 'R': push((d) => `${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}`); break;
      case 'F': push((d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}`); break;
      case 'D': push((d) => `${pad(d.getUTCMonth() + 1, 2)}/${pad(d.getUTCDate(), 2)}/${pad(d.getUTCFullYear() % 100, 2)}`); break;
      case 'n': lit += '\n'; break;
      case 't': lit += '\t'; break;
      case '%': lit += '%'; break;
      default: lit += '%' + s;
    }
  }
  if (lit) parts.push(lit);
  return { parts, subSecond };
}

/** Compiles a strftime-style format (UTC) into a function of epoch milliseconds. */
export function compileDateFormatter(fmt: string): (epochMs: number) => string {
  const { parts, subSecond } = compileDate(fmt);
  let lastSecond = NaN;
  let lastOut = '';
  const render = (epochMs: number): string => {
    const d = new Date(epochMs);
    let out = '';
    for (const p of parts) out += typeof p === 'string' ? p : p(d, epochMs);
    return out;
  };
  if (subSecond) return render;
  // Whole-second formats are cached per second, as Envoy does.
  return (epochMs) => {
    const sec = Math.floor(epochMs / 1000);
    if (sec !== lastSecond) {
      lastSecond = sec;
      lastOut = render(epochMs);
    }
    return lastOut;
  };
}

/** The default %START_TIME%: "YYYY-MM-DDTHH:MM:SS.mmmZ", with the seconds prefix cached. */
function defaultStartTime(): Provider {
  const prefix = compileDateFormatter('%Y-%m-%dT%H:%M:%S');
  return (i) => {
    const t = Math.floor(i.startTime);
    return prefix(t) + '.' + pad(((t % 1000) + 1000) % 1000, 3) + 'Z';
  };
}

// ---------------------------------------------------------------------------------------------
// Parser

interface Operator {
  name: string;
  provider: Provider;
}

function truncate(p: Provider, max: number): Provider {
  return (i) => {
    const v = p(i);
    return typeof v === 'string' && v.length > max ? v.slice(0, max) : v;
  };
}

function operator(name: string, arg: string | undefined, maxLen: number | undefined): Provider {
  let p: Provider;
  switch (name) {
    case 'REQ':
    case 'REQUEST_HEADER':
      p = headerProvider(name, 'req', arg, false);
      break;
    case 'REQ_WITHOUT_QUERY':
      p = headerProvider(name, 'req', arg, true);
      break;
    case 'RESP':
    case 'RESPONSE_HEADER':
      p = headerProvider(name, 'resp', arg, false);
      break;
    case 'TRAILER':
    case 'RESPONSE_TRAILER':
      p = headerProvider(name, 'trailer', arg, false);
      break;
    case 'START_TIME':
      if (arg === undefined || arg === '') p = defaultStartTime();
      else {
        const f = compileDateFormatter(arg);
        p = (i) => f(i.startTime);
      }
      break;
    default: {
      const s = SIMPLE[name];
      if (!s) throw new ConfigError({ path: '', message: `Not supported field in StreamInfo: ${name}` });
      if (arg !== undefined) throw new ConfigError({ path: '', message: `${name} does not take parameters` });
      p = s;
    }
  }
  return maxLen === undefined ? p : truncate(p, maxLen);
}

const COMMAND_RE = /^%([A-Z][A-Z0-9_]*)(?:\(([^)]*)\))?(?::([0-9]+))?%/;

/** Parses a format string into literal and operator parts. */
function parse(format: string): Array<string | Operator> {
  const out: Array<string | Operator> = [];
  let lit = '';
  let i = 0;
  while (i < format.length) {
    const c = format[i];
    if (c !== '%') {
      lit += c;
      i++;
      continue;
    }
    if (format[i + 1] === '%') {
      lit += '%';
      i += 2;
      continue;
    }
    const m = COMMAND_RE.exec(format.slice(i));
    if (!m) {
      throw new ConfigError({
        path: '',
        message: `Incorrect configuration: ${format}. Couldn't find valid command at position ${i}`,
      });
    }
    const maxLen = m[3] === undefined ? undefined : Number(m[3]);
    if (lit) out.push(lit);
    lit = '';
    out.push({ name: m[1], provider: operator(m[1], m[2], maxLen) });
    i += m[0].length;
  }
  if (lit) out.push(lit);
  return out;
}

/** Compiles a text format string into a formatter. Throws ConfigError on an unknown or malformed operator. */
export function compileFormatter(format: string, opts: FormatOptions = {}): Formatter {
  const parsed = parse(format);
  const parts: Part[] = parsed.map((p) => (typeof p === 'string' ? p : p.provider));
  const empty = opts.omitEmptyValues ? '' : '-';
  // Small specialisations: a single part avoids the loop.
  if (parts.length === 1 && typeof parts[0] === 'string') {
    const s = parts[0];
    return () => s;
  }
  return (info) => {
    let out = '';
    for (let k = 0; k < parts.length; k++) {
      const p = parts[k];
      if (typeof p === 'string') out += p;
      else {
        const v = p(info);
        out += v === null ? empty : v;
      }
    }
    return out;
  };
}

// ---------------------------------------------------------------------------------------------
// JSON

/** A JSON value produced by a json_format formatter. */
export type JsonLogValue = string | number | boolean | null | JsonLogValue[] | { [key: string]: JsonLogValue };

type JsonNode = (info: StreamInfo) => JsonLogValue | undefined;

function compileJsonNode(v: unknown, path: string, opts: FormatOptions): JsonNode {
  if (typeof v === 'string') {
    const parsed = parse(v);
    if (parsed.length === 1 && typeof parsed[0] !== 'string') {
      const op = parsed[0];
      const numeric = NUMERIC.has(op.name);
      const p = op.provider;
      return (i) => {
        const val = p(i);
        if (val === null) return opts.omitEmptyValues ? undefined : null;
        if (typeof val === 'number') return numeric ? val : String(val);
        return val;
      };
    }
    const f = compileFormatter(v, opts);
    return (i) => f(i);
  }
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) {
    return () => v;
  }
  if (Array.isArray(v)) {
    throw new ConfigError({ path, message: 'json_format does not support lists' });
  }
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).map(
      ([k, sub]) => [k, compileJsonNode(sub, path ? `${path}.${k}` : k, opts)] as const,
    );
    return (i) => {
      const o: { [key: string]: JsonLogValue } = {};
      for (const [k, n] of entries) {
        const r = n(i);
        if (r !== undefined) o[k] = r;
      }
      return o;
    };
  }
  throw new ConfigError({ path, message: `unsupported json_format value of type ${typeof v}` });
}

/** Compiles json_format into a function returning the log record as an object. */
export function compileJsonObjectFormatter(
  jsonFormat: Record<string, unknown>,
  opts: FormatOptions = {},
): (info: StreamInfo) => { [key: string]: JsonLogValue } {
  const node = compileJsonNode(jsonFormat, '', opts);
  return (i) => node(i) as { [key: string]: JsonLogValue };
}

/** Compiles json_format into a formatter printing one JSON object per line ("…}\n"), like Envoy. */
export function compileJsonFormatter(jsonFormat: Record<string, unknown>, opts: FormatOptions = {}): Formatter {
  const f = compileJsonObjectFormatter(jsonFormat, opts);
  return (i) => JSON.stringify(f(i)) + '\n';
}
