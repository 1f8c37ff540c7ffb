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

export interface BootstrapParts {
  node: NodeIdentity;
  admin: AdminSettings | undefined;
  listeners: unknown[];
  clusters: unknown[];
}

const SUPPORTED = ['node', 'static_resources', 'admin'];

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

  const sr = readObject(b, 'static_resources', '', issues) ?? {};
  rejectUnsupported(sr, 'static_resources', ['listeners', 'clusters'], issues);

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
  const names = new Set<string>();
  listeners.forEach((l, i) => {
    if (!isObject(l) || typeof l.name !== 'string') return;
    if (names.has(l.name)) issues.push({ path: `static_resources.listeners[${i}].name`, message: `duplicate listener name ${l.name}` });
    names.add(l.name);
  });
  return { node, admin, listeners, clusters };
}
