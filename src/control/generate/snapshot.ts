/**
 * A MeshSnapshot: the mesh model at one version, generating each proxy's resources on demand and
 * memoising them by scope so that proxies sharing a scope share the very same resource objects.
 */
import type { MeshSnapshot, ProxyNode, XdsResource } from '../contracts';
import { TYPE_URL } from '../contracts';
import type { DecodedMessage } from '../../xds/decoded';
import type { MeshModel } from '../model/mesh';
import { parseProxy, ProxyIdError, type ProxyInfo } from '../model/proxy';
import { buildGateway } from './gateway';
import { buildProxyless } from './proxyless';
import { SidecarScope } from './sidecar';

interface ResourceSet {
  readonly clusters: readonly XdsResource[];
  readonly endpoints: readonly XdsResource[];
  readonly listeners: readonly XdsResource[];
  readonly routes: readonly XdsResource[];
}

const EMPTY: readonly XdsResource[] = Object.freeze([]);
/** Bounds the memo: scopes beyond this are generated but not kept (a snapshot lives until the next change). */
const MAX_SCOPES = 10_000;

function named(list: readonly DecodedMessage[], key: 'name' | 'cluster_name'): XdsResource[] {
  return list.map((resource) => ({ name: String(resource[key]), resource }));
}

function toSet(r: { clusters: DecodedMessage[]; endpoints: DecodedMessage[]; listeners: DecodedMessage[]; routes: DecodedMessage[] }): ResourceSet {
  return { clusters: named(r.clusters, 'name'), endpoints: named(r.endpoints, 'cluster_name'), listeners: named(r.listeners, 'name'), routes: named(r.routes, 'name') };
}

function labelsKey(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(',');
}

export class Snapshot implements MeshSnapshot {
  private readonly parts = new Map<string, ResourceSet>();
  private readonly combined = new Map<string, ResourceSet>();
  private readonly proxies = new WeakMap<ProxyNode, ProxyInfo>();

  constructor(readonly version: string, readonly model: MeshModel) {}

  /** Parses a node; throws ProxyIdError when its id is not Istio's form. */
  proxyInfo(node: ProxyNode): ProxyInfo {
    let p = this.proxies.get(node);
    if (!p) {
      p = parseProxy(node, this.model.registry);
      this.proxies.set(node, p);
    }
    return p;
  }

  generate(node: ProxyNode, typeUrl: string): readonly XdsResource[] {
    let proxy: ProxyInfo;
    try {
      proxy = this.proxyInfo(node);
    } catch (e) {
      if (e instanceof ProxyIdError) return EMPTY;
      throw e;
    }
    const set = this.resourcesFor(proxy);
    switch (typeUrl) {
      case TYPE_URL.cluster: return set.clusters;
      case TYPE_URL.endpoint: return set.endpoints;
      case TYPE_URL.listener: return set.listeners;
      case TYPE_URL.route: return set.routes;
      default: return EMPTY;
    }
  }

  private memo(key: string, build: () => ResourceSet): ResourceSet {
    let set = this.parts.get(key);
    if (!set) {
      set = build();
      if (this.parts.size < MAX_SCOPES) this.parts.set(key, set);
    }
    return set;
  }

  /** Every resource for a proxy, memoised by scope. */
  resourcesFor(proxy: ProxyInfo): ResourceSet {
    const model = this.model;
    if (proxy.kind === 'router') {
      return this.memo(`router|${proxy.namespace}|${labelsKey(proxy.labels)}`, () => toSet(buildGateway(model, proxy)));
    }
    const sidecar = model.sidecarFor(proxy);
    const sidecarKey = sidecar ? `${sidecar.meta.namespace}/${sidecar.meta.name}` : '-';
    if (proxy.kind === 'proxyless') {
      const labels = model.usesSourceLabels ? labelsKey(proxy.labels) : '';
      return this.memo(`proxyless|${proxy.namespace}|${sidecarKey}|${labels}`, () => toSet(buildProxyless(model, proxy)));
    }
    const outboundKey = `sidecar-out|${proxy.namespace}|${sidecarKey}|${proxy.interceptionMode}|${model.usesSourceLabels ? labelsKey(proxy.labels) : ''}`;
    const w = proxy.workload;
    const inboundKey = `sidecar-in|${sidecarKey}|${proxy.interceptionMode}|${w ? `${w.kind}/${w.namespace}/${w.name}/${w.address}` : proxy.ips.join(',')}`;
    const fullKey = `${outboundKey}#${inboundKey}`;
    const cached = this.combined.get(fullKey);
    if (cached) return cached;
    let scope: SidecarScope | undefined;
    const getScope = (): SidecarScope => (scope ??= new SidecarScope(model, proxy, sidecar));
    const out = this.memo(outboundKey, () => toSet(getScope().buildOutbound()));
    const inb = this.memo(inboundKey, () => toSet(getScope().buildInbound()));
    const set: ResourceSet = {
      clusters: [...out.clusters, ...inb.clusters],
      endpoints: out.endpoints,
      listeners: [...out.listeners, ...inb.listeners],
      routes: out.routes,
    };
    if (this.combined.size < MAX_SCOPES) this.combined.set(fullKey, set);
    return set;
  }
}
