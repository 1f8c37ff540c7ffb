import type { UpstreamTransport } from '../transport-socket';
/**
 * What one health-check session asks of a protocol prober (HTTP, TCP, gRPC), and how the prober
 * answers. A prober runs at most one check at a time; after `abort()` it must not report the
 * aborted check.
 */

/** Envoy's envoy.data.core.v3.HealthCheckFailureType. */
export const enum FailureType {
  ACTIVE = 0,
  PASSIVE = 1,
  NETWORK = 2,
  NETWORK_TIMEOUT = 3,
}

export interface ProbeSink {
  /** The check passed; `degraded` when the upstream asked to be treated as degraded. */
  success(degraded: boolean): void;
  /** The check failed. `retriable` (HTTP retriable_statuses) makes an ACTIVE failure count toward unhealthy_threshold. */
  failure(type: FailureType, retriable: boolean, detail: string): void;
  /** The upstream sent `x-envoy-immediate-health-check-fail` with a failing answer. */
  immediateFail(): void;
}

export interface ProbeTarget {
  /** Read at each connect (a LOGICAL_DNS host may change address). */
  readonly address: string;
  readonly port: number;
  /** Host header / :authority for HTTP and gRPC checks. */
  authority: string;
  /** [tls] The cluster's TLS transport socket: checks connect through it, as Envoy's do. */
  readonly tls?: UpstreamTransport;
}

export interface Probe {
  /** Starts one check; the outcome goes to the sink. */
  start(): void;
  /** Abandons the check in flight (timeout): no report follows; the connection is closed. */
  abort(): void;
  /** Closes everything (host removed, cluster closed). */
  close(): void;
}
