import * as net from 'node:net';
import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { StatsStore, type Counter, type Gauge, type Histogram } from '../telemetry/stats';
import { isObject, readArray, readBool, readNumber, readObject, readString, type Decoded } from '../../lib/decoded-read';
import { compileChainMatch, matchKey, selectChain, type ChainMatch } from './filter-chain-match';
import type { DownstreamConnectionInfo } from '../http/connection-manager';
import type * as tls from 'node:tls';
import { SecretStore } from '../secret/secret-store';
import { compileDownstreamTransport, type DownstreamTlsTransport } from '../tls/downstream';
import { compileListenerFilters, type DetectedProtocols, type ListenerFilters } from './listener-filters';

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
  /** The chain's DownstreamTlsContext, or undefined for plaintext (raw_buffer). */
  transport: DownstreamTlsTransport | undefined;
}

/** What TLS chains and listener filters need at compile time. */
export interface ListenerCompileDeps {
  readonly secrets: SecretStore;
  readonly stats: StatsStore;
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
  readonly listenerFilters: ListenerFilters;
  /** use_original_dst: hand connections to the listener of their original destination. */
  readonly useOriginalDst: boolean;
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
  readonly downstream_pre_cx_timeout: Counter;
  readonly downstream_listener_filter_error: Counter;
  readonly downstream_cx_transport_socket_connect_timeout: Counter;
  constructor(store: StatsStore, statName: string) {
    const p = `listener.${statName}.`;
    this.downstream_cx_total = store.counter(p + 'downstream_cx_total');
    this.downstream_cx_active = store.gauge(p + 'downstream_cx_active');
    this.downstream_cx_destroy = store.counter(p + 'downstream_cx_destroy');
    this.downstream_cx_overflow = store.counter(p + 'downstream_cx_overflow');
    this.no_filter_chain_match = store.counter(p + 'no_filter_chain_match');
    this.downstream_cx_length_ms = store.histogram(p + 'downstream_cx_length_ms');
    this.downstream_pre_cx_timeout = store.counter(p + 'downstream_pre_cx_timeout');
    this.downstream_listener_filter_error = store.counter(p + 'downstream_listener_filter_error');
    this.downstream_cx_transport_socket_connect_timeout = store.counter(p + 'downstream_cx_transport_socket_connect_timeout');
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
  'listener_filters_timeout',
  'continue_on_listener_filters_timeout',
  'use_original_dst',
  'enable_reuse_port',
];

/** Envoy adds a tls_inspector when a chain matches on what only it can detect. */
function needsTlsInspector(m: ChainMatch): boolean {
  return m.serverNames.length > 0 || m.transportProtocol === 'tls' || (m.transportProtocol === '' && m.applicationProtocols.length > 0);
}

export function compileListener(
  l: Decoded,
  path: string,
  issues: ConfigIssue[],
  compileFilters: NetworkFiltersCompiler,
  deps?: ListenerCompileDeps,
): ListenerConfig | undefined {
  rejectUnsupported(l, path, SUPPORTED, issues);
  const before = issues.length;
  const stats = deps?.stats ?? new StatsStore();
  const secrets = deps?.secrets ?? new SecretStore(stats);
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
  const statName = readString(l, 'stat_prefix', path, issues) ?? `${address}_${port}`;
  const listenerStats = new ListenerStats(stats, statName);
  const tlsDeps = {
    secrets,
    stats,
    statPrefix: `listener.${statName}.`,
    handshakeTimeoutCounter: listenerStats.downstream_cx_transport_socket_connect_timeout,
  };
  const bufferLimitBytes = readNumber(l, 'per_connection_buffer_limit_bytes', path, issues, { min: 1, integer: true }) ?? 1024 * 1024;

  const chains: CompiledChain[] = [];
  const seen = new Map<string, number>();
  readArray(l, 'filter_chains', path, issues).forEach((fc, i) => {
    const cp = joinPath(joinPath(path, 'filter_chains'), i);
    const c = compileChain(fc, cp, issues, compileFilters, bufferLimitBytes, tlsDeps);
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
  const defaultChain = dfc === undefined ? undefined : compileChain(dfc, joinPath(path, 'default_filter_chain'), issues, compileFilters, bufferLimitBytes, tlsDeps);
  if (chains.length === 0 && defaultChain === undefined) issues.push({ path, message: 'a listener needs at least one filter chain' });
  const filterList = [...readArray(l, 'listener_filters', path, issues)];
  const hasTlsInspector = filterList.some((f) => isObject(f) && isObject(f.typed_config) && f.typed_config['@type'] === TLS_INSPECTOR_TYPE_URL);
  if (!hasTlsInspector && chains.some((c) => needsTlsInspector(c.match))) {
    filterList.push({ name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': TLS_INSPECTOR_TYPE_URL } });
  }
  const listenerFilters = compileListenerFilters(
    filterList,
    readNumber(l, 'listener_filters_timeout', path, issues, { min: 0 }),
    readBool(l, 'continue_on_listener_filters_timeout', path, issues) ?? false,
    path,
    issues,
    stats,
    { preCxTimeout: listenerStats.downstream_pre_cx_timeout, filterError: listenerStats.downstream_listener_filter_error },
  );
  const useOriginalDst = readBool(l, 'use_original_dst', path, issues) ?? false;
  if (issues.length > before) {
    for (const c of [...chains, defaultChain]) c?.transport?.close();
    return undefined;
  }
  return {
    name: name || `${address}_${port}`,
    address,
    port,
    statName,
    chains,
    defaultChain,
    bufferLimitBytes,
    bindToPort: readBool(l, 'bind_to_port', path, issues) ?? true,
    listenerFilters,
    useOriginalDst,
    source: l,
  };
}

function compileChain(
  fc: unknown,
  path: string,
  issues: ConfigIssue[],
  compileFilters: NetworkFiltersCompiler,
  bufferLimitBytes: number,
  tlsDeps: Parameters<typeof compileDownstreamTransport>[3],
): CompiledChain | undefined {
  if (!isObject(fc)) return undefined;
  rejectUnsupported(fc, path, ['name', 'filter_chain_match', 'filters', 'transport_socket', 'transport_socket_connect_timeout'], issues);
  const handshakeTimeoutMs = readNumber(fc, 'transport_socket_connect_timeout', path, issues, { min: 0 });
  const transport =
    fc.transport_socket === undefined ? undefined : compileDownstreamTransport(fc.transport_socket, joinPath(path, 'transport_socket'), issues, tlsDeps, handshakeTimeoutMs);
  const match = compileChainMatch(readObject(fc, 'filter_chain_match', path, issues), joinPath(path, 'filter_chain_match'), issues);
  const filters = readArray(fc, 'filters', path, issues);
  const chain = compileFilters(filters, joinPath(path, 'filters'), issues, bufferLimitBytes);
  if (chain === undefined) {
    transport?.close();
    return undefined;
  }
  return { name: readString(fc, 'name', path, issues) ?? '', match, chain, transport };
}

const TLS_INSPECTOR_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector';

let nextConnectionId = 1;

/** A running listener. */
export class Listener {
  private server: net.Server | null = null;
  private readonly connections = new Set<ListenerConnection>();
  /** Sockets still in listener filters or the TLS handshake. */
  private readonly pending = new Set<net.Socket>();
  private readonly stats: ListenerStats;
  private draining = false;
  boundPort = 0;
  /**
   * use_original_dst: finds the listener for an original destination (set by the server);
   * undefined when none but this one.
   */
  originalDstLookup: ((address: string, port: number) => Listener | undefined) | null = null;

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

  /** A connection accepted here, or handed over by a use_original_dst listener. */
  onConnection(socket: net.Socket): void {
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
    socket.setNoDelay(true);
    const filters = this.config.listenerFilters;
    if (filters.originalDst && this.config.useOriginalDst && this.originalDstLookup !== null) {
      // The original destination is the local address (see listener-filters.ts).
      const target = this.originalDstLookup(info.localAddress, info.localPort);
      if (target !== undefined && target !== this) {
        target.onConnection(socket);
        return;
      }
    }
    if (!filters.inspectsBytes) {
      this.dispatch(socket, info, undefined);
      return;
    }
    this.pending.add(socket);
    filters.inspect(
      socket,
      (detected) => {
        this.pending.delete(socket);
        this.dispatch(socket, info, detected);
      },
      () => this.pending.delete(socket),
    );
  }

  private dispatch(socket: net.Socket, info: DownstreamConnectionInfo, detected: DetectedProtocols | undefined): void {
    const stats = this.stats;
    if (this.draining) {
      socket.destroy();
      return;
    }
    const facts =
      detected === undefined
        ? info
        : { ...info, serverName: detected.serverName, transportProtocol: detected.transportProtocol, applicationProtocols: detected.applicationProtocols };
    const chosen = selectChain(this.config.chains, facts) ?? this.config.defaultChain;
    if (chosen === undefined) {
      stats.no_filter_chain_match.inc();
      socket.destroy();
      return;
    }
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
    const transport = chosen.transport;
    if (transport === undefined) {
      // Peeked bytes were given back while paused. Resuming now delivers them on the next tick, to
      // the listener the network filter adds below (tcp_proxy pauses again until connected).
      // A TLS socket must not be resumed: the TLS layer reads the given-back bytes itself.
      if (detected !== undefined) socket.resume();
      handle = chosen.chain.onNewConnection(socket, info, onClosed);
      if (handle !== null && !closed) this.connections.add(handle);
      return;
    }
    this.pending.add(socket);
    transport.accept(
      socket,
      (secure) => {
        this.pending.delete(socket);
        if (this.draining) {
          secure.destroy();
          onClosed();
          return;
        }
        handle = chosen.chain.onNewConnection(secure, withTlsInfo(info, secure), onClosed);
        if (handle !== null && !closed) this.connections.add(handle);
      },
      () => {
        this.pending.delete(socket);
        onClosed();
      },
    );
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
    for (const s of this.pending) s.destroy();
    this.pending.clear();
    for (const c of [...this.config.chains, this.config.defaultChain]) c?.transport?.close();
  }
}

/** The TLS facts access logs and the connection manager read (%DOWNSTREAM_TLS_VERSION%, …). */
function withTlsInfo(info: DownstreamConnectionInfo, s: tls.TLSSocket): DownstreamConnectionInfo {
  const peer = s.getPeerX509Certificate();
  const uriSans = peer?.subjectAltName
    ?.split(', ')
    .filter((x) => x.startsWith('URI:'))
    .map((x) => x.slice(4));
  return {
    ...info,
    tls: {
      version: s.getProtocol() ?? '',
      cipher: s.getCipher()?.name ?? '',
      serverName: typeof s.servername === 'string' ? s.servername : '',
      alpn: typeof s.alpnProtocol === 'string' ? s.alpnProtocol : '',
      peerUriSans: uriSans ?? [],
      peerSubject: peer?.subject.replace(/\n/g, ',') ?? '',
    },
  };
}
