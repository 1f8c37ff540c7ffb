import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Watches a directory tree for files being written, renamed in or removed. Node 20's recursive
 * fs.watch on Linux follows files it has seen by polling their stat, so a file replaced by rename
 * (how editors, kubectl-style tools and our tests save atomically) can go unnoticed for seconds or
 * entirely; a plain inotify watch per directory reports every entry change at once.
 */

export interface DirWatchOptions {
  /** At most this many directories are watched; deeper or further ones are reported once via onError. */
  maxDirectories?: number;
  onError?: (e: Error) => void;
}

const DEFAULT_MAX_DIRECTORIES = 1000;

export class DirWatch {
  private readonly watchers = new Map<string, fs.FSWatcher>();
  private readonly maxDirectories: number;
  private overflowReported = false;
  private closed = false;

  /** `onChange` gets the changed entry's path relative to the root ('' when unknown). */
  constructor(
    private readonly root: string,
    private readonly onChange: (relativePath: string) => void,
    private readonly options: DirWatchOptions = {},
  ) {
    this.maxDirectories = options.maxDirectories ?? DEFAULT_MAX_DIRECTORIES;
    this.watchTree(root);
  }

  close(): void {
    this.closed = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  private watchTree(dir: string): void {
    if (this.closed || this.watchers.has(dir)) return;
    if (this.watchers.size >= this.maxDirectories) {
      if (!this.overflowReported) this.options.onError?.(new Error(`not watching ${dir}: more than ${this.maxDirectories} directories`));
      this.overflowReported = true;
      return;
    }
    let watcher: fs.FSWatcher;
    try {
      watcher = fs.watch(dir, (_event, name) => this.onEvent(dir, name === null ? '' : String(name)));
    } catch (e) {
      if (dir === this.root) throw e;
      return; // a subdirectory removed meanwhile
    }
    watcher.on('error', (e) => {
      watcher.close();
      this.watchers.delete(dir);
      if (dir === this.root) this.options.onError?.(e);
    });
    this.watchers.set(dir, watcher);
    let entries: fs.Dirent[] = [];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory() && !e.name.startsWith('.')) this.watchTree(path.join(dir, e.name));
  }

  private onEvent(dir: string, name: string): void {
    if (this.closed) return;
    const full = name === '' ? dir : path.join(dir, name);
    if (name !== '' && !name.startsWith('.')) {
      let isDir = false;
      try {
        isDir = fs.statSync(full).isDirectory();
      } catch {
        // removed: a watched subdirectory's own watcher reports its error and is dropped
      }
      if (isDir) this.watchTree(full);
    }
    this.onChange(path.relative(this.root, full));
  }
}
