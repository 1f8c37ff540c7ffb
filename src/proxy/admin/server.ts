/**
 * The admin server: Envoy-compatible endpoints over node:http (not the hot path).
 *
 * Behaviour copied from Envoy's admin:
 *  - a handler matches when the request path (before "?") equals its prefix exactly;
 *  - handlers that mutate state require POST; any other method gets
 *    405 "Method GET not allowed, POST required.";
 *  - an unknown path gets 404 "invalid path. admin commands are:\n  /path: help\n…";
 *  - boolean query parameters (usedonly, graceful, inboundonly) count when present.
 * One deliberate superset: `GET /logging` without parameters lists loggers (read-only);
 * changing levels still requires POST as in Envoy.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { StatsStore } from '../telemetry/stats';
import {
  renderPrometheus,
  renderStatsJson,
  renderStatsText,
  type HistogramIntervals,
  type StatsQuery,
  type StatsType,
} from '../telemetry/stats-render';

/** Envoy's admin.v3.ServerInfo.State names. */
export type ServerState = 'LIVE' | 'DRAINING' | 'PRE_INITIALIZING' | 'INITIALIZING';

/**
 * What the admin server needs from the proxy. Each method is called only when its endpoint is hit.
 */
export interface AdminContext {
  stats: StatsStore;
  /** Envoy's /server_info body (admin.v3.ServerInfo as JSON): version, state, uptime_current_epoch ("12s"),
   *  uptime_all_epochs, hot_restart_version, command_line_options, node. */
  serverInfo(): object;
  /** True when the server is LIVE (initialised and not draining). */
  isLive(): boolean;
  /** The exact state for /ready; when absent it is LIVE or DRAINING from isLive(). */
  state?(): ServerState;
  /** Active listeners: name and local address "ip:port". */
  listeners(): { name: string; address: string }[];
  /** /clusters text (Envoy's "cluster::host::stat::value" lines) and ?format=json (admin.v3.Clusters). */
  clustersText(): string;
  clustersJson(): object;
  /** admin.v3.ConfigDump as JSON: { configs: [ { '@type': …, … }, … ] }. */
  /** include_eds: add the EndpointsConfigDump (EDS) section. */
  configDump(includeEds: boolean): object;
  /** Sets one logger's level (or all when `logger` is absent); false when the level or logger is unknown. */
  setLogLevel(level: string, logger?: string): boolean;
  /** Logger name → level. */
  logLevels(): Record<string, string>;
  /** /healthcheck/fail (true) and /healthcheck/ok (false). */
  setHealthFail(fail: boolean): void;
  drainListeners(opts: { inboundOnly: boolean; graceful: boolean; skipExit?: boolean }): void;
  /** Called after the /quitquitquit response has been sent. */
  quit(): void;
  /** admin.v3.Memory as JSON (allocated, heap_size, … as decimal strings). */
  memory(): object;
  /** Reopen access log files (Envoy's /reopen_logs). */
  reopenLogs(): void;
  /** Optional: /runtime body (default {"entries":{},"layers":[]}). */
  runtime?(): object;
  /** Optional: /hot_restart_version text. */
  hotRestartVersion?(): string;
  /** Optional: interval snapshots for histogram quantiles in /stats. */
  histogramIntervals?: HistogramIntervals;
}

export interface AdminResponse {
  status: number;
  contentType: string;
  body: string;
  /** Run after the response is sent (e.g. quit). */
  after?: () => void;
}

interface Param {
  id: string;
  help: string;
  choices?: string[];
}

interface Handler {
  prefix: string;
  help: string;
  mutates: boolean;
  params?: Param[];
  run(ctx: AdminContext, q: URLSearchParams, method: string): AdminResponse;
}

const TEXT = 'text/plain; charset=UTF-8';
const JSON_TYPE = 'application/json';

function text(body: string, status = 200): AdminResponse {
  return { status, contentType: TEXT, body };
}

function json(body: unknown, status = 200): AdminResponse {
  return { status, contentType: JSON_TYPE, body: JSON.stringify(body, null, 1) + '\n' };
}

