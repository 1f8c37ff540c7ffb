/**
 * What the control plane knows of a connected proxy: its kind, namespace, labels, addresses and
 * workload, from Istio's node id (`sidecar~IP~pod.namespace~namespace.svc.cluster.local`) and
 * node metadata (NAMESPACE, LABELS, INSTANCE_IPS, INTERCEPTION_MODE, WORKLOAD_NAME, GENERATOR).
 */
import type { ProxyNode } from '../contracts';
import type { ServiceRegistry } from '../registry/registry';
import type { Labels, Workload } from '../registry/types';

export type ProxyKind = 'sidecar' | 'router' | 'proxyless';
export type InterceptionMode = 'REDIRECT' | 'TPROXY' | 'NONE';

export interface ProxyInfo {
  readonly id: string;
  readonly kind: ProxyKind;
  readonly namespace: string;
  readonly podName: string;
  readonly ips: readonly string[];
  readonly labels: Labels;
  readonly interceptionMode: InterceptionMode;
  readonly workload: Workload | undefined;
}

export class ProxyIdError extends Error {}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function labelsOf(v: unknown): Labels | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

/** Istio's proxyless gRPC bootstrap sets GENERATOR=grpc; gRPC libraries name themselves grpc-<lang>. */
export function isProxyless(node: ProxyNode): boolean {
  return node.metadata['GENERATOR'] === 'grpc' || node.id.startsWith('proxyless~') || node.userAgent.startsWith('grpc-');
}

/** Parses a node; throws ProxyIdError with an actionable message when the id is not Istio's form. */
export function parseProxy(node: ProxyNode, registry: ServiceRegistry): ProxyInfo {
  const parts = node.id.split('~');
  if (parts.length !== 4) {
    throw new ProxyIdError(`node id "${node.id}" is not in Istio's form <type>~<ip>~<pod>.<namespace>~<namespace>.svc.cluster.local`);
  }
  const [type, ip, podDotNs, domain] = parts;
  let kind: ProxyKind;
  if (isProxyless(node)) kind = 'proxyless';
  else if (type === 'sidecar') kind = 'sidecar';
  else if (type === 'router') kind = 'router';
  else throw new ProxyIdError(`node id "${node.id}": unknown proxy type "${type}" (expected sidecar or router)`);
  const md = node.metadata;
  const dot = podDotNs.indexOf('.');
  const podName = dot > 0 ? podDotNs.slice(0, dot) : podDotNs;
  const namespace = str(md['NAMESPACE']) ?? (dot > 0 ? podDotNs.slice(dot + 1) : domain.split('.')[0]) ?? 'default';
  const instanceIps = str(md['INSTANCE_IPS'])?.split(',').map((s) => s.trim()).filter((s) => s !== '') ?? [];
  const ips = instanceIps.length > 0 ? instanceIps : ip ? [ip] : [];
  const workloadName = str(md['WORKLOAD_NAME']);
  let workload = registry.workloadByName(namespace, podName);
  if (!workload) for (const a of ips) if ((workload = registry.workloadByIp(a))) break;
  if (!workload && workloadName) workload = registry.workloadByName(namespace, workloadName);
  const labels = labelsOf(md['LABELS']) ?? workload?.labels ?? {};
  const mode = str(md['INTERCEPTION_MODE']);
  const interceptionMode: InterceptionMode = mode === 'NONE' || mode === 'TPROXY' ? mode : 'REDIRECT';
  return { id: node.id, kind, namespace, podName, ips: ips.length > 0 ? ips : workload ? [workload.address] : [], labels, interceptionMode, workload };
}
