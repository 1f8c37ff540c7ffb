import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { isObject, readObject, readString, type Decoded } from '../../lib/decoded-read';
import type { ResourceUpdate, ResourceWatcher, UpdateOutcome } from '../../xds/client/ads-client';
import { formatIssues } from '../../xds/client/format-issues';
import type { RouteMatcher, MatchedRoute, RouteRequest } from '../http/contracts';
import type { PerRouteCompiler, PerRouteLookup, RdsBinding } from '../network/http-connection-manager';
import { compileRoutes } from '../route/http-adapter';
import type { StatsStore } from '../telemetry/stats';
import { parseConfigSource, type AdsSettings } from './config-source';
import { failureState, sameResource, SubscriptionStats, tallyUndecodable, type UpdateFailureState } from './subscription-stats';

/**
 * RDS: one provider per route configuration name. A connection manager with `rds` holds the
 * provider as its RouteMatcher; the provider delegates to the current compiled table, which an RDS
 * update swaps atomically. A request matches once, so it keeps the route it matched.
 */

const EMPTY_ROUTES: RouteMatcher = { match: () => null };
const NO_PER_ROUTE: PerRouteLookup = () => undefined;
const FILTER_CONFIG_TYPE = 'type.googleapis.com/envoy.config.route.v3.FilterConfig';

/**
 * One connection manager's view of a provider's per-route filter configs, compiled against its own
 * http_filters for each route configuration. The previous generation stays reachable for requests
 * that matched a route before the last swap.
 */
export class PerRouteSlot {
  current: PerRouteLookup = NO_PER_ROUTE;
  previous: PerRouteLookup = NO_PER_ROUTE;
  readonly lookup: PerRouteLookup = (filter, route, cluster) => this.current(filter, route, cluster) ?? this.previous(filter, route, cluster);
  constructor(readonly compile: PerRouteCompiler) {}
}

/** A connection manager's use of a provider. */
export interface RdsUse {
  provider: RouteProvider;
  slot: PerRouteSlot;
}

export class RouteProvider implements RouteMatcher {
  private table: RouteMatcher = EMPTY_ROUTES;
  /** A first configuration arrived (or initial_fetch_timeout passed): listeners may warm up. */
  ready = false;
  version = '';
  lastUpdated = '';
  source: Decoded | undefined;
  error: UpdateFailureState | undefined;
  initialFetchTimeoutMs: number;
  readonly stats = new Map<string, SubscriptionStats>();
  slots = new Set<PerRouteSlot>();
  private readonly waiters: (() => void)[] = [];

  constructor(
    readonly name: string,
    initialFetchTimeoutMs: number,
  ) {
    this.initialFetchTimeoutMs = initialFetchTimeoutMs;
  }

  match(req: RouteRequest, random: number): MatchedRoute | null {
    return this.table.match(req, random);
  }

  swap(table: RouteMatcher, version: string, source: Decoded, perRoute: ReadonlyMap<PerRouteSlot, PerRouteLookup>): void {
    for (const [slot, lookup] of perRoute) {
      slot.previous = slot.current;
      slot.current = lookup;
    }
    this.table = table;
    this.version = version;
    this.source = source;
    this.lastUpdated = new Date().toISOString();
    this.error = undefined;
    this.markReady();
  }

  markReady(): void {
    if (this.ready) return;
    this.ready = true;
    for (const w of this.waiters.splice(0)) w();
  }

  /** Calls `fn` once this provider is ready (now, if it is). */
  whenReady(fn: () => void): void {
    if (this.ready) fn();
    else this.waiters.push(fn);
  }
}

export class RouteProviders implements ResourceWatcher {
  private readonly providers = new Map<string, RouteProvider>();

  /** Where the names to subscribe go (the ADS client, once there is one). */
  subscribe: (names: string[]) => void = () => undefined;

  constructor(
    private readonly store: StatsStore,
    private readonly ads: AdsSettings,
    private readonly clusterExists: (name: string) => boolean,
  ) {}

  /** http_connection_manager.rds → the provider (created on first use) and this manager's slot, or undefined with issues. */
  forRds(rds: Decoded, path: string, issues: ConfigIssue[], statPrefix: string, compilePerRoute: PerRouteCompiler): (RdsUse & RdsBinding) | undefined {
    rejectUnsupported(rds, path, ['config_source', 'route_config_name'], issues);
    const name = readString(rds, 'route_config_name', path, issues) ?? '';
    if (name === '') issues.push({ path: joinPath(path, 'route_config_name'), message: 'route_config_name is required' });
    const cs = readObject(rds, 'config_source', path, issues);
    if (cs === undefined) issues.push({ path: joinPath(path, 'config_source'), message: 'config_source is required' });
    const sub = cs === undefined ? undefined : parseConfigSource(cs, joinPath(path, 'config_source'), issues, this.ads);
    if (name === '' || sub === undefined) return undefined;
    let p = this.providers.get(name);
    if (p === undefined) {
      p = new RouteProvider(name, sub.initialFetchTimeoutMs);
      this.providers.set(name, p);
    }
    const slot = new PerRouteSlot(compilePerRoute);
    if (p.source !== undefined) {
      const before = issues.length;
      const lookup = compilePerRoute(p.source, `RouteConfiguration(${name})`, issues);
      if (issues.length > before) return undefined;
      slot.current = lookup;
    }
    p.slots.add(slot);
    if (!p.stats.has(statPrefix)) p.stats.set(statPrefix, new SubscriptionStats(this.store, `http.${statPrefix}.rds.${name}`));
    return { provider: p, slot, routes: p, perRouteConfig: slot.lookup };
  }

