import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { run } from '../helpers/curl';
import { EchoClient, H2_CLUSTER_OPTIONS, startGrpcEcho, unary, type EchoClientApi, type EchoServer } from '../helpers/grpc';
import { startNginx, type Nginx } from '../helpers/nginx';
import { address, bootstrap, HCM_TYPE, ROUTER, simpleRoutes, startProxy, staticCluster, type RunningProxy } from '../helpers/proxy';
import { startEchoUpstream, startTcpServer, type EchoBody, type EchoUpstream, type TcpServer } from '../helpers/upstream';
import { ConfigError } from '../../src/lib/config-error';
import {
  createTestPki,
  downstreamTlsSocket,
  SPIFFE_PREFIX,
  tlsCertificate,
  upstreamTlsSocket,
  uriSanValidation,
  type TestPki,
} from '../helpers/certs';

/**
 * HTTP/2 × TLS seams with real peers: ALPN on a codec AUTO listener (curl, openssl s_client, h2load,
 * grpc-js with TLS credentials), upstream auto_config / explicit HTTP/2 over TLS to nginx, mTLS
 * between two Weft proxies carrying HTTP/2, and x-forwarded-proto for TLS connections.
 */

const HTTP_OPTIONS = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const AUTO_CONFIG = {
  typed_extension_protocol_options: {
    [HTTP_OPTIONS]: { '@type': `type.googleapis.com/${HTTP_OPTIONS}`, auto_config: {} },
  },
};

function hcmFilter(statPrefix: string, routes: object, extra: object = {}): object {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: { '@type': HCM_TYPE, stat_prefix: statPrefix, codec_type: 'AUTO', route_config: routes, http_filters: [ROUTER], ...extra },
  };
}

function listener(name: string, filter: object, transportSocket?: object): object {
  const chain: Record<string, unknown> = { filters: [filter] };
  if (transportSocket !== undefined) chain.transport_socket = transportSocket;
  return { name, stat_prefix: name, address: address(0), filter_chains: [chain] };
}

const route = (prefix: string, cluster: string): object => ({ match: { prefix }, route: { cluster } });

/** curl printing the body, then a last line with %{http_version}. */
async function curlVersion(url: string, args: string[]): Promise<{ version: string; body: string; code: number; stderr: string }> {
  const r = await run('curl', ['-sS', '--max-time', '10', ...args, '-w', '\n%{http_version}', url], 15_000);
  const cut = r.stdout.lastIndexOf('\n');
  return { version: r.stdout.slice(cut + 1), body: r.stdout.slice(0, cut).trimEnd(), code: r.code, stderr: r.stderr };
}

