import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigIssue } from '../../../src/lib/config-error';
import { HeaderMap } from '../../../src/lib/headers';
import { compileHttp2Options, defaultHttp2Options } from '../../../src/proxy/codec/http2/options';
import { readRequestHead, readResponseHeaders, writeHeaders } from '../../../src/proxy/codec/http2/headers';
import { parseHttpOptions } from '../../../src/proxy/upstream/http-options';
import { parseGrpcTimeout } from '../../../src/proxy/http/grpc';
import { httpToGrpcStatus, percentEncodeGrpcMessage } from '../../../src/proxy/http/local-reply';

const H2_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const H2_OPTIONS_TYPE = 'type.googleapis.com/' + H2_OPTIONS;

describe('http2_protocol_options', () => {
  test('reads the implemented fields', () => {
    const issues: ConfigIssue[] = [];
    const o = compileHttp2Options(
      { max_concurrent_streams: 50, initial_stream_window_size: 131072, allow_connect: true, connection_keepalive: { interval: 1000, timeout: 500 } },
      'p',
      issues,
      1 << 20,
    );
    assert.deepEqual(issues, []);
    assert.equal(o.maxConcurrentStreams, 50);
    assert.equal(o.initialStreamWindowSize, 131072);
    assert.equal(o.initialConnectionWindowSize, 131072 * 4);
    assert.equal(o.allowConnect, true);
    assert.equal(o.keepaliveIntervalMs, 1000);
    assert.equal(o.keepaliveTimeoutMs, 500);
  });

  test('fields Weft does not implement, and bad values, are errors naming their path', () => {
    const issues: ConfigIssue[] = [];
    compileHttp2Options(
      { allow_metadata: true, initial_stream_window_size: 100, connection_keepalive: { interval: 1000, interval_jitter: { value: 10 } } },
      'hcm.http2_protocol_options',
      issues,
      1 << 20,
    );
    const paths = issues.map((i) => i.path).sort();
    assert.deepEqual(paths, [
      'hcm.http2_protocol_options.allow_metadata',
      'hcm.http2_protocol_options.connection_keepalive.interval_jitter',
      'hcm.http2_protocol_options.connection_keepalive.timeout',
      'hcm.http2_protocol_options.initial_stream_window_size',
    ]);
  });

  test('default windows follow the buffer limit (bounded memory), never below 64 KiB', () => {
    assert.equal(defaultHttp2Options(1 << 20).initialStreamWindowSize, 1 << 20);
    assert.equal(defaultHttp2Options(1000).initialStreamWindowSize, 65535);
  });
});

describe('cluster HttpProtocolOptions', () => {
  const wrap = (inner: object): Record<string, unknown> => ({ typed_extension_protocol_options: { [H2_OPTIONS]: { '@type': H2_OPTIONS_TYPE, ...inner } } });

  test('explicit_http_config.http2_protocol_options selects HTTP/2', () => {
    const issues: ConfigIssue[] = [];
    const o = parseHttpOptions(wrap({ explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 7 } } }), 'c', issues);
    assert.deepEqual(issues, []);
    assert.equal(o.protocol, 'http2');
    assert.equal(o.http2.maxConcurrentStreams, 7);
  });

  test('auto_config selects ALPN; HTTP/3 and unknown fields are rejected by path', () => {
    const issues: ConfigIssue[] = [];
    const o = parseHttpOptions(wrap({ auto_config: { http2_protocol_options: {}, http3_protocol_options: {} } }), 'c', issues);
    assert.equal(o.protocol, 'auto');
    assert.deepEqual(
      issues.map((i) => i.path),
      [`c.typed_extension_protocol_options["${H2_OPTIONS}"].auto_config.http3_protocol_options`],
    );
    const bad: ConfigIssue[] = [];
    parseHttpOptions(wrap({ explicit_http_config: { http2_protocol_options: { max_outbound_frames: 10 } } }), 'c', bad);
    assert.match(bad[0].path, /explicit_http_config\.http2_protocol_options\.max_outbound_frames$/);
  });

  test('the deprecated cluster-level http2_protocol_options still select HTTP/2', () => {
    const issues: ConfigIssue[] = [];
    assert.equal(parseHttpOptions({ http2_protocol_options: {} }, 'c', issues).protocol, 'http2');
    assert.deepEqual(issues, []);
  });
});

describe('HTTP/1.1 ⇄ HTTP/2 headers', () => {
  test('request pseudo-headers are read, cookies joined with "; "', () => {
    const h = readRequestHead([':method', 'POST', ':path', '/a?b', ':authority', 'x.example', ':scheme', 'https', 'cookie', 'a=1', 'x-y', 'z', 'cookie', 'b=2']);
    assert.equal(h.method, 'POST');
    assert.equal(h.path, '/a?b');
    assert.equal(h.authority, 'x.example');
    assert.equal(h.scheme, 'https');
    assert.deepEqual(h.headers.names, ['x-y', 'cookie']);
    assert.equal(h.headers.get('cookie'), 'a=1; b=2');
  });

  test('connection-specific headers never reach HTTP/2; "te: trailers" does; repeated headers become a list', () => {
    const m = HeaderMap.from([
      ['connection', 'keep-alive'],
      ['keep-alive', 'timeout=5'],
      ['transfer-encoding', 'chunked'],
      ['upgrade', 'h2c'],
      ['te', 'trailers'],
      ['host', 'x'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
    ]);
    assert.deepEqual(writeHeaders(m, {}), { te: 'trailers', 'set-cookie': ['a=1', 'b=2'] });
    assert.deepEqual(writeHeaders(HeaderMap.from([['te', 'gzip']]), {}), {});
  });

  test('response :status is read, other pseudo-headers dropped', () => {
    const m = new HeaderMap();
    assert.equal(readResponseHeaders([':status', '204', 'x', '1'], m), 204);
    assert.deepEqual(m.names, ['x']);
  });
});

describe('gRPC helpers', () => {
  test('grpc-timeout units, and invalid values ignored', () => {
    assert.equal(parseGrpcTimeout('3S'), 3000);
    assert.equal(parseGrpcTimeout('2M'), 120_000);
    assert.equal(parseGrpcTimeout('1H'), 3_600_000);
    assert.equal(parseGrpcTimeout('250m'), 250);
    assert.equal(parseGrpcTimeout('1500u'), 2);
    assert.equal(parseGrpcTimeout('1n'), 1);
    assert.equal(parseGrpcTimeout('123456789S'), undefined);
    assert.equal(parseGrpcTimeout('5x'), undefined);
    assert.equal(parseGrpcTimeout('S'), undefined);
    assert.equal(parseGrpcTimeout(undefined), undefined);
  });

  test("Envoy's HTTP → gRPC status mapping for local replies", () => {
    assert.equal(httpToGrpcStatus(400), 13);
    assert.equal(httpToGrpcStatus(401), 16);
    assert.equal(httpToGrpcStatus(403), 7);
    assert.equal(httpToGrpcStatus(404), 12);
    assert.equal(httpToGrpcStatus(429), 14);
    assert.equal(httpToGrpcStatus(503), 14);
    assert.equal(httpToGrpcStatus(504), 14);
    assert.equal(httpToGrpcStatus(500), 2);
  });

  test('grpc-message is percent-encoded', () => {
    assert.equal(percentEncodeGrpcMessage('plain text'), 'plain text');
    assert.equal(percentEncodeGrpcMessage('100% é\n'), '100%25 %C3%A9%0A');
  });
});
