import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { FilterStatus } from '../../../src/proxy/http/filter';
import { HTTP_FILTER_TYPES } from '../../../src/proxy/filters';
import { BUFFER_PER_ROUTE_TYPE_URL, BUFFER_TYPE_URL, bufferFilterType as type } from '../../../src/proxy/filters/buffer';
import { compile, FakeCallbacks, mustCompile, paths, perRoute } from './harness';

test('registered under its type URL', () => {
  assert.ok(HTTP_FILTER_TYPES.has(BUFFER_TYPE_URL));
});

test('holds the request until the body ended, then sets content-length', () => {
  const f = mustCompile(type, { max_request_bytes: 10 });
  const cb = new FakeCallbacks('POST', '/', [['transfer-encoding', 'chunked']]);
  const filter = f.create(cb);
  assert.equal(filter.decodeHeaders!(cb.headers, false), FilterStatus.StopIteration);
  assert.equal(filter.decodeData!(Buffer.from('hello'), false), FilterStatus.StopIteration);
  assert.equal(filter.decodeData!(Buffer.from('world'), true), FilterStatus.Continue);
  assert.equal(cb.headers.get('content-length'), '10');
  assert.equal(cb.headers.has('transfer-encoding'), false);
  assert.equal(cb.replies.length, 0);
});

test('an existing content-length is kept', () => {
  const f = mustCompile(type, { max_request_bytes: 10 });
  const cb = new FakeCallbacks('POST', '/', [['content-length', '3']]);
  const filter = f.create(cb);
  filter.decodeHeaders!(cb.headers, false);
  assert.equal(filter.decodeData!(Buffer.from('abc'), true), FilterStatus.Continue);
  assert.equal(cb.headers.get('content-length'), '3');
});

test('beyond max_request_bytes: 413 Payload Too Large', () => {
  const f = mustCompile(type, { max_request_bytes: 4 });
  const cb = new FakeCallbacks('POST', '/');
  const filter = f.create(cb);
  filter.decodeHeaders!(cb.headers, false);
  assert.equal(filter.decodeData!(Buffer.from('abc'), false), FilterStatus.StopIteration);
  assert.equal(filter.decodeData!(Buffer.from('de'), false), FilterStatus.StopIteration);
  assert.deepEqual(cb.replies.map((r) => [r.status, r.body, r.opts.details]), [[413, 'Payload Too Large', 'request_payload_too_large']]);
  // Exactly the limit is fine.
  const ok = new FakeCallbacks('POST', '/');
  const f2 = f.create(ok);
  f2.decodeHeaders!(ok.headers, false);
  assert.equal(f2.decodeData!(Buffer.from('abcd'), true), FilterStatus.Continue);
});

test('header-only requests and disabled routes pass; per-route override', () => {
  const f = mustCompile(type, { max_request_bytes: 4 });
  const get = new FakeCallbacks();
  assert.equal(f.create(get).decodeHeaders!(get.headers, true), FilterStatus.Continue);
  const dis = perRoute(type, { '@type': BUFFER_PER_ROUTE_TYPE_URL, disabled: true });
  assert.deepEqual(dis.issues, []);
  const cb = new FakeCallbacks('POST', '/');
  cb.perRoute = dis.value;
  const filter = f.create(cb);
  assert.equal(filter.decodeHeaders!(cb.headers, false), FilterStatus.Continue);
  assert.equal(filter.decodeData!(Buffer.alloc(100), true), FilterStatus.Continue);
  const big = perRoute(type, { buffer: { max_request_bytes: 1000 } });
  const cb2 = new FakeCallbacks('POST', '/');
  cb2.perRoute = big.value;
  const f2 = f.create(cb2);
  assert.equal(f2.decodeHeaders!(cb2.headers, false), FilterStatus.StopIteration);
  assert.equal(f2.decodeData!(Buffer.alloc(100), true), FilterStatus.Continue);
  assert.equal(cb2.replies.length, 0);
});

test('config issues name their paths', () => {
  assert.deepEqual(paths(compile(type, {}).issues), ['http_filters[0].typed_config.max_request_bytes']);
  assert.deepEqual(paths(compile(type, { max_request_bytes: 0, timeout: 5 }).issues).sort(), [
    'http_filters[0].typed_config.max_request_bytes',
    'http_filters[0].typed_config.timeout',
  ]);
  assert.deepEqual(paths(perRoute(type, {}).issues), ['typed_per_filter_config.f']);
  assert.deepEqual(paths(perRoute(type, { disabled: false }).issues), ['typed_per_filter_config.f.disabled']);
  assert.deepEqual(paths(perRoute(type, { buffer: {} }).issues), ['typed_per_filter_config.f.buffer.max_request_bytes']);
});
