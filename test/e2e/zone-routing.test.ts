import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { address, bootstrap, httpListener, simpleRoutes, startProxy, waitFor, type RunningProxy } from '../helpers/proxy';

/**
 * Zone-aware routing and priority failover through a real Weft proxy: node:http upstreams on
 * 127.0.0.1 answer with their name; /healthz answers 503 while a test marks them unhealthy, and
 * the cluster's active health checks take them out.
 */

interface NamedUpstream {
  name: string;
  port: number;
  unhealthy: boolean;
  stop(): Promise<void>;
}

async function startNamed(name: string): Promise<NamedUpstream> {
  const server = http.createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
    req.resume();
    if (req.url === '/healthz') {
      res.writeHead(u.unhealthy ? 503 : 200, { 'content-length': '0' });
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(name)) });
    res.end(name);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const u: NamedUpstream = {
    name,
    port: (server.address() as AddressInfo).port,
    unhealthy: false,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  return u;
}

const HEALTH_CHECK = {
  timeout: '1s',
  interval: '0.05s',
  no_traffic_interval: '0.05s',
  unhealthy_threshold: 1,
  healthy_threshold: 1,
  http_health_check: { path: '/healthz' },
};

function lbEndpoints(ups: NamedUpstream[]): object[] {
  return ups.map((u) => ({ endpoint: { address: address(u.port) } }));
}

