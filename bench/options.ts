// Benchmark options: command-line flags, each with an environment-variable twin (flags win).
import { cpus } from 'node:os';

/** Proxies under test, in the order they take turns within a round. */
export const PROXIES = ['weft', 'weft-policies', 'nginx', 'haproxy'] as const;
export type ProxyName = (typeof PROXIES)[number];
export type WeftName = Extract<ProxyName, 'weft' | 'weft-policies'>;

/** Targets run by the Weft binary (Weft's command and admin /ready apply). */
export function isWeft(name: ProxyName): name is WeftName {
  return name === 'weft' || name === 'weft-policies';
}

/** Whether a proxy gets the idle-connection test (weft-policies only measures the filter chain's cost). */
export function runsIdleTest(name: string): boolean {
  return name !== 'weft-policies';
}

/** Benchmark suites: HTTP/1.1 (wrk), HTTP/2 (h2load), gRPC unary (grpc-js), TLS (wrk over https). */
export const SUITES = ['http1', 'http2', 'grpc', 'tls'] as const;
export type SuiteName = (typeof SUITES)[number];

export interface Options {
  suites: SuiteName[];
  durationS: number;
  rounds: number;
  warmupS: number;
  connections: number;
  idleConns: number;
  proxies: ProxyName[];
  /** Shell command template for Weft (placeholders: {config} {standin_nginx_conf} {dir} ...). */
  weftCmd: string | undefined;
  proxyCpu: number;
  loadCpu: number;
  keepTmp: boolean;
  quick: boolean;
}

export const USAGE = `usage: node dist/bench/run.js [flags]   (or: npm run bench -- [flags])
  --duration S       seconds per wrk run                 (BENCH_DURATION, default 5; --quick: 2)
  --rounds N         interleaved rounds, median reported  (BENCH_ROUNDS, default 3; --quick: 1)
  --warmup S         warm-up seconds per proxy            (BENCH_WARMUP, default 1)
  --connections N    connections of the throughput run    (BENCH_CONNECTIONS, default 64)
  --idle-conns N     idle keep-alive connections, 0 = off (BENCH_IDLE_CONNS, default 10000)
  --proxies LIST     comma list of weft,weft-policies,nginx,haproxy (BENCH_PROXIES, default all)
  --suites LIST      comma list of http1,http2,grpc,tls   (BENCH_SUITES, default all)
  --weft-cmd CMD     command that starts Weft             (WEFT_CMD, default: node dist/src/cli/main.js proxy -c {config})
  --proxy-cpu N      core the proxies are pinned to       (BENCH_PROXY_CPU, default 1)
  --load-cpu N       core of wrk, upstream, idle client   (BENCH_LOAD_CPU, default 0)
  --quick            short run (< 1 minute)               (BENCH_QUICK=1)
  --keep-tmp         keep the temp dir (configs, logs)    (BENCH_KEEP_TMP=1)
  --help`;

const FLAG_ENV: Record<string, string> = {
  duration: 'BENCH_DURATION',
  rounds: 'BENCH_ROUNDS',
  warmup: 'BENCH_WARMUP',
  connections: 'BENCH_CONNECTIONS',
  'idle-conns': 'BENCH_IDLE_CONNS',
  proxies: 'BENCH_PROXIES',
  suites: 'BENCH_SUITES',
  'weft-cmd': 'WEFT_CMD',
  'proxy-cpu': 'BENCH_PROXY_CPU',
  'load-cpu': 'BENCH_LOAD_CPU',
  quick: 'BENCH_QUICK',
  'keep-tmp': 'BENCH_KEEP_TMP',
};
const BOOLEAN_FLAGS = new Set(['quick', 'keep-tmp']);

export class UsageError extends Error {}

