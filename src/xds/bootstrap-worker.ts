import { fork } from 'node:child_process';
import { ConfigError, type ConfigIssue } from '../lib/config-error';
import type { DecodedMessage, DecodedValue } from './decoded';

/**
 * Decodes a bootstrap file in a short-lived child process. Loading Envoy's protos costs a process
 * about 25 MB of memory it never gives back (a worker thread still leaves ~6 MB behind); in a
 * child, all of it goes away with the child, which keeps an idle sidecar small.
 */

type Reply = { ok: true; bootstrap: DecodedMessage } | { ok: false; issues: ConfigIssue[] } | { ok: false; error: string };

/** Structured clone turns Buffers into Uint8Arrays; the decoded form promises Buffers. */
function reviveBuffers(v: DecodedValue | Uint8Array): DecodedValue {
  if (v instanceof Uint8Array) return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) return v.map(reviveBuffers);
  if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) {
    const out: DecodedMessage = {};
    for (const [k, x] of Object.entries(v)) out[k] = reviveBuffers(x);
    return out;
  }
  return v;
}

export function loadBootstrapFileIsolated(file: string): Promise<DecodedMessage> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, [DECODE_FLAG, file], { serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let replied = false;
    child.once('message', (r: Reply) => {
      replied = true;
      if (r.ok) resolve(reviveBuffers(r.bootstrap) as DecodedMessage);
      else if ('issues' in r) reject(new ConfigError(r.issues));
      else reject(new Error(r.error));
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (!replied) reject(new Error(`config decoder exited with code ${code} before answering`));
    });
  });
}

const DECODE_FLAG = '--weft-decode-bootstrap';

if (require.main === module && process.argv[2] === DECODE_FLAG && process.send !== undefined) {
  const send = (r: Reply): void => {
    process.send!(r, () => process.exit(0));
  };
  try {
    // Required here, not at the top: only the child loads protobufjs and the protos.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { loadBootstrapFile } = require('./bootstrap') as typeof import('./bootstrap');
    send({ ok: true, bootstrap: loadBootstrapFile(process.argv[3]).bootstrap });
  } catch (e) {
    if (e instanceof ConfigError) send({ ok: false, issues: [...e.issues] });
    else send({ ok: false, error: (e as Error).message });
  }
}
