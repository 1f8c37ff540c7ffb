/** One problem found in configuration, located by the field path Envoy users know (a.b[2].c). */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** Thrown when configuration is rejected; carries every issue found, not just the first. */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: ConfigIssue[] | ConfigIssue) {
    const list = Array.isArray(issues) ? issues : [issues];
    super(list.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('\n'));
    this.name = 'ConfigError';
    this.issues = list;
  }
}

/** Joins a field path the way error messages print it. */
export function joinPath(base: string, field: string | number): string {
  if (typeof field === 'number') return `${base}[${field}]`;
  return base ? `${base}.${field}` : field;
}

/**
 * Rejects fields that are set but not implemented, naming each by path.
 * `obj` is a decoded message (only fields present in the input are keys; see src/xds/decode.ts).
 */
export function rejectUnsupported(
  obj: object,
  path: string,
  supported: readonly string[],
  issues: ConfigIssue[],
): void {
  for (const key of Object.keys(obj)) {
    if (key === '@type') continue;
    if (!supported.includes(key)) {
      issues.push({ path: joinPath(path, key), message: 'field is not implemented by Weft' });
    }
  }
}
