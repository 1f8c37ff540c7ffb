import { HeaderMap } from '../../lib/headers';
import type { MessageHead } from '../codec/http1/parser';
import { backoffMs, NO_RETRY, policyForRequest, ResetKind, shouldRetryReset, shouldRetryResponse, type RetryPolicy } from '../route/retry-policy';
import { shadowAuthority } from '../route/mirror-policy';
import { ResponseFlag, type StreamInfo } from '../stream-info';
import { PoolFailure, ResetReason } from '../upstream/conn-pool';
import type { MatchedRoute, UpstreamCluster, UpstreamHost } from './contracts';
import type { HcmConfig } from './hcm-config';
import * as reply from './local-reply';
import { BodyBuffer, upstreamChunked, upstreamContentLength } from './request-body';
import { Shadow } from './shadow';
import { UpstreamRequest, type UpstreamRequestOwner } from './upstream-request';

/**
 * The router: sends a routed request to its cluster and relays the answer. It owns the upstream
 * side of a stream — host choice, attempts and retries with back-off, per-try and route timeouts,
 * shadow copies — and reports outcomes to outlier detection. The downstream side (filters,
 * framing towards the client) belongs to the active stream, reached through RouterDownstream.
 */

/** What the router needs from the stream it serves. */
export interface RouterDownstream {
  readonly info: StreamInfo;
  readonly config: HcmConfig;
  readonly method: string;
  readonly path: string;
  readonly authority: string;
  readonly headers: HeaderMap;
  /** -1 when the request has no Content-Length (chunked or no body). */
  readonly requestContentLength: number;
  readonly requestChunked: boolean;
  /** The Upgrade header's value when the client asked for an allowed upgrade. */
  readonly upgrade: string | undefined;
  /** Response headers from upstream, once no retry will replace them. */
  encodeHeaders(head: MessageHead, attempts: number): void;
  /** Returns false when the client cannot take more now (the router pauses the upstream). */
  encodeData(chunk: Buffer): boolean;
  encodeComplete(trailers: HeaderMap | null): void;
  /** `applyRouteHeaders`: the route's response_headers_to_add apply; `extraHeaders` are added. */
  localReply(r: reply.LocalReply, applyRouteHeaders?: boolean, location?: string, extraHeaders?: ReadonlyArray<readonly [string, string]>): void;
  /** Response bytes already went out: the stream can only be cut (`local`: the proxy's own decision). */
  resetStream(flag: ResponseFlag, details: string, local?: boolean): void;
  pauseReading(): void;
  resumeReading(): void;
  beginBatch(): void;
  endBatch(): void;
  startTunnel(): void;
  tunnelDone(): void;
  readonly responseStarted: boolean;
}

const enum Phase {
  Attempting,
  /** Waiting out a retry back-off. */
  BackingOff,
  Responding,
  Tunnel,
  Done,
}

export class Router implements UpstreamRequestOwner {
  private phase = Phase.Attempting;
  private readonly policy: RetryPolicy;
  private attempt: UpstreamRequest | null = null;
  private attemptHost: UpstreamHost | null = null;
  private attempts = 0;
  private retriesUsed = 0;
  private retryInFlight = false;
  private triedHosts: UpstreamHost[] | null = null;
  /** Replay buffer; null when no retry or shadow can need the body. */
  private body: BodyBuffer | null = null;
  private requestComplete = false;
  private requestTrailers: HeaderMap | null = null;
  private headWritten = false;
  /** Body chunks that arrived before this attempt's connection was ready. */
  private pendingChunks: Buffer[] | null = null;
  private pendingBytes = 0;
  private attemptStart = 0;
  private routeTimer: NodeJS.Timeout | null = null;
  private perTryTimer: NodeJS.Timeout | null = null;
  private backoffTimer: NodeJS.Timeout | null = null;
  private shadows: Shadow[] | null = null;
  private readonly hashCtx: { hashKey?: number };
  /** The request body's framing upstream (see upstreamChunked). */
  private readonly chunked: boolean;
  private readonly contentLength: number;

