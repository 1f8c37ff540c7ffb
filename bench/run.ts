// `npm run bench`: Weft (plain, and with a realistic set of policies), nginx and haproxy side by
// side in front of one nginx upstream.
// Progress goes to stderr; the table, the ratios and one JSON line per proxy go to stdout.
// See bench/README.md.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTools } from './deps';
import { idleTest } from './idle';
import { budgetSeconds, parseOptions, runsIdleTest, USAGE, UsageError, type Options } from './options';
import { describePolicyStats, readPolicyStats } from './policies';
import { freePorts } from './ports';
import { ProcessManager } from './processes';
import { openFilesLimit, UsageMeter, type Usage } from './procstat';
import { jsonLines, median, renderRatios, renderTable, summarize, warnings, type ProxySamples } from './report';
import { startProxy, startUpstream, type Context, type Target } from './targets';
import { runWrk, writeWrkScript, type WrkResult } from './wrk';
import { runH2Suite } from './h2';
import { runGrpcSuite } from './grpc';
import { runTlsSuite } from './tls';

const NOFILE = 65_536;
/** Other programs' CPU (% of a core) above which a run is flagged as disturbed. */
const NOISY_PCT = 10;
const log = (msg: string) => console.error(`bench: ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Bench {
  ctx: Context;
  wrkScript: string;
  upstream: Target;
  proxies: Target[];
  /** Width of the proxy names in progress lines. */
  nameWidth: number;
}

function describe(r: WrkResult): string {
  if (r.requests === 0) return 'NO REQUEST COMPLETED (stalled)';
  const errs = Object.values(r.errors).reduce((a, b) => a + b, 0);
  return `${r.rps.toFixed(0)} rps  p50 ${r.p50Ms.toFixed(3)} ms  p99 ${r.p99Ms.toFixed(3)} ms${errs ? `  ERRORS ${errs}` : ''}`;
}

function wrk(b: Bench, port: number, connections: number, durationS: number): Promise<WrkResult> {
  const { pm, tools, opts } = b.ctx;
  return runWrk(pm, tools.wrk, b.wrkScript, { url: `http://127.0.0.1:${port}/`, connections, durationS, cpu: opts.loadCpu });
}

/** Runs wrk against a target while metering `root`'s CPU/RSS and the machine's other load. */
async function metered(b: Bench, root: number, port: number, connections: number): Promise<[WrkResult, Usage]> {
  const { proxyCpu, loadCpu } = b.ctx.opts;
  const proxies = b.proxies.map((p) => p.proc.pid);
  const own = [b.upstream.proc.pid, ...proxies];
  const shared = proxyCpu === loadCpu;
  const meter = new UsageMeter(root, own, { core: proxyCpu, roots: shared ? own : proxies, withSelf: shared });
  const result = await wrk(b, port, connections, b.ctx.opts.durationS);
  return [result, meter.stop()];
}

function noiseNote(u: Usage): string {
  if (u.noisePct < NOISY_PCT) return '';
  return `  (other load on the machine: ${u.noisePct.toFixed(0)}%, on the proxies' core: ${u.coreNoisePct.toFixed(0)}%)`;
}

/** One proxy's turn in a round: throughput at N connections (with CPU/RSS), then latency at 1. */
async function measureProxy(b: Bench, t: Target, s: ProxySamples, label: string): Promise<void> {
  const n = b.ctx.opts.connections;
  const [loaded, usage] = await metered(b, t.proc.pid, t.port, n);
  s.loaded.push(loaded);
  s.usage.push(usage);
  log(`${label} ${t.name.padEnd(b.nameWidth)} c${n}: ${describe(loaded)}  cpu ${usage.cpuPct.toFixed(0)}%  rss ${usage.rssPeakMb.toFixed(1)} MB${noiseNote(usage)}`);
  const [single, u1] = await metered(b, t.proc.pid, t.port, 1);
  s.single.push(single);
  s.noise.push(usage.noisePct, u1.noisePct);
  s.coreNoise.push(usage.coreNoisePct, u1.coreNoisePct);
  log(`${label} ${t.name.padEnd(b.nameWidth)} c1:  ${describe(single)}${noiseNote(u1)}`);
}

