import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { compile, compileIssues, matched, req, routes } from './helpers';

const r = (name: string, match: object, extra: object = {}): object => ({ name, match, route: { cluster: name }, ...extra });

test('virtual host selection: exact, longest suffix wildcard, longest prefix wildcard, then *', () => {
  const t = compile({
    name: 'rc',
    virtual_hosts: [
      { name: 'exact', domains: ['www.foo.com', 'Upper.COM'], routes: [r('exact', { prefix: '/' })] },
      { name: 'suffix', domains: ['*.foo.com'], routes: [r('suffix', { prefix: '/' })] },
      { name: 'suffix-long', domains: ['*-bar.foo.com'], routes: [r('suffix-long', { prefix: '/' })] },
      { name: 'prefix', domains: ['foo.*'], routes: [r('prefix', { prefix: '/' })] },
      { name: 'prefix-long', domains: ['foo-bar.*'], routes: [r('prefix-long', { prefix: '/' })] },
      { name: 'default', domains: ['*'], routes: [r('default', { prefix: '/' })] },
    ],
  });
  const vh = (host: string): string | undefined => t.match(req(host, '/'), 0)?.virtualHostName;
  assert.equal(vh('www.foo.com'), 'exact');
  assert.equal(vh('WWW.Foo.Com'), 'exact', 'host matching is case-insensitive');
  assert.equal(vh('upper.com'), 'exact', 'configured domains are lower-cased');
  assert.equal(vh('api.foo.com'), 'suffix');
  assert.equal(vh('baz-bar.foo.com'), 'suffix-long', 'longest suffix wins');
  assert.equal(vh('-bar.foo.com'), 'suffix', 'a wildcard does not match the empty string');
  assert.equal(vh('.foo.com'), 'default', '*.foo.com does not match .foo.com');
  assert.equal(vh('foo.org'), 'prefix');
  assert.equal(vh('foo-bar.org'), 'prefix-long');
  assert.equal(vh('x.foo.org'), 'default');
  assert.equal(vh('foo.com'), 'prefix', 'suffix wildcards are tried before prefix wildcards');
  assert.equal(vh('other'), 'default');
});

test('virtual host selection and ports', () => {
  const rc = {
    name: 'rc',
    virtual_hosts: [
      { name: 'plain', domains: ['foo.com'], routes: [r('plain', { prefix: '/' })] },
      { name: 'with-port', domains: ['foo.com:8080'], routes: [r('with-port', { prefix: '/' })] },
      { name: 'v6', domains: ['[::1]'], routes: [r('v6', { prefix: '/' })] },
    ],
  };
  const t = compile(rc);
  const vh = (host: string): string | undefined => t.match(req(host, '/'), 0)?.virtualHostName;
  assert.equal(vh('foo.com'), 'plain');
  assert.equal(vh('foo.com:8080'), 'with-port');
  assert.equal(vh('foo.com:9090'), undefined, 'the port is part of the host by default; no * host → no route');
  const ip = compile({ ...rc, ignore_port_in_host_matching: true });
  const vh2 = (host: string): string | undefined => ip.match(req(host, '/'), 0)?.virtualHostName;
  assert.equal(vh2('foo.com:9090'), 'plain');
  assert.equal(vh2('foo.com:8080'), 'plain', 'with ignore_port_in_host_matching the request port is dropped');
  assert.equal(vh2('[::1]:80'), 'v6');
  assert.equal(vh2('[::1]'), 'v6');
});

test('duplicate domains and multiple * are rejected', () => {
  let issues = compileIssues({
    name: 'rc',
    virtual_hosts: [
      { name: 'a', domains: ['foo.com'], routes: [] },
      { name: 'b', domains: ['FOO.com'], routes: [] },
    ],
  });
  assert.equal(issues[0].path, 'rc.virtual_hosts[1].domains[0]');
  assert.match(issues[0].message, /Only unique values for domains are permitted. Duplicate entry of domain foo.com in route rc/);
  issues = compileIssues({
    name: 'rc',
    virtual_hosts: [
      { name: 'a', domains: ['*'], routes: [] },
      { name: 'b', domains: ['*'], routes: [] },
    ],
  });
  assert.match(issues[0].message, /Only a single wildcard domain is permitted in route rc/);
  issues = compileIssues({
    name: 'rc',
    virtual_hosts: [{ name: 'a', domains: ['*.x.com', '*.x.com'], routes: [] }],
  });
  assert.match(issues[0].message, /Duplicate entry of domain \*\.x\.com/);
  issues = compileIssues({ virtual_hosts: [{ name: 'a', domains: [], routes: [] }] });
  assert.equal(issues[0].path, 'rc.virtual_hosts[0].domains');
});

