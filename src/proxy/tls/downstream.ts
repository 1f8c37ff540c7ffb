import type * as net from 'node:net';
import * as tls from 'node:tls';
import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { readBool, readEnum, readNumber, readObject } from '../../lib/decoded-read';
import type { SecretStore } from '../secret/secret-store';
import type { Counter, StatsStore } from '../telemetry/stats';
import { compileCommonTlsContext, LiveTlsContext } from './common-context';
import { checkPeer } from './peer-validation';
import { SslStats } from './ssl-stats';
import { DOWNSTREAM_TLS_TYPE, readTlsTransportSocket } from './transport-socket-config';

/**
 * A filter chain's DownstreamTlsContext: wraps an accepted socket (whose peeked bytes were given
 * back) in a server TLSSocket with the chain's current context, verifies the client certificate
 * as configured, and hands the TLSSocket to the network filters once the handshake is done.
 */

export interface DownstreamTlsDeps {
  readonly secrets: SecretStore;
  readonly stats: StatsStore;
  /** "listener.<stat_prefix>." */
  readonly statPrefix: string;
  /** listener.<>.downstream_cx_transport_socket_connect_timeout */
  readonly handshakeTimeoutCounter: Counter;
}

/** Weft bounds every handshake; Envoy's transport_socket_connect_timeout overrides this. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

interface VerifyHandle {
  verifyError(): Error | null;
}

const FIELDS = ['common_tls_context', 'require_client_certificate', 'require_sni', 'session_timeout', 'ocsp_staple_policy'];

export class DownstreamTlsTransport {
  private readonly socketOptions: tls.TLSSocketOptions;

  constructor(
    private readonly context: LiveTlsContext,
    private readonly stats: SslStats,
    private readonly requireClientCert: boolean,
    private readonly requireSni: boolean,
    private readonly handshakeTimeoutMs: number,
    private readonly handshakeTimeouts: Counter,
  ) {
    const alpn = context.config.alpn;
    const validates = context.config.validationDefault !== undefined || context.config.validationDynamic !== undefined;
    this.socketOptions = {
      isServer: true,
      requestCert: validates,
      // For a server TLSSocket this only makes OpenSSL require a certificate (fail_if_no_peer_cert:
      // the client gets a "certificate required" alert); verification results are checked below.
      rejectUnauthorized: validates && requireClientCert,
      ALPNProtocols: alpn.length > 0 ? [...alpn] : undefined,
    };
  }

  /** Application protocols this chain's TLS context negotiates (ALPN), for docs/tests. */
  get alpn(): readonly string[] {
    return this.context.config.alpn;
  }

  /**
   * Starts the handshake. `onReady` gets the TLS socket after a handshake whose peer passed
   * validation; otherwise the socket is destroyed, counted, and `onFailed` is called.
   */
  accept(socket: net.Socket, onReady: (s: tls.TLSSocket) => void, onFailed: () => void): void {
    const current = this.context.current;
    if (current === undefined) {
      this.stats.connection_error.inc();
      socket.destroy();
      onFailed();
      return;
    }
    const s = new tls.TLSSocket(socket, { ...this.socketOptions, secureContext: current.secureContext });
    const validation = current.validation;
    let settled = false;
    const fail = (counter: Counter): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      counter.inc();
      s.destroy();
      onFailed();
    };
    const timer = setTimeout(() => fail(this.handshakeTimeouts), this.handshakeTimeoutMs);
    const onError = (e?: NodeJS.ErrnoException): void =>
      fail(e?.code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' ? this.stats.fail_verify_no_cert : this.stats.connection_error);
    const onClose = (): void => fail(this.stats.connection_error);
    s.once('error', onError);
    s.once('close', onClose);
    s.once('secure', () => {
      if (settled) return;
      if (this.requireSni && !s.servername) return fail(this.stats.connection_error);
      if (validation !== undefined) {
        const peer = s.getPeerX509Certificate();
        if (peer === undefined) {
          if (this.requireClientCert) return fail(this.stats.fail_verify_no_cert);
          this.stats.no_certificate.inc();
        } else {
          // Node leaves OpenSSL's verification result on the native handle for server sockets
          // not created by a tls.Server; it is the only place to read it.
          const err = (s as unknown as { ssl?: VerifyHandle }).ssl?.verifyError() as (Error & { code?: string }) | null | undefined;
          const verdict = checkPeer(peer, err ? (err.code ?? err.message) : undefined, validation);
          if (verdict !== 'ok') return fail(this.stats.verdict(verdict));
        }
      } else {
        this.stats.no_certificate.inc();
      }
      settled = true;
      clearTimeout(timer);
      // tls.Server clears this flag when a server handshake completes; a TLSSocket made by hand
      // keeps it set, and node:http2 then waits forever for 'secureConnect' before starting its
      // session (HTTP/2 over TLS would never answer).
      (s as unknown as { secureConnecting: boolean }).secureConnecting = false;
      s.off('error', onError);
      s.off('close', onClose);
      this.stats.handshake.inc();
      this.stats.recordSession(s.getProtocol(), s.getCipher()?.name);
      onReady(s);
    });
  }

  close(): void {
    this.context.close();
  }
}

