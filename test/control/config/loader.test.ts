import { strict as assert } from 'node:assert';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadConfigDir, LIMITS } from '../../../src/control/config/loader';
import { parseDurationMs } from '../../../src/control/config/schema';
import { validateConfigDir } from '../../../src/control/validate';
import { fixtureDir } from '../generate/harness';

test('the mesh fixture loads whole, with no problems', async () => {
  const r = await loadConfigDir(fixtureDir('mesh'));
  assert.deepEqual(r.problems, []);
  assert.equal(r.config.services.length, 5);
  assert.equal(r.config.virtualServices.length, 4);
  assert.equal(r.config.destinationRules.length, 2);
  assert.equal(r.config.pods.length, 5);
  assert.equal(r.config.serviceEntries.length, 2);
  assert.equal(r.config.workloadEntries.length, 1);
  assert.equal(r.config.gateways.length, 1);
  assert.equal(r.config.sidecars.length, 1);
  assert.equal(r.config.endpoints.length, 1);
  assert.equal(r.config.endpointSlices.length, 1);
  const again = await loadConfigDir(fixtureDir('mesh'));
  assert.equal(again.contentHash, r.contentHash, 'same files, same version');
});

test('invalid resources are reported by file, resource and field, and skipped; the rest loads', async () => {
  const r = await loadConfigDir(fixtureDir('invalid'));
  const find = (resource: string, field: string) => r.problems.find((p) => p.resource === resource && p.field === field);
  assert.match(find('VirtualService/default/bad-weights', 'spec.http[0].route')?.message ?? '', /sum to 100.*got 90/);
  assert.match(find('VirtualService/default/bad-duration', 'spec.http[0].timeout')?.message ?? '', /invalid duration "5 seconds"/);
  assert.match(find('DestinationRule/default/bad-field', 'spec.trafficPolicy.conectionPool')?.message ?? '', /unknown field "conectionPool"/);
  assert.match(find('VirtualService/default/bad-regex', 'spec.http[0].match[0].uri.regex')?.message ?? '', /invalid RE2 regex/);
  assert.match(find('DestinationRule/default/tls-mutual', 'spec.trafficPolicy.tls.mode')?.message ?? '', /ISTIO_MUTUAL is not supported/);
  assert.match(find('VirtualService/default/delegate', 'spec.http[0].delegate')?.message ?? '', /not implemented by Weft/);
  assert.match(find('PeerAuthentication/default/strict', 'kind')?.message ?? '', /unknown kind "PeerAuthentication"/);
  assert.match(find('Sidecar/default/bad-endpoint', 'spec.ingress[0].defaultEndpoint')?.message ?? '', /must be "IP:port"/);
  assert.match(find('Sidecar/default/clash', 'spec.egress[1].port.number')?.message ?? '', /already used by spec.egress\[0\]/);
  const syntax = r.problems.find((p) => p.file === 'syntax.yaml');
  assert.ok(syntax, 'a YAML syntax error is reported with its file');
  assert.match(syntax.message, /YAML syntax error \(line \d+, column \d+\)/);
  for (const p of r.problems) assert.ok(p.file === 'bad.yaml' || p.file === 'syntax.yaml');
  assert.deepEqual(r.config.virtualServices.map((v) => v.meta.name), ['good']);
  assert.equal(r.config.destinationRules.length, 0);
});

test('validateConfigDir lists the same problems without serving', async () => {
  const problems = await validateConfigDir(fixtureDir('invalid'));
  assert.ok(problems.length >= 9);
  assert.deepEqual(await validateConfigDir(fixtureDir('mesh')), []);
});

test('durations: Istio/Go forms parse, others do not', () => {
  assert.equal(parseDurationMs('1.5s'), 1500);
  assert.equal(parseDurationMs('100ms'), 100);
  assert.equal(parseDurationMs('1m30s'), 90_000);
  assert.equal(parseDurationMs('2h'), 7_200_000);
  assert.equal(parseDurationMs('0'), 0);
  assert.equal(parseDurationMs('5'), undefined);
  assert.equal(parseDurationMs('5 s'), undefined);
  assert.equal(parseDurationMs('-1s'), undefined);
});

