/**
 * Kubernetes registry kinds (Service, Endpoints, EndpointSlice, Pod): only the fields Weft reads are
 * checked; the rest of these objects (containers, status details, …) is not mesh configuration and
 * is left alone.
 */
import { arr, bool, isRecord, obj, portNumber, Schema, str, stringMap, strings } from './schema';

const open = { open: true };
const targetRef = obj({ kind: str, name: str, namespace: str }, open);

export const serviceSchema: Schema = obj({
  spec: obj({
    clusterIP: str,
    clusterIPs: strings,
    type: str,
    selector: stringMap,
    ports: arr(obj({
      name: str,
      port: portNumber,
      protocol: { t: 'string', enum: ['TCP', 'UDP', 'SCTP'] },
      appProtocol: str,
      targetPort: { t: 'intOrString' },
      nodePort: portNumber,
    }, { required: ['port'] })),
  }, open),
}, { ...open, required: ['spec'], check: (v, path, issues) => {
  const spec = v.spec;
  if (!isRecord(spec)) return;
  const names = new Set<string>();
  const ports = Array.isArray(spec.ports) ? spec.ports : [];
  ports.forEach((p, i) => {
    if (!isRecord(p)) return;
    const name = typeof p.name === 'string' ? p.name : '';
    if (ports.length > 1 && name === '') issues.push({ path: `${path}.spec.ports[${i}].name`, message: 'a Service with more than one port must name each port' });
    if (name !== '' && names.has(name)) issues.push({ path: `${path}.spec.ports[${i}].name`, message: `duplicate port name "${name}"` });
    names.add(name);
  });
} });

const endpointAddress = obj({ ip: str, hostname: str, nodeName: str, targetRef }, { ...open, required: ['ip'] });
export const endpointsSchema: Schema = obj({
  subsets: arr(obj({
    addresses: arr(endpointAddress),
    notReadyAddresses: arr(endpointAddress),
    ports: arr(obj({ name: str, port: portNumber, protocol: str, appProtocol: str }, { required: ['port'] })),
  })),
}, open);

export const endpointSliceSchema: Schema = obj({
  addressType: { t: 'string', enum: ['IPv4', 'IPv6', 'FQDN'] },
  endpoints: arr(obj({
    addresses: arr(str, { minItems: 1 }),
    conditions: obj({ ready: bool, serving: bool, terminating: bool }),
    targetRef,
    zone: str,
    nodeName: str,
    hostname: str,
  }, { ...open, required: ['addresses'] })),
  ports: arr(obj({ name: str, port: portNumber, protocol: str, appProtocol: str })),
}, { ...open, required: ['addressType'] });

export const podSchema: Schema = obj({
  spec: obj({
    nodeName: str,
    containers: arr(obj({ name: str, ports: arr(obj({ name: str, containerPort: portNumber, protocol: str }, { ...open, required: ['containerPort'] })) }, open)),
  }, open),
  status: obj({
    podIP: str,
    phase: str,
    conditions: arr(obj({ type: str, status: str }, open)),
  }, open),
}, open);
