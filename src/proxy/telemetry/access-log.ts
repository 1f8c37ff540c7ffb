/**
 * Access logs configured by Envoy's `envoy.config.accesslog.v3.AccessLog` list (decoded form).
 *
 * Supported typed_config:
 *  - envoy.extensions.access_loggers.file.v3.FileAccessLog: path, format, json_format, log_format
 *  - envoy.extensions.access_loggers.stream.v3.StdoutAccessLog / StderrAccessLog: log_format
 * log_format (SubstitutionFormatString): text_format, text_format_source.inline_string,
 * json_format, omit_empty_values, content_type.
 * Filters: status_code_filter, duration_filter, not_health_check_filter, response_flag_filter,
 * and_filter, or_filter. Anything else set is a ConfigIssue naming its path.
 *
 * Writing never blocks the data path: `log()` formats the line and appends it to an in-memory
 * buffer; the buffer is written with one write per flush, every 100 ms or as soon as 64 KiB is
 * pending. The buffer is bounded (4 MiB by default): when full, lines are dropped and counted.
 * One buffer per file path, shared by every logger writing it (as Envoy shares files).
 *
 * Stats (Envoy's filesystem.* names, plus Weft's write_dropped):
 *   filesystem.write_buffered, filesystem.write_completed, filesystem.write_failed,
 *   filesystem.flushed_by_timer, filesystem.reopen_failed, filesystem.write_dropped (counters),
 *   filesystem.write_total_buffered (gauge, bytes).
 */
