import { test } from 'node:test';
import { RetryOn } from '../../../src/proxy/route/retry-policy';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HeaderMap } from '../../../src/lib/headers';
import { StreamInfo } from '../../../src/proxy/stream-info';
import type { RouteEntry } from '../../../src/proxy/route';
import { compile, compileIssues, req, routes } from './helpers';

function only(route: object, extra: object = {}, vhExtra: object = {}): RouteEntry {
  const t = routes([route], extra, vhExtra);
  const e = t.match(req('h', '/'), 0);
  assert.ok(e);
  return e;
}

test('cluster, defaults and timeouts', () => {
  const e = only({ name: 'n', match: { prefix: '/' }, route: { cluster: 'c1' } });
  assert.equal(e.kind, 'cluster');
  assert.equal(e.name, 'n');
  assert.equal(e.virtualHostName, 'vh');
  assert.equal(e.pickCluster(req('h', '/'), 123), 'c1');
  assert.equal(e.clusterNotFoundResponseCode, 503);
  assert.equal(e.timeoutMs, 15000);
  assert.equal(e.idleTimeoutMs, undefined);
  assert.equal(e.rewritePath(req('h', '/x')), undefined);
  assert.equal(e.hasHashPolicy, false);
  assert.equal(e.hashKey(req('h', '/'), new StreamInfo()), undefined);
  const t = only({
    match: { prefix: '/' },
    route: {
      cluster: 'c1',
      timeout: 0,
      idle_timeout: 2500,
      cluster_not_found_response_code: 'NOT_FOUND',
      max_stream_duration: { max_stream_duration: 100, grpc_timeout_header_max: 0 },
    },
  });
  assert.equal(t.timeoutMs, 0);
  assert.equal(t.idleTimeoutMs, 2500);
  assert.equal(t.clusterNotFoundResponseCode, 404);
  assert.equal(t.maxStreamDurationMs, 100);
  assert.equal(t.grpcTimeoutHeaderMaxMs, 0);
});

test('weighted clusters: sum of weights, distribution with controlled random', () => {
  const e = only({
    match: { prefix: '/' },
    route: {
      weighted_clusters: {
        clusters: [
          { name: 'a', weight: 10 },
          { name: 'zero', weight: 0 },
          { name: 'b', weight: 30 },
          { name: 'c', weight: 60 },
        ],
        total_weight: 1000, // deprecated and ignored: Envoy uses the sum
      },
    },
  });
  const r = req('h', '/');
  assert.equal(e.pickCluster(r, 0), 'a');
  assert.equal(e.pickCluster(r, 9), 'a');
  assert.equal(e.pickCluster(r, 10), 'b');
  assert.equal(e.pickCluster(r, 39), 'b');
  assert.equal(e.pickCluster(r, 40), 'c');
  assert.equal(e.pickCluster(r, 99), 'c');
  assert.equal(e.pickCluster(r, 100), 'a');
  const counts: Record<string, number> = {};
  for (let i = 0; i < 10000; i++) {
    const c = e.pickCluster(r, i) as string;
    counts[c] = (counts[c] ?? 0) + 1;
  }
  assert.deepEqual(counts, { a: 1000, b: 3000, c: 6000 });
  assert.equal(e.pickCluster(r, 0xffffffff), 'c', 'uint32 random: 4294967295 % 100 = 95');
});

test('weighted clusters: header_name supplies the random value; cluster_header entries', () => {
  const e = only({
    match: { prefix: '/' },
    route: {
      weighted_clusters: {
        header_name: 'x-random',
        clusters: [
          { name: 'a', weight: 50 },
          { cluster_header: 'x-cluster', weight: 50 },
        ],
      },
    },
  });
  assert.equal(e.pickCluster(req('h', '/', [['x-random', '10']]), 99), 'a');
  assert.equal(e.pickCluster(req('h', '/', [['x-random', '60'], ['x-cluster', 'dyn']]), 0), 'dyn');
  assert.equal(e.pickCluster(req('h', '/', [['x-random', '60']]), 0), null, 'missing cluster header → null');
  assert.equal(e.pickCluster(req('h', '/', [['x-random', 'bad']]), 10), 'a', 'invalid header → the supplied random');
  assert.equal(e.pickCluster(req('h', '/', [['x-random', '1'], ['x-random', '60']]), 10), 'a', 'multi-valued header is ignored');
});

