import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as http2 from 'node:http2';
import { EchoClient, H2_CLUSTER_OPTIONS, startGrpcEcho, unary, type EchoClientApi, type EchoServer } from '../helpers/grpc';
import { bootstrap, httpListener, simpleRoutes, startProxy, staticCluster, waitFor, type RunningProxy } from '../helpers/proxy';

describe('gRPC through the proxy (grpc-js client → Weft → grpc-js server)', () => {
  let server: EchoServer;
  let px: RunningProxy;
  let client: EchoClientApi;

  before(async () => {
    server = await startGrpcEcho();
    px = await startProxy(
      bootstrap(
        [
          httpListener(
            'grpc',
            simpleRoutes([
              { match: { prefix: '/weft.test.Echo/' }, route: { cluster: 'echo', timeout: '0s' } },
              { match: { prefix: '/weft.test.Down/' }, route: { cluster: 'down' } },
              {
                match: { prefix: '/weft.test.Timed/' },
                route: { cluster: 'echo', prefix_rewrite: '/weft.test.Echo/', max_stream_duration: { grpc_timeout_header_max: '0.3s' } },
              },
            ]),
          ),
        ],
        [staticCluster('echo', [server.port], H2_CLUSTER_OPTIONS), staticCluster('down', [1], H2_CLUSTER_OPTIONS)],
      ),
    );
    client = new EchoClient(`127.0.0.1:${px.port}`, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 8 * 1024 * 1024,
      'grpc.max_send_message_length': 8 * 1024 * 1024,
    });
  });
  after(async () => {
    client?.close();
    await px?.stop();
    await server?.stop();
  });

  test('unary: message, response metadata and trailers pass through', async () => {
    const md = new grpc.Metadata();
    md.set('x-echo', 'hello');
    const r = await unary(client, Buffer.from('ping'), md);
    assert.equal(r.res.toString(), 'ping');
    assert.equal(r.status.code, grpc.status.OK);
    assert.deepEqual(r.headers.get('x-echo'), ['hello']);
    assert.deepEqual(r.status.metadata.get('x-trailer'), ['ok']);
    assert.ok((await px.stat('cluster.echo.upstream_cx_http2_total')) >= 1);
    assert.ok((await px.stat('http.grpc.downstream_rq_http2_total')) >= 1);
  });

  test('a status error from the server passes through with its message and trailers', async () => {
    const md = new grpc.Metadata();
    md.set('x-fail', String(grpc.status.FAILED_PRECONDITION));
    await assert.rejects(unary(client, Buffer.from('x'), md), (e: grpc.ServiceError & { status: grpc.StatusObject }) => {
      assert.equal(e.code, grpc.status.FAILED_PRECONDITION);
      assert.equal(e.details, 'failed on purpose');
      assert.deepEqual(e.metadata.get('x-trailer'), ['failed']);
      return true;
    });
  });

  test('4 MB messages both ways', async () => {
    const big = Buffer.alloc(4 * 1024 * 1024, 7);
    big.write('head');
    const r = await unary(client, big);
    assert.equal(r.res.length, big.length);
    assert.ok(r.res.equals(big));
  });

  test('server streaming keeps order and trailers', async () => {
    const md = new grpc.Metadata();
    md.set('x-count', '20');
    const call = client.serverStream(Buffer.from('s'), md);
    const got: string[] = [];
    call.on('data', (b: Buffer) => got.push(b.toString()));
    const status = await new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    assert.equal(status.code, grpc.status.OK);
    assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => `s-${i}`));
    assert.deepEqual(status.metadata.get('x-trailer'), ['ok']);
  });

  test('client streaming', async () => {
    let res: Buffer | undefined;
    const done = new Promise<grpc.StatusObject>((resolve, reject) => {
      const call = client.clientStream(new grpc.Metadata(), {}, (err, r) => {
        if (err) reject(err);
        res = r;
      });
      call.on('status', resolve);
      for (let i = 0; i < 10; i++) call.write(Buffer.from(String(i)));
      call.end();
    });
    const status = await done;
    assert.equal(res?.toString(), '0123456789');
    assert.deepEqual(status.metadata.get('x-count'), ['10']);
  });

  test('bidirectional streaming: each message answered before the next is sent', async () => {
    const call = client.bidi(new grpc.Metadata());
    const replies: string[] = [];
    for (let i = 0; i < 5; i++) {
      const reply = new Promise<string>((resolve) => call.once('data', (b: Buffer) => resolve(b.toString())));
      call.write(Buffer.from(`m${i}`));
      replies.push(await reply);
    }
    call.end();
    const status = await new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    assert.deepEqual(replies, ['echo:m0', 'echo:m1', 'echo:m2', 'echo:m3', 'echo:m4']);
    assert.equal(status.code, grpc.status.OK);
  });

  test('a client deadline cancels the upstream call', async () => {
    const before = server.cancelled;
    const md = new grpc.Metadata();
    md.set('x-delay-ms', '10000');
    await assert.rejects(unary(client, Buffer.from('slow'), md, { deadline: Date.now() + 300 }), (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.DEADLINE_EXCEEDED);
      return true;
    });
    await waitFor(() => server.cancelled > before, 5000, 'server sees the cancellation');
    await waitFor(async () => (await px.stat('http2.rx_reset')) >= 1, 5000, 'http2.rx_reset');
  });

  test('client cancellation of a server stream propagates upstream', async () => {
    const before = server.cancelled;
    const md = new grpc.Metadata();
    md.set('x-count', '1000');
    md.set('x-delay-ms', '20');
    const call = client.serverStream(Buffer.from('c'), md);
    call.on('error', () => undefined); // the CANCELLED status also comes as an error event
    await new Promise<void>((resolve) => call.once('data', () => resolve()));
    call.cancel();
    const status = await new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    assert.equal(status.code, grpc.status.CANCELLED);
    await waitFor(() => server.cancelled > before, 5000, 'server sees the cancellation');
  });

  test('no route: trailers-only UNIMPLEMENTED (12)', async () => {
    const Other = grpc.makeGenericClientConstructor(
      { m: { path: '/other.Svc/M', requestStream: false, responseStream: false, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b } },
      'Other',
    );
    const c = new Other(`127.0.0.1:${px.port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      m(req: Buffer, cb: (e: grpc.ServiceError | null) => void): void;
    };
    const err = await new Promise<grpc.ServiceError | null>((resolve) => c.m(Buffer.from('x'), resolve));
    c.close();
    assert.equal(err?.code, grpc.status.UNIMPLEMENTED);
  });

  test('no upstream (connection refused): trailers-only UNAVAILABLE (14) with Envoy\'s message', async () => {
    const Down = grpc.makeGenericClientConstructor(
      { m: { path: '/weft.test.Down/M', requestStream: false, responseStream: false, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b } },
      'Down',
    );
    const c = new Down(`127.0.0.1:${px.port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      m(req: Buffer, cb: (e: grpc.ServiceError | null) => void): void;
    };
    const err = await new Promise<grpc.ServiceError | null>((resolve) => c.m(Buffer.from('x'), resolve));
    c.close();
    assert.equal(err?.code, grpc.status.UNAVAILABLE);
    assert.match(err?.details ?? '', /upstream connect error or disconnect\/reset before headers/);
  });

  test('many concurrent calls share one upstream HTTP/2 connection', async () => {
    const before = await px.stat('cluster.echo.upstream_cx_total');
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => unary(client, Buffer.from(`c${i}`))));
    results.forEach((r, i) => assert.equal(r.res.toString(), `c${i}`));
    assert.equal(await px.stat('cluster.echo.upstream_cx_total'), before);
    assert.ok(before >= 1);
  });

  test('grpc-timeout is honoured (capped by grpc_timeout_header_max): trailers-only DEADLINE_EXCEEDED, upstream cancelled', async () => {
    const before = server.cancelled;
    const session = http2.connect(`http://127.0.0.1:${px.port}`);
    const msg = Buffer.from('slow');
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
    const req = session.request({
      ':method': 'POST',
      ':path': '/weft.test.Timed/Unary',
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': '100S',
      'x-delay-ms': '10000',
    });
    req.end(frame);
    const headers = await new Promise<http2.IncomingHttpHeaders>((r) => req.once('response', r));
    req.resume();
    await new Promise<void>((r) => req.on('close', () => r()));
    session.close();
    assert.equal(headers[':status'], 200);
    assert.equal(headers['content-type'], 'application/grpc');
    assert.equal(headers['grpc-status'], String(grpc.status.DEADLINE_EXCEEDED));
    assert.equal(headers['grpc-message'], 'downstream duration timeout');
    assert.ok((await px.stat('http.grpc.downstream_rq_max_duration_reached')) >= 1);
    await waitFor(() => server.cancelled > before, 5000, 'the upstream call is cancelled');
  });
});
