import http from 'node:http';
import net from 'node:net';

/** Polls `cond` every `stepMs` until true; fails after `timeoutMs` (generous: a noisy 2-core box). */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 10000, stepMs = 10): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export interface TestServer {
  port: number;
  /** Requests/connections seen. */
  hits: number;
  connections(): Promise<number>;
  close(): Promise<void>;
}

export interface HttpTestServer extends TestServer {
  status: number;
  headers: Record<string, string>;
  body: string;
  last: http.IncomingMessage | null;
  /** When true, requests get no answer. */
  hang: boolean;
}

export async function startHttp(): Promise<HttpTestServer> {
  const server = http.createServer();
  const s: HttpTestServer = {
    port: 0,
    hits: 0,
    status: 200,
    headers: {},
    body: 'ok',
    last: null,
    hang: false,
    connections: () => new Promise((r) => server.getConnections((_e, n) => r(n))),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  server.on('request', (req, res) => {
    s.hits++;
    s.last = req;
    req.resume();
    if (s.hang) return;
    res.writeHead(s.status, s.headers);
    res.end(s.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  s.port = (server.address() as net.AddressInfo).port;
  return s;
}

/** A TCP server answering `reply` when it has received `expect`. */
export async function startTcp(expect: Buffer, reply: Buffer): Promise<TestServer & { reply: Buffer }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    s.hits++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= expect.length && buf.indexOf(expect) >= 0) {
        const at = buf.indexOf(expect);
        buf = buf.subarray(at + expect.length);
        sock.write(s.reply);
      }
    });
  });
  const s = {
    port: 0,
    hits: 0,
    reply,
    connections: () => new Promise<number>((r) => server.getConnections((_e, n) => r(n))),
    close: () =>
      new Promise<void>((r) => {
        for (const sock of sockets) sock.destroy();
        server.close(() => r());
      }),
  };
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  s.port = (server.address() as net.AddressInfo).port;
  return s;
}

/** A port with nothing listening (bound then released). */
export async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export function activeHandles(): number {
  return (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;
}
