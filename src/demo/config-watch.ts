import { execFile, type ChildProcess } from 'node:child_process';
import { DirWatch } from '../lib/dir-watch';

/**
 * Tells the demo's user what became of an edit: when a YAML file in the config directory changes,
 * runs `weft control --validate DIR` (the same checks the serving control plane applies) and
 * reports "valid" or its problems. One validation at a time; edits during one trigger one more.
 */

const DEBOUNCE_MS = 300;
const VALIDATE_TIMEOUT_MS = 20_000;
const MAX_OUTPUT_BYTES = 64 << 10;
const MAX_PENDING_FILES = 100;

const interesting = (name: string): boolean => /\.ya?ml$/.test(name) && !name.split(/[\\/]/).some((part) => part.startsWith('.'));

export class ConfigWatch {
  private watcher: DirWatch | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly pending = new Set<string>();
  private running: ChildProcess | undefined;
  private closed = false;

  constructor(
    private readonly dir: string,
    private readonly cli: string,
    private readonly print: (line: string) => void,
  ) {}

  start(): void {
    try {
      this.watcher = new DirWatch(
        this.dir,
        (name) => {
          if (name && interesting(name)) this.changed(name);
        },
        { onError: (e) => this.print(`weft demo: stopped watching ${this.dir}: ${e.message}`) },
      );
    } catch (e) {
      this.print(`weft demo: cannot watch ${this.dir} (${(e as Error).message}); edits still reach weft control, but the demo will not report them`);
    }
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    if (this.timer) clearTimeout(this.timer);
    this.running?.kill('SIGKILL');
  }

  private changed(name: string): void {
    if (this.pending.size < MAX_PENDING_FILES) this.pending.add(name);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.validate(), DEBOUNCE_MS);
  }

  private validate(): void {
    this.timer = undefined;
    if (this.running || this.closed || this.pending.size === 0) return;
    const files = [...this.pending].sort().join(', ');
    this.pending.clear();
    this.running = execFile(
      process.execPath,
      [this.cli, 'control', '--validate', this.dir],
      { timeout: VALIDATE_TIMEOUT_MS, maxBuffer: MAX_OUTPUT_BYTES, encoding: 'utf8' },
      (err, stdout, stderr) => {
        this.running = undefined;
        if (this.closed) return;
        const stamp = new Date().toISOString().slice(11, 19);
        if (!err) {
          this.print(`[${stamp}] ${files} changed: valid; weft control pushes the change to the sidecars`);
        } else {
          const detail = `${stdout}${stderr}`.trim().split('\n').slice(0, 30).map((l) => `    ${l}`).join('\n');
          this.print(`[${stamp}] ${files} changed: weft control --validate reports problems (weft control skips invalid resources and keeps serving the rest):\n${detail}`);
        }
        if (this.pending.size > 0) this.validate();
      },
    );
  }
}
