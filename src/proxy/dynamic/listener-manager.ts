import type { ConfigIssue } from '../../lib/config-error';
import type { Decoded } from '../../lib/decoded-read';
import { logger } from '../../lib/log';
import type { ResourceUpdate, ResourceWatcher, UpdateOutcome } from '../../xds/client/ads-client';
import { formatIssues } from '../../xds/client/format-issues';
import { Listener, type ListenerConfig } from '../listener/listener';
import type { Counter, Gauge, StatsStore } from '../telemetry/stats';
import { whenRoutesReady, type RdsUse } from './route-providers';
import { failureState, sameResource, SubscriptionStats, tallyUndecodable, type UpdateFailureState } from './subscription-stats';

/**
 * LDS: listeners added, updated and removed over xDS (Envoy's listener manager).
 *
 * A new or updated listener warms until every RDS route configuration it names has arrived (or the
 * largest of their initial_fetch_timeouts passed). Then an update on the same address swaps the
 * config new connections use while the old connections drain (Listener.replaceConfig); one on a
 * new address binds a new socket and drains the old listener. A removed listener drains and closes.
 */

const log = logger('lds');

/** Compiles one Listener resource; records the RDS providers its connection managers name. */
export type ListenerCompiler = (resource: Decoded, path: string, issues: ConfigIssue[]) => { config: ListenerConfig; routes: RdsUse[] } | undefined;

interface ListenerVersion {
  config: ListenerConfig;
  routes: RdsUse[];
  version: string;
  source: Decoded;
  lastUpdated: string;
  timer: NodeJS.Timeout | null;
}

interface Entry {
  active: { listener: Listener; v: ListenerVersion } | undefined;
  warming: ListenerVersion | undefined;
  error: UpdateFailureState | undefined;
}

interface Draining {
  name: string;
  v: ListenerVersion;
}

class ListenerManagerStats {
  readonly lds: SubscriptionStats;
  readonly listener_added: Counter;
  readonly listener_modified: Counter;
  readonly listener_removed: Counter;
  readonly listener_create_success: Counter;
  readonly listener_create_failure: Counter;
  readonly total_listeners_warming: Gauge;
  readonly total_listeners_active: Gauge;
  readonly total_listeners_draining: Gauge;
  constructor(s: StatsStore) {
    this.lds = new SubscriptionStats(s, 'listener_manager.lds');
    const p = 'listener_manager.';
    this.listener_added = s.counter(p + 'listener_added');
    this.listener_modified = s.counter(p + 'listener_modified');
    this.listener_removed = s.counter(p + 'listener_removed');
    this.listener_create_success = s.counter(p + 'listener_create_success');
    this.listener_create_failure = s.counter(p + 'listener_create_failure');
    this.total_listeners_warming = s.gauge(p + 'total_listeners_warming');
    this.total_listeners_active = s.gauge(p + 'total_listeners_active');
    this.total_listeners_draining = s.gauge(p + 'total_listeners_draining');
  }
}

export class ListenerManager implements ResourceWatcher {
  private readonly entries = new Map<string, Entry>();
  private readonly draining = new Set<Draining>();
  private readonly stats: ListenerManagerStats;
  private readonly warmWaiters: (() => void)[] = [];
  version = '';
  private closed = false;

  constructor(
    private readonly store: StatsStore,
    private readonly compile: ListenerCompiler,
    private readonly staticNames: ReadonlySet<string>,
    private readonly drainMs: () => number,
    private readonly onRoutesReferenced: (uses: readonly RdsUse[]) => void,
  ) {
    this.stats = new ListenerManagerStats(store);
  }

  /** Running dynamic listeners. */
  activeListeners(): Listener[] {
    const out: Listener[] = [];
    for (const e of this.entries.values()) if (e.active) out.push(e.active.listener);
    return out;
  }

  /** Calls `fn` once no listener is warming. */
  whenNoneWarming(fn: () => void): void {
    if (this.countWarming() === 0) fn();
    else this.warmWaiters.push(fn);
  }

  onUpdate(u: ResourceUpdate): UpdateOutcome {
    const stats = this.stats;
    stats.lds.update_attempt.inc();
    const { issues, rejected, seen } = tallyUndecodable(u, 'Listener', (name) => this.entries.get(name));
    const toWarm: [Entry, ListenerVersion][] = [];
    for (const r of u.resources) {
      seen.add(r.name);
      const path = `Listener(${r.name})`;
      if (this.staticNames.has(r.name)) {
        issues.push({ path, message: `cannot update static listener '${r.name}' over LDS` });
        rejected.push(r.name);
        continue;
      }
      const e = this.entries.get(r.name) ?? { active: undefined, warming: undefined, error: undefined };
      const latest = e.warming ?? e.active?.v;
      if (latest !== undefined && sameResource(latest.source, r.resource)) {
        e.error = undefined;
        continue;
      }
      const own: ConfigIssue[] = [];
      const compiled = this.compile(r.resource, path, own);
      if (compiled !== undefined && compiled.config.name !== r.name) own.push({ path: `${path}.name`, message: `listener named '${compiled.config.name}' delivered as '${r.name}'` });
      if (compiled !== undefined && !compiled.config.bindToPort) own.push({ path: `${path}.bind_to_port`, message: 'listeners without a socket of their own (bind_to_port: false) are not implemented by Weft yet' });
      if (own.length > 0 || compiled === undefined) {
        e.error = failureState(r.resource, r.version, formatIssues(own));
        this.entries.set(r.name, e);
        issues.push(...own);
        rejected.push(r.name);
        continue;
      }
      e.error = undefined;
      this.entries.set(r.name, e);
      if (e.warming?.timer) clearTimeout(e.warming.timer);
      const v: ListenerVersion = { ...compiled, version: r.version, source: r.resource, lastUpdated: new Date().toISOString(), timer: null };
      e.warming = v;
      toWarm.push([e, v]);
    }
    const gone = u.fullState ? [...this.entries.keys()].filter((n) => !seen.has(n)) : u.removed;
    for (const name of gone) this.remove(name);
    this.publishRoutes();
    for (const [e, v] of toWarm) this.warm(e, v);
    this.updateGauges();
    this.notifyWarm();
    if (issues.length > 0) stats.lds.update_rejected.inc();
    else {
      this.version = u.version;
      stats.lds.accepted(u.version);
    }
    return { issues, rejected };
  }

