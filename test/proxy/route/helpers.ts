import * as assert from 'node:assert/strict';
import type { ConfigIssue } from '../../../src/lib/config-error';
import { HeaderMap } from '../../../src/lib/headers';
import { compileRouteConfiguration, type RouteRequest, type RouteTable } from '../../../src/proxy/route';

export function req(
  authority: string,
  path: string,
  headers: Array<[string, string]> = [],
  method = 'GET',
  scheme = 'http',
): RouteRequest {
  return { method, path, authority, scheme, headers: HeaderMap.from(headers) };
}

export function compile(rc: object): RouteTable {
  const issues: ConfigIssue[] = [];
  const t = compileRouteConfiguration(rc, 'rc', issues);
  assert.deepEqual(issues, []);
  assert.ok(t);
  return t;
}

export function compileIssues(rc: object): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const t = compileRouteConfiguration(rc, 'rc', issues);
  assert.equal(t, undefined, 'expected the configuration to be rejected');
  assert.ok(issues.length > 0);
  return issues;
}

/** A one-virtual-host table with the given routes. */
export function routes(list: object[], extra: object = {}, vhExtra: object = {}): RouteTable {
  return compile({ name: 'rc', virtual_hosts: [{ name: 'vh', domains: ['*'], routes: list, ...vhExtra }], ...extra });
}

/** Name of the route a request matches, or null. */
export function matched(t: RouteTable, r: RouteRequest, random = 0): string | null {
  const e = t.match(r, random);
  return e === null ? null : e.name;
}