  constructor(
    private readonly down: RouterDownstream,
    private readonly route: MatchedRoute,
    private readonly cluster: UpstreamCluster,
    firstHost: UpstreamHost,
    hashKey: number | undefined,
    /** The route timeout for this request (0: none), after x-envoy-upstream-rq-timeout-ms. */
    private readonly timeoutMs: number,
  ) {
    this.hashCtx = hashKey === undefined ? NO_HASH : { hashKey };
    this.chunked = upstreamChunked(down);
    this.contentLength = upstreamContentLength(down);
    const base = route.retryPolicy ?? NO_RETRY;
    this.policy = policyForRequest(base, down.headers);
    const needsReplay = this.policy.numRetries > 0 && this.policy.retryOn !== 0 && down.upgrade === undefined;
    if (needsReplay) this.body = new BodyBuffer(down.config.bufferLimitBytes);
    this.startShadows();
    this.startAttempt(firstHost);
  }

  // --- requests from the stream ---

  onRequestData(chunk: Buffer): void {
    if (this.phase === Phase.Tunnel) {
      const c = this.attempt?.conn;
      if (c != null && !c.sendTunnelData(chunk)) this.down.pauseReading();
      return;
    }
    if (this.phase === Phase.Done) return;
    if (this.body !== null && !this.body.add(chunk)) {
      this.cluster.stats.retry_or_shadow_abandoned.inc();
      if (this.phase === Phase.BackingOff) {
        // A retry is due but the request no longer fits the replay buffer: Envoy answers 507.
        this.body = null;
        this.fail(reply.RETRY_BUFFER_OVERFLOW);
        return;
      }
      // Too big to replay: no retry from here on; what was kept must still reach this attempt.
      if (!this.headWritten) {
        this.pendingChunks = this.body.chunks;
        this.pendingBytes = this.body.bytes;
      }
      this.body = null;
    }
    if (this.shadows !== null) for (const s of this.shadows) s.data(chunk);
    // The body keeps flowing after the response started (bidirectional streaming).
    if (this.phase !== Phase.Attempting && this.phase !== Phase.Responding) return;
    const c = this.attempt?.conn;
    if (this.headWritten && c != null) {
      if (!this.writeBody(chunk)) this.down.pauseReading();
      return;
    }
    if (this.body === null) {
      // Not kept for replay: hold it only until this attempt connects, reading no further past the limit.
      (this.pendingChunks ??= []).push(Buffer.from(chunk));
      this.pendingBytes += chunk.length;
      if (this.pendingBytes > this.down.config.bufferLimitBytes) this.down.pauseReading();
    }
  }

  onRequestComplete(trailers: HeaderMap | null): void {
    this.requestComplete = true;
    this.requestTrailers = trailers;
    if (this.shadows !== null) for (const s of this.shadows) s.complete(trailers);
    if (this.phase === Phase.Done || this.phase === Phase.Tunnel) return;
    if (this.headWritten) this.finishUpstreamRequest();
    const timeout = this.timeoutMs;
    if (timeout > 0 && this.routeTimer === null) this.routeTimer = setTimeout(onRouteTimeout, timeout, this);
  }

  onDownstreamDrain(): void {
    this.attempt?.conn?.resumeReading();
  }

  onTunnelEnd(): void {
    this.attempt?.conn?.endWrite();
  }

  /** The client went away, or the stream gives up (stream idle timeout, max duration): stop everything. */
  abort(): void {
    this.cancelShadows();
    if (this.phase === Phase.Done) return;
    if (this.phase === Phase.Tunnel) {
      this.finishTunnel();
      return;
    }
    this.abortAttempt(true);
    this.finish();
  }

  // --- attempts ---

  private startAttempt(host: UpstreamHost): void {
    const cluster = this.cluster;
    const down = this.down;
    this.attempts++;
    down.info.attemptCount = this.attempts;
    down.info.upstreamHost = host.key;
    this.attemptHost = host;
    if (this.policy.avoidPreviousHosts) (this.triedHosts ??= []).push(host);
    cluster.requestStarted();
    host.activeRequests++;
    cluster.stats.upstream_rq_total.inc();
    cluster.stats.upstream_rq_active.inc();
    this.attemptStart = performance.now();
    this.headWritten = false;
    this.phase = Phase.Attempting;
    const attempt = new UpstreamRequest(this, cluster, host, down.method === 'HEAD');
    this.attempt = attempt;
    attempt.start();
  }

