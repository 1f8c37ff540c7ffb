/**
 * A scripted MeshSource for the ADS server's tests (the mesh model is another engineer's part):
 * a few HTTP services, each a listener → route → EDS cluster → endpoints chain, in decoded form.
 * Resources are memoised per service spec, as the real model memoises, so unchanged services keep
 * their object identity across versions. A proxy whose metadata has SERVICES (a list) sees only those.
 */
import { ConfigProblem, MeshSnapshot, MeshSource, ProxyNode, TYPE_URL, XdsResource } from '../../../src/control/contracts';
import { DecodedMessage } from '../../../src/xds/decode';

export interface ServiceSpec {
  readonly name: string;
  /** Listener port. */
  readonly port: number;
  /** Endpoint ports on 127.0.0.1. */
  readonly endpoints: readonly number[];
  /** Request timeout of the route, ms: change it to change only the route. */
  readonly timeoutMs?: number;
  /** Cluster lb_policy: change it to change only the cluster. */
  readonly clusterLbPolicy?: string;
  /** Goes into all four resources: change it to change every type at once. */
  readonly tag?: string;
}

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

export function clusterName(s: ServiceSpec): string {
  return `outbound|${s.port}||${s.name}.default.svc.cluster.local`;
}

function build(s: ServiceSpec): Record<string, XdsResource> {
  const cluster = clusterName(s);
  return {
    [TYPE_URL.listener]: {
      name: `${s.name}_${s.port}`,
      resource: {
        name: `${s.name}_${s.port}`,
        address: { socket_address: { address: '127.0.0.1', port_value: s.port } },
        filter_chains: [
          {
            filters: [
              {
                name: 'envoy.filters.network.http_connection_manager',
                typed_config: {
                  '@type': HCM,
                  stat_prefix: `${s.name}${s.tag ?? ''}`,
                  rds: { route_config_name: s.name, config_source: { ads: {}, resource_api_version: 'V3' } },
                  http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
                },
              },
            ],
          },
        ],
      },
    },
    [TYPE_URL.route]: {
      name: s.name,
      resource: {
        name: s.name,
        virtual_hosts: [
          {
            name: `${s.name}${s.tag ?? ''}`,
            domains: ['*'],
            routes: [{ match: { prefix: '/' }, route: { cluster, timeout: s.timeoutMs ?? 15_000 } }],
          },
        ],
      },
    },
    [TYPE_URL.cluster]: {
      name: cluster,
      resource: {
        name: cluster,
        type: 'EDS',
        connect_timeout: 1000,
        eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } },
        ...(s.clusterLbPolicy ? { lb_policy: s.clusterLbPolicy } : {}),
        ...(s.tag ? { alt_stat_name: s.tag } : {}),
      },
    },
    [TYPE_URL.endpoint]: {
      name: cluster,
      resource: {
        cluster_name: cluster,
        endpoints: [
          {
            ...(s.tag ? { locality: { zone: s.tag } } : {}),
            lb_endpoints: s.endpoints.map((port) => ({
              endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } },
            })),
          },
        ],
      },
    },
  };
}

export class ScriptedMesh implements MeshSource {
  private services: ServiceSpec[];
  private version = 1;
  private readonly memo = new Map<string, Record<string, XdsResource>>();
  private readonly bySpec = new WeakMap<ServiceSpec, Record<string, XdsResource>>();
  private readonly listeners: Array<(s: MeshSnapshot) => void> = [];
  private snapshot: MeshSnapshot;
  configProblems: ConfigProblem[] = [];
  /** generate() calls per type URL, to assert what a push computed. */
  readonly generateCalls = new Map<string, number>();

  constructor(services: readonly ServiceSpec[]) {
    this.services = [...services];
    this.snapshot = this.makeSnapshot();
  }

  current(): MeshSnapshot {
    return this.snapshot;
  }

  problems(): readonly ConfigProblem[] {
    return this.configProblems;
  }

  onChange(listener: (snapshot: MeshSnapshot) => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {}

  /** Replaces the service list and announces a new version. */
  set(services: readonly ServiceSpec[]): void {
    this.services = [...services];
    this.version++;
    this.snapshot = this.makeSnapshot();
    for (const l of this.listeners) l(this.snapshot);
  }

  /** Changes one service. */
  update(name: string, change: Partial<ServiceSpec>): void {
    this.set(this.services.map((s) => (s.name === name ? { ...s, ...change } : s)));
  }

  private resourcesOf(s: ServiceSpec): Record<string, XdsResource> {
    const known = this.bySpec.get(s);
    if (known) return known;
    const key = JSON.stringify(s);
    let r = this.memo.get(key);
    if (!r) {
      r = build(s);
      this.memo.set(key, r);
    }
    this.bySpec.set(s, r);
    return r;
  }

  private makeSnapshot(): MeshSnapshot {
    const services = this.services;
    const version = `v${this.version}`;
    // Memoised per type and scope, as the real model memoises: same scope, same list object.
    const lists = new Map<string, readonly XdsResource[]>();
    return {
      version,
      generate: (proxy: ProxyNode, typeUrl: string): readonly XdsResource[] => {
        this.generateCalls.set(typeUrl, (this.generateCalls.get(typeUrl) ?? 0) + 1);
        const scope = (proxy.metadata as DecodedMessage).SERVICES;
        const key = `${typeUrl}|${Array.isArray(scope) ? scope.join(',') : '*'}`;
        const hit = lists.get(key);
        if (hit) return hit;
        const visible = Array.isArray(scope) ? services.filter((s) => scope.includes(s.name)) : services;
        const out: XdsResource[] = [];
        for (const s of visible) {
          const r = this.resourcesOf(s)[typeUrl];
          if (r) out.push(r);
        }
        lists.set(key, out);
        return out;
      },
    };
  }
}

/** A MeshSource whose resources a test sets directly, per type, the same for every proxy. */
export class ResourceMesh implements MeshSource {
  private snapshot: MeshSnapshot;
  private readonly listeners: Array<(s: MeshSnapshot) => void> = [];

  constructor(version: string, resources: Readonly<Record<string, readonly XdsResource[]>>) {
    this.snapshot = ResourceMesh.snapshotOf(version, resources);
  }

  private static snapshotOf(version: string, resources: Readonly<Record<string, readonly XdsResource[]>>): MeshSnapshot {
    return { version, generate: (_proxy, typeUrl) => resources[typeUrl] ?? [] };
  }

  set(version: string, resources: Readonly<Record<string, readonly XdsResource[]>>): void {
    this.snapshot = ResourceMesh.snapshotOf(version, resources);
    for (const l of this.listeners) l(this.snapshot);
  }

  current(): MeshSnapshot {
    return this.snapshot;
  }
  problems(): readonly ConfigProblem[] {
    return [];
  }
  onChange(listener: (snapshot: MeshSnapshot) => void): void {
    this.listeners.push(listener);
  }
  async close(): Promise<void> {}
}
