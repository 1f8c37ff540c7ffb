import type * as net from 'node:net';
import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { isObject, readBool, readNumber, readObject, readString } from '../../lib/decoded-read';
import type { Counter, StatsStore } from '../telemetry/stats';
import { detectHttp, MAX_HTTP_INSPECT } from './http-inspector';
import { MAX_CLIENT_HELLO, parseClientHello } from './tls-inspector';

/**
 * A listener's `listener_filters`: tls_inspector, http_inspector and original_dst. The inspectors
 * read the first bytes of a connection (at most 64 KiB, within listener_filters_timeout), detect
 * the transport protocol, SNI and application protocols for filter-chain matching, and give every
 * byte back to the socket (unshift) for the TLS handshake or the network filters that read next.
 *
 * original_dst: Node cannot read SO_ORIGINAL_DST (iptables REDIRECT), so the original destination
 * is the accepted socket's local address; with use_original_dst the listener bound there (or a
 * bind_to_port:false listener for that address) takes the connection over.
 */

export const TLS_INSPECTOR_TYPE = 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector';
export const HTTP_INSPECTOR_TYPE = 'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector';
export const ORIGINAL_DST_TYPE = 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst';
/** Envoy's default listener_filters_timeout. */
export const DEFAULT_LISTENER_FILTERS_TIMEOUT_MS = 15_000;

export interface DetectedProtocols {
  transportProtocol: string;
  serverName: string;
  applicationProtocols: readonly string[];
}

type FilterKind = 'tls_inspector' | 'http_inspector' | 'original_dst';

class InspectorStats {
  readonly client_hello_too_large: Counter;
  readonly tls_found: Counter;
  readonly tls_not_found: Counter;
  readonly alpn_found: Counter;
  readonly alpn_not_found: Counter;
  readonly sni_found: Counter;
  readonly sni_not_found: Counter;
  readonly http10_found: Counter;
  readonly http11_found: Counter;
  readonly http2_found: Counter;
  readonly http_not_found: Counter;
  constructor(s: StatsStore) {
    this.client_hello_too_large = s.counter('tls_inspector.client_hello_too_large');
    this.tls_found = s.counter('tls_inspector.tls_found');
    this.tls_not_found = s.counter('tls_inspector.tls_not_found');
    this.alpn_found = s.counter('tls_inspector.alpn_found');
    this.alpn_not_found = s.counter('tls_inspector.alpn_not_found');
    this.sni_found = s.counter('tls_inspector.sni_found');
    this.sni_not_found = s.counter('tls_inspector.sni_not_found');
    this.http10_found = s.counter('http_inspector.http10_found');
    this.http11_found = s.counter('http_inspector.http11_found');
    this.http2_found = s.counter('http_inspector.http2_found');
    this.http_not_found = s.counter('http_inspector.http_not_found');
  }
}

export interface ListenerFilterCounters {
  /** listener.<>.downstream_pre_cx_timeout */
  readonly preCxTimeout: Counter;
  /** listener.<>.downstream_listener_filter_error */
  readonly filterError: Counter;
}

const EMPTY: Buffer = Buffer.alloc(0);
const RAW: DetectedProtocols = { transportProtocol: 'raw_buffer', serverName: '', applicationProtocols: [] };

export class ListenerFilters {
  readonly inspectsBytes: boolean;
  readonly originalDst: boolean;
  private readonly limit: number;

  constructor(
    private readonly kinds: readonly FilterKind[],
    readonly timeoutMs: number,
    readonly continueOnTimeout: boolean,
    private readonly stats: InspectorStats,
    private readonly counters: ListenerFilterCounters,
  ) {
    this.inspectsBytes = kinds.includes('tls_inspector') || kinds.includes('http_inspector');
    this.originalDst = kinds.includes('original_dst');
    this.limit = Math.max(kinds.includes('tls_inspector') ? MAX_CLIENT_HELLO + 5 * 16 : 0, kinds.includes('http_inspector') ? MAX_HTTP_INSPECT : 0);
  }

