import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { test } from 'node:test';
import { parseClientHello } from '../../../src/proxy/listener/tls-inspector';
import { detectHttp } from '../../../src/proxy/listener/http-inspector';
import { compileChainMatch, selectChain, serverNameScore } from '../../../src/proxy/listener/filter-chain-match';
import type { ConfigIssue } from '../../../src/lib/config-error';

/** Captures the first bytes a real node:tls client sends (its ClientHello). */
async function realClientHello(opts: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const got = new Promise<Buffer>((resolve) => {
    server.once('connection', (s) => {
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const r = parseClientHello(buf);
        if (r.state !== 'need_more') {
          resolve(buf);
          s.destroy();
        }
      });
    });
  });
  const c = tls.connect({ host: '127.0.0.1', port, ...opts });
  c.on('error', () => undefined);
  const hello = await got;
  c.destroy();
  server.close();
  return hello;
}

test('tls_inspector parses SNI and ALPN from a real ClientHello, byte by byte', async () => {
  const hello = await realClientHello({ servername: 'API.Example.com', ALPNProtocols: ['h2', 'http/1.1'] });
  const r = parseClientHello(hello);
  assert.deepEqual(r, { state: 'tls', serverName: 'api.example.com', alpn: ['h2', 'http/1.1'] });
  // Every shorter prefix asks for more bytes, never misdetects.
  for (let i = 0; i < hello.length; i++) assert.equal(parseClientHello(hello.subarray(0, i)).state, 'need_more', `prefix ${i}`);
});

test('tls_inspector: no SNI / no ALPN; a ClientHello split over two records; non-TLS; oversized', async () => {
  const hello = await realClientHello({});
  assert.deepEqual(parseClientHello(hello), { state: 'tls', serverName: '', alpn: [] });
  // Re-frame the same handshake message into two records.
  const body = hello.subarray(5);
  const cut = 40;
  const rec = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, b.length >> 8, b.length & 0xff]), b]);
  const split = Buffer.concat([rec(body.subarray(0, cut)), rec(body.subarray(cut))]);
  assert.equal(parseClientHello(split.subarray(0, 5 + cut)).state, 'need_more');
  assert.deepEqual(parseClientHello(split), { state: 'tls', serverName: '', alpn: [] });
  assert.equal(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n')).state, 'not_tls');
  assert.equal(parseClientHello(Buffer.from([0x16, 0x02])).state, 'not_tls');
  assert.equal(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0, 0, 0])).state, 'not_tls', 'not a ClientHello');
  assert.equal(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x02, 0x00, 0x00])).state, 'too_large');
  const garbage = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0x00, 0x00, 0x04, 0xff, 0xff, 0xff, 0xff]);
  assert.equal(parseClientHello(garbage).state, 'not_tls', 'truncated fields inside the hello are rejected, not read past');
});

test('http_inspector: HTTP/1.0, HTTP/1.1, h2c preface, partial input and non-HTTP', () => {
  assert.equal(detectHttp(Buffer.from('GET / HTTP/1.1\r\nhost: x\r\n')), 'http/1.1');
  assert.equal(detectHttp(Buffer.from('POST /x HTTP/1.0\r\n')), 'http/1.0');
  assert.equal(detectHttp(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')), 'h2c');
  assert.equal(detectHttp(Buffer.from('PRI * HTTP/2')), 'need_more');
  assert.equal(detectHttp(Buffer.from('GE')), 'need_more');
  assert.equal(detectHttp(Buffer.from('GET /very/long')), 'need_more');
  assert.equal(detectHttp(Buffer.from('GET / HTTP/2.0\r\n')), 'not_http');
  assert.equal(detectHttp(Buffer.from('\x00\x01\x02')), 'not_http');
  assert.equal(detectHttp(Buffer.from('GET'.padEnd(100, 'A')), 64), 'not_http', 'bounded');
});

function chains(matches: object[]): { name: string; match: ReturnType<typeof compileChainMatch> }[] {
  const issues: ConfigIssue[] = [];
  const out = matches.map((m, i) => ({ name: String(i), match: compileChainMatch(m as Record<string, unknown>, `m[${i}]`, issues) }));
  assert.deepEqual(issues, []);
  return out;
}
const conn = { localAddress: '127.0.0.1', localPort: 443, remoteAddress: '127.0.0.1', remotePort: 5000 };

test('server_names: exact beats wildcard, longer wildcard beats shorter, chains without names catch the rest', () => {
  assert.equal(serverNameScore([], 'a.b'), 0);
  assert.ok(serverNameScore(['a.example.com'], 'A.example.com') > serverNameScore(['*.example.com'], 'a.example.com'));
  assert.ok(serverNameScore(['*.b.example.com'], 'a.b.example.com') > serverNameScore(['*.example.com'], 'a.b.example.com'));
  assert.equal(serverNameScore(['*.example.com'], 'example.com'), -1);
  const cs = chains([{ server_names: ['*.example.com'] }, { server_names: ['api.example.com'] }, {}]);
  assert.equal(selectChain(cs, { ...conn, serverName: 'api.example.com' })?.name, '1');
  assert.equal(selectChain(cs, { ...conn, serverName: 'web.example.com' })?.name, '0');
  assert.equal(selectChain(cs, { ...conn, serverName: 'other.org' })?.name, '2');
  assert.equal(selectChain(cs, conn)?.name, '2');
});

test('Envoy order without backtracking: a more specific transport_protocol wins even if its ALPN then fails', () => {
  const cs = chains([{ transport_protocol: 'raw_buffer', application_protocols: ['h2c'] }, { application_protocols: ['http/1.1'] }]);
  assert.equal(selectChain(cs, { ...conn, transportProtocol: 'raw_buffer', applicationProtocols: ['h2c'] })?.name, '0');
  assert.equal(selectChain(cs, { ...conn, transportProtocol: 'raw_buffer', applicationProtocols: ['http/1.1'] }), undefined);
  const tlsFirst = chains([{ transport_protocol: 'tls' }, { application_protocols: ['http/1.1'] }, {}]);
  assert.equal(selectChain(tlsFirst, { ...conn, transportProtocol: 'tls', applicationProtocols: ['http/1.1'] })?.name, '0');
  assert.equal(selectChain(tlsFirst, { ...conn, transportProtocol: 'raw_buffer', applicationProtocols: ['http/1.1'] })?.name, '1');
  assert.equal(selectChain(tlsFirst, { ...conn, transportProtocol: 'raw_buffer' })?.name, '2');
});

test('partial wildcards in server_names are rejected by path', () => {
  const issues: ConfigIssue[] = [];
  compileChainMatch({ server_names: ['a*.example.com', '*.ok.com', 'x.*.com'] }, 'fcm', issues);
  assert.deepEqual(
    issues.map((i) => i.path),
    ['fcm.server_names[0]', 'fcm.server_names[2]'],
  );
});
