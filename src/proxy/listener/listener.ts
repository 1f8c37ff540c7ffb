import * as net from 'node:net';
import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import type { StatsStore, Counter, Gauge, Histogram } from '../telemetry/stats';
import { isObject, readArray, readBool, readNumber, readObject, readString, type Decoded } from '../../lib/decoded-read';
import { compileChainMatch, matchKey, selectChain, type ChainMatch } from './filter-chain-match';
import type { DownstreamConnectionInfo } from '../http/connection-manager';

/**
 * A listener: a bound socket, its filter chains, and the connections it has accepted.
 * Network filters are resolved through a registry (network/registry.ts) so that this layer knows
 * nothing about HTTP or TCP proxying.
 */

/** A live downstream connection, as the listener sees it: something to drain or close. */
export interface ListenerConnection {
  drain(): void;
  close(): void;
}

/** A compiled network filter chain: runs the filters on a new connection. */
export interface NetworkFilterChain {
  /** Takes over the socket; returns the connection handle, or null if a filter closed it. */
  onNewConnection(socket: net.Socket, info: DownstreamConnectionInfo, onClosed: () => void): ListenerConnection | null;
}

export type NetworkFiltersCompiler = (filters: unknown[], path: string, issues: ConfigIssue[], bufferLimitBytes: number) => NetworkFilterChain | undefined;

interface CompiledChain {
  name: string;
  match: ChainMatch;
  chain: NetworkFilterChain;
}

export interface ListenerConfig {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly statName: string;
  readonly chains: readonly CompiledChain[];
  readonly defaultChain: CompiledChain | undefined;
  readonly bufferLimitBytes: number;
  readonly bindToPort: boolean;
  /** The decoded resource, for /config_dump. */
  readonly source: Decoded;
}

class ListenerStats {
  readonly downstream_cx_total: Counter;
  readonly downstream_cx_active: Gauge;
  readonly downstream_cx_destroy: Counter;
  readonly downstream_cx_overflow: Counter;
  readonly no_filter_chain_match: Counter;
  readonly downstream_cx_length_ms: Histogram;
  constructor(store: StatsStore, statName: string) {
    const p = `listener.${statName}.`;
    this.downstream_cx_total = store.counter(p + 'downstream_cx_total');
    this.downstream_cx_active = store.gauge(p + 'downstream_cx_active');
    this.downstream_cx_destroy = store.counter(p + 'downstream_cx_destroy');
    this.downstream_cx_overflow = store.counter(p + 'downstream_cx_overflow');
    this.no_filter_chain_match = store.counter(p + 'no_filter_chain_match');
    this.downstream_cx_length_ms = store.histogram(p + 'downstream_cx_length_ms');
  }
}

const SUPPORTED = [
  'name',
  'address',
  'filter_chains',
  'default_filter_chain',
  'per_connection_buffer_limit_bytes',
  'stat_prefix',
  'bind_to_port',
  'traffic_direction',
  'listener_filters',
  'enable_reuse_port',
];

export function compileListener(l: Decoded, path: string, issues: ConfigIssue[], compileFilters: NetworkFiltersCompiler): ListenerConfig | undefined {
  rejectUnsupported(l, path, SUPPORTED, issues);
  const before = issues.length;
  const name = readString(l, 'name', path, issues) ?? '';
  const addr = readObject(l, 'address', path, issues);
  const ap = joinPath(path, 'address');
  let address = '';
  let port = 0;
  if (addr === undefined) issues.push({ path: ap, message: 'address is required' });
  else {
    rejectUnsupported(addr, ap, ['socket_address'], issues);
    const sa = readObject(addr, 'socket_address', ap, issues);
    const sp = joinPath(ap, 'socket_address');
    if (sa === undefined) issues.push({ path: ap, message: 'only socket_address is implemented' });
    else {
      rejectUnsupported(sa, sp, ['address', 'port_value', 'protocol'], issues);
      address = readString(sa, 'address', sp, issues) ?? '';
      port = readNumber(sa, 'port_value', sp, issues, { min: 0, max: 65535, integer: true }) ?? 0;
      if (sa.protocol !== undefined && sa.protocol !== 'TCP') issues.push({ path: joinPath(sp, 'protocol'), message: 'only TCP listeners are implemented' });
      if (net.isIP(address) === 0) issues.push({ path: joinPath(sp, 'address'), message: `not an IP address: ${JSON.stringify(address)}` });
    }
  }
  if (readArray(l, 'listener_filters', path, issues).length > 0) {
    issues.push({ path: joinPath(path, 'listener_filters'), message: 'listener filters are not implemented by Weft yet' });
  }
  const bufferLimitBytes = readNumber(l, 'per_connection_buffer_limit_bytes', path, issues, { min: 1, integer: true }) ?? 1024 * 1024;

  const chains: CompiledChain[] = [];
  const seen = new Map<string, number>();
  readArray(l, 'filter_chains', path, issues).forEach((fc, i) => {
    const cp = joinPath(joinPath(path, 'filter_chains'), i);
    const c = compileChain(fc, cp, issues, compileFilters, bufferLimitBytes);
    if (c === undefined) return;
    const key = matchKey(c.match);
    const prev = seen.get(key);
    if (prev !== undefined) {
      issues.push({ path: cp, message: `multiple filter chains with the same matching rules (same as filter_chains[${prev}])` });
    }
    seen.set(key, i);
    chains.push(c);
  });
  const dfc = l.default_filter_chain;
  const defaultChain = dfc === undefined ? undefined : compileChain(dfc, joinPath(path, 'default_filter_chain'), issues, compileFilters, bufferLimitBytes);
  if (chains.length === 0 && defaultChain === undefined) issues.push({ path, message: 'a listener needs at least one filter chain' });
  if (issues.length > before) return undefined;
  const statPrefix = readString(l, 'stat_prefix', path, issues);
  return {
    name: name || `${address}_${port}`,
    address,
    port,
    statName: statPrefix ?? `${address}_${port}`,
    chains,
    defaultChain,
    bufferLimitBytes,
    bindToPort: readBool(l, 'bind_to_port', path, issues) ?? true,
    source: l,
  };
}

