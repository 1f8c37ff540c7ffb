import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { TYPE_URL, type MeshSnapshot } from '../../../src/control/contracts';
import { openMeshSource } from '../../../src/control/mesh-source';
import type { DecodedMessage } from '../../../src/xds/decoded';
import { sidecarNode } from '../generate/harness';

const SERVICES = `apiVersion: v1
kind: Service
metadata: { name: reviews }
spec: { ports: [{ name: http, port: 9080 }] }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews }
spec: { host: reviews, subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }] }
`;

const vs = (w1: number, w2: number): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: reviews }
spec:
  hosts: [reviews]
  http: [{ route: [{ destination: { host: reviews, subset: v1 }, weight: ${w1} }, { destination: { host: reviews, subset: v2 }, weight: ${w2} }] }]
`;

function weights(s: MeshSnapshot): number[] {
  const [rc] = s.generate(sidecarNode('10.0.0.1', 'client-1'), TYPE_URL.route);
  const vh = (rc.resource.virtual_hosts as DecodedMessage[]).find((v) => v.name === 'reviews.default.svc.cluster.local:9080');
  const route = (vh?.routes as DecodedMessage[])[0].route as DecodedMessage;
  return ((route.weighted_clusters as DecodedMessage).clusters as DecodedMessage[]).map((c) => Number(c.weight));
}

/**
 * Resolves with the first published snapshot that satisfies `pred`. An in-place write can be seen
 * half-done (truncated, then written), so intermediate snapshots are allowed before the final one.
 */
function snapshotWhere(waiters: ((s: MeshSnapshot) => void)[], pred: (s: MeshSnapshot) => boolean): Promise<MeshSnapshot> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no matching snapshot within 10 s')), 10_000);
    const check = (s: MeshSnapshot): void => {
      if (pred(s)) {
        clearTimeout(timer);
        resolve(s);
      } else waiters.push(check);
    };
    waiters.push(check);
  });
}

function safeWeights(s: MeshSnapshot): number[] | undefined {
  try {
    return weights(s);
  } catch {
    return undefined;
  }
}

test('watch: editing a file publishes a new snapshot; a bad edit is reported and skipped; removing a file removes its resources', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-watch-'));
  await fs.writeFile(path.join(dir, 'services.yaml'), SERVICES);
  await fs.mkdir(path.join(dir, 'routing'));
  await fs.writeFile(path.join(dir, 'routing', 'vs.yaml'), vs(90, 10));
  const source = await openMeshSource(dir, { rescanMs: 200 });
  const waiters: ((s: MeshSnapshot) => void)[] = [];
  source.onChange((s) => waiters.splice(0).forEach((w) => w(s)));
  try {
    const first = source.current();
    assert.deepEqual(source.problems(), []);
    assert.deepEqual(weights(first), [90, 10]);

    let change = snapshotWhere(waiters, (s) => safeWeights(s)?.join() === '20,80');
    await fs.writeFile(path.join(dir, 'routing', 'vs.yaml'), vs(20, 80));
    const second = await change;
    assert.notEqual(second.version, first.version);
    assert.deepEqual(weights(second), [20, 80]);

    change = snapshotWhere(waiters, () => source.problems().length > 0);
    await fs.writeFile(path.join(dir, 'routing', 'vs.yaml'), vs(20, 70));
    const third = await change;
    const [problem] = source.problems();
    assert.equal(problem.file, path.join('routing', 'vs.yaml'));
    assert.equal(problem.resource, 'VirtualService/default/reviews');
    assert.equal(problem.field, 'spec.http[0].route');
    // The invalid VirtualService is skipped: the service falls back to its default route.
    const [rc] = third.generate(sidecarNode('10.0.0.1', 'client-1'), TYPE_URL.route);
    const vh = (rc.resource.virtual_hosts as DecodedMessage[]).find((v) => v.name === 'reviews.default.svc.cluster.local:9080');
    assert.equal(((vh?.routes as DecodedMessage[])[0].route as DecodedMessage).cluster, 'outbound|9080||reviews.default.svc.cluster.local');

    change = snapshotWhere(waiters, (s) => s.generate(sidecarNode('10.0.0.1', 'client-1'), TYPE_URL.cluster).every((r) => !r.name.startsWith('outbound|')));
    await fs.rm(path.join(dir, 'services.yaml'));
    const fourth = await change;
    assert.equal(fourth.generate(sidecarNode('10.0.0.1', 'client-1'), TYPE_URL.cluster).filter((r) => r.name.startsWith('outbound|')).length, 0);
  } finally {
    await source.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('openMeshSource rejects a directory that does not exist, naming it', async () => {
  const missing = path.join(os.tmpdir(), 'weft-no-such-dir-' + process.pid);
  await assert.rejects(openMeshSource(missing), new RegExp(`cannot read config directory ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
});
