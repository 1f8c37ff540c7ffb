/** `weft proxy-status`: every connected proxy's sync state per xDS type, like `istioctl proxy-status`. */
import type { ProxySync } from '../control/debug/syncz';
import { DebugFetchError, fetchDebug } from './debug-client';
import { renderTable } from './table';

export interface ProxyStatusOptions {
  readonly controlAddress: string;
  readonly output?: string;
}

function cell(p: ProxySync, type: string): string {
  const t = p.types.find((x) => x.type === type);
  if (!t) return 'NOT SENT';
  return t.status === 'NACKED' ? `NACKED (${t.lastNack?.rejectedVersion ?? t.versionSent})` : t.status;
}

export function formatProxyStatus(proxies: readonly ProxySync[], controlAddress: string): string {
  const rows = [...proxies]
    .sort((a, b) => a.proxy.localeCompare(b.proxy))
    .map((p) => [p.proxy, p.cluster, cell(p, 'cds'), cell(p, 'lds'), cell(p, 'eds'), cell(p, 'rds'), controlAddress, p.controlVersion]);
  return renderTable(['NAME', 'CLUSTER', 'CDS', 'LDS', 'EDS', 'RDS', 'CONTROL', 'VERSION'], rows);
}

/** NACK messages, one per line, so a rejected config is visible without a second command. */
function formatNacks(proxies: readonly ProxySync[]): string {
  const lines: string[] = [];
  for (const p of proxies) for (const t of p.types) if (t.status === 'NACKED' && t.lastNack) lines.push(`${p.proxy} ${t.type.toUpperCase()} rejected version ${t.lastNack.rejectedVersion}: ${t.lastNack.message}`);
  return lines.length ? `\n${lines.join('\n')}\n` : '';
}

export async function runProxyStatus(opts: ProxyStatusOptions): Promise<number> {
  try {
    const proxies = (await fetchDebug(opts.controlAddress, '/debug/syncz')) as ProxySync[];
    if (opts.output === 'json') process.stdout.write(JSON.stringify(proxies, null, 2) + '\n');
    else process.stdout.write(formatProxyStatus(proxies, opts.controlAddress) + formatNacks(proxies));
    return 0;
  } catch (e) {
    if (!(e instanceof DebugFetchError)) throw e;
    process.stderr.write(`weft proxy-status: ${e.message}\n`);
    return 1;
  }
}
