import * as net from 'node:net';

/** A raw TCP client: send exact bytes, read the reply until the peer closes or a bound expires. */

export interface RawResult {
  data: Buffer;
  text: string;
  /** The peer closed (FIN or reset) before the time bound. */
  closed: boolean;
  /** A socket error (e.g. ECONNRESET, ECONNREFUSED) if one happened. */
  error: string | undefined;
}

export interface RawOptions {
  /** Total time bound (default 3000 ms). */
  timeoutMs?: number;
  /** Finish as soon as this returns true for the bytes read so far. */
  until?: (data: Buffer) => boolean;
  /** Half-close our side after writing. */
  end?: boolean;
  /** Delay between successive writes when `data` is an array (default 0: same tick). */
  gapMs?: number;
}

export function rawExchange(port: number, data: string | Buffer | Array<string | Buffer>, opts: RawOptions = {}): Promise<RawResult> {
  const timeoutMs = opts.timeoutMs ?? 3000;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    let done = false;
    const sock = net.connect({ host: '127.0.0.1', port });
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      const all = Buffer.concat(chunks);
      resolve({ data: all, text: all.toString('latin1'), closed, error });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      if (opts.until && opts.until(Buffer.concat(chunks))) finish(false);
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      error = e.code ?? e.message;
    });
    sock.on('close', () => finish(true));
    sock.on('connect', async () => {
      const parts = Array.isArray(data) ? data : [data];
      for (const p of parts) {
        if (done) return;
        sock.write(p);
        if (opts.gapMs) await new Promise((r) => setTimeout(r, opts.gapMs));
      }
      if (opts.end) sock.end();
    });
  });
}

export interface ParsedResponse {
  status: number;
  reason: string;
  version: string;
  headers: Record<string, string>;
  /** Header names in order as received (original case). */
  rawNames: string[];
  body: Buffer;
}

/**
 * Splits a byte stream into HTTP/1.x responses (1xx interim responses included). `noBody` lists
 * the indexes (among final responses) that answer HEAD requests. A response without framing runs
 * to the end of the data. Incomplete trailing data is ignored.
 */
export function parseResponses(buf: Buffer, noBody: ReadonlySet<number> = new Set()): ParsedResponse[] {
  const out: ParsedResponse[] = [];
  let pos = 0;
  let finals = 0;
  while (pos < buf.length) {
    const end = buf.indexOf('\r\n\r\n', pos);
    if (end < 0) break;
    const lines = buf.subarray(pos, end).toString('latin1').split('\r\n');
    const m = /^(HTTP\/\d\.\d) (\d{3}) ?(.*)$/.exec(lines[0]);
    if (!m) throw new Error(`not a status line: ${JSON.stringify(lines[0])}`);
    const headers: Record<string, string> = {};
    const rawNames: string[] = [];
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      const name = l.slice(0, i);
      rawNames.push(name);
      const k = name.toLowerCase();
      const v = l.slice(i + 1).trim();
      headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
    }
    const status = Number(m[2]);
    pos = end + 4;
    let body: Buffer = Buffer.alloc(0);
    const interim = status >= 100 && status < 200 && status !== 101;
    const bodiless = interim || status === 101 || status === 204 || status === 304 || (!interim && noBody.has(finals));
    if (!bodiless) {
      if ((headers['transfer-encoding'] ?? '').toLowerCase().includes('chunked')) {
        const parts: Buffer[] = [];
        for (;;) {
          const le = buf.indexOf('\r\n', pos);
          if (le < 0) return out;
          const size = parseInt(buf.subarray(pos, le).toString('latin1').split(';')[0], 16);
          pos = le + 2;
          if (size === 0) {
            const te = buf.indexOf('\r\n\r\n', pos - 2);
            if (te < 0) return out;
            pos = te + 4;
            break;
          }
          parts.push(buf.subarray(pos, pos + size));
          pos += size + 2;
        }
        body = Buffer.concat(parts);
      } else if (headers['content-length'] !== undefined) {
        const n = Number(headers['content-length']);
        if (pos + n > buf.length) return out;
        body = buf.subarray(pos, pos + n);
        pos += n;
      } else {
        body = buf.subarray(pos);
        pos = buf.length;
      }
    }
    out.push({ status, reason: m[3], version: m[1], headers, rawNames, body });
    if (!interim) finals++;
  }
  return out;
}

/** A minimal, well-formed GET. */
export function getRequest(path = '/', extra = '', host = 'example.com'): string {
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${extra}\r\n`;
}

/** Until-predicate: the data holds `n` complete final responses. */
export function hasResponses(n: number, noBody?: ReadonlySet<number>): (d: Buffer) => boolean {
  return (d) => {
    try {
      return parseResponses(d, noBody).filter((r) => r.status >= 200 || r.status === 101).length >= n;
    } catch {
      return false;
    }
  };
}
