// Placeholder: the mesh-model engineer's implementation replaces this file at merge.
import type { ConfigProblem } from './contracts';

export async function validateConfigDir(dir: string): Promise<readonly ConfigProblem[]> {
  throw new Error(`model not merged: cannot validate ${dir}`);
}
