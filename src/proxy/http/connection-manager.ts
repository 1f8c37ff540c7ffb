import type * as net from 'node:net';
import { randomUUID } from 'node:crypto';
import { HeaderMap } from '../../lib/headers';
import { Http1Parser, ParserMode, type Http1ParseError, type MessageHead, type ParserHandler } from '../codec/http1/parser';
import { chunkHeader, encodeLastChunk, encodeRequestHead, encodeResponseHead, Framing } from '../codec/http1/encoder';
import { ResponseFlag, StreamInfo } from '../stream-info';
import { PoolFailure } from '../upstream/conn-pool';
import type { MatchedRoute, RouteRequest, UpstreamCluster, UpstreamHost } from './contracts';
import type { HcmConfig } from './hcm-config';
import * as reply from './local-reply';
import { UpstreamRequest, type UpstreamRequestOwner } from './upstream-request';

/**
 * The HTTP connection manager for one downstream HTTP/1.1 connection: it parses requests, routes
 * each to a cluster and host, relays it through a pooled upstream connection, and writes the
 * response back. Pipelined requests are served one after another, as HTTP/1.1 requires.
 */

/** Where a downstream connection came from; filled once by the listener. */
export interface DownstreamConnectionInfo {
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
}

/** Lets the listener track connections for draining and limits. */
export interface ConnectionOwner {
  onConnectionClosed(conn: Http1ServerConnection): void;
}

const CONTINUE_100 = 'HTTP/1.1 100 Continue\r\n\r\n';

function isInternalAddress(ip: string): boolean {
  return (
    ip.startsWith('127.') ||
    ip.startsWith('10.') ||
    ip.startsWith('192.168.') ||
    /^172\.(1[6-9]|2\d|3[01])\./.test(ip) ||
    ip === '::1' ||
    ip.startsWith('::ffff:127.') ||
    ip.startsWith('fd')
  );
}

