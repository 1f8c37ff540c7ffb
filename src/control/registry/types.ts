import type { Protocol } from './protocol';

export type Labels = Readonly<Record<string, string>>;

export interface Locality { readonly region: string; readonly zone: string; readonly subZone: string }

export interface ServicePort {
  readonly name: string;
  readonly port: number;
  readonly protocol: Protocol;
  /** Kubernetes targetPort (number or container port name); undefined means the same as `port`. */
  readonly targetPort?: number | string;
}

export type Resolution = 'CLIENT_SIDE_LB' | 'DNS' | 'DNS_ROUND_ROBIN' | 'PASSTHROUGH';

export interface Service {
  /** FQDN, e.g. reviews.default.svc.cluster.local, or a ServiceEntry host. */
  readonly hostname: string;
  readonly name: string;
  readonly namespace: string;
  /** Virtual IPs (ClusterIP or ServiceEntry addresses). */
  readonly addresses: readonly string[];
  readonly ports: readonly ServicePort[];
  readonly resolution: Resolution;
  readonly meshExternal: boolean;
  /** Namespaces allowed to see this service: '*' (all) or names; Istio's exportTo ('.' resolved). */
  readonly exportTo: readonly string[];
  readonly source: 'Kubernetes' | 'ServiceEntry';
}

/** One endpoint of one service port. */
export interface ServiceEndpoint {
  readonly address: string;
  readonly port: number;
  readonly labels: Labels;
  readonly ready: boolean;
  readonly locality: Locality;
  readonly weight: number;
}

/** A workload (Pod or WorkloadEntry): what a sidecar proxy runs beside. */
export interface Workload {
  readonly kind: 'Pod' | 'WorkloadEntry';
  readonly name: string;
  readonly namespace: string;
  readonly address: string;
  readonly labels: Labels;
  readonly ready: boolean;
  readonly locality: Locality;
  /** Named container ports (Pod) or WorkloadEntry ports. */
  readonly namedPorts: Readonly<Record<string, number>>;
  readonly weight: number;
}
