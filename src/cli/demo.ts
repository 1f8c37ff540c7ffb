import { DEFAULT_CONFIG_DIR, runDemo, type DemoOptions } from '../demo/orchestrator';
import type { HostPort } from '../demo/topology';

/** `weft demo`: the command-line face of src/demo/orchestrator. */

export interface DemoCliOptions {
  configDir?: string;
  port: number;
  adminPort: number;
  xdsAddress: string;
  debugAddress: string;
  duration?: number;
  rps: number;
  readyTimeout: number;
}

function hostPort(text: string, flag: string): HostPort {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) > 65535) throw new Error(`${flag} "${text}": expected ip:port, e.g. 127.0.0.1:15010`);
  return { host: m[1], port: Number(m[2]) };
}

function port(n: number, flag: string): number {
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${flag} must be a port number 1-65535, got ${n}`);
  return n;
}

function nonNegative(n: number | undefined, flag: string): number | undefined {
  if (n !== undefined && (!Number.isFinite(n) || n < 0)) throw new Error(`${flag} must be a number ≥ 0, got ${n}`);
  return n;
}

export async function runDemoCli(cli: DemoCliOptions): Promise<number> {
  let opts: DemoOptions;
  try {
    opts = {
      configDir: cli.configDir ?? DEFAULT_CONFIG_DIR,
      port: port(cli.port, '--port'),
      adminPort: port(cli.adminPort, '--admin-port'),
      xdsAddress: hostPort(cli.xdsAddress, '--xds-address'),
      debugAddress: hostPort(cli.debugAddress, '--debug-address'),
      durationS: nonNegative(cli.duration, '--duration'),
      rps: nonNegative(cli.rps, '--rps') ?? 4,
      readyTimeoutS: nonNegative(cli.readyTimeout, '--ready-timeout') ?? 60,
      reportEveryS: 5,
    };
  } catch (e) {
    console.error(`weft demo: ${(e as Error).message}`);
    return 2;
  }
  return runDemo(opts, (line) => console.log(line));
}
