// `npm run bench:control`: how fast `weft control` propagates a config change to many proxies, and
// what each connected proxy costs it in memory. Starts `weft control` on a generated config dir,
// connects 1, 100 and 1,000 simulated proxies (lightweight ADS clients, one process), edits a
// VirtualService weight and times file write → ACK of the new version by every client.
// Progress goes to stderr; the table and one JSON line per scenario go to stdout.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fleet, percentile } from './control/fleet';
import { virtualServiceFile, virtualServiceYaml, writeMeshConfig } from './control/mesh-config';
import { freePorts } from './ports';
import { clockTicks } from './procstat';
import { Managed, ProcessManager, readStat } from './processes';

const log = (msg: string): void => void process.stderr.write(`bench:control: ${msg}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const CLI = join(__dirname, '..', 'src', 'cli', 'main.js');

interface Options {
  services: number[];
  clients: number[];
  edits: number;
  mode: 'sotw' | 'delta';
  keepTmp: boolean;
  /** Services each proxy imports through a namespace-wide Sidecar (undefined: every service). */
  sidecar: number | undefined;
}

const USAGE = `usage: npm run bench:control -- [--quick] [--services 100,1000] [--clients 1,100,1000] [--edits N] [--delta] [--sidecar N] [--keep-tmp]
  --quick      100 services; 1 and 100 clients; 3 edits
  --services   comma list of service counts           (default 100,1000)
  --clients    comma list of simulated proxy counts   (default 1,100,1000)
  --edits      VirtualService edits measured per run  (default 5)
  --delta      clients use delta xDS instead of state-of-the-world
  --sidecar N  a Sidecar scopes every proxy to N services (istiod's egress scoping); default: all
  --keep-tmp   keep the generated config directory`;

function parseOptions(argv: string[]): Options {
  const o: Options = { services: [100, 1000], clients: [1, 100, 1000], edits: 5, mode: 'sotw', keepTmp: false, sidecar: undefined };
  const list = (v: string | undefined, flag: string): number[] => {
    const out = (v ?? '').split(',').map(Number);
    if (!v || out.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`${flag} needs a comma list of positive integers\n${USAGE}`);
    return out;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') Object.assign(o, { services: [100], clients: [1, 100], edits: 3 });
    else if (a === '--services') o.services = list(argv[++i], a);
    else if (a === '--clients') o.clients = list(argv[++i], a);
    else if (a === '--edits') o.edits = list(argv[++i], a)[0];
    else if (a === '--delta') o.mode = 'delta';
    else if (a === '--sidecar') o.sidecar = list(argv[++i], a)[0];
    else if (a === '--keep-tmp') o.keepTmp = true;
    else throw new Error(`unknown flag ${a}\n${USAGE}`);
  }
  return o;
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** JS heap + external memory of the control plane, from its /metrics. */
async function liveBytes(debugAddress: string): Promise<number> {
  const text = await (await fetch(`http://${debugAddress}/metrics`)).text();
  const gauge = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return gauge('nodejs_heap_size_used_bytes') + gauge('nodejs_external_memory_bytes');
}

async function waitReady(debugAddress: string, proc: Managed, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!proc.alive) throw new Error(`weft control ${proc.describeExit()}:\n${proc.outputTail()}`);
    try {
      if ((await fetch(`http://${debugAddress}/ready`)).ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`weft control not ready after ${timeoutMs} ms:\n${proc.outputTail()}`);
}

/** CPU ms a process has used so far (user + system), from /proc. */
function cpuMs(pid: number): number {
  const st = readStat(pid);
  return st ? ((st.utime + st.stime) * 1000) / clockTicks() : NaN;
}

/** CPU ms this (the fleet's) process has used so far. */
function ownCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

interface Row {
  services: number;
  clients: number;
  syncMs: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  missed: number;
  /** CPU ms per edit: the control plane's and the simulated fleet's (both include their idle work). */
  serverCpuMsPerEdit: number;
  fleetCpuMsPerEdit: number;
  rssIdleMB: number;
  rssConnectedMB: number;
  kbPerProxy: number;
  /** Growth of JS heap + external memory per client (garbage included: no forced GC). */
  heapKbPerProxy: number;
}

async function scenario(pm: ProcessManager, dir: string, services: number, clients: number, o: Options): Promise<Row> {
  const [xdsPort, debugPort] = await freePorts(2);
  const debugAddress = `127.0.0.1:${debugPort}`;
  // WEFT_BENCH_CONTROL_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the control plane.
  const nodeArgs = (process.env.WEFT_BENCH_CONTROL_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const proc = pm.start(`weft control (${services} services)`, [process.execPath, ...nodeArgs, CLI, 'control', '--config-dir', dir, '--xds-address', `127.0.0.1:${xdsPort}`, '--debug-address', debugAddress], { nofile: 65_536 });
  const fleet = new Fleet({ address: `127.0.0.1:${xdsPort}`, count: clients, mode: o.mode });
  try {
    await waitReady(debugAddress, proc, 60_000);
    await sleep(500);
    const rssIdle = rssBytes(proc.pid);
    const heapIdle = await liveBytes(debugAddress);
    const t0 = performance.now();
    fleet.connect();
    await fleet.waitSynced(120_000);
    const syncMs = performance.now() - t0;
    await sleep(500);
    const rssConnected = rssBytes(proc.pid);
    const heapConnected = await liveBytes(debugAddress);
    const all: number[] = [];
    let missed = 0;
    let serverCpu = 0;
    let fleetCpu = 0;
    for (let e = 0; e < o.edits; e++) {
      const server0 = cpuMs(proc.pid);
      const fleet0 = ownCpuMs();
      const weight = 80 - 10 * (e % 7);
      const r = await fleet.measureChange(() => writeFileSync(virtualServiceFile(dir, 0), virtualServiceYaml(0, services, weight)), 30_000);
      const serverMs = cpuMs(proc.pid) - server0;
      const fleetMs = ownCpuMs() - fleet0;
      serverCpu += serverMs;
      fleetCpu += fleetMs;
      all.push(...r.latenciesMs);
      missed += r.missed;
      log(`  edit ${e + 1}/${o.edits}: ${r.latenciesMs.length} clients, max ${Math.max(...r.latenciesMs).toFixed(0)} ms, CPU server ${serverMs.toFixed(0)} ms fleet ${fleetMs.toFixed(0)} ms${r.missed ? `, ${r.missed} MISSED` : ''}`);
      await sleep(300);
    }
    all.sort((a, b) => a - b);
    return {
      services,
      clients,
      syncMs,
      p50Ms: percentile(all, 50),
      p99Ms: percentile(all, 99),
      maxMs: all.length ? all[all.length - 1] : NaN,
      missed,
      serverCpuMsPerEdit: serverCpu / o.edits,
      fleetCpuMsPerEdit: fleetCpu / o.edits,
      rssIdleMB: rssIdle / 2 ** 20,
      rssConnectedMB: rssConnected / 2 ** 20,
      kbPerProxy: (rssConnected - rssIdle) / 1024 / clients,
      heapKbPerProxy: (heapConnected - heapIdle) / 1024 / clients,
    };
  } finally {
    fleet.close();
    await pm.stop(proc);
  }
}

function table(rows: Row[]): string {
  const head = ['services', 'clients', 'sync ms', 'p50 ms', 'p99 ms', 'max ms', 'missed', 'srv CPU ms/edit', 'fleet CPU ms/edit', 'RSS idle MB', 'RSS conn MB', 'RSS KB/proxy', 'heap KB/proxy'];
  const cells = rows.map((r) => [r.services, r.clients, r.syncMs.toFixed(0), r.p50Ms.toFixed(1), r.p99Ms.toFixed(1), r.maxMs.toFixed(1), r.missed, r.serverCpuMsPerEdit.toFixed(0), r.fleetCpuMsPerEdit.toFixed(0), r.rssIdleMB.toFixed(1), r.rssConnectedMB.toFixed(1), r.kbPerProxy.toFixed(1), r.heapKbPerProxy.toFixed(1)].map(String));
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  return [head, ...cells].map((c) => c.map((x, i) => x.padStart(w[i])).join('  ')).join('\n');
}

async function main(): Promise<number> {
  const o = parseOptions(process.argv.slice(2));
  const pm = new ProcessManager();
  pm.installCleanupHandlers((why) => log(why));
  const rows: Row[] = [];
  const dirs: string[] = [];
  try {
    for (const services of o.services) {
      const dir = mkdtempSync(join(tmpdir(), `weft-bench-control-${services}-`));
      dirs.push(dir);
      writeMeshConfig(dir, services, o.sidecar);
      for (const clients of o.clients) {
        log(`${services} services${o.sidecar ? ` (Sidecar: ${o.sidecar} imported)` : ''}, ${clients} ${o.mode} clients`);
        const row = await scenario(pm, dir, services, clients, o);
        rows.push(row);
        process.stdout.write(`${JSON.stringify({ bench: 'control', mode: o.mode, sidecarImports: o.sidecar ?? null, ...row })}\n`);
      }
    }
    process.stdout.write(`\npropagation: VirtualService file write → new version ACKed by each client (${o.edits} edits)\n${table(rows)}\n`);
    const worst = rows.filter((r) => r.clients >= 1000 && !(r.p99Ms < 1000));
    if (worst.length) log(`target missed: p99 < 1 s at 1,000 clients (${worst.map((r) => `${r.services} services: ${r.p99Ms.toFixed(0)} ms`).join(', ')})`);
    return rows.some((r) => r.missed > 0) ? 1 : 0;
  } finally {
    await pm.stopAll();
    if (!o.keepTmp) for (const d of dirs) rmSync(d, { recursive: true, force: true });
    else log(`config kept in ${dirs.join(', ')}`);
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    log(e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
