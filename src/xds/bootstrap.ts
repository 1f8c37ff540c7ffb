import * as fs from 'node:fs';
import { parseDocument } from 'yaml';
import { ConfigError, ConfigIssue } from '../lib/config-error';
import { decodeJson } from './decode';
import { DecodedMessage } from './decoded';

export const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap';

/** Parses YAML (or JSON, which is YAML) text; syntax errors become issues with line:column. */
export function parseYaml(text: string, source: string, issues: ConfigIssue[]): unknown {
  // Envoy's YAML loader accepts "<<" merge keys, so Weft does too.
  const doc = parseDocument(text, { merge: true, prettyErrors: true });
  for (const err of doc.errors) {
    const pos = err.linePos?.[0];
    const where = pos ? `${source}:${pos.line}:${pos.col}` : source;
    issues.push({ path: '', message: `${where}: YAML syntax error: ${err.message.split('\n')[0]}` });
  }
  if (doc.errors.length > 0) return undefined;
  return doc.toJS({ maxAliasCount: 1000 });
}

/** Decodes a Bootstrap from YAML/JSON text. Throws ConfigError carrying every issue found. */
export function loadBootstrapText(text: string, source = '<bootstrap>'): { bootstrap: DecodedMessage } {
  const issues: ConfigIssue[] = [];
  const input = parseYaml(text, source, issues);
  if (issues.length > 0) throw new ConfigError(issues);
  const bootstrap = decodeJson(BOOTSTRAP_TYPE, input ?? {}, '', issues);
  if (issues.length > 0 || !bootstrap) throw new ConfigError(issues);
  return { bootstrap };
}

/** Reads and decodes a Bootstrap file (YAML or JSON). Throws ConfigError carrying every issue found. */
export function loadBootstrapFile(file: string): { bootstrap: DecodedMessage } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError({ path: '', message: `cannot read ${file}: ${(e as Error).message}` });
  }
  return loadBootstrapText(text, file);
}
