/**
 * Reads `envoy.config.endpoint.v3.ClusterLoadAssignment` (a cluster's load_assignment, or an EDS
 * response) into endpoint specs, and turns specs into Hosts.
 */
import { isIP } from 'node:net';
import { ConfigIssue, joinPath, rejectUnsupported } from '../../lib/config-error';
import { isObject, readArray, readEnum, readNumber, readObject, readString } from '../../lib/decoded-read';
import { HealthFlag, Host, HostMetadata, Locality } from './host';

export interface EndpointSpec {
  /** IP literal or DNS name. */
  address: string;
  port: number;
  isIp: boolean;
  weight: number;
  priority: number;
  locality: Locality;
  localityWeight: number;
  metadata: HostMetadata;
  hostname: string;
  healthFlags: number;
}

export interface ParsedLoadAssignment {
  clusterName: string;
  endpoints: EndpointSpec[];
  /** policy.overprovisioning_factor, when set. */
  overprovisioningFactor: number | undefined;
}

const HEALTH_STATUS = ['UNKNOWN', 'HEALTHY', 'UNHEALTHY', 'DRAINING', 'TIMEOUT', 'DEGRADED'] as const;

export function parseLoadAssignment(cla: unknown, path: string, issues: ConfigIssue[]): ParsedLoadAssignment {
  const out: ParsedLoadAssignment = { clusterName: '', endpoints: [], overprovisioningFactor: undefined };
  if (!isObject(cla)) {
    issues.push({ path, message: 'expected a ClusterLoadAssignment' });
    return out;
  }
  rejectUnsupported(cla, path, ['cluster_name', 'endpoints', 'policy'], issues);
  out.clusterName = readString(cla, 'cluster_name', path, issues) ?? '';
  const policy = readObject(cla, 'policy', path, issues);
  if (policy) {
    const pp = joinPath(path, 'policy');
    rejectUnsupported(policy, pp, ['overprovisioning_factor'], issues);
    out.overprovisioningFactor = readNumber(policy, 'overprovisioning_factor', pp, issues, { gt: 0, integer: true });
  }
  readArray(cla, 'endpoints', path, issues).forEach((lle, i) => {
    const lp = joinPath(joinPath(path, 'endpoints'), i);
    if (!isObject(lle)) {
      issues.push({ path: lp, message: 'expected a LocalityLbEndpoints' });
      return;
    }
    rejectUnsupported(lle, lp, ['locality', 'lb_endpoints', 'load_balancing_weight', 'priority'], issues);
    const loc = readObject(lle, 'locality', lp, issues) ?? {};
    const locality: Locality = {
      region: readString(loc, 'region', joinPath(lp, 'locality'), issues) ?? '',
      zone: readString(loc, 'zone', joinPath(lp, 'locality'), issues) ?? '',
      sub_zone: readString(loc, 'sub_zone', joinPath(lp, 'locality'), issues) ?? '',
    };
    if (isObject(lle['locality'])) rejectUnsupported(loc, joinPath(lp, 'locality'), ['region', 'zone', 'sub_zone'], issues);
    const localityWeight = readNumber(lle, 'load_balancing_weight', lp, issues, { min: 1, integer: true }) ?? 0;
    const priority = readNumber(lle, 'priority', lp, issues, { min: 0, max: 128, integer: true }) ?? 0;
    readArray(lle, 'lb_endpoints', lp, issues).forEach((lbe, j) => {
      const ep = joinPath(joinPath(lp, 'lb_endpoints'), j);
      const spec = parseLbEndpoint(lbe, ep, issues, locality, localityWeight, priority);
      if (spec) out.endpoints.push(spec);
    });
  });
  return out;
}

function parseLbEndpoint(
  lbe: unknown,
  p: string,
  issues: ConfigIssue[],
  locality: Locality,
  localityWeight: number,
  priority: number,
): EndpointSpec | undefined {
  if (!isObject(lbe)) {
    issues.push({ path: p, message: 'expected an LbEndpoint' });
    return undefined;
  }
  rejectUnsupported(lbe, p, ['endpoint', 'health_status', 'metadata', 'load_balancing_weight'], issues);
  const weight = readNumber(lbe, 'load_balancing_weight', p, issues, { min: 1, integer: true }) ?? 1;
  const status = readEnum(lbe, 'health_status', p, issues, HEALTH_STATUS) ?? 'UNKNOWN';
  let healthFlags = 0;
  if (status === 'UNHEALTHY' || status === 'DRAINING' || status === 'TIMEOUT') healthFlags = HealthFlag.FAILED_EDS_HEALTH;
  else if (status === 'DEGRADED') healthFlags = HealthFlag.DEGRADED_EDS_HEALTH;
  const metadata = readObject(lbe, 'metadata', p, issues) ?? {};
  const endpoint = readObject(lbe, 'endpoint', p, issues);
  if (!endpoint) {
    issues.push({ path: joinPath(p, 'endpoint'), message: 'endpoint is required' });
    return undefined;
  }
  const epp = joinPath(p, 'endpoint');
  rejectUnsupported(endpoint, epp, ['address', 'hostname'], issues);
  const hostname = readString(endpoint, 'hostname', epp, issues) ?? '';
  const addr = parseSocketAddress(endpoint['address'], joinPath(epp, 'address'), issues);
  if (!addr) return undefined;
  return { ...addr, weight, priority, locality, localityWeight, metadata, hostname, healthFlags };
}

/** Reads an `envoy.config.core.v3.Address` holding a TCP socket_address. */
export function parseSocketAddress(
  a: unknown,
  p: string,
  issues: ConfigIssue[],
): { address: string; port: number; isIp: boolean } | undefined {
  if (!isObject(a)) {
    issues.push({ path: p, message: 'address is required' });
    return undefined;
  }
  rejectUnsupported(a, p, ['socket_address'], issues);
  const sa = readObject(a, 'socket_address', p, issues);
  if (!sa) {
    if (Object.keys(a).length === 0) issues.push({ path: p, message: 'address is required' });
    return undefined;
  }
  const sp = joinPath(p, 'socket_address');
  rejectUnsupported(sa, sp, ['address', 'port_value', 'protocol', 'ipv4_compat'], issues);
  if (sa['protocol'] !== undefined && sa['protocol'] !== 'TCP') {
    issues.push({ path: joinPath(sp, 'protocol'), message: `${String(sa['protocol'])} upstreams are not implemented by Weft` });
  }
  const address = readString(sa, 'address', sp, issues);
  if (!address) {
    issues.push({ path: joinPath(sp, 'address'), message: 'address is required' });
    return undefined;
  }
  const port = readNumber(sa, 'port_value', sp, issues, { min: 0, max: 65535, integer: true });
  if (port === undefined) {
    if (sa['port_value'] === undefined) issues.push({ path: joinPath(sp, 'port_value'), message: 'port_value is required' });
    return undefined;
  }
  return { address, port, isIp: isIP(address) !== 0 };
}

export function hostFromSpec(s: EndpointSpec, address = s.address, hostname = s.hostname): Host {
  return new Host({
    address,
    port: s.port,
    weight: s.weight,
    priority: s.priority,
    locality: s.locality,
    localityWeight: s.localityWeight,
    metadata: s.metadata,
    hostname,
    healthFlags: s.healthFlags,
  });
}
