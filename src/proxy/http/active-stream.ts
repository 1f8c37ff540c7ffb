import { HeaderMap } from '../../lib/headers';
import type { Http1ParseError, MessageHead } from '../codec/http1/parser';
import { ResponseFlag, StreamInfo } from '../stream-info';
import type { MatchedRoute, RouteRequest } from './contracts';
import { FilterStatus, type HttpFilter, type LocalReplyOptions } from './filter';
import { FilterHandle, type FilterHost } from './filter-handle';
import { applyForwardingHeaders, fillConnectionInfo, hasUnderscoreHeader, logStream, type ConnectionAddresses } from './forwarding';
import type { HcmConfig } from './hcm-config';
import { isGrpcRequest, parseGrpcTimeout } from './grpc';
import * as reply from './local-reply';
import { Router, type RouterDownstream } from './router';

/**
 * One HTTP request/response exchange on a downstream connection: connection-manager header
 * handling, the HTTP filter chain (decode in order, encode in reverse), routing, and the response
 * handed to the codec. The codec-specific parts (how a response head, body, trailers, a local reply
 * or a reset reach the client, and how reading is paused) are the subclasses': Http1ActiveStream
 * (http1-stream.ts) keeps HTTP/1.1's zero-copy framing, Http2ActiveStream (codec/http2) writes to an
 * nghttp2 stream. The upstream side is the Router's.
 */

/** What every stream needs from its downstream connection, whatever the codec. */
export interface StreamOwner {
  readonly config: HcmConfig;
  draining: boolean;
  readonly info: ConnectionAddresses;
  streamDone(stream: ActiveStream, keepAlive: boolean): void;
}

/** What an HTTP/1.1 stream needs from its connection: the socket itself. */
export interface StreamConnection extends StreamOwner {
  readonly socket: import('node:net').Socket;
  write(data: string | Buffer): boolean;
  waitForDrain(): void;
  startTunnel(): void;
}

const EMPTY = Buffer.alloc(0);

export const enum State {
  /** Headers are going through the decoder filters. */
  Decoding,
  /** The router has the request. */
  Routed,
  /** Response headers written downstream. */
  Responding,
  Tunnel,
  Done,
}

export abstract class ActiveStream implements RouterDownstream, RouteRequest, FilterHost {
  readonly info = new StreamInfo();
  method: string;
  path: string;
  authority = '';
  scheme = 'http';
  readonly headers: HeaderMap;
  readonly config: HcmConfig;
  upgrade: string | undefined;

  protected state = State.Decoding;
  requestComplete = false;
  protected route: MatchedRoute | null = null;
  private routeCached = false;
  private random = 0;
  protected clusterName: string | null = null;
  private clusterPicked = false;
  protected router: Router | null = null;
  protected keepAlive: boolean;
  private countedActive = false;
  /** Filter instances (null when the connection manager has only the router). */
  protected filters: HttpFilter[] | null = null;
  /** Index of the decoder filter that stopped header iteration. */
  private stoppedAt = -1;
  /** Body chunks held while headers are stopped, or by a data-stopping filter (index → chunks). */
  private heldForHeaders: Buffer[] | null = null;
  protected heldBytes = 0;
  private heldByFilter: Map<number, Buffer[]> | null = null;
  private timers: NodeJS.Timeout[] | null = null;
  private durationTimer: NodeJS.Timeout | null = null;

  constructor(
    protected readonly owner: StreamOwner,
    protected readonly head: MessageHead,
  ) {
    this.method = head.method;
    this.path = head.path;
    this.headers = head.headers;
    this.keepAlive = head.keepAlive;
    this.config = owner.config;
  }

  /** True for HTTP/2 streams (protocol stats and %PROTOCOL%). */
  protected abstract readonly http2: boolean;
  /** Stop reading request bytes from the client (flow control). */
  protected abstract pauseDownstream(): void;
  /** Resume reading request bytes if reading was paused. */
  protected abstract resumeDownstream(): void;
  /** Codec part of encodeHeaders: the filtered response head goes to the client. */
  protected abstract writeResponseHead(head: MessageHead, status: number, headers: HeaderMap): void;
  /** Codec part of a local reply: head and body (none to a HEAD request) go out and the response ends. */
  protected abstract writeLocalReply(status: number, headers: HeaderMap, body: string, keep: boolean): void;
  /** Codec part of resetStream: cut this stream towards the client. */
  protected abstract resetDownstream(): void;
  /** Whether the connection may serve another request after this local reply. */
  protected abstract localReplyKeepsConnection(r: reply.LocalReply): boolean;