  onUpstreamConnected(): void {
    const c = this.attempt!.conn!;
    const down = this.down;
    const info = down.info;
    if (this.attemptHost !== null) this.cluster.reportConnectSuccess(this.attemptHost);
    if (this.attempts === 1) info.firstUpstreamTxByteMs = performance.now() - info.startMono;
    if (this.route.includeRequestAttemptCount) down.headers.set('x-envoy-attempt-count', String(this.attempts));
    this.headWritten = true;
    const replay = this.body !== null ? this.body.chunks : this.pendingChunks;
    this.pendingChunks = null;
    this.pendingBytes = 0;
    const noBody = this.requestComplete && (replay === null || replay.length === 0) && this.requestTrailers === null;
    if (replay === null || replay.length === 0) {
      c.sendHead(down.method, down.path, down.authority, down.headers, this.chunked, this.contentLength, down.upgrade, noBody);
    } else {
      c.cork();
      c.sendHead(down.method, down.path, down.authority, down.headers, this.chunked, this.contentLength, down.upgrade, false);
      for (const chunk of replay) c.sendBody(chunk);
      c.uncork();
      down.resumeReading();
    }
    if (this.requestComplete) this.finishUpstreamRequest();
  }

  private writeBody(chunk: Buffer): boolean {
    return this.attempt!.conn!.sendBody(chunk);
  }

  private finishUpstreamRequest(): void {
    const c = this.attempt?.conn;
    if (c == null) return;
    const info = this.down.info;
    info.lastUpstreamTxByteMs = performance.now() - info.startMono;
    c.sendEnd(this.requestTrailers, this.down.upgrade === undefined);
    const perTry = this.policy.perTryTimeoutMs;
    if (perTry > 0 && this.perTryTimer === null) this.perTryTimer = setTimeout(onPerTryTimeout, perTry, this);
  }

  onUpstreamDrain(): void {
    this.down.resumeReading();
  }

  beginBatch(): void {
    this.down.beginBatch();
  }

  endBatch(): void {
    this.down.endBatch();
  }

  onUpstreamFailure(reason: PoolFailure, detail: string): void {
    if (this.phase === Phase.Done) return;
    const host = this.attemptHost;
    this.endAttempt(503);
    if (reason === PoolFailure.Overflow) {
      this.fail(reply.OVERFLOW);
      return;
    }
    if (host !== null) this.cluster.reportConnectFailure(host, reason === PoolFailure.Timeout);
    this.down.info.upstreamTransportFailureReason = detail;
    if (this.maybeRetry(ResetKind.ConnectFailure)) return;
    const why = reason === PoolFailure.Timeout ? 'connection timeout' : 'connection failure';
    this.fail(
      reply.upstreamReset(
        reason === PoolFailure.Timeout ? why : `${why}, transport failure reason: ${detail}`,
        ResponseFlag.UpstreamConnectionFailure,
        `upstream_reset_before_response_started{${why.replace(' ', '_')}}`,
      ),
    );
  }

