import * as http from 'node:http';
import { CallStats, pathOf, sendJson, type OutgoingHeaders, type Upstream } from './http-util';

/** The frame every sample service shares: identity, dependencies, health and stats endpoints. */

export type ServiceKind = 'front' | 'details' | 'reviews' | 'ratings';
export const SERVICE_KINDS: readonly ServiceKind[] = ['front', 'details', 'reviews', 'ratings'];

export interface ServiceOptions {
  readonly kind: ServiceKind;
  /** The workload's version label, e.g. `v2`; reported in every answer. */
  readonly version: string;
  /** Pod name (reported as `instance`); defaults to `<kind>-<version>`. */
  readonly instance?: string;
  /** Dependencies by service name: front needs details and reviews; reviews v2/v3 need ratings. */
  readonly upstreams: readonly Upstream[];
}

export interface ServiceContext {
  readonly options: ServiceOptions;
  readonly instance: string;
  readonly agent: http.Agent;
  readonly stats: CallStats;
  /** Headers every answer carries: which workload served it. */
  readonly identity: OutgoingHeaders;
  upstream(name: string): Upstream;
}

export type Handler = (ctx: ServiceContext, req: http.IncomingMessage, res: http.ServerResponse, path: string) => void;

/** Which dependencies a service needs, so a missing one fails at start, not on the first request. */
export function requiredUpstreams(kind: ServiceKind, version: string): readonly string[] {
  if (kind === 'front') return ['details', 'reviews'];
  if (kind === 'reviews' && version !== 'v1') return ['ratings'];
  return [];
}

export function createContext(options: ServiceOptions): ServiceContext {
  const byName = new Map(options.upstreams.map((u) => [u.name, u]));
  for (const name of requiredUpstreams(options.kind, options.version)) {
    if (!byName.has(name)) throw new Error(`${options.kind} ${options.version} calls ${name}: give --upstream ${name}=host:port[@egress]`);
  }
  const instance = options.instance ?? `${options.kind}-${options.version}`;
  return {
    options,
    instance,
    // Bounded: at most 32 connections per dependency, reused.
    agent: new http.Agent({ keepAlive: true, maxSockets: 32, maxFreeSockets: 8, timeout: 30_000 }),
    stats: new CallStats(),
    identity: { 'x-demo-served-by': `${options.kind}/${options.version}` },
    upstream(name: string): Upstream {
      const u = byName.get(name);
      if (!u) throw new Error(`no upstream ${name}`);
      return u;
    },
  };
}

/** Wraps a service's handler with the endpoints every service has and method checks. */
export function serve(ctx: ServiceContext, handler: Handler): http.Server {
  return http.createServer({ keepAliveTimeout: 30_000, headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
    const path = pathOf(req);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: `${req.method} not allowed: the ${ctx.options.kind} service answers GET only` }, { ...ctx.identity, allow: 'GET, HEAD' });
      return;
    }
    if (path === '/health') {
      sendJson(res, 200, { status: 'ok', service: ctx.options.kind, version: ctx.options.version, instance: ctx.instance }, ctx.identity);
      return;
    }
    if (path === '/stats') {
      sendJson(res, 200, ctx.stats.snapshot(), ctx.identity);
      return;
    }
    handler(ctx, req, res, path);
  });
}

export function notFound(ctx: ServiceContext, res: http.ServerResponse, path: string, expected: string): void {
  sendJson(res, 404, { error: `no such path ${path} on ${ctx.options.kind}; try ${expected}` }, ctx.identity);
}