  get isTunnel(): boolean {
    return this.state === State.Tunnel;
  }

  get responseStarted(): boolean {
    return this.state === State.Responding || this.state === State.Tunnel;
  }

  get requestContentLength(): number {
    return this.head.contentLength;
  }

  get requestChunked(): boolean {
    return this.head.chunked;
  }

  start(): void {
    const conn = this.owner;
    const config = this.config;
    const stats = config.stats;
    const info = this.info;
    const head = this.head;
    const headers = this.headers;
    info.startMono = performance.now();
    fillConnectionInfo(info, conn.info);
    info.protocol = this.http2 ? 'HTTP/2' : head.versionMinor === 1 ? 'HTTP/1.1' : 'HTTP/1.0';
    info.method = head.method;
    info.requestHeaders = headers;
    stats.downstream_rq_total.inc();
    if (this.http2) stats.downstream_rq_http2_total.inc();
    else stats.downstream_rq_http1_total.inc();
    stats.downstream_rq_active.inc();
    this.countedActive = true;

    if (head.versionMinor === 0 && !config.acceptHttp10) {
      this.keepAlive = false;
      this.localReply({ status: 426, body: 'Upgrade Required', details: 'low_version', flag: ResponseFlag.None });
      return;
    }
    // Envoy: x-forwarded-proto says how the request reached this proxy (TLS or not), whatever the
    // request itself claims (:scheme, absolute-form). An HTTP/1 request's scheme defaults to it.
    const connectionScheme = conn.info.tls !== undefined ? 'https' : 'http';
    if (!this.http2) this.scheme = connectionScheme;
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

    if (head.upgrade) this.upgrade = headers.get('upgrade');
    if (head.expectContinue) {
      headers.remove('expect');
      this.sendContinue();
    }
    this.info.requestId = applyForwardingHeaders(config, headers, conn.info.remoteAddress, connectionScheme);
    if (config.maxStreamDurationMs > 0) {
      this.durationTimer = setTimeout(onMaxStreamDuration, config.maxStreamDurationMs, this);
    }
    this.random = (Math.random() * 0x100000000) >>> 0;

    const factories = config.httpFilters;
    if (factories.length === 0) {
      this.forward();
      return;
    }
    const filters: HttpFilter[] = new Array<HttpFilter>(factories.length);
    for (let i = 0; i < factories.length; i++) filters[i] = factories[i].create(new FilterHandle(this, i));
    this.filters = filters;
    this.decodeHeadersFrom(0);
  }

  // --- routing ---

  currentRoute(): MatchedRoute | null {
    if (!this.routeCached) {
      this.routeCached = true;
      this.route = this.config.routes.match(this, this.random);
      this.info.routeName = this.route?.name ?? '';
    }
    return this.route;
  }

  clearRouteCache(): void {
    this.routeCached = false;
    this.route = null;
    this.clusterPicked = false;
    this.clusterName = null;
  }

  /** The route's cluster for this request, picked once (weighted clusters draw once per request). */
  pickedCluster(): string | null {
    if (!this.clusterPicked) {
      this.clusterPicked = true;
      const route = this.currentRoute();
      this.clusterName = route === null || route.kind !== 'cluster' ? null : route.pickCluster(this, this.random);
    }
    return this.clusterName;
  }

  perRouteConfig(filterIndex: number): unknown {
    const route = this.currentRoute();
    if (route === null) return undefined;
    return this.config.perRouteConfig(this.config.httpFilters[filterIndex].name, route, this.clusterName);
  }

