/**
 * envoy.filters.http.header_mutation (envoy.extensions.filters.http.header_mutation.v3.HeaderMutation)
 * with the per-route HeaderMutationPerRoute.
 *
 * Mutations (envoy.config.common.mutation_rules.v3.HeaderMutation) run one after another in configured
 * order, each against the headers as the previous ones left them: append (a HeaderValueOption whose
 * value may hold %OPERATORS%; append_action; an empty value is skipped unless keep_empty_value),
 * remove (every value of a header), remove_on_match (every header whose name matches key_matcher).
 * Requests: the filter's request_mutations, then the route's; responses likewise with
 * response_mutations.
 *
 * Envoy applies the per-route mutations of every level (route table, virtual host, route; with
 * most_specific_header_mutations_wins the most specific last); Weft's filter callbacks give only the
 * most specific level, which is applied after the filter's own.
 *
 * Not implemented (reported by path): query_parameter_mutations, request_trailers_mutations,
 * response_trailers_mutations.
 */
import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { isObject, readArray, readBool, readObject, readString, type Decoded } from '../../lib/decoded-read';
import type { HeaderMap } from '../../lib/headers';
import { compileStringMatcher, type StringMatchFn } from '../../lib/matchers';
import type { StreamInfo } from '../stream-info';
import {
  FilterStatus,
  type FilterCallbacks,
  type HttpFilter,
  type HttpFilterFactory,
  type HttpFilterType,
} from '../http/filter';
import { checkMutableHeaderName, checkPerRouteType } from './common';
import { compileHeaderValueOption, HeaderAdd } from '../route/header-value-option';

export const HEADER_MUTATION_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation';
export const HEADER_MUTATION_PER_ROUTE_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutationPerRoute';

/** One mutation: an append entry, a header name to remove, or a matcher of names to remove. */
type Mutation = HeaderAdd | string | StringMatchFn;

function applyMutations(list: readonly Mutation[], headers: HeaderMap, info: StreamInfo): void {
  for (let i = 0; i < list.length; i++) {
    const m = list[i];
    if (typeof m === 'string') {
      headers.remove(m);
    } else if (m instanceof HeaderAdd) {
      m.apply(headers, info);
    } else {
      const names = headers.names;
      for (let j = names.length - 1; j >= 0; j--) {
        if (m(names[j])) {
          names.splice(j, 1);
          headers.values.splice(j, 1);
        }
      }
    }
  }
}

/** Compiled Mutations: request and response header mutation lists. */
export class HeaderMutations {
  constructor(
    readonly request: readonly Mutation[],
    readonly response: readonly Mutation[],
  ) {}

  mutateRequest(headers: HeaderMap, info: StreamInfo): void {
    if (this.request.length > 0) applyMutations(this.request, headers, info);
  }

  mutateResponse(headers: HeaderMap, info: StreamInfo): void {
    if (this.response.length > 0) applyMutations(this.response, headers, info);
  }
}

function compileMutationList(obj: Decoded, field: string, path: string, issues: ConfigIssue[]): Mutation[] {
  const out: Mutation[] = [];
  const list = readArray(obj, field, path, issues);
  for (let i = 0; i < list.length; i++) {
    const p = joinPath(joinPath(path, field), i);
    const m = list[i];
    if (!isObject(m)) {
      issues.push({ path: p, message: 'expected a message' });
      continue;
    }
    rejectUnsupported(m, p, ['append', 'remove', 'remove_on_match'], issues);
    const set = ['append', 'remove', 'remove_on_match'].filter((k) => m[k] !== undefined);
    if (set.length !== 1) {
      issues.push({ path: p, message: set.length === 0 ? 'one of append, remove, remove_on_match is required' : `only one of ${set.join(', ')} may be set` });
      continue;
    }
    if (set[0] === 'remove') {
      const name = (readString(m, 'remove', p, issues) ?? '').toLowerCase();
      if (checkMutableHeaderName(name, joinPath(p, 'remove'), issues)) out.push(name);
    } else if (set[0] === 'append') {
      const a = readObject(m, 'append', p, issues);
      const h = a ? compileHeaderValueOption(a, joinPath(p, 'append'), issues, checkMutableHeaderName) : undefined;
      if (h) out.push(h);
    } else {
      const r = readObject(m, 'remove_on_match', p, issues);
      if (!r) continue;
      const rp = joinPath(p, 'remove_on_match');
      rejectUnsupported(r, rp, ['key_matcher'], issues);
      if (!isObject(r.key_matcher)) {
        issues.push({ path: joinPath(rp, 'key_matcher'), message: 'key_matcher is required' });
        continue;
      }
      const fn = compileStringMatcher(r.key_matcher, joinPath(rp, 'key_matcher'), issues);
      if (fn) out.push(fn);
    }
  }
  return out;
}

const MUTATIONS_FIELDS = ['request_mutations', 'response_mutations'];

/** Compiles a Mutations message (absent: nothing to do). */
export function compileMutations(obj: Decoded, field: string, path: string, issues: ConfigIssue[]): HeaderMutations | undefined {
  const before = issues.length;
  const m = readObject(obj, field, path, issues);
  if (!m) return issues.length === before ? new HeaderMutations([], []) : undefined;
  const p = joinPath(path, field);
  rejectUnsupported(m, p, MUTATIONS_FIELDS, issues);
  const req = compileMutationList(m, 'request_mutations', p, issues);
  const resp = compileMutationList(m, 'response_mutations', p, issues);
  return issues.length === before ? new HeaderMutations(req, resp) : undefined;
}

class HeaderMutationFilter implements HttpFilter {
  private route: HeaderMutations | undefined;
  private routeResolved = false;

  constructor(
    private readonly global: HeaderMutations,
    private readonly cb: FilterCallbacks,
  ) {}

  private routeMutations(): HeaderMutations | undefined {
    if (!this.routeResolved) {
      this.routeResolved = true;
      this.route = this.cb.perRouteConfig<HeaderMutations>();
    }
    return this.route;
  }

  decodeHeaders(headers: HeaderMap): FilterStatus {
    const info = this.cb.info;
    this.global.mutateRequest(headers, info);
    this.routeMutations()?.mutateRequest(headers, info);
    return FilterStatus.Continue;
  }

  encodeHeaders(_status: number, headers: HeaderMap): FilterStatus {
    const info = this.cb.info;
    this.global.mutateResponse(headers, info);
    this.routeMutations()?.mutateResponse(headers, info);
    return FilterStatus.Continue;
  }
}

export const headerMutationFilterType: HttpFilterType = {
  typeUrl: HEADER_MUTATION_TYPE_URL,
  compile(config: Decoded, name: string, path: string, issues: ConfigIssue[]): HttpFilterFactory | undefined {
    const before = issues.length;
    rejectUnsupported(config, path, ['mutations', 'most_specific_header_mutations_wins'], issues);
    // With one per-route level available the order of levels does not arise: accepted.
    readBool(config, 'most_specific_header_mutations_wins', path, issues);
    const global = compileMutations(config, 'mutations', path, issues);
    if (!global || issues.length !== before) return undefined;
    return { name, create: (cb) => new HeaderMutationFilter(global, cb) };
  },
  compilePerRoute(config: Decoded, path: string, issues: ConfigIssue[]): HeaderMutations | undefined {
    if (!checkPerRouteType(config, path, issues, [HEADER_MUTATION_PER_ROUTE_TYPE_URL])) return undefined;
    const before = issues.length;
    rejectUnsupported(config, path, ['mutations'], issues);
    const m = compileMutations(config, 'mutations', path, issues);
    return issues.length === before ? m : undefined;
  },
};
