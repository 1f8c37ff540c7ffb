import * as http from 'node:http';
import * as net from 'node:net';
import { createHash } from 'node:crypto';

/**
 * A tiny node:http upstream that echoes what it received as JSON, with behaviours chosen per
 * request by headers:
 *   x-delay-ms: N        wait N ms before answering (the wait ends early if the client goes away)
 *   x-behavior: reset    send headers and part of the body, then destroy the socket
 *   x-behavior: close    destroy the socket without any response
 *   x-behavior: chunked  answer with a chunked body written in several pieces
 *   x-behavior: huge     stream x-size bytes (Content-Length, or chunked with x-chunked: 1)
 *   x-behavior: raw      answer with the request body bytes as they came
 *   x-status: N          the response status
 *   x-response-header: name=value   add a response header
 */

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  httpVersion: string;
  bodyLength: number;
  sha256: string;
  remotePort: number;
  /** true when the client went away before the response finished. */
  aborted: boolean;
}

export interface EchoBody {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  httpVersion: string;
  bodyLength: number;
  sha256: string;
  body: string;
}

export interface EchoUpstream {
  port: number;
  requests: RecordedRequest[];
  /** Requests whose downstream (the proxy) closed the socket before we finished answering. */
  aborted(): number;
  /** Distinct TCP connections accepted. */
  connections(): number;
  stop(): Promise<void>;
}

export function sha256(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

export async function startEchoUpstream(name = 'echo'): Promise<EchoUpstream> {
  const requests: RecordedRequest[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = http.createServer({ keepAliveTimeout: 30_000, requestTimeout: 0 }, (req, res) => {
    const hash = createHash('sha256');
    const chunks: Buffer[] = [];
    let length = 0;
    const rec: RecordedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      httpVersion: req.httpVersion,
      bodyLength: 0,
      sha256: '',
      remotePort: req.socket.remotePort ?? 0,
      aborted: false,
    };
    requests.push(rec);
    res.on('close', () => {
      if (!res.writableFinished) rec.aborted = true;
    });
    req.on('data', (d: Buffer) => {
      hash.update(d);
      length += d.length;
      if (length <= 1 << 20 || req.headers['x-behavior'] === 'raw') chunks.push(d);
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      rec.bodyLength = length;
      rec.sha256 = hash.digest('hex');
      const body = Buffer.concat(chunks);
      const delay = Number(req.headers['x-delay-ms'] ?? 0);
      if (delay > 0) {
        const t = setTimeout(() => respond(req, res, rec, body, name), delay);
        res.on('close', () => clearTimeout(t));
      } else {
        respond(req, res, rec, body, name);
      }
    });
  });
  server.on('connection', (s: net.Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    requests,
    aborted: () => requests.filter((r) => r.aborted).length,
    connections: () => connections,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function respond(req: http.IncomingMessage, res: http.ServerResponse, rec: RecordedRequest, body: Buffer, name: string): void {
  if (res.destroyed) return;
  const behavior = String(req.headers['x-behavior'] ?? '');
  const status = Number(req.headers['x-status'] ?? 200);
  res.setHeader('x-upstream', name);
  const extra = req.headers['x-response-header'];
  if (typeof extra === 'string') {
    const i = extra.indexOf('=');
    res.setHeader(extra.slice(0, i), extra.slice(i + 1));
  }
  switch (behavior) {
    case 'close':
      req.socket.destroy();
      return;
    case 'reset':
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100000' });
      res.write('x'.repeat(1000), () => setTimeout(() => req.socket.destroy(), 20));
      return;
    case 'chunked': {
      res.writeHead(status, { 'content-type': 'text/plain' }); // no length: node uses chunked
      const parts = ['alpha-', 'beta-', 'gamma-', 'delta'];
      let i = 0;
      const next = (): void => {
        if (res.destroyed) return;
        if (i < parts.length) {
          res.write(parts[i++]);
          setTimeout(next, 5);
        } else res.end();
      };
      next();
      return;
    }
    case 'huge': {
      const size = Number(req.headers['x-size'] ?? 1 << 20);
      const chunked = req.headers['x-chunked'] === '1';
      res.writeHead(status, chunked ? { 'content-type': 'application/octet-stream' } : { 'content-length': String(size) });
      if (req.method === 'HEAD') {
        res.end();
        return;
      }
      const block = Buffer.alloc(64 * 1024, 0x61);
      let left = size;
      const pump = (): void => {
        while (left > 0) {
          const n = Math.min(left, block.length);
          left -= n;
          if (!res.write(n === block.length ? block : block.subarray(0, n))) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
      return;
    }
    case 'raw':
      res.writeHead(status, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) });
      res.end(body);
      return;
  }
  const payload: EchoBody = {
    method: rec.method,
    url: rec.url,
    headers: req.headers,
    httpVersion: req.httpVersion,
    bodyLength: rec.bodyLength,
    sha256: rec.sha256,
    body: body.length <= 65536 ? body.toString('utf8') : '',
  };
  const text = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
  res.end(req.method === 'HEAD' ? undefined : text);
}

// ---------------------------------------------------------------------------------------------
// Raw TCP upstreams.

export interface TcpServer {
  port: number;
  connections(): number;
  /** Sockets currently open. */
  open(): number;
  /** Resolves when n sockets have closed in total. */
  closedCount(): number;
  received: Buffer[];
  stop(): Promise<void>;
}

export async function startTcpServer(onSocket: (s: net.Socket, server: TcpServer) => void): Promise<TcpServer> {
  const sockets = new Set<net.Socket>();
  let total = 0;
  let closed = 0;
  const srv = net.createServer();
  const api: TcpServer = {
    port: 0,
    connections: () => total,
    open: () => sockets.size,
    closedCount: () => closed,
    received: [],
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
      }),
  };
  srv.on('connection', (s) => {
    total++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => {
      sockets.delete(s);
      closed++;
    });
    onSocket(s, api);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  api.port = (srv.address() as net.AddressInfo).port;
  return api;
}

/** Echoes every byte back. */
export function startTcpEcho(): Promise<TcpServer> {
  return startTcpServer((s, api) => {
    s.on('data', (d) => {
      api.received.push(d);
      s.write(d);
    });
    s.on('end', () => s.end());
  });
}

/**
 * Answers an HTTP Upgrade request with 101 Switching Protocols, then echoes bytes prefixed by
 * nothing (a stand-in for a WebSocket server). Records the request head in `received`.
 */
export function startUpgradeEcho(): Promise<TcpServer> {
  return startTcpServer((s, api) => {
    let buf = Buffer.alloc(0);
    let upgraded = false;
    s.on('data', (d: Buffer) => {
      if (upgraded) {
        s.write(d);
        return;
      }
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end + 4);
      api.received.push(head);
      const rest = buf.subarray(end + 4);
      upgraded = true;
      const m = /\r\nupgrade:\s*([^\r\n]*)/i.exec(head.toString('latin1'));
      s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${m ? m[1] : 'websocket'}\r\nConnection: Upgrade\r\n\r\n`);
      if (rest.length > 0) s.write(rest);
    });
    s.on('end', () => s.end());
  });
}

const handedOut = new Set<number>();

/**
 * A port that nothing listens on (bound then closed). Never the same port twice in one process, so
 * that several picked before anything binds them (a test starting a mesh) cannot collide.
 */
export async function closedPort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no unused port after 100 attempts');
}

/** A port that was free a moment ago, for servers that cannot bind port 0 and report it. */
export const freePort = closedPort;
