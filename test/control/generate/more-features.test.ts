import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import type { DecodedMessage } from '../../../src/xds/decoded';
import { generateAll, get, loadSnapshot, sidecarNode } from './harness';

const YAML = `apiVersion: v1
kind: Service
metadata: { name: web }
spec: { ports: [{ name: http, port: 80 }, { name: grpc-api, port: 9000 }] }
---
apiVersion: v1
kind: Service
metadata: { name: cache }
spec: { clusterIP: 10.0.0.9, ports: [{ name: tcp, port: 6379 }] }
---
apiVersion: v1
kind: Service
metadata: { name: plain }
spec: { ports: [{ port: 7000 }] }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: cache }
spec:
  host: cache
  subsets: [{ name: a, labels: { v: a } }, { name: b, labels: { v: b } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: cache }
spec:
  hosts: [cache]
  tcp: [{ route: [{ destination: { host: cache, subset: a }, weight: 60 }, { destination: { host: cache, subset: b }, weight: 40 }] }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: web }
spec:
  host: web
  trafficPolicy:
    loadBalancer: { simple: RANDOM }
    portLevelSettings:
      - port: { number: 9000 }
        loadBalancer: { consistentHash: { useSourceIp: true, maglev: { tableSize: 65537 } } }
        connectionPool: { tcp: { maxConnections: 3 } }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: web }
spec:
  hosts: [web]
  http:
    - match: [{ sourceLabels: { app: canary-client } }]
      route: [{ destination: { host: web, port: { number: 80 } } }]
      fault: { abort: { grpcStatus: UNAVAILABLE, percentage: { value: 50 } } }
    - route: [{ destination: { host: web, port: { number: 80 } } }]
      mirrors: [{ destination: { host: plain }, percentage: { value: 5 } }]
      rewrite: { uriRegexRewrite: { match: "^/old/(.*)$", rewrite: "/new/\\\\1" } }
      retries: { attempts: 0 }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ext }
spec:
  hosts: [api.example.com]
  ports: [{ number: 443, name: tls, protocol: TLS }]
  resolution: DNS_ROUND_ROBIN
  endpoints: [{ address: a.example.com }, { address: b.example.com }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: passthrough }
spec:
  hosts: [any.example.org]
  ports: [{ number: 80, name: http, protocol: HTTP }]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: none }
spec:
  workloadSelector: { labels: { app: none-mode } }
  egress: [{ port: { number: 7000, protocol: HTTP, name: http }, captureMode: NONE, hosts: ["./*"] }]
`;

async function snapshot(): Promise<Awaited<ReturnType<typeof loadSnapshot>>> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-features-'));
  try {
    await fs.writeFile(path.join(dir, 'mesh.yaml'), YAML);
    return await loadSnapshot(dir);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

function webRoutes(g: ReturnType<typeof generateAll>): DecodedMessage[] {
  const vh = (g.routes.get('80')?.virtual_hosts as DecodedMessage[]).find((v) => v.name === 'web.default.svc.cluster.local:80');
  return vh?.routes as DecodedMessage[];
}

test('sourceLabels: a match only reaches proxies whose labels fit; gRPC-status abort; mirrors; regex rewrite; attempts 0', async () => {
  const { snapshot: s, problems } = await snapshot();
  assert.deepEqual(problems, []);
  const canary = webRoutes(generateAll(s, sidecarNode('10.1.0.1', 'c-1', { LABELS: { app: 'canary-client' } })));
  const other = webRoutes(generateAll(s, sidecarNode('10.1.0.2', 'o-1', { LABELS: { app: 'other' } })));
  assert.equal(canary.length, 2);
  assert.equal(other.length, 1);
  assert.deepEqual(get(canary[0], 'typed_per_filter_config', 'envoy.filters.http.fault', 'abort'), {
    percentage: { numerator: 500000, denominator: 'MILLION' }, grpc_status: 14,
  });
  const route = other[0].route as DecodedMessage;
  assert.deepEqual(route.request_mirror_policies, [
    { cluster: 'outbound|7000||plain.default.svc.cluster.local', runtime_fraction: { default_value: { numerator: 50000, denominator: 'MILLION' } } },
  ]);
  assert.deepEqual(route.regex_rewrite, { pattern: { regex: '^/old/(.*)$' }, substitution: '/new/\\1' });
  assert.equal(route.retry_policy, undefined, 'attempts: 0 turns retries off');
});

test('portLevelSettings override the top-level policy; a gRPC port gets HTTP/2 upstream options', async () => {
  const { snapshot: s } = await snapshot();
  const g = generateAll(s, sidecarNode('10.1.0.2', 'o-1'));
  assert.equal(g.clusters.get('outbound|80||web.default.svc.cluster.local')?.lb_policy, 'RANDOM');
  const grpc = g.clusters.get('outbound|9000||web.default.svc.cluster.local');
  assert.equal(grpc?.lb_policy, 'MAGLEV');
  assert.deepEqual(grpc?.maglev_lb_config, { table_size: 65537 });
  assert.equal(get(grpc, 'circuit_breakers', 'thresholds', 0, 'max_connections'), 3);
  assert.deepEqual(get(grpc, 'typed_extension_protocol_options', 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions', 'explicit_http_config'), { http2_protocol_options: {} });
  const hp = get(webRoutes(g)[0], 'route', 'hash_policy');
  assert.equal(hp, undefined, 'routes to port 80 carry no hash policy: consistent hashing is set for port 9000 only');
});

test('TCP VirtualService routes weight subsets on the tcp_proxy; DNS_ROUND_ROBIN → LOGICAL_DNS; resolution NONE → ORIGINAL_DST', async () => {
  const { snapshot: s } = await snapshot();
  const g = generateAll(s, sidecarNode('10.1.0.2', 'o-1'));
  const tp = get(g.listeners.get('10.0.0.9_6379'), 'filter_chains', 0, 'filters', 0, 'typed_config') as DecodedMessage;
  assert.deepEqual(tp.weighted_clusters, { clusters: [
    { name: 'outbound|6379|a|cache.default.svc.cluster.local', weight: 60 },
    { name: 'outbound|6379|b|cache.default.svc.cluster.local', weight: 40 },
  ] });
  const ext = g.clusters.get('outbound|443||api.example.com');
  assert.equal(ext?.type, 'LOGICAL_DNS');
  assert.equal((get(ext, 'load_assignment', 'endpoints', 0, 'lb_endpoints') as unknown[]).length, 1, 'LOGICAL_DNS takes one endpoint');
  const pass = g.clusters.get('outbound|80||any.example.org');
  assert.equal(pass?.type, 'ORIGINAL_DST');
  assert.equal(pass?.lb_policy, 'CLUSTER_PROVIDED');
});

test('an egress listener declared HTTP takes services whose port protocol Istio would sniff', async () => {
  const { snapshot: s } = await snapshot();
  const g = generateAll(s, sidecarNode('10.1.0.3', 'n-1', { LABELS: { app: 'none-mode' }, INTERCEPTION_MODE: 'NONE' }));
  assert.deepEqual([...g.listeners.keys()], ['127.0.0.1_7000']);
  const vhs = (g.routes.get('7000')?.virtual_hosts as DecodedMessage[]).map((v) => v.name);
  assert.deepEqual(vhs, ['plain.default.svc.cluster.local:7000']);
});