async function runRounds(b: Bench, samples: ProxySamples[]): Promise<WrkResult[]> {
  const { opts } = b.ctx;
  if (opts.warmupS > 0) {
    for (const t of b.proxies) await wrk(b, t.port, opts.connections, opts.warmupS);
    log(`warmed up (${opts.warmupS} s each)`);
  }
  const direct: WrkResult[] = [];
  for (let r = 1; r <= opts.rounds; r++) {
    const label = `round ${r}/${opts.rounds}`;
    const [d, u] = await metered(b, b.upstream.proc.pid, b.upstream.port, 1);
    direct.push(d);
    log(`${label} ${'direct'.padEnd(b.nameWidth)} c1:  ${describe(d)}${noiseNote(u)}`);
    for (const [i, t] of b.proxies.entries()) await measureProxy(b, t, samples[i], label);
  }
  return direct;
}

async function runIdleTests(b: Bench, samples: ProxySamples[]): Promise<void> {
  const { opts, pm } = b.ctx;
  for (const [i, t] of b.proxies.entries()) {
    if (!runsIdleTest(t.name)) continue;
    const res = await idleTest(pm, {
      port: t.port,
      count: opts.idleConns,
      proxyPid: t.proc.pid,
      cpu: opts.loadCpu,
      nofile: NOFILE,
      timeoutMs: 60_000 + opts.idleConns * 5,
    });
    samples[i].idle = res;
    const errs = Object.entries(res.errors).map(([k, v]) => `${k}=${v}`).join(' ');
    log(`idle ${t.name.padEnd(b.nameWidth)} ${res.ok}/${res.requested} ok, ${res.open} open in ${res.openMs} ms: rss ${res.rssMb.toFixed(1)} MB${errs ? `  errors: ${errs}` : ''}`);
    await sleep(1000); // let the proxy close its side before the next one
  }
}

/** weft-policies' counters: its filter chain ran on every request, and no policy fired. */
async function readPolicies(b: Bench, samples: ProxySamples[]): Promise<void> {
  for (const [i, t] of b.proxies.entries()) {
    if (t.name !== 'weft-policies' || t.admin === undefined) continue;
    samples[i].policy = await readPolicyStats(t.admin);
    log(`${t.name} counters: ${samples[i].policy ? describePolicyStats(samples[i].policy!) : 'admin /stats not available'}`);
  }
}

async function startAll(ctx: Context): Promise<Omit<Bench, 'wrkScript' | 'nameWidth'>> {
  const upstream = await startUpstream(ctx);
  log(`upstream nginx ready on :${upstream.port} (pid ${upstream.proc.pid})`);
  const proxies: Target[] = [];
  for (const name of ctx.opts.proxies) {
    const t = await startProxy(ctx, name);
    const fds = openFilesLimit(t.proc.pid);
    log(`${name} ready on :${t.port} (pid ${t.proc.pid}, core ${ctx.opts.proxyCpu}, fd limit ${fds}, idle rss ${t.rssIdleMb.toFixed(1)} MB)`);
    if (fds !== undefined && runsIdleTest(name) && fds < ctx.opts.idleConns + 64) log(`warning: ${name}'s fd limit ${fds} is below the idle test's ${ctx.opts.idleConns} connections`);
    proxies.push(t);
  }
  return { ctx, upstream, proxies };
}