  onUpstreamHeaders(head: MessageHead): void {
    if (this.phase !== Phase.Attempting) return;
    if (head.upgrade && this.down.upgrade === undefined) {
      // 101 to a request that asked for no upgrade: the upstream is not speaking HTTP/1.1 to us.
      this.cluster.stats.upstream_rq_rx_reset.inc();
      this.abortAttempt(true);
      this.fail(reply.upstreamReset('protocol error', ResponseFlag.UpstreamProtocolError, 'upstream_reset_before_response_started{protocol_error}', 502));
      return;
    }
    const status = head.status;
    const host = this.attemptHost!;
    this.cluster.reportHttpStatus(host, status);
    if (head.headers.has('x-envoy-immediate-health-check-fail')) this.cluster.reportImmediateHealthCheckFail(host);
    // A retriable answer is dropped (its connection with it) and the request goes again.
    // Without retry budget (max_retries circuit breaker) this answer goes out as it is (UO).
    if (!this.down.responseStarted && this.retriesLeft() && shouldRetryResponse(this.policy, status, head.headers) && this.retryAllowed()) {
      this.cluster.stats.chargeResponseCode(status);
      recordHostResult(host, status, false);
      this.abortAttempt(false);
      this.scheduleRetry();
      return;
    }
    if (this.retriesUsed > 0 && this.policy.retryOn !== 0 && !this.retriesLeft() && shouldRetryResponse(this.policy, status, head.headers)) {
      this.down.info.addFlag(ResponseFlag.UpstreamRetryLimitExceeded);
      this.cluster.stats.upstream_rq_retry_limit_exceeded.inc();
    }
    this.clearPerTry();
    const info = this.down.info;
    const now = performance.now();
    info.firstUpstreamRxByteMs = now - info.startMono;
    info.upstreamServiceTimeMs = Math.round(now - this.attemptStart);
    this.cluster.stats.chargeResponseCode(status);
    recordHostResult(host, status, false);
    if (this.retriesUsed > 0 && status < 500) this.cluster.stats.upstream_rq_retry_success.inc();
    this.phase = Phase.Responding;
    this.down.encodeHeaders(head, this.attempts);
    if (head.upgrade && this.down.upgrade !== undefined) {
      this.phase = Phase.Tunnel;
      this.clearTimers();
      this.attempt!.conn!.startTunnel();
      this.down.startTunnel();
    }
  }

  onUpstreamData(chunk: Buffer): void {
    if (this.phase !== Phase.Responding && this.phase !== Phase.Tunnel) return;
    if (!this.down.encodeData(chunk)) this.attempt?.conn?.pauseReading();
  }

  onUpstreamComplete(trailers: HeaderMap | null): void {
    if (this.phase === Phase.Tunnel) {
      this.finishTunnel();
      return;
    }
    if (this.phase !== Phase.Responding) return;
    const info = this.down.info;
    info.lastUpstreamRxByteMs = performance.now() - info.startMono;
    this.attempt?.conn?.resumeReading();
    this.endAttempt(-1);
    this.finish();
    this.down.encodeComplete(trailers);
  }

  onUpstreamReset(detail: string, reason: ResetReason): void {
    if (this.phase === Phase.Done || this.phase === Phase.BackingOff) return;
    if (this.phase === Phase.Tunnel) {
      this.finishTunnel();
      return;
    }
    const cluster = this.cluster;
    cluster.stats.upstream_rq_rx_reset.inc();
    const host = this.attemptHost;
    if (host !== null) cluster.reportHttpStatus(host, 503);
    this.endAttempt(503);
    const protocolError = reason === ResetReason.ProtocolError;
    // Envoy's flags: UPE for protocol errors, UR for a stream reset by the upstream, UC for a lost connection.
    const flag = protocolError
      ? ResponseFlag.UpstreamProtocolError
      : reason === ResetReason.ConnectionTermination
        ? ResponseFlag.UpstreamConnectionTermination
        : ResponseFlag.UpstreamRemoteReset;
    if (this.phase === Phase.Responding) {
      this.finish();
      this.down.resetStream(flag, 'upstream_reset_after_response_started{' + detail.replace(/ /g, '_') + '}');
      return;
    }
    if (this.maybeRetry(reason === ResetReason.RemoteRefusedStream ? ResetKind.Refused : ResetKind.Reset)) return;
    this.down.info.upstreamTransportFailureReason = detail;
    const text = RESET_TEXT[reason];
    this.fail(reply.upstreamReset(text, flag, `upstream_reset_before_response_started{${text.replace(/ /g, '_')}}`, protocolError ? 502 : 503));
  }

  onRouteTimeout(): void {
    this.routeTimer = null;
    if (this.phase === Phase.Done || this.phase === Phase.Tunnel) return;
    // (http.<prefix>.downstream_rq_timeout is the connection manager's request_timeout, not this.)
    this.cluster.stats.upstream_rq_timeout.inc();
    const host = this.attemptHost;
    if (host !== null) {
      recordHostResult(host, 504, true);
      this.cluster.reportTimeout(host);
    }
    if (this.phase === Phase.Responding) {
      this.abortAttempt(true);
      this.finish();
      this.down.resetStream(ResponseFlag.UpstreamRequestTimeout, 'upstream_response_timeout', true);
      return;
    }
    this.abortAttempt(true);
    this.fail(reply.UPSTREAM_TIMEOUT);
  }

