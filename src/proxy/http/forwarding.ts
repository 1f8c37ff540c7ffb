import { randomUUID } from 'node:crypto';
import type { HeaderMap } from '../../lib/headers';
import type { DownstreamTlsInfo, StreamInfo } from '../stream-info';
import type { HcmConfig } from './hcm-config';

/** The connection manager's bookkeeping around a request: forwarding headers, addresses, logging. */

export interface ConnectionAddresses {
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** Set for TLS connections (listener TLS transport socket), after the handshake. */
  readonly tls?: DownstreamTlsInfo;
}

export type { DownstreamTlsInfo };

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

export function formatAddress(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export function fillConnectionInfo(info: StreamInfo, c: ConnectionAddresses): void {
  info.connectionId = c.id;
  info.downstreamRemoteAddress = formatAddress(c.remoteAddress, c.remotePort);
  info.downstreamDirectRemoteAddress = info.downstreamRemoteAddress;
  info.downstreamLocalAddress = formatAddress(c.localAddress, c.localPort);
  // [tls] TLS facts for the access log operators.
  const t = c.tls;
  if (t !== undefined) {
    info.downstreamTls = t;
    info.requestedServerName = t.serverName;
  }
}

export function logStream(config: HcmConfig, info: StreamInfo): void {
  if (info.durationMs < 0) info.durationMs = performance.now() - info.startMono;
  const logs = config.accessLogs;
  for (let i = 0; i < logs.length; i++) logs[i].log(info);
}

/** Headers Envoy removes from external requests when it is the edge (use_remote_address). */
const INTERNAL_ONLY_HEADERS: readonly string[] = [
  'x-envoy-decorator-operation',
  'x-envoy-downstream-service-cluster',
  'x-envoy-downstream-service-node',
  'x-envoy-expected-rq-timeout-ms',
  'x-envoy-external-address',
  'x-envoy-force-trace',
  'x-envoy-internal',
  'x-envoy-ip-tags',
  'x-envoy-max-retries',
  'x-envoy-retriable-header-names',
  'x-envoy-retriable-status-codes',
  'x-envoy-retry-grpc-on',
  'x-envoy-retry-on',
  'x-envoy-upstream-alt-stat-name',
  'x-envoy-upstream-rq-per-try-timeout-ms',
  'x-envoy-upstream-rq-timeout-alt-response',
  'x-envoy-upstream-rq-timeout-ms',
];

export function hasUnderscoreHeader(headers: HeaderMap): boolean {
  for (const n of headers.names) if (n.includes('_')) return true;
  return false;
}

/**
 * x-forwarded-for, x-forwarded-proto, x-envoy-external-address and x-request-id, as Envoy's
 * connection manager sets them. Returns the request id ("" when ids are not generated).
 */
export function applyForwardingHeaders(config: HcmConfig, headers: HeaderMap, remote: string, scheme: string): string {
  let external = false;
  if (config.useRemoteAddress) {
    external = !isInternalAddress(remote);
    if (external) {
      // An edge proxy never lets the outside world steer its routing, retries or timeouts.
      for (const h of INTERNAL_ONLY_HEADERS) headers.remove(h);
    } else {
      headers.set('x-envoy-internal', 'true');
    }
    if (!config.skipXffAppend) {
      const xff = headers.getJoined('x-forwarded-for');
      headers.set('x-forwarded-for', xff === undefined ? remote : xff + ',' + remote);
    }
    headers.set('x-forwarded-proto', scheme);
    if (external) headers.set('x-envoy-external-address', remote);
  } else if (!headers.has('x-forwarded-proto')) {
    headers.set('x-forwarded-proto', scheme);
  }
  if (!config.generateRequestId) return '';
  let id = headers.get('x-request-id');
  if (id === undefined || (external && !config.preserveExternalRequestId)) {
    id = randomUUID();
    headers.set('x-request-id', id);
  }
  return id;
}
