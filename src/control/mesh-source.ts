/**
 * The mesh source for a directory of YAML: loads it, builds the registry, model and snapshot, and
 * watches the directory (a watch per directory, plus periodic rescans) to publish new snapshots.
 */
import type { ConfigProblem, MeshSnapshot, MeshSource } from './contracts';
import { loadConfigDir, type LoadResult } from './config/loader';
import { buildRegistry } from './registry/registry';
import { MeshModel } from './model/mesh';
import { Snapshot } from './generate/snapshot';
import { DirWatch } from '../lib/dir-watch';

export interface MeshSourceOptions {
  /** Coalesces bursts of file events (an editor's write + rename) into one reload. Default 10 ms. */
  readonly coalesceMs?: number;
  /** Rescans the directory this often, in case a watch event was missed; 0 turns it off. Default 5000 ms. */
  readonly rescanMs?: number;
  /** Told about reload failures (e.g. the directory vanished); the last good snapshot keeps serving. */
  readonly onError?: (err: Error) => void;
}

/** Builds a snapshot from a load result; problems found while joining resources are added to `problems`. */
export function buildSnapshot(loaded: LoadResult, problems: ConfigProblem[]): Snapshot {
  const registry = buildRegistry(loaded.config, problems);
  return new Snapshot(loaded.contentHash, new MeshModel(loaded.config, registry));
}

class DirectoryMeshSource implements MeshSource {
  private snapshot: Snapshot;
  private problemList: readonly ConfigProblem[];
  private readonly listeners: ((s: MeshSnapshot) => void)[] = [];
  private watcher: DirWatch | undefined;
  private coalesceTimer: NodeJS.Timeout | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(private readonly dir: string, first: LoadResult, private readonly options: MeshSourceOptions) {
    const problems = [...first.problems];
    this.snapshot = buildSnapshot(first, problems);
    this.problemList = problems;
  }

  start(): void {
    try {
      this.watcher = new DirWatch(this.dir, () => this.schedule(), { onError: (e) => this.options.onError?.(e) });
    } catch (e) {
      this.options.onError?.(e as Error);
    }
    const rescan = this.options.rescanMs ?? 5000;
    if (rescan > 0) {
      this.rescanTimer = setInterval(() => this.schedule(), rescan);
      this.rescanTimer.unref();
    }
  }

  current(): MeshSnapshot {
    return this.snapshot;
  }

  problems(): readonly ConfigProblem[] {
    return this.problemList;
  }

  onChange(listener: (snapshot: MeshSnapshot) => void): void {
    this.listeners.push(listener);
  }

  private schedule(): void {
    if (this.closed || this.coalesceTimer) return;
    this.coalesceTimer = setTimeout(() => {
      this.coalesceTimer = undefined;
      void this.reload();
    }, this.options.coalesceMs ?? 10);
  }

  /** One reload at a time; events during a reload cause exactly one more. */
  reload(): Promise<void> {
    if (this.reloading) {
      this.again = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      do {
        this.again = false;
        try {
          const loaded = await loadConfigDir(this.dir);
          if (this.closed) return;
          if (loaded.contentHash === this.snapshot.version) continue;
          const problems = [...loaded.problems];
          this.snapshot = buildSnapshot(loaded, problems);
          this.problemList = problems;
          for (const l of this.listeners) {
            try {
              l(this.snapshot);
            } catch (e) {
              this.options.onError?.(e as Error);
            }
          }
        } catch (e) {
          this.options.onError?.(e as Error);
        }
      } while (this.again && !this.closed);
    })().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.close();
    if (this.coalesceTimer) clearTimeout(this.coalesceTimer);
    if (this.rescanTimer) clearInterval(this.rescanTimer);
    await this.reloading;
  }
}

/** Opens a directory as the mesh's source; rejects if the directory cannot be read at all. */
export async function openMeshSource(configDir: string, options: MeshSourceOptions = {}): Promise<MeshSource> {
  const first = await loadConfigDir(configDir);
  const source = new DirectoryMeshSource(configDir, first, options);
  source.start();
  return source;
}
