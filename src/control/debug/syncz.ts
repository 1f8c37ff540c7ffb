/**
 * The per-proxy sync view served at /debug/syncz (istiod's name) and read by `weft proxy-status`:
 * what each connected proxy was sent per xDS type and whether it ACKed or NACKed it.
 */
import type { ProxyConnection } from '../server/proxy-connection';
import type { NackRecord, TypeWatch } from '../server/type-watch';
import { PUSH_ORDER, shortType } from '../server/xds-types';

export type SyncStatus = 'SYNCED' | 'NOT SENT' | 'STALE' | 'NACKED';

export interface TypeSync {
  readonly type: string;
  readonly typeUrl: string;
  readonly status: SyncStatus;
  readonly versionSent: string;
  readonly versionAcked: string;
  readonly nonceSent: string;
  readonly nonceAcked: string;
  /** Resources the proxy holds of this type, by the server's account. */
  readonly resources: number;
  readonly subscribed: string;
  readonly lastNack?: NackRecord;
}

export interface ProxySync {
  readonly proxy: string;
  readonly connectionId: string;
  readonly cluster: string;
  readonly userAgent: string;
  readonly mode: string;
  readonly peer: string;
  readonly connectedSince: string;
  /** The snapshot version the control plane serves now. */
  readonly controlVersion: string;
  readonly types: readonly TypeSync[];
}

export function syncStatus(w: TypeWatch | undefined): SyncStatus {
  if (!w || w.responses === 0) return 'NOT SENT';
  if (w.lastNack && w.lastNack.nonce === w.nonceSent) return 'NACKED';
  return w.nonceAcked === w.nonceSent ? 'SYNCED' : 'STALE';
}

function typeSync(typeUrl: string, w: TypeWatch | undefined): TypeSync {
  return {
    type: shortType(typeUrl) ?? typeUrl,
    typeUrl,
    status: syncStatus(w),
    versionSent: w?.versionSent ?? '',
    versionAcked: w?.versionAcked ?? '',
    nonceSent: w?.nonceSent ?? '',
    nonceAcked: w?.nonceAcked ?? '',
    resources: w?.sent.size ?? 0,
    subscribed: !w ? '' : w.wildcard ? '*' : `${w.names.size} names`,
    ...(w?.lastNack ? { lastNack: w.lastNack } : {}),
  };
}

export function proxySync(c: ProxyConnection, controlVersion: string): ProxySync {
  return {
    proxy: c.node?.id ?? '',
    connectionId: c.id,
    cluster: c.node?.cluster ?? '',
    userAgent: c.node?.userAgent ?? '',
    mode: c.mode,
    peer: c.peer,
    connectedSince: c.connectedAt.toISOString(),
    controlVersion,
    types: PUSH_ORDER.filter((t) => shortType(t) !== 'sds' || c.watches.has(t)).map((t) => typeSync(t, c.watches.get(t))),
  };
}