  onPerTryTimeout(): void {
    this.perTryTimer = null;
    if (this.phase !== Phase.Attempting) return;
    this.cluster.stats.upstream_rq_per_try_timeout.inc();
    const host = this.attemptHost;
    if (host !== null) {
      recordHostResult(host, 504, true);
      this.cluster.reportTimeout(host);
    }
    this.abortAttempt(true);
    if (this.maybeRetry(ResetKind.Reset, true)) return;
    this.fail({ ...reply.UPSTREAM_TIMEOUT, details: 'upstream_per_try_timeout' });
  }

  // --- retries ---

  /** A retry needs budget left and the whole request still at hand (kept within the buffer limit). */
  private retriesLeft(): boolean {
    return this.retriesUsed < this.policy.numRetries && this.body !== null;
  }

  /** Retries after a failure that produced no response; false when it cannot. */
  private maybeRetry(kind: ResetKind, timeout = false): boolean {
    if (!this.retriesLeft()) {
      if (this.retriesUsed > 0) {
        this.down.info.addFlag(ResponseFlag.UpstreamRetryLimitExceeded);
        this.cluster.stats.upstream_rq_retry_limit_exceeded.inc();
      }
      return false;
    }
    const ok = timeout ? shouldRetryReset(this.policy, ResetKind.Reset) || shouldRetryResponse(this.policy, 504, EMPTY_HEADERS) : shouldRetryReset(this.policy, kind);
    return ok && this.scheduleRetry();
  }

  /** The max_retries circuit breaker has room; if not, counts the overflow (Envoy: UO). */
  private retryAllowed(): boolean {
    if (this.cluster.canRetry()) return true;
    this.cluster.stats.upstream_rq_retry_overflow.inc();
    this.down.info.addFlag(ResponseFlag.UpstreamOverflow);
    return false;
  }

  /** Waits out the back-off and starts the next attempt; false if the retry budget is spent. */
  private scheduleRetry(): boolean {
    if (!this.retryAllowed()) return false;
    this.cluster.retryStarted();
    this.retryInFlight = true;
    this.retriesUsed++;
    this.cluster.stats.upstream_rq_retry.inc();
    this.cluster.stats.upstream_rq_retry_backoff_exponential.inc();
    this.phase = Phase.BackingOff;
    this.attempt = null;
    this.headWritten = false;
    const wait = backoffMs(this.policy, this.retriesUsed, Math.random());
    this.backoffTimer = setTimeout(onBackoffDone, wait, this);
    return true;
  }

  onBackoffDone(): void {
    this.backoffTimer = null;
    if (this.phase !== Phase.BackingOff) return;
    const host = this.pickRetryHost();
    if (host === null) {
      this.fail(reply.NO_HEALTHY_UPSTREAM);
      return;
    }
    if (!this.cluster.canSendRequest()) {
      this.cluster.requestOverflow();
      this.fail(reply.OVERFLOW);
      return;
    }
    this.startAttempt(host);
  }

  private pickRetryHost(): UpstreamHost | null {
    const tried = this.triedHosts;
    let host = this.cluster.chooseHost(this.hashCtx);
    for (let i = 1; tried !== null && host !== null && tried.includes(host) && i < this.policy.hostSelectionMaxAttempts; i++) {
      host = this.cluster.chooseHost(this.hashCtx);
    }
    return host;
  }

  // --- endings ---

  private fail(r: reply.LocalReply): void {
    this.finish();
    // As Envoy's router (modify_headers_): route response headers and, when the virtual host asks
    // for it, x-envoy-attempt-count go on the router's own replies too.
    const count = this.route.includeAttemptCountInResponse && this.attempts > 0 ? [['x-envoy-attempt-count', String(this.attempts)] as const] : undefined;
    this.down.localReply(r, true, undefined, count);
  }

