import type * as net from 'node:net';
import { selectHttpCodec, type HttpConnectionLike } from '../http/codec-select';
import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import type { StatsStore } from '../telemetry/stats';
import type { AccessLogSink, ClusterLookup, RouteMatcher } from '../http/contracts';
import type { DownstreamConnectionInfo } from '../http/connection-manager';
import type { HcmConfig } from '../http/hcm-config';
import type { ListenerConnection, NetworkFilterChain } from '../listener/listener';
import { isObject, readObject, type Decoded } from '../../lib/decoded-read';
import { compileConnectionLimit, CONNECTION_LIMIT_TYPE, type ConnectionLimit } from './connection-limit';
import { compileHttpConnectionManager, HCM_TYPE, type RdsRoutesHook } from './http-connection-manager';
import { compileTcpProxy, TCP_PROXY_TYPE, TcpProxySession, type TcpProxyConfig } from './tcp-proxy';

/**
 * Compiles a listener's `filters` list: optional non-terminal filters (connection_limit) followed by
 * exactly one terminal filter (http_connection_manager or tcp_proxy).
 */

export interface NetworkFilterDeps {
  stats: StatsStore;
  clusters: ClusterLookup;
  compileRoutes: (rc: Decoded, path: string, issues: ConfigIssue[]) => RouteMatcher | undefined;
  compileAccessLogs: (list: unknown[], path: string) => AccessLogSink[];
  /** xDS: route providers for http_connection_manager `rds`. */
  rdsRoutes?: RdsRoutesHook;
}

type Terminal = { kind: 'http'; config: HcmConfig } | { kind: 'tcp'; config: TcpProxyConfig };

export function compileNetworkFilters(
  filters: unknown[],
  path: string,
  issues: ConfigIssue[],
  bufferLimitBytes: number,
  deps: NetworkFilterDeps,
): NetworkFilterChain | undefined {
  const limits: ConnectionLimit[] = [];
  let terminal: Terminal | undefined;
  const before = issues.length;
  filters.forEach((f, i) => {
    const fp = joinPath(path, i);
    if (!isObject(f)) return;
    rejectUnsupported(f, fp, ['name', 'typed_config'], issues);
    const tc = readObject(f, 'typed_config', fp, issues);
    const tp = joinPath(fp, 'typed_config');
    if (tc === undefined) {
      issues.push({ path: tp, message: 'typed_config is required' });
      return;
    }
    if (terminal !== undefined) issues.push({ path: fp, message: 'no filter may follow a terminal filter' });
    switch (tc['@type']) {
      case HCM_TYPE: {
        const config = compileHttpConnectionManager(tc, tp, issues, { ...deps, bufferLimitBytes });
        if (config !== undefined) terminal = { kind: 'http', config };
        break;
      }
      case TCP_PROXY_TYPE:
        terminal = { kind: 'tcp', config: compileTcpProxy(tc, tp, issues, deps) };
        break;
      case CONNECTION_LIMIT_TYPE:
        limits.push(compileConnectionLimit(tc, tp, issues, deps.stats));
        break;
      default:
        issues.push({ path: tp, message: `network filter ${String(tc['@type'])} is not implemented by Weft yet` });
    }
  });
  if (terminal === undefined) {
    if (issues.length === before) issues.push({ path, message: 'the last filter must be http_connection_manager or tcp_proxy' });
    return undefined;
  }
  return new CompiledNetworkChain(limits, terminal);
}

class HttpConnectionHandle implements ListenerConnection {
  constructor(readonly conn: HttpConnectionLike) {}
  drain(): void {
    this.conn.drain();
  }
  close(): void {
    this.conn.destroy();
  }
}

class CompiledNetworkChain implements NetworkFilterChain {
  constructor(
    private readonly limits: readonly ConnectionLimit[],
    private readonly terminal: Terminal,
  ) {}

  onNewConnection(socket: net.Socket, info: DownstreamConnectionInfo, onClosed: () => void): ListenerConnection | null {
    const taken: ConnectionLimit[] = [];
    for (const limit of this.limits) {
      if (!limit.tryAcquire()) {
        for (const t of taken) t.release();
        if (limit.delayMs > 0) {
          // Held open for the delay: a client reset meanwhile must not become an uncaught error.
          socket.on('error', () => undefined);
          socket.pause();
          setTimeout(() => socket.destroy(), limit.delayMs);
        }
        else socket.destroy();
        onClosed();
        return null;
      }
      taken.push(limit);
    }
    const done = (): void => {
      for (const t of taken) t.release();
      onClosed();
    };
    const t = this.terminal;
    if (t.kind === 'http') {
      return new HttpConnectionHandle(selectHttpCodec(socket, t.config, info, done));
    }
    return new TcpProxySession(socket, t.config, info, done);
  }
}
