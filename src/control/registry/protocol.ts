/** Istio's port protocol selection: appProtocol, then the port name's prefix, then the protocol field. */

export type Protocol = 'HTTP' | 'HTTP2' | 'GRPC' | 'GRPC-WEB' | 'HTTPS' | 'TLS' | 'TCP' | 'UDP' | 'MONGO' | 'MYSQL' | 'REDIS' | 'UNSUPPORTED';

const BY_NAME: Readonly<Record<string, Protocol>> = {
  http: 'HTTP', http2: 'HTTP2', grpc: 'GRPC', 'grpc-web': 'GRPC-WEB', https: 'HTTPS', tls: 'TLS', tcp: 'TCP', udp: 'UDP',
  mongo: 'MONGO', mysql: 'MYSQL', redis: 'REDIS', h2c: 'HTTP2', 'kubernetes.io/h2c': 'HTTP2', 'kubernetes.io/ws': 'HTTP', 'kubernetes.io/wss': 'HTTPS',
};

/** From an Istio port `protocol` field (ServiceEntry, Gateway, Sidecar): case-insensitive. */
export function parseProtocol(p: string | undefined): Protocol {
  if (p === undefined) return 'UNSUPPORTED';
  return BY_NAME[p.toLowerCase()] ?? 'UNSUPPORTED';
}

/** For a Kubernetes Service port (istio/pkg/config/kube ConvertProtocol). */
export function kubePortProtocol(name: string | undefined, protocol: string | undefined, appProtocol: string | undefined): Protocol {
  if (protocol === 'UDP') return 'UDP';
  if (protocol === 'SCTP') return 'UNSUPPORTED';
  if (appProtocol !== undefined) {
    const p = BY_NAME[appProtocol.toLowerCase()];
    if (p !== undefined) return p;
  }
  if (name !== undefined && name !== '') {
    const lower = name.toLowerCase();
    if (lower.startsWith('grpc-web')) return 'GRPC-WEB';
    const prefix = lower.split('-')[0];
    const p = BY_NAME[prefix];
    if (p !== undefined) return p;
  }
  return 'UNSUPPORTED';
}

/** HTTP-family ports get an HTTP connection manager; the rest are proxied as TCP. */
export function isHttp(p: Protocol): boolean {
  return p === 'HTTP' || p === 'HTTP2' || p === 'GRPC' || p === 'GRPC-WEB';
}

/** Protocols whose upstream needs HTTP/2. */
export function isHttp2(p: Protocol): boolean {
  return p === 'HTTP2' || p === 'GRPC' || p === 'GRPC-WEB';
}
