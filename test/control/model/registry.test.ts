import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { kubePortProtocol, parseProtocol } from '../../../src/control/registry/protocol';
import { fixtureDir, loadSnapshot } from '../generate/harness';

test("port protocol follows Istio's rules: appProtocol, then name prefix, then UDP", () => {
  assert.equal(kubePortProtocol('http', 'TCP', undefined), 'HTTP');
  assert.equal(kubePortProtocol('http-web', undefined, undefined), 'HTTP');
  assert.equal(kubePortProtocol('http2-x', undefined, undefined), 'HTTP2');
  assert.equal(kubePortProtocol('grpc', undefined, undefined), 'GRPC');
  assert.equal(kubePortProtocol('grpc-web-x', undefined, undefined), 'GRPC-WEB');
  assert.equal(kubePortProtocol('tcp-db', undefined, undefined), 'TCP');
  assert.equal(kubePortProtocol('web', undefined, 'http'), 'HTTP', 'appProtocol wins');
  assert.equal(kubePortProtocol('http', undefined, 'kubernetes.io/h2c'), 'HTTP2');
  assert.equal(kubePortProtocol('dns', 'UDP', undefined), 'UDP');
  assert.equal(kubePortProtocol('web', undefined, undefined), 'UNSUPPORTED', 'unclassified: Istio would sniff');
  assert.equal(kubePortProtocol(undefined, undefined, undefined), 'UNSUPPORTED');
  assert.equal(parseProtocol('grpc'), 'GRPC');
  assert.equal(parseProtocol('HTTPS'), 'HTTPS');
});

test('registry: Endpoints, EndpointSlices and pod selectors give endpoints with ready state, labels and locality', async () => {
  const { snapshot } = await loadSnapshot(fixtureDir('mesh'));
  const r = snapshot.model.registry;
  const [reviews] = r.byHost('reviews.default.svc.cluster.local');
  assert.deepEqual(reviews.addresses, ['10.96.0.11']);
  const eps = r.endpoints(reviews, 9080);
  assert.deepEqual(eps.map((e) => [e.address, e.port, e.ready, e.labels.version]), [
    ['127.0.1.11', 19081, true, 'v1'],
    ['127.0.1.12', 19082, true, 'v2'],
    ['127.0.1.13', 19083, false, 'v3'],
  ], 'named targetPort resolved per pod; Ready=False kept as not ready');
  assert.deepEqual(eps[0].locality, { region: 'r1', zone: 'z1', subZone: '' });
  const [ratings] = r.byHost('ratings.default.svc.cluster.local');
  assert.deepEqual(r.endpoints(ratings, 9080).map((e) => [e.address, e.port, e.ready]), [['127.0.1.40', 9080, true]], 'no targetPort: the port; phase Running: ready');
  const [db] = r.byHost('db.default.svc.cluster.local');
  assert.deepEqual(r.endpoints(db, 5432).map((e) => [e.address, e.port, e.ready, e.locality.zone]), [
    ['127.0.1.30', 15432, true, 'zone-a'],
    ['127.0.1.31', 15432, false, ''],
  ]);
  const [legacy] = r.byHost('legacy.internal');
  assert.equal(legacy.meshExternal, false);
  assert.deepEqual(r.endpoints(legacy, 8080).map((e) => [e.address, e.port, e.weight]), [['127.0.3.1', 18080, 3]]);
  assert.equal(r.workloadByIp('127.0.1.12')?.name, 'reviews-v2');
  assert.deepEqual(r.servicesOf(r.workloadByIp('127.0.1.11')!).map((m) => `${m.service.name}:${m.port.port}->${m.targetPort}`), ['reviews:9080->19081']);
});
