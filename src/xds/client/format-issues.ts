import type { ConfigIssue } from '../../lib/config-error';

const MAX_ERROR_DETAIL_CHARS = 4096;

/** A NACK's error_detail message: every problem as "path: message", bounded. */
export function formatIssues(issues: readonly ConfigIssue[]): string {
  const text = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
  return text.length > MAX_ERROR_DETAIL_CHARS ? text.slice(0, MAX_ERROR_DETAIL_CHARS - 3) + '...' : text;
}
