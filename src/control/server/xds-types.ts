import { TYPE_URL } from '../contracts';

/** istiod's short names for the xDS types it serves (metric labels, log lines, debug output). */
export type ShortType = 'lds' | 'rds' | 'cds' | 'eds' | 'sds';

const SHORT: ReadonlyMap<string, ShortType> = new Map([
  [TYPE_URL.listener, 'lds'],
  [TYPE_URL.route, 'rds'],
  [TYPE_URL.cluster, 'cds'],
  [TYPE_URL.endpoint, 'eds'],
  [TYPE_URL.secret, 'sds'],
]);

export function shortType(typeUrl: string): ShortType | undefined {
  return SHORT.get(typeUrl);
}

/**
 * Push order within one push: secrets and clusters before the endpoints that fill them, listeners
 * before the routes they name, so no proxy routes to a cluster it does not have yet.
 */
export const PUSH_ORDER: readonly string[] = [TYPE_URL.secret, TYPE_URL.cluster, TYPE_URL.endpoint, TYPE_URL.listener, TYPE_URL.route];

/** Types whose first SotW request with no names is a wildcard subscription (Envoy's legacy rule). */
export function wildcardByDefault(typeUrl: string): boolean {
  return typeUrl === TYPE_URL.listener || typeUrl === TYPE_URL.cluster;
}

/** Types whose SotW responses must hold every resource (an absent one is deleted): LDS and CDS. */
export function fullStateType(typeUrl: string): boolean {
  return typeUrl === TYPE_URL.listener || typeUrl === TYPE_URL.cluster;
}
