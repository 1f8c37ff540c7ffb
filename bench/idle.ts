// Idle-connection test: a separate Node client (idle-client.ts) opens N keep-alive connections to a
// proxy, makes one request on each, and holds them; we then read the proxy's RSS and check that
// every connection is still open.
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Managed, ProcessManager } from './processes';
import { treeRssMb } from './procstat';

export interface IdleResult {
  requested: number;
  ok: number;
  failed: number;
  /** Connections still open when the RSS was read. */
  open: number;
  errors: Record<string, number>;
  rssMb: number;
  openMs: number;
}

export interface IdleRun {
  port: number;
  count: number;
  proxyPid: number;
  cpu?: number;
  nofile: number;
  timeoutMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads the client's JSON lines one at a time, failing if it exits or is too slow. */
class Lines {
  private readonly queue: Record<string, unknown>[] = [];
  private waiter: (() => void) | undefined;

  constructor(private readonly proc: Managed) {
    const rl = createInterface({ input: proc.child.stdout! });
    rl.on('line', (line) => {
      if (!line.startsWith('{')) return;
      this.queue.push(JSON.parse(line) as Record<string, unknown>);
      this.waiter?.();
    });
    void proc.exited.then(() => this.waiter?.());
  }

  async next(timeoutMs: number): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (!this.queue.length) {
      if (!this.proc.alive) throw new Error(`idle client ${this.proc.describeExit()}\n${this.proc.outputTail()}`);
      if (Date.now() > deadline) throw new Error(`idle client gave no answer within ${timeoutMs / 1000} s`);
      await new Promise<void>((r) => {
        this.waiter = r;
        setTimeout(r, 250);
      });
    }
    return this.queue.shift()!;
  }
}

export async function idleTest(pm: ProcessManager, run: IdleRun): Promise<IdleResult> {
  const client = join(__dirname, 'idle-client.js');
  const args = [process.execPath, client, String(run.port), String(run.count), '200', '10000'];
  const proc = pm.start(`idle client -> :${run.port}`, args, { cpu: run.cpu, nofile: run.nofile, stdin: true });
  try {
    const lines = new Lines(proc);
    const opened = await lines.next(run.timeoutMs);
    await sleep(1000); // let the proxy settle (buffers released, GC)
    const rssMb = treeRssMb(run.proxyPid);
    proc.child.stdin!.write('check\n');
    const check = await lines.next(5000);
    return {
      requested: run.count,
      ok: Number(opened.ok),
      failed: Number(opened.failed),
      open: Number(check.open),
      errors: opened.errors as Record<string, number>,
      rssMb,
      openMs: Number(opened.ms),
    };
  } finally {
    proc.child.stdin?.end('close\n');
    await pm.stop(proc, 2000);
  }
}
