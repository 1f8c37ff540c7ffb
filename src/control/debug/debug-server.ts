/**
 * `weft control`'s monitoring and debug HTTP server (istiod's port 15014): /metrics, /ready,
 * /debug/syncz, /debug/config_dump?proxyID=…, /debug/config_problems.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { logger } from '../../lib/log';
import type { AdsServer } from '../server/ads-server';
import type { ProxyConnection } from '../server/proxy-connection';
import { configDump, toJson } from './config-dump';
import { proxySync } from './syncz';

const log = logger('debug');
export const DEFAULT_DEBUG_ADDRESS = '127.0.0.1:15014';

const ENDPOINTS = ['/metrics', '/ready', '/debug/syncz', '/debug/config_dump?proxyID=<id>', '/debug/config_problems'];

/** A proxy by node id, connection id, or a unique prefix of either; an error message otherwise. */
export function findProxy(ads: AdsServer, key: string): ProxyConnection | string {
  const all = ads.proxies();
  const exact = all.find((c) => c.node?.id === key || c.id === key);
  if (exact) return exact;
  const matches = all.filter((c) => (c.node?.id ?? '').startsWith(key));
  if (matches.length === 1) return matches[0];
  if (matches.length > 1) return `"${key}" matches ${matches.length} proxies: ${matches.slice(0, 5).map((c) => c.node?.id).join(', ')}`;
  return `no connected proxy "${key}" (see /debug/syncz for the connected ones)`;
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export class DebugServer {
  private constructor(
    private readonly server: http.Server,
    readonly address: string,
  ) {}

  static async start(ads: AdsServer, address = DEFAULT_DEBUG_ADDRESS): Promise<DebugServer> {
    const i = address.lastIndexOf(':');
    const host = address.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(address.slice(i + 1));
    if (i <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`debug address "${address}" is not host:port`);
    const server = http.createServer((req, res) => handle(ads, req, res));
    server.maxConnections = 1000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new Error(`cannot listen for debug/metrics on ${address}: ${e.message}`)));
      server.listen(port, host, () => resolve());
    });
    const bound = server.address() as AddressInfo;
    const at = `${host.includes(':') ? `[${host}]` : host}:${bound.port}`;
    log.info(`monitoring and debug endpoints on http://${at} (${ENDPOINTS.join(', ')})`);
    return new DebugServer(server, at);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function handle(ads: AdsServer, req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://debug');
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'only GET is served here\n');
  switch (url.pathname) {
    case '/metrics':
      return send(res, 200, 'text/plain; version=0.0.4', ads.metrics.render());
    case '/ready':
      return send(res, 200, 'text/plain', 'ready\n');
    case '/debug/syncz': {
      const v = ads.snapshot().version;
      return send(res, 200, 'application/json', toJson(ads.proxies().map((c) => proxySync(c, v))));
    }
    case '/debug/config_problems':
      return send(res, 200, 'application/json', toJson(ads.problems()));
    case '/debug/config_dump': {
      const id = url.searchParams.get('proxyID');
      if (!id) return send(res, 400, 'text/plain', 'proxyID is required: /debug/config_dump?proxyID=<node id or prefix>\n');
      const proxy = findProxy(ads, id);
      if (typeof proxy === 'string') return send(res, 404, 'text/plain', `${proxy}\n`);
      try {
        return send(res, 200, 'application/json', toJson(configDump(proxy, ads.snapshot())));
      } catch (e) {
        return send(res, 500, 'text/plain', `cannot build the config of ${id}: ${(e as Error).message}\n`);
      }
    }
    default:
      return send(res, 404, 'text/plain', `no such endpoint; try ${ENDPOINTS.join(', ')}\n`);
  }
}
