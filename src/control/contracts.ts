import type { DecodedMessage } from '../xds/decoded';

/**
 * The seam between the control plane's mesh model (config + registry → xDS resources, in
 * control/config, control/registry, control/model, control/generate) and its ADS server
 * (control/server). The server knows nothing of Istio; the model knows nothing of gRPC streams.
 */

export const TYPE_URL = {
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;

/** A connected proxy, from the xDS `Node` of its first request. */
export interface ProxyNode {
  /** node.id; Istio's form is `sidecar~IP~pod.namespace~namespace.svc.cluster.local` (or `router~…`). */
  readonly id: string;
  readonly cluster: string;
  /** node.metadata as a plain object (Istio's keys: NAMESPACE, LABELS, INSTANCE_IPS, ISTIO_VERSION, …). */
  readonly metadata: DecodedMessage;
  readonly locality?: { readonly region?: string; readonly zone?: string; readonly sub_zone?: string };
  /** node.user_agent_name: 'weft', 'envoy', 'grpc-node-js', … */
  readonly userAgent: string;
}

/** One resource ready to send, in the decoded form of src/xds/decode (snake_case; Any with '@type'). */
export interface XdsResource {
  readonly name: string;
  readonly resource: DecodedMessage;
}

/**
 * An immutable view of the mesh at one version. `generate` is deterministic (same inputs, deep-equal
 * output) and memoised: proxies that see the same scope get the same resource objects, so the
 * server can cache encodings by identity and diff by content hash.
 */
export interface MeshSnapshot {
  readonly version: string;
  /**
   * Every resource of `typeUrl` this proxy should have. For RDS and EDS the server narrows the list
   * to the names the proxy subscribed to; for LDS and CDS it sends all of them (wildcard).
   */
  generate(proxy: ProxyNode, typeUrl: string): readonly XdsResource[];
}

/** A config or registry resource that was skipped, with what a user needs to fix it. */
export interface ConfigProblem {
  readonly file: string;
  /** kind/namespace/name, e.g. `VirtualService/default/reviews`. */
  readonly resource: string;
  /** Dotted path inside the resource, e.g. `spec.http[0].route[1].weight`. */
  readonly field: string;
  readonly message: string;
}

/** The mesh model's source: a directory of YAML today, Kubernetes later. */
export interface MeshSource {
  current(): MeshSnapshot;
  problems(): readonly ConfigProblem[];
  /** Called after every applied change, undebounced (debouncing is the server's job). */
  onChange(listener: (snapshot: MeshSnapshot) => void): void;
  close(): Promise<void>;
}
