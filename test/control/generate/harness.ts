import * as path from 'node:path';
import type { ConfigProblem, ProxyNode, XdsResource } from '../../../src/control/contracts';
import { TYPE_URL } from '../../../src/control/contracts';
import { loadConfigDir } from '../../../src/control/config/loader';
import { buildSnapshot } from '../../../src/control/mesh-source';
import type { Snapshot } from '../../../src/control/generate/snapshot';
import type { DecodedMessage } from '../../../src/xds/decoded';

/** test/control/fixtures/<name> in the source tree (tests run from dist/test/...). */
export function fixtureDir(name: string): string {
  return path.resolve(__dirname, '../../../../test/control/fixtures', name);
}

export async function loadSnapshot(dir: string): Promise<{ snapshot: Snapshot; problems: ConfigProblem[] }> {
  const loaded = await loadConfigDir(dir);
  const problems = [...loaded.problems];
  return { snapshot: buildSnapshot(loaded, problems), problems };
}

export function sidecarNode(ip: string, pod: string, metadata: DecodedMessage = {}, ns = 'default'): ProxyNode {
  return {
    id: `sidecar~${ip}~${pod}.${ns}~${ns}.svc.cluster.local`,
    cluster: pod.split('-')[0],
    metadata: { NAMESPACE: ns, INSTANCE_IPS: ip, ...metadata },
    userAgent: 'envoy',
  };
}

export function routerNode(labels: Record<string, string>): ProxyNode {
  return { id: 'router~127.0.9.1~ingress-1.default~default.svc.cluster.local', cluster: 'ingress', metadata: { NAMESPACE: 'default', LABELS: labels }, userAgent: 'envoy' };
}

export function proxylessNode(): ProxyNode {
  return {
    id: 'sidecar~127.0.5.1~grpc-client.default~default.svc.cluster.local',
    cluster: 'grpc-client',
    metadata: { NAMESPACE: 'default', GENERATOR: 'grpc' },
    userAgent: 'grpc-node-js',
  };
}

export interface Generated {
  readonly clusters: Map<string, DecodedMessage>;
  readonly endpoints: Map<string, DecodedMessage>;
  readonly listeners: Map<string, DecodedMessage>;
  readonly routes: Map<string, DecodedMessage>;
}

function byName(list: readonly XdsResource[]): Map<string, DecodedMessage> {
  const m = new Map<string, DecodedMessage>();
  for (const r of list) {
    if (m.has(r.name)) throw new Error(`duplicate resource name ${r.name}`);
    m.set(r.name, r.resource);
  }
  return m;
}

export function generateAll(snapshot: Snapshot, node: ProxyNode): Generated {
  return {
    clusters: byName(snapshot.generate(node, TYPE_URL.cluster)),
    endpoints: byName(snapshot.generate(node, TYPE_URL.endpoint)),
    listeners: byName(snapshot.generate(node, TYPE_URL.listener)),
    routes: byName(snapshot.generate(node, TYPE_URL.route)),
  };
}

/** Reads a nested field: get(obj, 'a', 0, 'b'). */
export function get(v: unknown, ...keys: (string | number)[]): unknown {
  let cur = v;
  for (const k of keys) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  return cur;
}

/**
 * What a proxy's xDS client does with RDS and EDS, done by hand: route configurations inlined into
 * their HCMs, EDS clusters made STATIC with their ClusterLoadAssignment. With `ephemeralPorts`,
 * listeners bind port 0 (their generated port is kept in the listener name).
 */
export function asStaticBootstrap(g: Generated, opts: { ephemeralPorts?: boolean } = {}): DecodedMessage {
  const inline = (filters: DecodedMessage[]): DecodedMessage[] =>
    filters.map((f) => {
      const tc = f.typed_config as DecodedMessage;
      if (!tc.rds) return f;
      const { rds, ...rest } = tc;
      const name = String((rds as DecodedMessage).route_config_name);
      const rc = g.routes.get(name);
      if (!rc) throw new Error(`route ${name} is not generated`);
      return { ...f, typed_config: { ...rest, route_config: rc } };
    });
  const listeners = [...g.listeners.values()].map((l) => {
    const out: DecodedMessage = {
      ...l,
      filter_chains: (l.filter_chains as DecodedMessage[]).map((c) => ({ ...c, filters: inline(c.filters as DecodedMessage[]) })),
    };
    if (opts.ephemeralPorts) {
      const sa = get(l, 'address', 'socket_address') as DecodedMessage;
      out.address = { socket_address: { ...sa, port_value: 0 } };
    }
    return out;
  });
  const clusters = [...g.clusters.values()].map((c) => {
    if (c.type !== 'EDS') return c;
    const { eds_cluster_config, type, ...rest } = c;
    void eds_cluster_config;
    void type;
    const cla = g.endpoints.get(String(c.name));
    if (!cla) throw new Error(`endpoints for ${String(c.name)} are not generated`);
    return { ...rest, load_assignment: cla };
  });
  const bootstrap: DecodedMessage = { static_resources: { listeners, clusters } };
  if (opts.ephemeralPorts) bootstrap.admin = { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } };
  return bootstrap;
}