import * as fs from 'node:fs';
import { ConfigError, joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { ResponseFlag, type StreamInfo } from '../stream-info';
import { compileFormatter, compileJsonFormatter, DEFAULT_ACCESS_LOG_FORMAT, type Formatter } from './format';
import { StatsStore, type Counter, type Gauge } from './stats';

export interface AccessLogger {
  log(info: StreamInfo): void;
}

const FILE_TYPE = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';
const STDOUT_TYPE = 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog';
const STDERR_TYPE = 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StderrAccessLog';

// ---------------------------------------------------------------------------------------------
// Buffered sinks

export interface LogSinkOptions {
  /** Flush interval, ms (Envoy's file_flush_interval; default 100 ms here). */
  flushIntervalMs?: number;
  /** Pending bytes that trigger an immediate (next tick) flush. */
  flushBytes?: number;
  /** Bound on pending bytes; lines beyond it are dropped and counted. */
  maxBufferBytes?: number;
}

interface FsStats {
  writeBuffered: Counter;
  writeCompleted: Counter;
  writeFailed: Counter;
  flushedByTimer: Counter;
  reopenFailed: Counter;
  writeDropped: Counter;
  totalBuffered: Gauge;
}

function fsStats(store: StatsStore): FsStats {
  return {
    writeBuffered: store.counter('filesystem.write_buffered'),
    writeCompleted: store.counter('filesystem.write_completed'),
    writeFailed: store.counter('filesystem.write_failed'),
    flushedByTimer: store.counter('filesystem.flushed_by_timer'),
    reopenFailed: store.counter('filesystem.reopen_failed'),
    writeDropped: store.counter('filesystem.write_dropped'),
    totalBuffered: store.gauge('filesystem.write_total_buffered'),
  };
}

/** Where a buffered sink's bytes go. */
interface Target {
  write(data: string): Promise<void>;
  reopen(): Promise<void>;
  close(): Promise<void>;
}

class FileTarget implements Target {
  private fd: fs.promises.FileHandle | null = null;
  private wantReopen = false;
  constructor(
    readonly path: string,
    private readonly stats: FsStats,
  ) {}

  private async ensureOpen(): Promise<fs.promises.FileHandle> {
    if (this.fd && this.wantReopen) {
      this.wantReopen = false;
      const old = this.fd;
      this.fd = null;
      await old.close().catch(() => undefined);
    }
    if (!this.fd) {
      try {
        this.fd = await fs.promises.open(this.path, 'a');
      } catch (e) {
        this.stats.reopenFailed.inc();
        throw e;
      }
    }
    return this.fd;
  }

  async write(data: string): Promise<void> {
    const fd = await this.ensureOpen();
    await fd.write(data);
  }

  async reopen(): Promise<void> {
    this.wantReopen = true;
  }

  async close(): Promise<void> {
    const fd = this.fd;
    this.fd = null;
    if (fd) await fd.close().catch(() => undefined);
  }
}

class StreamTarget implements Target {
  constructor(private readonly stream: NodeJS.WritableStream) {}
  write(data: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.stream.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }
  async reopen(): Promise<void> {}
  async close(): Promise<void> {}
}

/** An in-memory, bounded line buffer flushed asynchronously to a target, one write per flush. */
export class BufferedLogSink {
  private chunks: string[] = [];
  private pending = 0;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private writing: Promise<void> | null = null;
  private readonly flushIntervalMs: number;
  private readonly flushBytes: number;
  private readonly maxBufferBytes: number;

  constructor(
    private readonly target: Target,
    private readonly stats: FsStats,
    opts: LogSinkOptions = {},
  ) {
    this.flushIntervalMs = opts.flushIntervalMs ?? 100;
    this.flushBytes = opts.flushBytes ?? 64 * 1024;
    this.maxBufferBytes = opts.maxBufferBytes ?? 4 * 1024 * 1024;
  }

  /** Bytes buffered and not yet handed to a write. */
  get pendingBytes(): number {
    return this.pending;
  }

  /** Appends one line (already formatted). Never blocks; drops and counts when the buffer is full. */
  append(line: string): void {
    // Byte length for ASCII lines equals string length; Buffer.byteLength only when needed.
    const len = line.length;
    if (this.pending + len > this.maxBufferBytes) {
      this.stats.writeDropped.inc();
      return;
    }
    this.chunks.push(line);
    this.pending += len;
    this.stats.writeBuffered.inc();
    this.stats.totalBuffered.add(len);
    if (this.pending >= this.flushBytes) {
      if (!this.immediate && !this.writing) this.immediate = setImmediate(() => this.flushNow(false));
    } else if (!this.timer) {
      this.timer = setTimeout(() => this.flushNow(true), this.flushIntervalMs);
      this.timer.unref();
    }
  }

  private flushNow(byTimer: boolean): void {
    this.immediate = null;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.writing || this.pending === 0) return;
    if (byTimer) this.stats.flushedByTimer.inc();
    const data = this.chunks.length === 1 ? this.chunks[0] : this.chunks.join('');
    const len = this.pending;
    this.chunks = [];
    this.pending = 0;
    this.writing = this.target
      .write(data)
      .then(
        () => this.stats.writeCompleted.inc(),
        () => this.stats.writeFailed.inc(),
      )
      .finally(() => {
        this.stats.totalBuffered.sub(len);
        this.writing = null;
        if (this.pending > 0) {
          if (this.pending >= this.flushBytes) this.flushNow(false);
          else if (!this.timer) {
            this.timer = setTimeout(() => this.flushNow(true), this.flushIntervalMs);
            this.timer.unref();
          }
        }
      });
  }

  /** Writes everything buffered; resolves when it is on its way to the OS. */
  async flush(): Promise<void> {
    while (this.writing || this.pending > 0) {
      if (this.writing) await this.writing;
      else this.flushNow(false);
    }
  }

  /** Reopens the target (log rotation) before the next write. */
  async reopen(): Promise<void> {
    await this.target.reopen();
  }

  async close(): Promise<void> {
    await this.flush();
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
    await this.target.close();
  }
}

/**
 * Owns the buffered sinks, one per file path (plus stdout/stderr), their stats, SIGUSR1 reopen,
 * and shutdown flushing. A process normally uses `defaultAccessLogFiles`.
 */
