/** The validated shapes of the resources Weft reads (Istio CRD field names). */

export interface ResourceMeta {
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** The file it came from, for problems reported later (e.g. by translation). */
  readonly file: string;
}

export interface Resource<Spec> {
  readonly meta: ResourceMeta;
  readonly spec: Spec;
}

export type Labels = Readonly<Record<string, string>>;

export interface StringMatch { readonly exact?: string; readonly prefix?: string; readonly regex?: string }
export interface Percent { readonly value?: number }
export interface Destination { readonly host: string; readonly subset?: string; readonly port?: { readonly number?: number } }
export interface HeaderOps { readonly set?: Labels; readonly add?: Labels; readonly remove?: readonly string[] }
export interface Headers { readonly request?: HeaderOps; readonly response?: HeaderOps }

export interface HTTPMatchRequest {
  readonly name?: string;
  readonly uri?: StringMatch;
  readonly method?: StringMatch;
  readonly authority?: StringMatch;
  readonly headers?: Readonly<Record<string, StringMatch>>;
  readonly sourceLabels?: Labels;
  readonly gateways?: readonly string[];
  readonly queryParams?: Readonly<Record<string, StringMatch>>;
  readonly ignoreUriCase?: boolean;
  readonly withoutHeaders?: Readonly<Record<string, StringMatch>>;
}
export interface HTTPRouteDestination { readonly destination: Destination; readonly weight?: number; readonly headers?: Headers }
export interface HTTPRoute {
  readonly name?: string;
  readonly match?: readonly HTTPMatchRequest[];
  readonly route?: readonly HTTPRouteDestination[];
  readonly redirect?: {
    readonly uri?: string; readonly authority?: string; readonly port?: number; readonly derivePort?: string;
    readonly scheme?: string; readonly redirectCode?: number;
  };
  readonly directResponse?: { readonly status: number; readonly body?: { readonly string?: string; readonly bytes?: string } };
  readonly rewrite?: { readonly uri?: string; readonly authority?: string; readonly uriRegexRewrite?: { readonly match: string; readonly rewrite: string } };
  readonly timeout?: string;
  readonly retries?: { readonly attempts?: number; readonly perTryTimeout?: string; readonly retryOn?: string };
  readonly fault?: {
    readonly delay?: { readonly fixedDelay: string; readonly percentage?: Percent; readonly percent?: number };
    readonly abort?: { readonly httpStatus?: number; readonly grpcStatus?: string; readonly percentage?: Percent };
  };
  readonly mirror?: Destination;
  readonly mirrorPercentage?: Percent;
  readonly mirror_percent?: number;
  readonly mirrorPercent?: number;
  readonly mirrors?: readonly { readonly destination: Destination; readonly percentage?: Percent }[];
  readonly corsPolicy?: {
    readonly allowOrigins?: readonly StringMatch[]; readonly allowOrigin?: readonly string[]; readonly allowMethods?: readonly string[];
    readonly allowHeaders?: readonly string[]; readonly exposeHeaders?: readonly string[]; readonly maxAge?: string;
    readonly allowCredentials?: boolean;
  };
  readonly headers?: Headers;
}
export interface TCPRoute {
  readonly match?: readonly { readonly port?: number; readonly gateways?: readonly string[] }[];
  readonly route?: readonly { readonly destination: Destination; readonly weight?: number }[];
}
export interface VirtualServiceSpec {
  readonly hosts: readonly string[];
  readonly gateways?: readonly string[];
  readonly http?: readonly HTTPRoute[];
  readonly tcp?: readonly TCPRoute[];
  readonly exportTo?: readonly string[];
}

export interface ConsistentHash {
  readonly httpHeaderName?: string;
  readonly httpCookie?: { readonly name: string; readonly path?: string; readonly ttl?: string };
  readonly useSourceIp?: boolean;
  readonly httpQueryParameterName?: string;
  readonly ringHash?: { readonly minimumRingSize?: number };
  readonly maglev?: { readonly tableSize?: number };
  readonly minimumRingSize?: number;
}
export interface LoadBalancerSettings {
  readonly simple?: string;
  readonly consistentHash?: ConsistentHash;
  readonly localityLbSetting?: { readonly enabled?: boolean };
}
export interface ConnectionPoolSettings {
  readonly tcp?: { readonly maxConnections?: number; readonly connectTimeout?: string };
  readonly http?: {
    readonly http1MaxPendingRequests?: number; readonly http2MaxRequests?: number; readonly maxRequestsPerConnection?: number;
    readonly maxRetries?: number; readonly idleTimeout?: string;
  };
}
export interface OutlierDetectionSettings {
  readonly consecutiveGatewayErrors?: number;
  readonly consecutive5xxErrors?: number;
  readonly consecutiveErrors?: number;
  readonly interval?: string;
  readonly baseEjectionTime?: string;
  readonly maxEjectionPercent?: number;
  readonly minHealthPercent?: number;
}
export interface PolicySettings {
  readonly loadBalancer?: LoadBalancerSettings;
  readonly connectionPool?: ConnectionPoolSettings;
  readonly outlierDetection?: OutlierDetectionSettings;
  readonly tls?: { readonly mode?: string };
}
export interface TrafficPolicy extends PolicySettings {
  readonly portLevelSettings?: readonly (PolicySettings & { readonly port: { readonly number?: number } })[];
}
export interface DestinationRuleSpec {
  readonly host: string;
  readonly trafficPolicy?: TrafficPolicy;
  readonly subsets?: readonly { readonly name: string; readonly labels?: Labels; readonly trafficPolicy?: TrafficPolicy }[];
  readonly exportTo?: readonly string[];
}

