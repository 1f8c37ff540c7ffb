// The HTTP/2 suite: h2load (h2c, prior knowledge) through Weft and through nginx in the same run,
// both proxies speaking HTTP/1.1 to the same nginx upstream, as in the HTTP/1.1 suite.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as configs from './configs';
import { median } from './report';
import { httpOk, tcpOpen, waitUntil } from './ready';
import { runToEnd, type Managed } from './processes';
import { WEFT_MAIN, type Context } from './targets';

const READY_TIMEOUT_MS = 30_000;
const log = (msg: string) => console.error(`bench: ${msg}`);

export interface H2Ports {
  upstream: number;
  weft: number;
  weftAdmin: number;
  nginx: number;
}

export interface H2loadResult {
  rps: number;
  succeeded: number;
  failed: number;
  errored: number;
}

/** Parses h2load's summary ("finished in 2.00s, 12345.67 req/s, …" and the requests line). */
export function parseH2load(out: string): H2loadResult {
  const rps = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out);
  const req = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(out);
  if (rps === null || req === null) throw new Error(`unexpected h2load output:\n${out.slice(-2000)}`);
  return { rps: Number(rps[1]), succeeded: Number(req[1]), failed: Number(req[2]), errored: Number(req[3]) };
}

function nginxH2Proxy(dir: string, ports: H2Ports, maxConns: number): string {
  // The HTTP/1.1 suite's nginx proxy, its listener switched to HTTP/2 (h2c with prior knowledge).
  const file = configs.proxyNginx(dir, { ...unusedPorts(), upstream: ports.upstream, nginx: ports.nginx }, maxConns);
  const text = readFileSync(file, 'utf8').replace(`listen 127.0.0.1:${ports.nginx} backlog=4096;`, `listen 127.0.0.1:${ports.nginx} backlog=4096 http2;`);
  if (!text.includes(' http2;')) throw new Error('could not make the nginx proxy listen with http2');
  writeFileSync(file, text);
  return file;
}

function unusedPorts(): configs.Ports {
  return { upstream: 0, weft: 0, weftAdmin: 0, weftPolicies: 0, weftPoliciesAdmin: 0, nginx: 0, haproxy: 0 };
}

function nginxArgv(ctx: Context, conf: string): string[] {
  return [ctx.tools.nginx, '-e', 'stderr', '-p', join(conf, '..'), '-c', conf];
}

async function h2load(ctx: Context, port: number, durationS: number): Promise<H2loadResult> {
  const { opts, pm } = ctx;
  // 64 connections × 10 streams, like wrk's 64 connections but multiplexed as HTTP/2 clients do.
  const argv = [ctx.tools.h2load, '-c', String(opts.connections), '-m', '10', '-t', '1', '-D', String(durationS), `http://127.0.0.1:${port}/`];
  const proc = pm.start('h2load', argv, { cpu: opts.loadCpu });
  const out = await runToEnd(pm, proc, (durationS + 30) * 1000);
  return parseH2load(out);
}

export async function runH2Suite(ctx: Context, ports: H2Ports): Promise<string[]> {
  const dir = join(ctx.dir, 'h2');
  mkdirSync(dir, { recursive: true });
  const pin = { cpu: ctx.opts.proxyCpu, nofile: ctx.nofile };
  const upConf = configs.upstreamNginx(dir, ports.upstream);
  const upstream = ctx.pm.start('h2 upstream nginx', nginxArgv(ctx, upConf), { cpu: ctx.opts.loadCpu, nofile: ctx.nofile });
  await waitUntil(upstream, `HTTP 200 on :${ports.upstream}`, () => httpOk(ports.upstream), READY_TIMEOUT_MS);
  const targets: Array<{ name: string; port: number; proc: Managed }> = [];
  if (ctx.opts.proxies.includes('weft')) {
    const bootstrap = configs.weftBootstrap(dir, { ...unusedPorts(), upstream: ports.upstream, weft: ports.weft, weftAdmin: ports.weftAdmin });
    const proc = ctx.pm.start('weft (h2)', [process.execPath, WEFT_MAIN, 'proxy', '-c', bootstrap], pin);
    await waitUntil(proc, `admin /ready on :${ports.weftAdmin}`, () => httpOk(ports.weftAdmin, '/ready'), READY_TIMEOUT_MS);
    targets.push({ name: 'weft', port: ports.weft, proc });
  }
  if (ctx.opts.proxies.includes('nginx')) {
    const proc = ctx.pm.start('nginx (h2)', nginxArgv(ctx, nginxH2Proxy(dir, ports, ctx.maxConns)), pin);
    await waitUntil(proc, `listener :${ports.nginx}`, () => tcpOpen(ports.nginx), READY_TIMEOUT_MS);
    targets.push({ name: 'nginx', port: ports.nginx, proc });
  }
  const results = new Map<string, H2loadResult[]>(targets.map((t) => [t.name, []]));
  for (const t of targets) if (ctx.opts.warmupS > 0) await h2load(ctx, t.port, ctx.opts.warmupS);
  for (let r = 1; r <= ctx.opts.rounds; r++) {
    for (const t of targets) {
      const res = await h2load(ctx, t.port, ctx.opts.durationS);
      results.get(t.name)!.push(res);
      log(`http2 round ${r}/${ctx.opts.rounds} ${t.name.padEnd(6)} ${res.rps.toFixed(0)} req/s  (${res.succeeded} ok, ${res.failed} failed, ${res.errored} errored)`);
    }
  }
  for (const t of targets) await ctx.pm.stop(t.proc, 2000);
  await ctx.pm.stop(upstream, 2000);
  const lines = ['HTTP/2 (h2load, h2c prior knowledge, HTTP/1.1 upstream):'];
  const rps = new Map<string, number>();
  for (const [name, rs] of results) {
    const m = median(rs.map((x) => x.rps));
    rps.set(name, m);
    const failed = rs.reduce((a, x) => a + x.failed + x.errored, 0);
    lines.push(`  ${name.padEnd(6)} ${m.toFixed(0)} req/s${failed ? `  (${failed} failed/errored)` : ''}`);
  }
  const w = rps.get('weft');
  const n = rps.get('nginx');
  if (w !== undefined && n !== undefined && n > 0) lines.push(`  weft/nginx: ${(w / n).toFixed(2)}x (target >= 0.80x)`);
  lines.push(JSON.stringify({ suite: 'http2', weft_rps: w ?? null, nginx_rps: n ?? null, ratio: w !== undefined && n ? Number((w / n).toFixed(3)) : null }));
  return lines;
}