export class AccessLogFileManager {
  private readonly sinks = new Map<string, BufferedLogSink>();
  private stats: FsStats;
  private signalInstalled = false;
  private readonly onSignal = (): void => {
    void this.reopenAll();
  };

  constructor(
    store: StatsStore = new StatsStore(),
    private readonly opts: LogSinkOptions = {},
  ) {
    this.stats = fsStats(store);
  }

  /** Points the filesystem.* stats at the server's store (affects sinks opened afterwards). */
  setStats(store: StatsStore): void {
    this.stats = fsStats(store);
  }

  file(path: string): BufferedLogSink {
    let s = this.sinks.get(path);
    if (!s) {
      s = new BufferedLogSink(new FileTarget(path, this.stats), this.stats, this.opts);
      this.sinks.set(path, s);
      this.installSignal();
    }
    return s;
  }

  stdout(): BufferedLogSink {
    return this.stream('<stdout>', process.stdout);
  }

  stderr(): BufferedLogSink {
    return this.stream('<stderr>', process.stderr);
  }

  private stream(key: string, w: NodeJS.WritableStream): BufferedLogSink {
    let s = this.sinks.get(key);
    if (!s) this.sinks.set(key, (s = new BufferedLogSink(new StreamTarget(w), this.stats, this.opts)));
    return s;
  }

  /** Reopens every file at its next flush (Envoy's /reopen_logs and SIGUSR1). */
  async reopenAll(): Promise<void> {
    await Promise.all([...this.sinks.values()].map((s) => s.reopen()));
  }

  /** Flushes every buffer; call on shutdown. */
  async flushAll(): Promise<void> {
    await Promise.all([...this.sinks.values()].map((s) => s.flush()));
  }

  /** Flushes and closes everything, removing the SIGUSR1 handler. */
  async closeAll(): Promise<void> {
    const sinks = [...this.sinks.values()];
    this.sinks.clear();
    await Promise.all(sinks.map((s) => s.close()));
    if (this.signalInstalled) {
      process.removeListener('SIGUSR1', this.onSignal);
      this.signalInstalled = false;
    }
  }

  private installSignal(): void {
    if (this.signalInstalled || process.platform === 'win32') return;
    this.signalInstalled = true;
    process.on('SIGUSR1', this.onSignal);
  }
}

/** The process-wide manager used when compileAccessLogs is not given one. */
export const defaultAccessLogFiles = new AccessLogFileManager();

/** Flushes every default access log buffer (shutdown). */
export function flushAll(): Promise<void> {
  return defaultAccessLogFiles.flushAll();
}

/** Reopens every default access log file (log rotation). */
export function reopenAll(): Promise<void> {
  return defaultAccessLogFiles.reopenAll();
}

// ---------------------------------------------------------------------------------------------
// Filters

type Filter = (info: StreamInfo) => boolean;

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function compileComparison(c: unknown, path: string, issues: ConfigIssue[]): ((v: number) => boolean) | null {
  if (!isObj(c)) {
    issues.push({ path, message: 'comparison is required' });
    return null;
  }
  rejectUnsupported(c, path, ['op', 'value'], issues);
  const op = c.op === undefined ? 'EQ' : c.op;
  const value = c.value;
  let n = 0;
  if (isObj(value)) {
    rejectUnsupported(value, joinPath(path, 'value'), ['default_value', 'runtime_key'], issues);
    n = typeof value.default_value === 'number' ? value.default_value : 0;
    // runtime_key is required by Envoy; Weft has no runtime layer, so default_value always applies.
  }
  switch (op) {
    case 'EQ':
      return (v) => v === n;
    case 'GE':
      return (v) => v >= n;
    case 'LE':
      return (v) => v <= n;
    case 'NE':
      return (v) => v !== n;
    default:
      issues.push({ path: joinPath(path, 'op'), message: `unknown comparison op ${String(op)}` });
      return null;
  }
}