test('weighted cluster config errors', () => {
  const bad = (wc: object): string[] =>
    compileIssues({ virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { weighted_clusters: wc } }] }] }).map(
      (i) => `${i.path}: ${i.message}`,
    );
  assert.match(bad({ clusters: [{ name: 'a', weight: 0 }] })[0], /Sum of weights in the weighted_cluster must be greater than 0/);
  assert.match(bad({ clusters: [{ name: 'a' }] })[0], /clusters\[0\]\.weight: weight is required/);
  assert.match(bad({ clusters: [{ name: 'a', cluster_header: 'x', weight: 1 }] })[0], /Only one of name or cluster_header/);
  assert.match(bad({ clusters: [{ weight: 1 }] })[0], /At least one of name or cluster_header/);
  assert.match(bad({ clusters: [{ name: 'a', weight: 1 }], runtime_key_prefix: 'k' })[0], /weighted_clusters\.runtime_key_prefix: field is not implemented/);
});

test('cluster_header: first value; null when missing or empty', () => {
  const e = only({ match: { prefix: '/' }, route: { cluster_header: 'X-Target' } });
  assert.equal(e.pickCluster(req('h', '/', [['x-target', 'svc-a'], ['x-target', 'svc-b']]), 0), 'svc-a');
  assert.equal(e.pickCluster(req('h', '/'), 0), null);
  assert.equal(e.pickCluster(req('h', '/', [['x-target', '']]), 0), null);
});

test('prefix_rewrite: trailing-slash cases from the Envoy docs, query preserved', () => {
  const t = routes([
    { name: 'slash', match: { prefix: '/prefix/' }, route: { cluster: 'c', prefix_rewrite: '/' } },
    { name: 'bare', match: { prefix: '/prefix' }, route: { cluster: 'c', prefix_rewrite: '/' } },
    { name: 'ci', match: { prefix: '/CI/', case_sensitive: false }, route: { cluster: 'c', prefix_rewrite: '/new/' } },
    { name: 'path', match: { path: '/exact' }, route: { cluster: 'c', prefix_rewrite: '/other' } },
    { name: 're', match: { safe_regex: { regex: '/re/.*' } }, route: { cluster: 'c', prefix_rewrite: '/whole' } },
    { name: 'sep', match: { path_separated_prefix: '/sep' }, route: { cluster: 'c', prefix_rewrite: '/s2' } },
  ]);
  const rw = (p: string): string | undefined => t.match(req('h', p), 0)?.rewritePath(req('h', p));
  assert.equal(rw('/prefix'), '/');
  assert.equal(rw('/prefix/etc'), '/etc');
  assert.equal(rw('/prefix/etc?x=1&y'), '/etc?x=1&y');
  assert.equal(rw('/prefixetc'), '/etc', 'the documented pitfall: /prefix also matches /prefixetc');
  assert.equal(rw('/ci/a'), '/new/a');
  assert.equal(rw('/exact?q'), '/other?q');
  assert.equal(rw('/re/a/b?q=1'), '/whole?q=1', 'regex routes replace the whole path');
  assert.equal(rw('/sep/x'), '/s2/x');
});

test('regex_rewrite rewrites the path and keeps the query', () => {
  const e = only({
    match: { prefix: '/' },
    route: {
      cluster: 'c',
      regex_rewrite: { pattern: { google_re2: {}, regex: '^/service/([^/]+)(/.*)$' }, substitution: '\\2/instance/\\1' },
    },
  });
  assert.equal(e.rewritePath(req('h', '/service/foo/v1/api?x=1')), '/v1/api/instance/foo?x=1');
  assert.equal(e.rewritePath(req('h', '/nomatch')), '/nomatch');
  const g = only({ match: { prefix: '/' }, route: { cluster: 'c', regex_rewrite: { pattern: { regex: 'one' }, substitution: 'two' } } });
  assert.equal(g.rewritePath(req('h', '/xxx/one/yyy/one/zzz')), '/xxx/two/yyy/two/zzz');
  const issues = compileIssues({
    virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c', prefix_rewrite: '/', regex_rewrite: { pattern: { regex: 'a' }, substitution: 'b' } } }] }],
  });
  assert.match(issues[0].message, /Specify only one of prefix_rewrite, regex_rewrite/);
});