/** Collects flag values (`--name value`, `--name=value`, boolean `--name`) over env defaults. */
function collect(argv: string[], env: NodeJS.ProcessEnv): Map<string, string> {
  const values = new Map<string, string>();
  for (const [flag, name] of Object.entries(FLAG_ENV)) {
    const v = env[name];
    if (v !== undefined && v !== '') values.set(flag, v);
  }
  for (let i = 0; i < argv.length; i++) {
    const m = argv[i].match(/^--([a-z-]+)(?:=(.*))?$/);
    if (!m) throw new UsageError(`unexpected argument: ${argv[i]}`);
    const flag = m[1];
    if (flag === 'help') throw new UsageError('');
    if (!(flag in FLAG_ENV)) throw new UsageError(`unknown flag --${flag}`);
    if (BOOLEAN_FLAGS.has(flag)) values.set(flag, m[2] ?? '1');
    else {
      const v = m[2] ?? argv[++i];
      if (v === undefined) throw new UsageError(`--${flag} needs a value`);
      values.set(flag, v);
    }
  }
  return values;
}

function num(values: Map<string, string>, flag: string, dflt: number, min: number): number {
  const raw = values.get(flag);
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`--${flag} must be a number >= ${min}, got ${raw}`);
  return n;
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && !['0', 'false', 'no', ''].includes(v.toLowerCase());
}

function suiteList(raw: string | undefined): SuiteName[] {
  if (!raw) return [...SUITES];
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of list) if (!(SUITES as readonly string[]).includes(s)) throw new UsageError(`unknown suite ${s}`);
  return SUITES.filter((s) => list.includes(s));
}

function proxyList(raw: string | undefined): ProxyName[] {
  if (!raw) return [...PROXIES];
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const p of list) if (!(PROXIES as readonly string[]).includes(p)) throw new UsageError(`unknown proxy ${p}`);
  return PROXIES.filter((p) => list.includes(p));
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): Options {
  const v = collect(argv, env);
  const quick = truthy(v.get('quick'));
  const twoCores = cpus().length >= 2;
  const opts: Options = {
    quick,
    durationS: num(v, 'duration', quick ? 2 : 5, 1),
    rounds: Math.floor(num(v, 'rounds', quick ? 1 : 3, 1)),
    warmupS: num(v, 'warmup', 1, 0),
    connections: Math.floor(num(v, 'connections', 64, 1)),
    idleConns: Math.floor(num(v, 'idle-conns', 10_000, 0)),
    proxies: proxyList(v.get('proxies')),
    suites: suiteList(v.get('suites')),
    weftCmd: v.get('weft-cmd'),
    proxyCpu: Math.floor(num(v, 'proxy-cpu', twoCores ? 1 : 0, 0)),
    loadCpu: Math.floor(num(v, 'load-cpu', 0, 0)),
    keepTmp: truthy(v.get('keep-tmp')),
  };
  if (!opts.proxies.length) throw new UsageError('--proxies selects no proxy');
  if (!opts.suites.length) throw new UsageError('--suites selects no suite');
  return opts;
}

/** Rough upper bound of the run's length, for the watchdog. */
export function budgetSeconds(o: Options): number {
  const runs = o.rounds * (1 + 2 * o.proxies.length);
  const load = runs * (o.durationS + 1) + o.proxies.length * (o.warmupS + 1);
  const idle = o.idleConns ? o.proxies.filter(runsIdleTest).length * (5 + o.idleConns / 1000) : 0;
  // Start-up: each proxy's readiness, plus the validation of the weft-policies bootstrap.
  const start = 5 * o.proxies.length + (o.proxies.includes('weft-policies') ? 10 : 0);
  const http1 = o.suites.includes('http1') ? start + load + idle : 0;
  // HTTP/2: warm-up and rounds for weft and nginx; gRPC: the same for direct and weft; plus start-up.
  const perSuite = 2 * (o.warmupS + 2) + o.rounds * 2 * (o.durationS + 2) + 15;
  // TLS: two wrk runs (keep-alive, handshakes) per proxy and round.
  const tls = o.suites.includes('tls') ? 2 * (o.warmupS + 2) + o.rounds * 4 * (o.durationS + 2) + 20 : 0;
  const extra = (o.suites.includes('http2') ? perSuite : 0) + (o.suites.includes('grpc') ? perSuite : 0) + tls;
  return Math.ceil(30 + http1 + extra);
}
