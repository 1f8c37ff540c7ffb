/**
 * Everything a sidecar proxy receives, for one scope (namespace + Sidecar resource + workload):
 * outbound clusters/endpoints/routes for the services its egress listeners import, inbound
 * clusters/listeners for its workload, and listeners in Istio's iptables shape (virtualOutbound
 * 15001 / virtualInbound 15006, per-service listeners with bind_to_port false) or, with
 * captureMode NONE, bound to real addresses and ports.
 */
import type { DecodedMessage } from '../../xds/decoded';
import type { Resource, SidecarEgress, SidecarIngress, SidecarPort, SidecarSpec } from '../config/types';
import { resolveHost, type MeshModel } from '../model/mesh';
import type { ProxyInfo } from '../model/proxy';
import { isHttp, parseProtocol, type Protocol } from '../registry/protocol';
import type { Service, ServicePort } from '../registry/types';
import {
  BLACKHOLE_CLUSTER, FILTER_NAMES, inboundClusterName, INBOUND_PASSTHROUGH_CLUSTER, outboundClusterName, PASSTHROUGH_CLUSTER, socketAddress, TYPES,
} from './common';
import { buildServiceClusters, buildStaticCluster, DEFAULT_CONNECT_TIMEOUT_MS } from './clusters';
import { sharedClusterLoadAssignment } from './endpoints';
import { httpConnectionManager, tcpProxyFilter } from './hcm';
import type { RouteContext } from './routes';
import { buildServiceVirtualHost } from './virtual-hosts';

export const VIRTUAL_OUTBOUND_PORT = 15001;
export const VIRTUAL_INBOUND_PORT = 15006;

/** An egress listener resolved against the registry. */
interface EgressScope {
  readonly spec: SidecarEgress | undefined;
  readonly capture: boolean;
  readonly bind: string;
  readonly services: readonly Service[];
}

/** An inbound port: from Sidecar ingress, or from the services selecting the workload. */
interface InboundPort {
  readonly port: number;
  readonly protocol: Protocol;
  readonly capture: boolean;
  readonly bind: string;
  readonly endpoint: { address: string; port: number };
}

export interface SidecarResources {
  readonly clusters: DecodedMessage[];
  readonly endpoints: DecodedMessage[];
  readonly listeners: DecodedMessage[];
  readonly routes: DecodedMessage[];
}

export class SidecarScope {
  private readonly egress: readonly EgressScope[];
  private readonly inbound: readonly InboundPort[];
  private readonly allowAny: boolean;
  /** iptables capture on the outbound side: virtualOutbound and PassthroughCluster. */
  private readonly outboundCapture: boolean;
  /** iptables capture on the inbound side: virtualInbound and InboundPassthroughCluster. */
  private readonly inboundCapture: boolean;

  constructor(private readonly model: MeshModel, private readonly proxy: ProxyInfo, sidecar: Resource<SidecarSpec> | undefined) {
    const sidecarNs = sidecar?.meta.namespace ?? proxy.namespace;
    const proxyCapture = proxy.interceptionMode !== 'NONE';
    const egressSpecs: (SidecarEgress | undefined)[] = sidecar?.spec.egress && sidecar.spec.egress.length > 0 ? [...sidecar.spec.egress] : [undefined];
    this.egress = egressSpecs.map((e) => {
      const capture = e?.captureMode === 'NONE' ? false : e?.captureMode === 'IPTABLES' ? true : proxyCapture;
      // Computed on first use: a scope built for a proxy's inbound side never needs it.
      let services: readonly Service[] | undefined;
      return {
        spec: e,
        capture,
        bind: e?.bind ?? (capture ? '0.0.0.0' : '127.0.0.1'),
        get services(): readonly Service[] {
          return (services ??= model.visibleServices(proxy.namespace, e, sidecarNs));
        },
      };
    });
    this.inbound = this.resolveInbound(sidecar?.spec.ingress, proxyCapture);
    this.allowAny = (sidecar?.spec.outboundTrafficPolicy?.mode ?? 'ALLOW_ANY') === 'ALLOW_ANY';
    this.outboundCapture = proxyCapture && this.egress.some((e) => e.capture);
    this.inboundCapture = proxyCapture && (!(sidecar?.spec.ingress && sidecar.spec.ingress.length > 0) || this.inbound.some((i) => i.capture));
  }