test('host rewrite fields', () => {
  const a = only({ match: { prefix: '/' }, route: { cluster: 'c', host_rewrite_literal: 'new.host' } });
  assert.equal(a.hostRewriteLiteral, 'new.host');
  assert.equal(a.autoHostRewrite, false);
  const b = only({ match: { prefix: '/' }, route: { cluster: 'c', auto_host_rewrite: true } });
  assert.equal(b.autoHostRewrite, true);
  const w = only({
    match: { prefix: '/' },
    route: { weighted_clusters: { clusters: [{ name: 'a', weight: 1, host_rewrite_literal: 'a.host' }, { name: 'b', weight: 1 }] } },
  });
  assert.equal(w.hostRewriteFor('a'), 'a.host');
  assert.equal(w.hostRewriteFor('b'), undefined);
});

test('redirects', () => {
  const redirect = (action: object, path: string, authority = 'example.com', headers: Array<[string, string]> = [], scheme = 'http') => {
    const r = req(authority, path, headers, 'GET', scheme);
    const e = routes([{ match: { prefix: '/old' }, redirect: action }]).match(r, 0);
    assert.equal(e?.kind, 'redirect');
    return (e as RouteEntry).redirect(r);
  };
  assert.deepEqual(redirect({ https_redirect: true }, '/old/a?q=1'), { status: 301, location: 'https://example.com/old/a?q=1' });
  assert.deepEqual(redirect({ https_redirect: true }, '/old', 'example.com:80', [['x-forwarded-proto', 'http']]), {
    status: 301,
    location: 'https://example.com/old',
  });
  assert.deepEqual(redirect({ https_redirect: true }, '/old', 'example.com:8080', [['x-forwarded-proto', 'http']]), {
    status: 301,
    location: 'https://example.com:8080/old',
  });
  assert.deepEqual(redirect({ scheme_redirect: 'https', port_redirect: 8443 }, '/old', 'example.com:80'), {
    status: 301,
    location: 'https://example.com:8443/old',
  });
  assert.deepEqual(redirect({ host_redirect: 'other.com', response_code: 'FOUND' }, '/old/x?y'), { status: 302, location: 'http://other.com/old/x?y' });
  assert.deepEqual(redirect({ path_redirect: '/new', response_code: 'SEE_OTHER' }, '/old/x?y=1'), { status: 303, location: 'http://example.com/new?y=1' });
  assert.deepEqual(redirect({ path_redirect: '/new?z=2', strip_query: true, response_code: 'TEMPORARY_REDIRECT' }, '/old/x?y=1'), {
    status: 307,
    location: 'http://example.com/new?z=2',
  });
  assert.deepEqual(redirect({ path_redirect: '/new', strip_query: true, response_code: 'PERMANENT_REDIRECT' }, '/old?y=1'), {
    status: 308,
    location: 'http://example.com/new',
  });
  assert.deepEqual(redirect({ prefix_rewrite: '/new' }, '/old/x?y=1'), { status: 301, location: 'http://example.com/new/x?y=1' });
  assert.deepEqual(redirect({ prefix_rewrite: '/new', strip_query: true }, '/old/x?y=1'), { status: 301, location: 'http://example.com/new/x' });
  assert.deepEqual(redirect({ regex_rewrite: { pattern: { regex: '^/old/(.*)$' }, substitution: '/v2/\\1' } }, '/old/a/b?k'), {
    status: 301,
    location: 'http://example.com/v2/a/b?k',
  });
  assert.deepEqual(redirect({ path_redirect: 'relative' }, '/old'), { status: 301, location: 'http://example.com/relative' });
  assert.deepEqual(redirect({ https_redirect: true }, '/old', '[::1]:80', [['x-forwarded-proto', 'http']]), { status: 301, location: 'https://[::1]/old' });
});

