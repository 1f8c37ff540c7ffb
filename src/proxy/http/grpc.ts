import type { HeaderMap } from '../../lib/headers';

/** What the connection manager needs to know about gRPC requests. */

/** gRPC's content types: application/grpc and application/grpc+<codec> (Envoy's isGrpcRequestHeaders). */
export function isGrpcRequest(headers: HeaderMap): boolean {
  const ct = headers.get('content-type');
  return ct !== undefined && ct.startsWith('application/grpc') && (ct.length === 16 || ct.charCodeAt(16) === 43 /* + */ || ct.charCodeAt(16) === 59 /* ; */);
}

/** grpc-timeout: 1 to 8 digits and a unit (H, M, S, m, u, n), in ms (rounded up); undefined if absent or invalid. */
export function parseGrpcTimeout(v: string | undefined): number | undefined {
  if (v === undefined || v.length < 2 || v.length > 9) return undefined;
  const digits = v.slice(0, -1);
  if (!/^[0-9]+$/.test(digits)) return undefined;
  const n = Number(digits);
  switch (v.charCodeAt(v.length - 1)) {
    case 72: // H
      return n * 3_600_000;
    case 77: // M
      return n * 60_000;
    case 83: // S
      return n * 1000;
    case 109: // m
      return n;
    case 117: // u
      return Math.ceil(n / 1000);
    case 110: // n
      return Math.ceil(n / 1_000_000);
    default:
      return undefined;
  }
}
