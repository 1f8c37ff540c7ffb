/**
 * The HTTP stream filters Weft implements, by Envoy type URL (HttpFilter.typed_config '@type').
 * The router (envoy.filters.http.router) is the connection manager's terminal step, not listed here.
 */
import type { HttpFilterType } from '../http/filter';
import { bufferFilterType } from './buffer';
import { corsFilterType } from './cors';
import { faultFilterType } from './fault';
import { headerMutationFilterType } from './header-mutation';
import { localRateLimitFilterType } from './local-ratelimit';

function registry(types: readonly HttpFilterType[]): ReadonlyMap<string, HttpFilterType> {
  const m = new Map<string, HttpFilterType>();
  for (const t of types) m.set(t.typeUrl, t);
  return m;
}

export const HTTP_FILTER_TYPES: ReadonlyMap<string, HttpFilterType> = registry([
  faultFilterType,
  localRateLimitFilterType,
  corsFilterType,
  headerMutationFilterType,
  bufferFilterType,
]);

export { BUFFER_TYPE_URL, BUFFER_PER_ROUTE_TYPE_URL, REQUEST_PAYLOAD_TOO_LARGE } from './buffer';
export { CORS_TYPE_URL, CORS_POLICY_TYPE_URL, CORS_RESPONSE_DETAILS, createCorsFilterType } from './cors';
export { FAULT_TYPE_URL, FAULT_ABORT_DETAILS, createFaultFilterType } from './fault';
export { HEADER_MUTATION_TYPE_URL, HEADER_MUTATION_PER_ROUTE_TYPE_URL } from './header-mutation';
export { LOCAL_RATELIMIT_TYPE_URL, LOCAL_RATE_LIMITED, createLocalRateLimitFilterType } from './local-ratelimit';
