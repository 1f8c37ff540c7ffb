import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { tempDir, waitFor } from '../helpers/proxy';
import { freePort } from '../helpers/upstream';

/**
 * `weft demo` as a user runs it: the CLI, a copy of examples/demo, real processes (weft control,
 * six sample services, six Weft sidecars, the edge), real traffic. The mesh's addresses are moved
 * to a loopback block and ports of their own so the test never meets a demo already running.
 * The first describe needs `weft control` and the proxy's ADS client (other branches).
 */

const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
const EXAMPLES = path.join(__dirname, '..', '..', '..', 'examples', 'demo');

interface Summary {
  reviews_version: string | null;
  errors: string[];
}

/** Copies examples/demo, moving 127.0.1.N/127.0.2.N to 127.B.1.N/127.B.2.N and the app ports to free ones. */
async function relocatedExamples(dir: string): Promise<{ block: number }> {
  const block = 100 + Math.floor(Math.random() * 150);
  fs.cpSync(EXAMPLES, dir, { recursive: true });
  const appPorts = new Map<string, number>();
  for (let n = 1; n <= 6; n++) appPorts.set(String(9180 + n), await freePort());
  for (const name of fs.readdirSync(dir)) {
    const f = path.join(dir, name);
    const text = fs
      .readFileSync(f, 'utf8')
      .replace(/127\.0\.([12])\.(\d+)/g, `127.${block}.$1.$2`)
      .replace(/127\.0\.0\.1:(918\d)/g, (_m, p: string) => `127.0.0.1:${appPorts.get(p) ?? p}`);
    fs.writeFileSync(f, text);
  }
  return { block };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

function summary(port: number, headers: Record<string, string> = {}): Promise<{ status: number; body: Summary }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/api/summary', headers, agent, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Summary });
        } catch {
          resolve({ status: res.statusCode ?? 0, body: { reviews_version: null, errors: [text.slice(0, 200)] } });
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** `total` requests, `concurrency` at a time; counts by reviews version (or `HTTP <status>`). */
async function tally(port: number, total: number, headers: Record<string, string> = {}, concurrency = 4): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      next++;
      const r = await summary(port, headers);
      const label = r.status !== 200 ? `HTTP ${r.status}` : (r.body.reviews_version ?? 'unavailable');
      counts[label] = (counts[label] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return counts;
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('weft demo, end to end (needs weft control and the proxy ADS client)', () => {
  const tmp = tempDir('weft-demo-e2e-');
  const configDir = path.join(tmp.dir, 'mesh');
  let demo: ChildProcess | undefined;
  let output = '';
  let exited: Promise<number | null>;
  let port = 0;
  let debugPort = 0;
  before(async () => {
    await relocatedExamples(configDir);
    port = await freePort();
    debugPort = await freePort();
    const args = [
      CLI,
      'demo',
      '--config-dir',
      configDir,
      '--port',
      String(port),
      '--admin-port',
      String(await freePort()),
      '--xds-address',
      `127.0.0.1:${await freePort()}`,
      '--debug-address',
      `127.0.0.1:${debugPort}`,
      '--rps',
      '2',
      '--ready-timeout',
      '90',
      '--duration',
      '600',
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    demo = child;
    exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    const collect = (b: Buffer): void => {
      if (output.length < 1 << 20) output += b.toString('utf8');
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    await waitFor(() => output.includes('Weft demo is running') || child.exitCode !== null, 110_000, 'weft demo ready');
    assert.ok(output.includes('Weft demo is running'), `weft demo did not start:\n${output}`);
  });

  after(async () => {
    agent.destroy();
    if (demo && demo.exitCode === null) {
      demo.kill('SIGKILL');
      await exited;
    }
    // The demo's children log to a temp dir it prints; remove it with ours.
    const logs = /logs in (\S+)/.exec(output)?.[1];
    if (logs && logs.includes('weft-demo-')) fs.rmSync(logs, { recursive: true, force: true });
    tmp.remove();
  });

  test('the front answers through the mesh: details and reviews, no errors', async () => {
    const r = await summary(port);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body.errors, []);
    assert.ok(['v1', 'v2'].includes(r.body.reviews_version ?? ''), JSON.stringify(r.body));
  });

  test('the control plane lists the six sidecars', async () => {
    const r = await fetch(`http://127.0.0.1:${debugPort}/debug/syncz`);
    const body = await r.text();
    assert.equal(r.status, 200, body);
    for (const pod of ['front-v1-0', 'details-v1-0', 'reviews-v1-0', 'reviews-v2-0', 'reviews-v3-0', 'ratings-v1-0']) {
      assert.ok(body.includes(`~${pod}.default~`), `syncz lists ${pod}: ${body.slice(0, 500)}`);
    }
  });

  test('1,000 requests split per the VirtualService: 80% v1, 20% v2, none to v3', async () => {
    const counts = await tally(port, 1000);
    assert.equal((counts.v1 ?? 0) + (counts.v2 ?? 0), 1000, JSON.stringify(counts));
    assert.equal(counts.v3 ?? 0, 0);
    // v2 ~ Binomial(1000, 0.2): mean 200, sd 12.6; ±5 sd.
    assert.ok(counts.v2 >= 137 && counts.v2 <= 263, JSON.stringify(counts));
  });

  test('header routing: end-user: jason always reaches v2', async () => {
    const counts = await tally(port, 100, { 'end-user': 'jason' });
    assert.deepEqual(counts, { v2: 100 });
  });

  test('editing the VirtualService weights shifts live traffic to v3', async () => {
    const file = path.join(configDir, 'reviews.yaml');
    const before = fs.readFileSync(file, 'utf8');
    const edited = before.replace(/weight: 80/, 'weight: 0').replace(/weight: 20/, 'weight: 0').replace(/(subset: v3\n\s*)weight: 0/, '$1weight: 100');
    assert.notEqual(edited, before);
    // Written beside the directory and renamed in: the control plane never sees half a file.
    const staged = path.join(tmp.dir, 'reviews.yaml.new');
    fs.writeFileSync(staged, edited);
    fs.renameSync(staged, file);
    let streak = 0;
    await waitFor(
      async () => {
        const r = await summary(port);
        streak = r.body.reviews_version === 'v3' ? streak + 1 : 0;
        return streak >= 20;
      },
      30_000,
      '20 answers in a row from reviews v3',
    );
    const counts = await tally(port, 200);
    assert.deepEqual(counts, { v3: 200 });
    await waitFor(() => /reviews\.yaml changed: valid/.test(output), 30_000, 'the demo reporting the edit as valid');
  });

  test('an invalid edit: the demo reports weft control --validate naming the file and field', async () => {
    const file = path.join(configDir, 'reviews.yaml');
    const good = fs.readFileSync(file, 'utf8');
    const staged = path.join(tmp.dir, 'reviews.yaml.bad');
    fs.writeFileSync(staged, good.replace(/weight: /, 'wieght: '));
    fs.renameSync(staged, file);
    try {
      await waitFor(() => /reviews\.yaml changed: weft control --validate reports problems/.test(output), 30_000, 'the demo reporting the problem').catch((e: Error) => {
        throw new Error(`${e.message}; the demo printed:\n${output.slice(-3000)}`);
      });
      const report = output.slice(output.lastIndexOf('reviews.yaml changed: weft control --validate reports problems'));
      assert.match(report, /reviews\.yaml/);
      assert.match(report, /wieght/);
    } finally {
      fs.writeFileSync(staged, good);
      fs.renameSync(staged, file);
    }
  });

  test('SIGINT (Ctrl-C) stops the demo and every process it started', async () => {
    const pids = [...output.matchAll(/started \S+\s+pid (\d+)/g)].map((m) => Number(m[1]));
    assert.equal(pids.length, 14, `control, 6 apps, 6 sidecars, edge:\n${output}`);
    assert.ok(pids.every(alive));
    demo?.kill('SIGINT');
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('still running'), 60_000))]);
    assert.equal(code, 0, output.slice(-2000));
    assert.deepEqual(pids.filter(alive), []);
    assert.match(output, /all 14 processes stopped/);
  });
});

