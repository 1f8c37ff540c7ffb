import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { Pool, request } from 'undici';
import { curl, run } from '../helpers/curl';
import { startNginx, type Nginx } from '../helpers/nginx';
import { simpleHttpBootstrap, startProxy, tempDir, type RunningProxy } from '../helpers/proxy';

/** nginx (a real server we did not write) as the upstream, and wrk through Weft. */
describe('nginx upstream and wrk', () => {
  let ng: Nginx;
  let px: RunningProxy;
  let url: string;
  const tmp = tempDir();
  const file = Buffer.alloc(100_000);
  for (let i = 0; i < file.length; i++) file[i] = 32 + (i % 90);

  before(async () => {
    fs.mkdirSync(`${tmp.dir}/html`);
    fs.writeFileSync(`${tmp.dir}/html/file.txt`, file);
    ng = await startNginx(`
      root ${tmp.dir}/html;
      client_max_body_size 20m;
      location = /file.txt { }
      location /echo { add_header X-Nginx yes; return 200 "$request_method $request_uri rid=$http_x_request_id len=$content_length\\n"; }
      location /upload { client_body_buffer_size 64k; return 200 "got $content_length\\n"; }
      location / { return 200 "nginx-ok\\n"; }
    `);
    px = await startProxy(simpleHttpBootstrap(ng.port));
    url = `http://127.0.0.1:${px.port}`;
  });
  after(async () => {
    await px?.stop();
    await ng?.stop();
    tmp.remove();
  });

  test('GET through Weft to nginx', async () => {
    const r = await curl(`${url}/echo/path?a=b`);
    assert.equal(r.status, 200, r.stderr);
    assert.equal(r.headers['x-nginx'], 'yes');
    assert.equal(r.headers['server'], 'envoy', 'the proxy overwrites server');
    assert.match(r.body.toString(), /^GET \/echo\/path\?a=b rid=[0-9a-f-]{36} len=\n$/);
  });

  test('a static file from nginx: GET body intact, HEAD keeps Content-Length', async () => {
    const g = await request(`${url}/file.txt`);
    assert.equal(g.statusCode, 200);
    const body = Buffer.from(await g.body.arrayBuffer());
    assert.ok(body.equals(file));
    const h = await request(`${url}/file.txt`, { method: 'HEAD' });
    assert.equal(h.statusCode, 200);
    assert.equal(h.headers['content-length'], String(file.length));
    assert.equal((await h.body.arrayBuffer()).byteLength, 0);
    const c = await curl(`${url}/missing.txt`);
    assert.equal(c.status, 200, 'falls to location / (return 200)');
  });

  test('POST bodies to nginx (Content-Length and chunked, 2 MB)', async () => {
    const f = tmp.file('upload.bin');
    fs.writeFileSync(f, Buffer.alloc(2 * 1024 * 1024, 7));
    const a = await curl(`${url}/upload`, ['--data-binary', `@${f}`]);
    assert.equal(a.status, 200, a.stderr);
    assert.equal(a.body.toString(), `got ${2 * 1024 * 1024}\n`);
    const b = await curl(`${url}/upload`, ['--data-binary', `@${f}`, '-H', 'Transfer-Encoding: chunked']);
    assert.equal(b.status, 200, b.stderr);
    assert.match(b.body.toString(), /^got \d*\n$/, 'nginx read the chunked body (its $content_length for chunked varies)');
  });

  test('keep-alive to nginx: one upstream connection for sequential requests', async () => {
    const before = await px.stat('cluster.backend.upstream_cx_total');
    const pool = new Pool(url, { connections: 1 });
    try {
      for (let i = 0; i < 20; i++) {
        const r = await pool.request({ path: `/echo/${i}`, method: 'GET' });
        assert.equal(r.statusCode, 200);
        await r.body.text();
      }
    } finally {
      await pool.close();
    }
    const after = await px.stat('cluster.backend.upstream_cx_total');
    assert.ok(after - before <= 1, `new upstream connections: ${after - before}`);
    assert.ok(after >= 1);
  });

  test('wrk -t1 -c8 -d2s through Weft: no errors, stats agree', async () => {
    const before = await px.stats();
    const r = await run('wrk', ['-t1', '-c8', '-d2s', `${url}/`], 30_000);
    assert.equal(r.code, 0, r.stderr);
    const m = /(\d+) requests in/.exec(r.stdout);
    assert.ok(m, r.stdout);
    const n = Number(m[1]);
    assert.ok(n > 0, r.stdout);
    assert.doesNotMatch(r.stdout, /Socket errors/, r.stdout);
    assert.doesNotMatch(r.stdout, /Non-2xx or 3xx responses/, r.stdout);
    const s = await px.stats();
    const d2xx = s['http.ingress.downstream_rq_2xx'] - (before['http.ingress.downstream_rq_2xx'] ?? 0);
    const u2xx = s['cluster.backend.upstream_rq_2xx'] - (before['cluster.backend.upstream_rq_2xx'] ?? 0);
    assert.ok(d2xx >= n, `downstream_rq_2xx grew by ${d2xx}, wrk counted ${n}`);
    assert.ok(u2xx >= n, `upstream_rq_2xx grew by ${u2xx}, wrk counted ${n}`);
    assert.equal(s['http.ingress.downstream_rq_5xx'] ?? 0, before['http.ingress.downstream_rq_5xx'] ?? 0);
    assert.ok(s['cluster.backend.upstream_cx_total'] - (before['cluster.backend.upstream_cx_total'] ?? 0) <= 16, 'connections are pooled');
  });
});
