/**
 * LEAST_REQUEST, as Envoy: with equal weights, sample `choice_count` hosts at random (default 2,
 * "power of two choices") and take the one with fewest active requests; with different weights,
 * EDF where a host's weight is `weight / (active_requests + 1) ^ active_request_bias`
 * (bias default 1.0; 0 = plain weighted round robin).
 */
import type { Host } from '../host';
import { EdfScheduler } from './edf';
import type { LbDeps } from './types';
import { HostSource, weightsAreEqual, ZoneAwareLb } from './zone-aware';

interface LrState {
  edf: EdfScheduler<Host> | null;
}

export interface LeastRequestOptions {
  choiceCount: number;
  activeRequestBias: number;
}

export class LeastRequestLb extends ZoneAwareLb<LrState> {
  private readonly hostWeight: (h: Host) => number;

  constructor(
    deps: LbDeps,
    private readonly opts: LeastRequestOptions,
  ) {
    super(deps);
    const bias = opts.activeRequestBias;
    this.hostWeight =
      bias === 1
        ? (h) => h.weight / (h.activeRequests + 1)
        : bias === 0
          ? (h) => h.weight
          : (h) => h.weight / Math.pow(h.activeRequests + 1, bias);
  }

  protected makeState(hosts: Host[]): LrState {
    if (hosts.length > 1 && !weightsAreEqual(hosts)) {
      return { edf: new EdfScheduler(hosts, this.hostWeight, Math.floor(Math.random() * hosts.length)) };
    }
    return { edf: null };
  }

  protected pickFrom(source: HostSource<LrState>): Host | null {
    if (source.state.edf !== null) return source.state.edf.pick();
    const hosts = source.hosts;
    const n = hosts.length;
    if (n === 0) return null;
    if (n === 1) return hosts[0];
    let best: Host | null = null;
    for (let i = 0; i < this.opts.choiceCount; i++) {
      const h = hosts[this.rng.next() % n];
      if (best === null || h.activeRequests < best.activeRequests) best = h;
    }
    return best;
  }
}