function formatAddress(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export class Http1ServerConnection implements ParserHandler {
  private readonly parser: Http1Parser;
  private stream: ActiveStream | null = null;
  private closed = false;
  /** The next response closes the connection (drain, shutdown, or a protocol error). */
  draining = false;
  private idleSince = performance.now();
  private readonly timeoutMs: number;
  private readonly openedAt = performance.now();
  private durationTimer: NodeJS.Timeout | null = null;
  private headersTimer: NodeJS.Timeout | null = null;
  /** A stream waits for this connection's socket to drain before reading more from upstream. */
  private waitingForDrain = false;

  constructor(
    readonly socket: net.Socket,
    readonly config: HcmConfig,
    readonly info: DownstreamConnectionInfo,
    private readonly owner: ConnectionOwner,
  ) {
    this.parser = new Http1Parser(ParserMode.Request, this, {
      maxHeaderBytes: config.maxRequestHeaderBytes,
      maxHeaderCount: config.maxHeadersCount,
    });
    const stats = config.stats;
    stats.downstream_cx_total.inc();
    stats.downstream_cx_active.inc();
    stats.downstream_cx_http1_total.inc();
    stats.downstream_cx_http1_active.inc();
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('end', () => this.onEnd());
    socket.on('error', () => this.onSocketError());
    socket.on('close', () => this.onClose());
    socket.on('drain', () => this.onDrain());
    socket.on('timeout', () => this.onTimeout());
    // One socket timer serves both idle_timeout and stream_idle_timeout: it fires after the shorter
    // of the two with no socket activity, and onTimeout works out which one has expired.
    const idle = config.idleTimeoutMs;
    const streamIdle = config.streamIdleTimeoutMs;
    this.timeoutMs = idle > 0 && streamIdle > 0 ? Math.min(idle, streamIdle) : idle || streamIdle;
    if (this.timeoutMs > 0) socket.setTimeout(this.timeoutMs);
    if (config.maxConnectionDurationMs > 0) {
      this.durationTimer = setTimeout(() => this.onMaxDuration(), config.maxConnectionDurationMs);
    }
    if (config.requestHeadersTimeoutMs > 0) this.armHeadersTimer();
  }

  get hasActiveStream(): boolean {
    return this.stream !== null;
  }

  /** Graceful close: an idle connection closes now, a busy one after its current response. */
  drain(): void {
    this.draining = true;
    if (this.stream === null) this.close(true);
  }

  close(local: boolean): void {
    if (this.closed) return;
    if (local) this.config.stats.downstream_cx_destroy_local.inc();
    this.socket.end();
    this.socket.destroySoon();
  }

  /** Counts bytes written to the client and reports whether the socket's buffer has room. */
  write(data: string | Buffer): boolean {
    this.config.stats.downstream_cx_tx_bytes_total.add(data.length);
    return typeof data === 'string' ? this.socket.write(data, 'latin1') : this.socket.write(data);
  }

  /** Asks to be told (via the stream's onDownstreamDrain) when the socket's buffer has drained. */
  waitForDrain(): void {
    this.waitingForDrain = true;
  }

  // --- parser events ---

  onMessageHead(head: MessageHead): void {
    if (this.headersTimer !== null) {
      clearTimeout(this.headersTimer);
      this.headersTimer = null;
    }
    const stream = new ActiveStream(this, head);
    this.stream = stream;
    stream.start();
  }

  onBody(chunk: Buffer): void {
    this.stream?.onDownstreamData(chunk);
  }

  onMessageComplete(trailers: HeaderMap | null): void {
    this.stream?.onDownstreamComplete(trailers);
  }

  onParseError(err: Http1ParseError): void {
    const stats = this.config.stats;
    stats.downstream_cx_protocol_error.inc();
    if (err.status === 431) stats.downstream_rq_too_large.inc();
    this.draining = true;
    const stream = this.stream;
    if (stream !== null) {
      stream.onDownstreamProtocolError(err);
      return;
    }
    // The head itself was bad: answer without a stream, as Envoy does, and close.
    const info = new StreamInfo();
    info.startMono = performance.now();
    fillConnectionInfo(info, this.info);
    info.protocol = 'HTTP/1.1';
    const r = reply.protocolError(err.status, err.details);
    stats.downstream_rq_total.inc();
    stats.recordResponseClass(r.status);
    sendLocalReplyRaw(this, info, r, 1, false);
    logStream(this.config, info);
    // The reply says "connection: close": flush it and close.
    this.close(true);
  }

  // --- socket events ---

  private onData(data: Buffer): void {
    this.config.stats.downstream_cx_rx_bytes_total.add(data.length);
    this.parser.execute(data);
    // Pipelined requests wait in the parser; never let them pile up without bound.
    if (this.parser.bufferedBytes > this.config.bufferLimitBytes) this.socket.pause();
  }

  private onEnd(): void {
    const stream = this.stream;
    if (stream !== null) {
      if (stream.isTunnel) {
        stream.onDownstreamTunnelEnd();
        return;
      }
    }
    // As in Envoy (half-close is not enabled for HTTP), a client's FIN is a disconnect: closing
    // our side too makes 'close' fire, which resets an active stream (DC) and aborts its upstream.
    this.socket.end();
  }

  private onSocketError(): void {
    // 'close' follows and does the accounting.
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.parser.abort();
    if (this.durationTimer !== null) clearTimeout(this.durationTimer);
    if (this.headersTimer !== null) clearTimeout(this.headersTimer);
    const stats = this.config.stats;
    stats.downstream_cx_active.dec();
    stats.downstream_cx_http1_active.dec();
    stats.downstream_cx_destroy.inc();
    stats.downstream_cx_length_ms.record(performance.now() - this.openedAt);
    const stream = this.stream;
    if (stream !== null) {
      stats.downstream_cx_destroy_active_rq.inc();
      stats.downstream_cx_destroy_remote_active_rq.inc();
      stats.downstream_cx_destroy_remote.inc();
      this.stream = null;
      stream.onDownstreamReset();
    }
    this.owner.onConnectionClosed(this);
  }

  private onDrain(): void {
    if (this.waitingForDrain) {
      this.waitingForDrain = false;
      this.stream?.onDownstreamDrain();
    }
  }

  private onTimeout(): void {
    const now = performance.now();
    const stream = this.stream;
    if (stream !== null) {
      if (this.config.streamIdleTimeoutMs > 0) {
        stream.onStreamIdleTimeout();
        return;
      }
    } else if (this.config.idleTimeoutMs > 0 && now - this.idleSince >= this.config.idleTimeoutMs - 1) {
      this.config.stats.downstream_cx_idle_timeout.inc();
      this.close(true);
      return;
    }
    this.socket.setTimeout(this.timeoutMs);
  }

  private onMaxDuration(): void {
    this.durationTimer = null;
    this.config.stats.downstream_cx_max_duration_reached.inc();
    this.drain();
  }

  private armHeadersTimer(): void {
    this.headersTimer = setTimeout(() => {
      this.headersTimer = null;
      if (this.stream !== null) return;
      this.config.stats.downstream_rq_header_timeout.inc();
      this.close(true);
    }, this.config.requestHeadersTimeoutMs);
  }

  /** The active stream has finished (response written, or reset). */
  streamDone(stream: ActiveStream, keepAlive: boolean): void {
    if (this.stream !== stream) return;
    this.stream = null;
    this.idleSince = performance.now();
    if (!keepAlive || this.draining || this.closed) {
      this.close(false);
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
    if (this.config.requestHeadersTimeoutMs > 0) this.armHeadersTimer();
    this.parser.resume();
  }

  /** After a 101: the request parser becomes a byte pipe. */
  startTunnel(): void {
    this.parser.startTunnel();
  }
}

function fillConnectionInfo(info: StreamInfo, c: DownstreamConnectionInfo): void {
  info.connectionId = c.id;
  info.downstreamRemoteAddress = formatAddress(c.remoteAddress, c.remotePort);
  info.downstreamDirectRemoteAddress = info.downstreamRemoteAddress;
  info.downstreamLocalAddress = formatAddress(c.localAddress, c.localPort);
}

function logStream(config: HcmConfig, info: StreamInfo): void {
  if (info.durationMs < 0) info.durationMs = performance.now() - info.startMono;
  const logs = config.accessLogs;
  for (let i = 0; i < logs.length; i++) logs[i].log(info);
}

/** Writes a complete local reply and returns whether the connection stays open. */
function sendLocalReplyRaw(
  conn: Http1ServerConnection,
  info: StreamInfo,
  r: reply.LocalReply,
  versionMinor: number,
  keepAlive: boolean,
): boolean {
  const headers = new HeaderMap();
  const body = r.body;
  if (body.length > 0) headers.add('content-type', 'text/plain');
  headers.add('date', new Date().toUTCString());
  if (conn.config.serverName !== undefined) headers.add('server', conn.config.serverName);
  const keep = keepAlive && !conn.draining;
  info.responseCode = r.status;
  info.responseCodeDetails = r.details;
  info.addFlag(r.flag);
  info.responseHeaders = headers;
  const headText = encodeResponseHead(r.status, headers, Framing.Length, Buffer.byteLength(body), keep, versionMinor, undefined);
  const all = info.method === 'HEAD' ? headText : headText + body;
  conn.write(all);
  info.bytesSent += info.method === 'HEAD' ? 0 : Buffer.byteLength(body);
  return keep;
}

const enum StreamState {
  /** Routing and waiting for an upstream connection. */
  Starting,
  /** Request going to upstream; no response yet. */
  Waiting,
  /** Response headers written downstream. */
  Responding,
  /** Bytes relayed both ways after a 101. */
  Tunnel,
  Done,
}

/** One HTTP request/response exchange on a downstream connection. */
export class ActiveStream implements UpstreamRequestOwner, RouteRequest {
  readonly info = new StreamInfo();
  method: string;
  path: string;
  authority = '';
  scheme = 'http';
  readonly headers: HeaderMap;

  private state = StreamState.Starting;
  requestComplete = false;
  private route: MatchedRoute | null = null;
  private cluster: UpstreamCluster | null = null;
  private clusterName: string | null = null;
  private upstream: UpstreamRequest | null = null;
  private upstreamHeadWritten = false;
  /** Body bytes received before the upstream connection was ready. */
  private buffered: Buffer[] | null = null;
  private bufferedBytes = 0;
  private requestTrailers: HeaderMap | null = null;
  private requestFraming = Framing.Length;
  private responseFraming = Framing.Length;
  private keepAlive: boolean;
  private upstreamStart = 0;
  private timeoutTimer: NodeJS.Timeout | null = null;
  private upgradeType: string | undefined;
  private countedActive = false;

  constructor(
    private readonly conn: Http1ServerConnection,
    private readonly head: MessageHead,
  ) {
    this.method = head.method;
    this.path = head.path;
    this.headers = head.headers;
    this.keepAlive = head.keepAlive;
  }

  get isTunnel(): boolean {
    return this.state === StreamState.Tunnel;
  }

  start(): void {
    const conn = this.conn;
    const config = conn.config;
    const stats = config.stats;
    const info = this.info;
    const head = this.head;
    const headers = this.headers;
    info.startMono = performance.now();
    fillConnectionInfo(info, conn.info);
    info.protocol = head.versionMinor === 1 ? 'HTTP/1.1' : 'HTTP/1.0';
    info.method = head.method;
    info.requestHeaders = headers;
    info.bytesReceived = 0;
    stats.downstream_rq_total.inc();
    stats.downstream_rq_http1_total.inc();
    stats.downstream_rq_active.inc();
    this.countedActive = true;

    if (head.versionMinor === 0 && !config.acceptHttp10) {
      this.keepAlive = false;
      this.localReply({ status: 426, body: 'Upgrade Required', details: 'low_version', flag: ResponseFlag.None });
      return;
    }
    // Absolute-form targets (proxies are asked this way) become origin-form plus authority.
    let path = head.path;
    let authority = headers.get('host');
    if (path.charCodeAt(0) !== 47 /* / */) {
      const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)(.*)$/.exec(path);
      if (m !== null) {
        this.scheme = m[1].toLowerCase();
        authority = m[2];
        path = m[3] === '' ? '/' : m[3];
      } else if (!(path === '*' && head.method === 'OPTIONS') && head.method !== 'CONNECT') {
        stats.downstream_rq_non_relative_path.inc();
        this.localReply({ ...reply.protocolError(404, 'absolute_path_rejected'), body: '', flag: ResponseFlag.None });
        return;
      }
    }
    if (authority === undefined || authority === '') {
      if (head.versionMinor === 1) {
        this.localReply(reply.protocolError(400, 'missing_host_header'));
        return;
      }
      authority = config.defaultHostForHttp10;
    }
    if (config.rejectHeadersWithUnderscores && hasUnderscoreHeader(headers)) {
      this.localReply(reply.protocolError(400, 'unexpected_underscore'));
      return;
    }
    this.path = path;
    this.authority = authority;
    headers.remove('host');
    info.path = path;
    info.authority = authority;
    info.scheme = this.scheme;

    if (head.upgrade) {
      const type = (headers.get('upgrade') ?? '').toLowerCase();
      this.upgradeType = type;
    }
    if (head.expectContinue) {
      headers.remove('expect');
      conn.write(CONTINUE_100);
    }
    if (head.chunked) this.requestFraming = Framing.Chunked;

    this.mutateForwardingHeaders();

    // --- routing ---
    const random = (Math.random() * 0x100000000) >>> 0;
    const route = config.routes.match(this, random);
    if (route === null) {
      stats.no_route.inc();
      this.localReply(reply.NO_ROUTE);
      return;
    }
    this.route = route;
    info.routeName = route.name;
    if (this.upgradeType !== undefined && !route.upgradeAllowed(this.upgradeType, config.upgradeTypes.has(this.upgradeType))) {
      this.localReply({ status: 403, body: 'Upgrade request rejected', details: 'upgrade_failed', flag: ResponseFlag.None });
      return;
    }
    if (route.kind === 'direct_response') {
      stats.rq_direct_response.inc();
      const dr = route.directResponse!;
      this.localReply(
        { status: dr.status, body: dr.body === null ? '' : dr.body.toString('latin1'), details: 'direct_response', flag: ResponseFlag.None },
        true,
      );
      return;
    }
    if (route.kind === 'redirect') {
      stats.rq_redirect.inc();
      const r = route.redirect(this);
      this.localReply({ status: r.status, body: '', details: 'direct_response', flag: ResponseFlag.None }, true, r.location);
      return;
    }
    const clusterName = route.pickCluster(this, random);
    const cluster = clusterName === null ? undefined : config.clusters.get(clusterName);
    if (cluster === undefined) {
      stats.no_cluster.inc();
      this.localReply(reply.clusterNotFound(route.clusterNotFoundResponseCode));
      return;
    }
    this.cluster = cluster;
    this.clusterName = clusterName;
    info.upstreamCluster = cluster.name;
    stats.rq_total.inc();

    const hashKey = route.hashKey(this, info);
    const host = cluster.chooseHost(hashKey === undefined ? NO_HASH : { hashKey });
    if (host === null) {
      this.localReply(reply.NO_HEALTHY_UPSTREAM);
      return;
    }
    if (!cluster.canSendRequest()) {
      cluster.requestOverflow();
      this.localReply(reply.OVERFLOW);
      return;
    }
    info.upstreamHost = host.key;

    // Rewrites and header mutations, once the route and host are known.
    const rewritten = route.rewritePath(this);
    if (rewritten !== undefined) {
      headers.set('x-envoy-original-path', this.path);
      this.path = rewritten;
    }
    const hostRewrite = route.hostRewriteFor(clusterName);
    if (hostRewrite !== undefined) {
      headers.set('x-forwarded-host', this.authority);
      this.authority = hostRewrite;
    } else if (route.autoHostRewrite && host.hostname !== '') {
      headers.set('x-forwarded-host', this.authority);
      this.authority = host.hostname;
    }
    route.applyRequestHeaders(headers, info, clusterName);
    if (route.timeoutMs > 0) headers.set('x-envoy-expected-rq-timeout-ms', String(route.timeoutMs));

    cluster.requestStarted();
    host.activeRequests++;
    const cs = cluster.stats;
    cs.upstream_rq_total.inc();
    cs.upstream_rq_active.inc();
    this.upstreamStart = performance.now();
    info.attemptCount = 1;
    const upstream = new UpstreamRequest(this, cluster, host, this.method === 'HEAD');
    this.upstream = upstream;
    this.state = StreamState.Waiting;
    upstream.start();
  }

  /** x-forwarded-for, x-forwarded-proto and x-request-id, as Envoy's connection manager sets them. */
  private mutateForwardingHeaders(): void {
    const config = this.conn.config;
    const headers = this.headers;
    const remote = this.conn.info.remoteAddress;
    let external = false;
    if (config.useRemoteAddress) {
      external = !isInternalAddress(remote);
      if (!config.skipXffAppend) {
        const xff = headers.getJoined('x-forwarded-for');
        headers.set('x-forwarded-for', xff === undefined ? remote : xff + ',' + remote);
      }
      headers.set('x-forwarded-proto', this.scheme);
      if (external) headers.set('x-envoy-external-address', remote);
    } else if (!headers.has('x-forwarded-proto')) {
      headers.set('x-forwarded-proto', this.scheme);
    }
    if (config.generateRequestId) {
      let id = headers.get('x-request-id');
      if (id === undefined || (external && !config.preserveExternalRequestId)) {
        id = randomUUID();
        headers.set('x-request-id', id);
      }
      this.info.requestId = id;
    }
  }

  // --- downstream events ---

  onDownstreamData(chunk: Buffer): void {
    this.info.bytesReceived += chunk.length;
    if (this.state === StreamState.Tunnel) {
      const c = this.upstream?.conn;
      if (c != null && !c.write(chunk)) this.conn.socket.pause();
      return;
    }
    if (this.state === StreamState.Done) return;
    const c = this.upstream?.conn;
    if (this.upstreamHeadWritten && c != null) {
      this.writeBodyChunk(chunk);
      return;
    }
    // No upstream connection yet: hold the body, within the buffer limit.
    if (this.buffered === null) this.buffered = [];
    this.buffered.push(Buffer.from(chunk));
    this.bufferedBytes += chunk.length;
    if (this.bufferedBytes > this.conn.config.bufferLimitBytes) this.conn.socket.pause();
  }

  onDownstreamComplete(trailers: HeaderMap | null): void {
    this.requestComplete = true;
    this.info.lastDownstreamRxByteMs = performance.now() - this.info.startMono;
    if (this.state === StreamState.Done || this.state === StreamState.Tunnel) return;
    this.requestTrailers = trailers;
    if (this.upstreamHeadWritten) this.finishUpstreamRequest();
    const timeout = this.route?.timeoutMs ?? 0;
    if (timeout > 0 && this.upstream !== null && this.timeoutTimer === null) {
      this.timeoutTimer = setTimeout(onRouteTimeout, timeout, this);
    }
  }

  onDownstreamProtocolError(err: Http1ParseError): void {
    if (this.state === StreamState.Done) return;
    if (this.state === StreamState.Responding || this.state === StreamState.Tunnel) {
      this.resetStream(ResponseFlag.DownstreamProtocolError, err.details, true);
      return;
    }
    this.localReply(reply.protocolError(err.status, err.details));
  }

  onDownstreamReset(): void {
    if (this.state === StreamState.Done) return;
    if (this.state === StreamState.Tunnel) {
      this.finishTunnel();
      return;
    }
    this.conn.config.stats.downstream_rq_rx_reset.inc();
    this.info.addFlag(ResponseFlag.DownstreamConnectionTermination);
    if (this.info.responseCodeDetails === '') this.info.responseCodeDetails = 'downstream_remote_disconnect';
    this.abortUpstream();
    this.complete(false);
  }

  onDownstreamDrain(): void {
    this.upstream?.conn?.resumeReading();
  }

  onDownstreamTunnelEnd(): void {
    this.upstream?.conn?.endWrite();
  }

  onStreamIdleTimeout(): void {
    if (this.state === StreamState.Done || this.state === StreamState.Tunnel) return;
    this.conn.config.stats.downstream_rq_idle_timeout.inc();
    if (this.state === StreamState.Responding) {
      this.resetStream(ResponseFlag.StreamIdleTimeout, 'stream_idle_timeout', true);
      return;
    }
    this.abortUpstream();
    this.conn.draining = true;
    this.localReply(reply.STREAM_IDLE_TIMEOUT);
  }

  onRouteTimeout(): void {
    this.timeoutTimer = null;
    if (this.state === StreamState.Done || this.state === StreamState.Tunnel) return;
    const cluster = this.cluster;
    if (cluster !== null) cluster.stats.upstream_rq_timeout.inc();
    this.conn.config.stats.downstream_rq_timeout.inc();
    recordHostResult(this.upstream?.host, 504, true);
    if (this.state === StreamState.Responding) {
      this.resetStream(ResponseFlag.UpstreamRequestTimeout, 'upstream_response_timeout', true);
      return;
    }
    this.abortUpstream();
    this.localReply(reply.UPSTREAM_TIMEOUT);
  }

  // --- upstream events ---

  onUpstreamConnected(): void {
    const c = this.upstream!.conn!;
    const info = this.info;
    info.firstUpstreamTxByteMs = performance.now() - info.startMono;
    const contentLength = this.requestFraming === Framing.Chunked ? -1 : this.head.contentLength;
    const upgrade = this.upgradeType !== undefined ? this.headers.get('upgrade') : undefined;
    const headText = encodeRequestHead(this.method, this.path, this.authority, this.headers, this.requestFraming, contentLength, upgrade);
    this.upstreamHeadWritten = true;
    const buffered = this.buffered;
    if (buffered === null) {
      c.write(headText);
    } else {
      c.socket.cork();
      c.write(headText);
      this.buffered = null;
      this.bufferedBytes = 0;
      for (const chunk of buffered) this.writeBodyChunk(chunk);
      c.socket.uncork();
      if (this.conn.socket.isPaused() && this.state !== StreamState.Done) this.conn.socket.resume();
    }
    if (this.requestComplete) this.finishUpstreamRequest();
  }

  private writeBodyChunk(chunk: Buffer): void {
    const c = this.upstream!.conn!;
    let ok: boolean;
    if (this.requestFraming === Framing.Chunked) {
      c.write(chunkHeader(chunk.length));
      c.write(chunk);
      ok = c.write('\r\n');
    } else {
      ok = c.write(chunk);
    }
    if (!ok) this.conn.socket.pause();
  }

  private finishUpstreamRequest(): void {
    const c = this.upstream?.conn;
    if (c == null) return;
    if (this.requestFraming === Framing.Chunked) c.write(encodeLastChunk(this.requestTrailers));
    this.info.lastUpstreamTxByteMs = performance.now() - this.info.startMono;
    if (this.upgradeType === undefined) c.requestComplete();
  }

  onUpstreamDrain(): void {
    const s = this.conn.socket;
    if (s.isPaused() && this.bufferedBytes <= this.conn.config.bufferLimitBytes) s.resume();
  }

  onUpstreamFailure(reason: PoolFailure, detail: string): void {
    if (this.state === StreamState.Done) return;
    recordHostResult(this.upstream?.host, 503, false);
    this.finishUpstreamAccounting();
    this.upstream = null;
    if (reason === PoolFailure.Overflow) {
      this.localReply(reply.OVERFLOW);
      return;
    }
    this.info.upstreamTransportFailureReason = detail;
    const why = reason === PoolFailure.Timeout ? 'connection timeout' : 'connection failure';
    this.localReply(
      reply.upstreamReset(
        reason === PoolFailure.Timeout ? why : `${why}, transport failure reason: ${detail}`,
        ResponseFlag.UpstreamConnectionFailure,
        `upstream_reset_before_response_started{${why.replace(' ', '_')}}`,
      ),
    );
  }

  onUpstreamHeaders(head: MessageHead): void {
    if (this.state === StreamState.Done) return;
    const info = this.info;
    const config = this.conn.config;
    const now = performance.now();
    info.firstUpstreamRxByteMs = now - info.startMono;
    const serviceTime = Math.round(now - this.upstreamStart);
    info.upstreamServiceTimeMs = serviceTime;
    const status = head.status;
    const headers = head.headers;
    info.responseCode = status;
    info.responseCodeDetails = 'via_upstream';
    info.responseHeaders = headers;
    this.cluster!.stats.chargeResponseCode(status);
    recordHostResult(this.upstream!.host, status, false);
    headers.set('x-envoy-upstream-service-time', String(serviceTime));
    if (config.serverName !== undefined) headers.set('server', config.serverName);
    this.route!.applyResponseHeaders(headers, info, this.clusterName);

    let upgrade: string | undefined;
    let contentLength = head.contentLength;
    if (head.upgrade && this.upgradeType !== undefined) {
      upgrade = headers.get('upgrade') ?? this.upgradeType;
      this.responseFraming = Framing.Length;
      contentLength = -1;
    } else if (this.method === 'HEAD' || status === 204 || status === 304) {
      this.responseFraming = Framing.Length;
      if (status === 204) contentLength = -1;
    } else if (contentLength >= 0) {
      this.responseFraming = Framing.Length;
    } else if (this.head.versionMinor === 1) {
      this.responseFraming = Framing.Chunked;
    } else {
      this.responseFraming = Framing.Close;
      this.keepAlive = false;
    }
    // The connection to the client stays open only if the request allowed it and it is fully read.
    if (!this.requestComplete && upgrade === undefined) this.keepAlive = false;
    if (this.conn.draining) this.keepAlive = false;
    const text = encodeResponseHead(status, headers, this.responseFraming, contentLength, this.keepAlive, this.head.versionMinor, upgrade);
    this.state = StreamState.Responding;
    info.firstDownstreamTxByteMs = performance.now() - info.startMono;
    this.conn.write(text);
    if (upgrade !== undefined) {
      this.state = StreamState.Tunnel;
      this.clearTimeout();
      config.stats.downstream_cx_upgrades_total.inc();
      config.stats.downstream_cx_upgrades_active.inc();
      this.upstream!.conn!.startTunnel();
      this.conn.startTunnel();
    }
  }

  onUpstreamData(chunk: Buffer): void {
    if (this.state === StreamState.Done) return;
    this.info.bytesSent += chunk.length;
    let ok: boolean;
    if (this.responseFraming === Framing.Chunked) {
      const socket = this.conn.socket;
      socket.cork();
      this.conn.write(chunkHeader(chunk.length));
      this.conn.write(chunk);
      ok = this.conn.write('\r\n');
      socket.uncork();
    } else {
      ok = this.conn.write(chunk);
    }
    if (!ok) {
      // A slow client: stop reading from upstream until its socket drains.
      this.upstream?.conn?.pauseReading();
      this.conn.waitForDrain();
    }
  }

  onUpstreamComplete(trailers: HeaderMap | null): void {
    if (this.state === StreamState.Done) return;
    if (this.state === StreamState.Tunnel) {
      this.finishTunnel();
      return;
    }
    this.info.lastUpstreamRxByteMs = performance.now() - this.info.startMono;
    if (this.responseFraming === Framing.Chunked) this.conn.write(encodeLastChunk(trailers));
    this.info.responseTrailers = trailers;
    // The last body bytes may have paused the upstream socket for a slow client; the connection
    // has just gone back to the pool, and a paused pooled connection never reads its next response.
    this.upstream?.conn?.resumeReading();
    this.finishUpstreamAccounting();
    this.upstream = null;
    if (!this.requestComplete) this.conn.draining = true;
    this.complete(this.keepAlive);
  }

  onUpstreamReset(detail: string, protocolError: boolean): void {
    if (this.state === StreamState.Done) return;
    if (this.state === StreamState.Tunnel) {
      this.finishTunnel();
      return;
    }
    const cluster = this.cluster!;
    cluster.stats.upstream_rq_rx_reset.inc();
    recordHostResult(this.upstream?.host, 503, false);
    this.finishUpstreamAccounting();
    this.upstream = null;
    const flag = protocolError ? ResponseFlag.UpstreamProtocolError : ResponseFlag.UpstreamConnectionTermination;
    if (this.state === StreamState.Responding) {
      this.resetStream(flag, 'upstream_reset_after_response_started{' + detail.replace(/ /g, '_') + '}', false);
      return;
    }
    this.info.upstreamTransportFailureReason = detail;
    this.localReply(
      reply.upstreamReset(
        protocolError ? 'protocol error' : 'connection termination',
        flag,
        `upstream_reset_before_response_started{${protocolError ? 'protocol_error' : 'connection_termination'}}`,
        protocolError ? 502 : 503,
      ),
    );
  }

  beginBatch(): void {
    this.conn.socket.cork();
  }

  endBatch(): void {
    this.conn.socket.uncork();
  }

  // --- endings ---

  /** Sends a local reply (before any response bytes went out) and completes the stream. */
  private localReply(r: reply.LocalReply, applyRouteHeaders = false, location?: string): void {
    this.clearTimeout();
    const info = this.info;
    const headers = new HeaderMap();
    const body = r.body;
    if (location !== undefined) headers.add('location', location);
    if (body.length > 0) headers.add('content-type', 'text/plain');
    headers.add('date', new Date().toUTCString());
    const config = this.conn.config;
    if (config.serverName !== undefined) headers.add('server', config.serverName);
    info.responseCode = r.status;
    info.responseCodeDetails = r.details;
    info.addFlag(r.flag);
    if (applyRouteHeaders && this.route !== null) this.route.applyResponseHeaders(headers, info, this.clusterName);
    info.responseHeaders = headers;
    // A request whose body was not read cannot be followed by another on this connection.
    let keep = this.keepAlive && !this.conn.draining && (this.requestComplete || this.head.contentLength === 0);
    if (r.flag === ResponseFlag.DownstreamProtocolError) keep = false;
    const bodyBytes = Buffer.byteLength(body);
    const text = encodeResponseHead(r.status, headers, Framing.Length, bodyBytes, keep, this.head.versionMinor, undefined);
    const withBody = this.method !== 'HEAD' && bodyBytes > 0;
    this.conn.write(withBody ? text + body : text);
    if (withBody) info.bytesSent += bodyBytes;
    this.state = StreamState.Responding;
    if (!keep) this.conn.draining = true;
    this.complete(keep);
  }

  /** Headers already went out: all that can be done is to cut the connection. */
  private resetStream(flag: ResponseFlag, details: string, local: boolean): void {
    this.info.addFlag(local ? flag | ResponseFlag.LocalReset : flag);
    this.info.responseCodeDetails = details;
    this.conn.config.stats.downstream_rq_tx_reset.inc();
    this.abortUpstream();
    this.conn.draining = true;
    this.complete(false);
    this.conn.socket.destroy();
  }

  private finishTunnel(): void {
    const stats = this.conn.config.stats;
    stats.downstream_cx_upgrades_active.dec();
    this.finishUpstreamAccounting();
    const up = this.upstream;
    this.upstream = null;
    up?.conn?.reset();
    this.conn.draining = true;
    this.complete(false);
  }

  private abortUpstream(): void {
    const up = this.upstream;
    if (up === null) return;
    if (up.conn !== null) this.cluster?.stats.upstream_rq_tx_reset.inc();
    up.cancel();
    this.finishUpstreamAccounting();
    this.upstream = null;
  }

  /** Releases the circuit breaker and host counters taken when the upstream request started. */
  private finishUpstreamAccounting(): void {
    const up = this.upstream;
    if (up === null) return;
    const cluster = up.cluster;
    cluster.requestFinished();
    up.host.activeRequests--;
    cluster.stats.upstream_rq_active.dec();
    cluster.stats.upstream_rq_completed.inc();
    cluster.stats.upstream_rq_time.record(performance.now() - this.upstreamStart);
  }

  private clearTimeout(): void {
    if (this.timeoutTimer !== null) {
      clearTimeout(this.timeoutTimer);
      this.timeoutTimer = null;
    }
  }

  private complete(keepAlive: boolean): void {
    if (this.state === StreamState.Done) return;
    this.state = StreamState.Done;
    this.clearTimeout();
    const config = this.conn.config;
    const stats = config.stats;
    const info = this.info;
    if (this.countedActive) stats.downstream_rq_active.dec();
    stats.downstream_rq_completed.inc();
    if (info.responseCode > 0) stats.recordResponseClass(info.responseCode);
    const duration = performance.now() - info.startMono;
    info.durationMs = duration;
    info.lastDownstreamTxByteMs = duration;
    stats.downstream_rq_time.record(duration);
    logStream(config, info);
    this.conn.streamDone(this, keepAlive);
  }
}

function onRouteTimeout(stream: ActiveStream): void {
  stream.onRouteTimeout();
}

const NO_HASH: { hashKey?: number } = {};

/** Envoy's per-host request counters (rq_success counts every non-5xx answer). */
function recordHostResult(host: UpstreamHost | undefined, status: number, timedOut: boolean): void {
  if (host === undefined) return;
  host.rq_total++;
  if (timedOut) host.rq_timeout++;
  if (status >= 500) host.rq_error++;
  else host.rq_success++;
}

function hasUnderscoreHeader(headers: HeaderMap): boolean {
  for (const n of headers.names) if (n.includes('_')) return true;
  return false;
}
