import * as net from 'node:net';
import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { isObject, readArray, readObject, readNumber, readString, type Decoded } from '../../lib/decoded-read';

/**
 * The parts of an Envoy v3 Bootstrap that the server itself reads (node, admin, static resources).
 * Listeners and clusters are compiled by their own layers; this only splits the bootstrap up.
 */

export interface NodeIdentity {
  id: string;
  cluster: string;
  metadata: Decoded;
  locality: { region: string; zone: string; sub_zone: string };
}

export interface AdminSettings {
  address: string;
  port: number;
  accessLog: unknown[];
}

/** Bootstrap.cluster_manager: only local_cluster_name is implemented. */
export interface ClusterManagerSettings {
  /** The cluster holding this proxy's own service (zone-aware routing reads its localities). */
  localClusterName: string | undefined;
}

export interface BootstrapParts {
  node: NodeIdentity;
  clusterManager: ClusterManagerSettings;
  admin: AdminSettings | undefined;
  listeners: unknown[];
  clusters: unknown[];
  /** dynamic_resources, decoded; parsed by proxy/dynamic/config-source.ts. */
  dynamicResources: Decoded | undefined;
  /** static_resources.secrets (Secret messages), compiled into the secret store. */
  secrets: unknown[];
}

const SUPPORTED = ['node', 'static_resources', 'admin', 'cluster_manager', 'dynamic_resources'];

export function splitBootstrap(b: Decoded, issues: ConfigIssue[]): BootstrapParts {
  rejectUnsupported(b, '', SUPPORTED, issues);
  const nodeMsg = readObject(b, 'node', '', issues) ?? {};
  rejectUnsupported(nodeMsg, 'node', ['id', 'cluster', 'metadata', 'locality', 'user_agent_name', 'user_agent_version'], issues);
  const loc = readObject(nodeMsg, 'locality', 'node', issues) ?? {};
  const node: NodeIdentity = {
    id: readString(nodeMsg, 'id', 'node', issues) ?? '',
    cluster: readString(nodeMsg, 'cluster', 'node', issues) ?? '',
    metadata: readObject(nodeMsg, 'metadata', 'node', issues) ?? {},
    locality: {
      region: typeof loc.region === 'string' ? loc.region : '',
      zone: typeof loc.zone === 'string' ? loc.zone : '',
      sub_zone: typeof loc.sub_zone === 'string' ? loc.sub_zone : '',
    },
  };

  const cmMsg = readObject(b, 'cluster_manager', '', issues) ?? {};
  // outlier_detection (event log), upstream_bind_config, load_stats_config and
  // enable_deferred_cluster_creation are not implemented: named by path.
  rejectUnsupported(cmMsg, 'cluster_manager', ['local_cluster_name'], issues);
  const clusterManager: ClusterManagerSettings = {
    localClusterName: readString(cmMsg, 'local_cluster_name', 'cluster_manager', issues) || undefined,
  };

  const sr = readObject(b, 'static_resources', '', issues) ?? {};
  rejectUnsupported(sr, 'static_resources', ['listeners', 'clusters', 'secrets'], issues);

  let admin: AdminSettings | undefined;
  const a = readObject(b, 'admin', '', issues);
  if (a !== undefined) {
    rejectUnsupported(a, 'admin', ['address', 'access_log'], issues);
    const addr = readObject(a, 'address', 'admin', issues);
    const sa = addr === undefined ? undefined : readObject(addr, 'socket_address', 'admin.address', issues);
    const sp = 'admin.address.socket_address';
    if (sa === undefined) issues.push({ path: 'admin.address', message: 'admin.address.socket_address is required' });
    else {
      rejectUnsupported(sa, sp, ['address', 'port_value', 'protocol'], issues);
      const address = readString(sa, 'address', sp, issues) ?? '';
      if (net.isIP(address) === 0) issues.push({ path: joinPath(sp, 'address'), message: `not an IP address: ${JSON.stringify(address)}` });
      admin = {
        address,
        port: readNumber(sa, 'port_value', sp, issues, { min: 0, max: 65535, integer: true }) ?? 0,
        accessLog: readArray(a, 'access_log', 'admin', issues),
      };
    }
  }
  const listeners = readArray(sr, 'listeners', 'static_resources', issues);
  const clusters = readArray(sr, 'clusters', 'static_resources', issues);
  const secrets = readArray(sr, 'secrets', 'static_resources', issues);
  const names = new Set<string>();
  listeners.forEach((l, i) => {
    if (!isObject(l) || typeof l.name !== 'string') return;
    if (names.has(l.name)) issues.push({ path: `static_resources.listeners[${i}].name`, message: `duplicate listener name ${l.name}` });
    names.add(l.name);
  });
  const dynamicResources = readObject(b, 'dynamic_resources', '', issues);
  return { node, clusterManager, admin, listeners, clusters, dynamicResources, secrets };
}