describe('HTTP/2 over TLS (ALPN, codec AUTO, upstream auto_config, mesh mTLS)', () => {
  let pki: TestPki;
  let echo: EchoUpstream;
  let grpcEcho: EchoServer;
  let nginxH2: Nginx;
  let nginxH1: Nginx;
  let sidecar: RunningProxy;
  let edge: RunningProxy;
  let ca: string;
  let chunked: TcpServer;

  before(async () => {
    pki = createTestPki();
    ca = pki.ca.cert;
    echo = await startEchoUpstream();
    grpcEcho = await startGrpcEcho();
    // A keep-alive upstream that sends each chunked response (head, a chunk, the last chunk) in one write.
    chunked = await startTcpServer((sock) => {
      let seen = '';
      sock.on('data', (d: Buffer) => {
        seen += d.toString('latin1');
        for (let end = seen.indexOf('\r\n\r\n'); end >= 0; end = seen.indexOf('\r\n\r\n')) {
          seen = seen.slice(end + 4);
          sock.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
        }
      });
    });
    const nginxTls = `
      ssl_protocols TLSv1.2 TLSv1.3;
      ssl_certificate ${pki.server.cert};
      ssl_certificate_key ${pki.server.key};
      location / { return 200 "proto=$server_protocol\\n"; }
    `;
    nginxH2 = await startNginx(nginxTls, 'ssl http2');
    nginxH1 = await startNginx(nginxTls, 'ssl');

    // The receiving sidecar: mTLS only for the client SPIFFE ID, ALPN h2, to the plaintext echo upstream.
    sidecar = await startProxy(
      bootstrap(
        [
          listener(
            'inbound',
            hcmFilter('inbound', simpleRoutes([route('/', 'local_app')])),
            downstreamTlsSocket(pki.server, {
              common: { alpn_protocols: ['h2'], validation_context: uriSanValidation(ca, pki.clientSpiffe) },
              extra: { require_client_certificate: true },
            }),
          ),
        ],
        [staticCluster('local_app', [echo.port])],
      ),
    );
    const sidecarPort = sidecar.ports.inbound;
    const serverCheck = uriSanValidation(ca, pki.serverSpiffe);
    const meshCluster = (name: string, client: object, validation: object): object =>
      staticCluster(name, [sidecarPort], {
        ...H2_CLUSTER_OPTIONS,
        transport_socket: upstreamTlsSocket({ tls_certificates: [client], validation_context: validation }, { sni: 'server.example.com' }),
      });
    const tlsToNginx = (name: string, port: number, options: object): object =>
      staticCluster(name, [port], { ...options, transport_socket: upstreamTlsSocket({ validation_context: serverCheck }, { sni: 'localhost' }) });
    const edgeRoutes = simpleRoutes([
      route('/weft.test.Echo/', 'grpc'),
      route('/auto-h2', 'auto_h2'),
      route('/auto-h1', 'auto_h1'),
      route('/explicit-h2', 'explicit_h2'),
      route('/mesh-wrong-san', 'mesh_wrong_san'),
      route('/mesh-other-ca', 'mesh_other_ca'),
      route('/mesh', 'mesh'),
      route('/chunked', 'chunked'),
      route('/', 'echo'),
    ]);
    edge = await startProxy(
      bootstrap(
        [
          listener('edge', hcmFilter('edge', edgeRoutes), downstreamTlsSocket(pki.server, { common: { alpn_protocols: ['h2', 'http/1.1'] } })),
          listener(
            'edge_ura',
            hcmFilter('edge_ura', edgeRoutes, { use_remote_address: true }),
            downstreamTlsSocket(pki.server, { common: { alpn_protocols: ['h2', 'http/1.1'] } }),
          ),
          listener('plain', hcmFilter('plain', edgeRoutes)),
          listener('forced_h2', hcmFilter('forced_h2', edgeRoutes, { codec_type: 'HTTP2' }), downstreamTlsSocket(pki.server)),
        ],
        [
          staticCluster('echo', [echo.port]),
          staticCluster('chunked', [chunked.port]),
          staticCluster('grpc', [grpcEcho.port], H2_CLUSTER_OPTIONS),
          tlsToNginx('auto_h2', nginxH2.port, AUTO_CONFIG),
          tlsToNginx('auto_h1', nginxH1.port, AUTO_CONFIG),
          tlsToNginx('explicit_h2', nginxH2.port, H2_CLUSTER_OPTIONS),
          meshCluster('mesh', tlsCertificate(pki.client), serverCheck),
          meshCluster('mesh_wrong_san', tlsCertificate(pki.client), uriSanValidation(ca, `${SPIFFE_PREFIX}not-the-sidecar`)),
          meshCluster('mesh_other_ca', tlsCertificate(pki.clientOtherCa), serverCheck),
        ],
      ),
    );
  });

  after(async () => {
    await edge?.stop();
    await sidecar?.stop();
    await nginxH2?.stop();
    await nginxH1?.stop();
    await grpcEcho?.stop();
    await echo?.stop();
    await chunked?.stop();
    pki?.remove();
  });

  const https = (path: string, port = edge.ports.edge): string => `https://127.0.0.1:${port}${path}`;

  test('curl --http2 over https gets HTTP/2 and --http1.1 gets HTTP/1.1 on the same port', async () => {
    const h2 = await curlVersion(https('/a'), ['--cacert', ca, '--http2']);
    assert.equal(h2.code, 0, h2.stderr);
    assert.equal(h2.version, '2');
    const h1 = await curlVersion(https('/b'), ['--cacert', ca, '--http1.1']);
    assert.equal(h1.code, 0, h1.stderr);
    assert.equal(h1.version, '1.1');
    const stats = await edge.stats();
    assert.equal(stats['http.edge.downstream_cx_http2_total'], 1);
    assert.equal(stats['http.edge.downstream_cx_http1_total'], 1);
    assert.ok((stats['listener.edge.ssl.handshake'] ?? 0) >= 2);
  });

  test('openssl s_client negotiates ALPN h2, and http/1.1 when only that is offered', async () => {
    const args = (alpn: string): string[] => ['s_client', '-connect', `127.0.0.1:${edge.ports.edge}`, '-servername', 'localhost', '-CAfile', ca, '-alpn', alpn];
    const h2 = await run('openssl', args('h2'), 10_000, '');
    assert.match(h2.stdout, /ALPN protocol: h2\b/, h2.stdout + h2.stderr);
    assert.match(h2.stdout, /Verify return code: 0 \(ok\)/);
    const h1 = await run('openssl', args('http/1.1'), 10_000, '');
    assert.match(h1.stdout, /ALPN protocol: http\/1\.1/, h1.stdout + h1.stderr);
  });

  test('h2load over TLS: every request succeeds on HTTP/2', async () => {
    const r = await run('h2load', ['-n', '200', '-c', '4', '-m', '8', https('/load')], 30_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Application protocol: h2/);
    assert.match(r.stdout, /requests: 200 total, 200 started, 200 done, 200 succeeded/);
    assert.match(r.stdout, /status codes: 200 2xx/);
  });

  /** One GET over HTTP/2 on a TLS connection that offers no ALPN; returns the echoed path. */
  async function h2WithoutAlpn(port: number, path: string): Promise<string> {
    const session = http2.connect(`https://127.0.0.1:${port}`, {
      createConnection: () => tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(ca), servername: 'localhost' }),
    });
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const req = session.request({ ':path': path });
        let data = '';
        req.setEncoding('utf8');
        req.on('data', (c: string) => (data += c));
        req.on('end', () => resolve(data));
        req.on('error', reject);
        req.end();
      });
      return (JSON.parse(body) as EchoBody).url;
    } finally {
      session.close();
    }
  }

  test('codec_type HTTP2 on TLS serves a client that offers no ALPN (HTTP/2 with prior knowledge over TLS)', async () => {
    assert.equal(await h2WithoutAlpn(edge.ports.forced_h2, '/forced'), '/forced');
    assert.equal(await edge.stat('http.forced_h2.downstream_cx_http2_total'), 1);
  });

  test('codec_type AUTO on TLS without ALPN detects the HTTP/2 preface', async () => {
    const before = await edge.stat('http.edge_ura.downstream_cx_http2_total');
    assert.equal(await h2WithoutAlpn(edge.ports.edge_ura, '/sniffed'), '/sniffed');
    assert.equal(await edge.stat('http.edge_ura.downstream_cx_http2_total'), before + 1);
  });

  describe('grpc-js with TLS credentials through the proxy to a plaintext grpc-js server', () => {
    let client: EchoClientApi;
    before(() => {
      const creds = grpc.credentials.createSsl(fs.readFileSync(ca));
      client = new EchoClient(`127.0.0.1:${edge.ports.edge}`, creds, { 'grpc.ssl_target_name_override': 'localhost' });
    });
    after(() => client?.close());

    test('unary call', async () => {
      const r = await unary(client, Buffer.from('hello'));
      assert.equal(r.res.toString(), 'hello');
      assert.equal(r.status.code, grpc.status.OK);
      assert.equal(r.status.metadata.get('x-trailer')[0], 'ok');
    });

    test('server streaming and bidirectional streaming calls', async () => {
      const md = new grpc.Metadata();
      md.set('x-count', '4');
      const got: string[] = [];
      await new Promise<void>((resolve, reject) => {
        const call = client.serverStream(Buffer.from('s'), md);
        call.on('data', (b: Buffer) => got.push(b.toString()));
        call.on('error', reject);
        call.on('end', () => resolve());
      });
      assert.deepEqual(got, ['s-0', 's-1', 's-2', 's-3']);

      const echoed: string[] = [];
      const status = await new Promise<grpc.StatusObject>((resolve, reject) => {
        const call = client.bidi(new grpc.Metadata());
        call.on('data', (b: Buffer) => echoed.push(b.toString()));
        call.on('error', reject);
        call.on('status', resolve);
        for (const m of ['x', 'y', 'z']) call.write(Buffer.from(m));
        call.end();
      });
      assert.equal(status.code, grpc.status.OK);
      assert.deepEqual(echoed, ['echo:x', 'echo:y', 'echo:z']);
    });
  });

  test('upstream auto_config over TLS: nginx with http2 gets HTTP/2, nginx without gets HTTP/1.1', async () => {
    const h2 = await curlVersion(https('/auto-h2'), ['--cacert', ca, '--http1.1']);
    assert.equal(h2.code, 0, h2.stderr);
    assert.equal(h2.body, 'proto=HTTP/2.0');
    const h1 = await curlVersion(https('/auto-h1'), ['--cacert', ca, '--http2']);
    assert.equal(h1.code, 0, h1.stderr);
    assert.equal(h1.body, 'proto=HTTP/1.1');
    const stats = await edge.stats();
    assert.equal(stats['cluster.auto_h2.upstream_cx_http2_total'], 1);
    assert.equal(stats['cluster.auto_h2.upstream_cx_http1_total'] ?? 0, 0);
    assert.equal(stats['cluster.auto_h1.upstream_cx_http1_total'], 1);
    assert.equal(stats['cluster.auto_h1.upstream_cx_http2_total'] ?? 0, 0);
  });

  test('upstream explicit HTTP/2 over TLS to nginx', async () => {
    for (const v of ['--http2', '--http1.1']) {
      const r = await curlVersion(https('/explicit-h2'), ['--cacert', ca, v]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.body, 'proto=HTTP/2.0');
    }
    assert.equal(await edge.stat('cluster.explicit_h2.upstream_cx_http2_total'), 1);
    assert.equal(await edge.stat('cluster.explicit_h2.ssl.handshake'), 1);
  });

  test('sidecar to sidecar: mTLS with SPIFFE URI SANs both ways carries HTTP/2', async () => {
    const r = await curlVersion(https('/mesh/x'), ['--cacert', ca, '--http2']);
    assert.equal(r.code, 0, r.stderr);
    const seen = JSON.parse(r.body) as EchoBody;
    assert.equal(seen.url, '/mesh/x');
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    const edgeStats = await edge.stats();
    assert.equal(edgeStats['cluster.mesh.upstream_cx_http2_total'], 1);
    assert.equal(edgeStats['cluster.mesh.ssl.handshake'], 1);
    const sideStats = await sidecar.stats();
    assert.equal(sideStats['http.inbound.downstream_cx_http2_total'], 1);
    assert.equal(sideStats['listener.inbound.ssl.handshake'], 1);
  });

  test('sidecar to sidecar failures: wrong server SAN (client side) and a client certificate from another CA (server side)', async () => {
    const wrongSan = await curlVersion(https('/mesh-wrong-san'), ['--cacert', ca, '--http2']);
    assert.equal(wrongSan.code, 0, wrongSan.stderr);
    assert.match(wrongSan.body, /upstream connect error/);
    assert.ok((await edge.stat('cluster.mesh_wrong_san.ssl.fail_verify_san')) >= 1);
    assert.ok((await edge.stat('cluster.mesh_wrong_san.upstream_cx_connect_fail')) >= 1);

    const otherCa = await curlVersion(https('/mesh-other-ca'), ['--cacert', ca, '--http2']);
    assert.equal(otherCa.code, 0, otherCa.stderr);
    assert.match(otherCa.body, /upstream connect error|reset/);
    assert.ok((await sidecar.stat('listener.inbound.ssl.fail_verify_error')) >= 1);
  });

  test('a keep-alive HTTPS response (head and a small body, or a chunked body read at once) leaves as one TLS record', async () => {
    // A relay between client and proxy counts the TLS records the proxy sends back. TLS 1.2 keeps
    // post-handshake messages (1.3 session tickets) out of the count.
    const counts = { records: 0, pending: Buffer.alloc(0) };
    const relay = net.createServer((client) => {
      const upstream = net.connect(edge.ports.edge, '127.0.0.1');
      client.pipe(upstream);
      upstream.on('data', (d: Buffer) => {
        let buf = Buffer.concat([counts.pending, d]);
        while (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
          if (buf[0] === 23) counts.records++;
          buf = buf.subarray(5 + buf.readUInt16BE(3));
        }
        counts.pending = Buffer.from(buf);
        client.write(d);
      });
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const port = (relay.address() as net.AddressInfo).port;
    const socket = tls.connect({ host: '127.0.0.1', port, ca: fs.readFileSync(ca), servername: 'localhost', maxVersion: 'TLSv1.2', ALPNProtocols: ['http/1.1'] });
    try {
      await new Promise<void>((r, j) => socket.once('secureConnect', r).once('error', j));
      const exchange = (path: string): Promise<string> =>
        new Promise((resolve) => {
          let text = '';
          const onData = (d: Buffer): void => {
            text += d.toString('latin1');
            const end = text.indexOf('\r\n\r\n');
            const len = /content-length: (\d+)/i.exec(text);
            const complete = len !== null ? text.length >= end + 4 + Number(len[1]) : text.endsWith('\r\n0\r\n\r\n');
            if (end >= 0 && complete) {
              socket.off('data', onData);
              resolve(text);
            }
          };
          socket.on('data', onData);
          socket.write(`GET ${path} HTTP/1.1\r\nhost: localhost\r\n\r\n`);
        });
      for (const path of ['/one', '/chunked/a', '/two', '/chunked/b']) {
        const before = counts.records;
        const text = await exchange(path);
        assert.match(text, /^HTTP\/1\.1 200 /);
        assert.equal(counts.records - before, 1, `records for ${path}`);
      }
    } finally {
      socket.destroy();
      await new Promise<void>((r) => relay.close(() => r()));
    }
  });

  describe('x-forwarded-proto', () => {
    const seenProto = async (url: string, args: string[]): Promise<string | undefined> => {
      const r = await curlVersion(url, ['--cacert', ca, ...args]);
      assert.equal(r.code, 0, r.stderr);
      const h = (JSON.parse(r.body) as EchoBody).headers['x-forwarded-proto'];
      return Array.isArray(h) ? h.join(',') : h;
    };

    test('https for requests over TLS (HTTP/1.1 and HTTP/2), http over plaintext (HTTP/1.1 and h2c)', async () => {
      assert.equal(await seenProto(https('/xfp'), ['--http1.1']), 'https');
      assert.equal(await seenProto(https('/xfp'), ['--http2']), 'https');
      assert.equal(await seenProto(`http://127.0.0.1:${edge.ports.plain}/xfp`, ['--http1.1']), 'http');
      assert.equal(await seenProto(`http://127.0.0.1:${edge.ports.plain}/xfp`, ['--http2-prior-knowledge']), 'http');
    });

    test('without use_remote_address a client value is kept; with it the connection decides', async () => {
      const spoof = ['-H', 'x-forwarded-proto: spoofed'];
      assert.equal(await seenProto(https('/xfp'), ['--http1.1', ...spoof]), 'spoofed');
      assert.equal(await seenProto(https('/xfp', edge.ports.edge_ura), ['--http1.1', ...spoof]), 'https');
      assert.equal(await seenProto(https('/xfp', edge.ports.edge_ura), ['--http2', ...spoof]), 'https');
      assert.equal(await seenProto(`http://127.0.0.1:${edge.ports.plain}/xfp`, ['-H', 'x-forwarded-proto: https']), 'https');
    });

    test('an HTTP/2 request saying :scheme http over TLS still gets https (the connection decides, as Envoy)', async () => {
      const session = http2.connect(https(''), { ca: fs.readFileSync(ca), servername: 'localhost' });
      try {
        const body = await new Promise<string>((resolve, reject) => {
          const req = session.request({ ':method': 'GET', ':path': '/xfp', ':scheme': 'http', ':authority': 'example.com' });
          let data = '';
          req.setEncoding('utf8');
          req.on('data', (c: string) => (data += c));
          req.on('end', () => resolve(data));
          req.on('error', reject);
          req.end();
        });
        const h = (JSON.parse(body) as EchoBody).headers['x-forwarded-proto'];
        assert.equal(h, 'https');
      } finally {
        session.close();
      }
    });
  });
});