async function benchmark(ctx: Context): Promise<void> {
  const nameWidth = Math.max('direct'.length, ...ctx.opts.proxies.map((p) => p.length));
  const b: Bench = { ...(await startAll(ctx)), wrkScript: writeWrkScript(ctx.dir), nameWidth };
  const samples: ProxySamples[] = b.proxies.map((t) => ({ name: t.name, loaded: [], single: [], usage: [], noise: [], coreNoise: [], rssIdleMb: t.rssIdleMb }));
  const direct = await runRounds(b, samples);
  await readPolicies(b, samples);
  if (ctx.opts.idleConns > 0) await runIdleTests(b, samples);

  const n = ctx.opts.connections;
  const directP50 = median(direct.map((r) => r.p50Ms));
  const directP99 = median(direct.map((r) => r.p99Ms));
  const summaries = samples.map((s) => summarize(s, directP50));
  console.log(renderTable(summaries, { p50: directP50, p99: directP99 }, n));
  const ratios = renderRatios(summaries, n);
  if (ratios) console.log(`\n${ratios}`);
  for (const w of warnings(summaries, NOISY_PCT)) console.log(`WARNING: ${w}`);
  console.log('');
  console.log(jsonLines(summaries, n, Number(directP50.toFixed(3))));
}

function pinSelf(cpu: number): void {
  spawnSync('taskset', ['-cp', String(cpu), String(process.pid)], { stdio: 'ignore' });
}

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    if (e.message) console.error(`bench: ${e.message}`);
    console.error(USAGE);
    return e.message ? 2 : 0;
  }
  const tools = ensureTools();
  pinSelf(opts.loadCpu);
  const pm = new ProcessManager();
  pm.installCleanupHandlers((why) => log(`aborting: ${why}`));
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-'));
  if (!opts.keepTmp) process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const budget = budgetSeconds(opts);
  const watchdog = setTimeout(() => {
    log(`aborting: exceeded the time budget of ${budget} s`);
    void pm.stopAll().finally(() => process.exit(1));
  }, budget * 1000);
  watchdog.unref();
  log(`${opts.proxies.join(', ')}; suites ${opts.suites.join(', ')}: ${opts.rounds} round(s) x ${opts.durationS} s, ${opts.connections} conns, ${opts.idleConns} idle conns; temp dir ${dir}`);
  let code = 0;
  try {
    const [upstream, weft, weftAdmin, weftPolicies, weftPoliciesAdmin, nginx, haproxy, ...more] = await freePorts(18);
    const ports = { upstream, weft, weftAdmin, weftPolicies, weftPoliciesAdmin, nginx, haproxy };
    const ctx = { pm, opts, dir, ports, tools, nofile: NOFILE, maxConns: opts.idleConns + 1024 };
    if (opts.suites.includes('http1')) await benchmark(ctx);
    // The HTTP/1.1 suite's processes stay up, idle, until the end (they use no CPU meanwhile).
    const extra: string[] = [];
    if (opts.suites.includes('http2') && (opts.proxies.includes('weft') || opts.proxies.includes('nginx'))) {
      extra.push(...(await runH2Suite(ctx, { upstream: more[0], weft: more[1], weftAdmin: more[2], nginx: more[3] })));
    }
    if (opts.suites.includes('grpc') && opts.proxies.includes('weft')) {
      extra.push(...(await runGrpcSuite(ctx, { server: more[4], weft: more[5], weftAdmin: more[6] })));
    }
    if (opts.suites.includes('tls') && (opts.proxies.includes('weft') || opts.proxies.includes('nginx'))) {
      extra.push(...(await runTlsSuite(ctx, { upstream: more[7], weft: more[8], weftAdmin: more[9], nginx: more[10] })));
    }
    if (extra.length) console.log('\n' + extra.join('\n'));
  } catch (e) {
    if (!pm.shuttingDown) log(`FAILED: ${e instanceof Error ? e.message : String(e)}`);
    code = 1;
  } finally {
    clearTimeout(watchdog);
    await pm.stopAll();
    const left = pm.leftovers();
    if (left.length) {
      log(`warning: processes still alive after cleanup: ${left.join(' ')}`);
      pm.killAllSync();
    }
    if (opts.keepTmp) log(`kept ${dir}`);
  }
  return code;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