const FLAG_BY_CODE: Record<string, number> = {
  LH: ResponseFlag.FailedLocalHealthCheck,
  UH: ResponseFlag.NoHealthyUpstream,
  UT: ResponseFlag.UpstreamRequestTimeout,
  LR: ResponseFlag.LocalReset,
  UR: ResponseFlag.UpstreamRemoteReset,
  UF: ResponseFlag.UpstreamConnectionFailure,
  UC: ResponseFlag.UpstreamConnectionTermination,
  UO: ResponseFlag.UpstreamOverflow,
  NR: ResponseFlag.NoRouteFound,
  DI: ResponseFlag.DelayInjected,
  FI: ResponseFlag.FaultInjected,
  RL: ResponseFlag.RateLimited,
  UAEX: ResponseFlag.UnauthorizedExternalService,
  RLSE: ResponseFlag.RateLimitServiceError,
  DC: ResponseFlag.DownstreamConnectionTermination,
  URX: ResponseFlag.UpstreamRetryLimitExceeded,
  SI: ResponseFlag.StreamIdleTimeout,
  IH: ResponseFlag.InvalidEnvoyRequestHeaders,
  DPE: ResponseFlag.DownstreamProtocolError,
  UMSDR: ResponseFlag.UpstreamMaxStreamDurationReached,
  NFCF: ResponseFlag.NoFilterConfigFound,
  DT: ResponseFlag.DurationTimeout,
  UPE: ResponseFlag.UpstreamProtocolError,
  NC: ResponseFlag.NoClusterFound,
  OM: ResponseFlag.OverloadManager,
  DR: ResponseFlag.DownstreamRemoteReset,
};

const FILTER_KINDS = [
  'status_code_filter',
  'duration_filter',
  'not_health_check_filter',
  'traceable_filter',
  'runtime_filter',
  'and_filter',
  'or_filter',
  'header_filter',
  'response_flag_filter',
  'grpc_status_filter',
  'extension_filter',
  'metadata_filter',
  'log_type_filter',
];

/** A stream is a health check when the health_check filter marked it (optional field on StreamInfo). */
function isHealthCheck(info: StreamInfo): boolean {
  return (info as StreamInfo & { healthCheck?: boolean }).healthCheck === true;
}

function compileFilter(f: unknown, path: string, issues: ConfigIssue[]): Filter | null {
  if (!isObj(f)) {
    issues.push({ path, message: 'filter must be an object' });
    return null;
  }
  const keys = Object.keys(f);
  if (keys.length !== 1) {
    issues.push({ path, message: `exactly one filter type must be set (got ${keys.length})` });
    return null;
  }
  const kind = keys[0];
  const body = f[kind];
  const p = joinPath(path, kind);
  switch (kind) {
    case 'status_code_filter': {
      if (!isObj(body)) break;
      rejectUnsupported(body, p, ['comparison'], issues);
      const cmp = compileComparison(body.comparison, joinPath(p, 'comparison'), issues);
      return cmp && ((i) => cmp(i.responseCode));
    }
    case 'duration_filter': {
      if (!isObj(body)) break;
      rejectUnsupported(body, p, ['comparison'], issues);
      const cmp = compileComparison(body.comparison, joinPath(p, 'comparison'), issues);
      return cmp && ((i) => cmp(i.durationMs < 0 ? 0 : Math.floor(i.durationMs)));
    }
    case 'not_health_check_filter':
      if (isObj(body)) rejectUnsupported(body, p, [], issues);
      return (i) => !isHealthCheck(i);
    case 'response_flag_filter': {
      if (!isObj(body)) break;
      rejectUnsupported(body, p, ['flags'], issues);
      const flags = Array.isArray(body.flags) ? body.flags : [];
      let mask = 0;
      flags.forEach((code, idx) => {
        const bit = typeof code === 'string' ? FLAG_BY_CODE[code] : undefined;
        if (bit === undefined) {
          issues.push({ path: joinPath(joinPath(p, 'flags'), idx), message: `unknown response flag ${String(code)}` });
        } else mask |= bit;
      });
      if (flags.length === 0) return (i) => i.responseFlags !== 0;
      return (i) => (i.responseFlags & mask) !== 0;
    }
    case 'and_filter':
    case 'or_filter': {
      if (!isObj(body)) break;
      rejectUnsupported(body, p, ['filters'], issues);
      const list = Array.isArray(body.filters) ? body.filters : [];
      if (list.length < 2) issues.push({ path: joinPath(p, 'filters'), message: 'at least 2 filters are required' });
      const subs = list.map((s, idx) => compileFilter(s, joinPath(joinPath(p, 'filters'), idx), issues));
      if (subs.some((s) => s === null)) return null;
      const fs2 = subs as Filter[];
      return kind === 'and_filter'
        ? (i) => {
            for (const s of fs2) if (!s(i)) return false;
            return true;
          }
        : (i) => {
            for (const s of fs2) if (s(i)) return true;
            return false;
          };
    }
    default:
      if (FILTER_KINDS.includes(kind)) {
        issues.push({ path: p, message: 'access log filter is not implemented by Weft' });
      } else {
        issues.push({ path: p, message: 'unknown access log filter' });
      }
      return null;
  }
  issues.push({ path: p, message: 'filter must be an object' });
  return null;
}

