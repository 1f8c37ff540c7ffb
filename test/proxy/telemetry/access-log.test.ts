import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ConfigIssue } from '../../../src/lib/config-error';
import { ResponseFlag, StreamInfo } from '../../../src/proxy/stream-info';
import { AccessLogFileManager, compileAccessLogs } from '../../../src/proxy/telemetry/access-log';
import { StatsStore } from '../../../src/proxy/telemetry/stats';

const FILE = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';

const tmpDirs: string[] = [];
after(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

function tmpFile(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-al-'));
  tmpDirs.push(dir);
  return path.join(dir, name);
}

function info(code: number, durationMs = 10, flags = 0): StreamInfo {
  const i = new StreamInfo();
  i.responseCode = code;
  i.durationMs = durationMs;
  i.responseFlags = flags;
  i.method = 'GET';
  i.path = '/p';
  i.protocol = 'HTTP/1.1';
  return i;
}

test('file logger writes text_format lines, buffered and flushed', async () => {
  const p = tmpFile('a.log');
  const stats = new StatsStore();
  const files = new AccessLogFileManager(stats);
  const issues: ConfigIssue[] = [];
  const loggers = compileAccessLogs(
    [{ name: 'envoy.access_loggers.file', typed_config: { '@type': FILE, path: p, log_format: { text_format_source: { inline_string: '%REQ(:METHOD)% %RESPONSE_CODE%\n' } } } }],
    'access_log',
    issues,
    { files },
  );
  assert.deepEqual(issues, []);
  assert.equal(loggers.length, 1);
  loggers[0].log(info(200));
  loggers[0].log(info(404));
  // Nothing written synchronously.
  assert.equal(stats.counter('filesystem.write_buffered').value, 2);
  await files.flushAll();
  assert.equal(fs.readFileSync(p, 'utf8'), 'GET 200\nGET 404\n');
  assert.equal(stats.counter('filesystem.write_completed').value, 1, 'one write per flush');
  assert.equal(stats.gauge('filesystem.write_total_buffered').value, 0);
  // Timer flush.
  loggers[0].log(info(201));
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(fs.readFileSync(p, 'utf8'), 'GET 200\nGET 404\nGET 201\n');
  assert.equal(stats.counter('filesystem.flushed_by_timer').value, 1);
  await files.closeAll();
});

test('default format, json_format and legacy format field', async () => {
  const p1 = tmpFile('d.log');
  const p2 = tmpFile('j.log');
  const files = new AccessLogFileManager();
  const issues: ConfigIssue[] = [];
  const loggers = compileAccessLogs(
    [
      { typed_config: { '@type': FILE, path: p1 } },
      { typed_config: { '@type': FILE, path: p2, log_format: { json_format: { code: '%RESPONSE_CODE%', m: { x: '%REQ(:METHOD)%' } } } } },
    ],
    'al',
    issues,
    { files },
  );
  assert.deepEqual(issues, []);
  for (const l of loggers) l.log(info(200));
  await files.flushAll();
  assert.match(fs.readFileSync(p1, 'utf8'), /^\[\d{4}-\d\d-\d\dT[\d:.]+Z\] "GET \/p HTTP\/1\.1" 200 - 0 0 10 - "-" "-" "-" "-" "-"\n$/);
  assert.deepEqual(JSON.parse(fs.readFileSync(p2, 'utf8')), { code: 200, m: { x: 'GET' } });
  await files.closeAll();
});

test('filters: status code, duration, response flags, and/or, not_health_check', async () => {
  const p = tmpFile('f.log');
  const files = new AccessLogFileManager();
  const issues: ConfigIssue[] = [];
  const fmt = { text_format: '%RESPONSE_CODE%\n' };
  const [geq500, slowOrUH, notHc] = compileAccessLogs(
    [
      {
        filter: { status_code_filter: { comparison: { op: 'GE', value: { default_value: 500, runtime_key: 'k' } } } },
        typed_config: { '@type': FILE, path: p + '.1', log_format: fmt },
      },
      {
        filter: {
          or_filter: {
            filters: [
              { duration_filter: { comparison: { op: 'GE', value: { default_value: 1000, runtime_key: 'd' } } } },
              { and_filter: { filters: [{ response_flag_filter: { flags: ['UH'] } }, { status_code_filter: { comparison: { value: { default_value: 503, runtime_key: 'x' } } } }] } },
            ],
          },
        },
        typed_config: { '@type': FILE, path: p + '.2', log_format: fmt },
      },
      { filter: { not_health_check_filter: {} }, typed_config: { '@type': FILE, path: p + '.3', log_format: fmt } },
    ],
    'al',
    issues,
    { files },
  );
  assert.deepEqual(issues, []);
  for (const i of [info(200), info(503), info(404, 2000), info(503, 5, ResponseFlag.NoHealthyUpstream), info(502, 5, ResponseFlag.NoHealthyUpstream)]) {
    geq500.log(i);
    slowOrUH.log(i);
    notHc.log(i);
  }
  const hc = info(200);
  (hc as StreamInfo & { healthCheck?: boolean }).healthCheck = true;
  notHc.log(hc);
  await files.flushAll();
  assert.equal(fs.readFileSync(p + '.1', 'utf8'), '503\n503\n502\n');
  assert.equal(fs.readFileSync(p + '.2', 'utf8'), '404\n503\n');
  assert.equal(fs.readFileSync(p + '.3', 'utf8'), '200\n503\n404\n503\n502\n');
  await files.closeAll();
});

test('config issues name their field paths', () => {
  const issues: ConfigIssue[] = [];
  const loggers = compileAccessLogs(
    [
      { typed_config: { '@type': FILE, path: '/tmp/x', log_format: { text_format: '%BOGUS%' } } },
      { filter: { runtime_filter: { runtime_key: 'x' } }, typed_config: { '@type': FILE, path: '/tmp/x' } },
      { typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig' } },
      { typed_config: { '@type': FILE, path: '/tmp/x', buffer_size_bytes: 10 } },
      { filter: { response_flag_filter: { flags: ['ZZ'] } }, typed_config: { '@type': FILE, path: '/tmp/x' } },
    ],
    'listeners[0].access_log',
    issues,
    { files: new AccessLogFileManager() },
  );
  assert.equal(loggers.length, 0);
  const paths = issues.map((i) => i.path);
  assert.ok(paths.includes('listeners[0].access_log[0].typed_config.log_format.text_format'), paths.join());
  assert.ok(issues.some((i) => i.path === 'listeners[0].access_log[0].typed_config.log_format.text_format' && /BOGUS/.test(i.message)));
  assert.ok(paths.includes('listeners[0].access_log[1].filter.runtime_filter'));
  assert.ok(paths.includes('listeners[0].access_log[2].typed_config.@type'));
  assert.ok(paths.includes('listeners[0].access_log[3].typed_config.buffer_size_bytes'));
  assert.ok(paths.includes('listeners[0].access_log[4].filter.response_flag_filter.flags[0]'));
});

test('buffer is bounded: overflow is dropped and counted', async () => {
  const p = tmpFile('b.log');
  const stats = new StatsStore();
  const files = new AccessLogFileManager(stats, { maxBufferBytes: 100, flushBytes: 1 << 20, flushIntervalMs: 10_000 });
  const issues: ConfigIssue[] = [];
  const [l] = compileAccessLogs([{ typed_config: { '@type': FILE, path: p, format: '%RESPONSE_CODE%..........\n' } }], 'al', issues, { files });
  assert.deepEqual(issues, []);
  for (let k = 0; k < 20; k++) l.log(info(200)); // 14 bytes each
  assert.equal(stats.counter('filesystem.write_buffered').value, 7);
  assert.equal(stats.counter('filesystem.write_dropped').value, 13);
  await files.flushAll();
  assert.equal(fs.readFileSync(p, 'utf8').split('\n').length - 1, 7);
  await files.closeAll();
});

test('reopen writes to a new file after rotation', async () => {
  const p = tmpFile('r.log');
  const files = new AccessLogFileManager();
  const issues: ConfigIssue[] = [];
  const [l] = compileAccessLogs([{ typed_config: { '@type': FILE, path: p, format: '%RESPONSE_CODE%\n' } }], 'al', issues, { files });
  l.log(info(200));
  await files.flushAll();
  fs.renameSync(p, p + '.1');
  await files.reopenAll();
  l.log(info(201));
  await files.flushAll();
  assert.equal(fs.readFileSync(p + '.1', 'utf8'), '200\n');
  assert.equal(fs.readFileSync(p, 'utf8'), '201\n');
  await files.closeAll();
});

test('write failure is counted, never thrown', async () => {
  const stats = new StatsStore();
  const files = new AccessLogFileManager(stats);
  const issues: ConfigIssue[] = [];
  const [l] = compileAccessLogs(
    [{ typed_config: { '@type': FILE, path: '/nonexistent-dir-weft/x.log', format: 'x\n' } }],
    'al',
    issues,
    { files },
  );
  l.log(info(200));
  await files.flushAll();
  assert.equal(stats.counter('filesystem.write_failed').value, 1);
  assert.equal(stats.counter('filesystem.reopen_failed').value, 1);
  await files.closeAll();
});