export interface ServicePortSpec { readonly number: number; readonly protocol?: string; readonly name: string; readonly targetPort?: number }
export interface WorkloadEntrySpec {
  readonly address?: string;
  readonly ports?: Readonly<Record<string, number>>;
  readonly labels?: Labels;
  readonly locality?: string;
  readonly weight?: number;
}
export interface ServiceEntrySpec {
  readonly hosts: readonly string[];
  readonly addresses?: readonly string[];
  readonly ports: readonly ServicePortSpec[];
  readonly location?: 'MESH_EXTERNAL' | 'MESH_INTERNAL';
  readonly resolution?: 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN';
  readonly endpoints?: readonly WorkloadEntrySpec[];
  readonly workloadSelector?: { readonly labels?: Labels };
  readonly exportTo?: readonly string[];
}

export interface GatewayServer {
  readonly port: { readonly number: number; readonly protocol: string; readonly name?: string; readonly targetPort?: number };
  readonly bind?: string;
  readonly hosts: readonly string[];
  readonly name?: string;
}
export interface GatewaySpec { readonly servers: readonly GatewayServer[]; readonly selector?: Labels }

export interface SidecarPort { readonly number: number; readonly protocol?: string; readonly name?: string; readonly targetPort?: number }
export interface SidecarIngress { readonly port: SidecarPort; readonly bind?: string; readonly captureMode?: string; readonly defaultEndpoint?: string }
export interface SidecarEgress { readonly port?: SidecarPort; readonly bind?: string; readonly captureMode?: string; readonly hosts: readonly string[] }
export interface SidecarSpec {
  readonly workloadSelector?: { readonly labels?: Labels };
  readonly ingress?: readonly SidecarIngress[];
  readonly egress?: readonly SidecarEgress[];
  readonly outboundTrafficPolicy?: { readonly mode?: 'ALLOW_ANY' | 'REGISTRY_ONLY' };
}

// ---- Kubernetes (only the fields Weft reads)

export interface K8sServicePort {
  readonly name?: string; readonly port: number; readonly protocol?: string; readonly appProtocol?: string;
  readonly targetPort?: number | string;
}
export interface K8sServiceSpec {
  readonly clusterIP?: string;
  readonly ports?: readonly K8sServicePort[];
  readonly selector?: Labels;
  readonly type?: string;
}
export interface K8sEndpointAddress { readonly ip: string; readonly targetRef?: { readonly kind?: string; readonly name?: string; readonly namespace?: string } }
export interface K8sEndpointsSubset {
  readonly addresses?: readonly K8sEndpointAddress[];
  readonly notReadyAddresses?: readonly K8sEndpointAddress[];
  readonly ports?: readonly { readonly name?: string; readonly port: number; readonly protocol?: string }[];
}
export interface K8sEndpoints { readonly subsets?: readonly K8sEndpointsSubset[] }
export interface K8sEndpointSlice {
  readonly addressType?: string;
  readonly endpoints?: readonly {
    readonly addresses: readonly string[];
    readonly conditions?: { readonly ready?: boolean; readonly serving?: boolean; readonly terminating?: boolean };
    readonly targetRef?: { readonly kind?: string; readonly name?: string; readonly namespace?: string };
    readonly zone?: string;
    readonly nodeName?: string;
  }[];
  readonly ports?: readonly { readonly name?: string; readonly port?: number; readonly protocol?: string; readonly appProtocol?: string }[];
}
export interface K8sPod {
  readonly spec?: { readonly nodeName?: string; readonly containers?: readonly { readonly ports?: readonly { readonly name?: string; readonly containerPort: number }[] }[] };
  readonly status?: { readonly podIP?: string; readonly phase?: string; readonly conditions?: readonly { readonly type: string; readonly status: string }[] };
}
