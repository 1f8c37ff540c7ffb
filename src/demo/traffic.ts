import * as http from 'node:http';

/**
 * The demo's steady trickle: a few requests a second to the front's summary, tallied by which
 * reviews version answered, over the whole run and over the last few seconds (so a weight change
 * shows at once).
 */

export const UNAVAILABLE = 'unavailable';
const MAX_IN_FLIGHT = 4;
const REQUEST_TIMEOUT_MS = 5000;
const MAX_BODY = 1 << 20;

/** One answer's label: `v1`/`v2`/`v3`, `unavailable` (front answered without reviews), `HTTP 503`, or `error`. */
export function classify(status: number, body: string): string {
  if (status !== 200) return `HTTP ${status}`;
  try {
    const v = (JSON.parse(body) as { reviews_version?: unknown }).reviews_version;
    return typeof v === 'string' ? v : UNAVAILABLE;
  } catch {
    return 'bad body';
  }
}

/** Counts by label, in a fixed-size ring of recent results plus running totals. */
export class Tally {
  readonly totals = new Map<string, number>();
  private readonly recent: string[] = [];
  private static readonly MAX_LABELS = 64;

  constructor(private readonly window: number) {}

  add(label: string): void {
    if (this.totals.has(label) || this.totals.size < Tally.MAX_LABELS) this.totals.set(label, (this.totals.get(label) ?? 0) + 1);
    this.recent.push(label);
    if (this.recent.length > this.window) this.recent.shift();
  }

  get count(): number {
    let n = 0;
    for (const v of this.totals.values()) n += v;
    return n;
  }

  recentCounts(): Map<string, number> {
    const m = new Map<string, number>();
    for (const l of this.recent) m.set(l, (m.get(l) ?? 0) + 1);
    return m;
  }

  /** `last 20: v1 16 · v2 4 | total 120: v1 96 (80%) · v2 24 (20%)` */
  render(): string {
    const fmt = (m: Map<string, number>, pct: boolean): string => {
      const n = [...m.values()].reduce((a, b) => a + b, 0);
      return [...m.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k} ${v}${pct && n > 0 ? ` (${Math.round((100 * v) / n)}%)` : ''}`)
        .join(' · ');
    };
    return `last ${Math.min(this.recent.length, this.window)}: ${fmt(this.recentCounts(), false)} | total ${this.count}: ${fmt(this.totals, true)}`;
  }
}

export class Trickle {
  readonly tally: Tally;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: MAX_IN_FLIGHT });
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  skipped = 0;

  constructor(
    private readonly url: string,
    private readonly rps: number,
    window: number,
  ) {
    this.tally = new Tally(window);
  }

  start(): void {
    this.timer = setInterval(() => this.fire(), Math.max(10, Math.round(1000 / this.rps)));
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.agent.destroy();
  }

  private fire(): void {
    if (this.inFlight >= MAX_IN_FLIGHT) {
      this.skipped++;
      return;
    }
    this.inFlight++;
    let done = false;
    const finish = (label: string): void => {
      if (done) return;
      done = true;
      this.inFlight--;
      if (this.timer) this.tally.add(label);
    };
    const req = http.get(this.url, { agent: this.agent, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = [];
      let length = 0;
      res.on('data', (c: Buffer) => {
        length += c.length;
        if (length <= MAX_BODY) chunks.push(c);
      });
      res.on('end', () => finish(classify(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'))));
      res.on('error', () => finish('error'));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => finish('error'));
  }
}
