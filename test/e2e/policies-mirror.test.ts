import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { curl } from '../helpers/curl';
import { bootstrap, fileAccessLog, httpListener, startProxy, staticCluster, tempDir, waitFor, type RunningProxy } from '../helpers/proxy';
import { closedPort } from '../helpers/upstream';
import { echo, LOG, logFor, send, startScriptedUpstream, waitQuiescent, type ScriptedUpstream } from '../helpers/scripted';

/** request_mirror_policies: shadow copies to another cluster, fire and forget. */

describe('request mirroring', () => {
  let main: ScriptedUpstream;
  let shadow: ScriptedUpstream;
  let slow: ScriptedUpstream;
  let px: RunningProxy;
  let url: string;
  const tmp = tempDir('weft-mirror-');
  const log = tmp.file('access.log');

  before(async () => {
    main = await startScriptedUpstream('main', echo('main'));
    shadow = await startScriptedUpstream('shadow', echo('shadow'));
    // Never answers: the shadow's route timeout has to end it.
    slow = await startScriptedUpstream('slow', () => undefined);
    const dead = await closedPort();
    const mirror = (prefix: string, policies: object[], extra: object = {}): object => ({
      match: { prefix },
      route: { cluster: 'main', request_mirror_policies: policies, ...extra },
    });
    const routes = [
      mirror('/m/', [{ cluster: 'shadow' }]),
      mirror('/dead/', [{ cluster: 'shadowdead' }]),
      mirror('/slow/', [{ cluster: 'shadowslow' }], { timeout: '0.5s' }),
      mirror('/never/', [{ cluster: 'shadow', runtime_fraction: { default_value: { numerator: 0, denominator: 'HUNDRED' } } }]),
      mirror('/always/', [{ cluster: 'shadow', runtime_fraction: { default_value: { numerator: 100, denominator: 'HUNDRED' } } }]),
      mirror('/nosuffix/', [{ cluster: 'shadow', disable_shadow_host_suffix_append: true }]),
      { match: { prefix: '/' }, route: { cluster: 'main' } },
    ];
    px = await startProxy(
      bootstrap(
        [httpListener('mirror', { name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes }] }, { access_log: [fileAccessLog(log, LOG)] })],
        [staticCluster('main', [main.port]), staticCluster('shadow', [shadow.port]), staticCluster('shadowdead', [dead]), staticCluster('shadowslow', [slow.port])],
      ),
    );
    url = `http://127.0.0.1:${px.port}`;
  });
  after(async () => {
    await px?.stop();
    await main?.stop();
    await shadow?.stop();
    await slow?.stop();
    tmp.remove();
  });

  test('GET: the shadow gets the request with "<host>-shadow"; the response is the main cluster\'s', async () => {
    const r = await send(`${url}/m/get?q=1`, { headers: { host: 'svc.example.com:8080', 'x-custom': 'v' } });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).upstream, 'main');
    await waitFor(() => shadow.count('/m/get') === 1, 5000, 'shadow got the copy');
    const q = shadow.requests.find((x) => x.url === '/m/get?q=1')!;
    assert.equal(q.headers.host, 'svc.example.com-shadow:8080');
    assert.equal(q.headers['x-custom'], 'v');
    assert.equal(q.method, 'GET');
    assert.equal(main.requests.find((x) => x.url === '/m/get?q=1')!.headers.host, 'svc.example.com:8080');
  });

  test('POST: the shadow gets the same body (content-length and chunked)', async () => {
    const body = 'mirrored-' + 'p'.repeat(30_000);
    const r = await send(`${url}/m/post`, { method: 'POST', body, headers: { host: 'api.local' } });
    assert.equal(r.status, 200);
    await waitFor(() => shadow.count('/m/post') === 1, 5000, 'shadow got the POST');
    const q = shadow.requests.find((x) => x.url === '/m/post')!;
    assert.equal(q.body.toString(), body);
    assert.equal(q.headers.host, 'api.local-shadow');
    assert.equal(main.requests.find((x) => x.url === '/m/post')!.body.toString(), body);

    const f = tmp.file('chunked');
    fs.writeFileSync(f, Buffer.alloc(120_000, 'c'));
    const c = await curl(`${url}/m/chunked`, ['-H', 'Transfer-Encoding: chunked', '--data-binary', `@${f}`]);
    assert.equal(c.status, 200, c.stderr);
    await waitFor(() => shadow.count('/m/chunked') === 1, 5000, 'shadow got the chunked POST');
    assert.equal(shadow.requests.find((x) => x.url === '/m/chunked')!.body.length, 120_000);
  });

  test('disable_shadow_host_suffix_append keeps the host as it is', async () => {
    await send(`${url}/nosuffix/a`, { headers: { host: 'plain.example' } });
    await waitFor(() => shadow.count('/nosuffix/a') === 1, 5000, 'shadow got it');
    assert.equal(shadow.requests.find((x) => x.url === '/nosuffix/a')!.headers.host, 'plain.example');
  });

  test('a dead shadow cluster does not affect the main response; the failure is counted on the shadow cluster', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await send(`${url}/dead/${i}`);
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body).upstream, 'main');
    }
    const f = await logFor(log, 'GET', '/dead/2');
    assert.equal(f.flags, '-');
    assert.equal(f.cluster, 'main');
    await waitFor(async () => (await px.stat('cluster.shadowdead.upstream_cx_connect_fail')) >= 3, 5000, 'shadow connect failures counted');
    const s = await waitQuiescent(px, 'mirror', ['main', 'shadowdead']);
    assert.equal(s['cluster.main.upstream_rq_200'], s['cluster.main.upstream_rq_total']);
    assert.equal(s['cluster.main.upstream_cx_connect_fail'] ?? 0, 0);
  });

  test('a silent shadow does not hold the main response; the route timeout ends the shadow', async () => {
    const r = await send(`${url}/slow/a`, { method: 'POST', body: 'x' });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).upstream, 'main');
    assert.equal((await logFor(log, 'POST', '/slow/a')).flags, '-');
    await waitFor(() => slow.count('/slow/a') === 1, 5000, 'the shadow request arrived');
    // The shadow was still waiting when the main response went out; it ends within its timeout.
    const s = await waitQuiescent(px, 'mirror', ['main', 'shadowslow'], 8000);
    assert.equal(s['cluster.shadowslow.upstream_rq_timeout'], 1);
    await waitFor(() => slow.requests[0].aborted, 5000, 'the silent upstream saw the shadow cancelled');
  });

  test('runtime_fraction 0%: never mirrored; 100%: always', async () => {
    for (let i = 0; i < 10; i++) assert.equal((await send(`${url}/never/${i}`)).status, 200);
    for (let i = 0; i < 3; i++) assert.equal((await send(`${url}/always/${i}`)).status, 200);
    await waitFor(() => shadow.count('/always/') === 3, 5000, 'three mirrored');
    assert.equal(shadow.count('/never/'), 0);
    assert.equal(main.count('/never/'), 10);
  });

  test('the client goes away mid-body: main and shadow upstream requests are both cancelled', async () => {
    const sock = net.connect({ host: '127.0.0.1', port: px.port });
    sock.on('error', () => undefined);
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write('POST /m/abandoned HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789');
    await waitFor(async () => (await px.stat('cluster.shadow.upstream_cx_active')) >= 1 && (await px.stat('http.mirror.downstream_rq_active')) === 1, 5000, 'in flight');
    sock.destroy();
    await waitQuiescent(px, 'mirror', ['main', 'shadow']);
    assert.equal((await logFor(log, 'POST', '/m/abandoned')).flags, 'DC');
  });
});
