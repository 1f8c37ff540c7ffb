/**
 * The service registry: Kubernetes Services with their Endpoints / EndpointSlices / Pods, and
 * ServiceEntry / WorkloadEntry services, as one list of services and endpoints per service port.
 */
import type { ConfigProblem } from '../contracts';
import type { MeshConfig } from '../config/loader';
import type { K8sPod, Resource, ServiceEntrySpec, WorkloadEntrySpec } from '../config/types';
import { kubePortProtocol, parseProtocol } from './protocol';
import type { Labels, Locality, Service, ServiceEndpoint, ServicePort, Workload } from './types';

export const DOMAIN_SUFFIX = 'svc.cluster.local';
const NO_LOCALITY: Locality = { region: '', zone: '', subZone: '' };

export interface ServiceMembership {
  readonly service: Service;
  readonly port: ServicePort;
  readonly targetPort: number;
}

export class ServiceRegistry {
  /** Sorted by hostname, then namespace (the same order every time). */
  readonly services: readonly Service[];
  readonly workloads: readonly Workload[];
  private readonly endpointsByKey = new Map<string, readonly ServiceEndpoint[]>();
  private readonly servicesByHost = new Map<string, Service[]>();
  private readonly workloadsByIp = new Map<string, Workload>();
  private readonly workloadsByName = new Map<string, Workload>();
  private byAddress: Map<string, ServiceMembership[]> | undefined;

  constructor(services: Service[], endpoints: Map<string, ServiceEndpoint[]>, workloads: Workload[]) {
    services.sort((a, b) => cmp(a.hostname, b.hostname) || cmp(a.namespace, b.namespace));
    this.services = services;
    for (const s of services) {
      const list = this.servicesByHost.get(s.hostname);
      if (list) list.push(s);
      else this.servicesByHost.set(s.hostname, [s]);
    }
    for (const [k, list] of endpoints) {
      list.sort((a, b) => cmp(a.address, b.address) || a.port - b.port);
      this.endpointsByKey.set(k, list);
    }
    this.workloads = workloads;
    for (const w of workloads) {
      if (w.address !== '' && !this.workloadsByIp.has(w.address)) this.workloadsByIp.set(w.address, w);
      this.workloadsByName.set(`${w.namespace}/${w.name}`, w);
    }
  }

  /** Services with this hostname (one per namespace that defines it; Kubernetes first). */
  byHost(hostname: string): readonly Service[] {
    return this.servicesByHost.get(hostname) ?? [];
  }

  endpoints(service: Service, port: number): readonly ServiceEndpoint[] {
    return this.endpointsByKey.get(endpointKey(service, port)) ?? [];
  }

  workloadByIp(ip: string): Workload | undefined {
    return this.workloadsByIp.get(ip);
  }

  workloadByName(namespace: string, name: string): Workload | undefined {
    return this.workloadsByName.get(`${namespace}/${name}`);
  }

