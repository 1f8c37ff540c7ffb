/**
 * The benchmark's mesh, as `weft control --config-dir` reads it: per service a Kubernetes Service,
 * its Endpoints (two pod IPs) and a VirtualService splitting traffic between it and its neighbour.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

function serviceYaml(i: number): string {
  const name = `svc-${i}`;
  const ip = (k: number): string => `10.${100 + ((i >> 16) & 127)}.${(i >> 8) & 255}.${(i & 255)}`.replace(/\.(\d+)$/, (_m, last: string) => `.${(Number(last) + k) & 255}`);
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: default
spec:
  selector:
    app: ${name}
  ports:
  - name: http
    port: 9080
    targetPort: 9080
---
apiVersion: v1
kind: Endpoints
metadata:
  name: ${name}
  namespace: default
subsets:
- addresses:
  - ip: ${ip(0)}
  - ip: ${ip(1)}
  ports:
  - name: http
    port: 9080
`;
}

export function virtualServiceYaml(i: number, services: number, weight: number): string {
  const name = `svc-${i}`;
  const other = `svc-${(i + 1) % services}`;
  return `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ${name}
  namespace: default
spec:
  hosts:
  - ${name}.default.svc.cluster.local
  http:
  - route:
    - destination:
        host: ${name}.default.svc.cluster.local
        port:
          number: 9080
      weight: ${weight}
    - destination:
        host: ${other}.default.svc.cluster.local
        port:
          number: 9080
      weight: ${100 - weight}
`;
}

export function virtualServiceFile(dir: string, i: number): string {
  return join(dir, `vs-${i}.yaml`);
}

/** Writes `services` services into `dir` (one file for the registry, one per VirtualService). */
export function writeMeshConfig(dir: string, services: number): void {
  const registry: string[] = [];
  for (let i = 0; i < services; i++) {
    registry.push(serviceYaml(i));
    writeFileSync(virtualServiceFile(dir, i), virtualServiceYaml(i, services, 90));
  }
  writeFileSync(join(dir, 'registry.yaml'), registry.join('---\n'));
}