function compileChain(
  fc: unknown,
  path: string,
  issues: ConfigIssue[],
  compileFilters: NetworkFiltersCompiler,
  bufferLimitBytes: number,
): CompiledChain | undefined {
  if (!isObject(fc)) return undefined;
  rejectUnsupported(fc, path, ['name', 'filter_chain_match', 'filters', 'transport_socket'], issues);
  if (fc.transport_socket !== undefined) {
    issues.push({ path: joinPath(path, 'transport_socket'), message: 'TLS transport sockets are not implemented by Weft yet' });
  }
  const match = compileChainMatch(readObject(fc, 'filter_chain_match', path, issues), joinPath(path, 'filter_chain_match'), issues);
  const filters = readArray(fc, 'filters', path, issues);
  const chain = compileFilters(filters, joinPath(path, 'filters'), issues, bufferLimitBytes);
  if (chain === undefined) return undefined;
  return { name: readString(fc, 'name', path, issues) ?? '', match, chain };
}

let nextConnectionId = 1;

/** A running listener. */
export class Listener {
  private server: net.Server | null = null;
  private readonly connections = new Set<ListenerConnection>();
  private readonly stats: ListenerStats;
  private draining = false;
  boundPort = 0;

  constructor(
    /** Replaced by replaceConfig (xDS) only; read once per accepted connection. */
    public config: ListenerConfig,
    stats: StatsStore,
  ) {
    this.stats = new ListenerStats(stats, config.statName);
  }

  get activeConnections(): number {
    return this.connections.size;
  }

  listen(): Promise<void> {
    // allowHalfOpen: a client's FIN must not close our side before the answer is written (HTTP
    // half-close after a request; tcp_proxy relays the FIN upstream and keeps relaying back).
    const server = net.createServer({ pauseOnConnect: false, noDelay: true, allowHalfOpen: true }, (s) => this.onConnection(s));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.config.address, port: this.config.port, backlog: 4096 }, () => {
        server.off('error', reject);
        const a = server.address();
        this.boundPort = typeof a === 'object' && a !== null ? a.port : this.config.port;
        resolve();
      });
    });
  }

  private onConnection(socket: net.Socket): void {
    const stats = this.stats;
    stats.downstream_cx_total.inc();
    const info: DownstreamConnectionInfo = {
      id: nextConnectionId++,
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      localAddress: socket.localAddress ?? '',
      localPort: socket.localPort ?? 0,
    };
    if (this.draining) {
      socket.destroy();
      return;
    }
    const chosen = selectChain(this.config.chains, info) ?? this.config.defaultChain;
    if (chosen === undefined) {
      stats.no_filter_chain_match.inc();
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    stats.downstream_cx_active.inc();
    const opened = performance.now();
    let handle: ListenerConnection | null = null;
    let closed = false;
    const onClosed = (): void => {
      if (closed) return;
      closed = true;
      stats.downstream_cx_active.dec();
      stats.downstream_cx_destroy.inc();
      stats.downstream_cx_length_ms.record(performance.now() - opened);
      if (handle !== null) this.connections.delete(handle);
    };
    handle = chosen.chain.onNewConnection(socket, info, onClosed);
    if (handle !== null && !closed) this.connections.add(handle);
  }

  /** Stops accepting, asks every connection to finish gracefully, and closes what remains after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    this.draining = true;
    await this.stopAccepting();
    for (const c of this.connections) c.drain();
    const deadline = Date.now() + timeoutMs;
    while (this.connections.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const c of this.connections) c.close();
  }

  /**
   * xDS listener update on the same address: new connections use `config` from now on; the
   * connections accepted under the old config are asked to drain (requests in flight finish on the
   * config they started with) and closed after `drainMs`.
   */
  replaceConfig(config: ListenerConfig, drainMs: number): Promise<void> {
    this.config = config;
    const old = [...this.connections];
    for (const c of old) c.drain();
    const deadline = Date.now() + drainMs;
    return new Promise((resolve) => {
      const check = (): void => {
        const left = old.filter((c) => this.connections.has(c));
        if (left.length === 0 || Date.now() >= deadline) {
          for (const c of left) c.close();
          resolve();
          return;
        }
        setTimeout(check, 50).unref();
      };
      check();
    });
  }

  /** Closes the listening socket; connections already accepted are left alone. */
  stopAccepting(): Promise<void> {
    const server = this.server;
    if (server !== null) {
      this.server = null;
      server.close();
    }
    return Promise.resolve();
  }

  close(): void {
    void this.stopAccepting();
    for (const c of this.connections) c.close();
  }
}
