// The `weft` control-plane commands as users run them (the compiled CLI in a child process), against
// an ADS + debug server in this process fed by a scripted MeshSource built in the test.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { adsChannel, AdsClient } from '../../bench/control/ads-client';
import { TYPE_URL } from '../../src/control/contracts';
import { DebugServer } from '../../src/control/debug/debug-server';
import { AdsServer } from '../../src/control/server/ads-server';
import { ScriptedMesh } from './server/scripted-mesh';

const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
let ads: AdsServer;
let debug: DebugServer;
let client: AdsClient;
let channel: { close(): void };

function weft(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

before(async () => {
  const mesh = new ScriptedMesh([
    { name: 'details', port: 9080, endpoints: [19080] },
    { name: 'reviews', port: 9081, endpoints: [19081, 19082] },
  ]);
  ads = await AdsServer.start(mesh, { xdsAddress: '127.0.0.1:0' });
  debug = await DebugServer.start(ads, '127.0.0.1:0');
  channel = adsChannel(ads.address);
  client = new AdsClient(channel as never, { nodeId: 'sidecar~127.0.0.5~front-1.default~default.svc.cluster.local', cluster: 'front.default' });
  client.subscribe(TYPE_URL.cluster);
  client.subscribe(TYPE_URL.listener);
  const types = [TYPE_URL.cluster, TYPE_URL.endpoint, TYPE_URL.listener, TYPE_URL.route];
  await client.waitFor(() => {
    const p = ads.proxies()[0];
    return !!p && types.every((t) => p.watches.get(t)?.responses && p.watches.get(t)?.nonceAcked === p.watches.get(t)?.nonceSent);
  }, 10_000, 'synced');
});

after(async () => {
  client.close();
  channel.close();
  await debug.close();
  await ads.close();
});

test('weft proxy-status prints one row per proxy with CDS/LDS/EDS/RDS sync state, like istioctl', async () => {
  const r = await weft(['proxy-status', '--control-address', debug.address]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[0], /^NAME\s+CLUSTER\s+CDS\s+LDS\s+EDS\s+RDS\s+CONTROL\s+VERSION$/);
  assert.equal(lines.length, 2);
  assert.deepEqual(lines[1].split(/\s{3,}/), ['sidecar~127.0.0.5~front-1.default~default.svc.cluster.local', 'front.default', 'SYNCED', 'SYNCED', 'SYNCED', 'SYNCED', debug.address, 'v1']);
  const json = await weft(['proxy-status', '--control-address', debug.address, '-o', 'json']);
  assert.equal((JSON.parse(json.stdout) as unknown[]).length, 1);
});

test('weft proxy-config prints clusters, listeners, routes and endpoints tables for a proxy named by prefix', async () => {
  const clusters = await weft(['proxy-config', 'sidecar~127.0.0.5', 'clusters', '--control-address', debug.address]);
  assert.equal(clusters.code, 0, clusters.stderr);
  assert.deepEqual(clusters.stdout.trimEnd().split('\n').map((l) => l.split(/\s{3,}/)), [
    ['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE'],
    ['details.default.svc.cluster.local', '9080', '-', 'outbound', 'EDS'],
    ['reviews.default.svc.cluster.local', '9081', '-', 'outbound', 'EDS'],
  ]);
  const listeners = await weft(['proxy-config', 'sidecar~127.0.0.5', 'listeners', '--control-address', debug.address]);
  assert.match(listeners.stdout, /^details_9080\s+127\.0\.0\.1\s+9080\s+Route: details$/m);
  const routes = await weft(['proxy-config', 'sidecar~127.0.0.5', 'routes', '--control-address', debug.address]);
  assert.match(routes.stdout, /^reviews\s+reviews\s+\*\s+\/\*\s+outbound\|9081\|\|reviews\.default\.svc\.cluster\.local$/m);
  const endpoints = await weft(['proxy-config', 'sidecar~127.0.0.5', 'endpoints', '--control-address', debug.address]);
  assert.match(endpoints.stdout, /^127\.0\.0\.1:19082\s+HEALTHY\s+1\s+outbound\|9081\|\|reviews\.default\.svc\.cluster\.local$/m);
  const json = await weft(['proxy-config', 'sidecar~127.0.0.5', 'clusters', '-o', 'json', '--control-address', debug.address]);
  assert.equal((JSON.parse(json.stdout) as Array<{ type: string }>)[0].type, 'EDS');
});

test('weft proxy-config / proxy-status errors: unknown proxy and unreachable control plane exit 1 with a message', async () => {
  const unknown = await weft(['proxy-config', 'nobody', 'clusters', '--control-address', debug.address]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no connected proxy "nobody"/);
  const down = await weft(['proxy-status', '--control-address', '127.0.0.1:1']);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /cannot reach weft control at 127\.0\.0\.1:1/);
});

test('weft control without --config-dir or --validate exits 2 saying what it needs', async () => {
  const r = await weft(['control']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--config-dir DIR is required/);
});

test('weft control --validate: exit 1 listing file, resource and field for an invalid directory, 0 for a valid one (needs the mesh model)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-validate-'));
  try {
    fs.writeFileSync(path.join(dir, 'svc.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: default}\nspec:\n  ports: [{name: http, port: 9080}]\n  selector: {app: reviews}\n');
    const ok = await weft(['control', '--validate', dir]);
    if (/model not merged/.test(ok.stderr)) {
      t.skip('the mesh model (src/control/validate.ts) is not merged into this branch');
      return;
    }
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    fs.writeFileSync(path.join(dir, 'vs.yaml'), 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: reviews, namespace: default}\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n    - destination: {host: reviews}\n      weight: lots\n');
    const bad = await weft(['control', '--validate', dir]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /vs\.yaml: VirtualService\/default\/reviews spec\.http\[0\]\.route\[0\]\.weight: /);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('weft control serve path (scripted MeshSource in a child process): serves xDS and debug, reports skipped config, exits 0 on SIGTERM', async () => {
  const { freePorts } = await import('../../bench/ports');
  const [xdsPort, debugPort] = await freePorts(2);
  const child = spawn(process.execPath, [path.join(__dirname, 'control-serve-child.js'), `127.0.0.1:${xdsPort}`, `127.0.0.1:${debugPort}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
  try {
    let ready = false;
    for (let i = 0; i < 200 && !ready; i++) {
      ready = await fetch(`http://127.0.0.1:${debugPort}/ready`).then((r) => r.ok, () => false);
      if (!ready) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(ready, stderr);
    const ch = adsChannel(`127.0.0.1:${xdsPort}`);
    const c = new AdsClient(ch as never, { nodeId: 'child-client' });
    c.subscribe(TYPE_URL.cluster);
    await c.waitFor(() => c.version(TYPE_URL.cluster) === 'v1', 10_000, 'CDS from the child');
    const status = await weft(['proxy-status', '--control-address', `127.0.0.1:${debugPort}`]);
    assert.match(status.stdout, /^child-client\s/m);
    assert.match(await (await fetch(`http://127.0.0.1:${debugPort}/metrics`)).text(), /^weft_control_config_problems 1$/m);
    c.close();
    ch.close();
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.match(stderr, /skipped: bad\.yaml: VirtualService\/default\/x spec\.hosts: required/);
    assert.match(stderr, /SIGTERM: shutting down/);
  } finally {
    clearTimeout(kill);
    child.kill('SIGKILL');
  }
});
