import type { ConfigIssue } from '../../lib/config-error';
import { hash32 } from '../../lib/hash';
import type { ResourceUpdate } from '../../xds/client/ads-client';
import { formatIssues } from '../../xds/client/format-issues';
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

/** Issues of one resource, with their paths under `Kind(name)`. */
export function prefixed(prefix: string, issues: readonly ConfigIssue[]): ConfigIssue[] {
  return issues.map((i) => ({ path: i.path ? `${prefix}.${i.path}` : prefix, message: i.message }));
}

/** What an update handler collects while it goes through one response. */
export interface UpdateTally {
  readonly issues: ConfigIssue[];
  /** Names of the resources this response did not apply. */
  readonly rejected: string[];
  /** Every name the response carried, applied or not (SotW: the rest were removed). */
  readonly seen: Set<string>;
}

/**
 * Starts a tally for one response: resources that did not even decode are rejected up front, and
 * the entry holding their last good version records the failure for /config_dump's error_state.
 */
export function tallyUndecodable(
  u: ResourceUpdate,
  kind: string,
  errorHolder: (name: string) => { error: UpdateFailureState | undefined } | undefined,
): UpdateTally {
  const tally: UpdateTally = { issues: [], rejected: [], seen: new Set() };
  for (const bad of u.undecodable) {
    tally.seen.add(bad.name);
    const e = errorHolder(bad.name);
    if (e !== undefined) e.error = failureState(undefined, u.version, formatIssues(bad.issues));
    tally.issues.push(...prefixed(`${kind}(${bad.name})`, bad.issues));
    tally.rejected.push(bad.name);
  }
  return tally;
}