  /** Kubernetes services (or ServiceEntries with a workloadSelector) that have this workload as an endpoint. */
  servicesOf(w: Workload): readonly ServiceMembership[] {
    if (!this.byAddress) {
      this.byAddress = new Map();
      for (const s of this.services) {
        for (const p of s.ports) {
          for (const e of this.endpoints(s, p.port)) {
            const list = this.byAddress.get(e.address);
            const m: ServiceMembership = { service: s, port: p, targetPort: e.port };
            if (list) list.push(m);
            else this.byAddress.set(e.address, [m]);
          }
        }
      }
    }
    return this.byAddress.get(w.address) ?? [];
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function endpointKey(s: Service, port: number): string {
  return `${s.namespace}/${s.hostname}/${port}`;
}

export function labelsMatch(selector: Labels | undefined, labels: Labels): boolean {
  if (selector === undefined) return true;
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

/** "region/zone/subzone" (WorkloadEntry) or Istio's pod labels. */
export function parseLocality(s: string | undefined): Locality {
  if (!s) return NO_LOCALITY;
  const [region = '', zone = '', subZone = ''] = s.split('/');
  return { region, zone, subZone };
}

function podLocality(labels: Labels): Locality {
  if (labels['istio-locality']) {
    const [region = '', zone = '', subZone = ''] = labels['istio-locality'].split('.');
    return { region, zone, subZone };
  }
  return {
    region: labels['topology.kubernetes.io/region'] ?? '',
    zone: labels['topology.kubernetes.io/zone'] ?? '',
    subZone: labels['topology.istio.io/subzone'] ?? '',
  };
}

function podReady(pod: K8sPod): boolean {
  const conds = pod.status?.conditions;
  if (conds && conds.length > 0) return conds.some((c) => c.type === 'Ready' && c.status === 'True');
  return (pod.status?.phase ?? 'Running') === 'Running';
}

function exportTo(list: readonly string[] | undefined, ns: string): string[] {
  if (!list || list.length === 0) return ['*'];
  return list.map((e) => (e === '.' ? ns : e));
}

/** Builds the registry from loaded config; problems found while joining resources are appended. */
export function buildRegistry(config: MeshConfig, problems: ConfigProblem[]): ServiceRegistry {
  const services: Service[] = [];
  const endpoints = new Map<string, ServiceEndpoint[]>();
  const workloads: Workload[] = [];
  const addEndpoint = (s: Service, port: number, ep: ServiceEndpoint): void => {
    const k = endpointKey(s, port);
    const list = endpoints.get(k);
    if (list) list.push(ep);
    else endpoints.set(k, [ep]);
  };

  for (const p of config.pods) {
    const containerPorts: Record<string, number> = {};
    for (const c of p.spec.spec?.containers ?? []) for (const cp of c.ports ?? []) if (cp.name) containerPorts[cp.name] = cp.containerPort;
    workloads.push({
      kind: 'Pod', name: p.meta.name, namespace: p.meta.namespace, address: p.spec.status?.podIP ?? '', labels: p.meta.labels,
      ready: podReady(p.spec), locality: podLocality(p.meta.labels), namedPorts: containerPorts, weight: 1,
    });
  }
  for (const we of config.workloadEntries) {
    workloads.push(workloadFromEntry(we.spec, we.meta.name, we.meta.namespace));
  }
  const podByIp = new Map<string, Workload>();
  const podByName = new Map<string, Workload>();
  for (const w of workloads) {
    if (w.kind !== 'Pod') continue;
    if (w.address) podByIp.set(w.address, w);
    podByName.set(`${w.namespace}/${w.name}`, w);
  }

  const endpointsByName = new Map(config.endpoints.map((e) => [`${e.meta.namespace}/${e.meta.name}`, e]));
  const slicesByService = new Map<string, (typeof config.endpointSlices)[number][]>();
  for (const slice of config.endpointSlices) {
    const svcName = slice.meta.labels['kubernetes.io/service-name'];
    if (svcName === undefined) continue;
    const k = `${slice.meta.namespace}/${svcName}`;
    const list = slicesByService.get(k);
    if (list) list.push(slice);
    else slicesByService.set(k, [slice]);
  }
  // Pods by namespace and label, so a selector looks only at pods carrying its first label.
  const podsByLabel = new Map<string, Workload[]>();
  for (const w of workloads) {
    if (w.kind !== 'Pod' || w.address === '') continue;
    for (const [k, v] of Object.entries(w.labels)) {
      const key = `${w.namespace}|${k}=${v}`;
      const list = podsByLabel.get(key);
      if (list) list.push(w);
      else podsByLabel.set(key, [w]);
    }
  }

  // Kubernetes services
  for (const svc of config.services) {
    const { name, namespace } = svc.meta;
    const spec = svc.spec;
    const ports: ServicePort[] = (spec.ports ?? []).map((p) => ({
      name: p.name ?? '',
      port: p.port,
      protocol: kubePortProtocol(p.name, p.protocol, p.appProtocol),
      targetPort: p.targetPort,
    }));
    const clusterIP = spec.clusterIP && spec.clusterIP !== 'None' ? [spec.clusterIP] : [];
    const service: Service = {
      hostname: `${name}.${namespace}.${DOMAIN_SUFFIX}`, name, namespace, addresses: clusterIP, ports,
      // Headless services (clusterIP None) would need ORIGINAL_DST clusters; Weft load-balances over their endpoints.
      resolution: 'CLIENT_SIDE_LB', meshExternal: false,
      exportTo: exportTo(splitAnnotation(svc.meta.annotations['networking.istio.io/exportTo']), namespace), source: 'Kubernetes',
    };
    services.push(service);

    const eps = endpointsByName.get(`${namespace}/${name}`);
    const slices = slicesByService.get(`${namespace}/${name}`) ?? [];
    const selectorEntries = Object.entries(spec.selector ?? {});
    const candidates = selectorEntries.length > 0 ? podsByLabel.get(`${namespace}|${selectorEntries[0][0]}=${selectorEntries[0][1]}`) ?? [] : [];
    const labelsOf = (ip: string, ref: { name?: string; namespace?: string } | undefined): { labels: Labels; locality: Locality } => {
      const pod = (ref?.name ? podByName.get(`${ref.namespace ?? namespace}/${ref.name}`) : undefined) ?? podByIp.get(ip);
      return pod ? { labels: pod.labels, locality: pod.locality } : { labels: {}, locality: NO_LOCALITY };
    };
    for (const sp of ports) {
      if (eps) {
        for (const subset of eps.spec.subsets ?? []) {
          const epPort = (subset.ports ?? []).find((p) => (p.name ?? '') === sp.name) ?? (subset.ports?.length === 1 && ports.length === 1 ? subset.ports[0] : undefined);
          if (!epPort) continue;
          for (const [list, ready] of [[subset.addresses ?? [], true], [subset.notReadyAddresses ?? [], false]] as const) {
            for (const a of list) addEndpoint(service, sp.port, { address: a.ip, port: epPort.port, ready, weight: 1, ...labelsOf(a.ip, a.targetRef) });
          }
        }
      } else if (slices.length > 0) {
        for (const slice of slices) {
          if (slice.spec.addressType === 'FQDN') {
            problems.push({ file: slice.meta.file, resource: `EndpointSlice/${namespace}/${slice.meta.name}`, field: 'addressType', message: 'FQDN EndpointSlices are not supported by Weft; use a ServiceEntry with resolution DNS' });
            continue;
          }
          const slicePort = (slice.spec.ports ?? []).find((p) => (p.name ?? '') === sp.name);
          if (!slicePort || slicePort.port === undefined) continue;
          for (const e of slice.spec.endpoints ?? []) {
            const ready = e.conditions?.ready ?? true;
            for (const ip of e.addresses) {
              const l = labelsOf(ip, e.targetRef);
              const locality = e.zone && !l.locality.zone ? { ...l.locality, zone: e.zone } : l.locality;
              addEndpoint(service, sp.port, { address: ip, port: slicePort.port, ready, weight: 1, labels: l.labels, locality });
            }
          }
        }
      } else if (selectorEntries.length > 0) {
        for (const w of candidates) {
          if (!labelsMatch(spec.selector, w.labels)) continue;
          const target = resolveTargetPort(sp, w);
          if (target === undefined) continue;
          addEndpoint(service, sp.port, { address: w.address, port: target, ready: w.ready, weight: 1, labels: w.labels, locality: w.locality });
        }
      }
    }
  }

  // ServiceEntries
  for (const se of config.serviceEntries) addServiceEntry(se, workloads, services, addEndpoint);

  return new ServiceRegistry(services, endpoints, workloads);
}

function splitAnnotation(v: string | undefined): string[] | undefined {
  return v ? v.split(',').map((s) => s.trim()).filter((s) => s !== '') : undefined;
}

function resolveTargetPort(sp: ServicePort, w: Workload): number | undefined {
  if (sp.targetPort === undefined) return sp.port;
  if (typeof sp.targetPort === 'number') return sp.targetPort;
  if (/^\d+$/.test(sp.targetPort)) return Number(sp.targetPort);
  return w.namedPorts[sp.targetPort];
}

function workloadFromEntry(spec: WorkloadEntrySpec, name: string, namespace: string): Workload {
  return {
    kind: 'WorkloadEntry', name, namespace, address: spec.address ?? '', labels: spec.labels ?? {}, ready: true,
    locality: parseLocality(spec.locality), namedPorts: spec.ports ?? {}, weight: spec.weight ?? 1,
  };
}

function addServiceEntry(
  se: Resource<ServiceEntrySpec>, workloads: readonly Workload[], services: Service[],
  addEndpoint: (s: Service, port: number, ep: ServiceEndpoint) => void,
): void {
  const spec = se.spec;
  const ns = se.meta.namespace;
  const resolution = spec.resolution ?? 'NONE';
  const ports: ServicePort[] = spec.ports.map((p) => ({ name: p.name, port: p.number, protocol: parseProtocol(p.protocol), targetPort: p.targetPort }));
  for (const host of spec.hosts) {
    const service: Service = {
      hostname: host,
      name: host,
      namespace: ns,
      addresses: spec.addresses ?? [],
      ports,
      resolution: resolution === 'NONE' ? 'PASSTHROUGH' : resolution === 'DNS' ? 'DNS' : resolution === 'DNS_ROUND_ROBIN' ? 'DNS_ROUND_ROBIN' : 'CLIENT_SIDE_LB',
      meshExternal: (spec.location ?? 'MESH_EXTERNAL') === 'MESH_EXTERNAL',
      exportTo: exportTo(spec.exportTo, ns),
      source: 'ServiceEntry',
    };
    services.push(service);
    const members: Workload[] = spec.workloadSelector
      ? workloads.filter((w) => w.namespace === ns && w.address !== '' && labelsMatch(spec.workloadSelector?.labels, w.labels))
      : (spec.endpoints ?? []).map((e, i) => workloadFromEntry(e, `${se.meta.name}-${i}`, ns));
    for (const sp of ports) {
      if (members.length === 0 && (resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN')) {
        addEndpoint(service, sp.port, { address: host, port: typeof sp.targetPort === 'number' ? sp.targetPort : sp.port, labels: {}, ready: true, locality: NO_LOCALITY, weight: 1 });
        continue;
      }
      for (const w of members) {
        const port = w.namedPorts[sp.name] ?? (typeof sp.targetPort === 'number' ? sp.targetPort : sp.port);
        addEndpoint(service, sp.port, { address: w.address, port, labels: w.labels, ready: w.ready, locality: w.locality, weight: w.weight });
      }
    }
  }
}
