import * as http from 'node:http';
import * as net from 'node:net';
import * as fs from 'node:fs';
import { request } from 'undici';
import type { RunningProxy } from './proxy';
import { waitFor } from './proxy';

/**
 * An upstream whose behaviour is a function of the request and of how many requests it has seen,
 * for retry, health check, outlier and chaos tests. The request body is read whole before the
 * script runs. The script answers through `res` (or does not answer at all: a hang), and may cut
 * the connection with `req.socket`. `kill()` destroys every socket and stops listening;
 * `restart()` listens again on the same port.
 */

export interface ScriptedRequest {
  /** 1-based index among the requests this upstream has received. */
  n: number;
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  remotePort: number;
  /** True when the client went away before the response finished. */
  aborted: boolean;
}

export type Script = (req: ScriptedRequest, res: http.ServerResponse, raw: http.IncomingMessage) => void;

export interface ScriptedUpstream {
  readonly name: string;
  port: number;
  requests: ScriptedRequest[];
  /** Requests whose URL starts with the prefix. */
  count(prefix?: string): number;
  /** TCP connections accepted in total / open right now. */
  connections(): number;
  open(): number;
  setScript(s: Script): void;
  /** Destroys every socket and stops listening (the port then refuses connections). */
  kill(): Promise<void>;
  /** Listens again on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Answers 200 with a small JSON body naming the upstream and echoing method, url, body, headers. */
export function echo(name: string, status = 200, extraHeaders: Record<string, string> = {}): Script {
  return (req, res) => answer(res, status, { upstream: name, n: req.n, method: req.method, url: req.url, body: req.body.toString('utf8'), headers: req.headers }, { 'x-upstream': name, ...extraHeaders });
}

export function answer(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

export async function startScriptedUpstream(name: string, script: Script): Promise<ScriptedUpstream> {
  let current = script;
  const requests: ScriptedRequest[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;
  let server: http.Server | null = null;
  let port = 0;

  const makeServer = (): http.Server => {
    const srv = http.createServer({ keepAliveTimeout: 30_000, requestTimeout: 0, headersTimeout: 0 }, (req, res) => {
      const chunks: Buffer[] = [];
      const rec: ScriptedRequest = {
        n: requests.length + 1,
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.alloc(0),
        remotePort: req.socket.remotePort ?? 0,
        aborted: false,
      };
      requests.push(rec);
      res.on('close', () => {
        if (!res.writableFinished) rec.aborted = true;
      });
      req.on('error', () => undefined);
      res.on('error', () => undefined);
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        rec.body = Buffer.concat(chunks);
        try {
          current(rec, res, req);
        } catch (e) {
          answer(res, 599, String(e));
        }
      });
    });
    srv.on('connection', (s: net.Socket) => {
      connections++;
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    });
    srv.on('clientError', (_e, s) => s.destroy());
    return srv;
  };

  const listen = async (p: number): Promise<void> => {
    const srv = makeServer();
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(p, '127.0.0.1', () => resolve());
    });
    server = srv;
    port = (srv.address() as net.AddressInfo).port;
  };

  const close = (): Promise<void> =>
    new Promise<void>((resolve) => {
      const srv = server;
      server = null;
      for (const s of sockets) s.destroy();
      if (srv === null) return resolve();
      srv.close(() => resolve());
    });

  await listen(0);
  const api: ScriptedUpstream = {
    name,
    get port() {
      return port;
    },
    set port(_v: number) {},
    requests,
    count: (prefix = '') => requests.filter((r) => r.url.startsWith(prefix)).length,
    connections: () => connections,
    open: () => sockets.size,
    setScript: (s) => {
      current = s;
    },
    kill: close,
    restart: async () => {
      if (server !== null) return;
      // The port was ours a moment ago; on a busy machine another test could take it: retry briefly.
      for (let i = 0; ; i++) {
        try {
          await listen(port);
          return;
        } catch (e) {
          if (i >= 20) throw e;
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    },
    stop: close,
  };
  return api;
}

// ---------------------------------------------------------------------------------------------
// Small request helpers.

export interface SimpleResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One request with undici (a new connection unless `dispatcher` is given); never hangs past timeoutMs. */
export async function send(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number } = {},
): Promise<SimpleResponse> {
  const r = await request(url, {
    method: (opts.method ?? 'GET') as 'GET',
    headers: opts.headers,
    body: opts.body,
    headersTimeout: opts.timeoutMs ?? 10_000,
    bodyTimeout: opts.timeoutMs ?? 10_000,
  });
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : String(v);
  return { status: r.statusCode, headers, body: await r.body.text() };
}

