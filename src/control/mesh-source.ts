// Placeholder: the mesh-model engineer's implementation replaces this file at merge.
import type { MeshSource } from './contracts';

export async function openMeshSource(configDir: string): Promise<MeshSource> {
  throw new Error(`model not merged: cannot read ${configDir}`);
}
