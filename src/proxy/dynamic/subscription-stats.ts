import { hash32 } from '../../lib/hash';
import type { StatsStore, Counter, Gauge } from '../telemetry/stats';

/**
 * Envoy's per-subscription stats (config.subscription): `<prefix>.update_attempt`, update_success,
 * update_rejected, update_empty, init_fetch_timeout, version (a hash of version_info) and
 * update_time (ms since the epoch of the last accepted update).
 */
export class SubscriptionStats {
  readonly update_attempt: Counter;
  readonly update_success: Counter;
  readonly update_rejected: Counter;
  readonly update_empty: Counter;
  readonly init_fetch_timeout: Counter;
  readonly version: Gauge;
  readonly update_time: Gauge;

  constructor(store: StatsStore, prefix: string) {
    this.update_attempt = store.counter(`${prefix}.update_attempt`);
    this.update_success = store.counter(`${prefix}.update_success`);
    this.update_rejected = store.counter(`${prefix}.update_rejected`);
    this.update_empty = store.counter(`${prefix}.update_empty`);
    this.init_fetch_timeout = store.counter(`${prefix}.init_fetch_timeout`);
    this.version = store.gauge(`${prefix}.version`);
    this.update_time = store.gauge(`${prefix}.update_time`);
  }

  accepted(version: string): void {
    this.update_success.inc();
    this.version.set(hash32(version));
    this.update_time.set(Date.now());
  }
}

/** Envoy's UpdateFailureState, shown as error_state in /config_dump. */
export interface UpdateFailureState {
  failed_configuration?: unknown;
  last_update_attempt: string;
  details: string;
  version_info: string;
}

export function failureState(resource: unknown, version: string, details: string): UpdateFailureState {
  return {
    ...(resource === undefined ? {} : { failed_configuration: resource }),
    last_update_attempt: new Date().toISOString(),
    details,
    version_info: version,
  };
}

/** Whether a resource is unchanged (Envoy skips identical updates by hash). */
export function sameResource(a: unknown, b: unknown): boolean {
  return a !== undefined && b !== undefined && JSON.stringify(a) === JSON.stringify(b);
}