  /** Every decoder filter has let the headers through: route and hand the request to the router. */
  private forward(): void {
    const config = this.config;
    const stats = config.stats;
    const info = this.info;
    const route = this.currentRoute();
    if (route === null) {
      stats.no_route.inc();
      this.localReply(reply.NO_ROUTE);
      return;
    }
    if (this.upgrade !== undefined && !route.upgradeAllowed(this.upgrade.toLowerCase(), config.upgradeTypes.has(this.upgrade.toLowerCase()))) {
      this.localReply({ status: 403, body: 'Upgrade request rejected', details: 'upgrade_failed', flag: ResponseFlag.None });
      return;
    }
    if (route.kind === 'direct_response') {
      stats.rq_direct_response.inc();
      const dr = route.directResponse!;
      const body = dr.body === null ? '' : dr.body.toString('latin1');
      this.localReply({ status: dr.status, body, details: 'direct_response', flag: ResponseFlag.None }, true);
      return;
    }
    if (route.kind === 'redirect') {
      stats.rq_redirect.inc();
      const r = route.redirect(this);
      this.localReply({ status: r.status, body: '', details: 'direct_response', flag: ResponseFlag.None }, true, r.location);
      return;
    }
    const clusterName = this.pickedCluster();
    const cluster = clusterName === null ? undefined : config.clusters.get(clusterName);
    if (cluster === undefined) {
      stats.no_cluster.inc();
      this.localReply(reply.clusterNotFound(route.clusterNotFoundResponseCode));
      return;
    }
    info.upstreamCluster = cluster.name;
    stats.rq_total.inc();
    if (route.maxStreamDurationMs !== undefined || route.grpcTimeoutHeaderMaxMs !== undefined) this.refreshDurationTimeout(route);

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
    const headers = this.headers;
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
    // x-envoy-upstream-rq-timeout-ms overrides the route timeout for this request, as in Envoy.
    let timeoutMs = route.timeoutMs;
    const override = headers.get('x-envoy-upstream-rq-timeout-ms');
    if (override !== undefined) {
      headers.remove('x-envoy-upstream-rq-timeout-ms');
      const n = Number(override);
      if (Number.isInteger(n) && n >= 0) timeoutMs = n;
    }
    if (timeoutMs > 0) headers.set('x-envoy-expected-rq-timeout-ms', String(timeoutMs));
    this.state = State.Routed;
    this.router = new Router(this, route, cluster, host, hashKey, timeoutMs);
  }

  /**
   * The route's max_stream_duration replaces the connection manager's, as Envoy's
   * refreshDurationTimeout does: with grpc_timeout_header_max set, a grpc-timeout header sets the
   * duration (capped by a non-zero max, minus grpc_timeout_header_offset); 0 means no limit. The
   * duration counts from the start of the stream.
   */
  private refreshDurationTimeout(route: MatchedRoute): void {
    let timeout: number;
    const grpcTimeout = route.grpcTimeoutHeaderMaxMs === undefined ? undefined : parseGrpcTimeout(this.headers.get('grpc-timeout'));
    if (grpcTimeout === undefined) {
      if (route.maxStreamDurationMs === undefined) return;
      timeout = route.maxStreamDurationMs;
    } else {
      timeout = grpcTimeout;
      const max = route.grpcTimeoutHeaderMaxMs!;
      if (max > 0 && timeout > max) timeout = max;
      const offset = route.grpcTimeoutHeaderOffsetMs;
      if (timeout > 0 && offset !== undefined && offset > 0) timeout = offset < timeout ? timeout - offset : 0;
    }
    if (this.durationTimer !== null) {
      clearTimeout(this.durationTimer);
      this.durationTimer = null;
    }
    if (timeout <= 0) return;
    const left = Math.max(0, timeout - (performance.now() - this.info.startMono));
    this.durationTimer = setTimeout(onMaxStreamDuration, left, this);
  }

  // --- decoder filter chain ---

