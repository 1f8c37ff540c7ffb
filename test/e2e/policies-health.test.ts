import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bootstrap, httpListener, simpleRoutes, startProxy, staticCluster, tempDir, waitFor, type RunningProxy } from '../helpers/proxy';
import { answer, echo, send, startScriptedUpstream, waitQuiescent, type ScriptedUpstream } from '../helpers/scripted';
import { closedPort } from '../helpers/upstream';
import { startNginx, type Nginx } from '../helpers/nginx';
import * as fs from 'node:fs';

/** Active HTTP health checking and outlier detection, observed through traffic, /clusters and /stats. */

/** host key ("127.0.0.1:port") → health_flags, from the /clusters text of one cluster. */
async function healthFlags(px: RunningProxy, cluster: string): Promise<Record<string, string>> {
  const r = await px.admin('/clusters');
  const out: Record<string, string> = {};
  for (const line of r.body.split('\n')) {
    const parts = line.split('::');
    if (parts[0] === cluster && parts[2] === 'health_flags') out[parts[1]] = parts[3];
  }
  return out;
}

/** Sends n requests one after another (new connection each) and returns the upstream names that answered. */
async function spray(base: string, n: number, path: string): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await send(`${base}${path}/${i}`);
    out.push(r.headers['x-upstream'] ?? `status-${r.status}`);
  }
  return out;
}

describe('active health checks', () => {
  const hcStatus: Record<string, number> = { a: 200, b: 200 };
  let a: ScriptedUpstream;
  let b: ScriptedUpstream;
  let px: RunningProxy;
  let base: string;
  const key = (u: ScriptedUpstream): string => `127.0.0.1:${u.port}`;

  before(async () => {
    const script = (name: string) => (req: Parameters<ReturnType<typeof echo>>[0], res: Parameters<ReturnType<typeof echo>>[1], raw: Parameters<ReturnType<typeof echo>>[2]) => {
      if (req.url === '/healthz') return answer(res, hcStatus[name], name);
      echo(name)(req, res, raw);
    };
    a = await startScriptedUpstream('a', script('a'));
    b = await startScriptedUpstream('b', script('b'));
    px = await startProxy(
      bootstrap(
        [httpListener('hc', simpleRoutes([{ match: { prefix: '/' }, route: { cluster: 'hc' } }]))],
        [
          staticCluster('hc', [a.port, b.port], {
            health_checks: [
              {
                timeout: '1s',
                interval: '0.1s',
                no_traffic_interval: '0.1s',
                unhealthy_threshold: 1,
                healthy_threshold: 1,
                http_health_check: { path: '/healthz' },
              },
            ],
          }),
        ],
      ),
    );
    base = `http://127.0.0.1:${px.port}`;
  });
  after(async () => {
    await px?.stop();
    await a?.stop();
    await b?.stop();
  });

  test('both healthy: traffic goes to both', async () => {
    await waitFor(async () => Object.values(await healthFlags(px, 'hc')).every((f) => f === 'healthy'), 5000, 'both healthy');
    const who = await spray(base, 10, '/both');
    assert.ok(who.includes('a') && who.includes('b'), who.join(','));
    assert.ok(a.requests.some((q) => q.url === '/healthz' && q.headers['user-agent'] === 'Envoy/HC' && q.headers.host === 'hc'));
  });

  test('one upstream fails its health check: it is marked /failed_active_hc and gets no traffic', async () => {
    hcStatus.a = 503;
    await waitFor(async () => (await healthFlags(px, 'hc'))[key(a)] === '/failed_active_hc', 5000, 'a failed_active_hc');
    assert.equal((await healthFlags(px, 'hc'))[key(b)], 'healthy');
    const before = a.count('/only-b');
    const who = await spray(base, 10, '/only-b');
    assert.deepEqual([...new Set(who)], ['b']);
    assert.equal(a.count('/only-b'), before);
    const s = await px.stats();
    assert.ok(s['cluster.hc.health_check.failure'] >= 1);
    assert.equal(s['cluster.hc.health_check.healthy'], 1);
    assert.equal(s['cluster.hc.membership_healthy'] ?? 1, 1);
  });

  test('it recovers: healthy again, traffic returns to both', async () => {
    hcStatus.a = 200;
    await waitFor(async () => (await healthFlags(px, 'hc'))[key(a)] === 'healthy', 5000, 'a healthy again');
    const who = await spray(base, 10, '/again');
    assert.ok(who.includes('a') && who.includes('b'), who.join(','));
    assert.equal(await px.stat('cluster.hc.health_check.healthy'), 2);
  });

  test('an upstream that is down (connection refused) fails its checks; restarted, it comes back', async () => {
    await b.kill();
    await waitFor(async () => (await healthFlags(px, 'hc'))[key(b)] === '/failed_active_hc', 5000, 'b failed_active_hc');
    const who = await spray(base, 6, '/b-down');
    assert.deepEqual([...new Set(who)], ['a'], 'no request was sent to the dead host');
    assert.ok((await px.stat('cluster.hc.health_check.network_failure')) >= 1);
    await b.restart();
    await waitFor(async () => (await healthFlags(px, 'hc'))[key(b)] === 'healthy', 5000, 'b healthy again');
    const back = await spray(base, 10, '/b-back');
    assert.ok(back.includes('b'), back.join(','));
  });

  test('both failing: Envoy\'s panic threshold routes to all hosts, every request is answered', async () => {
    hcStatus.a = 503;
    hcStatus.b = 503;
    await waitFor(async () => Object.values(await healthFlags(px, 'hc')).every((f) => f === '/failed_active_hc'), 5000, 'both failed');
    // Envoy's healthy panic threshold (50% by default): with no healthy host, the load balancer
    // ignores health and uses every host; the requests still get answered.
    const who = await spray(base, 6, '/panic');
    assert.ok(who.every((w) => w === 'a' || w === 'b'), who.join(','));
    assert.ok((await px.stat('cluster.hc.lb_healthy_panic')) >= 1);
    hcStatus.a = 200;
    hcStatus.b = 200;
    await waitFor(async () => Object.values(await healthFlags(px, 'hc')).every((f) => f === 'healthy'), 5000, 'both healthy again');
    await waitQuiescent(px, 'hc', ['hc']);
  });
});

