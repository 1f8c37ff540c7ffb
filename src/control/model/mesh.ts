/**
 * The mesh model: loaded config joined with the registry and indexed for translation
 * (which VirtualService and DestinationRule apply to a host, which Sidecar to a proxy, which
 * services a proxy sees).
 */
import type { MeshConfig } from '../config/loader';
import type { DestinationRuleSpec, GatewaySpec, Resource, SidecarEgress, SidecarSpec, VirtualServiceSpec } from '../config/types';
import { DOMAIN_SUFFIX, labelsMatch, ServiceRegistry } from '../registry/registry';
import type { Service } from '../registry/types';
import type { ProxyInfo } from './proxy';

/** The namespace whose Sidecar/DestinationRule apply mesh-wide (istiod's root namespace). */
export const ROOT_NAMESPACE = 'istio-system';

export interface ScopedVirtualService {
  readonly resource: Resource<VirtualServiceSpec>;
  /** hosts resolved to FQDNs relative to the VirtualService's namespace. */
  readonly hosts: readonly string[];
  /** gateways as ns/name, or 'mesh'. */
  readonly gateways: readonly string[];
}

/** Resolves a short name ("reviews") to its FQDN in `namespace`; FQDNs and wildcards stay. */
export function resolveHost(host: string, namespace: string): string {
  if (host === '*' || host.includes('.') || host.startsWith('*')) return host;
  return `${host}.${namespace}.${DOMAIN_SUFFIX}`;
}

/** Istio host matching: exact, or a `*.suffix` / `*` wildcard pattern against a concrete host. */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*')) return host.endsWith(pattern.slice(1));
  return pattern === host;
}

