import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort } from './upstream';
import { waitFor } from './proxy';

/** Runs `weft control` as a child process (the way users run it) and stops it. */

const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

export interface RunningControl {
  readonly xdsPort: number;
  readonly debugPort: number;
  /** stdout + stderr so far, for assertion messages. */
  output(): string;
  debug(pathAndQuery: string): Promise<{ status: number; body: string }>;
  /** Kills the process and waits for it to exit. */
  stop(): Promise<void>;
}

export async function startControl(configDir: string, ports?: { xds: number; debug: number }): Promise<RunningControl> {
  const xdsPort = ports?.xds ?? (await freePort());
  const debugPort = ports?.debug ?? (await freePort());
  const child: ChildProcess = spawn(
    process.execPath,
    [CLI, 'control', '--config-dir', configDir, '--xds-address', `127.0.0.1:${xdsPort}`, '--debug-address', `127.0.0.1:${debugPort}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const keep = (d: Buffer): void => {
    out = (out + d.toString()).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = false;
  const exit = new Promise<void>((r) => child.once('exit', () => ((exited = true), r())));
  const debug = async (p: string): Promise<{ status: number; body: string }> => {
    const r = await fetch(`http://127.0.0.1:${debugPort}${p}`);
    return { status: r.status, body: await r.text() };
  };
  const stop = async (): Promise<void> => {
    if (!exited) child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exit;
    clearTimeout(t);
  };
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error(`weft control exited:\n${out}`);
        return (await debug('/ready').catch(() => ({ status: 0 }))).status === 200;
      },
      15_000,
      'weft control ready',
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return { xdsPort, debugPort, output: () => out, debug, stop };
}

/** Writes (or replaces) a file in a config directory atomically, as editors and kubectl-style tools do. */
export function writeConfig(dir: string, name: string, text: string): void {
  const tmp = path.join(dir, `.${name}.tmp`);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, path.join(dir, name));
}