describe('outlier detection', () => {
  let failing = true;
  let a: ScriptedUpstream;
  let b: ScriptedUpstream;
  let px: RunningProxy;
  let base: string;
  const key = (u: ScriptedUpstream): string => `127.0.0.1:${u.port}`;

  before(async () => {
    a = await startScriptedUpstream('a', (req, res, raw) => (failing ? answer(res, 500, 'a fails', { 'x-upstream': 'a' }) : echo('a')(req, res, raw)));
    b = await startScriptedUpstream('b', echo('b'));
    px = await startProxy(
      bootstrap(
        [httpListener('od', simpleRoutes([{ match: { prefix: '/' }, route: { cluster: 'od' } }]))],
        [
          staticCluster('od', [a.port, b.port], {
            outlier_detection: { consecutive_5xx: 3, interval: '0.1s', base_ejection_time: '0.5s', max_ejection_percent: 100 },
          }),
        ],
      ),
    );
    base = `http://127.0.0.1:${px.port}`;
  });
  after(async () => {
    await px?.stop();
    await a?.stop();
    await b?.stop();
  });

  test('three consecutive 5xx eject the host: it gets no requests while ejected', async () => {
    // Send until a has answered 500 three times in a row (round robin alternates the hosts).
    await waitFor(
        async () => {
          const r = await send(`${base}/warm`);
          if (r.headers['x-upstream'] === 'a') assert.equal(r.status, 500, 'the 5xx is passed through');
          return (await px.stat('cluster.od.outlier_detection.ejections_enforced_total')) >= 1;
        },
      10_000,
      'an ejection',
    );
    assert.ok(a.count('/warm') >= 3);
    // While the host shows failed_outlier_check, no request reaches it. The ejection lasts
    // base_ejection_time (and longer on later ejections); on a slow machine the window may close
    // early, so look at a batch of requests that started and ended inside one observed ejection.
    let proven = false;
    for (let round = 0; round < 20 && !proven; round++) {
      if ((await healthFlags(px, 'od'))[key(a)] !== '/failed_outlier_check') {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      const ejections = await px.stat('cluster.od.outlier_detection.ejections_enforced_total');
      const before = a.requests.length;
      const who = await spray(base, 4, `/ejected${round}`);
      const stillEjected = (await healthFlags(px, 'od'))[key(a)] === '/failed_outlier_check';
      const same = (await px.stat('cluster.od.outlier_detection.ejections_enforced_total')) === ejections;
      if (stillEjected && same) {
        assert.equal(a.requests.length, before, 'no request reached the ejected host');
        assert.deepEqual([...new Set(who)], ['b']);
        proven = true;
      }
    }
    assert.ok(proven, 'observed a batch of requests during one ejection');
    const s = await px.stats();
    assert.ok(s['cluster.od.outlier_detection.ejections_consecutive_5xx'] >= 1);
    assert.ok(s['cluster.od.outlier_detection.ejections_detected_consecutive_5xx'] >= 1);
  });

  test('the host comes back after base_ejection_time once it answers well', async () => {
    failing = false;
    const ka = key(a);
    await waitFor(async () => (await healthFlags(px, 'od'))[ka] === 'healthy', 10_000, 'a unejected');
    const before = a.requests.length;
    await waitFor(
      async () => {
        const r = await send(`${base}/back`);
        assert.equal(r.status, 200);
        return a.requests.length > before;
      },
      5000,
      'a request reaches a again',
    );
    await waitFor(async () => (await px.stat('cluster.od.outlier_detection.ejections_active')) === 0, 5000, 'no active ejection');
    const ev = await px.admin('/clusters?format=json');
    assert.equal(ev.status, 200);
    await waitQuiescent(px, 'od', ['od']);
  });
});

describe('outlier detection on connect failures', () => {
  let live: ScriptedUpstream;
  let px: RunningProxy;
  let base: string;

  before(async () => {
    live = await startScriptedUpstream('live', echo('live'));
    const dead = await closedPort();
    px = await startProxy(
      bootstrap(
        [httpListener('odcf', simpleRoutes([{ match: { prefix: '/' }, route: { cluster: 'odcf' } }]))],
        [
          staticCluster('odcf', [dead, live.port], {
            outlier_detection: { consecutive_5xx: 3, interval: '0.1s', base_ejection_time: '30s', max_ejection_percent: 100 },
          }),
        ],
      ),
    );
    base = `http://127.0.0.1:${px.port}`;
  });
  after(async () => {
    await px?.stop();
    await live?.stop();
  });

  test('three connect failures eject the dead endpoint; from then on every request succeeds', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await send(`${base}/a/${i}`)).status);
    // Round robin alternates: the dead host fails three times (503 UF), then it is ejected.
    assert.equal(statuses.filter((x) => x === 503).length, 3, statuses.join(','));
    assert.equal(await px.stat('cluster.odcf.outlier_detection.ejections_enforced_total'), 1);
    for (let i = 0; i < 10; i++) assert.equal((await send(`${base}/b/${i}`)).status, 200);
    assert.equal(live.count('/b/'), 10);
    await waitQuiescent(px, 'odcf', ['odcf']);
  });
});