export function compileDownstreamTransport(
  ts: unknown,
  p: string,
  issues: ConfigIssue[],
  deps: DownstreamTlsDeps,
  handshakeTimeoutMs: number | undefined,
): DownstreamTlsTransport | undefined {
  const tc = readTlsTransportSocket(ts, p, issues, DOWNSTREAM_TLS_TYPE);
  if (tc === undefined) return undefined;
  const tp = joinPath(p, 'typed_config');
  const before = issues.length;
  rejectUnsupported(tc, tp, FIELDS, issues);
  const common = compileCommonTlsContext(readObject(tc, 'common_tls_context', tp, issues), joinPath(tp, 'common_tls_context'), issues, deps.secrets, 'server');
  const requireClientCert = readBool(tc, 'require_client_certificate', tp, issues) ?? false;
  const requireSni = readBool(tc, 'require_sni', tp, issues) ?? false;
  readEnum(tc, 'ocsp_staple_policy', tp, issues, ['LENIENT_STAPLING'], ['STRICT_STAPLING', 'MUST_STAPLE']);
  readNumber(tc, 'session_timeout', tp, issues, { min: 0 });
  if (tc.session_timeout !== undefined) issues.push({ path: joinPath(tp, 'session_timeout'), message: 'field is not implemented by Weft' });
  if (common === undefined) return undefined;
  if (common.certificates.length === 0) {
    issues.push({ path: joinPath(tp, 'common_tls_context'), message: 'a server TLS context needs tls_certificates or tls_certificate_sds_secret_configs' });
  }
  if (requireClientCert && common.validationDefault === undefined && common.validationDynamic === undefined) {
    issues.push({ path: joinPath(tp, 'require_client_certificate'), message: 'require_client_certificate needs a validation context (trusted_ca) to verify the certificate' });
  }
  if (issues.length > before) {
    common.release();
    return undefined;
  }
  const stats = new SslStats(deps.stats, deps.statPrefix);
  const contextErrors: string[] = [];
  const live = new LiveTlsContext(common, p, {
    onRebuildFailed: (m) => {
      contextErrors.push(m);
      stats.context_update_failed.inc();
    },
  });
  if (contextErrors.length > 0) {
    issues.push({ path: tp, message: contextErrors[0] });
    live.close();
    return undefined;
  }
  const timeout = handshakeTimeoutMs === undefined || handshakeTimeoutMs === 0 ? DEFAULT_HANDSHAKE_TIMEOUT_MS : handshakeTimeoutMs;
  return new DownstreamTlsTransport(live, stats, requireClientCert, requireSni, timeout, deps.handshakeTimeoutCounter);
}

