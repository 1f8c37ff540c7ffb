import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { bootstrap, fileAccessLog, startProxy, staticCluster, tcpListener, tempDir, waitFor, waitForLogLine, type RunningProxy } from '../helpers/proxy';
import { rawExchange } from '../helpers/raw';
import { closedPort, sha256, startTcpEcho, type TcpServer } from '../helpers/upstream';

const TCP_LOG = '%RESPONSE_FLAGS% %UPSTREAM_CLUSTER% %BYTES_RECEIVED% %BYTES_SENT%\n';

describe('tcp_proxy', () => {
  let echo: TcpServer;
  let px: RunningProxy;
  const tmp = tempDir();
  const log = tmp.file('tcp.log');

  before(async () => {
    echo = await startTcpEcho();
    const dead = await closedPort();
    px = await startProxy(
      bootstrap(
        [
          tcpListener('tcp_echo', { stat_prefix: 'tcp_echo', cluster: 'echo', access_log: [fileAccessLog(log, TCP_LOG)] }),
          tcpListener('tcp_dead', { stat_prefix: 'tcp_dead', cluster: 'dead', access_log: [fileAccessLog(log, TCP_LOG)] }),
          tcpListener('tcp_idle', { stat_prefix: 'tcp_idle', cluster: 'echo', idle_timeout: '0.3s' }),
        ],
        [staticCluster('echo', [echo.port]), staticCluster('dead', [dead])],
      ),
    );
  });
  after(async () => {
    await px?.stop();
    await echo?.stop();
    tmp.remove();
  });

  test('bytes echo through (1 MB, and 10 concurrent connections); half-close propagates', async () => {
    const payload = randomBytes(1024 * 1024);
    const r = await rawExchange(px.ports.tcp_echo, payload, { end: true, timeoutMs: 10_000 });
    assert.ok(r.closed, 'the echo server ended after our FIN, and so did the proxy');
    assert.equal(r.data.length, payload.length);
    assert.equal(sha256(r.data), sha256(payload));
    const many = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const msg = `hello-${i}-`.repeat(100);
        const x = await rawExchange(px.ports.tcp_echo, msg, { until: (d) => d.length >= msg.length, timeoutMs: 5000 });
        return x.text === msg;
      }),
    );
    assert.ok(many.every(Boolean));
    const line = await waitForLogLine(log, (l) => l.startsWith('- echo 1048576 1048576'));
    assert.ok(line);
    assert.ok((await px.stat('tcp.tcp_echo.downstream_cx_total')) >= 11);
    assert.ok((await px.stat('cluster.echo.upstream_cx_total')) >= 11);
  });

  test('upstream down: the connection is closed and the access log says UF', async () => {
    const r = await rawExchange(px.ports.tcp_dead, 'anyone there?', { timeoutMs: 5000 });
    assert.ok(r.closed, 'closed by the proxy');
    assert.equal(r.data.length, 0);
    await waitForLogLine(log, (l) => l.startsWith('UF dead '));
    assert.ok((await px.stat('cluster.dead.upstream_cx_connect_fail')) >= 1);
  });

  test('idle_timeout closes an idle connection (both sides)', async () => {
    const before = echo.closedCount();
    const sock = net.connect({ host: '127.0.0.1', port: px.ports.tcp_idle });
    sock.on('error', () => undefined);
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write('ping');
    const got = await new Promise<string>((r) => sock.once('data', (d) => r(d.toString())));
    assert.equal(got, 'ping');
    const timer = setTimeout(() => sock.destroy(new Error('idle timeout did not fire')), 10_000);
    await closed;
    clearTimeout(timer);
    assert.equal(await px.stat('tcp.tcp_idle.idle_timeout'), 1);
    await waitFor(() => echo.closedCount() > before, 5000, 'upstream side closed');
  });
});
