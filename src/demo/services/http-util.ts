import * as http from 'node:http';

/**
 * What every sample service shares: propagating the trace and user headers of the request it
 * serves to the calls it makes (Istio's proxies start traces but cannot join an app's inbound and
 * outbound requests; the app must copy these headers), bounded calls to a dependency, JSON replies.
 */

/** Headers an app copies from its inbound request to its outbound calls (Istio's bookinfo list). */
export const PROPAGATED_HEADERS: readonly string[] = [
  'x-request-id',
  'traceparent',
  'tracestate',
  'b3',
  'x-b3-traceid',
  'x-b3-spanid',
  'x-b3-parentspanid',
  'x-b3-sampled',
  'x-b3-flags',
  'x-ot-span-context',
  'x-cloud-trace-context',
  'grpc-trace-bin',
  'sw8',
  // Not tracing, but what the demo's header-routing rule matches on (bookinfo's login user).
  'end-user',
];

export type OutgoingHeaders = Record<string, string>;

export function propagatedHeaders(req: http.IncomingMessage): OutgoingHeaders {
  const out: OutgoingHeaders = {};
  for (const name of PROPAGATED_HEADERS) {
    const v = req.headers[name];
    if (typeof v === 'string') out[name] = v;
  }
  return out;
}

/** A dependency: the Host it is called by, and where the TCP connection goes. */
export interface Upstream {
  /** Service name, e.g. `reviews`: used in error messages and counters. */
  readonly name: string;
  /** Host header, e.g. `reviews.default.svc.cluster.local:9080`. */
  readonly authority: string;
  /** Where to connect: the sidecar's egress listener, or the service itself without a mesh. */
  readonly connectHost: string;
  readonly connectPort: number;
}

/** Parses `name=authority` or `name=authority@host:port` (the second form calls through an egress listener). */
export function parseUpstream(spec: string): Upstream {
  const m = /^([a-z0-9-]+)=([^@\s]+?)(?:@([^@\s]+))?$/.exec(spec);
  if (!m) throw new Error(`--upstream "${spec}": expected name=host:port or name=host:port@egress-ip:port`);
  const [, name, authority, via] = m;
  const target = parseHostPort(via ?? authority, `--upstream ${name}`);
  return { name, authority, connectHost: target.host, connectPort: target.port };
}

export function parseHostPort(text: string, what: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 0 || port > 65535) throw new Error(`${what}: "${text}" is not host:port`);
  return { host: m[1], port };
}

export const CALL_TIMEOUT_MS = 3000;
export const MAX_RESPONSE_BYTES = 1 << 20;

export type CallResult = { ok: true; status: number; body: unknown } | { ok: false; reason: CallFailure; message: string };
export type CallFailure = 'connect' | 'timeout' | 'status' | 'body' | 'reset';

/** Counts failed calls per upstream and reason, served on /stats. */
export class CallStats {
  private readonly counts = new Map<string, number>();
  private static readonly MAX_KEYS = 256;

  count(upstream: string, reason: CallFailure): void {
    const key = `upstream_rq_failed.${upstream}.${reason}`;
    if (!this.counts.has(key) && this.counts.size >= CallStats.MAX_KEYS) return;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort());
  }
}

/**
 * GETs `path` from an upstream with the given headers. Never rejects: a failure is a result with
 * a message a reader can act on (what was called, where, and what went wrong).
 */
export function callUpstream(
  agent: http.Agent,
  upstream: Upstream,
  path: string,
  headers: OutgoingHeaders,
  stats: CallStats,
): Promise<CallResult> {
  const where = `${upstream.name} (${upstream.authority} via ${upstream.connectHost}:${upstream.connectPort})`;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (r: CallResult): void => {
      if (settled) return;
      settled = true;
      if (!r.ok) stats.count(upstream.name, r.reason);
      resolve(r);
    };
    const req = http.request({
      agent,
      host: upstream.connectHost,
      port: upstream.connectPort,
      path,
      method: 'GET',
      headers: { ...headers, host: upstream.authority, accept: 'application/json' },
      timeout: CALL_TIMEOUT_MS,
    });
    req.on('timeout', () => {
      finish({ ok: false, reason: 'timeout', message: `${where}: no answer within ${CALL_TIMEOUT_MS} ms` });
      req.destroy();
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      const reason: CallFailure = e.code === 'ECONNREFUSED' || e.code === 'EADDRNOTAVAIL' ? 'connect' : 'reset';
      finish({ ok: false, reason, message: `${where}: ${e.code ?? ''} ${e.message}`.replace(/\s+/g, ' ') });
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let length = 0;
      res.on('data', (c: Buffer) => {
        length += c.length;
        if (length > MAX_RESPONSE_BYTES) {
          finish({ ok: false, reason: 'body', message: `${where}: response larger than ${MAX_RESPONSE_BYTES} bytes` });
          req.destroy();
          return;
        }
        chunks.push(c);
      });
      res.on('error', (e) => finish({ ok: false, reason: 'reset', message: `${where}: response cut off: ${e.message}` }));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) {
          const flags = res.headers['x-envoy-response-flags'];
          const detail = text.trim().slice(0, 200);
          finish({
            ok: false,
            reason: 'status',
            message: `${where}: answered ${status}${flags ? ` (response flags ${String(flags)})` : ''}${detail ? `: ${detail}` : ''}`,
          });
          return;
        }
        try {
          finish({ ok: true, status, body: JSON.parse(text) as unknown });
        } catch {
          finish({ ok: false, reason: 'body', message: `${where}: answered ${status} with a body that is not JSON` });
        }
      });
    });
    req.end();
  });
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, extraHeaders: OutgoingHeaders = {}): void {
  const text = JSON.stringify(body, null, 1) + '\n';
  res.writeHead(status, {
    ...extraHeaders,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

export function sendText(res: http.ServerResponse, status: number, contentType: string, text: string, extraHeaders: OutgoingHeaders = {}): void {
  res.writeHead(status, { ...extraHeaders, 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The path without its query string. */
export function pathOf(req: http.IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}