describe('weft demo --duration (needs weft control and the proxy ADS client)', () => {
  const tmp = tempDir('weft-demo-e2e-duration-');
  after(() => tmp.remove());

  test('runs for the given seconds, then stops every process it started and exits 0', async () => {
    const configDir = path.join(tmp.dir, 'mesh');
    await relocatedExamples(configDir);
    const args = [
      CLI,
      'demo',
      '--config-dir',
      configDir,
      '--port',
      String(await freePort()),
      '--admin-port',
      String(await freePort()),
      '--xds-address',
      `127.0.0.1:${await freePort()}`,
      '--debug-address',
      `127.0.0.1:${await freePort()}`,
      '--rps',
      '0',
      '--ready-timeout',
      '90',
      '--duration',
      '2',
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (b: Buffer): void => {
      if (output.length < 1 << 20) output += b.toString('utf8');
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 110_000);
      child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    const logs = /logs in (\S+)/.exec(output)?.[1];
    if (logs && logs.includes('weft-demo-')) fs.rmSync(logs, { recursive: true, force: true });
    assert.equal(code, 0, output.slice(-2000));
    assert.match(output, /Weft demo is running/);
    assert.match(output, /stopping \(duration\)/);
    const pids = [...output.matchAll(/started \S+\s+pid (\d+)/g)].map((m) => Number(m[1]));
    assert.equal(pids.length, 14);
    assert.deepEqual(pids.filter(alive), []);
  });
});

describe('weft demo killed with SIGKILL (needs weft control and the proxy ADS client)', () => {
  const tmp = tempDir('weft-demo-e2e-sigkill-');
  after(() => tmp.remove());

  test('control, sidecars, edge and apps notice the demo is gone and stop on their own', async () => {
    const configDir = path.join(tmp.dir, 'mesh');
    await relocatedExamples(configDir);
    const args = [
      CLI,
      'demo',
      '--config-dir',
      configDir,
      '--port',
      String(await freePort()),
      '--admin-port',
      String(await freePort()),
      '--xds-address',
      `127.0.0.1:${await freePort()}`,
      '--debug-address',
      `127.0.0.1:${await freePort()}`,
      '--rps',
      '0',
      '--ready-timeout',
      '90',
      '--duration',
      '600',
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (b: Buffer): void => {
      if (output.length < 1 << 20) output += b.toString('utf8');
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let pids: number[] = [];
    try {
      await waitFor(() => output.includes('Weft demo is running') || child.exitCode !== null, 110_000, 'weft demo ready');
      assert.ok(output.includes('Weft demo is running'), `weft demo did not start:\n${output}`);
      pids = [...output.matchAll(/started \S+\s+pid (\d+)/g)].map((m) => Number(m[1]));
      assert.equal(pids.length, 14, output);
      child.kill('SIGKILL');
      await exited;
      // Each child stops as on SIGTERM (proxies drain for 1 s): bounded, not timed.
      await waitFor(() => pids.every((p) => !alive(p)), 30_000, 'every process the demo started gone').catch((e: Error) => {
        throw new Error(`${e.message}: still running ${pids.filter(alive).join(', ')}`);
      });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      for (const p of pids.filter(alive)) process.kill(p, 'SIGKILL');
      const logs = /logs in (\S+)/.exec(output)?.[1];
      if (logs && logs.includes('weft-demo-')) fs.rmSync(logs, { recursive: true, force: true });
    }
  });
});
