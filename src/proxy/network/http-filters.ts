import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { isObject, readObject, type Decoded } from '../../lib/decoded-read';
import { HTTP_FILTER_TYPES } from '../filters';
import type { MatchedRoute } from '../http/contracts';
import type { FilterCompileContext, HttpFilter, HttpFilterFactory, HttpFilterType } from '../http/filter';

/**
 * The connection manager's http_filters list and every typed_per_filter_config that refers to it,
 * compiled once. Per-route configs are cached by the identity of their decoded object, which the
 * route table hands back at request time.
 */

export const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const FILTER_CONFIG_TYPE = 'type.googleapis.com/envoy.config.route.v3.FilterConfig';

/** A per-route config that turns the filter off for that route. */
export const FILTER_DISABLED = Symbol('filter disabled');

/** Stands in for a filter that the request's route disables: it does nothing. */
const DISABLED_FILTER: HttpFilter = {};

export interface CompiledHttpFilters {
  factories: HttpFilterFactory[];
  perRouteConfig(filterName: string, route: MatchedRoute, cluster: string | null): unknown;
}

export function compileHttpFilters(
  filters: unknown[],
  routeConfig: Decoded | undefined,
  path: string,
  issues: ConfigIssue[],
  ctx: FilterCompileContext,
): CompiledHttpFilters {
  const factories: HttpFilterFactory[] = [];
  const typesByName = new Map<string, HttpFilterType>();
  if (filters.length === 0) issues.push({ path, message: 'http_filters must end with envoy.filters.http.router' });
  filters.forEach((f, i) => {
    const fp = joinPath(path, i);
    if (!isObject(f)) return;
    rejectUnsupported(f, fp, ['name', 'typed_config', 'is_optional', 'disabled'], issues);
    const name = typeof f.name === 'string' ? f.name : '';
    const tc = readObject(f, 'typed_config', fp, issues);
    const tp = joinPath(fp, 'typed_config');
    const typeUrl = tc?.['@type'];
    if (typeUrl === ROUTER_TYPE || (tc === undefined && name === 'envoy.filters.http.router')) {
      if (i !== filters.length - 1) issues.push({ path: fp, message: 'the router must be the last http filter' });
      if (tc !== undefined) rejectUnsupported(tc, tp, [], issues);
      return;
    }
    if (i === filters.length - 1) issues.push({ path, message: 'http_filters must end with envoy.filters.http.router' });
    const type = typeof typeUrl === 'string' ? HTTP_FILTER_TYPES.get(typeUrl) : undefined;
    if (type === undefined || tc === undefined) {
      if (f.is_optional !== true) issues.push({ path: tp, message: `http filter ${String(typeUrl ?? name)} is not implemented by Weft yet` });
      return;
    }
    if (f.disabled === true) issues.push({ path: joinPath(fp, 'disabled'), message: 'field is not implemented by Weft yet' });
    const factory = type.compile(tc, name, tp, issues, ctx);
    if (factory !== undefined) {
      factories.push(factory);
      typesByName.set(name, type);
    }
  });

  const compiled = new WeakMap<object, unknown>();
  const disabledSomewhere = new Set<string>();
  if (routeConfig !== undefined) {
    compilePerRouteConfigs(routeConfig, joinPath(path, '..route_config').replace('.http_filters..', '.'), typesByName, compiled, issues, disabledSomewhere);
  }
  // A filter that some route disables (FilterConfig disabled: true) is not created for that
  // route's requests, as Envoy leaves it out of the chain; other filters pay nothing for this.
  for (let k = 0; k < factories.length; k++) {
    const f = factories[k];
    if (!disabledSomewhere.has(f.name)) continue;
    factories[k] = {
      name: f.name,
      create(cb) {
        const route = cb.route();
        const raw = route === null ? undefined : route.perFilterConfig(f.name, null);
        if (raw !== undefined && compiled.get(raw) === FILTER_DISABLED) return DISABLED_FILTER;
        return f.create(cb);
      },
    };
  }

  return {
    factories,
    perRouteConfig(filterName, route, cluster) {
      const raw = route.perFilterConfig(filterName, cluster);
      if (raw === undefined) return undefined;
      const c = compiled.get(raw);
      return c === FILTER_DISABLED ? undefined : c;
    },
  };
}

/** Walks every typed_per_filter_config in a route configuration and compiles the entries. */
function compilePerRouteConfigs(
  rc: Decoded,
  path: string,
  types: ReadonlyMap<string, HttpFilterType>,
  out: WeakMap<object, unknown>,
  issues: ConfigIssue[],
  disabled: Set<string>,
): void {
  const visit = (owner: unknown, p: string): void => {
    if (!isObject(owner) || !isObject(owner.typed_per_filter_config)) return;
    const tp = joinPath(p, 'typed_per_filter_config');
    for (const [name, value] of Object.entries(owner.typed_per_filter_config)) {
      const vp = joinPath(tp, name);
      if (!isObject(value)) continue;
      let config: Decoded | undefined = value;
      let optional = false;
      if (value['@type'] === FILTER_CONFIG_TYPE) {
        optional = value.is_optional === true;
        if (value.disabled === true) {
          out.set(value, FILTER_DISABLED);
          disabled.add(name);
          continue;
        }
        config = isObject(value.config) ? value.config : undefined;
      }
      const type = types.get(name);
      if (type === undefined) {
        if (!optional) issues.push({ path: vp, message: `no http filter named '${name}' in this connection manager` });
        continue;
      }
      if (type.compilePerRoute === undefined || config === undefined) {
        issues.push({ path: vp, message: `http filter '${name}' has no per-route configuration` });
        continue;
      }
      out.set(value, type.compilePerRoute(config, vp, issues));
    }
  };
  visit(rc, path);
  const vhosts = Array.isArray(rc.virtual_hosts) ? rc.virtual_hosts : [];
  vhosts.forEach((v, i) => {
    const vp = joinPath(joinPath(path, 'virtual_hosts'), i);
    visit(v, vp);
    const routes = isObject(v) && Array.isArray(v.routes) ? v.routes : [];
    routes.forEach((r, j) => {
      const rp = joinPath(joinPath(vp, 'routes'), j);
      visit(r, rp);
      const action = isObject(r) ? r.route : undefined;
      const wc = isObject(action) && isObject(action.weighted_clusters) ? action.weighted_clusters.clusters : undefined;
      if (Array.isArray(wc)) wc.forEach((c, k) => visit(c, joinPath(joinPath(joinPath(rp, 'route.weighted_clusters'), 'clusters'), k)));
    });
  });
}
