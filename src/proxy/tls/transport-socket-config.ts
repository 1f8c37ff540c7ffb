import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { isObject, readObject, readString, type Decoded } from '../../lib/decoded-read';

/** envoy.config.core.v3.TransportSocket: which transport a chain or cluster uses. */

export const TLS_TRANSPORT_SOCKET_NAMES = ['envoy.transport_sockets.tls', 'tls'];
export const DOWNSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
export const UPSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
export const RAW_BUFFER_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer';

/** The TLS context message of a transport_socket; undefined for raw_buffer (plaintext) or on an issue. */
export function readTlsTransportSocket(ts: unknown, p: string, issues: ConfigIssue[], expectedType: string): Decoded | undefined {
  if (!isObject(ts)) {
    issues.push({ path: p, message: 'expected a TransportSocket' });
    return undefined;
  }
  rejectUnsupported(ts, p, ['name', 'typed_config'], issues);
  const name = readString(ts, 'name', p, issues) ?? '';
  const tc = readObject(ts, 'typed_config', p, issues);
  const type = tc?.['@type'];
  if (type === RAW_BUFFER_TYPE || (tc === undefined && (name === 'envoy.transport_sockets.raw_buffer' || name === 'raw_buffer'))) {
    if (tc !== undefined) rejectUnsupported(tc, joinPath(p, 'typed_config'), [], issues);
    return undefined;
  }
  if (tc === undefined) {
    issues.push({ path: joinPath(p, 'typed_config'), message: `typed_config is required for transport socket ${JSON.stringify(name)}` });
    return undefined;
  }
  if (type !== expectedType) {
    issues.push({ path: joinPath(p, 'typed_config'), message: `transport socket ${String(type)} is not implemented by Weft here (expected ${expectedType} or RawBuffer)` });
    return undefined;
  }
  return tc;
}
