// The benchmark's simulated proxies (bench/control/fleet.ts) against the ADS server, fed by a
// scripted MeshSource built in the test: every client syncs, and every client sees a change.
import { strict as assert } from 'node:assert';
import { after, test } from 'node:test';
import { Fleet } from '../../../bench/control/fleet';
import { TYPE_URL } from '../../../src/control/contracts';
import { AdsServer } from '../../../src/control/server/ads-server';
import { ScriptedMesh, ServiceSpec } from './scripted-mesh';

const services: ServiceSpec[] = Array.from({ length: 20 }, (_, i) => ({ name: `svc-${i}`, port: 9000 + i, endpoints: [20000 + i] }));
const closers: Array<() => unknown> = [];
after(async () => {
  while (closers.length) await closers.pop()!();
});

for (const mode of ['sotw', 'delta'] as const) {
  test(`bench fleet (scripted mesh): 50 ${mode} clients over one channel sync all four types and each sees a route change once`, async () => {
    const mesh = new ScriptedMesh(services);
    const server = await AdsServer.start(mesh, { xdsAddress: '127.0.0.1:0' });
    closers.push(() => server.close());
    const fleet = new Fleet({ address: server.address, count: 50, perChannel: 50, mode });
    closers.push(() => fleet.close());
    fleet.connect();
    await fleet.waitSynced(30_000);
    assert.equal(server.proxies().length, 50);
    for (const p of server.proxies()) {
      assert.equal(p.watches.get(TYPE_URL.route)!.sent.size, 20);
      assert.equal(p.watches.get(TYPE_URL.endpoint)!.sent.size, 20);
    }
    const r = await fleet.measureChange(() => mesh.update('svc-3', { timeoutMs: 2000 }), 30_000);
    assert.equal(r.missed, 0);
    assert.equal(r.latenciesMs.length, 50);
    assert.ok(r.latenciesMs.every((ms) => ms >= 0));
    assert.equal(server.metrics.pushes.get({ type: 'rds' }), 100);
    assert.equal(server.metrics.pushes.get({ type: 'cds' }), 50);
  });
}
