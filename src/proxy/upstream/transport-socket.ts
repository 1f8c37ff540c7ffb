import * as net from 'node:net';

/**
 * How a cluster opens connections to its hosts: plaintext TCP, or TLS from the cluster's
 * `transport_socket` (envoy.transport_sockets.tls / UpstreamTlsContext). Connection pools call
 * `connect` and wait for `readyEvent`; they never look at the transport's configuration.
 */

export interface UpstreamConnectOptions {
  readonly host: string;
  readonly port: number;
  /** ALPN protocols to offer, most preferred first (TLS only; ignored by plaintext). */
  readonly alpn?: readonly string[];
  /** Static read buffer (net.connect's onread); a transport that cannot honour it ignores it. */
  readonly onread?: net.OnReadOpts;
}

export interface UpstreamTransport {
  /** True when connections are TLS. */
  readonly secure: boolean;
  /** The socket event that means "ready to send": 'connect' for TCP, 'secureConnect' for TLS. */
  readonly readyEvent: 'connect' | 'secureConnect';
  /** ALPN protocols this transport offers when the pool does not ask for specific ones. */
  readonly defaultAlpn: readonly string[];
  /** Opens a connection. TLS sockets expose the negotiated protocol as `alpnProtocol`. */
  connect(options: UpstreamConnectOptions): net.Socket;
}

export const PLAINTEXT_TRANSPORT: UpstreamTransport = {
  secure: false,
  readyEvent: 'connect',
  defaultAlpn: [],
  connect(options: UpstreamConnectOptions): net.Socket {
    return net.connect({ host: options.host, port: options.port, noDelay: true, onread: options.onread });
  },
};
