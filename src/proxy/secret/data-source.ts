import * as fs from 'node:fs';
import * as path from 'node:path';
import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { isObject, type Decoded } from '../../lib/decoded-read';

/**
 * envoy.config.core.v3.DataSource: inline_bytes, inline_string, filename, environment_variable.
 * Compiled once; `read()` returns the current bytes (files are re-read on every call, which is
 * only done at config time and on a watched reload — never per handshake).
 */

/** Files larger than this are refused: certificates and keys are a few KB. */
export const MAX_DATA_SOURCE_BYTES = 1024 * 1024;

export interface DataSource {
  /** The file this source reads, if any (to watch its directory). */
  readonly filename: string | undefined;
  /** Current bytes, or an Error saying what went wrong (never throws). */
  read(): Buffer | Error;
  /** For messages: "file /x/y" or "inline bytes". */
  readonly description: string;
}

const FIELDS = ['inline_bytes', 'inline_string', 'filename', 'environment_variable'];

export function compileDataSource(v: unknown, p: string, issues: ConfigIssue[]): DataSource | undefined {
  if (!isObject(v)) {
    issues.push({ path: p, message: 'expected a DataSource message' });
    return undefined;
  }
  rejectUnsupported(v, p, FIELDS, issues);
  const set = FIELDS.filter((f) => v[f] !== undefined);
  if (set.length !== 1) {
    issues.push({ path: p, message: set.length === 0 ? `one of ${FIELDS.join(', ')} is required` : `only one of ${set.join(', ')} may be set` });
    return undefined;
  }
  const kind = set[0];
  const value = (v as Decoded)[kind];
  switch (kind) {
    case 'inline_bytes': {
      const b = Buffer.isBuffer(value) ? value : typeof value === 'string' ? Buffer.from(value, 'base64') : undefined;
      if (b === undefined) {
        issues.push({ path: joinPath(p, kind), message: 'expected bytes' });
        return undefined;
      }
      return { filename: undefined, description: 'inline_bytes', read: () => b };
    }
    case 'inline_string': {
      if (typeof value !== 'string') {
        issues.push({ path: joinPath(p, kind), message: 'expected a string' });
        return undefined;
      }
      const b = Buffer.from(value);
      return { filename: undefined, description: 'inline_string', read: () => b };
    }
    case 'filename': {
      if (typeof value !== 'string' || value === '') {
        issues.push({ path: joinPath(p, kind), message: 'expected a non-empty file name' });
        return undefined;
      }
      const file = path.resolve(value);
      return { filename: file, description: `file ${file}`, read: () => readBoundedFile(file) };
    }
    default: {
      if (typeof value !== 'string' || value === '') {
        issues.push({ path: joinPath(p, kind), message: 'expected an environment variable name' });
        return undefined;
      }
      const name = value;
      return {
        filename: undefined,
        description: `environment variable ${name}`,
        read: () => {
          const s = process.env[name];
          return s === undefined ? new Error(`environment variable ${name} is not set`) : Buffer.from(s);
        },
      };
    }
  }
}

function readBoundedFile(file: string): Buffer | Error {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) return new Error(`${file} is not a regular file`);
    if (st.size > MAX_DATA_SOURCE_BYTES) return new Error(`${file} is larger than ${MAX_DATA_SOURCE_BYTES} bytes`);
    return fs.readFileSync(file);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return new Error(`cannot read ${file}: ${err.code ?? err.message}`);
  }
}
