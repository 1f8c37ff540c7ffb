import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The demo's child processes: one per component, like a real mesh. Each writes stdout and stderr
 * to its own log file; stopping sends SIGTERM (the components drain) and SIGKILL after a bound.
 */

export interface ManagedChild {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Exit code or signal once it has exited. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<void>;
}

const TAIL_BYTES = 4096;

/** The last lines of a log file, for an error message. */
export function tailOf(file: string, maxLines = 15): string {
  try {
    const fd = fs.openSync(file, 'r');
    try {
      const size = fs.fstatSync(fd).size;
      const start = Math.max(0, size - TAIL_BYTES);
      const buf = Buffer.alloc(size - start);
      fs.readSync(fd, buf, 0, buf.length, start);
      return buf.toString('utf8').trimEnd().split('\n').slice(-maxLines).join('\n');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '(no log)';
  }
}

export function describeExit(c: ManagedChild): string {
  const e = c.exit;
  if (!e) return `${c.name} is running`;
  return `${c.name} (pid ${c.pid}) exited ${e.signal ? `on ${e.signal}` : `with code ${e.code}`}`;
}

export class ChildSet {
  private readonly children: ManagedChild[] = [];
  private readonly processes = new Map<ManagedChild, ChildProcess>();
  private stopping = false;
  private unexpectedExit: ((c: ManagedChild) => void) | undefined;

  constructor(readonly logDir: string) {}

  /** Called when a child exits before stopAll(). */
  onUnexpectedExit(listener: (c: ManagedChild) => void): void {
    this.unexpectedExit = listener;
  }

  /** Starts `node <script> <args>`; `ipc` gives it a channel whose loss tells it the demo is gone. */
  start(name: string, script: string, args: readonly string[], ipc = false): ManagedChild {
    // A start racing a stop (Ctrl-C while the demo is still starting) must not leave a process behind.
    if (this.stopping) throw new Error(`not starting ${name}: the demo is stopping`);
    const logFile = path.join(this.logDir, `${name}.log`);
    const fd = fs.openSync(logFile, 'a');
    let proc: ChildProcess;
    try {
      proc = spawn(process.execPath, [script, ...args], { stdio: ipc ? ['ignore', fd, fd, 'ipc'] : ['ignore', fd, fd] });
    } finally {
      fs.closeSync(fd);
    }
    let resolveExit: () => void = () => undefined;
    const child: ManagedChild = {
      name,
      pid: proc.pid ?? -1,
      logFile,
      exit: undefined,
      exited: new Promise<void>((r) => (resolveExit = r)),
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (child.exit) return;
      child.exit = { code, signal };
      resolveExit();
      if (!this.stopping) this.unexpectedExit?.(child);
    };
    proc.on('exit', onExit);
    proc.on('error', (e) => {
      fs.appendFileSync(logFile, `weft demo: cannot start ${name}: ${e.message}\n`);
      onExit(127, null);
    });
    this.children.push(child);
    this.processes.set(child, proc);
    return child;
  }

  /**
   * From now on exits are expected. Called as soon as the demo decides to stop: Ctrl-C in a terminal
   * reaches the children too (one process group), and they may exit before stopInOrder starts.
   */
  expectExits(): void {
    this.stopping = true;
  }

  all(): readonly ManagedChild[] {
    return this.children;
  }

  /** SIGTERM to each group, waiting for it (at most `graceMs`, then SIGKILL) before the next. */
  async stopInOrder(groups: readonly (readonly ManagedChild[])[], graceMs: number): Promise<void> {
    this.stopping = true;
    for (const group of groups) await Promise.all(group.map((c) => this.stopOne(c, graceMs)));
    // Anything not in a group goes last.
    await Promise.all(this.children.map((c) => this.stopOne(c, graceMs)));
  }

  private async stopOne(child: ManagedChild, graceMs: number): Promise<void> {
    if (child.exit) return;
    const proc = this.processes.get(child);
    proc?.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        proc?.kill('SIGKILL');
        resolve();
      }, graceMs);
    });
    await Promise.race([child.exited, killed]);
    clearTimeout(timer);
    await child.exited;
  }

  /** Last resort when the demo itself exits abruptly: nothing it started may outlive it. */
  killAllNow(): void {
    this.stopping = true;
    for (const [child, proc] of this.processes) if (!child.exit) proc.kill('SIGKILL');
  }
}
