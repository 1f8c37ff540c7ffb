// Starting the upstream and the proxies under test, each pinned and checked for readiness.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as configs from './configs';
import { isWeft, type Options, type ProxyName, type WeftName } from './options';
import { runToEnd, shellQuote, type Managed, type ProcessManager } from './processes';
import { treeRssMb } from './procstat';
import { httpGet, httpOk, tcpOpen, waitUntil, type HttpReply } from './ready';

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
  /** Admin port (Weft targets). */
  admin?: number;
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
export const WEFT_MAIN = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
const PLACEHOLDER = /\{(config|standin_nginx_conf|dir|port|admin_port|upstream_port)\}/g;

/** A Weft target's command line: WEFT_CMD / --weft-cmd with its placeholders filled in, or the built CLI. */
function weftCommand(ctx: Context, name: WeftName, bootstrap: string, standin: string): string {
  let template = ctx.opts.weftCmd;
  if (!template) {
    if (!existsSync(WEFT_MAIN)) {
      throw new Error(`Weft is not built (${WEFT_MAIN} is missing): run npm run build, or set WEFT_CMD (see bench/README.md)`);
    }
    template = `${shellQuote(process.execPath)} ${shellQuote(WEFT_MAIN)} proxy -c {config}`;
  }
  if (!template.match(PLACEHOLDER)) template += ' -c {config}';
  const { port, admin } = configs.proxyPorts(ctx.ports, name);
  const values: Record<string, string> = {
    config: bootstrap,
    standin_nginx_conf: standin,
    dir: ctx.dir,
    port: String(port),
    admin_port: String(admin),
    upstream_port: String(ctx.ports.upstream),
  };
  return template.replace(PLACEHOLDER, (_, key: string) => shellQuote(values[key]));
}

/**
 * Self-check of a generated bootstrap: `weft proxy -c FILE --mode validate` must accept it (so that a
 * typo in a field name fails here, with Weft's own message, rather than as a proxy that won't start).
 */
async function validateBootstrap(ctx: Context, file: string): Promise<void> {
  if (!existsSync(WEFT_MAIN)) {
    console.error(`bench: not validating ${file}: Weft is not built`);
    return;
  }
  const proc = ctx.pm.start('weft --mode validate', [process.execPath, WEFT_MAIN, 'proxy', '-c', file, '--mode', 'validate'], {});
  await runToEnd(ctx.pm, proc, 30_000);
  if (proc.exit?.code !== 0) {
    throw new Error(`Weft rejects the generated ${file} (${proc.describeExit()}):\n${proc.outputTail()}`);
  }
}

async function launchProxy(ctx: Context, name: ProxyName): Promise<Managed> {
  const pin = { cpu: ctx.opts.proxyCpu, nofile: ctx.nofile };
  switch (name) {
    case 'weft':
    case 'weft-policies': {
      let bootstrap: string;
      if (name === 'weft') {
        bootstrap = configs.weftBootstrap(ctx.dir, ctx.ports);
      } else {
        bootstrap = configs.weftPoliciesBootstrap(ctx.dir, ctx.ports);
        await validateBootstrap(ctx, bootstrap);
      }
      const standin = configs.standinNginx(ctx.dir, name, ctx.ports, ctx.maxConns);
      return ctx.pm.startShell(name, weftCommand(ctx, name, bootstrap, standin), pin);
    }
    case 'nginx':
      return ctx.pm.start('nginx', nginxArgv(ctx, configs.proxyNginx(ctx.dir, ctx.ports, ctx.maxConns)), pin);
    case 'haproxy':
      return ctx.pm.start('haproxy', [ctx.tools.haproxy, '-db', '-f', configs.haproxyCfg(ctx.dir, ctx.ports, ctx.maxConns)], pin);
  }
}

/** What is wrong with weft-policies' answer to GET /: its route and header_mutation must have run. */
function policyProblems(reply: HttpReply): string[] {
  const h = configs.POLICY_HEADERS;
  const want: Array<[string, string, string]> = [
    [h.echoRoute, h.route.value, `the target route's request_headers_to_add (${h.route.name})`],
    [h.echoMutation, h.requestMutation.value, `header_mutation's request header (${h.requestMutation.name})`],
    [h.responseMutation.name, h.responseMutation.value, `header_mutation's response header`],
  ];
  return want
    .filter(([name, value]) => reply.headers[name] !== value)
    .map(([name, value, what]) => `${what}: response header ${name} is ${JSON.stringify(reply.headers[name] ?? null)}, want ${JSON.stringify(value)}`);
}

/**
 * Starts a proxy and waits for it: admin /ready (Weft), then its listener; reads its idle RSS
 * before any request; then checks that a request through it returns the upstream's "ok" (and, for
 * weft-policies, that it went through the target route and the header_mutation filter).
 */
export async function startProxy(ctx: Context, name: ProxyName): Promise<Target> {
  const { port, admin } = configs.proxyPorts(ctx.ports, name);
  const proc = await launchProxy(ctx, name);
  if (isWeft(name)) {
    await waitUntil(proc, `admin GET /ready = 200 on :${admin}`, () => httpOk(admin!, '/ready'), READY_TIMEOUT_MS);
  }
  await waitUntil(proc, `listener :${port} accepting`, () => tcpOpen(port), READY_TIMEOUT_MS);
  await sleep(300);
  const rssIdleMb = treeRssMb(proc.pid);
  const reply: HttpReply = await httpGet(port, '/', 5000).catch((e: Error) => ({ status: 0, body: e.message, headers: {} }));
  const problems = reply.status !== 200 || reply.body !== 'ok'
    ? [`GET / answered ${reply.status} ${JSON.stringify(reply.body.slice(0, 200))}, want 200 "ok"`]
    : name === 'weft-policies' ? policyProblems(reply) : [];
  if (problems.length) {
    throw new Error(`${name} does not proxy as configured: ${problems.join('; ')}\n--- output tail ---\n${proc.outputTail()}`);
  }
  return { name, port, admin, proc, rssIdleMb };
}
