import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'yaml';
import { ConfigError, ConfigIssue } from '../../src/lib/config-error';
import { BOOTSTRAP_TYPE, loadBootstrapFile, loadBootstrapText } from '../../src/xds/bootstrap';
import { decodeBinary, DecodedMessage, encodeBinary } from '../../src/xds/decode';
import { FRONT_PROXY_YAML } from './fixtures';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-xds-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e;
  }
  assert.fail('expected a ConfigError');
}

test('a typical front-proxy bootstrap decodes clean', () => {
  const { bootstrap } = loadBootstrapFile(write('front-proxy.yaml', FRONT_PROXY_YAML));
  const sr = bootstrap.static_resources as DecodedMessage;
  assert.equal((sr.listeners as DecodedMessage[]).length, 3);
  const clusters = sr.clusters as DecodedMessage[];
  assert.deepEqual(clusters.map((c) => c.name), ['service1', 'service2', 'postgres', 'xds_cluster']);
  assert.equal(clusters[0].connect_timeout, 250);
  const tls = (clusters[1].transport_socket as DecodedMessage).typed_config as DecodedMessage;
  assert.equal(tls['@type'], 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
  assert.equal(tls.sni, 'service2.internal');
});

test('the front-proxy bootstrap survives json → decoded → binary → decoded', () => {
  const { bootstrap } = loadBootstrapText(FRONT_PROXY_YAML);
  const issues: ConfigIssue[] = [];
  const back = decodeBinary(BOOTSTRAP_TYPE, encodeBinary(BOOTSTRAP_TYPE, bootstrap), '', issues);
  assert.deepEqual(issues, []);
  assert.deepStrictEqual(back, bootstrap);
});

test('JSON is read as YAML', () => {
  const { bootstrap } = loadBootstrapFile(write('b.json', JSON.stringify(parse(FRONT_PROXY_YAML))));
  assert.deepStrictEqual(bootstrap, loadBootstrapText(FRONT_PROXY_YAML).bootstrap);
});

test('YAML anchors and merge keys work, as in Envoy', () => {
  const { bootstrap } = loadBootstrapText(`
static_resources:
  clusters:
  - &base
    name: a
    connect_timeout: 2s
    type: STRICT_DNS
  - <<: *base
    name: b
`);
  const clusters = (bootstrap.static_resources as DecodedMessage).clusters as DecodedMessage[];
  assert.deepStrictEqual(clusters[1], { name: 'b', connect_timeout: 2000, type: 'STRICT_DNS' });
});

test('a YAML syntax error is reported with line and column', () => {
  const file = write('broken.yaml', 'node:\n  id: a\nstatic_resources:\n  listeners: [\n');
  const err = configError(() => loadBootstrapFile(file));
  assert.equal(err.issues.length >= 1, true);
  assert.match(err.issues[0].message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: YAML syntax error`));
  const err2 = configError(() => loadBootstrapText('a: b: c', 'inline.yaml'));
  assert.match(err2.issues[0].message, /^inline\.yaml:1:\d+: YAML syntax error/);
});

test('every issue is reported, each with its path', () => {
  const err = configError(() =>
    loadBootstrapText(`
static_resources:
  clusters:
  - name: a
    connect_timeout: 0s
  - connect_timeout: 1s
    lb_polcy: ROUND_ROBIN
`),
  );
  assert.deepEqual(err.issues, [
    { path: 'static_resources.clusters[0].connect_timeout', message: 'value must be greater than 0s' },
    { path: 'static_resources.clusters[1].lb_polcy', message: 'unknown field "lb_polcy" in envoy.config.cluster.v3.Cluster' },
    { path: 'static_resources.clusters[1].name', message: 'value length must be at least 1 characters' },
  ]);
  assert.match(err.message, /static_resources\.clusters\[0\]\.connect_timeout: value must be greater than 0s/);
});

test('a missing file is a ConfigError', () => {
  const err = configError(() => loadBootstrapFile(path.join(dir, 'nope.yaml')));
  assert.match(err.issues[0].message, /cannot read/);
});