describe('active health checks against nginx', () => {
  const flags = tempDir('weft-hc-nginx-');
  const downFile = flags.file('down');
  let ng: Nginx;
  let b: ScriptedUpstream;
  let px: RunningProxy;
  let base: string;

  before(async () => {
    ng = await startNginx(`
      location = /healthz { if (-f ${downFile}) { return 503; } return 200 'ok'; }
      location / { add_header x-upstream nginx; return 200 'nginx'; }`);
    b = await startScriptedUpstream('b', echo('b'));
    px = await startProxy(
      bootstrap(
        [httpListener('hcng', simpleRoutes([{ match: { prefix: '/' }, route: { cluster: 'ng' } }]))],
        [
          staticCluster('ng', [ng.port, b.port], {
            health_checks: [
              { timeout: '1s', interval: '0.1s', no_traffic_interval: '0.1s', unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: '/healthz' } },
            ],
          }),
        ],
      ),
    );
    base = `http://127.0.0.1:${px.port}`;
  });
  after(async () => {
    await px?.stop();
    await ng?.stop();
    await b?.stop();
    flags.remove();
  });

  test('nginx answering 503 on its health path is taken out of rotation, and put back', async () => {
    const ngKey = `127.0.0.1:${ng.port}`;
    await waitFor(async () => Object.values(await healthFlags(px, 'ng')).every((f) => f === 'healthy'), 5000, 'both healthy');
    const both = await spray(base, 8, '/x');
    assert.ok(both.includes('nginx') && both.includes('b'), both.join(','));
    fs.writeFileSync(downFile, '');
    await waitFor(async () => (await healthFlags(px, 'ng'))[ngKey] === '/failed_active_hc', 5000, 'nginx failed_active_hc');
    assert.deepEqual([...new Set(await spray(base, 6, '/y'))], ['b']);
    fs.rmSync(downFile);
    await waitFor(async () => (await healthFlags(px, 'ng'))[ngKey] === 'healthy', 5000, 'nginx healthy again');
    const again = await spray(base, 8, '/z');
    assert.ok(again.includes('nginx'), again.join(','));
    await waitQuiescent(px, 'hcng', ['ng']);
  });
});