function serverState(ctx: AdminContext): ServerState {
  if (ctx.state) return ctx.state();
  return ctx.isLive() ? 'LIVE' : 'DRAINING';
}

const STATS_TYPES: StatsType[] = ['All', 'Counters', 'Histograms', 'Gauges', 'TextReadouts'];

function statsQuery(q: URLSearchParams): StatsQuery | AdminResponse {
  const out: StatsQuery = { usedOnly: q.has('usedonly') };
  const f = q.get('filter');
  if (f !== null && f !== '') {
    try {
      out.filter = new RegExp(f);
    } catch {
      return text('Invalid re2 regex', 400);
    }
  }
  const t = q.get('type');
  if (t !== null) {
    const match = STATS_TYPES.find((x) => x.toLowerCase() === t.toLowerCase());
    if (!match) return text(`invalid &type= param: ${t}`, 400);
    out.type = match;
  }
  return out;
}

function isResponse(v: StatsQuery | AdminResponse): v is AdminResponse {
  return (v as AdminResponse).status !== undefined;
}

function splitAddress(addr: string): { address: string; port: number } {
  if (addr.startsWith('[')) {
    const end = addr.indexOf(']');
    return { address: addr.slice(1, end), port: Number(addr.slice(end + 2)) || 0 };
  }
  const i = addr.lastIndexOf(':');
  if (i === -1) return { address: addr, port: 0 };
  return { address: addr.slice(0, i), port: Number(addr.slice(i + 1)) || 0 };
}

function listLoggers(ctx: AdminContext): string {
  const levels = ctx.logLevels();
  let out = 'active loggers:\n';
  for (const name of Object.keys(levels).sort()) out += `  ${name}: ${levels[name]}\n`;
  return out;
}

const LOGGING_USAGE =
  'usage: /logging?<name>=<level> (change single level)\n' +
  'usage: /logging?paths=name1:level1,name2:level2,... (change multiple levels)\n' +
  'usage: /logging?level=<level> (change all levels)\n' +
  'levels: trace debug info warning error critical off\n';

/** Applies a FieldMask ("a.b,c") to a JSON object; "@type" is always kept. */
export function applyFieldMask(obj: unknown, mask: string): unknown {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return obj;
  const paths = mask
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => s.split('.'));
  const pick = (o: Record<string, unknown>, ps: string[][]): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    if ('@type' in o) out['@type'] = o['@type'];
    for (const p of ps) {
      const [head, ...rest] = p;
      if (!(head in o)) continue;
      const v = o[head];
      if (rest.length === 0) out[head] = v;
      else if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
        const sub = pick(v as Record<string, unknown>, [rest]);
        const prev = out[head];
        out[head] = typeof prev === 'object' && prev !== null ? { ...(prev as object), ...sub } : sub;
      }
    }
    return out;
  };
  return pick(obj as Record<string, unknown>, paths);
}

function configDump(ctx: AdminContext, q: URLSearchParams): AdminResponse {
  const dump = ctx.configDump(q.has('include_eds')) as { configs?: unknown[] };
  const configs = Array.isArray(dump.configs) ? dump.configs : [];
  const resource = q.get('resource');
  const mask = q.get('mask');
  let nameRe: RegExp | undefined;
  const nr = q.get('name_regex');
  if (nr) {
    try {
      nameRe = new RegExp(nr);
    } catch {
      return text('Error while parsing name_regex', 400);
    }
  }
  if (resource) {
    const items: unknown[] = [];
    let found = false;
    for (const c of configs) {
      if (typeof c !== 'object' || c === null) continue;
      const v = (c as Record<string, unknown>)[resource];
      if (v === undefined) continue;
      found = true;
      if (!Array.isArray(v)) {
        return text(`${resource} is not a repeated field. Use ?mask=${resource} to get only this field`, 400);
      }
      for (const item of v) {
        if (nameRe && !nameRe.test(JSON.stringify(item))) continue;
        items.push(mask ? applyFieldMask(item, mask) : item);
      }
    }
    if (!found) return text(`${resource} not found in config dump`, 404);
    return json({ configs: items });
  }
  if (mask) return json({ configs: configs.map((c) => applyFieldMask(c, mask)) });
  return json({ configs });
}