test('wrong apiVersion, missing name, duplicates, oversized files and List documents', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-config-'));
  try {
    await fs.writeFile(path.join(dir, 'a.yaml'), [
      'apiVersion: networking.istio.io/v2\nkind: VirtualService\nmetadata: { name: x }\nspec: { hosts: [a], http: [{ route: [{ destination: { host: a } }] }] }',
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {}\nspec: { hosts: [a], http: [{ route: [{ destination: { host: a } }] }] }',
      'apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: { name: s1 }\n  spec: { ports: [{ port: 80, name: http }] }\n- apiVersion: v1\n  kind: Service\n  metadata: { name: s1 }\n  spec: { ports: [{ port: 81, name: http }] }',
    ].join('\n---\n'));
    await fs.mkdir(path.join(dir, 'sub'));
    await fs.writeFile(path.join(dir, 'sub', 'big.yaml'), Buffer.alloc(LIMITS.maxFileBytes + 1, 0x20));
    await fs.writeFile(path.join(dir, 'sub', 'notes.txt'), 'not config');
    const r = await loadConfigDir(dir);
    const fields = r.problems.map((p) => `${p.file}|${p.resource}|${p.field}`);
    assert.ok(fields.includes('a.yaml|VirtualService/default/x|apiVersion'), fields.join('\n'));
    assert.ok(fields.includes('a.yaml|VirtualService/default/?|metadata.name'), fields.join('\n'));
    assert.ok(fields.includes('a.yaml|Service/default/s1|metadata.name'), 'duplicate is reported');
    const big = r.problems.find((p) => p.file === path.join('sub', 'big.yaml'));
    assert.match(big?.message ?? '', /over the \d+-byte limit/);
    assert.equal(r.config.services.length, 1);
    assert.equal(r.config.services[0].spec.ports?.[0].port, 80, 'the first definition wins');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('Istio fields Weft does not implement are rejected by path; the same field elsewhere is fine', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-config-'));
  try {
    await fs.writeFile(path.join(dir, 'vs.yaml'), [
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: http-port }\nspec: { hosts: [a], http: [{ match: [{ port: 80 }], route: [{ destination: { host: a } }] }] }',
      'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: tcp-port }\nspec: { hosts: [a], tcp: [{ match: [{ port: 80 }], route: [{ destination: { host: a } }] }] }',
      'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: locality }\nspec: { host: a, subsets: [{ name: v1, trafficPolicy: { loadBalancer: { localityLbSetting: { enabled: true } } } }] }',
    ].join('\n---\n'));
    const r = await loadConfigDir(dir);
    assert.deepEqual(r.problems.map((p) => `${p.resource} ${p.field}`), [
      'VirtualService/default/http-port spec.http[0].match[0].port',
      'DestinationRule/default/locality spec.subsets[0].trafficPolicy.loadBalancer.localityLbSetting',
    ]);
    assert.match(r.problems[0].message, /not implemented by Weft yet/);
    assert.deepEqual(r.config.virtualServices.map((v) => v.meta.name), ['tcp-port']);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('reloading reuses the parse of unchanged files: results are independent copies, an edited file is read anew, syntax errors are reported every time', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-loader-cache-'));
  try {
    const vs = (weight: number): string => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: r, namespace: default }
spec:
  hosts: [r.default.svc.cluster.local]
  http:
  - route:
    - destination: { host: r.default.svc.cluster.local }
      weight: ${weight}
    - destination: { host: s.default.svc.cluster.local }
      weight: ${100 - weight}
`;
    await fs.writeFile(path.join(dir, 'vs.yaml'), vs(90));
    await fs.writeFile(path.join(dir, 'broken.yaml'), 'kind: [unclosed\n');
    const first = await loadConfigDir(dir);
    const weightOf = (r: typeof first): unknown => (r.config.virtualServices[0].spec as unknown as { http: Array<{ route: Array<{ weight: number }> }> }).http[0].route[0].weight;
    assert.equal(weightOf(first), 90);
    assert.equal(first.problems.filter((p) => p.file === 'broken.yaml').length, 1);
    // A consumer changing what it was given does not change the next load.
    (first.config.virtualServices[0].spec as unknown as { http: Array<{ route: Array<{ weight: number }> }> }).http[0].route[0].weight = 1;
    const second = await loadConfigDir(dir);
    assert.equal(weightOf(second), 90);
    assert.deepEqual(second.problems, first.problems);
    await fs.writeFile(path.join(dir, 'vs.yaml'), vs(70));
    const third = await loadConfigDir(dir);
    assert.equal(weightOf(third), 70);
    assert.notEqual(third.contentHash, second.contentHash);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
