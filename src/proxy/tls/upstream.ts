import { X509Certificate } from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { readBool, readNumber, readObject, readString } from '../../lib/decoded-read';
import type { SecretStore } from '../secret/secret-store';
import type { StatsStore } from '../telemetry/stats';
import type { UpstreamConnectOptions, UpstreamTransport } from '../upstream/transport-socket';
import { compileCommonTlsContext, LiveTlsContext } from './common-context';
import { checkPeer, type PeerVerdict } from './peer-validation';
import { SslStats } from './ssl-stats';
import { readTlsTransportSocket, UPSTREAM_TLS_TYPE } from './transport-socket-config';

/**
 * A cluster's UpstreamTlsContext as an UpstreamTransport: TLS connections with the configured SNI,
 * ALPN (the pool's request, else alpn_protocols), client certificate, and server certificate
 * validation (trusted_ca by OpenSSL during the handshake, then SAN matchers and pins). A failed
 * validation aborts the connection before 'secureConnect' and is counted under
 * cluster.<name>.ssl.*.
 */

export interface UpstreamTlsDeps {
  readonly secrets: SecretStore;
  readonly stats: StatsStore;
  /** "cluster.<alt_stat_name or name>." */
  readonly statPrefix: string;
}

/** OpenSSL certificate verification result codes (X509_V_ERR_* names as Node reports them). */
const VERIFY_CODE = /^(CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|INVALID_|PATH_LENGTH|KEYUSAGE|HOSTNAME_MISMATCH|ERR_TLS_CERT)/;

class PeerRejected extends Error {
  constructor(readonly verdict: Exclude<PeerVerdict, 'ok'>) {
    super(`upstream certificate rejected: ${verdict}`);
  }
  get code(): string {
    return verdict2code(this.verdict);
  }
}

function verdict2code(v: Exclude<PeerVerdict, 'ok'>): string {
  return v.toUpperCase();
}

export class UpstreamTlsTransport implements UpstreamTransport {
  readonly secure = true;
  readonly readyEvent = 'secureConnect' as const;
  readonly defaultAlpn: readonly string[];
  /**
   * The last TLS session (max_session_keys > 0), offered for resumption on the next connection.
   * It belongs to the context it was made with: a rotated context starts over.
   */
  private session: { context: object; data: Buffer } | null = null;

  constructor(
    private readonly context: LiveTlsContext,
    private readonly stats: SslStats,
    private readonly sni: string,
    private readonly resumeSessions: boolean,
  ) {
    this.defaultAlpn = context.config.alpn;
  }

  connect(options: UpstreamConnectOptions): net.Socket {
    const current = this.context.current;
    if (current === undefined) {
      const s = new net.Socket();
      const why = this.context.missing() ?? 'TLS context unavailable';
      this.stats.connection_error.inc();
      process.nextTick(() => s.destroy(new Error(why)));
      return s;
    }
    const validation = current.validation;
    const alpn = options.alpn !== undefined && options.alpn.length > 0 ? options.alpn : this.defaultAlpn;
    const cached = this.session;
    const s = tls.connect({
      session: cached !== null && cached.context === current ? cached.data : undefined,
      host: options.host,
      port: options.port,
      servername: this.sni,
      secureContext: current.secureContext,
      ALPNProtocols: alpn.length > 0 ? [...alpn] : undefined,
      // Without trusted_ca the chain is not verified (Envoy); SAN checks then cannot be configured.
      rejectUnauthorized: validation?.trustedCa !== undefined,
      // Envoy checks names only through match_typed_subject_alt_names, never against the SNI.
      checkServerIdentity: (_host, cert) => {
        if (validation === undefined) return undefined;
        const verdict = checkPeer(new X509Certificate(cert.raw), undefined, validation);
        return verdict === 'ok' ? undefined : new PeerRejected(verdict);
      },
    });
    s.setNoDelay(true);
    const stats = this.stats;
    let secured = false;
    if (this.resumeSessions) s.on('session', (data: Buffer) => (this.session = { context: current, data }));
    s.once('secureConnect', () => {
      secured = true;
      if (s.isSessionReused()) stats.session_reused.inc();
      stats.handshake.inc();
      stats.recordSession(s.getProtocol(), s.getCipher()?.name);
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (secured) return;
      if (e instanceof PeerRejected) stats.verdict(e.verdict).inc();
      else if (e.code !== undefined && VERIFY_CODE.test(e.code)) stats.fail_verify_error.inc();
      else if (e.code === undefined || !/^E[A-Z]+$/.test(e.code)) stats.connection_error.inc();
    });
    const onread = options.onread;
    if (onread !== undefined) {
      // tls.connect has no onread: deliver reads to the same callback (a different buffer per read).
      const cb = onread.callback;
      s.on('data', (d: Buffer) => {
        if (cb(d.length, d) === false) s.pause();
      });
    }
    return s;
  }

  close(): void {
    this.context.close();
  }
}

const FIELDS = ['common_tls_context', 'sni', 'allow_renegotiation', 'max_session_keys'];

export function compileUpstreamTransport(ts: unknown, p: string, issues: ConfigIssue[], deps: UpstreamTlsDeps): UpstreamTlsTransport | undefined {
  const tc = readTlsTransportSocket(ts, p, issues, UPSTREAM_TLS_TYPE);
  if (tc === undefined) return undefined;
  const tp = joinPath(p, 'typed_config');
  const before = issues.length;
  rejectUnsupported(tc, tp, FIELDS, issues);
  if (readBool(tc, 'allow_renegotiation', tp, issues) === true) {
    issues.push({ path: joinPath(tp, 'allow_renegotiation'), message: 'TLS renegotiation is not supported by Weft' });
  }
  const sni = readString(tc, 'sni', tp, issues) ?? '';
  // Envoy's default is 1; Weft keeps one session per cluster whatever the value (0 disables).
  const maxSessionKeys = readNumber(tc, 'max_session_keys', tp, issues, { min: 0, integer: true }) ?? 1;
  if (sni.length > 255) issues.push({ path: joinPath(tp, 'sni'), message: 'sni must be at most 255 bytes' });
  const common = compileCommonTlsContext(readObject(tc, 'common_tls_context', tp, issues), joinPath(tp, 'common_tls_context'), issues, deps.secrets, 'client');
  if (common === undefined) return undefined;
  const dv = common.validationDefault?.value;
  if (dv !== undefined && dv.trustedCa === undefined && common.validationDynamic === undefined && (dv.hashPins.length > 0 || dv.spkiPins.length > 0)) {
    issues.push({ path: joinPath(tp, 'common_tls_context'), message: 'verify_certificate_hash / verify_certificate_spki without trusted_ca are not implemented by Weft for upstream connections' });
  }
  if (dv?.allowExpired === true) {
    issues.push({ path: joinPath(tp, 'common_tls_context'), message: 'allow_expired_certificate is not implemented by Weft for upstream connections' });
  }
  if (issues.length > before) {
    common.release();
    return undefined;
  }
  const stats = new SslStats(deps.stats, deps.statPrefix);
  const errors: string[] = [];
  const live = new LiveTlsContext(common, p, {
    onRebuildFailed: (m) => {
      errors.push(m);
      stats.context_update_failed.inc();
    },
  });
  if (errors.length > 0) {
    issues.push({ path: tp, message: errors[0] });
    live.close();
    return undefined;
  }
  return new UpstreamTlsTransport(live, stats, sni, maxSessionKeys > 0);
}
