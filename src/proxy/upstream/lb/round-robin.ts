/**
 * ROUND_ROBIN: equal weights → strict rotation; different weights → EDF (smooth weighted round
 * robin, as Envoy). Each source starts at a random offset so that proxies do not move in lockstep.
 */
import type { Host } from '../host';
import { EdfScheduler } from './edf';
import { HostSource, weightsAreEqual, ZoneAwareLb } from './zone-aware';

interface RrState {
  edf: EdfScheduler<Host> | null;
  index: number;
}

const hostWeight = (h: Host): number => h.weight;

export class RoundRobinLb extends ZoneAwareLb<RrState> {
  protected makeState(hosts: Host[]): RrState {
    const seed = Math.floor(Math.random() * 65536);
    if (hosts.length > 1 && !weightsAreEqual(hosts)) {
      return { edf: new EdfScheduler(hosts, hostWeight, seed % hosts.length), index: 0 };
    }
    return { edf: null, index: seed };
  }

  protected pickFrom(source: HostSource<RrState>): Host | null {
    const s = source.state;
    if (s.edf !== null) return s.edf.pick();
    const hosts = source.hosts;
    if (hosts.length === 0) return null;
    const h = hosts[s.index % hosts.length];
    s.index = (s.index + 1) % 0x40000000;
    return h;
  }
}
