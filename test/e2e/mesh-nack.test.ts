import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as http from 'node:http';
import * as path from 'node:path';
import { startProxy, tempDir, waitFor, type RunningProxy } from '../helpers/proxy';
import { freePort } from '../helpers/upstream';
import { startControl, writeConfig, type RunningControl } from '../helpers/control';
import { egressClient, podYaml, sidecarBootstrap } from '../helpers/mesh';

/**
 * A resource weft control accepts and the Weft proxy rejects: a DestinationRule with
 * consistentHash.httpCookie and a ttl makes weft control emit a route hash_policy whose cookie has a
 * ttl (Envoy then generates the cookie), which the Weft proxy does not implement and NACKs by field
 * path. The NACK shows in /debug/syncz and `weft proxy-status`, the proxy keeps routing on the
 * routes it last accepted, and fixing the DestinationRule is ACKed and takes effect.
 * Client workload 127.0.5.1; web pods 127.0.5.2 (v1) and 127.0.5.3 (v2).
 */

const CLIENT_IP = '127.0.5.1';
const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
const client = egressClient(CLIENT_IP, 4);
const { get, tally } = client;

function mesh(servicePort: number, targetPort: number): string {
  return `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: default }
spec:
  selector: { app: web }
  ports: [{ name: http-web, port: ${servicePort}, targetPort: ${targetPort}, protocol: TCP }]
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
`;
}

/** The DestinationRule; with `cookieTtl`, sticky sessions by a generated cookie (the rejected part). */
function destinationRule(cookieTtl?: string): string {
  const lb = cookieTtl === undefined ? '' : `
  trafficPolicy:
    loadBalancer:
      consistentHash:
        httpCookie: { name: session, ttl: ${cookieTtl} }`;
  return `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: web, namespace: default }
spec:
  host: web.default.svc.cluster.local${lb}
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
`;
}

function routeTo(subset: string): string {
  return `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web, namespace: default }
spec:
  hosts: [web.default.svc.cluster.local]
  http:
    - route: [{ destination: { host: web.default.svc.cluster.local, subset: ${subset} } }]
`;
}

interface TypeSyncView {
  type: string;
  status: string;
  versionSent: string;
  versionAcked: string;
  lastNack?: { message: string; rejectedVersion: string; acceptedVersion: string };
}

function proxyStatus(debugPort: number, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'proxy-status', '--control-address', `127.0.0.1:${debugPort}`, ...args], { timeout: 15_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr });
    });
  });
}

async function rdsSync(control: RunningControl): Promise<TypeSyncView> {
  const body = JSON.parse((await control.debug('/debug/syncz')).body) as { proxy: string; types: TypeSyncView[] }[];
  const me = body.find((p) => p.proxy.startsWith(`sidecar~${CLIENT_IP}~`));
  const rds = me?.types.find((t) => t.type === 'rds');
  return rds ?? { type: 'rds', status: 'ABSENT', versionSent: '', versionAcked: '' };
}

async function rdsRejections(proxy: RunningProxy): Promise<number> {
  let n = 0;
  for (const [name, v] of Object.entries(await proxy.stats())) if (/^http\..*\.rds\..*\.update_rejected$/.test(name)) n += v;
  return n;
}