test('prefix, path, safe_regex, path_separated_prefix ignore query and fragment', () => {
  const t = routes([
    r('exact', { path: '/exact' }),
    r('regex', { safe_regex: { google_re2: {}, regex: '/re/[0-9]+' } }),
    r('sep', { path_separated_prefix: '/sep' }),
    r('prefix', { prefix: '/p' }),
  ]);
  assert.equal(matched(t, req('h', '/exact')), 'exact');
  assert.equal(matched(t, req('h', '/exact?x=1')), 'exact');
  assert.equal(matched(t, req('h', '/exact#frag')), 'exact');
  assert.equal(matched(t, req('h', '/exact/')), null);
  assert.equal(matched(t, req('h', '/re/123')), 'regex');
  assert.equal(matched(t, req('h', '/re/123?q=abc')), 'regex', 'regex matches the path without the query');
  assert.equal(matched(t, req('h', '/re/123x')), null, 'regex is a full match');
  assert.equal(matched(t, req('h', '/sep')), 'sep');
  assert.equal(matched(t, req('h', '/sep/x')), 'sep');
  assert.equal(matched(t, req('h', '/sep?x')), 'sep');
  assert.equal(matched(t, req('h', '/separate')), null);
  assert.equal(matched(t, req('h', '/p?x')), 'prefix');
  assert.equal(matched(t, req('h', '/pq')), 'prefix');
  const q = routes([r('q', { prefix: '/a?b' })]);
  assert.equal(matched(q, req('h', '/a?b=1')), null, 'a prefix containing ? never matches: the query is stripped');
});

test('first matching route wins; no match → null', () => {
  const t = routes([r('a', { prefix: '/a' }), r('all', { prefix: '/' }), r('never', { prefix: '/a/b' })]);
  assert.equal(matched(t, req('h', '/a/b')), 'a');
  assert.equal(matched(t, req('h', '/x')), 'all');
  const none = routes([r('a', { prefix: '/a' })]);
  assert.equal(none.match(req('h', '/b'), 0), null);
});

test('case_sensitive: false for prefix, path and path_separated_prefix; regex unaffected', () => {
  const t = routes([
    r('p', { prefix: '/API', case_sensitive: false }),
    r('e', { path: '/Exact', case_sensitive: false }),
    r('s', { path_separated_prefix: '/Sep', case_sensitive: false }),
  ]);
  assert.equal(matched(t, req('h', '/api/x')), 'p');
  assert.equal(matched(t, req('h', '/ApI')), 'p');
  assert.equal(matched(t, req('h', '/EXACT')), 'e');
  assert.equal(matched(t, req('h', '/sep/1')), 's');
  const cs = routes([r('p', { prefix: '/API' })]);
  assert.equal(matched(cs, req('h', '/api')), null, 'case_sensitive defaults to true');
  const re = routes([r('re', { safe_regex: { regex: '/ABC' }, case_sensitive: false })]);
  assert.equal(matched(re, req('h', '/abc')), null, 'case_sensitive is ignored for safe_regex');
});

