import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import { tempDir } from './proxy';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program with a time bound; never rejects (the exit code tells). */
export function run(file: string, args: string[], timeoutMs = 20_000, input?: string): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout: timeoutMs, maxBuffer: 64 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? ((err as unknown as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

export interface CurlResponse {
  code: number;
  /** Final status (0 if none). */
  status: number;
  /** Every status line received, 1xx included. */
  statuses: number[];
  /** The final response's headers (lower-case names; repeated ones joined with ", "). */
  headers: Record<string, string>;
  body: Buffer;
  stderr: string;
}

/** curl with headers and body captured in files; `args` are extra curl arguments. */
export async function curl(url: string, args: string[] = [], timeoutMs = 20_000): Promise<CurlResponse> {
  const t = tempDir('weft-curl-');
  try {
    const hf = t.file('headers');
    const bf = t.file('body');
    const r = await run('curl', ['-sS', '--max-time', String(Math.ceil(timeoutMs / 1000)), '-D', hf, '-o', bf, ...args, url], timeoutMs + 2000);
    const headText = fs.existsSync(hf) ? fs.readFileSync(hf, 'latin1') : '';
    const body = fs.existsSync(bf) ? fs.readFileSync(bf) : Buffer.alloc(0);
    const statuses: number[] = [];
    let headers: Record<string, string> = {};
    for (const line of headText.split('\r\n')) {
      const m = /^HTTP\/[\d.]+ (\d{3})/.exec(line);
      if (m) {
        statuses.push(Number(m[1]));
        headers = {};
        continue;
      }
      const i = line.indexOf(':');
      if (i > 0) {
        const k = line.slice(0, i).toLowerCase();
        const v = line.slice(i + 1).trim();
        headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
      }
    }
    return { code: r.code, status: statuses.at(-1) ?? 0, statuses, headers, body, stderr: r.stderr };
  } finally {
    t.remove();
  }
}