  private decodeHeadersFrom(start: number): void {
    const filters = this.filters!;
    const endStream = !this.head.chunked && this.head.contentLength <= 0;
    for (let i = start; i < filters.length; i++) {
      const f = filters[i];
      if (f.decodeHeaders === undefined) continue;
      const status = f.decodeHeaders(this.headers, endStream);
      if (this.state === State.Done || this.state === State.Responding) return;
      if (status === FilterStatus.StopIteration) {
        this.stoppedAt = i;
        // Body that waited for the headers reaches the filters up to this one (which sees data
        // while it holds the headers, as in Envoy), and the end of the body if it came.
        if (start > 0) this.releaseHeld(start);
        return;
      }
    }
    this.stoppedAt = -1;
    this.forward();
    // Body that waited for the headers now goes through the remaining filters to the router.
    const held = this.heldForHeaders;
    this.heldForHeaders = null;
    this.heldBytes = 0;
    if (held !== null) for (const chunk of held) this.passData(start, chunk, false);
    if (this.requestComplete && this.state === State.Routed) this.passData(start, EMPTY, true);
    if (this.state !== State.Done) this.resumeDownstream();
  }

  continueDecoding(index: number): void {
    if (this.state !== State.Decoding || this.stoppedAt !== index) return;
    // Body this filter held while it stopped (e.g. a fault delay) goes on with the headers.
    const own = this.heldByFilter?.get(index);
    if (own !== undefined) {
      this.heldByFilter!.delete(index);
      const later = this.heldForHeaders;
      this.heldForHeaders = later === null ? own : own.concat(later);
    }
    this.decodeHeadersFrom(index + 1);
  }

  private releaseHeld(start: number): void {
    const held = this.heldForHeaders;
    this.heldForHeaders = null;
    this.heldBytes = 0;
    if (held !== null) for (const chunk of held) this.passData(start, chunk, false);
    if (this.requestComplete && this.state === State.Decoding) this.passData(start, EMPTY, true);
    if (this.state === State.Decoding && this.heldBytes <= this.config.bufferLimitBytes) this.resumeDownstream();
  }

  /**
   * Runs a body chunk (or the end of the body, as an empty chunk with end=true) through the
   * decoder filters from `start`, then to the router.
   */
  private passData(start: number, chunk: Buffer, end: boolean): void {
    const filters = this.filters;
    if (filters !== null) {
      for (let i = start; i < filters.length; i++) {
        if (this.stoppedAt !== -1 && i > this.stoppedAt) {
          // Headers have not got this far: wait for them.
          this.holdForHeaders(chunk);
          return;
        }
        const f = filters[i];
        if (f.decodeData === undefined) continue;
        const status = f.decodeData(chunk, end);
        if (this.state === State.Done || this.state === State.Responding) return;
        const held = this.heldByFilter?.get(i);
        if (status === FilterStatus.StopIteration) {
          if (chunk.length > 0) {
            // Copied: the chunk may be a view into a socket read buffer that is about to be reused.
            const copy = Buffer.from(chunk);
            if (this.heldByFilter === null) this.heldByFilter = new Map();
            if (held === undefined) this.heldByFilter.set(i, [copy]);
            else held.push(copy);
            this.heldBytes += copy.length;
            if (this.heldBytes > this.config.bufferLimitBytes) this.pauseDownstream();
          }
          return;
        }
        if (held !== undefined) {
          this.heldByFilter!.delete(i);
          for (const c of held) this.heldBytes -= c.length;
          held.push(chunk);
          chunk = Buffer.concat(held);
        }
        if (this.stoppedAt === i) {
          // A filter that held the headers and now lets the body go lets the headers go too.
          if (chunk.length > 0 || !end) this.holdForHeaders(chunk);
          this.decodeHeadersFrom(i + 1);
          return;
        }
      }
      if (this.stoppedAt !== -1 || this.state === State.Decoding) {
        this.holdForHeaders(chunk);
        return;
      }
    }
    const router = this.router;
    if (router === null) return;
    if (chunk.length > 0) router.onRequestData(chunk);
    if (end) router.onRequestComplete(null);
  }

  private holdForHeaders(chunk: Buffer): void {
    if (chunk.length === 0) return;
    (this.heldForHeaders ??= []).push(Buffer.from(chunk));
    this.heldBytes += chunk.length;
    if (this.heldBytes > this.config.bufferLimitBytes) this.pauseDownstream();
  }

  // --- downstream events ---

  onDownstreamData(chunk: Buffer): void {
    this.info.bytesReceived += chunk.length;
    if (this.state === State.Done) return;
    if (this.filters === null && this.router !== null) {
      this.router.onRequestData(chunk);
      return;
    }
    this.passData(0, chunk, false);
  }

