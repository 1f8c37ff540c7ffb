/** `weft control --validate DIR`: every problem in a config directory, without serving it. */
import type { ConfigProblem } from './contracts';
import { loadConfigDir } from './config/loader';
import { buildRegistry } from './registry/registry';

export async function validateConfigDir(dir: string): Promise<readonly ConfigProblem[]> {
  const loaded = await loadConfigDir(dir);
  const problems = [...loaded.problems];
  buildRegistry(loaded.config, problems);
  return problems;
}

/** One line per problem, as `weft control --validate` prints them. */
export function formatProblem(p: ConfigProblem): string {
  const where = [p.file, p.resource, p.field].filter((s) => s !== '').join(': ');
  return `${where}: ${p.message}`;
}
