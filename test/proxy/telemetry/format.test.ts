import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import { HeaderMap } from '../../../src/lib/headers';
import { ConfigError } from '../../../src/lib/config-error';
import { ResponseFlag, StreamInfo } from '../../../src/proxy/stream-info';
import {
  compileDateFormatter,
  compileFormatter,
  compileJsonFormatter,
  compileJsonObjectFormatter,
  DEFAULT_ACCESS_LOG_FORMAT,
} from '../../../src/proxy/telemetry/format';

function headers(pairs: Record<string, string>): HeaderMap {
  const h = new HeaderMap();
  for (const [k, v] of Object.entries(pairs)) h.add(k, v);
  return h;
}

function sample(): StreamInfo {
  const i = new StreamInfo();
  i.startTime = Date.UTC(2016, 3, 15, 20, 17, 0, 310);
  i.protocol = 'HTTP/1.1';
  i.method = 'POST';
  i.path = '/api/v1/locations?x=1';
  i.authority = 'location.example.com';
  i.requestHeaders = headers({
    'x-forwarded-for': '10.0.35.28',
    'user-agent': 'nsq2http',
    'x-request-id': 'cc21d9b0',
  });
  i.responseHeaders = headers({ 'x-envoy-upstream-service-time': '100', 'content-type': 'text/plain' });
  i.responseTrailers = headers({ 'grpc-status': '0' });
  i.responseCode = 204;
  i.responseCodeDetails = 'via_upstream';
  i.bytesReceived = 154;
  i.bytesSent = 0;
  i.durationMs = 226.9;
  i.lastDownstreamRxByteMs = 3.2;
  i.firstUpstreamRxByteMs = 120.5;
  i.lastDownstreamTxByteMs = 200.7;
  i.upstreamHost = '10.0.1.2:8080';
  i.upstreamCluster = 'backend';
  i.upstreamLocalAddress = '10.0.0.5:41000';
  i.upstreamTransportFailureReason = 'tls_error';
  i.downstreamRemoteAddress = '192.168.0.24:8459';
  i.downstreamDirectRemoteAddress = '192.168.0.1:1234';
  i.downstreamLocalAddress = '[::1]:8443';
  i.requestedServerName = 'sni.example.com';
  i.routeName = 'r1';
  i.connectionId = 42;
  i.attemptCount = 2;
  return i;
}

test('default format matches Envoy example', () => {
  const f = compileFormatter(DEFAULT_ACCESS_LOG_FORMAT);
  assert.equal(
    f(sample()),
    '[2016-04-15T20:17:00.310Z] "POST /api/v1/locations?x=1 HTTP/1.1" 204 - 154 0 226 100 "10.0.35.28" "nsq2http" "cc21d9b0" "location.example.com" "10.0.1.2:8080"\n',
  );
});

test('every command operator', () => {
  const i = sample();
  const cases: Array<[string, string]> = [
    ['%PROTOCOL%', 'HTTP/1.1'],
    ['%RESPONSE_CODE%', '204'],
    ['%RESPONSE_CODE_DETAILS%', 'via_upstream'],
    ['%BYTES_RECEIVED%', '154'],
    ['%BYTES_SENT%', '0'],
    ['%DURATION%', '226'],
    ['%REQUEST_DURATION%', '3'],
    ['%RESPONSE_DURATION%', '120'],
    ['%RESPONSE_TX_DURATION%', '80'],
    ['%UPSTREAM_HOST%', '10.0.1.2:8080'],
    ['%UPSTREAM_CLUSTER%', 'backend'],
    ['%UPSTREAM_LOCAL_ADDRESS%', '10.0.0.5:41000'],
    ['%UPSTREAM_TRANSPORT_FAILURE_REASON%', 'tls_error'],
    ['%DOWNSTREAM_REMOTE_ADDRESS%', '192.168.0.24:8459'],
    ['%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%', '192.168.0.24'],
    ['%DOWNSTREAM_LOCAL_ADDRESS%', '[::1]:8443'],
    ['%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%', '::1'],
    ['%DOWNSTREAM_DIRECT_REMOTE_ADDRESS%', '192.168.0.1:1234'],
    ['%REQUESTED_SERVER_NAME%', 'sni.example.com'],
    ['%ROUTE_NAME%', 'r1'],
    ['%CONNECTION_ID%', '42'],
    ['%HOSTNAME%', os.hostname()],
    ['%UPSTREAM_REQUEST_ATTEMPT_COUNT%', '2'],
    ['%REQ(:METHOD)%', 'POST'],
    ['%REQ(:path)%', '/api/v1/locations?x=1'],
    ['%REQ(:AUTHORITY)%', 'location.example.com'],
    ['%REQ(User-Agent)%', 'nsq2http'],
    ['%REQ(X-MISSING?USER-AGENT)%', 'nsq2http'],
    ['%REQ(USER-AGENT):3%', 'nsq'],
    ['%REQ_WITHOUT_QUERY(:PATH)%', '/api/v1/locations'],
    ['%REQ_WITHOUT_QUERY(X-ENVOY-ORIGINAL-PATH?:PATH)%', '/api/v1/locations'],
    ['%RESP(CONTENT-TYPE)%', 'text/plain'],
    ['%TRAILER(GRPC-STATUS)%', '0'],
    ['%START_TIME%', '2016-04-15T20:17:00.310Z'],
    ['%START_TIME(%Y/%m/%d %H:%M:%S.%3f %z)%', '2016/04/15 20:17:00.310 +0000'],
    ['%START_TIME(%s)%', '1460751420'],
    ['%START_TIME(%Y-%m-%dT%H:%M:%E3SZ)%', '2016-04-15T20:17:00.310Z'],
    ['%START_TIME(%6f)%', '310000'],
    ['100%% sure', '100% sure'],
  ];
  for (const [fmt, want] of cases) assert.equal(compileFormatter(fmt)(i), want, fmt);
});