test('header matchers: every kind, invert, ranges, present, missing headers', () => {
  const m = (headers: object[]): ReturnType<typeof routes> => routes([r('x', { prefix: '/', headers })]);
  const ok = (headers: object[], hs: Array<[string, string]>): boolean => matched(m(headers), req('h', '/', hs)) === 'x';

  assert.ok(ok([{ name: 'x-a', exact_match: 'v' }], [['x-a', 'v']]));
  assert.ok(!ok([{ name: 'x-a', exact_match: 'v' }], [['x-a', 'w']]));
  assert.ok(ok([{ name: 'X-A', exact_match: 'v' }], [['x-a', 'v']]), 'header names are case-insensitive');
  assert.ok(ok([{ name: 'x-a', exact_match: '' }], [['x-a', 'anything']]), 'empty exact_match = presence');
  assert.ok(ok([{ name: 'x-a', exact_match: 'v1,v2' }], [['x-a', 'v1'], ['x-a', 'v2']]), 'repeated headers are joined with ,');
  assert.ok(ok([{ name: 'x-a', prefix_match: 'ab' }], [['x-a', 'abc']]));
  assert.ok(ok([{ name: 'x-a', suffix_match: 'bc' }], [['x-a', 'abc']]));
  assert.ok(ok([{ name: 'x-a', contains_match: 'b' }], [['x-a', 'abc']]));
  assert.ok(ok([{ name: 'x-a', safe_regex_match: { google_re2: {}, regex: 'a.c' } }], [['x-a', 'abc']]));
  assert.ok(!ok([{ name: 'x-a', safe_regex_match: { regex: 'a' } }], [['x-a', 'abc']]), 'header regex is a full match');
  assert.ok(ok([{ name: 'x-a', string_match: { exact: 'ABC', ignore_case: true } }], [['x-a', 'abc']]));
  assert.ok(ok([{ name: 'x-a' }], [['x-a', '']]), 'no specifier = presence');
  assert.ok(!ok([{ name: 'x-a' }], []));

  // range: [start, end)
  const range = [{ name: 'x-n', range_match: { start: -10, end: 10 } }];
  assert.ok(ok(range, [['x-n', '-10']]));
  assert.ok(ok(range, [['x-n', '9']]));
  assert.ok(!ok(range, [['x-n', '10']]));
  assert.ok(!ok(range, [['x-n', '1.5']]));
  assert.ok(!ok(range, [['x-n', 'abc']]));
  assert.ok(ok(range, [['x-n', ' +5 ']]), 'SimpleAtoi accepts surrounding whitespace and a sign');
  assert.ok(!ok(range, []));

  // present_match
  assert.ok(ok([{ name: 'x-a', present_match: true }], [['x-a', 'v']]));
  assert.ok(!ok([{ name: 'x-a', present_match: true }], []));
  assert.ok(ok([{ name: 'x-a', present_match: false }], []), 'present_match false matches an absent header');
  assert.ok(!ok([{ name: 'x-a', present_match: false }], [['x-a', 'v']]));

  // invert_match
  assert.ok(ok([{ name: 'x-a', exact_match: 'v', invert_match: true }], [['x-a', 'w']]));
  assert.ok(!ok([{ name: 'x-a', exact_match: 'v', invert_match: true }], [['x-a', 'v']]));
  assert.ok(!ok([{ name: 'x-a', exact_match: 'v', invert_match: true }], []), 'an inverted value match does not match a missing header');
  assert.ok(ok([{ name: 'x-a', present_match: true, invert_match: true }], []), 'inverted presence matches a missing header');
  assert.ok(ok([{ name: 'x-n', range_match: { start: 0, end: 10 }, invert_match: true }], [['x-n', '20']]));

  // treat_missing_header_as_empty
  assert.ok(ok([{ name: 'x-a', string_match: { safe_regex: { regex: '^$' } }, treat_missing_header_as_empty: true }], []));
  assert.ok(!ok([{ name: 'x-a', string_match: { safe_regex: { regex: '^$' } } }], []));
  assert.ok(ok([{ name: 'x-n', range_match: { start: 0, end: 10 }, invert_match: true, treat_missing_header_as_empty: true }], []));

  // pseudo-headers
  assert.ok(ok([{ name: ':method', exact_match: 'GET' }], []));
  assert.ok(ok([{ name: ':authority', exact_match: 'h' }], []));
  assert.ok(ok([{ name: ':path', prefix_match: '/' }], []));
  assert.ok(ok([{ name: 'x-a', exact_match: 'v' }, { name: 'x-b', exact_match: 'w' }], [['x-a', 'v'], ['x-b', 'w']]));
  assert.ok(!ok([{ name: 'x-a', exact_match: 'v' }, { name: 'x-b', exact_match: 'w' }], [['x-a', 'v']]), 'all headers must match');
});

