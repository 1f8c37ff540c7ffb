import { parseHostPort, parseUpstream, type Upstream } from './http-util';
import { SERVICE_KINDS, startService, type ServiceKind } from './index';

/**
 * A sample service as its own process (what `weft demo` starts per workload):
 *   node main.js --service reviews --version v2 --listen 127.0.0.1:9183 \
 *     --upstream ratings=ratings.default.svc.cluster.local:9080@127.0.2.4:9080 [--instance reviews-v2-0]
 * Also read from the environment: DEMO_SERVICE, DEMO_VERSION, DEMO_LISTEN, DEMO_UPSTREAMS (comma-separated).
 */

interface Args {
  service: ServiceKind;
  version: string;
  listen: { host: string; port: number };
  upstreams: Upstream[];
  instance?: string;
}

function parseArgs(argv: string[], env: NodeJS.ProcessEnv): Args {
  const values = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (!flag.startsWith('--') || value === undefined) throw new Error(`unexpected argument "${flag}": flags are --name value`);
    const name = flag.slice(2);
    if (!['service', 'version', 'listen', 'upstream', 'instance'].includes(name)) throw new Error(`unknown flag ${flag}`);
    values.set(name, [...(values.get(name) ?? []), value]);
  }
  const one = (name: string, envName: string): string | undefined => values.get(name)?.at(-1) ?? env[envName];
  const service = one('service', 'DEMO_SERVICE');
  if (!service || !(SERVICE_KINDS as readonly string[]).includes(service)) {
    throw new Error(`--service must be one of ${SERVICE_KINDS.join(', ')} (got ${service ?? 'nothing'})`);
  }
  const listen = one('listen', 'DEMO_LISTEN');
  if (!listen) throw new Error('--listen host:port is required');
  const upstreamSpecs = values.get('upstream') ?? (env.DEMO_UPSTREAMS ? env.DEMO_UPSTREAMS.split(',') : []);
  return {
    service: service as ServiceKind,
    version: one('version', 'DEMO_VERSION') ?? 'v1',
    listen: parseHostPort(listen, '--listen'),
    upstreams: upstreamSpecs.map(parseUpstream),
    instance: one('instance', 'DEMO_INSTANCE'),
  };
}

async function main(): Promise<void> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2), process.env);
  } catch (e) {
    console.error(`demo service: ${(e as Error).message}`);
    process.exit(2);
  }
  const running = await startService(
    { kind: args.service, version: args.version, instance: args.instance, upstreams: args.upstreams },
    args.listen.host,
    args.listen.port,
  ).catch((e: Error) => {
    console.error(`demo service: ${e.message}`);
    process.exit(1);
  });
  const via = args.upstreams.map((u) => `${u.name}=${u.authority} via ${u.connectHost}:${u.connectPort}`).join(', ');
  console.log(`${args.service} ${args.version} listening on ${args.listen.host}:${running.port}${via ? `; calls ${via}` : ''}`);
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void running.close().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Started by `weft demo` with an IPC channel: when the demo goes away, so does the service.
  process.on('disconnect', stop);
}

void main();
