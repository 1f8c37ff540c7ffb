import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../../src/lib/config-error';
import { ProxyServer } from '../../src/proxy/server';
import { loadBootstrapText } from '../../src/xds/bootstrap';
import { run } from '../helpers/curl';
import { simpleHttpBootstrap, tempDir, waitFor, within } from '../helpers/proxy';
import { getRequest, hasResponses, parseResponses, rawExchange } from '../helpers/raw';
import { startEchoUpstream, type EchoUpstream } from '../helpers/upstream';

const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

const GOOD = (upstreamPort: number): string => `
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
    - name: ingress
      address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: ingress
                route_config:
                  virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                        - match: { prefix: "/" }
                          route: { cluster: backend }
                http_filters:
                  - name: envoy.filters.http.router
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
    - name: backend
      type: STATIC
      connect_timeout: 1s
      load_assignment:
        cluster_name: backend
        endpoints:
          - lb_endpoints:
              - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${upstreamPort} } } }
`;

describe('weft proxy --mode validate', () => {
  const tmp = tempDir();
  after(() => tmp.remove());

  async function validate(yaml: string): Promise<{ code: number; out: string }> {
    const f = tmp.file(`c${Math.random().toString(36).slice(2)}.yaml`);
    fs.writeFileSync(f, yaml);
    const r = await run(process.execPath, [CLI, 'proxy', '-c', f, '--mode', 'validate'], 30_000);
    return { code: r.code, out: r.stdout + r.stderr };
  }

  test('a good configuration: exit 0', async () => {
    const r = await validate(GOOD(8080));
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /OK/);
  });

  test('an unknown field: exit 1 naming its path', async () => {
    const r = await validate(GOOD(8080).replace('      connect_timeout: 1s', '      connect_timeout: 1s\n      no_such_field: 3'));
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /static_resources\.clusters\[0\]\.no_such_field/);
  });

  test('an unimplemented http filter: exit 1 naming its path', async () => {
    const yaml = GOOD(8080).replace(
      '                http_filters:\n',
      '                http_filters:\n' +
        '                  - name: envoy.filters.http.rbac\n' +
        '                    typed_config:\n' +
        '                      "@type": type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC\n' +
        '                      rules: {}\n',
    );
    const r = await validate(yaml);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /static_resources\.listeners\[0\]\.filter_chains\[0\]\.filters\[0\]\.typed_config\.http_filters\[0\]/);
    assert.match(r.out, /not implemented/);
  });

  test('a YAML syntax error: exit 1 with a position', async () => {
    const r = await validate('static_resources:\n  clusters: [\n');
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /:\d+:\d+/);
  });

  test('a missing file: exit 1', async () => {
    const r = await run(process.execPath, [CLI, 'proxy', '-c', tmp.file('nope.yaml'), '--mode', 'validate'], 30_000);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nope\.yaml/);
  });
});

describe('ProxyServer.start() with an invalid configuration', () => {
  test('throws ConfigError listing every path, binds nothing', async () => {
    const cfg = simpleHttpBootstrap(9, { hcm: { request_timeout: '5s' } }) as { static_resources: { clusters: object[] } };
    cfg.static_resources.clusters.push({ ...(cfg.static_resources.clusters[0] as object) }); // duplicate name
    const { bootstrap } = loadBootstrapText(JSON.stringify(cfg));
    const server = new ProxyServer(bootstrap, { drainTimeS: 0 });
    try {
      await assert.rejects(server.start(), (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        const paths = e.issues.map((i) => i.path);
        assert.ok(paths.some((p) => p.endsWith('typed_config.request_timeout')), paths.join('\n'));
        assert.ok(paths.includes('static_resources.clusters[1].name'), paths.join('\n'));
        return true;
      });
      assert.deepEqual(server.listenerPorts(), {});
    } finally {
      await server.shutdown(0);
    }
  });
});

/** Runs `weft proxy` as a child process and learns its ports from its log. */
async function startCli(configFile: string): Promise<{ child: ChildProcess; admin: number; port: number; exited: Promise<number | null>; output: () => string }> {
  const child = spawn(process.execPath, [CLI, 'proxy', '-c', configFile, '--drain-time-s', '1', '-l', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await waitFor(() => /admin listening on 127\.0\.0\.1:\d+/.test(out) && /listener ingress on 127\.0\.0\.1:\d+/.test(out), 15_000, `proxy start:\n${out}`);
  const admin = Number(/admin listening on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
  const port = Number(/listener ingress on 127\.0\.0\.1:(\d+)/.exec(out)![1]);
  return { child, admin, port, exited, output: () => out };
}

describe('weft proxy as a child process', () => {
  let up: EchoUpstream;
  const tmp = tempDir();
  const children: ChildProcess[] = [];
  before(async () => {
    up = await startEchoUpstream();
    fs.writeFileSync(tmp.file('bootstrap.yaml'), GOOD(up.port));
  });
  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await up?.stop();
    tmp.remove();
  });

  test('serves, then POST /quitquitquit exits 0', async () => {
    const p = await startCli(tmp.file('bootstrap.yaml'));
    children.push(p.child);
    const r = await rawExchange(p.port, getRequest('/via-cli'), { until: hasResponses(1) });
    assert.equal(parseResponses(r.data)[0]?.status, 200, r.text);
    const ready = await fetch(`http://127.0.0.1:${p.admin}/ready`);
    assert.equal(await ready.text(), 'LIVE\n');
    const q = await fetch(`http://127.0.0.1:${p.admin}/quitquitquit`, { method: 'POST' });
    assert.equal(q.status, 200);
    const code = await within(p.exited, 10_000, 'timeout');
    assert.equal(code, 0, p.output());
    const after = await rawExchange(p.port, getRequest('/after-quit'), { timeoutMs: 1000 });
    assert.equal(after.error, 'ECONNREFUSED');
  });

  test('SIGTERM drains and exits 0', async () => {
    const p = await startCli(tmp.file('bootstrap.yaml'));
    children.push(p.child);
    p.child.kill('SIGTERM');
    const code = await within(p.exited, 10_000, 'timeout');
    assert.equal(code, 0, p.output());
  });
});
