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

/**
 * A namespace-wide Sidecar importing `imports` services (svc-0 first, the one the benchmark edits):
 * each proxy then gets only the clusters, endpoints and routes of the services it calls.
 */
export function sidecarYaml(imports: number): string {
  const hosts: string[] = [];
  for (let i = 0; i < imports; i++) hosts.push(`    - ./svc-${i}.default.svc.cluster.local`);
  return `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata:
  name: default
  namespace: default
spec:
  egress:
  - hosts:
${hosts.join('\n')}
`;
}

/**
 * Writes `services` services into `dir` (one file for the registry, one per VirtualService) and,
 * with `sidecarImports`, a Sidecar scoping every proxy to that many services.
 */
export function writeMeshConfig(dir: string, services: number, sidecarImports?: number): void {
  if (sidecarImports !== undefined) writeFileSync(join(dir, 'sidecar.yaml'), sidecarYaml(Math.min(sidecarImports, services)));
  const registry: string[] = [];
  for (let i = 0; i < services; i++) {
    registry.push(serviceYaml(i));
    writeFileSync(virtualServiceFile(dir, i), virtualServiceYaml(i, services, 90));
  }
  writeFileSync(join(dir, 'registry.yaml'), registry.join('---\n'));
}
