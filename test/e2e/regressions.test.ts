import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { address, bootstrap, HCM_TYPE, ROUTER, simpleHttpBootstrap, simpleRoutes, startProxy, staticCluster, waitFor } from '../helpers/proxy';
import { startEchoUpstream } from '../helpers/upstream';

/** Regressions found in review, each reproduced against real sockets before the fix. */

/** A raw upstream: the first request gets its response followed by a stray second one in the same write. */
async function strayBytesUpstream(): Promise<{ port: number; seen: string[]; close(): void }> {
  const seen: string[] = [];
  const server = net.createServer((s) => {
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n\r\n'); i !== -1; i = buf.indexOf('\r\n\r\n')) {
        const path = buf.slice(0, i).split(' ')[1];
        buf = buf.slice(i + 4);
        seen.push(path);
        if (seen.length === 1) s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nA1HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nSTALE!');
        else {
          const body = 'real for ' + path;
          setTimeout(() => s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`), 30);
        }
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, seen, close: () => server.close() };
}

describe('regressions', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  test('bytes after a complete upstream response never reach the next request: the connection is dropped', async () => {
    const up = await strayBytesUpstream();
    cleanups.push(() => up.close());
    const px = await startProxy(simpleHttpBootstrap(up.port, { cluster: { circuit_breakers: { thresholds: [{ max_connections: 1 }] } } }));
    cleanups.push(() => px.stop());
    const get = async (path: string): Promise<string> => {
      const r = await fetch(`http://127.0.0.1:${px.port}${path}`);
      return `${r.status} ${await r.text()}`;
    };
    const [a, b] = await Promise.all([get('/user-a'), get('/user-b')]);
    assert.equal(a, '200 A1');
    assert.equal(b, '200 real for /user-b');
    const cluster = Object.keys(await px.stats()).find((k) => k.endsWith('.upstream_cx_protocol_error'))!;
    assert.equal(await px.stat(cluster), 1);
  });

  test('a client resetting a connection held by connection_limit delay does not take the proxy down', async () => {
    const up = await startEchoUpstream();
    cleanups.push(() => up.stop());
    const px = await startProxy(
      bootstrap(
        [
          {
            name: 'limited',
            address: address(0),
            filter_chains: [
              {
                filters: [
                  {
                    name: 'limit',
                    typed_config: {
                      '@type': 'type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit',
                      stat_prefix: 'limited',
                      max_connections: 1,
                      delay: '0.5s',
                    },
                  },
                  {
                    name: 'hcm',
                    typed_config: {
                      '@type': HCM_TYPE,
                      stat_prefix: 'limited',
                      route_config: simpleRoutes([{ match: { prefix: '/' }, route: { cluster: 'c' } }]),
                      http_filters: [ROUTER],
                    },
                  },
                ],
              },
            ],
          },
        ],
        [staticCluster('c', [up.port])],
      ),
    );
    cleanups.push(() => px.stop());
    const first = net.connect(px.port, '127.0.0.1');
    await new Promise((r) => first.once('connect', r));
    await waitFor(async () => (await px.stat('connection_limit.limited.active_connections')) === 1, 5000, 'first counted');
    const second = net.connect(px.port, '127.0.0.1');
    second.on('error', () => undefined);
    await new Promise((r) => second.once('connect', r));
    await waitFor(async () => (await px.stat('connection_limit.limited.limited_connections')) === 1, 5000, 'second limited');
    second.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 700));
    first.destroy();
    await waitFor(async () => (await px.stat('connection_limit.limited.active_connections')) === 0, 5000, 'released');
    const r = await fetch(`http://127.0.0.1:${px.port}/alive`);
    assert.equal(r.status, 200);
    await r.arrayBuffer();
  });

  test('a body that outgrows the retry buffer during back-off gets 507, never a retry with a missing body', async () => {
    let attempts = 0;
    const server = net.createServer((s) => {
      attempts++;
      s.on('error', () => undefined);
      // Answer 503 as soon as the head arrives, before the body: the router schedules a retry.
      s.once('data', () => s.end('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => {
      server.close();
    });
    const port = (server.address() as net.AddressInfo).port;
    const cfg = simpleHttpBootstrap(port, {
      route: { retry_policy: { retry_on: '5xx', num_retries: 1, retry_back_off: { base_interval: '60s', max_interval: '60s' } } },
    }) as { static_resources: { listeners: Array<Record<string, unknown>> } };
    cfg.static_resources.listeners[0].per_connection_buffer_limit_bytes = 1000;
    const px = await startProxy(cfg);
    cleanups.push(() => px.stop());
    const sock = net.connect(px.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    let reply = '';
    sock.on('data', (d) => (reply += d.toString('latin1')));
    sock.write('POST /upload HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n');
    await waitFor(() => attempts >= 1, 5000, 'first attempt');
    await new Promise((r) => setTimeout(r, 100));
    for (const part of ['A', 'B']) sock.write(`258\r\n${part.repeat(600)}\r\n`);
    sock.write('0\r\n\r\n');
    await waitFor(() => reply.includes('\r\n\r\n'), 5000, 'a reply');
    sock.destroy();
    assert.match(reply, /^HTTP\/1\.1 507 /);
    assert.equal(attempts, 1, 'no retry went out with a truncated body');
  });
});
