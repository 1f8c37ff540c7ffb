import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { startProxy, tempDir, waitFor, type RunningProxy } from '../helpers/proxy';
import { freePort } from '../helpers/upstream';
import { startControl, writeConfig, type RunningControl } from '../helpers/control';
import { egressClient, podYaml, sidecarBootstrap } from '../helpers/mesh';

/**
 * A Weft sidecar whose whole configuration comes from `weft control` over ADS, carrying real HTTP
 * traffic: canary weights, header routing, endpoint failover, and a control plane restart.
 * The client workload is 127.0.4.1; the web pods are 127.0.4.2 (v1) and 127.0.4.3 (v2).
 */

const CLIENT_IP = '127.0.4.1';
const client = egressClient(CLIENT_IP, 8);
const { get, tally } = client;

interface WebPod {
  server: http.Server;
  close(): Promise<void>;
}

async function startWebPod(ip: string, port: number, version: string): Promise<WebPod> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.end(version);
  });
  await new Promise<void>((r) => server.listen(port, ip, r));
  return {
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function mesh(servicePort: number, targetPort: number): string {
  return `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: default }
spec:
  selector: { app: web }
  ports: [{ name: http-web, port: ${servicePort}, targetPort: ${targetPort}, protocol: TCP }]
---
apiVersion: v1
kind: Service
metadata: { name: api, namespace: default }
spec:
  selector: { app: web }
  ports: [{ name: http-api, port: ${servicePort}, targetPort: ${targetPort}, protocol: TCP }]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: client, namespace: default }
spec:
  workloadSelector: { labels: { app: client } }
  egress:
    - port: { number: ${servicePort}, protocol: HTTP, name: http-egress }
      bind: ${CLIENT_IP}
      captureMode: NONE
      hosts: ["./*"]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: web, namespace: default }
spec:
  host: web.default.svc.cluster.local
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
`;
}

function webRoutes(v1: number, v2: number): string {
  return `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web, namespace: default }
spec:
  hosts: [web.default.svc.cluster.local]
  http:
    - match: [{ headers: { end-user: { exact: jason } } }]
      route: [{ destination: { host: web.default.svc.cluster.local, subset: v2 } }]
    - route:
        - { destination: { host: web.default.svc.cluster.local, subset: v1 }, weight: ${v1} }
        - { destination: { host: web.default.svc.cluster.local, subset: v2 }, weight: ${v2} }
`;
}

describe('a Weft sidecar configured by weft control', () => {
  const dir = tempDir('weft-mesh-');
  let control: RunningControl;
  let proxy: RunningProxy;
  let servicePort = 0;
  let pods: WebPod[] = [];
  const host = (): string => `web.default.svc.cluster.local:${servicePort}`;

  before(async () => {
    servicePort = await freePort();
    const targetPort = await freePort();
    pods = [await startWebPod('127.0.4.2', targetPort, 'v1'), await startWebPod('127.0.4.3', targetPort, 'v2')];
    writeConfig(dir.dir, 'mesh.yaml', mesh(servicePort, targetPort));
    writeConfig(dir.dir, 'client.yaml', podYaml('client', CLIENT_IP, { app: 'client' }, 8080));
    writeConfig(dir.dir, 'web-v1.yaml', podYaml('web-v1', '127.0.4.2', { app: 'web', version: 'v1' }, targetPort));
    writeConfig(dir.dir, 'web-v2.yaml', podYaml('web-v2', '127.0.4.3', { app: 'web', version: 'v2' }, targetPort));
    writeConfig(dir.dir, 'web-routes.yaml', webRoutes(80, 20));
    control = await startControl(dir.dir);
    proxy = await startProxy(sidecarBootstrap(control.xdsPort, CLIENT_IP, 'client'));
    await waitFor(async () => (await get(servicePort, host()).catch(() => ({ status: 0 }))).status === 200, 15_000, 'egress listener serving');
  });

  after(async () => {
    client.close();
    await proxy?.stop();
    await control?.stop();
    for (const p of pods) await p.close();
    dir.remove();
  });

  test('canary: an 80/20 VirtualService splits 1,000 requests about 4:1', async () => {
    const counts = await tally(servicePort, host(), 1000);
    // 1,000 draws at p = 0.8: standard deviation ~12.6; allow 5 of them.
    assert.ok(Math.abs((counts.v1 ?? 0) - 800) < 65, JSON.stringify(counts));
    assert.equal((counts.v1 ?? 0) + (counts.v2 ?? 0), 1000, JSON.stringify(counts));
  });

  test('header routing: end-user: jason goes to v2, and the short host name works too', async () => {
    assert.deepEqual(await tally(servicePort, host(), 50, { 'end-user': 'jason' }), { v2: 50 });
    assert.deepEqual(await tally(servicePort, `web:${servicePort}`, 20, { 'end-user': 'jason' }), { v2: 20 });
  });

  test('a weight edit shifts live traffic, and the proxy ACKs the new version', async () => {
    writeConfig(dir.dir, 'web-routes.yaml', webRoutes(0, 100));
    await waitFor(async () => (await tally(servicePort, host(), 20)).v2 === 20, 10_000, 'traffic shifted to v2');
    assert.deepEqual(await tally(servicePort, host(), 200), { v2: 200 });
    const syncz = await control.debug('/debug/syncz');
    assert.match(syncz.body, /sidecar~127\.0\.4\.1~client\.default/);
    writeConfig(dir.dir, 'web-routes.yaml', webRoutes(50, 50));
    await waitFor(async () => Object.keys(await tally(servicePort, host(), 40)).length === 2, 10_000, 'both versions again');
  });

  test('failover: when a pod goes away, every request to its service is served by the one left', async () => {
    // Service api (no VirtualService: Istio's default route) selects both web pods.
    const apiHost = `api.default.svc.cluster.local:${servicePort}`;
    const both = await tally(servicePort, apiHost, 100);
    assert.ok((both.v1 ?? 0) > 0 && (both.v2 ?? 0) > 0, JSON.stringify(both));
    const v2Port = (pods[1].server.address() as { port: number }).port;
    fs.rmSync(path.join(dir.dir, 'web-v2.yaml'));
    await waitFor(async () => (await tally(servicePort, apiHost, 30)).v1 === 30, 10_000, 'only v1 left');
    assert.deepEqual(await tally(servicePort, apiHost, 200), { v1: 200 });
    writeConfig(dir.dir, 'web-v2.yaml', podYaml('web-v2', '127.0.4.3', { app: 'web', version: 'v2' }, v2Port));
    await waitFor(async () => ((await tally(servicePort, apiHost, 40)).v2 ?? 0) > 0, 10_000, 'v2 back');
  });

  test('control plane restart: the proxy keeps serving its last config, reconnects and takes new config', async () => {
    const ports = { xds: control.xdsPort, debug: control.debugPort };
    await control.stop();
    await waitFor(async () => (await proxy.stat('control_plane.connected_state')) === 0, 10_000, 'proxy sees the control plane gone');
    const meanwhile = await tally(servicePort, host(), 50, { 'end-user': 'jason' });
    assert.deepEqual(meanwhile, { v2: 50 });
    writeConfig(dir.dir, 'web-routes.yaml', webRoutes(100, 0));
    control = await startControl(dir.dir, ports);
    await waitFor(async () => (await proxy.stat('control_plane.connected_state')) === 1, 20_000, 'proxy reconnected');
    await waitFor(async () => (await tally(servicePort, host(), 20)).v1 === 20, 10_000, 'new config after reconnect');
  });
});
