/**
 * /debug/config_dump?proxyID=…: what the control plane would send one proxy now, shaped like
 * Envoy's /config_dump (ListenersConfigDump, ClustersConfigDump, RoutesConfigDump,
 * EndpointsConfigDump), so `weft proxy-config` reads either.
 */
import { TYPE_URL } from '../contracts';
import type { MeshSnapshot } from '../contracts';
import type { ProxyConnection } from '../server/proxy-connection';
import type { DecodedMessage } from '../../xds/decode';

const ADMIN = 'type.googleapis.com/envoy.admin.v3.';

function resourcesFor(c: ProxyConnection, snapshot: MeshSnapshot, typeUrl: string): DecodedMessage[] {
  const all = snapshot.generate(c.node!, typeUrl);
  const w = c.watches.get(typeUrl);
  // RDS/EDS narrow to what the proxy subscribed; an unsubscribed type shows everything it could get.
  const picked = !w || w.wildcard ? all : all.filter((r) => w.names.has(r.name));
  return picked.map((r) => r.resource);
}

export function configDump(c: ProxyConnection, snapshot: MeshSnapshot): DecodedMessage {
  const v = snapshot.version;
  return {
    configs: [
      {
        '@type': `${ADMIN}ClustersConfigDump`,
        version_info: v,
        dynamic_active_clusters: resourcesFor(c, snapshot, TYPE_URL.cluster).map((cluster) => ({ version_info: v, cluster: { '@type': TYPE_URL.cluster, ...cluster } })),
      },
      {
        '@type': `${ADMIN}ListenersConfigDump`,
        version_info: v,
        dynamic_listeners: resourcesFor(c, snapshot, TYPE_URL.listener).map((l) => ({
          name: String(l.name ?? ''),
          active_state: { version_info: v, listener: { '@type': TYPE_URL.listener, ...l } },
        })),
      },
      {
        '@type': `${ADMIN}RoutesConfigDump`,
        dynamic_route_configs: resourcesFor(c, snapshot, TYPE_URL.route).map((r) => ({ version_info: v, route_config: { '@type': TYPE_URL.route, ...r } })),
      },
      {
        '@type': `${ADMIN}EndpointsConfigDump`,
        dynamic_endpoint_configs: resourcesFor(c, snapshot, TYPE_URL.endpoint).map((e) => ({ version_info: v, endpoint_config: { '@type': TYPE_URL.endpoint, ...e } })),
      },
    ],
  };
}

/** JSON with bytes fields as base64, as proto3 JSON writes them. */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v: unknown) => {
      if (typeof v === 'object' && v !== null && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
        return Buffer.from((v as { data: number[] }).data).toString('base64');
      }
      return v;
    },
    2,
  );
}