const HANDLERS: Handler[] = [
  {
    prefix: '/',
    help: 'Admin home page',
    mutates: false,
    run: () => text(helpText()),
  },
  {
    prefix: '/clusters',
    help: 'upstream cluster status',
    mutates: false,
    params: [{ id: 'format', help: 'File format to use', choices: ['text', 'json'] }],
    run: (ctx, q) => (q.get('format') === 'json' ? json(ctx.clustersJson()) : text(ctx.clustersText())),
  },
  {
    prefix: '/config_dump',
    help: 'dump current Envoy configs (experimental)',
    mutates: false,
    params: [
      { id: 'resource', help: 'The resource to dump' },
      {
        id: 'mask',
        help:
          'The mask to apply. When both resource and mask are specified, the mask is applied to every element in the desired repeated field so that only a subset of fields are returned. The mask is parsed as a ProtobufWkt::FieldMask',
      },
      { id: 'name_regex', help: 'Dump only the currently loaded configurations whose names match the specified regex.' },
    ],
    run: (ctx, q) => configDump(ctx, q),
  },
  {
    prefix: '/drain_listeners',
    help: 'drain listeners',
    mutates: true,
    params: [
      { id: 'graceful', help: 'When draining listeners, enter a graceful drain period prior to closing listeners.' },
      { id: 'skip_exit', help: 'When draining listeners, do not exit after the drain period. This must be used with graceful' },
      { id: 'inboundonly', help: 'Drains all inbound listeners.' },
    ],
    run: (ctx, q) => {
      if (q.has('skip_exit') && !q.has('graceful')) {
        return text('skip_exit requires graceful\n', 400);
      }
      ctx.drainListeners({ inboundOnly: q.has('inboundonly'), graceful: q.has('graceful'), skipExit: q.has('skip_exit') });
      return text('OK\n');
    },
  },
  {
    prefix: '/healthcheck/fail',
    help: 'cause the server to fail health checks',
    mutates: true,
    run: (ctx) => {
      ctx.setHealthFail(true);
      return text('OK\n');
    },
  },
  {
    prefix: '/healthcheck/ok',
    help: 'cause the server to pass health checks',
    mutates: true,
    run: (ctx) => {
      ctx.setHealthFail(false);
      return text('OK\n');
    },
  },
  {
    prefix: '/help',
    help: 'print out list of admin commands',
    mutates: false,
    run: () => text(helpText()),
  },
  {
    prefix: '/hot_restart_version',
    help: 'print the hot restart compatibility version',
    mutates: false,
    run: (ctx) => text(ctx.hotRestartVersion ? ctx.hotRestartVersion() : 'disabled'),
  },
  {
    prefix: '/listeners',
    help: 'print listener info',
    mutates: false,
    params: [{ id: 'format', help: 'File format to use', choices: ['text', 'json'] }],
    run: (ctx, q) => {
      const ls = ctx.listeners();
      if (q.get('format') === 'json') {
        return json({
          listener_statuses: ls.map((l) => {
            const a = splitAddress(l.address);
            return { name: l.name, local_address: { socket_address: { address: a.address, port_value: a.port } } };
          }),
        });
      }
      return text(ls.map((l) => `${l.name}::${l.address}\n`).join(''));
    },
  },
  {
    prefix: '/logging',
    help: 'query/change logging levels',
    mutates: true,
    params: [
      {
        id: 'paths',
        help: 'Change multiple logging levels by setting to <logger_name1>:<desired_level1>,<logger_name2>:<desired_level2>.',
      },
      {
        id: 'level',
        help: "desired logging level, this will change all loggers's level",
        choices: ['', 'trace', 'debug', 'info', 'warning', 'error', 'critical', 'off'],
      },
    ],
    run: (ctx, q) => {
      const level = q.get('level');
      const paths = q.get('paths');
      if (level !== null && level !== '') {
        if (!ctx.setLogLevel(level)) return text(LOGGING_USAGE, 404);
      } else if (paths !== null && paths !== '') {
        for (const item of paths.split(',')) {
          const i = item.lastIndexOf(':');
          if (i <= 0) return text(LOGGING_USAGE, 404);
          if (!ctx.setLogLevel(item.slice(i + 1).trim(), item.slice(0, i).trim())) return text(LOGGING_USAGE, 404);
        }
      } else {
        // Envoy's single-logger form: /logging?<name>=<level>
        for (const [k, v] of q) {
          if (k === 'level' || k === 'paths') continue;
          if (!ctx.setLogLevel(v, k)) return text(LOGGING_USAGE, 404);
        }
      }
      return text(listLoggers(ctx));
    },
  },
  {
    prefix: '/memory',
    help: 'print current allocation/heap usage',
    mutates: false,
    run: (ctx) => json(ctx.memory()),
  },
  {
    prefix: '/quitquitquit',
    help: 'exit the server',
    mutates: true,
    run: (ctx) => ({ ...text('OK\n'), after: () => ctx.quit() }),
  },
  {
    prefix: '/ready',
    help: 'print server state, return 200 if LIVE, otherwise return 503',
    mutates: false,
    run: (ctx) => {
      const s = serverState(ctx);
      return text(s + '\n', s === 'LIVE' ? 200 : 503);
    },
  },
  {
    prefix: '/reopen_logs',
    help: 'reopen access logs',
    mutates: true,
    run: (ctx) => {
      ctx.reopenLogs();
      return text('OK\n');
    },
  },
  {
    prefix: '/reset_counters',
    help: 'reset all counters to zero',
    mutates: true,
    run: (ctx) => {
      for (const c of ctx.stats.counters.values()) c.value = 0;
      return text('OK\n');
    },
  },
  {
    prefix: '/runtime',
    help: 'print runtime values',
    mutates: false,
    run: (ctx) => json(ctx.runtime ? ctx.runtime() : { entries: {}, layers: [] }),
  },
  {
    prefix: '/server_info',
    help: 'print server version/status information',
    mutates: false,
    run: (ctx) => json(ctx.serverInfo()),
  },
  {
    prefix: '/stats',
    help: 'print server stats',
    mutates: false,
    params: [
      { id: 'usedonly', help: 'Only include stats that have been written by system since restart' },
      { id: 'filter', help: 'Regular expression (Google re2) for filtering stats' },
      { id: 'format', help: 'Format to use', choices: ['text', 'json', 'prometheus'] },
      { id: 'type', help: 'Stat types to include.', choices: STATS_TYPES },
    ],
    run: (ctx, q) => {
      const sq = statsQuery(q);
      if (isResponse(sq)) return sq;
      const format = q.get('format') ?? 'text';
      if (format === 'json') return json(renderStatsJson(ctx.stats, sq, ctx.histogramIntervals));
      if (format === 'prometheus') return text(renderPrometheus(ctx.stats, sq));
      if (format !== 'text') return text(`usage: /stats?format=(text|json|prometheus)\n`, 404);
      return text(renderStatsText(ctx.stats, sq, ctx.histogramIntervals));
    },
  },
  {
    prefix: '/stats/prometheus',
    help: 'print server stats in prometheus format',
    mutates: false,
    params: [
      { id: 'usedonly', help: 'Only include stats that have been written by system since restart' },
      { id: 'filter', help: 'Regular expression (Google re2) for filtering stats' },
    ],
    run: (ctx, q) => {
      const sq = statsQuery(q);
      if (isResponse(sq)) return sq;
      return text(renderPrometheus(ctx.stats, sq));
    },
  },
];

