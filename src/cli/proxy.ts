import { ConfigError } from '../lib/config-error';
import { flushLogs, parseLevel, setLevel } from '../lib/log';
import { loadBootstrapFileIsolated } from '../xds/bootstrap-worker';
import { ProxyServer, validateBootstrap } from '../proxy/server';

export interface ProxyCliOptions {
  configPath: string;
  mode: string;
  drainTimeS: number;
  serviceNode?: string;
  serviceCluster?: string;
  serviceZone?: string;
  logLevel?: string;
}

function printConfigError(file: string, e: ConfigError): void {
  console.error(`error: ${file}: configuration rejected (${e.issues.length} problem${e.issues.length === 1 ? '' : 's'}):`);
  for (const i of e.issues) console.error(`  ${i.path || '(root)'}: ${i.message}`);
}

/** `weft proxy`: returns the process exit code (serve mode resolves only on a startup failure). */
export async function runProxy(opts: ProxyCliOptions, argv: string[]): Promise<number> {
  if (opts.logLevel !== undefined) {
    const lv = parseLevel(opts.logLevel);
    if (lv === undefined) {
      console.error(`error: unknown log level ${opts.logLevel}`);
      return 1;
    }
    setLevel(lv);
  }
  let bootstrap;
  try {
    bootstrap = await loadBootstrapFileIsolated(opts.configPath);
    if (opts.mode === 'validate') {
      validateBootstrap(bootstrap);
      console.log(`configuration '${opts.configPath}' OK`);
      return 0;
    }
  } catch (e) {
    if (e instanceof ConfigError) {
      printConfigError(opts.configPath, e);
      return 1;
    }
    console.error(`error: ${(e as Error).message}`);
    return 1;
  }
  const server = new ProxyServer(bootstrap, {
    drainTimeS: opts.drainTimeS,
    serviceNode: opts.serviceNode,
    serviceCluster: opts.serviceCluster,
    serviceZone: opts.serviceZone,
    commandLine: argv,
  });
  try {
    await server.start();
  } catch (e) {
    if (e instanceof ConfigError) printConfigError(opts.configPath, e);
    else console.error(`error: ${(e as Error).message}`);
    await server.shutdown(0).catch(() => undefined);
    return 1;
  }
  const stop = (signal: string): void => {
    console.error(`weft: ${signal} received, draining for up to ${opts.drainTimeS}s`);
    // Whatever hangs (a stuck log pipe, a peer that never closes), the process ends on time.
    setTimeout(() => process.exit(0), opts.drainTimeS * 1000 + 2000).unref();
    void server.shutdown().then(() => {
      flushLogs();
      process.exit(0);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return new Promise<number>(() => undefined);
}
