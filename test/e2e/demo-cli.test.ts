import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from '../helpers/curl';
import { tempDir } from '../helpers/proxy';

/** `weft demo` refusing bad input before it starts anything (runs without the control plane). */

const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
const EXAMPLES = path.join(__dirname, '..', '..', '..', 'examples', 'demo');

describe('weft demo: bad input', () => {
  const tmp = tempDir('weft-demo-bad-');
  after(() => tmp.remove());

  test('a config dir that does not exist: exit 1 saying so, nothing started', async () => {
    const r = await run(process.execPath, [CLI, 'demo', '--config-dir', path.join(tmp.dir, 'nope'), '--duration', '1'], 30_000);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /nope is not a directory/);
    assert.doesNotMatch(r.stdout, /started/);
  });

  test('a mesh without a Sidecar for a Pod: exit 1 naming the Pod and the missing Sidecar', async () => {
    const dir = path.join(tmp.dir, 'mesh');
    fs.cpSync(EXAMPLES, dir, { recursive: true });
    fs.rmSync(path.join(dir, 'sidecars.yaml'));
    const r = await run(process.execPath, [CLI, 'demo', '--config-dir', dir, '--duration', '1'], 30_000);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /Pod\/default\/front-v1-0: no Sidecar selects it/);
    assert.doesNotMatch(r.stdout, /started/);
  });

  test('bad flags: exit 2 naming the flag', async () => {
    const port = await run(process.execPath, [CLI, 'demo', '--port', '70000'], 30_000);
    assert.equal(port.code, 2);
    assert.match(port.stderr, /--port must be a port number 1-65535, got 70000/);
    const xds = await run(process.execPath, [CLI, 'demo', '--xds-address', 'localhost'], 30_000);
    assert.equal(xds.code, 2);
    assert.match(xds.stderr, /--xds-address "localhost": expected ip:port/);
  });
});