  /**
   * Reads until every inspector has decided, then gives the bytes back and calls `done`; on a
   * timeout (without continue_on_listener_filters_timeout), an oversized ClientHello or the peer
   * leaving, destroys the socket and calls `failed`.
   */
  inspect(socket: net.Socket, done: (p: DetectedProtocols) => void, failed: () => void): void {
    if (!this.inspectsBytes) {
      done(RAW);
      return;
    }
    const stats = this.stats;
    const result: DetectedProtocols = { transportProtocol: 'raw_buffer', serverName: '', applicationProtocols: [] };
    let buf: Buffer = EMPTY;
    let tlsPending = this.kinds.includes('tls_inspector');
    let httpPending = this.kinds.includes('http_inspector');
    let finished = false;
    const cleanup = (): void => {
      finished = true;
      if (timer !== null) clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onGone);
      socket.off('error', onGone);
      socket.off('close', onGone);
    };
    const finish = (): void => {
      cleanup();
      socket.pause();
      if (buf.length > 0) socket.unshift(buf);
      done(result);
    };
    const abort = (counter: Counter | undefined): void => {
      cleanup();
      counter?.inc();
      socket.destroy();
      failed();
    };
    const step = (): void => {
      for (const kind of this.kinds) {
        if (kind === 'tls_inspector' && tlsPending) {
          const r = parseClientHello(buf);
          if (r.state === 'need_more') return;
          tlsPending = false;
          if (r.state === 'too_large') {
            stats.client_hello_too_large.inc();
            return abort(this.counters.filterError);
          }
          if (r.state === 'not_tls') stats.tls_not_found.inc();
          else {
            stats.tls_found.inc();
            result.transportProtocol = 'tls';
            result.serverName = r.serverName;
            result.applicationProtocols = r.alpn;
            (r.serverName ? stats.sni_found : stats.sni_not_found).inc();
            (r.alpn.length > 0 ? stats.alpn_found : stats.alpn_not_found).inc();
          }
        } else if (kind === 'http_inspector' && httpPending) {
          if (result.transportProtocol === 'tls') {
            httpPending = false;
            continue;
          }
          const d = detectHttp(buf);
          if (d === 'need_more') return;
          httpPending = false;
          if (d === 'not_http') stats.http_not_found.inc();
          else {
            (d === 'h2c' ? stats.http2_found : d === 'http/1.1' ? stats.http11_found : stats.http10_found).inc();
            result.applicationProtocols = [d];
          }
        }
      }
      finish();
    };
    const onData = (d: Buffer): void => {
      if (finished) return;
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      if (buf.length > this.limit) {
        // Both inspectors cap their input below this; reaching it means one kept asking for more.
        return abort(this.counters.filterError);
      }
      step();
    };
    const onGone = (): void => {
      if (!finished) abort(undefined);
    };
    const onTimeout = (): void => {
      timer = null;
      if (finished) return;
      this.counters.preCxTimeout.inc();
      if (this.continueOnTimeout) finish();
      else abort(undefined);
    };
    let timer: NodeJS.Timeout | null = this.timeoutMs > 0 ? setTimeout(onTimeout, this.timeoutMs) : null;
    socket.on('data', onData);
    socket.on('end', onGone);
    socket.on('error', onGone);
    socket.on('close', onGone);
  }
}

const LISTENER_FILTER_FIELDS = ['name', 'typed_config'];

export function compileListenerFilters(
  list: unknown[],
  timeoutMs: number | undefined,
  continueOnTimeout: boolean,
  path: string,
  issues: ConfigIssue[],
  stats: StatsStore,
  counters: ListenerFilterCounters,
): ListenerFilters {
  const kinds: FilterKind[] = [];
  list.forEach((f, i) => {
    const fp = joinPath(joinPath(path, 'listener_filters'), i);
    if (!isObject(f)) {
      issues.push({ path: fp, message: 'expected a ListenerFilter' });
      return;
    }
    rejectUnsupported(f, fp, LISTENER_FILTER_FIELDS, issues);
    const tc = readObject(f, 'typed_config', fp, issues);
    const tp = joinPath(fp, 'typed_config');
    const name = readString(f, 'name', fp, issues) ?? '';
    if (tc === undefined) {
      issues.push({ path: tp, message: `typed_config is required (listener filter ${JSON.stringify(name)})` });
      return;
    }
    let kind: FilterKind;
    switch (tc['@type']) {
      case TLS_INSPECTOR_TYPE:
        kind = 'tls_inspector';
        rejectUnsupported(tc, tp, ['enable_ja3_fingerprinting', 'initial_read_buffer_size'], issues);
        if (readBool(tc, 'enable_ja3_fingerprinting', tp, issues) === true) {
          issues.push({ path: joinPath(tp, 'enable_ja3_fingerprinting'), message: 'JA3 fingerprinting is not implemented by Weft' });
        }
        // A read-size hint only: Weft reads what arrives, bounded by the ClientHello limit.
        readNumber(tc, 'initial_read_buffer_size', tp, issues, { min: 255, max: MAX_CLIENT_HELLO, integer: true });
        break;
      case HTTP_INSPECTOR_TYPE:
        kind = 'http_inspector';
        rejectUnsupported(tc, tp, [], issues);
        break;
      case ORIGINAL_DST_TYPE:
        kind = 'original_dst';
        rejectUnsupported(tc, tp, [], issues);
        break;
      default:
        issues.push({ path: tp, message: `listener filter ${String(tc['@type'])} is not implemented by Weft` });
        return;
    }
    if (kinds.includes(kind)) issues.push({ path: fp, message: `${kind} is configured twice` });
    kinds.push(kind);
  });
  return new ListenerFilters(kinds, timeoutMs ?? DEFAULT_LISTENER_FILTERS_TIMEOUT_MS, continueOnTimeout, new InspectorStats(stats), counters);
}
