import * as path from 'node:path';
import type { DemoOptions } from './orchestrator';
import type { DemoTopology, HostPort } from './topology';

/** What `weft demo` prints once the mesh is up: what to look at, what to edit, where the logs are. */

const addr = (a: HostPort): string => `${a.host}:${a.port}`;

/** Commands and what they show, the comments in one column. */
function commandLines(rows: readonly (readonly [string, string])[]): string {
  const width = Math.max(...rows.map(([c]) => c.length)) + 2;
  return rows.map(([c, what]) => `  ${c.padEnd(width)}# ${what}`).join('\n');
}

export function banner(topo: DemoTopology, opts: DemoOptions, logDir: string): string {
  const entry = `http://127.0.0.1:${opts.port}`;
  const defaultDebug = addr(opts.debugAddress) === '127.0.0.1:15014';
  const look = commandLines([
    [`curl -s ${entry}/api/summary`, 'JSON; "reviews_version" says which reviews answered'],
    [`curl -s -H 'end-user: jason' ${entry}/api/summary`, 'header routing: always reviews v2'],
    [`curl -s ${entry}/`, 'the product page (or open it in a browser; reload: the stars change)'],
    [defaultDebug ? 'npx weft proxy-status' : `curl -s http://${addr(opts.debugAddress)}/debug/syncz`, 'every sidecar, its config versions and ACKs'],
    [`curl -s http://${addr(topo.front.admin)}/config_dump`, "the front sidecar's configuration, from weft control"],
    [`curl -s http://127.0.0.1:${opts.adminPort}/stats/prometheus`, "the edge proxy's metrics"],
  ]);
  const sidecars = topo.workloads
    .map((w) => `    ${`${w.app} ${w.version}`.padEnd(12)} pod IP ${w.ip.padEnd(15)} app ${addr(w.appListen).padEnd(16)} sidecar admin http://${addr(w.admin)}`)
    .join('\n');
  return `
Weft demo is running: weft control, ${topo.workloads.length} workloads each with a Weft sidecar, and an edge proxy on ${entry}.

Look:
${look}
  Workloads (each sidecar's admin has /config_dump, /clusters, /stats):
${sidecars}

Edit (saved changes reach the sidecars within a second):
  ${path.join(opts.configDir, 'reviews.yaml')}   canary weights v1/v2/v3 and the end-user match
  ${path.join(opts.configDir, 'ratings.yaml')}   uncomment the fault: half the ratings calls fail

Logs: ${logDir}
Below, every ${opts.reportEveryS} s: which reviews version served the demo's own traffic (${opts.rps} requests/s). Ctrl-C stops everything.
`;
}
