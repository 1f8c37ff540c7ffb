import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { CLUSTER_TYPE, ENDPOINT_TYPE, LISTENER_TYPE, ROUTE_TYPE } from '../../src/xds/type-urls';
import { adsBootstrap, edsCluster, get, loadAssignment, rdsListener, routeTo, ScriptedAdsServer, until } from '../helpers/ads-server';
import { tempDir } from '../helpers/proxy';
import { closedPort, startEchoUpstream } from '../helpers/upstream';

/** `weft proxy` as a real process with a dynamic bootstrap, driven by a scripted control plane. */

const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

describe('weft proxy with dynamic_resources (scripted control plane)', () => {
  it('sends --service-node/--service-cluster/--service-zone as its node, serves what ADS gives it, and exits on SIGTERM', async () => {
    const tmp = tempDir();
    const ads = await ScriptedAdsServer.start();
    const up = await startEchoUpstream('cli');
    const listenPort = await closedPort();
    const file = tmp.file('bootstrap.json');
    fs.writeFileSync(file, JSON.stringify(adsBootstrap(ads)));
    const child = spawn(process.execPath, [CLI, 'proxy', '-c', file, '--service-node', 'router~127.0.0.1~gw.ns~ns.svc.cluster.local', '--service-cluster', 'gw', '--service-zone', 'z9', '--drain-time-s', '1'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const first = await ads.waitForRequest((r) => r.req.type_url === CLUSTER_TYPE, { timeoutMs: 20_000 });
      const node = first.req.node as Record<string, unknown>;
      assert.equal(node.id, 'router~127.0.0.1~gw.ns~ns.svc.cluster.local');
      assert.equal(node.cluster, 'gw');
      assert.deepEqual(node.locality, { zone: 'z9' });
      await ads.waitForAnswer(ads.push(CLUSTER_TYPE, [edsCluster('svc')], '1'));
      await ads.waitForAnswer(ads.push(ENDPOINT_TYPE, [loadAssignment('svc', [up.port])], '1'));
      await ads.waitForRequest((r) => r.req.type_url === LISTENER_TYPE);
      await ads.waitForAnswer(ads.push(LISTENER_TYPE, [rdsListener('http', 'r1', listenPort)], '1'));
      await ads.waitForAnswer(ads.push(ROUTE_TYPE, [routeTo('r1', 'svc')], '1'));
      const r = await until('proxy serving', async () => (await get(listenPort).catch(() => undefined)) ?? undefined);
      assert.equal(r.upstream, 'cli');
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await ads.stop();
      await up.stop();
      tmp.remove();
    }
  });
});