test('direct responses: inline string, bytes, file, size limit', () => {
  const e = only({ name: 'dr', match: { prefix: '/' }, direct_response: { status: 404, body: { inline_string: 'nope' } } });
  assert.equal(e.kind, 'direct_response');
  assert.equal(e.pickCluster(req('h', '/'), 0), null);
  assert.equal(e.directResponse?.status, 404);
  assert.equal(e.directResponse?.body?.toString(), 'nope');
  const b = only({ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_bytes: Buffer.from([1, 2, 3]) } } });
  assert.deepEqual([...(b.directResponse?.body ?? [])], [1, 2, 3]);
  const none = only({ match: { prefix: '/' }, direct_response: { status: 204 } });
  assert.equal(none.directResponse?.body, null);
  const created = only({ match: { prefix: '/' }, direct_response: { status: 201 } });
  assert.deepEqual(created.redirect(req('h.com', '/a?b')), { status: 201, location: 'http://h.com/a?b' });

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-route-'));
  try {
    const file = path.join(dir, 'body.txt');
    fs.writeFileSync(file, 'from file');
    const f = only({ match: { prefix: '/' }, direct_response: { status: 503, body: { filename: file } } });
    assert.equal(f.directResponse?.body?.toString(), 'from file');
    const missing = compileIssues({
      virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { filename: path.join(dir, 'nope') } } }] }],
    });
    assert.equal(missing[0].path, 'rc.virtual_hosts[0].routes[0].direct_response.body.filename');
    assert.match(missing[0].message, /does not exist/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const big = compileIssues({
    max_direct_response_body_size_bytes: 4,
    virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'too long' } } }] }],
  });
  assert.match(big[0].message, /response body size is 8 bytes; maximum is 4/);
  const status = compileIssues({
    virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 99 } }] }],
  });
  assert.equal(status[0].path, 'rc.virtual_hosts[0].routes[0].direct_response.status');
});

function headerList(h: HeaderMap): string[] {
  const out: string[] = [];
  h.forEach((n, v) => out.push(`${n}=${v}`));
  return out;
}