test('response flags', () => {
  const i = sample();
  assert.equal(compileFormatter('%RESPONSE_FLAGS%')(i), '-');
  i.addFlag(ResponseFlag.NoHealthyUpstream);
  i.addFlag(ResponseFlag.UpstreamRetryLimitExceeded);
  assert.equal(compileFormatter('%RESPONSE_FLAGS%')(i), 'UH,URX');
});

test('missing values print "-" (or "" with omit_empty_values)', () => {
  const i = new StreamInfo();
  const fmt =
    '%PROTOCOL% %REQ(:METHOD)% %REQ(X-A)% %RESP(X-B)% %TRAILER(X-C)% %DURATION% %REQUEST_DURATION% ' +
    '%RESPONSE_DURATION% %RESPONSE_TX_DURATION% %UPSTREAM_HOST% %UPSTREAM_CLUSTER% %ROUTE_NAME% ' +
    '%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %RESPONSE_CODE_DETAILS% %RESPONSE_FLAGS%';
  assert.equal(compileFormatter(fmt)(i), Array(15).fill('-').join(' '));
  assert.equal(compileFormatter(fmt, { omitEmptyValues: true })(i), Array(15).fill('').join(' '));
  // Numbers Envoy always prints.
  assert.equal(compileFormatter('%RESPONSE_CODE% %BYTES_RECEIVED% %BYTES_SENT%')(i), '0 0 0');
});

test('unknown or malformed commands throw ConfigError naming them', () => {
  assert.throws(() => compileFormatter('%NOT_A_COMMAND%'), (e: unknown) => e instanceof ConfigError && /NOT_A_COMMAND/.test(e.message));
  assert.throws(() => compileFormatter('abc %REQ'), ConfigError);
  assert.throws(() => compileFormatter('%REQ()%'), ConfigError);
  assert.throws(() => compileFormatter('%REQ(A?B?C)%'), ConfigError);
  assert.throws(() => compileFormatter('%PROTOCOL(x)%'), ConfigError);
});

test('json_format: nested, typed numbers, null for missing, omit_empty_values', () => {
  const i = sample();
  const fmt = {
    start: '%START_TIME%',
    code: '%RESPONSE_CODE%',
    duration: '%DURATION%',
    bytes: { in: '%BYTES_RECEIVED%', out: '%BYTES_SENT%' },
    ua: '%REQ(USER-AGENT)%',
    missing: '%REQ(X-NOPE)%',
    mixed: 'code=%RESPONSE_CODE%',
    constant: 'literal',
    n: 7,
  };
  const obj = compileJsonObjectFormatter(fmt)(i);
  assert.deepEqual(obj, {
    start: '2016-04-15T20:17:00.310Z',
    code: 204,
    duration: 226,
    bytes: { in: 154, out: 0 },
    ua: 'nsq2http',
    missing: null,
    mixed: 'code=204',
    constant: 'literal',
    n: 7,
  });
  const line = compileJsonFormatter(fmt, { omitEmptyValues: true })(i);
  assert.ok(line.endsWith('}\n'));
  assert.equal(JSON.parse(line).missing, undefined);
  assert.ok(!('missing' in JSON.parse(line)));
});

test('date formatter caches per second but stays correct', () => {
  const f = compileDateFormatter('%H:%M:%S');
  const t = Date.UTC(2020, 0, 1, 1, 2, 3, 400);
  assert.equal(f(t), '01:02:03');
  assert.equal(f(t + 500), '01:02:03');
  assert.equal(f(t + 700), '01:02:04');
});