  /** Closes the current attempt's accounting; status -1 means the outcome was already recorded. */
  private endAttempt(status: number): void {
    const host = this.attemptHost;
    if (host === null) return;
    this.attemptHost = null;
    if (status > 0) recordHostResult(host, status, false);
    const cluster = this.cluster;
    cluster.requestFinished();
    host.activeRequests--;
    cluster.stats.upstream_rq_active.dec();
    cluster.stats.upstream_rq_completed.inc();
    cluster.stats.upstream_rq_time.record(performance.now() - this.attemptStart);
    this.clearPerTry();
    if (this.retryInFlight) {
      this.retryInFlight = false;
      cluster.retryFinished();
    }
  }

  /** Gives up on the current attempt; `cancelled` counts it as reset by us. */
  private abortAttempt(cancelled: boolean): void {
    const attempt = this.attempt;
    this.attempt = null;
    if (attempt === null) return;
    if (cancelled && attempt.conn !== null) this.cluster.stats.upstream_rq_tx_reset.inc();
    attempt.cancel();
    this.endAttempt(-1);
  }

  private finishTunnel(): void {
    const attempt = this.attempt;
    this.attempt = null;
    attempt?.conn?.reset();
    this.endAttempt(-1);
    this.finish();
    this.down.tunnelDone();
  }

  private finish(): void {
    if (this.phase === Phase.Done) return;
    if (!this.requestComplete) this.cancelShadows();
    if (this.phase === Phase.BackingOff && this.retryInFlight) {
      this.retryInFlight = false;
      this.cluster.retryFinished();
    }
    this.phase = Phase.Done;
    this.clearTimers();
  }

  private clearPerTry(): void {
    if (this.perTryTimer !== null) {
      clearTimeout(this.perTryTimer);
      this.perTryTimer = null;
    }
  }

  private clearTimers(): void {
    this.clearPerTry();
    if (this.routeTimer !== null) {
      clearTimeout(this.routeTimer);
      this.routeTimer = null;
    }
    if (this.backoffTimer !== null) {
      clearTimeout(this.backoffTimer);
      this.backoffTimer = null;
    }
  }

  // --- shadowing ---

  /** Shadows whose request body had not ended are cancelled with the main request. */
  private cancelShadows(): void {
    const shadows = this.shadows;
    if (shadows !== null) for (const s of shadows) s.cancelIfIncomplete();
  }

  private startShadows(): void {
    const policies = this.route.mirrorPolicies;
    if (policies.length === 0) return;
    const down = this.down;
    for (const p of policies) {
      if (p.numerator < p.denominator && Math.floor(Math.random() * p.denominator) >= p.numerator) continue;
      const cluster = down.config.clusters.get(p.cluster);
      if (cluster === undefined) continue;
      const authority = p.disableShadowHostSuffixAppend ? down.authority : shadowAuthority(down.authority);
      const s = Shadow.start(cluster, down, authority, this.timeoutMs);
      if (s !== null) (this.shadows ??= []).push(s);
    }
  }
}

function onRouteTimeout(r: Router): void {
  r.onRouteTimeout();
}
function onPerTryTimeout(r: Router): void {
  r.onPerTryTimeout();
}
function onBackoffDone(r: Router): void {
  r.onBackoffDone();
}

/** Envoy's reset reason strings (Http::Utility::resetReasonToString). */
const RESET_TEXT: Record<ResetReason, string> = {
  [ResetReason.ConnectionTermination]: 'connection termination',
  [ResetReason.ProtocolError]: 'protocol error',
  [ResetReason.RemoteReset]: 'remote reset',
  [ResetReason.RemoteRefusedStream]: 'remote refused stream reset',
};

const NO_HASH: { hashKey?: number } = {};
const EMPTY_HEADERS = new HeaderMap();

/** Envoy's per-host request counters (rq_success counts every non-5xx answer). */
export function recordHostResult(host: UpstreamHost, status: number, timedOut: boolean): void {
  host.rq_total++;
  if (timedOut) host.rq_timeout++;
  if (status >= 500) host.rq_error++;
  else host.rq_success++;
}
