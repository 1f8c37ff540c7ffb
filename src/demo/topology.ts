import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { SERVICE_KINDS, type ServiceKind } from './services/index';

/**
 * What `weft demo` needs to know about the mesh, read from the same YAML `weft control` serves:
 * each Pod (its app/version labels and IP), the Sidecar that selects it (ingress bind and
 * defaultEndpoint: where the sidecar listens and where the app must listen; egress bind: where the
 * app sends its calls), and the Services the app calls. The YAML is the one source of truth: edit
 * an address there and the demo starts the app where the mesh expects it.
 */

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface DemoWorkload {
  readonly pod: string;
  readonly namespace: string;
  readonly app: ServiceKind;
  readonly version: string;
  readonly ip: string;
  /** The sidecar's ingress listener (Sidecar `ingress[0]`: bind and port). */
  readonly ingress: HostPort;
  /** Where the app listens (Sidecar `ingress[0].defaultEndpoint`). */
  readonly appListen: HostPort;
  /** The sidecar's admin address: the Pod IP, port 15000 (Envoy's admin port in Istio). */
  readonly admin: HostPort;
  /** `name=authority@egress-ip:port`, one per service the app calls (the sample service's --upstream). */
  readonly upstreams: readonly string[];
}

export interface DemoTopology {
  readonly workloads: readonly DemoWorkload[];
  /** The front workload: the demo's entry forwards to its sidecar's ingress. */
  readonly front: DemoWorkload;
}