  onDownstreamComplete(): void {
    this.requestComplete = true;
    this.info.lastDownstreamRxByteMs = performance.now() - this.info.startMono;
    if (this.state === State.Done || this.state === State.Tunnel) return;
    if (this.filters === null && this.router !== null) {
      this.router.onRequestComplete(null);
      return;
    }
    this.passData(0, EMPTY, true);
  }

  onDownstreamProtocolError(err: Http1ParseError): void {
    if (this.state === State.Done) return;
    if (this.responseStarted) {
      this.resetStream(ResponseFlag.DownstreamProtocolError, err.details, true);
      return;
    }
    this.router?.abort();
    this.localReply(reply.protocolError(err.status, err.details));
  }

  /** The client went away (DC), or reset this stream (DR, HTTP/2 RST_STREAM). */
  onDownstreamReset(flag: ResponseFlag = ResponseFlag.DownstreamConnectionTermination): void {
    if (this.state === State.Done) return;
    if (this.state !== State.Tunnel) {
      this.config.stats.downstream_rq_rx_reset.inc();
      this.info.addFlag(flag);
      if (this.info.responseCodeDetails === '') this.info.responseCodeDetails = 'downstream_remote_disconnect';
    }
    const router = this.router;
    if (router !== null) router.abort();
    this.complete(false);
  }

  onDownstreamDrain(): void {
    this.router?.onDownstreamDrain();
  }

  onDownstreamTunnelEnd(): void {
    this.router?.onTunnelEnd();
  }

  onStreamIdleTimeout(): void {
    if (this.state === State.Done || this.state === State.Tunnel) return;
    this.config.stats.downstream_rq_idle_timeout.inc();
    if (this.responseStarted) {
      this.resetStream(ResponseFlag.StreamIdleTimeout, 'stream_idle_timeout', true);
      return;
    }
    this.router?.abort();
    this.owner.draining = true;
    // Envoy (maybeRequestTimeoutCode): 504 once the whole request was received, else 408.
    this.localReply(this.requestComplete ? { ...reply.STREAM_IDLE_TIMEOUT, status: 504 } : reply.STREAM_IDLE_TIMEOUT);
  }

  onMaxStreamDuration(): void {
    this.durationTimer = null;
    if (this.state === State.Done || this.state === State.Tunnel) return;
    this.config.stats.downstream_rq_max_duration_reached.inc();
    if (this.responseStarted) {
      this.resetStream(ResponseFlag.DurationTimeout, 'max_duration_timeout', true);
      return;
    }
    this.router?.abort();
    const status = this.requestComplete ? 504 : 408; // Envoy's maybeRequestTimeoutCode
    this.localReply({ status, body: 'downstream duration timeout', details: 'max_duration_timeout', flag: ResponseFlag.DurationTimeout, grpcStatus: 4 /* DEADLINE_EXCEEDED */ });
  }

  // --- RouterDownstream: the response ---

  encodeHeaders(head: MessageHead, attempts: number): void {
    if (this.state === State.Done) return;
    const info = this.info;
    const config = this.config;
    const status = head.status;
    const headers = head.headers;
    info.responseCode = status;
    info.responseCodeDetails = 'via_upstream';
    info.responseHeaders = headers;
    headers.set('x-envoy-upstream-service-time', String(info.upstreamServiceTimeMs));
    if (config.serverName !== undefined) headers.set('server', config.serverName);
    const route = this.route!;
    if (route.includeAttemptCountInResponse) headers.set('x-envoy-attempt-count', String(attempts));
    route.applyResponseHeaders(headers, info, this.clusterName);
    this.runEncodeHeaders(status, headers, false);
    this.state = State.Responding;
    info.firstDownstreamTxByteMs = performance.now() - info.startMono;
    this.writeResponseHead(head, status, headers);
  }

  abstract encodeData(chunk: Buffer): boolean;
  abstract encodeComplete(trailers: HeaderMap | null): void;
  abstract startTunnel(): void;
  abstract tunnelDone(): void;
  abstract pauseReading(): void;
  abstract resumeReading(): void;
  abstract beginBatch(): void;
  abstract endBatch(): void;
  /** Answers Expect: 100-continue. */
  protected abstract sendContinue(): void;

