// Idle-connection client, run as its own process by idle.ts (so it gets its own fd limit and core):
//   node idle-client.js PORT COUNT [CONCURRENCY] [TIMEOUT_MS]
// Opens COUNT keep-alive connections to 127.0.0.1:PORT, sends one GET on each and reads the whole
// response, then holds every successful connection open. Prints one JSON line when all attempts
// are settled ({"type":"opened",ok,failed,errors}); then answers "check" on stdin with
// {"type":"check",open} (connections still open) and exits on "close" or end of stdin.
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';

const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: weft-bench-idle\r\n\r\n');

interface Tally {
  ok: number;
  failed: number;
  errors: Record<string, number>;
}

const held: Socket[] = [];
let closedAfterOk = 0;

/** Whether `buf` holds one complete keep-alive 200 response; throws on a response we cannot hold. */
function responseComplete(buf: Buffer): boolean {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return false;
  const head = buf.subarray(0, end).toString('latin1');
  const status = Number(head.slice(9, 12));
  if (status !== 200) throw new Error(`status-${status}`);
  if (/^connection:\s*close/im.test(head)) throw new Error('connection-close');
  const cl = head.match(/^content-length:\s*(\d+)/im);
  if (cl) return buf.length >= end + 4 + Number(cl[1]);
  if (/^transfer-encoding:\s*chunked/im.test(head)) return buf.subarray(end + 4).includes('0\r\n\r\n');
  throw new Error('no-length');
}

function openOne(port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      s.destroy();
      reject(new Error(why));
    };
    s.setTimeout(timeoutMs, () => fail('timeout'));
    s.on('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
    s.on('close', () => fail('closed-early'));
    s.on('connect', () => s.write(REQUEST));
    s.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      let done: boolean;
      try {
        done = responseComplete(buf);
      } catch (e) {
        return fail((e as Error).message);
      }
      if (!done) return;
      settled = true;
      s.setTimeout(0);
      s.removeAllListeners('data');
      s.removeAllListeners('close');
      s.on('close', () => closedAfterOk++);
      held.push(s);
      resolve();
    });
  });
}

async function openAll(port: number, count: number, concurrency: number, timeoutMs: number): Promise<Tally> {
  const tally: Tally = { ok: 0, failed: 0, errors: {} };
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      try {
        await openOne(port, timeoutMs);
        tally.ok++;
      } catch (e) {
        tally.failed++;
        const why = (e as Error).message;
        tally.errors[why] = (tally.errors[why] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return tally;
}

async function main(): Promise<void> {
  const [port, count, concurrency = 200, timeoutMs = 10_000] = process.argv.slice(2).map(Number);
  if (!port || !count) {
    console.error('usage: idle-client PORT COUNT [CONCURRENCY] [TIMEOUT_MS]');
    process.exit(2);
  }
  const t0 = Date.now();
  const tally = await openAll(port, count, concurrency, timeoutMs);
  console.log(JSON.stringify({ type: 'opened', ...tally, ms: Date.now() - t0 }));
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim() === 'check') console.log(JSON.stringify({ type: 'check', open: held.length - closedAfterOk }));
    else if (line.trim() === 'close') process.exit(0);
  });
  rl.on('close', () => process.exit(0));
}

void main();
