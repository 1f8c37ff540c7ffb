import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { edgeBootstrap, sidecarBootstrap, sidecarNodeId } from './bootstrap';
import { banner } from './banner';
import { ConfigWatch } from './config-watch';
import { ChildSet, describeExit, tailOf, type ManagedChild } from './children';
import { httpGet, NotReadyError, tcpAccepts, waitReady } from './probe';
import { readTopology, TopologyError, type DemoTopology, type DemoWorkload, type HostPort } from './topology';
import { classify, Trickle } from './traffic';

/**
 * `weft demo`: a bookinfo-like mesh on one machine, one process per component: `weft control`
 * serving the config directory, per workload its sample service and a `weft proxy` sidecar, and an
 * edge proxy as the entry point; then a trickle of traffic and a running tally of which reviews
 * version answered. See docs/demo.md for the addressing.
 */

export interface DemoOptions {
  /** The mesh's YAML; default: examples/demo of this package. */
  readonly configDir: string;
  /** The entry point: 127.0.0.1:<port>. */
  readonly port: number;
  /** The edge proxy's admin port on 127.0.0.1. */
  readonly adminPort: number;
  readonly xdsAddress: HostPort;
  readonly debugAddress: HostPort;
  /** Stop after this many seconds; default: until SIGINT/SIGTERM. */
  readonly durationS?: number;
  /** Trickle requests per second (0: none). */
  readonly rps: number;
  /** Seconds to wait for everything to be ready. */
  readonly readyTimeoutS: number;
  /** Seconds between tally lines. */
  readonly reportEveryS: number;
}

export const DEFAULT_CONFIG_DIR = path.join(__dirname, '..', '..', '..', 'examples', 'demo');
const CLI = path.join(__dirname, '..', 'cli', 'main.js');
const SERVICE_MAIN = path.join(__dirname, 'services', 'main.js');
/** The weft CLI behind an IPC channel: control and proxies stop when the demo dies (see supervised.ts). */
const SUPERVISED_CLI = path.join(__dirname, '..', 'cli', 'supervised.js');
const STOP_GRACE_MS = 5000;

type Print = (line: string) => void;

const addr = (a: HostPort): string => `${a.host}:${a.port}`;

interface Started {
  control?: ManagedChild;
  apps: ManagedChild[];
  sidecars: ManagedChild[];
  edge?: ManagedChild;
}

function startControl(children: ChildSet, opts: DemoOptions): ManagedChild {
  return children.start('control', SUPERVISED_CLI, [
    'control',
    '--config-dir',
    opts.configDir,
    '--xds-address',
    addr(opts.xdsAddress),
    '--debug-address',
    addr(opts.debugAddress),
  ], true);
}

function startApp(children: ChildSet, w: DemoWorkload): ManagedChild {
  const args = ['--service', w.app, '--version', w.version, '--instance', w.pod, '--listen', addr(w.appListen)];
  for (const u of w.upstreams) args.push('--upstream', u);
  return children.start(`app-${w.pod}`, SERVICE_MAIN, args, true);
}

function writeJson(dir: string, name: string, body: object): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(body, null, 2) + '\n');
  return file;
}

function startSidecar(children: ChildSet, w: DemoWorkload, dir: string, opts: DemoOptions): ManagedChild {
  const file = writeJson(dir, `sidecar-${w.pod}.json`, sidecarBootstrap(w, opts.xdsAddress));
  return children.start(`sidecar-${w.pod}`, SUPERVISED_CLI, ['proxy', '-c', file, '--drain-time-s', '1'], true);
}

const answers = (url: string, pred: (status: number, body: string) => boolean) => async (): Promise<boolean> => {
  const r = await httpGet(url);
  return r !== undefined && pred(r.status, r.body);
};