  private resolveInbound(ingress: readonly SidecarIngress[] | undefined, proxyCapture: boolean): InboundPort[] {
    const workloadIp = this.proxy.workload?.address ?? this.proxy.ips[0] ?? '127.0.0.1';
    if (ingress && ingress.length > 0) {
      return ingress.map((i) => {
        const capture = i.captureMode === 'NONE' ? false : i.captureMode === 'IPTABLES' ? true : proxyCapture;
        return {
          port: i.port.number,
          protocol: portProtocol(i.port),
          capture,
          bind: i.bind ?? '0.0.0.0',
          endpoint: parseDefaultEndpoint(i.defaultEndpoint, workloadIp, i.port.targetPort ?? i.port.number),
        };
      });
    }
    // Without Sidecar ingress, a captured workload gets its services' target ports (Istio's default).
    if (!proxyCapture || !this.proxy.workload) return [];
    const seen = new Set<number>();
    const out: InboundPort[] = [];
    for (const { port, targetPort } of this.model.registry.servicesOf(this.proxy.workload)) {
      if (seen.has(targetPort)) continue;
      seen.add(targetPort);
      out.push({ port: targetPort, protocol: port.protocol, capture: true, bind: '0.0.0.0', endpoint: { address: workloadIp, port: targetPort } });
    }
    return out.sort((a, b) => a.port - b.port);
  }

  // ---- outbound

  /** Every (service, port) this proxy imports, deduplicated across egress listeners. */
  private importedServices(): Service[] {
    const seen = new Set<Service>();
    for (const e of this.egress) for (const s of e.services) seen.add(s);
    return [...seen];
  }

  outboundClusters(): DecodedMessage[] {
    const out: DecodedMessage[] = [];
    for (const s of this.importedServices()) {
      const dr = this.model.destinationRuleFor(this.proxy.namespace, s);
      out.push(...buildServiceClusters(this.model.registry, s, dr?.spec, { proxyless: false }));
    }
    out.push({ name: BLACKHOLE_CLUSTER, connect_timeout: DEFAULT_CONNECT_TIMEOUT_MS });
    if (this.outboundCapture) {
      out.push({ name: PASSTHROUGH_CLUSTER, type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: DEFAULT_CONNECT_TIMEOUT_MS });
    }
    return out;
  }

  outboundEndpoints(): DecodedMessage[] {
    const out: DecodedMessage[] = [];
    for (const s of this.importedServices()) {
      if (s.resolution !== 'CLIENT_SIDE_LB') continue;
      const dr = this.model.destinationRuleFor(this.proxy.namespace, s)?.spec;
      for (const p of s.ports) {
        if (p.protocol === 'UDP') continue;
        out.push(sharedClusterLoadAssignment(this.model, outboundClusterName(p.port, '', s.hostname), s, p.port, undefined));
        for (const sub of dr?.subsets ?? []) {
          out.push(sharedClusterLoadAssignment(this.model, outboundClusterName(p.port, sub.name, s.hostname), s, p.port, sub.labels ?? {}));
        }
      }
    }
    return out;
  }

  private routeContext(port: number): RouteContext {
    return { model: this.model, proxyNamespace: this.proxy.namespace, proxyLabels: this.proxy.labels, gateway: 'mesh', port, proxyless: false };
  }

  /** The HTTP route configuration for one outbound port over `services`. */
  private outboundRouteConfig(
    name: string, port: number, services: readonly Service[], catchAll: boolean, declaredHttp: boolean,
  ): { rc: DecodedMessage; fault: boolean; cors: boolean } {
    const ctx = this.routeContext(port);
    const taken = new Set<string>();
    const vhosts: DecodedMessage[] = [];
    let fault = false;
    let cors = false;
    for (const s of services) {
      // On an egress listener declared HTTP, ports Istio would sniff (unnamed) are taken as HTTP too.
      if (!s.ports.some((p) => p.port === port && (isHttp(p.protocol) || (declaredHttp && p.protocol === 'UNSUPPORTED')))) continue;
      const vh = buildServiceVirtualHost(ctx, s, port, taken);
      if (!vh) continue;
      vhosts.push(vh.virtualHost);
      fault ||= vh.usesFault;
      cors ||= vh.usesCors;
    }
    if (catchAll) {
      vhosts.push(
        this.allowAny
          ? { name: 'allow_any', domains: ['*'], routes: [{ name: 'allow_any', match: { prefix: '/' }, route: { cluster: PASSTHROUGH_CLUSTER, timeout: 0 } }] }
          : { name: 'block_all', domains: ['*'], routes: [{ name: 'block_all', match: { prefix: '/' }, direct_response: { status: 502 } }] },
      );
    }
    const rc: DecodedMessage = { name, validate_clusters: false };
    if (vhosts.length > 0) rc.virtual_hosts = vhosts;
    return { rc, fault, cors };
  }

