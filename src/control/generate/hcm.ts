/** HTTP connection manager and tcp_proxy network filters as generated listeners carry them. */
import type { DecodedMessage } from '../../xds/decoded';
import { adsConfigSource, FILTER_NAMES, TYPES } from './common';

export interface HcmOptions {
  readonly statPrefix: string;
  /** RDS route name, or an inline route configuration. */
  readonly rds?: string;
  readonly routeConfig?: DecodedMessage;
  readonly fault: boolean;
  readonly cors: boolean;
  /** Edge proxies (gateways) take the client address from the connection (use_remote_address). */
  readonly edge?: boolean;
}

/** Istio's HTTP filter order: fault, cors, …, router; fault/cors only when some route needs them. */
export function httpFilters(fault: boolean, cors: boolean): DecodedMessage[] {
  const filters: DecodedMessage[] = [];
  if (fault) filters.push({ name: FILTER_NAMES.fault, typed_config: { '@type': TYPES.fault } });
  if (cors) filters.push({ name: FILTER_NAMES.cors, typed_config: { '@type': TYPES.cors } });
  filters.push({ name: FILTER_NAMES.router, typed_config: { '@type': TYPES.router } });
  return filters;
}

export function httpConnectionManager(o: HcmOptions): DecodedMessage {
  const hcm: DecodedMessage = { '@type': TYPES.hcm, stat_prefix: o.statPrefix };
  if (o.rds !== undefined) hcm.rds = { config_source: adsConfigSource(), route_config_name: o.rds };
  else if (o.routeConfig !== undefined) hcm.route_config = o.routeConfig;
  hcm.http_filters = httpFilters(o.fault, o.cors);
  if (o.edge) hcm.use_remote_address = true;
  return { name: FILTER_NAMES.hcm, typed_config: hcm };
}

export function tcpProxyFilter(statPrefix: string, target: string | readonly { name: string; weight: number }[]): DecodedMessage {
  const tp: DecodedMessage = { '@type': TYPES.tcpProxy, stat_prefix: statPrefix };
  if (typeof target === 'string') tp.cluster = target;
  else tp.weighted_clusters = { clusters: target.map((c) => ({ name: c.name, weight: c.weight })) };
  return { name: FILTER_NAMES.tcpProxy, typed_config: tp };
}
