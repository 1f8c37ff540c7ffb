// @grpc/grpc-js-xds, an independent xDS client, driven by Weft's ADS server: a proxyless gRPC
// client resolves xds:///echo through the api_listener → RDS → CDS → EDS chain Weft serves and
// calls real grpc-js servers; a pushed weight change moves its calls. The resources come from a
// MeshSource built in the test (the mesh model is another part).
import { strict as assert } from 'node:assert';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { after, before, test } from 'node:test';
import { TYPE_URL, XdsResource } from '../../../src/control/contracts';
import { AdsServer } from '../../../src/control/server/ads-server';
import { ResourceMesh } from './scripted-mesh';

grpcXds.register();

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const ECHO: grpc.ServiceDefinition = {
  Say: {
    path: '/weft.test.Echo/Say',
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
};

const backends: grpc.Server[] = [];
const ports: number[] = [];
let ads: AdsServer;
let mesh: ResourceMesh;

async function startBackend(name: string): Promise<number> {
  const server = new grpc.Server();
  server.addService(ECHO, { Say: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(name)) });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  backends.push(server);
  return port;
}

function resources(weightA: number, weightB: number): Record<string, XdsResource[]> {
  const cluster = (name: string): XdsResource => ({
    name,
    resource: { name, type: 'EDS', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } }, lb_policy: 'ROUND_ROBIN' },
  });
  const cla = (name: string, port: number): XdsResource => ({
    name,
    resource: {
      cluster_name: name,
      endpoints: [{ locality: { region: 'local', zone: 'a' }, load_balancing_weight: 1, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }],
    },
  });
  return {
    [TYPE_URL.listener]: [
      {
        name: 'echo',
        resource: {
          name: 'echo',
          api_listener: {
            api_listener: {
              '@type': HCM,
              rds: { route_config_name: 'echo-routes', config_source: { ads: {}, resource_api_version: 'V3' } },
              http_filters: [{ name: 'router', typed_config: { '@type': ROUTER } }],
            },
          },
        },
      },
    ],
    [TYPE_URL.route]: [
      {
        name: 'echo-routes',
        resource: {
          name: 'echo-routes',
          virtual_hosts: [
            {
              name: 'echo',
              domains: ['*'],
              routes: [
                { match: { prefix: '', headers: [{ name: 'x-canary', exact_match: 'yes' }] }, route: { cluster: 'echo-b' } },
                { match: { prefix: '' }, route: { weighted_clusters: { clusters: [{ name: 'echo-a', weight: weightA }, { name: 'echo-b', weight: weightB }] } } },
              ],
            },
          ],
        },
      },
    ],
    [TYPE_URL.cluster]: [cluster('echo-a'), cluster('echo-b')],
    [TYPE_URL.endpoint]: [cla('echo-a', ports[0]), cla('echo-b', ports[1])],
  };
}

before(async () => {
  ports.push(await startBackend('a'), await startBackend('b'));
  mesh = new ResourceMesh('1', resources(100, 0));
  ads = await AdsServer.start(mesh, { xdsAddress: '127.0.0.1:0' });
});

after(async () => {
  await ads.close();
  for (const s of backends) s.forceShutdown();
  setImmediate(() => process.exit(process.exitCode ?? 0)).unref();
});

function call(client: grpc.Client, metadata = new grpc.Metadata()): Promise<string> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest('/weft.test.Echo/Say', (b: Buffer) => b, (b: Buffer) => b, Buffer.from('hi'), metadata, { deadline: Date.now() + 10_000 }, (e, r) => (e ? reject(e) : resolve(r!.toString())));
  });
}

test('@grpc/grpc-js-xds client (test MeshSource): weighted clusters and header matching through Weft ADS; a pushed weight change moves calls', async () => {
  const bootstrap = {
    xds_servers: [{ server_uri: ads.address, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'proxyless~127.0.0.9~echo-client.default~default.svc.cluster.local', locality: {} },
  };
  const client = new grpc.Client('xds:///echo', grpc.credentials.createInsecure(), {
    'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': JSON.stringify(bootstrap),
  });
  try {
    const first: string[] = [];
    for (let i = 0; i < 20; i++) first.push(await call(client));
    assert.deepEqual([...new Set(first)], ['a']);
    const canary = new grpc.Metadata();
    canary.set('x-canary', 'yes');
    assert.equal(await call(client, canary), 'b');

    const [proxy] = ads.proxies();
    assert.match(proxy.node?.userAgent ?? '', /^gRPC Node/);
    for (const w of proxy.watches.values()) assert.equal(w.versionAcked, '1', w.short);

    mesh.set('2', resources(0, 100));
    let seen = '';
    for (let i = 0; i < 200 && seen !== 'b'; i++) {
      seen = await call(client);
      if (seen !== 'b') await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(seen, 'b');
    const after: string[] = [];
    for (let i = 0; i < 20; i++) after.push(await call(client));
    assert.deepEqual([...new Set(after)], ['b']);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(proxy.watches.get(TYPE_URL.route)!.versionAcked, '2');
  } finally {
    client.close();
  }
});
