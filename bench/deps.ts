// The benchmark's system tools. Missing ones are installed from Debian (as root), running
// `apt-get update` only if a first install attempt fails.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

/** Binary → Debian package. */
const TOOLS: Record<string, string> = {
  nginx: 'nginx',
  haproxy: 'haproxy',
  wrk: 'wrk',
  h2load: 'nghttp2-client',
  taskset: 'util-linux',
  getconf: 'libc-bin',
};

const EXTRA_DIRS = ['/usr/sbin', '/sbin', '/usr/local/sbin'];

/** Absolute path of a binary on PATH or in the sbin directories, if any. */
export function which(bin: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    try {
      accessSync(`${dir}/${bin}`, constants.X_OK);
      return `${dir}/${bin}`;
    } catch {
      // next
    }
  }
  return undefined;
}

function apt(args: string[]): boolean {
  console.error(`bench: apt-get ${args.join(' ')}`);
  const r = spawnSync('apt-get', args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return r.status === 0;
}

/** Makes sure every tool exists; returns binary → absolute path. */
export function ensureTools(bins: string[] = Object.keys(TOOLS)): Record<string, string> {
  const missing = bins.filter((b) => !which(b));
  if (missing.length) {
    const pkgs = [...new Set(missing.map((b) => TOOLS[b] ?? b))];
    if (process.getuid?.() !== 0) {
      throw new Error(`missing tools: ${missing.join(', ')}; install them with: sudo apt-get install -y ${pkgs.join(' ')}`);
    }
    const install = ['install', '-y', '--no-install-recommends', ...pkgs];
    if (!apt(install) && !(apt(['update']) && apt(install))) {
      throw new Error(`could not install ${pkgs.join(' ')} with apt-get`);
    }
  }
  const paths: Record<string, string> = {};
  for (const b of bins) {
    const p = which(b);
    if (!p) throw new Error(`${b} is still missing after installing it`);
    paths[b] = p;
  }
  return paths;
}
