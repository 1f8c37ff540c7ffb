import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import type { Counter, Gauge, StatsStore } from '../telemetry/stats';
import { readNumber, readString, type Decoded } from '../../lib/decoded-read';

/**
 * envoy.filters.network.connection_limit: at most max_connections open connections through this
 * filter chain; the next one is closed (after `delay`, if set) and counted.
 */

export const CONNECTION_LIMIT_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.connection_limit.v3.ConnectionLimit';

export class ConnectionLimit {
  private active = 0;
  private readonly limited: Counter;
  private readonly activeGauge: Gauge;

  constructor(
    readonly maxConnections: number,
    readonly delayMs: number,
    stats: StatsStore,
    statPrefix: string,
  ) {
    this.limited = stats.counter(`connection_limit.${statPrefix}.limited_connections`);
    this.activeGauge = stats.gauge(`connection_limit.${statPrefix}.active_connections`);
  }

  /** Takes a slot; false when the limit is reached (the caller closes the connection). */
  tryAcquire(): boolean {
    if (this.active >= this.maxConnections) {
      this.limited.inc();
      return false;
    }
    this.active++;
    this.activeGauge.inc();
    return true;
  }

  release(): void {
    this.active--;
    this.activeGauge.dec();
  }
}

export function compileConnectionLimit(cfg: Decoded, path: string, issues: ConfigIssue[], stats: StatsStore): ConnectionLimit {
  rejectUnsupported(cfg, path, ['stat_prefix', 'max_connections', 'delay'], issues);
  const prefix = readString(cfg, 'stat_prefix', path, issues) ?? '';
  if (prefix === '') issues.push({ path: joinPath(path, 'stat_prefix'), message: 'stat_prefix is required' });
  const max = readNumber(cfg, 'max_connections', path, issues, { min: 1, integer: true });
  if (max === undefined) issues.push({ path: joinPath(path, 'max_connections'), message: 'max_connections is required (>= 1)' });
  return new ConnectionLimit(max ?? 1, readNumber(cfg, 'delay', path, issues, { min: 0 }) ?? 0, stats, prefix);
}
