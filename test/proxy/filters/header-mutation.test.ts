import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { HeaderMap } from '../../../src/lib/headers';
import { FilterStatus } from '../../../src/proxy/http/filter';
import { HTTP_FILTER_TYPES } from '../../../src/proxy/filters';
import {
  HEADER_MUTATION_PER_ROUTE_TYPE_URL,
  HEADER_MUTATION_TYPE_URL,
  headerMutationFilterType as type,
} from '../../../src/proxy/filters/header-mutation';
import { compile, FakeCallbacks, mustCompile, paths, perRoute } from './harness';

const entries = (h: HeaderMap) => h.names.map((n, i) => `${n}: ${h.values[i]}`);
const add = (key: string, value: string, extra: Record<string, unknown> = {}) => ({ append: { header: { key, value }, ...extra } });

test('registered under its type URL', () => {
  assert.ok(HTTP_FILTER_TYPES.has(HEADER_MUTATION_TYPE_URL));
});

test('request mutations apply in order, each seeing the previous', () => {
  const f = mustCompile(type, {
    mutations: {
      request_mutations: [
        add('x-a', '1'),
        add('x-a', '2'),
        { remove: 'x-drop' },
        add('x-b', 'new', { append_action: 'ADD_IF_ABSENT' }),
        add('x-c', 'over', { append_action: 'OVERWRITE_IF_EXISTS' }),
        add('x-d', 'set', { append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }),
        add('x-e', 'nope', { append_action: 'OVERWRITE_IF_EXISTS' }),
        add('x-empty', ''),
        add('x-kept', '', { keep_empty_value: true }),
        { remove_on_match: { key_matcher: { prefix: 'x-internal-' } } },
        add('x-a', 'final', { append: false }),
      ],
    },
  });
  const cb = new FakeCallbacks('GET', '/', [
    ['x-drop', 'a'],
    ['x-b', 'old'],
    ['x-c', 'c0'],
    ['x-d', 'd0'],
    ['x-d', 'd1'],
    ['x-internal-one', '1'],
    ['X-Internal-Two', '2'],
  ]);
  assert.equal(f.create(cb).decodeHeaders!(cb.headers, true), FilterStatus.Continue);
  assert.deepEqual(entries(cb.headers), ['x-b: old', 'x-c: over', 'x-d: set', 'x-a: final', 'x-kept: ']);
});

test('values are format strings; response mutations; per-route after the filter', () => {
  const f = mustCompile(type, {
    mutations: {
      request_mutations: [add('x-method', '%REQ(:METHOD)%'), add('x-missing', '%REQ(x-none)%')],
      response_mutations: [add('x-resp', 'global'), add('x-order', 'filter')],
    },
  });
  const pr = perRoute(type, {
    '@type': HEADER_MUTATION_PER_ROUTE_TYPE_URL,
    mutations: { response_mutations: [add('x-order', 'route', { append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }), { remove: 'server' }] },
  });
  assert.deepEqual(pr.issues, []);
  const cb = new FakeCallbacks('PUT', '/');
  cb.perRoute = pr.value;
  const filter = f.create(cb);
  filter.decodeHeaders!(cb.headers, true);
  assert.equal(cb.headers.get('x-method'), 'PUT');
  assert.equal(cb.headers.has('x-missing'), false, 'an empty formatted value is skipped');
  const resp = HeaderMap.from([['server', 'upstream']]);
  filter.encodeHeaders!(200, resp, true);
  assert.deepEqual(entries(resp), ['x-resp: global', 'x-order: route']);
});

test('config issues name their paths', () => {
  const { factory, issues } = compile(type, {
    mutations: {
      request_mutations: [
        { remove: ':path' },
        { append: { header: { key: 'x', value: '%NOPE%' } } },
        {},
        { remove: 'a', append: { header: { key: 'b', value: 'c' } } },
        { append: { header: { key: 'x', value: 'y' }, append: true, append_action: 'ADD_IF_ABSENT' } },
      ],
      query_parameter_mutations: [{ remove: 'q' }],
    },
  });
  assert.equal(factory, undefined);
  const m = 'http_filters[0].typed_config.mutations';
  assert.deepEqual(paths(issues), [
    `${m}.query_parameter_mutations`,
    `${m}.request_mutations[0].remove`,
    `${m}.request_mutations[1].append.header.value`,
    `${m}.request_mutations[2]`,
    `${m}.request_mutations[3]`,
    `${m}.request_mutations[4].append`,
  ]);
  assert.deepEqual(paths(perRoute(type, { '@type': HEADER_MUTATION_TYPE_URL }).issues), ['typed_per_filter_config.f.@type']);
});
