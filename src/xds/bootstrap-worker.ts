import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { ConfigError, type ConfigIssue } from '../lib/config-error';
import type { DecodedMessage, DecodedValue } from './decoded';

/**
 * Decodes a bootstrap file in a worker thread. Loading Envoy's protos costs the process about
 * 25 MB of memory it never gives back; in a worker, that memory goes away with the worker, which
 * keeps an idle sidecar small.
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
    const worker = new Worker(__filename, { workerData: { file } });
    worker.once('message', (r: Reply) => {
      if (r.ok) resolve(reviveBuffers(r.bootstrap) as DecodedMessage);
      else if ('issues' in r) reject(new ConfigError(r.issues));
      else reject(new Error(r.error));
    });
    worker.once('error', reject);
  });
}

if (!isMainThread && parentPort !== null && (workerData as { file?: string } | null)?.file !== undefined) {
  const port = parentPort;
  try {
    // Required here, not at the top: the main thread must not load protobufjs and the protos.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { loadBootstrapFile } = require('./bootstrap') as typeof import('./bootstrap');
    const { bootstrap } = loadBootstrapFile((workerData as { file: string }).file);
    port.postMessage({ ok: true, bootstrap } satisfies Reply);
  } catch (e) {
    if (e instanceof ConfigError) port.postMessage({ ok: false, issues: [...e.issues] } satisfies Reply);
    else port.postMessage({ ok: false, error: (e as Error).message } satisfies Reply);
  }
}
