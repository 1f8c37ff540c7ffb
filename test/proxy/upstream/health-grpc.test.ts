import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { decodeServingStatus, encodeHealthCheckRequest } from '../../../src/proxy/upstream/health/grpc-probe';
import { build, endpoint, staticCluster } from './helpers';
import { waitFor } from './health-helpers';

// grpc.health.v1 messages, hand-encoded (HealthCheckRequest{service=1}, HealthCheckResponse{status=1}).
function decodeRequest(buf: Buffer): { service: string } {
  // The probe's frame minus the 5-byte gRPC prefix is what grpc-js hands us.
  if (buf.length === 0) return { service: '' };
  assert.equal(buf[0], 0x0a);
  return { service: buf.subarray(2, 2 + buf[1]).toString('utf8') };
}
function encodeResponse(status: number): Buffer {
  return Buffer.from([0x08, status]);
}

const UNKNOWN = 0;
const SERVING = 1;
const NOT_SERVING = 2;

async function startHealthServer(statuses: Map<string, number>): Promise<{ port: number; seen: string[]; metadata: grpc.Metadata[]; stop(): Promise<void> }> {
  const server = new grpc.Server();
  const seen: string[] = [];
  const metadata: grpc.Metadata[] = [];
  server.addService(
    {
      Check: {
        path: '/grpc.health.v1.Health/Check',
        requestStream: false,
        responseStream: false,
        requestSerialize: (v: { service: string }) => Buffer.from(v.service),
        requestDeserialize: decodeRequest,
        responseSerialize: (v: number) => encodeResponse(v),
        responseDeserialize: (b: Buffer) => b[1],
      },
    },
    {
      Check: (call: grpc.ServerUnaryCall<{ service: string }, number>, cb: grpc.sendUnaryData<number>) => {
        seen.push(call.request.service);
        metadata.push(call.metadata);
        const st = statuses.get(call.request.service);
        if (st === undefined) cb({ code: grpc.status.NOT_FOUND, details: 'unknown service' });
        else cb(null, st);
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port,
    seen,
    metadata,
    stop: () => new Promise<void>((r) => server.tryShutdown(() => r())).then(() => server.forceShutdown()),
  };
}

test('grpc.health.v1 wire helpers', () => {
  assert.deepEqual(encodeHealthCheckRequest(''), Buffer.from([0, 0, 0, 0, 0]));
  assert.deepEqual(encodeHealthCheckRequest('ab'), Buffer.from([0, 0, 0, 0, 4, 0x0a, 2, 0x61, 0x62]));
  assert.equal(decodeServingStatus(Buffer.from([0x08, 1])), SERVING);
  assert.equal(decodeServingStatus(Buffer.alloc(0)), UNKNOWN);
  assert.equal(decodeServingStatus(Buffer.from([0x08])), -1);
});

test('gRPC health check against a @grpc/grpc-js grpc.health.v1 server', async () => {
  const statuses = new Map<string, number>([['svc.Echo', SERVING]]);
  const srv = await startHealthServer(statuses);
  const { cluster, stats } = build(
    staticCluster('grpc', [endpoint('127.0.0.1', srv.port)], {
      health_checks: [
        {
          timeout: 2000,
          interval: 50,
          no_traffic_interval: 50,
          unhealthy_threshold: 2,
          healthy_threshold: 2,
          grpc_health_check: { service_name: 'svc.Echo', initial_metadata: [{ header: { key: 'x-probe', value: 'weft' } }] },
        },
      ],
    }),
  );
  try {
    const [h] = cluster.allHosts();
    await cluster.whenInitialized();
    assert.equal(h.healthy, true, h.healthFlagsString);
    assert.equal(srv.seen[0], 'svc.Echo');
    assert.deepEqual(srv.metadata[0].get('x-probe'), ['weft']);
    assert.deepEqual(srv.metadata[0].get('user-agent')[0], 'Envoy/HC');

    statuses.set('svc.Echo', NOT_SERVING);
    await waitFor(() => !h.healthy, 'NOT_SERVING fails at once');
    assert.equal(stats.counters.get('cluster.grpc.health_check.network_failure')!.value, 0);
    statuses.set('svc.Echo', SERVING);
    await waitFor(() => h.healthy, 'SERVING again');

    // Unknown service: grpc-status NOT_FOUND is a failure.
    statuses.delete('svc.Echo');
    await waitFor(() => !h.healthy, 'NOT_FOUND fails');
    statuses.set('svc.Echo', SERVING);
    await waitFor(() => h.healthy, 'recovered');
    assert.ok(stats.counters.get('cluster.grpc.health_check.success')!.value >= 3);
  } finally {
    cluster.close();
    await srv.stop();
  }
});

test('gRPC health check: a dead server is a network failure', async () => {
  const statuses = new Map<string, number>([['', SERVING]]);
  const srv = await startHealthServer(statuses);
  const { cluster, stats } = build(
    staticCluster('grpc2', [endpoint('127.0.0.1', srv.port)], {
      health_checks: [
        { timeout: 500, interval: 50, no_traffic_interval: 50, unhealthy_threshold: 2, healthy_threshold: 1, reuse_connection: false, grpc_health_check: {} },
      ],
    }),
  );
  try {
    const [h] = cluster.allHosts();
    await waitFor(() => h.healthy, 'healthy with empty service name');
    await srv.stop();
    await waitFor(() => !h.healthy, 'unhealthy after the server went away');
    assert.ok(stats.counters.get('cluster.grpc2.health_check.network_failure')!.value >= 2);
  } finally {
    cluster.close();
    await srv.stop();
  }
});