  protected runEncodeHeaders(status: number, headers: HeaderMap, endStream: boolean): void {
    const filters = this.filters;
    if (filters === null) return;
    for (let i = filters.length - 1; i >= 0; i--) {
      const f = filters[i];
      if (f.encodeHeaders !== undefined) f.encodeHeaders(status, headers, endStream);
    }
  }

  // --- endings ---

  filterLocalReply(status: number, body: string, opts: LocalReplyOptions): void {
    if (this.state === State.Done || this.responseStarted) return;
    this.router?.abort();
    this.router = null;
    this.localReply({ status, body, details: opts.details, flag: opts.flag ?? ResponseFlag.None }, false, undefined, opts.headers);
  }

  /**
   * Sends a local reply (before any response bytes went out) and completes the stream. A gRPC
   * request gets it as a trailers-only response, as Envoy's sendLocalReply does: HTTP 200,
   * content-type application/grpc, grpc-status mapped from the HTTP status, grpc-message the body.
   */
  localReply(
    r: reply.LocalReply,
    applyRouteHeaders = false,
    location?: string,
    extraHeaders?: ReadonlyArray<readonly [string, string]>,
  ): void {
    if (this.state === State.Done) return;
    const info = this.info;
    const headers = new HeaderMap();
    let body = r.body;
    let status = r.status;
    if (location !== undefined) headers.add('location', location);
    if (extraHeaders !== undefined) for (const [n, v] of extraHeaders) headers.add(n, v);
    const grpc = isGrpcRequest(this.headers);
    if (grpc) {
      headers.add('content-type', 'application/grpc');
      headers.add('grpc-status', String(r.grpcStatus ?? reply.httpToGrpcStatus(status)));
      if (body.length > 0) headers.add('grpc-message', reply.percentEncodeGrpcMessage(body));
      body = '';
      status = 200;
    } else if (body.length > 0) headers.add('content-type', 'text/plain');
    headers.add('date', new Date().toUTCString());
    const config = this.config;
    if (config.serverName !== undefined) headers.add('server', config.serverName);
    info.responseCode = status;
    info.responseCodeDetails = r.details;
    info.addFlag(r.flag);
    if (applyRouteHeaders && this.route !== null) this.route.applyResponseHeaders(headers, info, this.clusterName);
    info.responseHeaders = headers;
    this.runEncodeHeaders(status, headers, true);
    const keep = this.localReplyKeepsConnection(r);
    const sendBody = this.method !== 'HEAD' && body.length > 0;
    this.state = State.Responding;
    this.writeLocalReply(status, headers, body, keep);
    if (sendBody) info.bytesSent += Buffer.byteLength(body);
    if (!keep) this.owner.draining = true;
    this.complete(keep);
  }

  /**
   * Headers already went out: all that can be done is to cut the stream. `local` marks a reset
   * the proxy decided on (timeouts), as opposed to one it relays from upstream.
   */
  resetStream(flag: ResponseFlag, details: string, local = false): void {
    if (this.state === State.Done) return;
    this.info.addFlag(local ? flag | ResponseFlag.LocalReset : flag);
    this.info.responseCodeDetails = details;
    this.config.stats.downstream_rq_tx_reset.inc();
    this.router?.abort();
    this.complete(false);
    this.resetDownstream();
  }

  addTimer(t: NodeJS.Timeout): void {
    if (this.state === State.Done) {
      clearTimeout(t);
      return;
    }
    (this.timers ??= []).push(t);
  }

  protected complete(keepAlive: boolean): void {
    if (this.state === State.Done) return;
    this.state = State.Done;
    if (this.durationTimer !== null) clearTimeout(this.durationTimer);
    if (this.timers !== null) for (const t of this.timers) clearTimeout(t);
    const filters = this.filters;
    if (filters !== null) for (const f of filters) f.onDestroy?.();
    const config = this.config;
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
    this.owner.streamDone(this, keepAlive);
  }
}

function onMaxStreamDuration(stream: ActiveStream): void {
  stream.onMaxStreamDuration();
}

const NO_HASH: { hashKey?: number } = {};
