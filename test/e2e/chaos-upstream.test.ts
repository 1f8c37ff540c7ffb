import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { Pool } from 'undici';
import { bootstrap, fileAccessLog, httpListener, readLines, sleep, startProxy, staticCluster, tempDir, waitFor, within, type RunningProxy } from '../helpers/proxy';
import { getRequest, rawExchange } from '../helpers/raw';
import { closedPort, startTcpServer, type TcpServer } from '../helpers/upstream';
import { answer, echo, keyedScript, LOG, logFields, logFor, send, startScriptedUpstream, waitQuiescent, type ScriptedUpstream } from '../helpers/scripted';

/**
 * Chaos against real peers: an upstream process killed mid-request, upstreams that hang, reset
 * mid-response, answer slowly, half-close; a flapping endpoint under load with retries and outlier
 * detection; every endpoint failing. After each: nothing in flight, pooled connections match the
 * sockets the upstreams still see, and at the end the proxy stops promptly leaving no handles.
 */

/** A node:http upstream in its own process (it prints its port); never answers /hang. */
function startChildUpstream(): Promise<{ child: ChildProcess; port: number }> {
  const code = `
    const http = require('node:http');
    const s = http.createServer((req, res) => {
      if (req.url.includes('/hang')) return;
      res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': 'child' });
      res.end('child ' + process.pid);
    });
    s.listen(0, '127.0.0.1', () => process.stdout.write(s.address().port + '\\n'));`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^(\d+)\n/.exec(out);
      if (m) resolve({ child, port: Number(m[1]) });
    });
    child.once('exit', (c) => reject(new Error(`child upstream exited with ${c}`)));
  });
}

/** Chaos behaviours by x-chaos header; otherwise keyedScript's. */
function chaosScript(name: string): Parameters<typeof startScriptedUpstream>[1] {
  const keyed = keyedScript(name);
  return (req, res, raw) => {
    switch (req.headers['x-chaos']) {
      case 'reset-mid':
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100000' });
        res.write('x'.repeat(2000), () => setTimeout(() => raw.socket.destroy(), 30));
        return;
      case 'trickle': {
        res.writeHead(200, { 'content-type': 'text/plain' });
        let i = 0;
        const next = (): void => {
          if (res.destroyed) return;
          if (i === 10) return void res.end();
          res.write(`part-${i++};`);
          setTimeout(next, Number(req.headers['x-trickle-ms'] ?? 40));
        };
        next();
        return;
      }
      default:
        keyed(req, res, raw);
    }
  };
}