describe('HTTP/2 × TLS configuration errors', () => {
  let pki: TestPki;
  before(() => {
    pki = createTestPki();
  });
  after(() => pki?.remove());

  async function rejects(config: object): Promise<string> {
    try {
      const px = await startProxy(config);
      await px.stop();
    } catch (e) {
      assert.ok(e instanceof ConfigError, String(e));
      return e.message;
    }
    assert.fail('the configuration was accepted');
  }

  test('auto_config on a cluster without a TLS transport_socket is rejected by path', async () => {
    const msg = await rejects(bootstrap([], [staticCluster('plain_auto', [1], AUTO_CONFIG)]));
    assert.match(msg, /static_resources\.clusters\[0\]\.typed_extension_protocol_options\["envoy\.extensions\.upstreams\.http\.v3\.HttpProtocolOptions"\]\.auto_config/);
    assert.match(msg, /ALPN/);
    const raw = await rejects(
      bootstrap([], [staticCluster('raw_auto', [1], { ...AUTO_CONFIG, transport_socket: { name: 'envoy.transport_sockets.raw_buffer', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' } } })]),
    );
    assert.match(raw, /auto_config/);
  });

  test('auto_config with a TLS transport_socket is accepted', async () => {
    const px = await startProxy(bootstrap([], [staticCluster('tls_auto', [1], { ...AUTO_CONFIG, transport_socket: upstreamTlsSocket({}) })]));
    await px.stop();
  });
});