// ---------------------------------------------------------------------------------------------
// Formats

function catchFormat(build: () => Formatter, path: string, issues: ConfigIssue[]): Formatter | null {
  try {
    return build();
  } catch (e) {
    if (e instanceof ConfigError) {
      for (const i of e.issues) issues.push({ path: i.path ? joinPath(path, i.path) : path, message: i.message });
      return null;
    }
    throw e;
  }
}

/** Compiles SubstitutionFormatString (log_format). */
export function compileSubstitutionFormat(fmt: unknown, path: string, issues: ConfigIssue[]): Formatter | null {
  if (!isObj(fmt)) {
    issues.push({ path, message: 'log_format must be an object' });
    return null;
  }
  rejectUnsupported(
    fmt,
    path,
    ['text_format', 'text_format_source', 'json_format', 'omit_empty_values', 'content_type', 'formatters', 'json_format_options'],
    issues,
  );
  if (Array.isArray(fmt.formatters) && fmt.formatters.length > 0) {
    issues.push({ path: joinPath(path, 'formatters'), message: 'formatter extensions are not implemented by Weft' });
  }
  if (isObj(fmt.json_format_options) && fmt.json_format_options.sort_properties === true) {
    issues.push({ path: joinPath(path, 'json_format_options.sort_properties'), message: 'field is not implemented by Weft' });
  }
  const opts = { omitEmptyValues: fmt.omit_empty_values === true };
  if (typeof fmt.text_format === 'string') {
    const t = fmt.text_format;
    return catchFormat(() => compileFormatter(t, opts), joinPath(path, 'text_format'), issues);
  }
  if (fmt.text_format_source !== undefined) {
    const src = fmt.text_format_source;
    const p = joinPath(path, 'text_format_source');
    if (!isObj(src)) {
      issues.push({ path: p, message: 'must be an object' });
      return null;
    }
    rejectUnsupported(src, p, ['inline_string'], issues);
    if (typeof src.inline_string !== 'string') {
      if (src.inline_string === undefined && Object.keys(src).length === 0) {
        issues.push({ path: p, message: 'a data source must be set' });
      }
      return null;
    }
    const t = src.inline_string;
    return catchFormat(() => compileFormatter(t, opts), joinPath(p, 'inline_string'), issues);
  }
  if (fmt.json_format !== undefined) {
    const j = fmt.json_format;
    if (!isObj(j)) {
      issues.push({ path: joinPath(path, 'json_format'), message: 'must be an object' });
      return null;
    }
    return catchFormat(() => compileJsonFormatter(j, opts), joinPath(path, 'json_format'), issues);
  }
  issues.push({ path, message: 'one of text_format, text_format_source or json_format must be set' });
  return null;
}

