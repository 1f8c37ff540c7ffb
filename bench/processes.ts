// Child processes of the benchmark: every process is started here, pinned to a core, with a raised
// file-descriptor limit, in its own process group, and killed (group and all) at the end, on a signal
// or on an error. Nothing started through this module outlives the benchmark.
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface StartOptions {
  /** CPU core to pin the process to (taskset); undefined = no pinning. */
  cpu?: number;
  /** Soft/hard RLIMIT_NOFILE to ask for; falls back to the hard limit when that is lower. */
  nofile?: number;
  /** Keep stdin open as a pipe (for processes driven through it). */
  stdin?: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The last `max` characters a stream produced, kept without blocking the child. */
class Tail {
  private text = '';
  constructor(private readonly max = 16_384) {}
  push(chunk: Buffer): void {
    this.text += chunk.toString('utf8');
    if (this.text.length > 2 * this.max) this.text = this.text.slice(-this.max);
  }
  toString(): string {
    return this.text.slice(-this.max);
  }
}

export class Managed {
  exit: ExitInfo | undefined;
  readonly exited: Promise<ExitInfo>;
  private readonly out = new Tail();
  private readonly err = new Tail();

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.stdout?.on('data', (c: Buffer) => this.out.push(c));
    child.stderr?.on('data', (c: Buffer) => this.err.push(c));
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
      child.on('error', (e) => {
        this.err.push(Buffer.from(`spawn error: ${e.message}\n`));
        this.exit = { code: -1, signal: null };
        resolve(this.exit);
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  stdoutTail(): string {
    return this.out.toString();
  }

  /** The end of stderr (and stdout, which some programs log to), for error messages. */
  outputTail(lines = 40): string {
    const both = [this.err.toString(), this.out.toString()].filter((s) => s.trim()).join('\n--- stdout ---\n');
    return both.split('\n').slice(-lines).join('\n');
  }

  describeExit(): string {
    if (!this.exit) return 'running';
    return this.exit.signal ? `killed by ${this.exit.signal}` : `exited with code ${this.exit.code}`;
  }
}

/** Quotes one word for bash. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export function shellJoin(argv: string[]): string {
  return argv.map(shellQuote).join(' ');
}

/**
 * The bash script that raises the fd limit, pins itself to a core and then execs the command,
 * so the pid we hold is the command's own pid.
 */
function wrapperScript(commandLine: string, opts: StartOptions): string {
  const steps: string[] = [];
  if (opts.nofile) {
    const n = opts.nofile;
    steps.push(`ulimit -n ${n} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true`);
  }
  if (opts.cpu !== undefined) steps.push(`taskset -cp ${opts.cpu} $$ >/dev/null || exit 97`);
  steps.push(`exec ${commandLine}`);
  return steps.join('; ');
}

export class ProcessManager {
  private readonly procs: Managed[] = [];
  private stopping: Promise<void> | undefined;

  get shuttingDown(): boolean {
    return this.stopping !== undefined;
  }

  /** Starts an argv command (quoted for the shell). */
  start(name: string, argv: string[], opts: StartOptions = {}): Managed {
    return this.startShell(name, shellJoin(argv), opts);
  }

  /** Starts a shell command line (one command; exec'd after the limit and pinning are set). */
  startShell(name: string, commandLine: string, opts: StartOptions = {}): Managed {
    if (this.stopping) throw new Error(`not starting ${name}: shutting down`);
    const child = spawn('bash', ['-c', wrapperScript(commandLine, opts)], {
      detached: true, // own process group: we kill the whole group (nginx workers included)
      stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
    });
    const m = new Managed(name, child);
    this.procs.push(m);
    return m;
  }

  /** Stops one process group: SIGTERM, then SIGKILL after a grace period. */
  async stop(m: Managed, graceMs = 3000): Promise<void> {
    signalGroup(m.pid, 'SIGTERM');
    const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
    if ((await Promise.race([m.exited, timer])) === 'timeout') signalGroup(m.pid, 'SIGKILL');
    await Promise.race([m.exited, new Promise((r) => setTimeout(r, 1000).unref())]);
    // Workers of the group (e.g. nginx) may outlive the leader by a moment.
    signalGroup(m.pid, 'SIGKILL');
  }

  async stopAll(): Promise<void> {
    this.stopping ??= Promise.all(this.procs.map((m) => this.stop(m))).then(() => undefined);
    return this.stopping;
  }

  /** Last-resort synchronous cleanup for process 'exit'. */
  killAllSync(): void {
    for (const m of this.procs) signalGroup(m.pid, 'SIGKILL');
  }

  /** Pids still alive in any process group we started (should be empty after stopAll). */
  leftovers(): number[] {
    const groups = new Set(this.procs.map((m) => m.pid).filter((p) => p > 0));
    const found: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = readStat(Number(entry));
      if (stat && groups.has(stat.pgrp) && stat.state !== 'Z') found.push(Number(entry));
    }
    return found;
  }

  /** Installs handlers so that signals, errors and exit all tear the children down. */
  installCleanupHandlers(onFatal: (why: string) => void): void {
    process.on('exit', () => this.killAllSync());
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.on(sig, () => {
        onFatal(`interrupted by ${sig}`);
        void this.stopAll().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
      });
    }
    const fatal = (e: unknown) => {
      onFatal(e instanceof Error ? (e.stack ?? e.message) : String(e));
      void this.stopAll().finally(() => process.exit(1));
    };
    process.on('uncaughtException', fatal);
    process.on('unhandledRejection', fatal);
  }
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  if (pid <= 0) return;
  try {
    process.kill(-pid, sig);
  } catch {
    // already gone
  }
}

interface Stat {
  state: string;
  ppid: number;
  pgrp: number;
  utime: number;
  stime: number;
  /** CPU of reaped children (e.g. finished wrk runs). */
  cutime: number;
  cstime: number;
}

/** Parses /proc/<pid>/stat (the command name may contain spaces and parentheses). */
export function readStat(pid: number | 'self'): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state); utime/stime are fields 14/15.
  return { state: f[0], ppid: Number(f[1]), pgrp: Number(f[2]), utime: Number(f[11]), stime: Number(f[12]),
    cutime: Number(f[13]), cstime: Number(f[14]) };
}

/** Runs a process to completion with a time limit; resolves with its stdout. */
export async function runToEnd(pm: ProcessManager, m: Managed, timeoutMs: number): Promise<string> {
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
  if ((await Promise.race([m.exited, timer])) === 'timeout') {
    await pm.stop(m, 500);
    throw new Error(`${m.name} did not finish within ${Math.round(timeoutMs / 1000)} s\n${m.outputTail()}`);
  }
  return m.stdoutTail();
}
