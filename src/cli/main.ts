#!/usr/bin/env node
import { Argument, Command, Option } from 'commander';

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
  .description('run a bookinfo-like mesh on this machine: weft control, sample services, a Weft sidecar each, live traffic')
  .option('--config-dir <dir>', 'the mesh\'s Istio + Kubernetes YAML (default: examples/demo of this package)')
  .option('--port <port>', 'entry point on 127.0.0.1', (v) => Number(v), 10000)
  .option('--admin-port <port>', 'admin port of the entry (edge) proxy on 127.0.0.1', (v) => Number(v), 9901)
  .option('--xds-address <ip:port>', 'where weft control serves xDS', '127.0.0.1:15010')
  .option('--debug-address <ip:port>', 'where weft control serves its debug endpoints', '127.0.0.1:15014')
  .option('--rps <n>', 'requests per second of demo traffic (0: none)', (v) => Number(v), 4)
  .option('--ready-timeout <seconds>', 'how long to wait for the mesh to be ready', (v) => Number(v), 60)
  .option('--duration <seconds>', 'stop after this many seconds (default: run until Ctrl-C)', (v) => Number(v))
  .action(async (opts: import('./demo').DemoCliOptions) => {
    const { runDemoCli } = await import('./demo');
    process.exitCode = await runDemoCli(opts);
  });

program
  .command('control')
  .description('run the control plane: serve Istio config and a service registry over xDS (ADS)')
  .option('--config-dir <dir>', 'directory of Istio and Kubernetes YAML to serve (watched)')
  .option('--validate <dir>', 'check a config directory, print its problems, exit 1 if any')
  .option('--xds-address <address>', 'xDS listen address, host:port or unix:/path', '127.0.0.1:15010')
  .option('--debug-address <address>', 'metrics and debug endpoints, host:port', '127.0.0.1:15014')
  .option('--max-connections <n>', 'most concurrent xDS streams', (v) => Number(v), 10_000)
  .action(async (opts: { configDir?: string; validate?: string; xdsAddress: string; debugAddress: string; maxConnections: number }) => {
    const { runControl } = await import('./control');
    process.exitCode = await runControl(opts);
  });

program
  .command('proxy-status')
  .description("show every connected proxy's xDS sync state (like istioctl proxy-status)")
  .option('--control-address <address>', "weft control's debug address", '127.0.0.1:15014')
  .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
  .action(async (opts: { controlAddress: string; output: string }) => {
    const { runProxyStatus } = await import('./proxy-status');
    process.exitCode = await runProxyStatus(opts);
  });

program
  .command('proxy-config')
  .description('show the configuration weft control serves one proxy (like istioctl proxy-config)')
  .argument('<proxy>', 'node id, connection id, or a unique prefix of one')
  .addArgument(new Argument('<kind>', 'what to show').choices(['clusters', 'listeners', 'routes', 'endpoints']))
  .option('--control-address <address>', "weft control's debug address", '127.0.0.1:15014')
  .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
  .action(async (proxy: string, kind: 'clusters' | 'listeners' | 'routes' | 'endpoints', opts: { controlAddress: string; output: string }) => {
    const { runProxyConfig } = await import('./proxy-config');
    process.exitCode = await runProxyConfig({ proxy, kind, ...opts });
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