const BY_PREFIX = new Map(HANDLERS.map((h) => [h.prefix, h]));

/** Envoy's help listing: "admin commands are:" then "  /prefix (POST): help" lines, sorted. */
export function helpText(): string {
  let out = 'admin commands are:\n';
  const sorted = [...HANDLERS].sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : 0));
  for (const h of sorted) {
    out += `  ${h.prefix}${h.mutates ? ' (POST)' : ''}: ${h.help}\n`;
    for (const p of h.params ?? []) {
      out += `      ${p.id}: ${p.help}`;
      if (p.choices) out += `; One of (${p.choices.join(', ')})`;
      out += '\n';
    }
  }
  return out;
}

/** Handles one admin request without a socket (used by the server and by tests). */
export function handleAdminRequest(ctx: AdminContext, method: string, pathAndQuery: string): AdminResponse {
  const qi = pathAndQuery.indexOf('?');
  const path = qi === -1 ? pathAndQuery : pathAndQuery.slice(0, qi);
  const query = new URLSearchParams(qi === -1 ? '' : pathAndQuery.slice(qi + 1));
  const h = BY_PREFIX.get(path);
  if (!h) return text('invalid path. ' + helpText(), 404);
  const m = method.toUpperCase();
  // Superset of Envoy: listing loggers with a parameterless GET changes nothing.
  const readOnlyLogging = h.prefix === '/logging' && m === 'GET' && qi === -1;
  if (h.mutates && m !== 'POST' && !readOnlyLogging) {
    return text(`Method ${m} not allowed, POST required.`, 405);
  }
  try {
    if (readOnlyLogging) return text(listLoggers(ctx));
    return h.run(ctx, query, m);
  } catch (e) {
    return text(`admin handler error: ${e instanceof Error ? e.message : String(e)}\n`, 500);
  }
}