function defaultFormatter(): Formatter {
  return compileFormatter(DEFAULT_ACCESS_LOG_FORMAT);
}

// ---------------------------------------------------------------------------------------------
// Compile

export interface CompileAccessLogOptions {
  /** Sink manager (default: the process-wide defaultAccessLogFiles). */
  files?: AccessLogFileManager;
}

class SinkLogger implements AccessLogger {
  constructor(
    private readonly filter: Filter | null,
    private readonly format: Formatter,
    private readonly sink: BufferedLogSink,
  ) {}
  log(info: StreamInfo): void {
    if (this.filter !== null && !this.filter(info)) return;
    this.sink.append(this.format(info));
  }
}

/**
 * Compiles `access_log` (envoy.config.accesslog.v3.AccessLog[]). Problems are pushed to `issues`
 * with their field path; loggers with problems are left out of the result.
 */
export function compileAccessLogs(
  decoded: unknown[],
  path: string,
  issues: ConfigIssue[],
  opts: CompileAccessLogOptions = {},
): AccessLogger[] {
  const files = opts.files ?? defaultAccessLogFiles;
  const out: AccessLogger[] = [];
  decoded.forEach((entry, idx) => {
    const p = joinPath(path, idx);
    const before = issues.length;
    if (!isObj(entry)) {
      issues.push({ path: p, message: 'access log must be an object' });
      return;
    }
    rejectUnsupported(entry, p, ['name', 'filter', 'typed_config'], issues);
    const filter = entry.filter === undefined ? null : compileFilter(entry.filter, joinPath(p, 'filter'), issues);
    const tc = entry.typed_config;
    const tp = joinPath(p, 'typed_config');
    if (!isObj(tc)) {
      issues.push({ path: tp, message: 'typed_config is required' });
      return;
    }
    const type = tc['@type'];
    let format: Formatter | null = null;
    let sink: BufferedLogSink | null = null;
    if (type === FILE_TYPE) {
      rejectUnsupported(tc, tp, ['path', 'format', 'json_format', 'typed_json_format', 'log_format'], issues);
      if (typeof tc.path !== 'string' || tc.path === '') {
        issues.push({ path: joinPath(tp, 'path'), message: 'path is required' });
      }
      const set = ['format', 'json_format', 'typed_json_format', 'log_format'].filter((k) => tc[k] !== undefined);
      if (set.length > 1) issues.push({ path: tp, message: `only one of ${set.join(', ')} may be set` });
      if (typeof tc.format === 'string') {
        const f = tc.format;
        format = catchFormat(() => compileFormatter(f), joinPath(tp, 'format'), issues);
      } else if (isObj(tc.json_format) || isObj(tc.typed_json_format)) {
        const key = isObj(tc.json_format) ? 'json_format' : 'typed_json_format';
        const j = tc[key] as Record<string, unknown>;
        format = catchFormat(() => compileJsonFormatter(j), joinPath(tp, key), issues);
      } else if (tc.log_format !== undefined) {
        format = compileSubstitutionFormat(tc.log_format, joinPath(tp, 'log_format'), issues);
      } else format = defaultFormatter();
      if (issues.length === before && typeof tc.path === 'string') sink = files.file(tc.path);
    } else if (type === STDOUT_TYPE || type === STDERR_TYPE) {
      rejectUnsupported(tc, tp, ['log_format'], issues);
      format =
        tc.log_format === undefined
          ? defaultFormatter()
          : compileSubstitutionFormat(tc.log_format, joinPath(tp, 'log_format'), issues);
      if (issues.length === before) sink = type === STDOUT_TYPE ? files.stdout() : files.stderr();
    } else {
      issues.push({ path: joinPath(tp, '@type'), message: `access logger ${String(type)} is not implemented by Weft` });
      return;
    }
    if (issues.length !== before || !format || !sink) return;
    out.push(new SinkLogger(filter, format, sink));
  });
  return out;
}
