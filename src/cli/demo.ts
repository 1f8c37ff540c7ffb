import * as http from 'node:http';
import * as path from 'node:path';
import { loadBootstrapFileIsolated } from '../xds/bootstrap-worker';
import { ProxyServer } from '../proxy/server';
import { ConfigError } from '../lib/config-error';

/**
 * `weft demo`: two sample upstreams and a Weft proxy in front of them, configured by
 * examples/demo/front-proxy.yaml (ports rewritten when --port/--admin-port are given).
 */

export interface DemoOptions {
  port: number;
  adminPort: number;
  duration?: number;
}

function startUpstream(name: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const body = JSON.stringify({ service: name, method: req.method, path: req.url, headers: req.headers }) + '\n';
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

type Json = { [k: string]: unknown };

/**
 * Sets the listener and admin ports of the demo bootstrap (decoded form), and points each cluster
 * at its sample upstream, which listens on an ephemeral port so the demo never collides with
 * whatever already runs on 8081/8082.
 */
function withPorts(bootstrap: Json, port: number, adminPort: number, upstreamPorts: number[]): Json {
  const admin = bootstrap.admin as Json;
  ((admin.address as Json).socket_address as Json).port_value = adminPort;
  const resources = bootstrap.static_resources as Json;
  const listeners = resources.listeners as Json[];
  ((listeners[0].address as Json).socket_address as Json).port_value = port;
  (resources.clusters as Json[]).forEach((cluster, i) => {
    const endpoints = (cluster.load_assignment as Json).endpoints as Json[];
    const lb = (endpoints[0].lb_endpoints as Json[])[0];
    (((lb.endpoint as Json).address as Json).socket_address as Json).port_value = upstreamPorts[i];
  });
  return bootstrap;
}

export async function runDemo(opts: DemoOptions): Promise<number> {
  const file = path.join(__dirname, '..', '..', '..', 'examples', 'demo', 'front-proxy.yaml');
  const upstreams = [await startUpstream('service-v1', 0), await startUpstream('service-v2', 0)];
  const upstreamPorts = upstreams.map((u) => (u.address() as { port: number }).port);
  let server: ProxyServer;
  try {
    const bootstrap = await loadBootstrapFileIsolated(file);
    server = new ProxyServer(withPorts(bootstrap, opts.port, opts.adminPort, upstreamPorts) as never, { drainTimeS: 1 });
    await server.start();
  } catch (e) {
    console.error(e instanceof ConfigError ? `demo config rejected:\n${e.message}` : (e as Error).message);
    for (const u of upstreams) u.close();
    return 1;
  }
  console.log(`
Weft demo is running: a proxy on 127.0.0.1:${opts.port} in front of service-v1 (:${upstreamPorts[0]}) and service-v2 (:${upstreamPorts[1]}).

  curl -s http://127.0.0.1:${opts.port}/hello               # 80% service-v1, 20% service-v2
  curl -s -H 'x-version: v2' http://127.0.0.1:${opts.port}/  # always service-v2
  curl -s http://127.0.0.1:${opts.adminPort}/stats/prometheus | grep upstream_rq
  curl -s http://127.0.0.1:${opts.adminPort}/clusters

Configuration: examples/demo/front-proxy.yaml (Envoy v3). Access log lines follow. Ctrl-C stops.
`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (opts.duration !== undefined) setTimeout(resolve, opts.duration * 1000);
  });
  await server.shutdown(1000);
  for (const u of upstreams) u.close();
  return 0;
}
