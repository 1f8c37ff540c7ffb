import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadBootstrapText } from '../../src/xds/bootstrap';
import { ProxyServer } from '../../src/proxy/server';
import { parseLevel, setLevel } from '../../src/lib/log';

// Quiet by default; WEFT_TEST_LOG=debug shows the proxy's logs.
setLevel(parseLevel(process.env.WEFT_TEST_LOG ?? 'warn') ?? 'warn');

/**
 * Starts a Weft ProxyServer in-process from a bootstrap (YAML text, or an object that is
 * serialised as JSON, which is YAML). Listeners and admin should use port_value 0.
 */

export interface RunningProxy {
  server: ProxyServer;
  /** listener name → bound port */
  ports: Record<string, number>;
  /** The first listener's port. */
  port: number;
  adminPort: number;
  /** GET (or another method) on the admin server. */
  admin(pathAndQuery: string, method?: string): Promise<{ status: number; body: string; headers: Headers }>;
  /** Counters and gauges from /stats (text format), as numbers. */
  stats(): Promise<Record<string, number>>;
  stat(name: string): Promise<number>;
  stop(): Promise<void>;
}

export async function startProxy(config: string | object, drainMs = 0): Promise<RunningProxy> {
  const text = typeof config === 'string' ? config : JSON.stringify(config);
  const { bootstrap } = loadBootstrapText(text);
  const server = new ProxyServer(bootstrap, { drainTimeS: 1 });
  try {
    await server.start();
  } catch (e) {
    await server.shutdown(0).catch(() => undefined);
    throw e;
  }
  const ports = server.listenerPorts();
  const adminPort = server.adminPort;
  const admin = async (p: string, method = 'GET'): Promise<{ status: number; body: string; headers: Headers }> => {
    const r = await fetch(`http://127.0.0.1:${adminPort}${p}`, { method });
    return { status: r.status, body: await r.text(), headers: r.headers };
  };
  const stats = async (): Promise<Record<string, number>> => {
    const r = await admin('/stats');
    return parseStatsText(r.body);
  };
  let stopped = false;
  return {
    server,
    ports,
    port: Object.values(ports)[0] ?? 0,
    adminPort,
    admin,
    stats,
    stat: async (name: string) => (await stats())[name] ?? 0,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await server.shutdown(drainMs);
    },
  };
}

export function parseStatsText(body: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of body.split('\n')) {
    const m = /^([^:\s]+): (-?\d+(?:\.\d+)?)$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Bootstrap builders (plain objects in Envoy v3 JSON form).

export const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const TCP_PROXY_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
export const ROUTER = {
  name: 'envoy.filters.http.router',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
};

/** The access log format used by these tests: flags are the 3rd field. */
export const LOG_FORMAT = '%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_CLUSTER% %RESPONSE_CODE_DETAILS%\n';

export function fileAccessLog(file: string, format = LOG_FORMAT): object {
  return {
    name: 'envoy.access_loggers.file',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
      path: file,
      log_format: { text_format_source: { inline_string: format } },
    },
  };
}

export function address(port: number): object {
  return { socket_address: { address: '127.0.0.1', port_value: port } };
}

export function staticCluster(name: string, ports: number[], extra: object = {}): object {
  return {
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: ports.map((p) => ({ endpoint: { address: address(p) } })) }],
    },
    ...extra,
  };
}

export function httpListener(name: string, routeConfig: object, hcmExtra: object = {}): object {
  return {
    name,
    address: address(0),
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM_TYPE,
              stat_prefix: name,
              route_config: routeConfig,
              http_filters: [ROUTER],
              ...hcmExtra,
            },
          },
        ],
      },
    ],
  };
}

export function tcpListener(name: string, tcpProxy: object): object {
  return {
    name,
    address: address(0),
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY_TYPE, ...tcpProxy } }] }],
  };
}

/** A route_config with one catch-all virtual host. */
export function simpleRoutes(routes: object[], vhostExtra: object = {}): object {
  return { name: 'local', virtual_hosts: [{ name: 'all', domains: ['*'], routes, ...vhostExtra }] };
}

export function bootstrap(listeners: object[], clusters: object[]): object {
  return {
    admin: { address: address(0) },
    static_resources: { listeners, clusters },
  };
}

/** One HTTP listener routing everything to cluster `backend` at the given upstream port. */
export function simpleHttpBootstrap(
  upstreamPort: number,
  opts: { accessLog?: string; hcm?: object; route?: object; cluster?: object } = {},
): object {
  const hcm: Record<string, unknown> = { ...(opts.hcm ?? {}) };
  if (opts.accessLog !== undefined) hcm.access_log = [fileAccessLog(opts.accessLog)];
  return bootstrap(
    [httpListener('ingress', simpleRoutes([{ match: { prefix: '/' }, route: { cluster: 'backend', ...(opts.route ?? {}) } }]), hcm)],
    [staticCluster('backend', [upstreamPort], opts.cluster)],
  );
}

// ---------------------------------------------------------------------------------------------
// Temp files and access logs.

export function tempDir(prefix = 'weft-e2e-'): { dir: string; file(name: string): string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return {
    dir,
    file: (name: string) => path.join(dir, name),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** Polls a file (the access logger flushes every ~100 ms) until a line matches; bounded. */
export async function waitForLogLine(file: string, pred: (line: string) => boolean, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let lines: string[] = [];
  for (;;) {
    try {
      lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
    } catch {
      lines = [];
    }
    const hit = lines.find(pred);
    if (hit !== undefined) return hit;
    if (Date.now() > deadline) throw new Error(`no access log line matched in ${file}; lines:\n${lines.join('\n')}`);
    await sleep(50);
  }
}

export function readLines(file: string): string[] {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
  } catch {
    return [];
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls until fn() returns true; bounded. */
export async function waitFor(fn: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Resolves with the promise's value, or `onTimeout` after ms; the timer never outlives the race. */
export async function within<T, U>(p: Promise<T>, ms: number, onTimeout: U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<U>((r) => (timer = setTimeout(() => r(onTimeout), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
