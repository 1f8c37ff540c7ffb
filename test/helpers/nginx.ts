import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { freePort } from './upstream';
import { sleep, tempDir, within } from './proxy';

/**
 * Runs a real nginx in the foreground with its own prefix directory (conf, pid, logs, temp paths)
 * on 127.0.0.1 and a port picked free. `serverBody` is the inside of the server { } block.
 */

export interface Nginx {
  port: number;
  dir: string;
  stop(): Promise<void>;
}

/** `listenParams` go on the listen line (e.g. `ssl http2`: nginx 1.22 takes HTTP/2 only there). */
export async function startNginx(serverBody: string, listenParams = ''): Promise<Nginx> {
  const t = tempDir('weft-nginx-');
  const dir = t.dir;
  for (const d of ['logs', 'tmp']) fs.mkdirSync(`${dir}/${d}`);
  let lastErr = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const conf = `
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:${port}${listenParams === '' ? '' : ' ' + listenParams};
    ${serverBody}
  }
}
`;
    fs.writeFileSync(`${dir}/nginx.conf`, conf);
    const child: ChildProcess = spawn('nginx', ['-p', dir, '-c', `${dir}/nginx.conf`, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d) => (stderr += d));
    let exited = false;
    child.on('exit', () => (exited = true));
    const deadline = Date.now() + 5000;
    let up = false;
    while (!exited && Date.now() < deadline) {
      up = await canConnect(port);
      if (up) break;
      await sleep(30);
    }
    if (up && !exited) {
      return {
        port,
        dir,
        stop: async () => {
          if (!exited) {
            const gone = new Promise<void>((r) => child.once('exit', () => r()));
            child.kill('SIGTERM');
            await within(gone, 3000, undefined);
            if (!exited) child.kill('SIGKILL');
          }
          t.remove();
        },
      };
    }
    if (!exited) child.kill('SIGKILL');
    lastErr = stderr + (fs.existsSync(`${dir}/logs/error.log`) ? fs.readFileSync(`${dir}/logs/error.log`, 'utf8') : '');
  }
  t.remove();
  throw new Error(`nginx did not start: ${lastErr}`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}