/** Access log line fields for the format used by policies/chaos tests (see LOG). */
export interface LogFields {
  method: string;
  path: string;
  code: string;
  flags: string;
  cluster: string;
  host: string;
  attempts: string;
  details: string;
}

/** method path code flags cluster upstream-host attempt-count details */
export const LOG = '%REQ(:METHOD)% %REQ(:PATH)% %RESPONSE_CODE% %RESPONSE_FLAGS% %UPSTREAM_CLUSTER% %UPSTREAM_HOST% %UPSTREAM_REQUEST_ATTEMPT_COUNT% %RESPONSE_CODE_DETAILS%\n';

export function logFields(line: string): LogFields {
  const f = line.split(' ');
  return { method: f[0], path: f[1], code: f[2], flags: f[3], cluster: f[4], host: f[5], attempts: f[6], details: f.slice(7).join(' ') };
}

/** Waits for the access log line of `method path` and returns its fields. */
export async function logFor(file: string, method: string, path: string, timeoutMs = 5000): Promise<LogFields> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let lines: string[] = [];
    try {
      lines = fs.readFileSync(file, 'utf8').split('\n');
    } catch {
      lines = [];
    }
    const hit = lines.find((l) => l.startsWith(`${method} ${path} `));
    if (hit !== undefined) return logFields(hit);
    if (Date.now() > deadline) throw new Error(`no access log line for ${method} ${path}; lines:\n${lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The proxy has nothing in flight: the connection manager's active requests and every named
 * cluster's active upstream requests (and pending requests) are back to 0.
 */
export async function waitQuiescent(px: RunningProxy, prefix: string, clusters: string[], timeoutMs = 5000): Promise<Record<string, number>> {
  let last: Record<string, number> = {};
  try {
    await waitFor(
      async () => {
        last = await px.stats();
        if ((last[`http.${prefix}.downstream_rq_active`] ?? 0) !== 0) return false;
        for (const c of clusters) {
          if ((last[`cluster.${c}.upstream_rq_active`] ?? 0) !== 0) return false;
          if ((last[`cluster.${c}.upstream_rq_pending_active`] ?? 0) !== 0) return false;
        }
        return true;
      },
      timeoutMs,
      'quiescent proxy',
    );
  } catch (e) {
    const shown = Object.entries(last)
      .filter(([k, v]) => /_active$/.test(k) && v !== 0)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    throw new Error(`${(e as Error).message}: ${shown}`);
  }
  return last;
}

/**
 * A script driven by request headers, counting requests per `x-key` (default: the URL):
 *   x-fail-first: N      the first N requests with this key fail (default 0), the rest answer 200
 *   x-fail-mode:         status (default: answer x-fail-status, default 503) | reset (destroy the
 *                        socket, no response) | hang (never answer) | slow (answer 200 after
 *                        x-fail-delay ms) | header (200 with x-fail-header "name=value") |
 *                        grpc (200 with grpc-status x-fail-grpc)
 * A successful answer is echo(name) with x-attempt: the request's index for its key.
 */
export function keyedScript(name: string): Script {
  const counts = new Map<string, number>();
  return (req, res, raw) => {
    const key = String(req.headers['x-key'] ?? req.url);
    const k = (counts.get(key) ?? 0) + 1;
    counts.set(key, k);
    const failFirst = Number(req.headers['x-fail-first'] ?? 0);
    const attemptHeader = { 'x-attempt': String(k) };
    if (k <= failFirst) {
      const mode = String(req.headers['x-fail-mode'] ?? 'status');
      switch (mode) {
        case 'reset':
          raw.socket.destroy();
          return;
        case 'hang':
          return;
        case 'slow': {
          const t = setTimeout(() => echo(name, 200, attemptHeader)(req, res, raw), Number(req.headers['x-fail-delay'] ?? 3000));
          res.on('close', () => clearTimeout(t));
          return;
        }
        case 'header': {
          const [h, v] = String(req.headers['x-fail-header'] ?? 'x-retry-me=yes').split('=');
          echo(name, 200, { ...attemptHeader, [h]: v })(req, res, raw);
          return;
        }
        case 'grpc':
          echo(name, 200, { ...attemptHeader, 'content-type': 'application/grpc', 'grpc-status': String(req.headers['x-fail-grpc'] ?? '14') })(req, res, raw);
          return;
        default:
          answer(res, Number(req.headers['x-fail-status'] ?? 503), `failing ${name} ${k}`, attemptHeader);
          return;
      }
    }
    echo(name, 200, attemptHeader)(req, res, raw);
  };
}