export interface AdminServer {
  /** Bound address and port (the real port when 0 was asked). */
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Starts the admin HTTP server on address:port (port 0 picks a free port). */
export function startAdmin(opts: { address: string; port: number; ctx: AdminContext }): Promise<AdminServer> {
  const { ctx } = opts;
  const server = http.createServer((req, res) => {
    // Drain any request body; admin takes parameters from the query string as Envoy does.
    req.resume();
    const r = handleAdminRequest(ctx, req.method ?? 'GET', req.url ?? '/');
    res.writeHead(r.status, {
      'content-type': r.contentType,
      'cache-control': 'no-cache, max-age=0',
      'x-content-type-options': 'nosniff',
      'content-length': Buffer.byteLength(r.body),
    });
    if (r.after) res.on('finish', r.after);
    res.end(req.method === 'HEAD' ? undefined : r.body);
  });
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once('error', onError);
    server.listen(opts.port, opts.address, () => {
      server.removeListener('error', onError);
      const a = server.address() as AddressInfo;
      resolve({
        address: a.address,
        port: a.port,
        close: () =>
          new Promise<void>((res2) => {
            server.close(() => res2());
            server.closeAllConnections();
          }),
      });
    });
  });
}

/** Builds Envoy's admin.v3.ServerInfo JSON (durations as "<seconds>s", as proto JSON prints them). */
export function serverInfoJson(o: {
  version: string;
  state: ServerState;
  uptimeCurrentEpochSec: number;
  uptimeAllEpochsSec: number;
  hotRestartVersion?: string;
  commandLineOptions?: object;
  node?: object;
}): object {
  return {
    version: o.version,
    state: o.state,
    hot_restart_version: o.hotRestartVersion ?? 'disabled',
    command_line_options: o.commandLineOptions ?? {},
    node: o.node ?? {},
    uptime_current_epoch: `${Math.floor(o.uptimeCurrentEpochSec)}s`,
    uptime_all_epochs: `${Math.floor(o.uptimeAllEpochsSec)}s`,
  };
}

/** Envoy's admin.v3.Memory JSON from Node's process.memoryUsage() (uint64 fields as strings). */
export function processMemoryJson(): object {
  const m = process.memoryUsage();
  return {
    allocated: String(m.heapUsed + m.external),
    heap_size: String(m.heapTotal),
    pageheap_unmapped: '0',
    pageheap_free: String(Math.max(0, m.heapTotal - m.heapUsed)),
    total_thread_cache: '0',
    total_physical_bytes: String(m.rss),
  };
}