test('header mutation: route, virtual host, route configuration order and most_specific_header_mutations_wins', () => {
  const rc = (mostSpecific: boolean): object => ({
    most_specific_header_mutations_wins: mostSpecific,
    request_headers_to_add: [{ header: { key: 'x-level', value: 'global' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
    response_headers_to_add: [{ header: { key: 'x-resp', value: 'global' }, append: false }],
    virtual_hosts: [
      {
        name: 'vh',
        domains: ['*'],
        request_headers_to_add: [{ header: { key: 'x-level', value: 'vhost' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
        routes: [
          {
            match: { prefix: '/' },
            route: { cluster: 'c' },
            request_headers_to_add: [{ header: { key: 'x-level', value: 'route' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
            response_headers_to_add: [{ header: { key: 'x-resp', value: 'route' }, append: false }],
          },
        ],
      },
    ],
  });
  const info = new StreamInfo();
  for (const [flag, want] of [
    [false, 'global'],
    [true, 'route'],
  ] as const) {
    const e = compile(rc(flag)).match(req('h', '/'), 0) as RouteEntry;
    const h = new HeaderMap();
    e.applyRequestHeaders(h, info);
    assert.deepEqual(headerList(h), [`x-level=${want}`], `most_specific_header_mutations_wins=${flag}`);
    const rh = new HeaderMap();
    e.applyResponseHeaders(rh, info);
    assert.deepEqual(headerList(rh), [`x-resp=${want}`]);
  }
});

test('header mutation: append actions, legacy append, keep_empty_value, removal before add', () => {
  const e = only({
    match: { prefix: '/' },
    route: { cluster: 'c' },
    request_headers_to_remove: ['X-Remove', 'x-replaced'],
    request_headers_to_add: [
      { header: { key: 'x-append', value: 'b' } },
      { header: { key: 'x-append-legacy', value: 'b' }, append: true },
      { header: { key: 'x-overwrite-legacy', value: 'b' }, append: false },
      { header: { key: 'x-absent', value: 'new' }, append_action: 'ADD_IF_ABSENT' },
      { header: { key: 'x-present', value: 'new' }, append_action: 'ADD_IF_ABSENT' },
      { header: { key: 'x-ow-exists', value: 'new' }, append_action: 'OVERWRITE_IF_EXISTS' },
      { header: { key: 'x-ow-missing', value: 'new' }, append_action: 'OVERWRITE_IF_EXISTS' },
      { header: { key: 'x-ow-add', value: 'new' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
      { header: { key: 'x-empty', value: '' } },
      { header: { key: 'x-empty-kept', value: '' }, keep_empty_value: true },
      { header: { key: 'x-replaced', value: 'added-after-remove' } },
      { header: { key: 'x-raw', raw_value: Buffer.from('raw') } },
    ],
  });
  const h = HeaderMap.from([
    ['x-append', 'a'],
    ['x-append-legacy', 'a'],
    ['x-overwrite-legacy', 'a'],
    ['x-present', 'old'],
    ['x-ow-exists', 'old'],
    ['x-remove', 'gone'],
    ['x-replaced', 'old'],
  ]);
  e.applyRequestHeaders(h, new StreamInfo());
  assert.deepEqual(h.getAll('x-append'), ['a', 'b']);
  assert.deepEqual(h.getAll('x-append-legacy'), ['a', 'b']);
  assert.deepEqual(h.getAll('x-overwrite-legacy'), ['b']);
  assert.deepEqual(h.getAll('x-absent'), ['new']);
  assert.deepEqual(h.getAll('x-present'), ['old']);
  assert.deepEqual(h.getAll('x-ow-exists'), ['new']);
  assert.equal(h.has('x-ow-missing'), false);
  assert.deepEqual(h.getAll('x-ow-add'), ['new']);
  assert.equal(h.has('x-empty'), false);
  assert.deepEqual(h.getAll('x-empty-kept'), ['']);
  assert.equal(h.has('x-remove'), false);
  assert.deepEqual(h.getAll('x-replaced'), ['added-after-remove']);
  assert.deepEqual(h.getAll('x-raw'), ['raw']);
});

test('header mutation: formatted values, weighted cluster headers first, errors', () => {
  const e = only({
    match: { prefix: '/' },
    route: {
      weighted_clusters: {
        clusters: [
          { name: 'a', weight: 1, request_headers_to_add: [{ header: { key: 'x-order', value: 'cluster' } }], response_headers_to_add: [{ header: { key: 'x-c', value: 'a' } }] },
          { name: 'b', weight: 1 },
        ],
      },
    },
    request_headers_to_add: [
      { header: { key: 'x-order', value: 'route' } },
      { header: { key: 'x-method', value: '%REQ(:METHOD)%-%%' } },
    ],
  });
  const info = new StreamInfo();
  info.method = 'POST';
  info.requestHeaders = new HeaderMap();
  const h = new HeaderMap();
  e.applyRequestHeaders(h, info, 'a');
  assert.deepEqual(h.getAll('x-order'), ['cluster', 'route']);
  assert.deepEqual(h.getAll('x-method'), ['POST-%']);
  const hb = new HeaderMap();
  e.applyRequestHeaders(hb, info, 'b');
  assert.deepEqual(hb.getAll('x-order'), ['route']);
  const rh = new HeaderMap();
  e.applyResponseHeaders(rh, info, 'a');
  assert.deepEqual(rh.getAll('x-c'), ['a']);

  const bad = (route: object): string[] =>
    compileIssues({ virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' }, ...route }] }] }).map(
      (i) => `${i.path}: ${i.message}`,
    );
  assert.match(bad({ request_headers_to_add: [{ header: { key: ':path', value: 'x' } }] })[0], /:-prefixed or host headers may not be modified/);
  assert.match(bad({ request_headers_to_add: [{ header: { key: 'host', value: 'x' } }] })[0], /may not be modified/);
  assert.match(bad({ request_headers_to_remove: [':authority'] })[0], /routes\[0\]\.request_headers_to_remove\[0\]: :-prefixed or host headers may not be removed/);
  assert.match(bad({ request_headers_to_add: [{ header: { key: 'x', value: 'v' }, append: true, append_action: 'ADD_IF_ABSENT' }] })[0], /Both append and append_action/);
  assert.match(bad({ request_headers_to_add: [{ header: { key: 'x', value: '%NOT_A_THING%' } }] })[0], /request_headers_to_add\[0\]\.header\.value/);
});

test('hash policy: header, cookie, source ip, query parameter, terminal', () => {
  const info = new StreamInfo();
  info.downstreamRemoteAddress = '10.0.0.1:5555';
  const hp = (policies: object[]): RouteEntry => only({ match: { prefix: '/' }, route: { cluster: 'c', hash_policy: policies } });
  const h1 = hp([{ header: { header_name: 'x-user' } }]);
  const a = h1.hashKey(req('h', '/', [['x-user', 'alice']]), info);
  assert.equal(typeof a, 'number');
  assert.equal(h1.hashKey(req('h', '/', [['x-user', 'alice']]), info), a, 'stable');
  assert.notEqual(h1.hashKey(req('h', '/', [['x-user', 'bob']]), info), a);
  assert.equal(h1.hashKey(req('h', '/'), info), undefined);
  assert.equal(
    h1.hashKey(req('h', '/', [['x-user', 'a'], ['x-user', 'b']]), info),
    h1.hashKey(req('h', '/', [['x-user', 'b'], ['x-user', 'a']]), info),
    'order of repeated values does not matter',
  );
  const c = hp([{ cookie: { name: 'sid' } }]);
  assert.equal(c.hashKey(req('h', '/', [['cookie', 'a=1; sid="xyz"']]), info), c.hashKey(req('h', '/', [['cookie', 'sid=xyz']]), info));
  assert.equal(c.hashKey(req('h', '/', [['cookie', 'a=1']]), info), undefined);
  const ip = hp([{ connection_properties: { source_ip: true } }]);
  const info2 = new StreamInfo();
  info2.downstreamRemoteAddress = '10.0.0.1:6666';
  assert.equal(ip.hashKey(req('h', '/'), info), ip.hashKey(req('h', '/'), info2), 'the port is not part of the key');
  const q = hp([{ query_parameter: { name: 'u' } }]);
  assert.equal(q.hashKey(req('h', '/?u=1'), info), q.hashKey(req('h', '/x?a&u=1'), info));
  assert.equal(q.hashKey(req('h', '/?v=1'), info), undefined);
  // terminal: once a terminal policy produced a hash, later ones are skipped
  const term = hp([{ header: { header_name: 'x-a' }, terminal: true }, { header: { header_name: 'x-b' } }]);
  const onlyA = hp([{ header: { header_name: 'x-a' } }]);
  const both = hp([{ header: { header_name: 'x-a' } }, { header: { header_name: 'x-b' } }]);
  const r = req('h', '/', [['x-a', '1'], ['x-b', '2']]);
  assert.equal(term.hashKey(r, info), onlyA.hashKey(r, info));
  assert.notEqual(both.hashKey(r, info), onlyA.hashKey(r, info), 'non-terminal policies are combined');
  assert.equal(term.hashKey(req('h', '/', [['x-b', '2']]), info), hp([{ header: { header_name: 'x-b' } }]).hashKey(req('h', '/', [['x-b', '2']]), info));
  const issues = compileIssues({
    virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c', hash_policy: [{ cookie: { name: 's', ttl: 1000 } }] } }] }],
  });
  assert.equal(issues[0].path, 'rc.virtual_hosts[0].routes[0].route.hash_policy[0].cookie.ttl');
});

test('raw policies, per-filter config precedence, upgrades, attempt counts', () => {
  const t = compile({
    typed_per_filter_config: { 'envoy.filters.http.fault': { '@type': 'rc' }, 'envoy.filters.http.cors': { '@type': 'rc-cors' } },
    virtual_hosts: [
      {
        name: 'vh',
        domains: ['*'],
        include_request_attempt_count: true,
        retry_policy: { retry_on: '5xx' },
        typed_per_filter_config: { 'envoy.filters.http.fault': { '@type': 'vh' } },
        routes: [
          {
            match: { prefix: '/own' },
            route: { cluster: 'c', retry_policy: { retry_on: 'reset', num_retries: 2 }, upgrade_configs: [{ upgrade_type: 'WebSocket' }, { upgrade_type: 'h2c', enabled: false }] },
            typed_per_filter_config: { 'envoy.filters.http.fault': { '@type': 'route' } },
            decorator: { operation: 'op' },
            metadata: { filter_metadata: { istio: { config: 'x' } } },
          },
          { match: { prefix: '/' }, route: { cluster: 'c' } },
        ],
      },
    ],
  });
  const own = t.match(req('h', '/own'), 0) as RouteEntry;
  const other = t.match(req('h', '/x'), 0) as RouteEntry;
  assert.equal(own.retryPolicy?.numRetries, 2);
  assert.equal(own.retryPolicy?.retryOn, RetryOn.Reset);
  assert.equal(other.retryPolicy?.retryOn, RetryOn.Http5xx, 'the virtual host policy applies when the route has none');
  assert.equal(other.retryPolicy?.numRetries, 1, "Envoy's default num_retries");
  assert.deepEqual(own.perFilterConfig('envoy.filters.http.fault'), { '@type': 'route' });
  assert.deepEqual(other.perFilterConfig('envoy.filters.http.fault'), { '@type': 'vh' });
  assert.deepEqual(other.perFilterConfig('envoy.filters.http.cors'), { '@type': 'rc-cors' });
  assert.equal(other.perFilterConfig('nope'), undefined);
  assert.deepEqual(own.decorator, { operation: 'op' });
  assert.equal(own.includeRequestAttemptCount, true);
  assert.equal(own.includeAttemptCountInResponse, false);
  assert.equal(own.upgradeAllowed('websocket', false), true);
  assert.equal(own.upgradeAllowed('h2c', true), false);
  assert.equal(own.upgradeAllowed('other', true), true);
  assert.equal(other.upgradeAllowed('websocket', false), false);
  assert.deepEqual([...t.referencedClusters], ['c']);
});

test('unsupported fields are issues naming their path', () => {
  const issues = compileIssues({
    name: 'rc',
    vhds: { config_source: {} },
    internal_only_headers: ['x-internal'],
    virtual_hosts: [
      {
        name: 'vh',
        domains: ['*'],
        rate_limits: [{ actions: [] }],
        virtual_clusters: [{ name: 'vc' }],
        routes: [
          {
            match: { prefix: '/', tls_context: { presented: true }, dynamic_metadata: [{}] },
            route: { cluster: 'c', host_rewrite_header: 'x-host', priority: 'HIGH', rate_limits: [{}] },
            tracing: { random_sampling: {} },
          },
          { match: { prefix: '/' }, filter_action: {} },
          { match: { prefix: '/', path_match_policy: { name: 'x' } }, route: { cluster: 'c' } },
        ],
      },
    ],
  });
  const paths = issues.map((i) => i.path);
  for (const p of [
    'rc.vhds',
    'rc.internal_only_headers',
    'rc.virtual_hosts[0].rate_limits',
    'rc.virtual_hosts[0].virtual_clusters',
    'rc.virtual_hosts[0].routes[0].match.tls_context',
    'rc.virtual_hosts[0].routes[0].match.dynamic_metadata',
    'rc.virtual_hosts[0].routes[0].route.host_rewrite_header',
    'rc.virtual_hosts[0].routes[0].route.priority',
    'rc.virtual_hosts[0].routes[0].route.rate_limits',
    'rc.virtual_hosts[0].routes[0].tracing',
    'rc.virtual_hosts[0].routes[1].filter_action',
    'rc.virtual_hosts[0].routes[2].match.path_match_policy',
  ]) {
    assert.ok(paths.includes(p), `missing issue for ${p}: ${JSON.stringify(paths)}`);
  }
  // proto3 defaults are not "set"
  compile({ virtual_hosts: [{ name: 'v', domains: ['*'], include_is_timeout_retry_header: false, routes: [{ match: { prefix: '/' }, route: { cluster: 'c', append_x_forwarded_host: false } }] }] });
});

test('invalid regexes are issues naming their path', () => {
  const issues = compileIssues({
    virtual_hosts: [
      {
        name: 'v',
        domains: ['*'],
        routes: [
          { match: { safe_regex: { google_re2: {}, regex: '/a(b' } }, route: { cluster: 'c' } },
          { match: { prefix: '/', headers: [{ name: 'x', safe_regex_match: { regex: '(?=x)' } }] }, route: { cluster: 'c' } },
          { match: { prefix: '/' }, route: { cluster: 'c', regex_rewrite: { pattern: { regex: '\\1' }, substitution: '' } } },
        ],
      },
    ],
  });
  assert.deepEqual(
    issues.map((i) => i.path),
    [
      'rc.virtual_hosts[0].routes[0].match.safe_regex.regex',
      'rc.virtual_hosts[0].routes[1].match.headers[0].safe_regex_match.regex',
      'rc.virtual_hosts[0].routes[2].route.regex_rewrite.pattern.regex',
    ],
  );
  assert.match(issues[0].message, /invalid RE2 regex/);
  assert.match(issues[1].message, /lookahead/);
  assert.match(issues[2].message, /backreferences/);
});

test('missing action / path specifier / cluster specifier are issues', () => {
  const paths = compileIssues({
    virtual_hosts: [
      {
        name: 'v',
        domains: ['*'],
        routes: [{ match: { prefix: '/' } }, { match: {}, route: { cluster: 'c' } }, { match: { prefix: '/' }, route: {} }, { match: { path_separated_prefix: '/a/' }, route: { cluster: 'c' } }],
      },
    ],
  }).map((i) => i.path);
  assert.deepEqual(paths, [
    'rc.virtual_hosts[0].routes[0]',
    'rc.virtual_hosts[0].routes[1].match',
    'rc.virtual_hosts[0].routes[2].route',
    'rc.virtual_hosts[0].routes[3].match.path_separated_prefix',
  ]);
});