function byNsName<T>(a: Resource<T>, b: Resource<T>): number {
  const ka = `${a.meta.namespace}/${a.meta.name}`;
  const kb = `${b.meta.namespace}/${b.meta.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}

export class MeshModel {
  readonly virtualServices: readonly ScopedVirtualService[];
  readonly destinationRules: readonly Resource<DestinationRuleSpec>[];
  readonly sidecars: readonly Resource<SidecarSpec>[];
  readonly gateways: readonly Resource<GatewaySpec>[];
  /** Some VirtualService matches on sourceLabels: outbound routes then depend on the proxy's labels. */
  readonly usesSourceLabels: boolean;
  private readonly vsCache = new Map<string, ScopedVirtualService | null>();
  private readonly drCache = new Map<string, Resource<DestinationRuleSpec> | null>();
  /** DestinationRules by namespace: exact hosts, then wildcards longest first. */
  private readonly drIndex = new Map<string, { exact: Map<string, Resource<DestinationRuleSpec>[]>; wildcard: { host: string; rule: Resource<DestinationRuleSpec> }[] }>();

  constructor(readonly config: MeshConfig, readonly registry: ServiceRegistry) {
    this.virtualServices = [...config.virtualServices].sort(byNsName).map((r) => ({
      resource: r,
      hosts: r.spec.hosts.map((h) => resolveHost(h, r.meta.namespace)),
      gateways: (r.spec.gateways && r.spec.gateways.length > 0 ? r.spec.gateways : ['mesh']).map((g) =>
        g === 'mesh' || g.includes('/') ? g : `${r.meta.namespace}/${g}`,
      ),
    }));
    this.destinationRules = [...config.destinationRules].sort(byNsName);
    for (const dr of this.destinationRules) {
      let index = this.drIndex.get(dr.meta.namespace);
      if (!index) {
        index = { exact: new Map(), wildcard: [] };
        this.drIndex.set(dr.meta.namespace, index);
      }
      const host = resolveHost(dr.spec.host, dr.meta.namespace);
      if (host.includes('*')) index.wildcard.push({ host, rule: dr });
      else {
        const list = index.exact.get(host);
        if (list) list.push(dr);
        else index.exact.set(host, [dr]);
      }
    }
    for (const index of this.drIndex.values()) index.wildcard.sort((a, b) => b.host.length - a.host.length);
    this.sidecars = [...config.sidecars].sort(byNsName);
    this.gateways = [...config.gateways].sort(byNsName);
    this.usesSourceLabels = config.virtualServices.some((v) => (v.spec.http ?? []).some((h) => (h.match ?? []).some((m) => m.sourceLabels !== undefined)));
  }

  /** The VirtualService for `hostname` bound to `gateway` ('mesh' for sidecars): exact host first, then the longest wildcard. */
  virtualServiceFor(hostname: string, gateway: string, proxyNamespace: string): ScopedVirtualService | undefined {
    const key = `${gateway}|${proxyNamespace}|${hostname}`;
    const cached = this.vsCache.get(key);
    if (cached !== undefined) return cached ?? undefined;
    let best: ScopedVirtualService | undefined;
    let bestLen = -1;
    for (const vs of this.virtualServices) {
      if (!vs.gateways.includes(gateway)) continue;
      if (!visibleTo(vs.resource.spec.exportTo, vs.resource.meta.namespace, proxyNamespace)) continue;
      for (const h of vs.hosts) {
        if (!hostMatches(h, hostname)) continue;
        const len = h === hostname ? Number.MAX_SAFE_INTEGER : h.length;
        if (len > bestLen) {
          best = vs;
          bestLen = len;
        }
      }
    }
    this.vsCache.set(key, best ?? null);
    return best;
  }

  /** Istio's lookup: a rule in the proxy's namespace, then the service's, then the root namespace; exact host before wildcard. */
  destinationRuleFor(proxyNamespace: string, service: Service): Resource<DestinationRuleSpec> | undefined {
    const key = `${proxyNamespace}|${service.namespace}|${service.hostname}`;
    const cached = this.drCache.get(key);
    if (cached !== undefined) return cached ?? undefined;
    let found: Resource<DestinationRuleSpec> | undefined;
    for (const ns of [proxyNamespace, service.namespace, ROOT_NAMESPACE]) {
      const index = this.drIndex.get(ns);
      if (!index) continue;
      const visible = (dr: Resource<DestinationRuleSpec>): boolean => visibleTo(dr.spec.exportTo, dr.meta.namespace, proxyNamespace);
      found = index.exact.get(service.hostname)?.find(visible) ?? index.wildcard.find((w) => hostMatches(w.host, service.hostname) && visible(w.rule))?.rule;
      if (found) break;
    }
    this.drCache.set(key, found ?? null);
    return found;
  }

  /** The Sidecar for a proxy: one selecting its labels in its namespace, else its namespace's default, else the root namespace's. */
  sidecarFor(proxy: ProxyInfo): Resource<SidecarSpec> | undefined {
    const inNs = this.sidecars.filter((s) => s.meta.namespace === proxy.namespace);
    return (
      inNs.find((s) => s.spec.workloadSelector?.labels !== undefined && labelsMatch(s.spec.workloadSelector.labels, proxy.labels)) ??
      inNs.find((s) => s.spec.workloadSelector === undefined) ??
      this.sidecars.find((s) => s.meta.namespace === ROOT_NAMESPACE && s.spec.workloadSelector === undefined)
    );
  }

  /** Services a proxy in `namespace` sees, narrowed by the egress listener's hosts when given. */
  visibleServices(namespace: string, egress: SidecarEgress | undefined, sidecarNamespace: string): Service[] {
    const out: Service[] = [];
    const byHost = new Map<string, number>();
    for (const s of this.registry.services) {
      if (!visibleTo(s.exportTo, s.namespace, namespace)) continue;
      if (egress !== undefined && !egressSelects(egress.hosts, sidecarNamespace, s)) continue;
      // One service per hostname (cluster names are per host): the proxy's own namespace wins, else the first.
      const seen = byHost.get(s.hostname);
      if (seen === undefined) {
        byHost.set(s.hostname, out.length);
        out.push(s);
      } else if (s.namespace === namespace && out[seen].namespace !== namespace) {
        out[seen] = s;
      }
    }
    return out;
  }

  gatewaysFor(proxy: ProxyInfo): Resource<GatewaySpec>[] {
    return this.gateways.filter((g) => labelsMatch(g.spec.selector, proxy.labels));
  }
}

function visibleTo(exportTo: readonly string[] | undefined, ownNamespace: string, namespace: string): boolean {
  if (!exportTo || exportTo.length === 0) return true;
  return exportTo.some((e) => e === '*' || e === namespace || (e === '.' && ownNamespace === namespace));
}

/** Sidecar egress `hosts` entries: `ns/host` where ns is a name, `*`, `.` (the Sidecar's namespace) or `~` (none). */
export function egressSelects(hosts: readonly string[], sidecarNamespace: string, s: Service): boolean {
  for (const entry of hosts) {
    const slash = entry.indexOf('/');
    const ns = slash >= 0 ? entry.slice(0, slash) : '*';
    const host = slash >= 0 ? entry.slice(slash + 1) : entry;
    if (ns === '~') continue;
    const nsOk = ns === '*' || (ns === '.' ? s.namespace === sidecarNamespace : s.namespace === ns);
    if (nsOk && hostMatches(host, s.hostname)) return true;
  }
  return false;
}