export class TopologyError extends Error {
  constructor(
    readonly dir: string,
    readonly problems: readonly string[],
  ) {
    super(`${dir} does not describe a demo mesh weft demo can run:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

export const ADMIN_PORT = 15000;
const MAX_FILES = 500;
const MAX_FILE_BYTES = 4 << 20;
/** Which services each sample service calls. */
const CALLS: Readonly<Record<ServiceKind, readonly ServiceKind[]>> = {
  front: ['details', 'reviews'],
  details: [],
  reviews: ['ratings'],
  ratings: [],
};

type Obj = Record<string, unknown>;
interface Doc {
  readonly file: string;
  readonly body: Obj;
}

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function yamlFiles(dir: string, problems: string[]): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch (e) {
      problems.push(`cannot read directory ${d}: ${(e as Error).message}`);
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ya?ml$/.test(e.name)) {
        if (out.length >= MAX_FILES) {
          problems.push(`more than ${MAX_FILES} YAML files under ${dir}`);
          return;
        }
        out.push(p);
      }
    }
  };
  walk(dir);
  return out;
}

function readDocs(dir: string, problems: string[]): Doc[] {
  const docs: Doc[] = [];
  for (const file of yamlFiles(dir, problems)) {
    const rel = path.relative(dir, file);
    const size = fs.statSync(file).size;
    if (size > MAX_FILE_BYTES) {
      problems.push(`${rel}: ${size} bytes, more than ${MAX_FILE_BYTES}`);
      continue;
    }
    for (const doc of parseAllDocuments(fs.readFileSync(file, 'utf8'))) {
      if (doc.errors.length > 0) {
        problems.push(`${rel}: YAML syntax error: ${doc.errors[0].message.split('\n')[0]}`);
        continue;
      }
      const body: unknown = doc.toJS();
      if (isObj(body)) docs.push({ file: rel, body });
    }
  }
  return docs;
}

function parseHostPort(text: unknown): HostPort | undefined {
  const m = typeof text === 'string' ? /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(text) : null;
  if (!m || Number(m[2]) > 65535 || Number(m[2]) === 0) return undefined;
  return { host: m[1], port: Number(m[2]) };
}

const isLoopback = (ip: string): boolean => /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(ip);

function meta(doc: Doc): { name: string; namespace: string; labels: Record<string, string> } {
  const m = isObj(doc.body.metadata) ? doc.body.metadata : {};
  const labels: Record<string, string> = {};
  if (isObj(m.labels)) for (const [k, v] of Object.entries(m.labels)) if (typeof v === 'string') labels[k] = v;
  return { name: str(m.name) ?? '', namespace: str(m.namespace) ?? 'default', labels };
}

const kindOf = (doc: Doc): string => `${str(doc.body.kind) ?? ''}`;
const isIstio = (doc: Doc): boolean => (str(doc.body.apiVersion) ?? '').startsWith('networking.istio.io/');

/** The Sidecar selecting a Pod: the one whose workloadSelector labels the Pod all has. */
function sidecarFor(sidecars: Doc[], namespace: string, labels: Record<string, string>): Doc[] {
  return sidecars.filter((s) => {
    if (meta(s).namespace !== namespace) return false;
    const spec = isObj(s.body.spec) ? s.body.spec : {};
    const selector = isObj(spec.workloadSelector) && isObj(spec.workloadSelector.labels) ? spec.workloadSelector.labels : undefined;
    return selector !== undefined && Object.entries(selector).every(([k, v]) => labels[k] === v);
  });
}

interface ServicePort {
  readonly name: string;
  readonly namespace: string;
  readonly port: number;
}

function servicesOf(docs: Doc[]): Map<string, ServicePort> {
  const out = new Map<string, ServicePort>();
  for (const d of docs) {
    if (kindOf(d) !== 'Service' || str(d.body.apiVersion) !== 'v1') continue;
    const { name, namespace } = meta(d);
    const spec = isObj(d.body.spec) ? d.body.spec : {};
    const ports = Array.isArray(spec.ports) ? spec.ports.filter(isObj) : [];
    const http = ports.find((p) => /^http/.test(str(p.name) ?? '') || str(p.appProtocol) === 'http') ?? ports[0];
    if (http && typeof http.port === 'number') out.set(`${namespace}/${name}`, { name, namespace, port: http.port });
  }
  return out;
}

function workloadOf(pod: Doc, sidecars: Doc[], services: Map<string, ServicePort>, problems: string[]): DemoWorkload | undefined {
  const { name, namespace, labels } = meta(pod);
  const where = `${pod.file}: Pod/${namespace}/${name}`;
  const app = labels.app;
  if (!app || !(SERVICE_KINDS as readonly string[]).includes(app)) {
    problems.push(`${where}: metadata.labels.app is "${app ?? ''}"; the demo's sample services are ${SERVICE_KINDS.join(', ')}`);
    return undefined;
  }
  const version = labels.version ?? 'v1';
  const status = isObj(pod.body.status) ? pod.body.status : {};
  const ip = str(status.podIP);
  if (!ip || !isLoopback(ip)) {
    problems.push(`${where}: status.podIP must be an address in 127.0.0.0/8 (every demo workload runs on this machine), got "${ip ?? ''}"`);
    return undefined;
  }
  const matching = sidecarFor(sidecars, namespace, labels);
  if (matching.length !== 1) {
    problems.push(
      matching.length === 0
        ? `${where}: no Sidecar selects it (spec.workloadSelector.labels); the demo needs one with captureMode NONE ingress and egress`
        : `${where}: selected by ${matching.length} Sidecars (${matching.map((s) => meta(s).name).join(', ')}); give each workload exactly one`,
    );
    return undefined;
  }
  const sidecar = matching[0];
  const sw = `${sidecar.file}: Sidecar/${namespace}/${meta(sidecar).name}`;
  const spec = isObj(sidecar.body.spec) ? sidecar.body.spec : {};
  const ingress = Array.isArray(spec.ingress) ? spec.ingress.filter(isObj) : [];
  const egress = Array.isArray(spec.egress) ? spec.egress.filter(isObj) : [];
  const first = ingress[0];
  const ingressPort = first && isObj(first.port) && typeof first.port.number === 'number' ? first.port.number : undefined;
  if (!first || ingressPort === undefined) {
    problems.push(`${sw}: spec.ingress[0].port.number is required (the port the sidecar listens on for this workload)`);
    return undefined;
  }
  if (str(first.bind) !== ip) {
    problems.push(`${sw}: spec.ingress[0].bind is "${str(first.bind) ?? ''}"; it must be the Pod IP ${ip}, where other workloads reach it`);
    return undefined;
  }
  const appListen = parseHostPort(first.defaultEndpoint);
  if (!appListen || appListen.host !== '127.0.0.1') {
    problems.push(`${sw}: spec.ingress[0].defaultEndpoint must be 127.0.0.1:<port>, where the app listens; got "${String(first.defaultEndpoint ?? '')}"`);
    return undefined;
  }
  const upstreams: string[] = [];
  for (const callee of CALLS[app as ServiceKind]) {
    const svc = services.get(`${namespace}/${callee}`);
    if (!svc) {
      problems.push(`${where}: ${app} calls Service ${namespace}/${callee}, which is not defined (kind: Service, apiVersion: v1)`);
      continue;
    }
    const listener = egress.find((e) => isObj(e.port) && e.port.number === svc.port && str(e.bind));
    if (!listener) {
      problems.push(`${sw}: no spec.egress entry with a bind and port.number ${svc.port}, through which ${app} would call ${callee}`);
      continue;
    }
    upstreams.push(`${callee}=${callee}.${namespace}.svc.cluster.local:${svc.port}@${str(listener.bind)}:${svc.port}`);
  }
  return {
    pod: name,
    namespace,
    app: app as ServiceKind,
    version,
    ip,
    ingress: { host: ip, port: ingressPort },
    appListen,
    admin: { host: ip, port: ADMIN_PORT },
    upstreams,
  };
}

function checkDistinct(workloads: DemoWorkload[], problems: string[]): void {
  const seen = new Map<string, string>();
  const claim = (addr: HostPort, what: string): void => {
    const key = `${addr.host}:${addr.port}`;
    const before = seen.get(key);
    if (before) problems.push(`${key} is used twice: ${before} and ${what}`);
    else seen.set(key, what);
  };
  for (const w of workloads) {
    claim(w.ingress, `the ingress of ${w.pod}`);
    claim(w.appListen, `the app of ${w.pod}`);
    claim(w.admin, `the sidecar admin of ${w.pod}`);
  }
}

/** Reads the demo's topology from a config directory. Throws TopologyError listing every problem. */
export function readTopology(dir: string): DemoTopology {
  const problems: string[] = [];
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new TopologyError(dir, [`${dir} is not a directory`]);
  const docs = readDocs(dir, problems);
  const sidecars = docs.filter((d) => kindOf(d) === 'Sidecar' && isIstio(d));
  const services = servicesOf(docs);
  const workloads: DemoWorkload[] = [];
  for (const pod of docs.filter((d) => kindOf(d) === 'Pod' && str(d.body.apiVersion) === 'v1')) {
    const w = workloadOf(pod, sidecars, services, problems);
    if (w) workloads.push(w);
  }
  checkDistinct(workloads, problems);
  const fronts = workloads.filter((w) => w.app === 'front');
  if (problems.length === 0 && fronts.length !== 1) {
    problems.push(`the demo needs exactly one Pod labelled app: front (its entry point), found ${fronts.length}`);
  }
  if (problems.length > 0) throw new TopologyError(dir, problems);
  return { workloads, front: fronts[0] };
}
