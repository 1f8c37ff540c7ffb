import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { simpleHttpBootstrap, startProxy, type RunningProxy } from '../helpers/proxy';
import { getRequest, hasResponses, parseResponses, rawExchange, type RawResult } from '../helpers/raw';
import { startEchoUpstream, type EchoUpstream } from '../helpers/upstream';

describe('malformed and hostile input (raw sockets)', () => {
  let up: EchoUpstream;
  let px: RunningProxy;

  before(async () => {
    up = await startEchoUpstream();
    px = await startProxy(simpleHttpBootstrap(up.port, { hcm: { max_request_headers_kb: 8 } }));
  });
  after(async () => {
    await px?.stop();
    await up?.stop();
  });
  afterEach(async () => {
    // After every hostile input, the proxy still answers a normal request on a new connection.
    const r = await rawExchange(px.port, getRequest('/still-alive'), { until: hasResponses(1) });
    const rs = parseResponses(r.data);
    assert.equal(rs[0]?.status, 200, `proxy no longer serving: ${r.text}`);
  });

  /** Sends bytes, expects one response with `status` and the connection closed by the proxy. */
  async function expectRejected(bytes: string | Buffer | Array<string | Buffer>, status: number, path?: string): Promise<RawResult> {
    const before = await px.stat('http.ingress.downstream_cx_protocol_error');
    const r = await rawExchange(px.port, bytes, { timeoutMs: 3000 });
    const rs = parseResponses(r.data);
    assert.equal(rs.length, 1, `one response expected, got: ${JSON.stringify(r.text)}`);
    assert.equal(rs[0].status, status, r.text);
    assert.equal(rs[0].headers['connection'], 'close');
    assert.ok(r.closed, 'the proxy closed the connection');
    assert.equal(await px.stat('http.ingress.downstream_cx_protocol_error'), before + 1);
    if (path !== undefined) assert.ok(!up.requests.some((q) => q.url === path), `${path} must not reach the upstream`);
    return r;
  }

  test('Content-Length with Transfer-Encoding: 400, close, nothing forwarded', async () => {
    await expectRejected(
      'POST /smuggle HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
      400,
      '/smuggle',
    );
    assert.ok(!up.requests.some((q) => q.url === '/smuggled'));
  });

  test('two different Content-Lengths: 400', async () => {
    await expectRejected('POST /twocl HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', 400, '/twocl');
    await expectRejected('POST /twocl2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\nabcd', 400, '/twocl2');
  });

  test('invalid Content-Length values: 400', async () => {
    await expectRejected('POST /badcl HTTP/1.1\r\nHost: a\r\nContent-Length: 12abc\r\n\r\n', 400, '/badcl');
    await expectRejected('POST /negcl HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n', 400, '/negcl');
  });

  test('invalid header name characters: 400', async () => {
    await expectRejected('GET /badname HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n', 400, '/badname');
    await expectRejected('GET /badname2 HTTP/1.1\r\nHost: a\r\nx(y): z\r\n\r\n', 400, '/badname2');
    await expectRejected('GET /badname3 HTTP/1.1\r\nHost: a\r\nx-space : z\r\n\r\n', 400, '/badname3');
  });

  test('obs-fold: 400', async () => {
    await expectRejected('GET /fold HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n  two\r\n\r\n', 400, '/fold');
  });

  test('bare LF line endings: 400', async () => {
    await expectRejected('GET /barelf HTTP/1.1\nHost: a\n\n', 400, '/barelf');
    await expectRejected('GET /barelf2 HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n', 400, '/barelf2');
  });

  test('NUL and other control characters in a header value: 400', async () => {
    await expectRejected(Buffer.from('GET /nul HTTP/1.1\r\nHost: a\r\nX-Nul: a\0b\r\n\r\n', 'latin1'), 400, '/nul');
    await expectRejected(Buffer.from('GET /cr HTTP/1.1\r\nHost: a\r\nX-Cr: a\rb\r\n\r\n', 'latin1'), 400, '/cr');
  });

  test('invalid request line and method: 400', async () => {
    await expectRejected('G@T /m HTTP/1.1\r\nHost: a\r\n\r\n', 400, '/m');
    await expectRejected('GET /sp ace HTTP/1.1\r\nHost: a\r\n\r\n', 400);
  });

  test('headers larger than max_request_headers_kb (8 KiB): 431', async () => {
    const before = await px.stat('http.ingress.downstream_rq_too_large');
    await expectRejected(`GET /big-headers HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(9 * 1024)}\r\n\r\n`, 431, '/big-headers');
    // Many small headers adding up, sent in pieces.
    const many = Array.from({ length: 90 }, (_, i) => `X-H${i}: ${'b'.repeat(100)}\r\n`);
    await expectRejected(['GET /many-headers HTTP/1.1\r\nHost: a\r\n', ...many, '\r\n'], 431, '/many-headers');
    assert.equal(await px.stat('http.ingress.downstream_rq_too_large'), before + 2);
  });

  test('invalid chunk size: 400 (or the stream is reset), nothing beyond it is served', async () => {
    const r = await rawExchange(px.port, 'POST /badchunk HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n' + getRequest('/after-badchunk'), {
      timeoutMs: 3000,
    });
    assert.ok(r.closed, 'connection closed');
    const rs = parseResponses(r.data);
    // The head was valid, so the request may already be on its way upstream: Envoy answers 400
    // if no response started, otherwise resets. Either way nothing after it is parsed.
    assert.ok(rs.length <= 1);
    if (rs.length === 1) assert.equal(rs[0].status, 400, r.text);
    assert.ok(!up.requests.some((q) => q.url === '/after-badchunk'));
    assert.ok((await px.stat('http.ingress.downstream_cx_protocol_error')) >= 1);
  });

  test('truncated requests then close: no crash', async () => {
    for (const partial of ['GET /trunc HTTP/1.1\r\nHost: a\r\nX-Partial: ', 'POST /trunc-body HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc', 'GE']) {
      const r = await rawExchange(px.port, partial, { end: true, timeoutMs: 3000 });
      assert.ok(r.closed, 'the proxy closes a half-closed connection with an incomplete request');
    }
    const r = await rawExchange(px.port, 'POST /trunc-chunk HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab', {
      timeoutMs: 300,
    });
    assert.equal(r.closed, false);
  });

  test('a valid request arriving in many small pieces is served (early head checks do not misfire)', async () => {
    const req = getRequest('/pieces', 'X-A: b\r\n');
    const parts = req.match(/[\s\S]{1,3}/g) ?? [];
    const r = await rawExchange(px.port, parts, { gapMs: 1, until: hasResponses(1) });
    assert.equal(parseResponses(r.data)[0]?.status, 200, r.text);
  });

  test('500 connections of random garbage (bounded) leave the proxy serving', async () => {
    const before = await px.stat('http.ingress.downstream_cx_protocol_error');
    let answered400 = 0;
    let other = 0;
    const total = 500;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < total) {
        next++;
        // Starts with a control byte so that it can never be a valid request.
        const junk = Buffer.concat([Buffer.from([[1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 14, 15, 16, 127][Math.floor(Math.random() * 14)]]), randomBytes(16 + Math.floor(Math.random() * 240))]);
        const r = await rawExchange(px.port, junk, { timeoutMs: 2000, end: true });
        if (r.data.length === 0) continue;
        if (r.text.startsWith('HTTP/1.1 400 ')) answered400++;
        else other++;
      }
    };
    await Promise.all(Array.from({ length: 20 }, worker));
    assert.equal(other, 0, 'every answer to garbage is a 400');
    assert.ok(answered400 >= 1);
    const errors = (await px.stat('http.ingress.downstream_cx_protocol_error')) - before;
    assert.ok(errors >= 450, `downstream_cx_protocol_error grew by ${errors}`);
    assert.equal(await px.stat('http.ingress.downstream_cx_active'), 0);
  });
});