describe('chaos', () => {
  const handlesBefore = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;
  let child: ChildProcess | null = null;
  let childPort = 0;
  let chaos: ScriptedUpstream;
  let stable: ScriptedUpstream;
  let flappy: ScriptedUpstream;
  let bad: ScriptedUpstream;
  let half: TcpServer;
  let px: RunningProxy;
  let url: string;
  const tmp = tempDir('weft-chaos-');
  const log = tmp.file('access.log');

  before(async () => {
    ({ child, port: childPort } = await startChildUpstream());
    chaos = await startScriptedUpstream('chaos', chaosScript('chaos'));
    stable = await startScriptedUpstream('stable', (req, res, raw) => {
      const t = setTimeout(() => echo('stable')(req, res, raw), 15);
      res.on('close', () => clearTimeout(t));
    });
    // Answers after a short pause, so that being killed catches requests in flight.
    flappy = await startScriptedUpstream('flappy', (req, res, raw) => {
      const t = setTimeout(() => echo('flappy')(req, res, raw), 15);
      res.on('close', () => clearTimeout(t));
    });
    bad = await startScriptedUpstream('bad', (req, res) => answer(res, 503, 'bad'));
    // Raw upstream: answers with a close-delimited body and half-closes (FIN), or FINs with no answer.
    half = await startTcpServer((s) => {
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        if (!buf.includes('\r\n\r\n')) return;
        if (buf.startsWith('GET /half/fin-only')) s.end();
        else s.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nbody delimited by close');
      });
    });
    const dead = await closedPort();
    const PREVIOUS_HOSTS = [{ name: 'envoy.retry_host_predicates.previous_hosts' }];
    const routes = [
      { match: { prefix: '/die' }, route: { cluster: 'cdie' } },
      { match: { prefix: '/hang' }, route: { cluster: 'cchaos', timeout: '0.5s' } },
      { match: { prefix: '/chaos' }, route: { cluster: 'cchaos', timeout: '5s' } },
      { match: { prefix: '/half' }, route: { cluster: 'chalf' } },
      {
        match: { prefix: '/flap' },
        route: {
          cluster: 'cflap',
          timeout: '5s',
          retry_policy: {
            retry_on: 'connect-failure,reset,5xx',
            num_retries: 3,
            retry_host_predicate: PREVIOUS_HOSTS,
            host_selection_retry_max_attempts: 5,
            retry_back_off: { base_interval: '0.005s', max_interval: '0.02s' },
          },
        },
      },
      {
        match: { prefix: '/allfail' },
        route: { cluster: 'callfail', retry_policy: { retry_on: 'connect-failure,reset,5xx', num_retries: 2 } },
      },
    ];
    px = await startProxy(
      bootstrap(
        [httpListener('chaos', { name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes }] }, { access_log: [fileAccessLog(log, LOG)] })],
        [
          staticCluster('cdie', [childPort]),
          staticCluster('cchaos', [chaos.port]),
          staticCluster('chalf', [half.port]),
          staticCluster('cflap', [stable.port, flappy.port], {
            circuit_breakers: { thresholds: [{ max_retries: 1000 }] },
            outlier_detection: { consecutive_5xx: 3, interval: '0.1s', base_ejection_time: '0.1s', max_ejection_time: '0.3s', max_ejection_percent: 50 },
          }),
          staticCluster('callfail', [bad.port, dead], { circuit_breakers: { thresholds: [{ max_retries: 1000 }] } }),
        ],
      ),
    );
    url = `http://127.0.0.1:${px.port}`;
  });
  after(async () => {
    await px?.stop();
    child?.kill('SIGKILL');
    await chaos?.stop();
    await stable?.stop();
    await flappy?.stop();
    await bad?.stop();
    await half?.stop();
    tmp.remove();
  });

  /** Nothing in flight, and the proxy's open upstream connections are exactly those the upstream still has. */
  async function settled(cluster: string, upstreamOpen?: () => number): Promise<void> {
    await waitQuiescent(px, 'chaos', [cluster]);
    if (upstreamOpen !== undefined) {
      let last = '';
      await waitFor(
        async () => {
          const active = await px.stat(`cluster.${cluster}.upstream_cx_active`);
          last = `proxy ${active}, upstream ${upstreamOpen()}`;
          return active === upstreamOpen();
        },
        5000,
        `pooled connections of ${cluster} match the upstream's (${last})`,
      );
    }
  }

  test('upstream process killed mid-request: 503 UC, the next request fails fast (UF), nothing leaks', async () => {
    assert.equal((await send(`${url}/die/ok`)).status, 200);
    const pending = send(`${url}/die/hang`, { timeoutMs: 10_000 });
    await waitFor(async () => (await px.stat('cluster.cdie.upstream_rq_active')) === 1, 5000, 'request in flight');
    await sleep(50);
    child!.kill('SIGKILL');
    const r = await pending;
    assert.equal(r.status, 503);
    assert.match(r.body, /reset reason: connection termination/);
    assert.equal((await logFor(log, 'GET', '/die/hang')).flags, 'UC');
    const r2 = await send(`${url}/die/after`);
    assert.equal(r2.status, 503);
    assert.equal((await logFor(log, 'GET', '/die/after')).flags, 'UF');
    await settled('cdie', () => 0);
  });

  test('upstream server destroyed with its sockets mid-request, then back: 503 UC, then 200', async () => {
    const pending = send(`${url}/chaos/killed`, { headers: { 'x-fail-first': '1', 'x-fail-mode': 'hang' } });
    await waitFor(() => chaos.count('/chaos/killed') === 1, 5000, 'request arrived');
    await chaos.kill();
    const r = await pending;
    assert.equal(r.status, 503);
    assert.equal((await logFor(log, 'GET', '/chaos/killed')).flags, 'UC');
    await chaos.restart();
    assert.equal((await send(`${url}/chaos/revived`)).status, 200);
    await settled('cchaos', () => chaos.open());
  });

  test('upstream hangs: route timeout 504 UT, the upstream connection is closed', async () => {
    const r = await send(`${url}/hang/x`, { headers: { 'x-fail-first': '1', 'x-fail-mode': 'hang' } });
    assert.equal(r.status, 504);
    assert.equal((await logFor(log, 'GET', '/hang/x')).flags, 'UT');
    await waitFor(() => chaos.requests.find((q) => q.url === '/hang/x')!.aborted, 5000, 'upstream saw the cancel');
    await settled('cchaos', () => chaos.open());
  });

  test('upstream resets mid-response: the client connection is cut (UC), nothing leaks', async () => {
    const r = await rawExchange(px.port, getRequest('/chaos/reset-mid', 'x-chaos: reset-mid\r\n'), { timeoutMs: 5000 });
    assert.ok(r.closed, 'downstream closed');
    assert.match(r.text, /^HTTP\/1\.1 200 /);
    assert.ok(r.data.length < 100_000);
    const f = await logFor(log, 'GET', '/chaos/reset-mid');
    assert.equal(f.flags, 'UC');
    await settled('cchaos', () => chaos.open());
  });

  test('upstream answers slowly (delay, trickled body): complete and intact', async () => {
    const r = await send(`${url}/chaos/slow`, { headers: { 'x-fail-first': '1', 'x-fail-mode': 'slow', 'x-fail-delay': '600' } });
    assert.equal(r.status, 200);
    const t = await send(`${url}/chaos/trickle`, { headers: { 'x-chaos': 'trickle' } });
    assert.equal(t.status, 200);
    assert.equal(t.body, Array.from({ length: 10 }, (_, i) => `part-${i};`).join(''));
    await settled('cchaos', () => chaos.open());
  });

  test('route timeout while the body is still trickling: the response is cut (UT), nothing leaks', async () => {
    const r = await rawExchange(px.port, getRequest('/hang/trickle', 'x-chaos: trickle\r\nx-trickle-ms: 300\r\n'), { timeoutMs: 8000 });
    assert.ok(r.closed, 'downstream closed');
    assert.match(r.text, /^HTTP\/1\.1 200 /);
    assert.ok(!r.text.includes('part-9;'), 'the body was cut short');
    const f = await logFor(log, 'GET', '/hang/trickle');
    assert.ok(f.flags.split(',').includes('UT'), f.flags);
    await settled('cchaos', () => chaos.open());
  });

  test('upstream half-closes: a close-delimited body arrives whole; FIN before any answer is 503 UC', async () => {
    const r = await send(`${url}/half/body`);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'body delimited by close');
    const r2 = await send(`${url}/half/fin-only`);
    assert.equal(r2.status, 503);
    assert.equal((await logFor(log, 'GET', '/half/fin-only')).flags, 'UC');
    await settled('chalf', () => half.open());
  });

  test('flapping endpoint under load (300 requests, retries + outlier detection): every request answered, none lost', async () => {
    let flapping = true;
    const flapper = (async () => {
      while (flapping) {
        await flappy.kill();
        await sleep(60);
        if (!flapping) break;
        await flappy.restart();
        await sleep(90);
      }
      await flappy.restart();
    })();
    const pool = new Pool(url, { connections: 6, headersTimeout: 15_000, bodyTimeout: 15_000 });
    const statuses: number[] = [];
    const errors: string[] = [];
    try {
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < 300) {
          const i = next++;
          try {
            const r = await pool.request({ path: `/flap/${i}`, method: 'GET' });
            await r.body.dump();
            statuses.push(r.statusCode);
          } catch (e) {
            errors.push(`${i}: ${(e as Error).message}`);
          }
        }
      };
      await Promise.all(Array.from({ length: 6 }, worker));
    } finally {
      flapping = false;
      await flapper;
      await pool.close();
    }
    assert.deepEqual(errors, [], 'every request got an answer');
    assert.equal(statuses.length, 300);
    const ok = statuses.filter((s) => s === 200).length;
    const other = statuses.filter((s) => s !== 200);
    assert.ok(other.every((s) => s === 503), `only 200 or 503: ${other.join(',')}`);
    // The stable host is always there and retries avoid the host that failed: (nearly) all succeed.
    assert.ok(ok >= 297, `200s: ${ok} of 300`);
    await waitFor(() => readLines(log).filter((l) => l.startsWith('GET /flap/')).length === 300, 5000, '300 log lines');
    const flags = readLines(log)
      .filter((l) => l.startsWith('GET /flap/'))
      .map((l) => logFields(l))
      .filter((f) => f.code !== '200')
      .map((f) => f.flags);
    assert.equal(flags.length, 300 - ok);
    const s = await px.stats();
    assert.ok(s['cluster.cflap.upstream_rq_retry'] >= 1, 'retries happened');
    // Whether the flapping host ever got traffic depends on timing (it may be down or ejected each
    // time it is picked), so only the stable host's share is asserted.
    assert.ok(stable.count('/flap/') >= 1, 'the stable endpoint took traffic');
    await settled('cflap');
    // Once flapping stopped, the pool's connections are real ones.
    await waitFor(async () => (await px.stat('cluster.cflap.upstream_cx_active')) === stable.open() + flappy.open(), 5000, 'pool matches upstream sockets');
  });

  test('all endpoints failing: 503s with URX, the proxy keeps serving other routes', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await send(`${url}/allfail/${i}`);
      assert.equal(r.status, 503);
    }
    const f = await logFor(log, 'GET', '/allfail/4');
    assert.ok(f.flags.split(',').includes('URX'), f.flags);
    assert.equal(f.attempts, '3');
    const s = await px.stats();
    assert.equal(s['cluster.callfail.upstream_rq_retry_limit_exceeded'], 5);
    assert.equal((await send(`${url}/chaos/still-alive`)).status, 200);
    assert.equal((await px.admin('/ready')).status, 200);
    await settled('callfail', () => bad.open());
  });

  test('stop() completes promptly and leaves no handles behind', async () => {
    await waitQuiescent(px, 'chaos', ['cdie', 'cchaos', 'chalf', 'cflap', 'callfail']);
    const stopped = await within(
      px.stop().then(() => true),
      5000,
      false,
    );
    assert.ok(stopped, 'stop() finished within 5 s');
    child?.kill('SIGKILL');
    await chaos.stop();
    await stable.stop();
    await flappy.stop();
    await bad.stop();
    await half.stop();
    const handles = (): number => (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;
    const requests = (): number => (process as unknown as { _getActiveRequests(): unknown[] })._getActiveRequests().length;
    let last = 0;
    await waitFor(
      () => {
        last = handles();
        return last <= handlesBefore + 2 && requests() === 0;
      },
      5000,
      'handles back to baseline',
    ).catch((e) => {
      const kinds = (process as unknown as { _getActiveHandles(): object[] })._getActiveHandles().map((h) => h.constructor.name);
      throw new Error(`${(e as Error).message}: ${last} handles (baseline ${handlesBefore}): ${kinds.join(', ')}`);
    });
  });
});
