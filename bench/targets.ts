// Starting the upstream and the proxies under test, each pinned and checked for readiness.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as configs from './configs';
import type { Options, ProxyName } from './options';
import { shellQuote, type Managed, type ProcessManager } from './processes';
import { treeRssMb } from './procstat';
import { httpGet, httpOk, tcpOpen, waitUntil } from './ready';

export interface Context {
  pm: ProcessManager;
  opts: Options;
  dir: string;
  ports: configs.Ports;
  tools: Record<string, string>;
  /** fd limit asked for every server process. */
  nofile: number;
  /** Connections each proxy must accept (idle test plus headroom). */
  maxConns: number;
}

export interface Target {
  name: string;
  port: number;
  proc: Managed;
  /** RSS right after start, before any proxied request. */
  rssIdleMb: number;
}

const READY_TIMEOUT_MS = 30_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function nginxArgv(ctx: Context, conf: string): string[] {
  return [ctx.tools.nginx, '-e', 'stderr', '-p', join(conf, '..'), '-c', conf];
}

/** The upstream: nginx answering 200 "ok", on the load generator's core. */
export async function startUpstream(ctx: Context): Promise<Target> {
  const conf = configs.upstreamNginx(ctx.dir, ctx.ports.upstream);
  const proc = ctx.pm.start('upstream nginx', nginxArgv(ctx, conf), { cpu: ctx.opts.loadCpu, nofile: ctx.nofile });
  await waitUntil(proc, `HTTP 200 on :${ctx.ports.upstream}`, () => httpOk(ctx.ports.upstream), READY_TIMEOUT_MS);
  return { name: 'direct', port: ctx.ports.upstream, proc, rssIdleMb: treeRssMb(proc.pid) };
}

const REPO_ROOT = resolve(__dirname, '..', '..');
const PLACEHOLDER = /\{(config|standin_nginx_conf|dir|port|admin_port|upstream_port)\}/g;

/** Weft's command line: WEFT_CMD / --weft-cmd with its placeholders filled in, or the built CLI. */
function weftCommand(ctx: Context, bootstrap: string, standin: string): string {
  let template = ctx.opts.weftCmd;
  if (!template) {
    const main = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
    if (!existsSync(main)) {
      throw new Error(`Weft is not built (${main} is missing): run npm run build, or set WEFT_CMD (see bench/README.md)`);
    }
    template = `${shellQuote(process.execPath)} ${shellQuote(main)} proxy -c {config}`;
  }
  if (!template.match(PLACEHOLDER)) template += ' -c {config}';
  const values: Record<string, string> = {
    config: bootstrap,
    standin_nginx_conf: standin,
    dir: ctx.dir,
    port: String(ctx.ports.weft),
    admin_port: String(ctx.ports.weftAdmin),
    upstream_port: String(ctx.ports.upstream),
  };
  return template.replace(PLACEHOLDER, (_, key: string) => shellQuote(values[key]));
}

function launchProxy(ctx: Context, name: ProxyName): Managed {
  const pin = { cpu: ctx.opts.proxyCpu, nofile: ctx.nofile };
  switch (name) {
    case 'weft': {
      const bootstrap = configs.weftBootstrap(ctx.dir, ctx.ports);
      const standin = configs.standinNginx(ctx.dir, ctx.ports, ctx.maxConns);
      return ctx.pm.startShell('weft', weftCommand(ctx, bootstrap, standin), pin);
    }
    case 'nginx':
      return ctx.pm.start('nginx', nginxArgv(ctx, configs.proxyNginx(ctx.dir, ctx.ports, ctx.maxConns)), pin);
    case 'haproxy':
      return ctx.pm.start('haproxy', [ctx.tools.haproxy, '-db', '-f', configs.haproxyCfg(ctx.dir, ctx.ports, ctx.maxConns)], pin);
  }
}

/**
 * Starts a proxy and waits for it: admin /ready (Weft), then its listener; reads its idle RSS
 * before any request; then checks that a request through it returns the upstream's "ok".
 */
export async function startProxy(ctx: Context, name: ProxyName): Promise<Target> {
  const port = ctx.ports[name];
  const proc = launchProxy(ctx, name);
  if (name === 'weft') {
    const admin = ctx.ports.weftAdmin;
    await waitUntil(proc, `admin GET /ready = 200 on :${admin}`, () => httpOk(admin, '/ready'), READY_TIMEOUT_MS);
  }
  await waitUntil(proc, `listener :${port} accepting`, () => tcpOpen(port), READY_TIMEOUT_MS);
  await sleep(300);
  const rssIdleMb = treeRssMb(proc.pid);
  const reply = await httpGet(port, '/', 5000).catch((e: Error) => ({ status: 0, body: e.message }));
  if (reply.status !== 200 || reply.body !== 'ok') {
    throw new Error(
      `${name} does not proxy: GET / answered ${reply.status} ${JSON.stringify(reply.body.slice(0, 200))}, want 200 "ok"\n` +
        `--- output tail ---\n${proc.outputTail()}`,
    );
  }
  return { name, port, proc, rssIdleMb };
}
