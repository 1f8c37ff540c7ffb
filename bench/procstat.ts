// CPU and memory of a process tree, from /proc. A proxy is measured as its whole process tree
// (nginx's master + worker, or a Weft with workers), so the numbers compare like with like.
import { readdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { readStat } from './processes';

let ticksPerSecond: number | undefined;

export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(r.stdout?.trim());
    ticksPerSecond = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return ticksPerSecond;
}

/** The pid and all its living descendants. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const st = readStat(Number(entry));
    if (!st) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(Number(entry));
    children.set(st.ppid, list);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** utime + stime of the given processes, in clock ticks. */
export function cpuTicks(pids: number[]): number {
  let sum = 0;
  for (const pid of pids) {
    const st = readStat(pid);
    if (st) sum += st.utime + st.stime;
  }
  return sum;
}

function statusField(pid: number, field: string): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+)`, 'm'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Sum of VmRSS over the processes, in MB. */
export function rssMb(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + statusField(pid, 'VmRSS'), 0) / 1024;
}

export function treeRssMb(root: number): number {
  return rssMb(processTree(root));
}

/** The soft RLIMIT_NOFILE a running process got. */
export function openFilesLimit(pid: number): number | undefined {
  try {
    const m = readFileSync(`/proc/${pid}/limits`, 'utf8').match(/^Max open files\s+(\d+|unlimited)/m);
    return m ? (m[1] === 'unlimited' ? Infinity : Number(m[1])) : undefined;
  } catch {
    return undefined;
  }
}

/** Busy CPU of the whole machine (no `core`) or of one core, in ticks: user+nice+system+steal
 * (interrupt time is left out, since the kernel charges loopback packet work there rather than to
 * our processes). */
export function machineBusyTicks(core?: number): number {
  const label = core === undefined ? 'cpu' : `cpu${core}`;
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`${label} `));
  if (!line) return 0;
  const f = line.trim().split(/\s+/).map(Number);
  return f[1] + f[2] + f[3] + f[8];
}

/** This process's CPU including its reaped children (wrk and idle-client runs end up here). */
function selfTicks(): number {
  const st = readStat('self');
  return st ? st.utime + st.stime + st.cutime + st.cstime : 0;
}

export interface Usage {
  /** CPU time of the measured tree over the interval, as % of one core. */
  cpuPct: number;
  rssPeakMb: number;
  rssAfterMb: number;
  /** CPU used by processes that are not the benchmark's (other work on the machine), % of one core. */
  noisePct: number;
  /** Of that, what ran on the proxies' core (it takes cycles from the proxy directly), % of the core. */
  coreNoisePct: number;
}

/** The proxies' core, and the process trees of ours that run there. */
export interface CoreWatch {
  core: number;
  roots: number[];
  /** The benchmark itself (and the wrk runs it reaps) runs on that core too. */
  withSelf: boolean;
}

/**
 * Measures a process tree's CPU over an interval, samples its RSS for the peak, and estimates
 * the CPU other programs took meanwhile (machine busy time minus everything the benchmark runs).
 */
export class UsageMeter {
  private readonly pids: number[];
  private readonly ours: number[];
  private readonly t0 = process.hrtime.bigint();
  private readonly ticks0: number;
  private readonly oursTicks0: number;
  private readonly machine0: number;
  private readonly onCore: number[];
  private readonly core0: number;
  private readonly onCoreTicks0: number;
  private peak = 0;
  private readonly timer: NodeJS.Timeout;

  /**
   * `root` is measured; `ownRoots` are every other process tree the benchmark started; `core`
   * names the proxies' core and our trees pinned there (all of ours when it is also the load's).
   */
  constructor(root: number, ownRoots: number[], private readonly core?: CoreWatch, sampleMs = 200) {
    this.pids = processTree(root);
    this.ours = [...new Set([...this.pids, ...ownRoots.flatMap((r) => processTree(r))])];
    this.onCore = core ? [...new Set(core.roots.flatMap((r) => processTree(r)))] : [];
    this.ticks0 = cpuTicks(this.pids);
    this.oursTicks0 = cpuTicks(this.ours) + selfTicks();
    this.machine0 = machineBusyTicks();
    this.onCoreTicks0 = this.onCoreTicks();
    this.core0 = core ? machineBusyTicks(core.core) : 0;
    this.sample();
    this.timer = setInterval(() => this.sample(), sampleMs);
  }

  private onCoreTicks(): number {
    return cpuTicks(this.onCore) + (this.core?.withSelf ? selfTicks() : 0);
  }

  private sample(): number {
    const rss = rssMb(this.pids);
    this.peak = Math.max(this.peak, rss);
    return rss;
  }

  stop(): Usage {
    clearInterval(this.timer);
    const seconds = Number(process.hrtime.bigint() - this.t0) / 1e9;
    const pct = (ticks: number) => (100 * ticks) / clockTicks() / seconds;
    const cpu = cpuTicks(this.pids) - this.ticks0;
    const ours = cpuTicks(this.ours) + selfTicks() - this.oursTicks0;
    const machine = machineBusyTicks() - this.machine0;
    const coreOthers = this.core ? machineBusyTicks(this.core.core) - this.core0 - (this.onCoreTicks() - this.onCoreTicks0) : 0;
    const after = this.sample();
    return {
      cpuPct: pct(cpu),
      rssPeakMb: this.peak,
      rssAfterMb: after,
      noisePct: Math.max(0, pct(machine - ours)),
      coreNoisePct: Math.min(Math.max(0, pct(coreOthers)), Math.max(0, pct(machine - ours))),
    };
  }
}
