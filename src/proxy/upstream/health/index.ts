/** Active health checking: the public surface. */
export { HealthChecker, HealthTransition, HealthState } from './checker';
export type { HealthCheckerDeps, HealthCheckerStats, HostCheckCompleteCallback } from './checker';
export { parseHealthChecks, parseHealthCheck } from './config';
export type { HealthCheckConfig, CheckSpec, HttpCheckSpec, TcpCheckSpec, GrpcCheckSpec } from './config';
export { FailureType } from './probe';