describe('zone-aware routing and priority failover', () => {
  const zoneA: NamedUpstream[] = [];
  const zoneB: NamedUpstream[] = [];
  const p0: NamedUpstream[] = [];
  const p1: NamedUpstream[] = [];
  let px: RunningProxy;
  let pool: Pool;

  before(async () => {
    for (let i = 1; i <= 3; i++) zoneA.push(await startNamed(`a${i}`));
    for (let i = 1; i <= 3; i++) zoneB.push(await startNamed(`b${i}`));
    for (let i = 1; i <= 2; i++) p0.push(await startNamed(`p0-${i}`));
    for (let i = 1; i <= 2; i++) p1.push(await startNamed(`p1-${i}`));
    const routes = simpleRoutes([
      { match: { prefix: '/svc' }, route: { cluster: 'svc' } },
      { match: { prefix: '/pri' }, route: { cluster: 'pri' } },
    ]);
    const config = bootstrap(
      [httpListener('ingress', routes)],
      [
        // The proxy's own service: one instance in each zone (never called; only its localities matter).
        {
          name: 'local',
          type: 'STATIC',
          connect_timeout: '1s',
          load_assignment: {
            cluster_name: 'local',
            endpoints: [
              { locality: { region: 'r', zone: 'a' }, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.255.0.1', port_value: 9 } } } }] },
              { locality: { region: 'r', zone: 'b' }, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.255.0.2', port_value: 9 } } } }] },
            ],
          },
        },
        {
          name: 'svc',
          type: 'STATIC',
          connect_timeout: '1s',
          common_lb_config: { zone_aware_lb_config: { min_cluster_size: 2 } },
          health_checks: [HEALTH_CHECK],
          load_assignment: {
            cluster_name: 'svc',
            endpoints: [
              { locality: { region: 'r', zone: 'a' }, lb_endpoints: lbEndpoints(zoneA) },
              { locality: { region: 'r', zone: 'b' }, lb_endpoints: lbEndpoints(zoneB) },
            ],
          },
        },
        {
          name: 'pri',
          type: 'STATIC',
          connect_timeout: '1s',
          health_checks: [HEALTH_CHECK],
          load_assignment: {
            cluster_name: 'pri',
            policy: { overprovisioning_factor: 140 },
            endpoints: [
              { priority: 0, lb_endpoints: lbEndpoints(p0) },
              { priority: 1, lb_endpoints: lbEndpoints(p1) },
            ],
          },
        },
      ],
    );
    px = await startProxy({
      ...config,
      node: { id: 'zone-test', cluster: 'local', locality: { region: 'r', zone: 'a' } },
      cluster_manager: { local_cluster_name: 'local' },
    });
    pool = new Pool(`http://127.0.0.1:${px.port}`, { connections: 8 });
  });

  after(async () => {
    await pool?.close();
    await px?.stop();
    for (const u of [...zoneA, ...zoneB, ...p0, ...p1]) await u.stop();
  });

  /** Sends n GETs (8 at a time) and counts the answering upstreams by name. */
  async function spread(path: string, n: number): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    let sent = 0;
    const worker = async (): Promise<void> => {
      while (sent < n) {
        sent++;
        const r = await pool.request({ path, method: 'GET' });
        const body = await r.body.text();
        const key = r.statusCode === 200 ? body : `status-${r.statusCode}`;
        out[key] = (out[key] ?? 0) + 1;
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    return out;
  }

  const sum = (m: Record<string, number>, prefix: string): number =>
    Object.entries(m).reduce((n, [k, v]) => (k.startsWith(prefix) ? n + v : n), 0);

  async function healthy(cluster: string, n: number): Promise<void> {
    await waitFor(async () => (await px.stat(`cluster.${cluster}.membership_healthy`)) === n, 10_000, `${cluster} membership_healthy == ${n}`);
  }

  test('traffic stays in the caller zone while it is healthy', async () => {
    await healthy('svc', 6);
    const m = await spread('/svc', 400);
    assert.ok(sum(m, 'a') >= 380, `zone a got ${sum(m, 'a')} of 400: ${JSON.stringify(m)}`);
    // All three zone-a hosts share it.
    for (const u of zoneA) assert.ok((m[u.name] ?? 0) > 0, `${u.name} unused: ${JSON.stringify(m)}`);
    assert.ok((await px.stat('cluster.svc.lb_zone_routing_all_directly')) >= 380);
    assert.ok((await px.stat('cluster.svc.lb_recalculate_zone_structures')) >= 1);
  });

  test('zone a unhealthy (active health checks) → traffic spills to zone b, and comes back', async () => {
    for (const u of zoneA) u.unhealthy = true;
    await healthy('svc', 3);
    const m = await spread('/svc', 200);
    assert.equal(sum(m, 'b'), 200, JSON.stringify(m));
    assert.ok((await px.stat('cluster.svc.lb_zone_routing_cross_zone')) >= 200);

    for (const u of zoneA) u.unhealthy = false;
    await healthy('svc', 6);
    const back = await spread('/svc', 200);
    assert.ok(sum(back, 'a') >= 190, JSON.stringify(back));
  });

  test('priority failover: 1 of 2 P0 hosts healthy → P0 gets 70% (overprovisioning 1.4); none → P1 gets all', async () => {
    await healthy('pri', 4);
    const all = await spread('/pri', 100);
    assert.equal(sum(all, 'p0'), 100, JSON.stringify(all));

    p0[1].unhealthy = true;
    await healthy('pri', 3);
    const n = 400;
    const m = await spread('/pri', n);
    const share = sum(m, 'p0') / n;
    // 50% healthy × 1.4 = 70% to P0; binomial spread over 400 picks is ~±2.3% (1 sd).
    assert.ok(share >= 0.6 && share <= 0.8, `P0 share ${share}: ${JSON.stringify(m)}`);
    assert.equal(m['p0-2'] ?? 0, 0, 'the unhealthy P0 host gets nothing');
    assert.equal(sum(m, 'p1') + sum(m, 'p0'), n);

    p0[0].unhealthy = true;
    await healthy('pri', 2);
    const down = await spread('/pri', 100);
    assert.equal(sum(down, 'p1'), 100, JSON.stringify(down));

    p0[0].unhealthy = false;
    p0[1].unhealthy = false;
    await healthy('pri', 4);
    const recovered = await spread('/pri', 100);
    assert.equal(sum(recovered, 'p0'), 100, JSON.stringify(recovered));
  });
});