  /** Outbound listeners and their route configurations. */
  private outbound(): { listeners: DecodedMessage[]; routes: DecodedMessage[] } {
    const listeners: DecodedMessage[] = [];
    const routes: DecodedMessage[] = [];
    const listenerNames = new Set<string>();
    const routeNames = new Set<string>();

    for (const e of this.egress) {
      const specPort = e.spec?.port;
      if (specPort) {
        // An egress listener with a port: one listener for the imported services on that port.
        const name = `${e.bind}_${specPort.number}`;
        if (listenerNames.has(name)) continue;
        listenerNames.add(name);
        const services = e.services.filter((s) => s.ports.some((p) => p.port === specPort.number));
        const protocol = specPort.protocol ? parseProtocol(specPort.protocol) : inferProtocol(services, specPort.number);
        const l = this.listener(name, e.bind, specPort.number, !e.capture, 'OUTBOUND');
        if (isHttp(protocol)) {
          const routeName = routeNameFor(specPort.number, e.bind, routeNames);
          const { rc, fault, cors } = this.outboundRouteConfig(routeName, specPort.number, services, e.capture, specPort.protocol !== undefined);
          routes.push(rc);
          routeNames.add(routeName);
          l.filter_chains = [{ filters: [httpConnectionManager({ statPrefix: `outbound_${name}`, rds: routeName, fault, cors })] }];
        } else {
          const target = services[0] ? this.tcpTarget(services[0], services[0].ports.find((p) => p.port === specPort.number)!) : BLACKHOLE_CLUSTER;
          l.filter_chains = [{ filters: [tcpProxyFilter(`outbound_${name}`, target)] }];
        }
        listeners.push(l);
        continue;
      }
      // No port: a listener per imported service port (HTTP ports share one per port, as Istio).
      const httpPorts = new Map<number, Service[]>();
      for (const s of e.services) {
        for (const p of s.ports) {
          if (p.protocol === 'UDP') continue;
          if (isHttp(p.protocol)) {
            const list = httpPorts.get(p.port) ?? [];
            list.push(s);
            httpPorts.set(p.port, list);
            continue;
          }
          const address = e.capture && s.addresses[0] ? s.addresses[0] : e.bind;
          const name = `${address}_${p.port}`;
          if (listenerNames.has(name) || (e.capture && p.port === VIRTUAL_OUTBOUND_PORT)) continue;
          listenerNames.add(name);
          const l = this.listener(name, address, p.port, !e.capture, 'OUTBOUND');
          l.filter_chains = [{ filters: [tcpProxyFilter(`outbound|${p.port}||${s.hostname}`, this.tcpTarget(s, p))] }];
          listeners.push(l);
        }
      }
      for (const [port, services] of [...httpPorts].sort((a, b) => a[0] - b[0])) {
        const name = `${e.bind}_${port}`;
        if (listenerNames.has(name)) continue;
        listenerNames.add(name);
        const routeName = routeNameFor(port, e.bind, routeNames);
        const { rc, fault, cors } = this.outboundRouteConfig(routeName, port, services, e.capture, false);
        routes.push(rc);
        routeNames.add(routeName);
        const l = this.listener(name, e.bind, port, !e.capture, 'OUTBOUND');
        l.filter_chains = [{ filters: [httpConnectionManager({ statPrefix: `outbound_${name}`, rds: routeName, fault, cors })] }];
        listeners.push(l);
      }
    }
    if (this.outboundCapture) listeners.push(this.virtualOutbound());
    return { listeners, routes };
  }

  /** A TCP service's target: its VirtualService tcp route (weighted), else its cluster. */
  private tcpTarget(s: Service, p: ServicePort): string | { name: string; weight: number }[] {
    const vs = this.model.virtualServiceFor(s.hostname, 'mesh', this.proxy.namespace);
    const tcp = vs?.resource.spec.tcp?.find((r) => !r.match || r.match.length === 0 || r.match.some((m) => m.port === undefined || m.port === p.port));
    if (vs && tcp?.route && tcp.route.length > 0) {
      const ns = vs.resource.meta.namespace;
      const dests = tcp.route.map((d) => {
        const host = resolveHost(d.destination.host, ns);
        return { name: outboundClusterName(d.destination.port?.number ?? p.port, d.destination.subset ?? '', host), weight: d.weight ?? 100 };
      });
      return dests.length === 1 ? dests[0].name : dests.filter((d) => d.weight > 0);
    }
    return outboundClusterName(p.port, '', s.hostname);
  }

  private listener(name: string, address: string, port: number, bind: boolean, direction: 'INBOUND' | 'OUTBOUND'): DecodedMessage {
    const l: DecodedMessage = { name, address: socketAddress(address, port), traffic_direction: direction };
    if (!bind) l.bind_to_port = false;
    return l;
  }