async function startAll(children: ChildSet, topo: DemoTopology, opts: DemoOptions, dir: string, print: Print, started: Started): Promise<void> {
  const deadline = Date.now() + opts.readyTimeoutS * 1000;
  const left = (): number => Math.max(1000, deadline - Date.now());
  const report = (c: ManagedChild, what: string): void => print(`  started ${c.name.padEnd(28)} pid ${String(c.pid).padEnd(8)} ${what}`);

  const control = startControl(children, opts);
  started.control = control;
  report(control, `xDS ${addr(opts.xdsAddress)}, debug ${addr(opts.debugAddress)}`);
  await waitReady(`weft control serving xDS on ${addr(opts.xdsAddress)}`, () => tcpAccepts(opts.xdsAddress), left(), control);

  for (const w of topo.workloads) {
    const c = startApp(children, w);
    started.apps.push(c);
    report(c, `${w.app} ${w.version} on ${addr(w.appListen)}`);
  }
  await Promise.all(
    topo.workloads.map((w, i) =>
      waitReady(`${w.app} ${w.version} answering on ${addr(w.appListen)}`, answers(`http://${addr(w.appListen)}/health`, (s) => s === 200), left(), started.apps[i]),
    ),
  );

  for (const w of topo.workloads) {
    const c = startSidecar(children, w, dir, opts);
    started.sidecars.push(c);
    report(c, `ingress ${addr(w.ingress)}, admin ${addr(w.admin)}`);
  }
  await Promise.all(
    topo.workloads.map((w, i) =>
      waitReady(`the sidecar of ${w.pod} (${sidecarNodeId(w)}) ready`, answers(`http://${addr(w.admin)}/ready`, (s) => s === 200), left(), started.sidecars[i]),
    ),
  );

  const edgeFile = writeJson(dir, 'edge.json', edgeBootstrap({ host: '127.0.0.1', port: opts.port }, { host: '127.0.0.1', port: opts.adminPort }, topo.front.ingress));
  started.edge = children.start('edge', SUPERVISED_CLI, ['proxy', '-c', edgeFile, '--drain-time-s', '1'], true);
  report(started.edge, `entry 127.0.0.1:${opts.port} → ${addr(topo.front.ingress)}, admin 127.0.0.1:${opts.adminPort}`);
  await waitReady(`the edge proxy ready`, answers(`http://127.0.0.1:${opts.adminPort}/ready`, (s) => s === 200), left(), started.edge);

  // End to end: the front answers through the mesh with details and reviews.
  let last = '';
  await waitReady(
    `http://127.0.0.1:${opts.port}/api/summary answering through the mesh`,
    async () => {
      const r = await httpGet(`http://127.0.0.1:${opts.port}/api/summary`);
      if (!r) return false;
      last = r.body.slice(0, 500);
      if (classify(r.status, r.body).startsWith('v')) {
        const errors = (JSON.parse(r.body) as { errors?: unknown[] }).errors ?? [];
        return errors.length === 0;
      }
      return false;
    },
    left(),
  ).catch((e: Error) => {
    throw new NotReadyError(`${e.message}${last ? `\nlast answer: ${last}` : ''}`);
  });
}

export async function runDemo(opts: DemoOptions, print: Print): Promise<number> {
  let topo: DemoTopology;
  try {
    topo = readTopology(opts.configDir);
  } catch (e) {
    print(e instanceof TopologyError ? e.message : `cannot read ${opts.configDir}: ${(e as Error).message}`);
    return 1;
  }
  if (!fs.existsSync(CLI)) {
    print(`weft demo: ${CLI} is missing; run npm run build first`);
    return 1;
  }
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-demo-'));
  const children = new ChildSet(logDir);
  const killOnExit = (): void => children.killAllNow();
  process.on('exit', killOnExit);
  print(`weft demo: ${topo.workloads.length} workloads from ${opts.configDir}; logs in ${logDir}`);

  let resolveStopped: (reason: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => (resolveStopped = resolve));
  const stop = (reason: string): void => {
    children.expectExits();
    resolveStopped(reason);
  };
  const onSignal = (signal: NodeJS.Signals): void => stop(signal);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let failed = false;
  children.onUnexpectedExit((c) => {
    failed = true;
    print(`weft demo: ${describeExit(c)}; ${c.logFile} ends with:\n${tailOf(c.logFile)}`);
    stop(`${c.name} exited`);
  });

  const started: Started = { apps: [], sidecars: [] };
  let trickle: Trickle | undefined;
  let tallyTimer: NodeJS.Timeout | undefined;
  const watch = new ConfigWatch(opts.configDir, CLI, print);
  let code = 0;
  try {
    const ready = startAll(children, topo, opts, logDir, print, started).then(() => 'ready');
    const first = await Promise.race([ready, stopped]);
    if (first !== 'ready') {
      ready.catch(() => undefined);
      print(`weft demo: stopped before it was ready (${first})`);
      code = 1;
    } else {
      print(banner(topo, opts, logDir));
      watch.start();
      if (opts.rps > 0) {
        trickle = new Trickle(`http://127.0.0.1:${opts.port}/api/summary`, opts.rps, Math.max(10, opts.rps * opts.reportEveryS));
        trickle.start();
        const t = trickle;
        tallyTimer = setInterval(() => print(`[${new Date().toISOString().slice(11, 19)}] reviews ${t.tally.render()}`), opts.reportEveryS * 1000);
      }
      const timer = opts.durationS !== undefined ? setTimeout(() => stop('duration'), opts.durationS * 1000) : undefined;
      const reason = await stopped;
      if (timer) clearTimeout(timer);
      print(`weft demo: stopping (${reason})`);
      if (failed) code = 1;
    }
  } catch (e) {
    print(`weft demo: ${(e as Error).message}`);
    code = 1;
  } finally {
    if (tallyTimer) clearInterval(tallyTimer);
    watch.close();
    trickle?.stop();
    if (trickle && trickle.tally.count > 0) print(`weft demo: final tally: reviews ${trickle.tally.render()}`);
    await children.stopInOrder([started.edge ? [started.edge] : [], started.sidecars, started.apps, started.control ? [started.control] : []], STOP_GRACE_MS);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', killOnExit);
    print(`weft demo: all ${children.all().length} processes stopped; logs kept in ${logDir}`);
  }
  return code;
}
