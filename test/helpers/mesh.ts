import * as http from 'node:http';

/**
 * Pieces shared by the tests that run a Weft sidecar under `weft control`: the workload's Pod
 * manifest, an ADS-only sidecar bootstrap in Istio's node form, and a client that calls the
 * sidecar's egress listener with a service Host header.
 */

export function podYaml(name: string, ip: string, labels: Record<string, string>, port: number): string {
  return `
apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: default, labels: ${JSON.stringify(labels)} }
spec:
  containers: [{ name: app, image: app, ports: [{ containerPort: ${port}, name: http }] }]
status:
  phase: Running
  podIP: ${ip}
  podIPs: [{ ip: ${ip} }]
  conditions: [{ type: Ready, status: "True" }]
`;
}

/** A sidecar for workload `app` at `ip` in namespace default, configured only over ADS. */
export function sidecarBootstrap(xdsPort: number, ip: string, app: string): object {
  return {
    node: {
      id: `sidecar~${ip}~${app}.default~default.svc.cluster.local`,
      cluster: `${app}.default`,
      metadata: { NAMESPACE: 'default', LABELS: { app }, INSTANCE_IPS: ip, INTERCEPTION_MODE: 'NONE', WORKLOAD_NAME: app },
    },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } },
    dynamic_resources: {
      ads_config: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }] },
      cds_config: { ads: {}, resource_api_version: 'V3' },
      lds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: {
      clusters: [
        {
          name: 'xds-grpc',
          type: 'STATIC',
          connect_timeout: '1s',
          load_assignment: {
            cluster_name: 'xds-grpc',
            endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: xdsPort } } } }] }],
          },
          typed_extension_protocol_options: {
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
              '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
        },
      ],
    },
  };
}

export interface EgressClient {
  get(port: number, host: string, headers?: Record<string, string>): Promise<{ status: number; body: string }>;
  /** n sequential requests, counted by body (200) or `status-N`. */
  tally(port: number, host: string, n: number, headers?: Record<string, string>): Promise<Record<string, number>>;
  close(): void;
}

/** Keep-alive HTTP client for a sidecar's egress listener bound on `ip`. */
export function egressClient(ip: string, maxSockets = 8): EgressClient {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  const get = (port: number, host: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = http.request({ host: ip, port, path: '/', agent, headers: { host, ...headers }, timeout: 5000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end();
    });
  const tally = async (port: number, host: string, n: number, headers: Record<string, string> = {}): Promise<Record<string, number>> => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const r = await get(port, host, headers);
      const key = r.status === 200 ? r.body : `status-${r.status}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  };
  return { get, tally, close: () => agent.destroy() };
}
