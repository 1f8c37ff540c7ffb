import * as http from 'node:http';
import * as net from 'node:net';
import { describeExit, tailOf, type ManagedChild } from './children';
import type { HostPort } from './topology';

/** Bounded readiness checks: each probe has a timeout, each wait a deadline. */

export interface HttpAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

const PROBE_TIMEOUT_MS = 2000;
const MAX_PROBE_BODY = 1 << 20;

/** One GET; resolves undefined on any failure (the caller polls). */
export function httpGet(url: string, headers: Record<string, string> = {}, agent: http.Agent | false = false): Promise<HttpAnswer | undefined> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent, headers, timeout: PROBE_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      let length = 0;
      res.on('data', (c: Buffer) => {
        length += c.length;
        if (length <= MAX_PROBE_BODY) chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

export function tcpAccepts(addr: HostPort): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: addr.host, port: addr.port, timeout: PROBE_TIMEOUT_MS });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(false));
  });
}

export class NotReadyError extends Error {}

/**
 * Polls `check` until it returns true, the deadline passes, or `child` exits; the error says which,
 * with the end of the child's log.
 */
export async function waitReady(what: string, check: () => Promise<boolean>, deadlineMs: number, child?: ManagedChild): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    if (child?.exit) throw new NotReadyError(`${describeExit(child)} before ${what}; ${child.logFile} ends with:\n${tailOf(child.logFile)}`);
    if (await check()) return;
    if (Date.now() >= until) {
      const log = child ? `; ${child.logFile} ends with:\n${tailOf(child.logFile)}` : '';
      throw new NotReadyError(`${what}: not ready after ${Math.round(deadlineMs / 1000)} s${log}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