test('query parameter matchers', () => {
  const t = (q: object[]): ReturnType<typeof routes> => routes([r('x', { prefix: '/', query_parameters: q })]);
  const ok = (q: object[], path: string): boolean => matched(t(q), req('h', path)) === 'x';
  assert.ok(ok([{ name: 'debug', present_match: true }], '/?debug'));
  assert.ok(ok([{ name: 'debug', present_match: true }], '/?a=1&debug=0'));
  assert.ok(!ok([{ name: 'debug', present_match: true }], '/?debugx=1'));
  assert.ok(!ok([{ name: 'debug', present_match: true }], '/'));
  assert.ok(ok([{ name: 'debug' }], '/?debug=1'), 'no specifier = presence');
  assert.ok(ok([{ name: 'v', string_match: { exact: '2' } }], '/?v=2'));
  assert.ok(ok([{ name: 'v', string_match: { exact: '2' } }], '/?v=2&v=3'), 'the first value is used');
  assert.ok(!ok([{ name: 'v', string_match: { exact: '3' } }], '/?v=2&v=3'));
  assert.ok(ok([{ name: 'v', string_match: { prefix: 'ab', ignore_case: true } }], '/?v=ABC'));
  assert.ok(ok([{ name: 'v', string_match: { exact: 'a%20b' } }], '/?v=a%20b'), 'values are not percent-decoded');
  assert.ok(ok([{ name: 'e', string_match: { exact: '' } }], '/?e'));
  assert.ok(ok([{ name: 'a', present_match: true }, { name: 'b', string_match: { exact: '1' } }], '/?b=1&a'));
});

test('runtime_fraction uses default_value against the random value', () => {
  const t = routes([
    r('half', { prefix: '/', runtime_fraction: { default_value: { numerator: 50, denominator: 'HUNDRED' }, runtime_key: 'k' } }),
    r('rest', { prefix: '/' }),
  ]);
  assert.equal(matched(t, req('h', '/'), 49), 'half');
  assert.equal(matched(t, req('h', '/'), 50), 'rest');
  assert.equal(matched(t, req('h', '/'), 149), 'half');
  const m = routes([r('m', { prefix: '/', runtime_fraction: { default_value: { numerator: 1, denominator: 'MILLION' } } }), r('rest', { prefix: '/' })]);
  assert.equal(matched(m, req('h', '/'), 1_000_000), 'm');
  assert.equal(matched(m, req('h', '/'), 1_000_001), 'rest');
  let hits = 0;
  for (let i = 0; i < 10000; i++) if (matched(t, req('h', '/'), i * 7919) === 'half') hits++;
  assert.equal(hits, 5000);
});

test('grpc and connect_matcher', () => {
  const t = routes([r('grpc', { prefix: '/', grpc: {} }), r('connect', { connect_matcher: {} }), r('other', { prefix: '/' })]);
  assert.equal(matched(t, req('h', '/svc/M', [['content-type', 'application/grpc']])), 'grpc');
  assert.equal(matched(t, req('h', '/svc/M', [['content-type', 'application/grpc+proto']])), 'grpc');
  assert.equal(matched(t, req('h', '/svc/M', [['content-type', 'application/grpc-web']])), 'other');
  assert.equal(matched(t, req('h', '/svc/M')), 'other');
  assert.equal(matched(t, req('h:443', '', [], 'CONNECT')), 'connect', 'CONNECT without a path matches connect_matcher only');
});

test('require_tls redirects plain-text requests', () => {
  const t = compile({
    virtual_hosts: [
      { name: 'all', domains: ['all.com', 'all.com:80'], require_tls: 'ALL', routes: [r('a', { prefix: '/' })] },
      { name: 'ext', domains: ['ext.com'], require_tls: 'EXTERNAL_ONLY', routes: [r('e', { prefix: '/' })] },
    ],
  });
  const e = t.match(req('all.com', '/x?y'), 0);
  assert.equal(e?.kind, 'redirect');
  assert.deepEqual(e?.redirect(req('all.com', '/x?y')), { status: 301, location: 'https://all.com/x?y' });
  assert.equal(t.match(req('all.com', '/x', [['x-forwarded-proto', 'https']]), 0)?.name, 'a');
  assert.equal(t.match(req('all.com', '/x', [], 'GET', 'https'), 0)?.name, 'a');
  assert.equal(t.match(req('ext.com', '/x', [['x-envoy-internal', 'true']]), 0)?.name, 'e');
  assert.equal(t.match(req('ext.com', '/x'), 0)?.kind, 'redirect');
  assert.deepEqual(t.match(req('all.com:80', '/'), 0)?.redirect(req('all.com:80', '/')), { status: 301, location: 'https://all.com:80/' });
});

test('ignore_path_parameters_in_path_matching', () => {
  const t = routes([r('x', { path: '/a/b' })], { ignore_path_parameters_in_path_matching: true });
  assert.equal(matched(t, req('h', '/a/b;jsessionid=1?q')), 'x');
  const n = routes([r('x', { path: '/a/b' })]);
  assert.equal(matched(n, req('h', '/a/b;jsessionid=1')), null);
});
