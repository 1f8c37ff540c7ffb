import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { tempDir, waitFor } from '../helpers/proxy';
import { freePort } from '../helpers/upstream';
import { startControl, writeConfig, type RunningControl } from '../helpers/control';

/**
 * Proxyless gRPC: @grpc/grpc-js-xds clients (an xDS client we did not write) take their routing
 * from `weft control`. Two grpc-js servers on their own loopback addresses play the v1 and v2 pods.
 */

const ECHO_PATH = '/weft.test.Echo/Who';
const identity = (b: Buffer): Buffer => b;

interface Backend {
  server: grpc.Server;
  calls: number;
}

async function startBackend(ip: string, port: number, name: string): Promise<Backend> {
  const server = new grpc.Server();
  const backend: Backend = { server, calls: 0 };
  server.addService(
    {
      Who: {
        path: ECHO_PATH,
        requestStream: false,
        responseStream: false,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    {
      Who: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        backend.calls++;
        cb(null, Buffer.from(name));
      },
    },
  );
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`${ip}:${port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  );
  return backend;
}

function pods(port: number): string {
  const pod = (name: string, ip: string, version: string): string => `
apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: default, labels: { app: echo, version: ${version} } }
spec:
  containers: [{ name: echo, image: echo, ports: [{ containerPort: ${port}, name: grpc }] }]
status:
  phase: Running
  podIP: ${ip}
  podIPs: [{ ip: ${ip} }]
  conditions: [{ type: Ready, status: "True" }]
`;
  return [pod('echo-v1', '127.0.3.1', 'v1'), pod('echo-v2', '127.0.3.2', 'v2')].join('---\n');
}

function services(port: number): string {
  const svc = (name: string): string => `
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: default }
spec:
  selector: { app: echo }
  ports: [{ name: grpc-echo, port: 50051, targetPort: ${port}, protocol: TCP }]
`;
  return ['echo', 'faulty', 'hashed'].map(svc).join('---\n');
}

function routing(v1: number, v2: number): string {
  return `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo, namespace: default }
spec:
  host: echo.default.svc.cluster.local
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: echo, namespace: default }
spec:
  hosts: [echo.default.svc.cluster.local]
  http:
    - match: [{ headers: { end-user: { exact: jason } } }]
      route: [{ destination: { host: echo.default.svc.cluster.local, subset: v2 } }]
    - route:
        - { destination: { host: echo.default.svc.cluster.local, subset: v1 }, weight: ${v1} }
        - { destination: { host: echo.default.svc.cluster.local, subset: v2 }, weight: ${v2} }
`;
}

const FAULT = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: faulty, namespace: default }
spec:
  hosts: [faulty.default.svc.cluster.local]
  http:
    - match: [{ headers: { x-fail: { exact: "yes" } } }]
      fault: { abort: { httpStatus: 503, percentage: { value: 100 } } }
      route: [{ destination: { host: faulty.default.svc.cluster.local } }]
    - route: [{ destination: { host: faulty.default.svc.cluster.local } }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: hashed, namespace: default }
spec:
  host: hashed.default.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      consistentHash: { httpHeaderName: x-user }
`;

function call(client: grpc.Client, md: Record<string, string> = {}): Promise<string> {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) metadata.set(k, v);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(ECHO_PATH, identity, identity, Buffer.alloc(0), metadata, { deadline: Date.now() + 5000 }, (err, res) =>
      err ? reject(err) : resolve(res!.toString()),
    );
  });
}

async function tally(client: grpc.Client, n: number, md: Record<string, string> = {}): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const who = await call(client, md);
    counts[who] = (counts[who] ?? 0) + 1;
  }
  return counts;
}

describe('grpc-js-xds clients driven by weft control', () => {
  const dir = tempDir('weft-grpc-xds-');
  let control: RunningControl;
  let backends: Backend[] = [];
  const clients: grpc.Client[] = [];

  const client = (host: string): grpc.Client => {
    const c = new grpc.Client(`xds:///${host}.default.svc.cluster.local:50051`, grpc.credentials.createInsecure());
    clients.push(c);
    return c;
  };

  before(async () => {
    const port = await freePort();
    backends = [await startBackend('127.0.3.1', port, 'v1'), await startBackend('127.0.3.2', port, 'v2')];
    writeConfig(dir.dir, 'pods.yaml', pods(port));
    writeConfig(dir.dir, 'services.yaml', services(port));
    writeConfig(dir.dir, 'echo-routing.yaml', routing(75, 25));
    writeConfig(dir.dir, 'faulty.yaml', FAULT);
    control = await startControl(dir.dir);
    // grpc-js-xds reads its bootstrap once per process, at the first xds: channel.
    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
      xds_servers: [{ server_uri: `127.0.0.1:${control.xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: {
        id: 'proxyless~127.0.3.9~grpc-client.default~default.svc.cluster.local',
        cluster: 'grpc-client.default',
        metadata: { NAMESPACE: 'default', GENERATOR: 'grpc' },
        locality: {},
      },
    });
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require('@grpc/grpc-js-xds') as { register(): void }).register();
  });

  after(async () => {
    for (const c of clients) c.close();
    for (const b of backends) b.server.forceShutdown();
    await control?.stop();
    dir.remove();
  });

  test('weighted clusters: a 75/25 VirtualService splits 1,000 calls about 3:1', async () => {
    const c = client('echo');
    const counts = await tally(c, 1000);
    // 1,000 draws at p = 0.75: the standard deviation is ~13.7; allow 5 of them.
    assert.ok(Math.abs((counts.v1 ?? 0) - 750) < 70, `split ${JSON.stringify(counts)}\n${control.output()}`);
    assert.equal((counts.v1 ?? 0) + (counts.v2 ?? 0), 1000);
  });

  test('header matching: end-user: jason always reaches v2', async () => {
    const counts = await tally(client('echo'), 100, { 'end-user': 'jason' });
    assert.deepEqual(counts, { v2: 100 });
  });

  test('a weight change in the config directory shifts live calls', async () => {
    const c = client('echo');
    writeConfig(dir.dir, 'echo-routing.yaml', routing(0, 100));
    await waitFor(async () => (await tally(c, 20)).v2 === 20, 10_000, 'calls shifted to v2');
    assert.deepEqual(await tally(c, 200), { v2: 200 });
    writeConfig(dir.dir, 'echo-routing.yaml', routing(75, 25));
  });

  test('fault injection: an abort fault fails matching calls with UNAVAILABLE and leaves others alone', async () => {
    const c = client('faulty');
    const before = backends[0].calls + backends[1].calls;
    for (let i = 0; i < 20; i++) {
      await assert.rejects(call(c, { 'x-fail': 'yes' }), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
    }
    assert.equal(backends[0].calls + backends[1].calls, before, 'aborted calls never reach a backend');
    const ok = await tally(c, 20);
    assert.equal((ok.v1 ?? 0) + (ok.v2 ?? 0), 20);
  });

  test('ring hash: one x-user always lands on one backend; many users use both', async () => {
    const c = client('hashed');
    for (const user of ['alice', 'bob', 'carol']) {
      const counts = await tally(c, 30, { 'x-user': user });
      assert.equal(Object.keys(counts).length, 1, `${user}: ${JSON.stringify(counts)}`);
    }
    const seen = new Set<string>();
    for (let u = 0; u < 40; u++) seen.add(await call(c, { 'x-user': `user-${u}` }));
    assert.deepEqual([...seen].sort(), ['v1', 'v2']);
  });
});
