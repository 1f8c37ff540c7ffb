/**
 * A fleet of simulated proxies: `count` lightweight ADS clients over a few shared channels, each
 * subscribing LDS and CDS (wildcard) and then the RDS and EDS names they refer to, ACKing all.
 * Measures how long a config change takes to reach (be ACKed by) every one of them.
 */
import type * as grpc from '@grpc/grpc-js';
import { TYPE_URL } from '../../src/control/contracts';
import { adsChannel, AdsClient, Mode, Received } from './ads-client';

export interface FleetOptions {
  readonly address: string;
  readonly count: number;
  /** Streams per channel (HTTP/2 connection). */
  readonly perChannel?: number;
  readonly mode?: Mode;
}

export class Fleet {
  readonly clients: AdsClient[] = [];
  private readonly channels: grpc.Client[] = [];
  /**
   * Per client: when it first received, for some type, a version that type did not hold anywhere
   * in the fleet before the change (set by measureChange). Per type, because versions are content
   * hashes: an edit back to an earlier file gives that file's version again, which other types
   * (pushed only when they change) may still carry.
   */
  private firstNew: Array<number | undefined> = [];
  private known: Map<string, Set<string>> | undefined;

  constructor(private readonly options: FleetOptions) {}

  /** Connects every client and subscribes it; returns at once (see waitSynced). */
  connect(): void {
    const perChannel = this.options.perChannel ?? 100;
    for (let i = 0; i < this.options.count; i++) {
      if (i % perChannel === 0) this.channels.push(adsChannel(this.options.address, { 'weft.bench.channel': i }));
      const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      const index = i;
      const client = new AdsClient(this.channels[this.channels.length - 1], {
        nodeId: `sidecar~${ip}~bench-${i}.default~default.svc.cluster.local`,
        cluster: 'bench.default',
        metadata: { NAMESPACE: 'default', LABELS: { app: 'bench' }, INSTANCE_IPS: ip, ISTIO_VERSION: '1.24.0', CLUSTER_ID: 'Kubernetes' },
        mode: this.options.mode ?? 'sotw',
        keep: 4,
        light: true,
        onReceived: (r) => this.onReceived(index, r),
      });
      this.clients.push(client);
      this.firstNew.push(undefined);
      client.subscribe(TYPE_URL.cluster);
      client.subscribe(TYPE_URL.listener);
    }
  }

  /** Every client has a response for every type it subscribed to, and LDS and CDS at least. */
  synced(): boolean {
    return this.clients.every((c) => c.version(TYPE_URL.cluster) !== '' && c.version(TYPE_URL.listener) !== '' && c.types().every((t) => c.version(t) !== ''));
  }

  async waitSynced(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.synced()) {
      const ended = this.clients.find((c) => c.ended);
      if (ended) throw new Error(`an ADS stream ended: ${ended.ended?.code} ${ended.ended?.details}`);
      if (Date.now() > deadline) {
        const behind = this.clients.filter((c) => !(c.version(TYPE_URL.cluster) && c.version(TYPE_URL.listener))).length;
        throw new Error(`fleet not synced after ${timeoutMs} ms (${behind} of ${this.clients.length} clients lack LDS/CDS)`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Versions held now, across the fleet. */
  private versionsNow(): Map<string, Set<string>> {
    const out = new Map<string, Set<string>>();
    for (const c of this.clients) {
      for (const t of c.types()) {
        let set = out.get(t);
        if (set === undefined) out.set(t, (set = new Set()));
        set.add(c.version(t));
      }
    }
    return out;
  }

  private onReceived(index: number, r: Received): void {
    if (this.known && this.firstNew[index] === undefined && !this.known.get(r.typeUrl)?.has(r.version)) this.firstNew[index] = performance.now();
  }

  /**
   * Runs `change` and returns, per client, ms from the change to its first response carrying a new
   * version (already ACKed when recorded); clients that saw none within `timeoutMs` are counted in `missed`.
   */
  async measureChange(change: () => void, timeoutMs: number): Promise<{ latenciesMs: number[]; missed: number }> {
    this.known = this.versionsNow();
    this.firstNew = this.clients.map(() => undefined);
    const t0 = performance.now();
    change();
    const deadline = Date.now() + timeoutMs;
    while (this.firstNew.some((t) => t === undefined) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const latenciesMs = this.firstNew.filter((t): t is number => t !== undefined).map((t) => t - t0);
    const missed = this.firstNew.length - latenciesMs.length;
    this.known = undefined;
    return { latenciesMs, missed };
  }

  close(): void {
    for (const c of this.clients) c.close();
    for (const ch of this.channels) ch.close();
  }
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