describe('a resource weft control accepts and the Weft proxy rejects (NACK)', () => {
  const dir = tempDir('weft-mesh-nack-');
  let control: RunningControl;
  let proxy: RunningProxy;
  let servicePort = 0;
  const servers: http.Server[] = [];
  const host = (): string => `web.default.svc.cluster.local:${servicePort}`;

  before(async () => {
    servicePort = await freePort();
    const targetPort = await freePort();
    for (const [ip, version] of [['127.0.5.2', 'v1'], ['127.0.5.3', 'v2']] as const) {
      const s = http.createServer((req, res) => {
        req.resume();
        res.end(version);
      });
      await new Promise<void>((r) => s.listen(targetPort, ip, r));
      servers.push(s);
    }
    writeConfig(dir.dir, 'mesh.yaml', mesh(servicePort, targetPort));
    writeConfig(dir.dir, 'client.yaml', podYaml('client', CLIENT_IP, { app: 'client' }, 8080));
    writeConfig(dir.dir, 'web-v1.yaml', podYaml('web-v1', '127.0.5.2', { app: 'web', version: 'v1' }, targetPort));
    writeConfig(dir.dir, 'web-v2.yaml', podYaml('web-v2', '127.0.5.3', { app: 'web', version: 'v2' }, targetPort));
    writeConfig(dir.dir, 'web-dr.yaml', destinationRule());
    writeConfig(dir.dir, 'web-vs.yaml', routeTo('v1'));
    control = await startControl(dir.dir);
    proxy = await startProxy(sidecarBootstrap(control.xdsPort, CLIENT_IP, 'client'));
    await waitFor(async () => (await get(servicePort, host()).catch(() => ({ status: 0, body: '' }))).body === 'v1', 15_000, 'egress listener serving v1');
    await waitFor(async () => (await rdsSync(control)).status === 'SYNCED', 10_000, 'RDS synced');
  });

  after(async () => {
    client.close();
    await proxy?.stop();
    await control?.stop();
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
    dir.remove();
  });

  test('weft control --validate accepts the DestinationRule (it is valid Istio)', async () => {
    writeConfig(dir.dir, 'web-dr.yaml', destinationRule('60s'));
    const out = await new Promise<{ code: number; text: string }>((resolve) => {
      execFile(process.execPath, [CLI, 'control', '--validate', dir.dir], { timeout: 15_000 }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, text: stdout + stderr }));
    });
    assert.equal(out.code, 0, out.text);
  });

  test('the proxy NACKs the routes naming the field; proxy-status shows NACKED with the message', async () => {
    // web-dr.yaml now has the cookie ttl (previous test); the push reaches the proxy, which rejects it.
    await waitFor(async () => (await rdsSync(control)).status === 'NACKED', 10_000, 'RDS NACKED in /debug/syncz');
    const rds = await rdsSync(control);
    assert.match(rds.lastNack?.message ?? '', /hash_policy\[0\]\.cookie\.ttl/);
    assert.match(rds.lastNack?.message ?? '', /not implemented by Weft/);
    assert.notEqual(rds.lastNack?.rejectedVersion, rds.lastNack?.acceptedVersion);
    assert.ok((await rdsRejections(proxy)) >= 1, 'the proxy counts update_rejected for the route configuration');

    const table = await proxyStatus(control.debugPort);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /NACKED \(/);
    assert.match(table.stdout, new RegExp(`sidecar~${CLIENT_IP.replace(/\./g, '\\.')}~\\S+ RDS rejected version \\S+: .*cookie\\.ttl`));
    const json = JSON.parse((await proxyStatus(control.debugPort, '--output', 'json')).stdout) as { types: TypeSyncView[] }[];
    assert.equal(json[0].types.find((t) => t.type === 'rds')?.status, 'NACKED');
  });

  test('traffic keeps flowing on the last accepted routes, even as later edits are rejected too', async () => {
    assert.deepEqual(await tally(servicePort, host(), 100), { v1: 100 });
    // This edit routes to v2, but the routes still carry the cookie ttl: rejected again, v1 stays.
    const before = await rdsRejections(proxy);
    const sentBefore = (await rdsSync(control)).versionSent;
    writeConfig(dir.dir, 'web-vs.yaml', routeTo('v2'));
    await waitFor(async () => {
      const r = await rdsSync(control);
      return r.status === 'NACKED' && r.versionSent !== sentBefore;
    }, 10_000, 'the new routes sent and NACKED');
    assert.ok((await rdsRejections(proxy)) > before);
    assert.deepEqual(await tally(servicePort, host(), 100), { v1: 100 });
  });

  test('fixing the DestinationRule is ACKed and the pending route change takes effect', async () => {
    writeConfig(dir.dir, 'web-dr.yaml', destinationRule());
    await waitFor(async () => (await rdsSync(control)).status === 'SYNCED', 10_000, 'RDS synced again');
    const rds = await rdsSync(control);
    assert.equal(rds.lastNack, undefined);
    assert.equal(rds.versionAcked, rds.versionSent);
    await waitFor(async () => (await tally(servicePort, host(), 10)).v2 === 10, 10_000, 'traffic on v2');
    assert.deepEqual(await tally(servicePort, host(), 100), { v2: 100 });
    const table = await proxyStatus(control.debugPort);
    assert.doesNotMatch(table.stdout, /NACKED/);
  });
});
