/** Shared pieces of generated xDS resources (Weft's decoded form: snake_case, Duration in ms, Any with '@type'). */
import type { DecodedMessage } from '../../xds/decoded';
import { parseDurationMs } from '../config/schema';

const T = 'type.googleapis.com/';
export const TYPES = {
  hcm: T + 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  tcpProxy: T + 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  router: T + 'envoy.extensions.filters.http.router.v3.Router',
  fault: T + 'envoy.extensions.filters.http.fault.v3.HTTPFault',
  cors: T + 'envoy.extensions.filters.http.cors.v3.Cors',
  corsPolicy: T + 'envoy.extensions.filters.http.cors.v3.CorsPolicy',
  originalDst: T + 'envoy.extensions.filters.listener.original_dst.v3.OriginalDst',
  httpProtocolOptions: T + 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
} as const;

export const FILTER_NAMES = {
  hcm: 'envoy.filters.network.http_connection_manager',
  tcpProxy: 'envoy.filters.network.tcp_proxy',
  router: 'envoy.filters.http.router',
  fault: 'envoy.filters.http.fault',
  cors: 'envoy.filters.http.cors',
  originalDst: 'envoy.filters.listener.original_dst',
} as const;

/** A ConfigSource pointing at the ADS stream. */
export function adsConfigSource(): DecodedMessage {
  return { ads: {}, resource_api_version: 'V3' };
}

/** An already-validated Istio duration string, in ms (the decoded form of Duration). */
export function ms(duration: string): number {
  return parseDurationMs(duration) ?? 0;
}

export function socketAddress(address: string, port: number): DecodedMessage {
  return { socket_address: { address, port_value: port } };
}

export function outboundClusterName(port: number, subset: string, host: string): string {
  return `outbound|${port}|${subset}|${host}`;
}

export function inboundClusterName(port: number): string {
  return `inbound|${port}||`;
}

/** Istio's Percent → Envoy FractionalPercent (per million, so fractions like 0.1% survive). */
export function fractionalPercent(value: number): DecodedMessage {
  return { numerator: Math.round(value * 10_000), denominator: 'MILLION' };
}

export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';
export const INBOUND_PASSTHROUGH_CLUSTER = 'InboundPassthroughCluster';