  private virtualOutbound(): DecodedMessage {
    return {
      name: 'virtualOutbound',
      address: socketAddress('0.0.0.0', VIRTUAL_OUTBOUND_PORT),
      use_original_dst: true,
      traffic_direction: 'OUTBOUND',
      filter_chains: [{ name: 'virtualOutbound-catchall-tcp', filters: [tcpProxyFilter(this.allowAny ? PASSTHROUGH_CLUSTER : BLACKHOLE_CLUSTER, this.allowAny ? PASSTHROUGH_CLUSTER : BLACKHOLE_CLUSTER)] }],
    };
  }

  // ---- inbound

  inboundClusters(): DecodedMessage[] {
    const out = this.inbound.map((i) => buildStaticCluster(inboundClusterName(i.port), i.endpoint.address, i.endpoint.port));
    if (this.inboundCapture) {
      out.push({ name: INBOUND_PASSTHROUGH_CLUSTER, type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', connect_timeout: DEFAULT_CONNECT_TIMEOUT_MS });
    }
    return out;
  }

  private inboundFilters(i: InboundPort): DecodedMessage[] {
    const cluster = inboundClusterName(i.port);
    if (!isHttp(i.protocol)) return [tcpProxyFilter(cluster, cluster)];
    const rc: DecodedMessage = {
      name: cluster,
      validate_clusters: false,
      virtual_hosts: [{ name: `inbound|http|${i.port}`, domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster, timeout: 0 } }] }],
    };
    return [httpConnectionManager({ statPrefix: cluster, routeConfig: rc, fault: false, cors: false })];
  }

  private inboundListeners(): DecodedMessage[] {
    const out: DecodedMessage[] = [];
    const captured: InboundPort[] = [];
    for (const i of this.inbound) {
      if (i.capture) {
        captured.push(i);
        continue;
      }
      const l = this.listener(`${i.bind}_${i.port}`, i.bind, i.port, true, 'INBOUND');
      l.filter_chains = [{ filters: this.inboundFilters(i) }];
      out.push(l);
    }
    if (this.inboundCapture) {
      const chains: DecodedMessage[] = captured.map((i) => ({
        name: inboundClusterName(i.port),
        filter_chain_match: { destination_port: i.port },
        filters: this.inboundFilters(i),
      }));
      chains.push({ name: 'virtualInbound-catchall-tcp', filters: [tcpProxyFilter(INBOUND_PASSTHROUGH_CLUSTER, INBOUND_PASSTHROUGH_CLUSTER)] });
      out.push({
        name: 'virtualInbound',
        address: socketAddress('0.0.0.0', VIRTUAL_INBOUND_PORT),
        traffic_direction: 'INBOUND',
        listener_filters: [{ name: FILTER_NAMES.originalDst, typed_config: { '@type': TYPES.originalDst } }],
        filter_chains: chains,
      });
    }
    return out;
  }

  /** What depends only on the proxy's namespace, labels (sourceLabels), interception and Sidecar: shared by its workloads. */
  buildOutbound(): SidecarResources {
    const outbound = this.outbound();
    return { clusters: this.outboundClusters(), endpoints: this.outboundEndpoints(), listeners: outbound.listeners, routes: outbound.routes };
  }

  /** What depends on the workload itself. */
  buildInbound(): SidecarResources {
    return { clusters: this.inboundClusters(), endpoints: [], listeners: this.inboundListeners(), routes: [] };
  }
}

/** Istio names an outbound route configuration by its port; a second listener on the same port (another bind) gets `bind:port`. */
function routeNameFor(port: number, bind: string, taken: ReadonlySet<string>): string {
  return taken.has(String(port)) ? `${bind}:${port}` : String(port);
}

function portProtocol(p: SidecarPort): Protocol {
  if (p.protocol) return parseProtocol(p.protocol);
  return p.name ? parseProtocol(p.name.split('-')[0]) : 'TCP';
}

/** An egress port's protocol when the Sidecar does not say: HTTP when every service on it speaks HTTP. */
function inferProtocol(services: readonly Service[], port: number): Protocol {
  const protocols = services.map((s) => s.ports.find((p) => p.port === port)?.protocol ?? 'TCP');
  return protocols.length > 0 && protocols.every(isHttp) ? 'HTTP' : 'TCP';
}

/** Sidecar ingress defaultEndpoint: "IP:port" ("0.0.0.0:port" meaning the workload's IP); unset: the workload's IP. */
export function parseDefaultEndpoint(v: string | undefined, workloadIp: string, defaultPort: number): { address: string; port: number } {
  if (v === undefined) return { address: workloadIp, port: defaultPort };
  const colon = v.lastIndexOf(':');
  const host = v.slice(0, colon).replace(/^\[|\]$/g, '');
  const port = Number(v.slice(colon + 1));
  return { address: host === '0.0.0.0' ? workloadIp : host, port };
}