  /** Shutdown: every listener drains for up to `drainMs`. */
  close(drainMs: number): Promise<void> {
    this.closed = true;
    const all: Promise<void>[] = [];
    for (const e of this.entries.values()) {
      if (e.warming?.timer) clearTimeout(e.warming.timer);
      if (e.active) all.push(e.active.listener.drain(drainMs));
    }
    return Promise.all(all).then(() => undefined);
  }

  private warm(e: Entry, v: ListenerVersion): void {
    v.timer = whenRoutesReady(
      v.routes.map((u) => u.provider),
      () => {
        if (e.warming !== v) return;
        if (v.timer) clearTimeout(v.timer);
        v.timer = null;
        void this.activate(e, v);
      },
    );
  }

  private async activate(e: Entry, v: ListenerVersion): Promise<void> {
    if (this.closed) return;
    const old = e.active;
    const name = v.config.name;
    if (old !== undefined && old.v.config.address === v.config.address && old.v.config.port === v.config.port) {
      e.warming = undefined;
      e.active = { listener: old.listener, v };
      this.stats.listener_modified.inc();
      this.trackDraining(name, old.v, old.listener.replaceConfig(v.config, this.drainMs()));
      this.settled();
      return;
    }
    const listener = new Listener(v.config, this.store);
    try {
      await listener.listen();
    } catch (err) {
      this.stats.listener_create_failure.inc();
      log.warn(`listener ${name}: cannot bind ${v.config.address}:${v.config.port}: ${(err as Error).message}`);
      if (e.warming === v) {
        e.warming = undefined;
        e.error = failureState(v.source, v.version, `cannot bind ${v.config.address}:${v.config.port}: ${(err as Error).message}`);
      }
      this.settled();
      return;
    }
    if (e.warming !== v || this.closed) {
      listener.close();
      return;
    }
    e.warming = undefined;
    e.active = { listener, v };
    this.stats.listener_create_success.inc();
    if (old !== undefined) {
      this.stats.listener_modified.inc();
      this.trackDraining(name, old.v, old.listener.drain(this.drainMs()));
    } else this.stats.listener_added.inc();
    log.info(`listener ${name} on ${v.config.address}:${listener.boundPort} (version ${v.version})`);
    this.settled();
  }

  private settled(): void {
    this.publishRoutes();
    this.updateGauges();
    this.notifyWarm();
  }

  private trackDraining(name: string, v: ListenerVersion, done: Promise<void>): void {
    const d: Draining = { name, v };
    this.draining.add(d);
    this.updateGauges();
    void done.then(() => {
      this.draining.delete(d);
      this.updateGauges();
    });
  }

  private remove(name: string): void {
    const e = this.entries.get(name);
    if (e === undefined) return;
    this.entries.delete(name);
    if (e.warming?.timer) clearTimeout(e.warming.timer);
    e.warming = undefined;
    if (e.active) {
      this.stats.listener_removed.inc();
      this.trackDraining(name, e.active.v, e.active.listener.drain(this.drainMs()));
    }
  }

  /** RDS uses of every active, warming or draining listener. */
  private publishRoutes(): void {
    const uses: RdsUse[] = [];
    const add = (v: ListenerVersion | undefined): void => {
      if (v !== undefined) uses.push(...v.routes);
    };
    for (const e of this.entries.values()) {
      add(e.active?.v);
      add(e.warming);
    }
    for (const d of this.draining) add(d.v);
    this.onRoutesReferenced(uses);
  }

  private countWarming(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.warming) n++;
    return n;
  }

  private notifyWarm(): void {
    if (this.countWarming() > 0) return;
    for (const w of this.warmWaiters.splice(0)) w();
  }

  private updateGauges(): void {
    let active = 0;
    for (const e of this.entries.values()) if (e.active) active++;
    this.stats.total_listeners_active.set(active);
    this.stats.total_listeners_warming.set(this.countWarming());
    this.stats.total_listeners_draining.set(this.draining.size);
  }

  /** ListenersConfigDump's dynamic section. */
  dump(): { version_info: string; dynamic_listeners: object[] } {
    const out: object[] = [];
    const state = (v: ListenerVersion): object => ({ version_info: v.version, listener: v.source, last_updated: v.lastUpdated });
    for (const name of [...this.entries.keys()].sort()) {
      const e = this.entries.get(name)!;
      const d: Record<string, unknown> = { name };
      if (e.active) d.active_state = state(e.active.v);
      if (e.warming) d.warming_state = state(e.warming);
      const dr = [...this.draining].find((x) => x.name === name);
      if (dr) d.draining_state = state(dr.v);
      if (e.error) d.error_state = e.error;
      out.push(d);
    }
    for (const dr of this.draining) if (!this.entries.has(dr.name)) out.push({ name: dr.name, draining_state: state(dr.v) });
    return { version_info: this.version, dynamic_listeners: out };
  }
}
