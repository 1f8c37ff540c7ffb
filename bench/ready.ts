// Readiness polling: a started process is ready when its port answers (TCP or an HTTP check).
// A process that exits, or does not get ready in time, fails with its output's tail.
import { connect } from 'node:net';
import { request, type IncomingHttpHeaders } from 'node:http';
import type { Managed } from './processes';

export interface HttpReply {
  status: number;
  body: string;
  headers: IncomingHttpHeaders;
}

export function httpGet(port: number, path: string, timeoutMs = 1000): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export function tcpOpen(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export async function httpOk(port: number, path = '/'): Promise<boolean> {
  try {
    return (await httpGet(port, path)).status === 200;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it is true; throws with the process's output if it exits or times out. */
export async function waitUntil(proc: Managed, what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!proc.alive) {
      throw new Error(`${proc.name} ${proc.describeExit()} before it was ready (${what}).\n--- output tail ---\n${proc.outputTail()}`);
    }
    if (await check()) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${proc.name} was not ready after ${timeoutMs / 1000} s (${what}).\n--- output tail ---\n${proc.outputTail() || '(no output)'}`,
      );
    }
    await sleep(100);
  }
}
