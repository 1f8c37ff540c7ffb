#!/usr/bin/env node
import { Command, Option } from 'commander';

/** The weft command line: one entry point for every part of the mesh. */
const program = new Command();
program.name('weft').description('Weft service mesh').version('0.1.0');

program
  .command('proxy')
  .description('run the data-plane proxy from an Envoy v3 bootstrap')
  .requiredOption('-c, --config-path <file>', 'Envoy v3 Bootstrap, YAML or JSON')
  .addOption(new Option('--mode <mode>', 'serve, or validate the config and exit').choices(['serve', 'validate']).default('serve'))
  .option('--drain-time-s <seconds>', 'seconds to drain connections on shutdown', (v) => Number(v), 5)
  .option('--service-node <id>', 'node id (overrides node.id)')
  .option('--service-cluster <name>', 'node cluster (overrides node.cluster)')
  .option('--service-zone <zone>', 'node locality zone (overrides node.locality.zone)')
  .option('-l, --log-level <level>', 'trace, debug, info, warn, error, critical, off')
  .action(async (opts: { configPath: string; mode: string; drainTimeS: number; serviceNode?: string; serviceCluster?: string; serviceZone?: string; logLevel?: string }) => {
    // Each command loads only its own modules: a proxy process stays small.
    const { runProxy } = await import('./proxy');
    process.exitCode = await runProxy(opts, process.argv.slice(2));
  });

program
  .command('demo')
  .description('run a local demo: a Weft proxy in front of two sample upstreams')
  .option('--port <port>', 'listener port', (v) => Number(v), 10000)
  .option('--admin-port <port>', 'admin port', (v) => Number(v), 9901)
  .option('--duration <seconds>', 'stop after this many seconds (default: run until Ctrl-C)', (v) => Number(v))
  .action(async (opts: { port: number; adminPort: number; duration?: number }) => {
    const { runDemo } = await import('./demo');
    process.exitCode = await runDemo(opts);
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