  get(name: string): RouteProvider | undefined {
    return this.providers.get(name);
  }

  all(): RouteProvider[] {
    return [...this.providers.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Keeps only the providers (and per-manager slots) listeners still use; subscribes to exactly those names. */
  retain(uses: readonly RdsUse[]): void {
    const live = new Map<RouteProvider, Set<PerRouteSlot>>();
    for (const u of uses) {
      let set = live.get(u.provider);
      if (set === undefined) live.set(u.provider, (set = new Set()));
      set.add(u.slot);
    }
    for (const [n, p] of [...this.providers]) {
      const slots = live.get(p);
      if (slots === undefined) this.providers.delete(n);
      else p.slots = slots;
    }
    this.subscribe([...this.providers.keys()]);
  }

  onUpdate(u: ResourceUpdate): UpdateOutcome {
    const forEachStats = (p: RouteProvider | undefined, fn: (s: SubscriptionStats) => void): void => {
      if (p !== undefined) for (const s of p.stats.values()) fn(s);
    };
    const { issues, rejected } = tallyUndecodable(u, 'RouteConfiguration', (name) => {
      const p = this.providers.get(name);
      forEachStats(p, (st) => (st.update_attempt.inc(), st.update_rejected.inc()));
      return p;
    });
    for (const r of u.resources) {
      const p = this.providers.get(r.name);
      if (p === undefined) continue; // not (or no longer) subscribed: Envoy ignores it
      forEachStats(p, (s) => s.update_attempt.inc());
      if (sameResource(p.source, r.resource) && p.error === undefined) {
        p.version = r.version;
        forEachStats(p, (s) => s.accepted(r.version));
        continue;
      }
      const path = `RouteConfiguration(${r.name})`;
      const own: ConfigIssue[] = [];
      rejectDisabledFilters(r.resource, path, own);
      // validate_clusters defaults to false for RDS (clusters may arrive later); honoured when set.
      const table = compileRoutes(r.resource, path, own, r.resource.validate_clusters === true ? this.clusterExists : undefined);
      const perRoute = new Map<PerRouteSlot, PerRouteLookup>();
      if (own.length === 0) for (const slot of p.slots) perRoute.set(slot, slot.compile(r.resource, path, own));
      if (own.length > 0 || table === undefined) {
        p.error = failureState(r.resource, r.version, formatIssues(own));
        forEachStats(p, (s) => s.update_rejected.inc());
        issues.push(...own);
        rejected.push(r.name);
        continue;
      }
      p.swap(table, r.version, r.resource, perRoute);
      forEachStats(p, (s) => s.accepted(r.version));
    }
    return { issues, rejected };
  }
}

/**
 * Calls `done` once every provider is ready, or — when all have an initial_fetch_timeout — after the
 * largest of them, marking the late ones ready (their init_fetch_timeout counts). Returns the timer.
 */
export function whenRoutesReady(providers: readonly RouteProvider[], done: () => void): NodeJS.Timeout | null {
  const pending = [...new Set(providers)].filter((p) => !p.ready);
  let left = pending.length;
  if (left === 0) {
    done();
    return null;
  }
  let timer: NodeJS.Timeout | null = null;
  if (pending.every((p) => p.initialFetchTimeoutMs > 0)) {
    timer = setTimeout(() => {
      for (const p of pending) {
        if (p.ready) continue;
        for (const s of p.stats.values()) s.init_fetch_timeout.inc();
        p.markReady();
      }
    }, Math.max(...pending.map((p) => p.initialFetchTimeoutMs)));
    timer.unref();
  }
  for (const p of pending) p.whenReady(() => --left === 0 && done());
  return timer;
}

export function prefixed(prefix: string, issues: readonly ConfigIssue[]): ConfigIssue[] {
  return issues.map((i) => ({ path: i.path ? `${prefix}.${i.path}` : prefix, message: i.message }));
}

/**
 * A FilterConfig with `disabled: true` removes a filter from a route's chain, which a connection
 * manager decides when it compiles its filter factories — before an RDS table exists. Rejected by path.
 */
function rejectDisabledFilters(rc: Decoded, path: string, issues: ConfigIssue[]): void {
  const visit = (v: unknown, p: string): void => {
    if (Array.isArray(v)) v.forEach((x, i) => visit(x, `${p}[${i}]`));
    else if (isObject(v)) {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'typed_per_filter_config' && isObject(x)) {
          for (const [name, cfg] of Object.entries(x)) {
            if (isObject(cfg) && cfg['@type'] === FILTER_CONFIG_TYPE && cfg.disabled === true) {
              issues.push({ path: joinPath(joinPath(joinPath(p, k), name), 'disabled'), message: 'disabling a filter per route is not implemented by Weft for RDS route configurations yet' });
            }
          }
        } else if (isObject(x) || Array.isArray(x)) visit(x, joinPath(p, k));
      }
    }
  };
  visit(rc, path);
}
