/** `weft control`: serve the mesh's configuration over xDS, or validate a config directory. */
import type { ConfigProblem, MeshSource } from '../control/contracts';
import { DebugServer, DEFAULT_DEBUG_ADDRESS } from '../control/debug/debug-server';
import { AdsServer, DEFAULT_MAX_CONNECTIONS, DEFAULT_XDS_ADDRESS, grpcBindAddress } from '../control/server/ads-server';
import { logger } from '../lib/log';

export interface ControlOptions {
  readonly configDir?: string;
  readonly validate?: string;
  readonly xdsAddress?: string;
  readonly debugAddress?: string;
  readonly maxConnections?: number;
}

const log = logger('control');

/** One problem per line: `file: resource field: message`. */
export function formatProblem(p: ConfigProblem): string {
  return `${p.file}: ${p.resource}${p.field ? ` ${p.field}` : ''}: ${p.message}`;
}

async function validate(dir: string): Promise<number> {
  const { validateConfigDir } = await import('../control/validate');
  const problems = await validateConfigDir(dir);
  for (const p of problems) process.stdout.write(`${formatProblem(p)}\n`);
  process.stderr.write(problems.length ? `${problems.length} problem(s) in ${dir}\n` : `${dir}: no problems\n`);
  return problems.length ? 1 : 0;
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (s: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(s);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/** Opens the mesh model for a config dir; tests pass their own. */
export type OpenMeshSource = (configDir: string) => Promise<MeshSource>;

async function openModel(configDir: string): Promise<MeshSource> {
  const { openMeshSource } = await import('../control/mesh-source');
  return openMeshSource(configDir);
}

async function serve(opts: ControlOptions & { configDir: string }, open: OpenMeshSource): Promise<number> {
  const xdsAddress = opts.xdsAddress ?? DEFAULT_XDS_ADDRESS;
  grpcBindAddress(xdsAddress);
  const maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  if (!Number.isInteger(maxConnections) || maxConnections < 1) throw new Error(`--max-connections must be a positive integer, got ${String(opts.maxConnections)}`);
  const source = await open(opts.configDir);
  for (const p of source.problems()) log.warn(`skipped: ${formatProblem(p)}`);
  let ads: AdsServer | undefined;
  let debug: DebugServer | undefined;
  try {
    ads = await AdsServer.start(source, { xdsAddress, maxConnections });
    debug = await DebugServer.start(ads, opts.debugAddress ?? DEFAULT_DEBUG_ADDRESS);
    log.info(`serving ${opts.configDir} at version ${ads.snapshot().version}: xDS ${ads.address}, debug http://${debug.address}`);
    const signal = await waitForSignal();
    log.info(`${signal}: shutting down`);
    return 0;
  } finally {
    await debug?.close();
    await ads?.close();
    await source.close();
  }
}

export async function runControl(opts: ControlOptions, open: OpenMeshSource = openModel): Promise<number> {
  try {
    if (opts.validate !== undefined) return await validate(opts.validate);
    if (!opts.configDir) {
      process.stderr.write('weft control: --config-dir DIR is required (or --validate DIR)\n');
      return 2;
    }
    return await serve({ ...opts, configDir: opts.configDir }, open);
  } catch (e) {
    process.stderr.write(`weft control: ${(e as Error).message}\n`);
    return 1;
  }
}
