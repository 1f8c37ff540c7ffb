/**
 * Reads a directory of YAML/JSON (recursively, multi-document), selects each document's parser by
 * apiVersion + kind, validates it and keeps it or reports it as a ConfigProblem and skips it.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { ConfigIssue } from '../../lib/config-error';
import type { ConfigProblem } from '../contracts';
import {
  destinationRuleSpec, gatewaySpec, rejectUnsupportedFields, serviceEntrySpec, sidecarSpec, UNSUPPORTED_FIELDS, virtualServiceSpec,
  workloadEntrySpec,
} from './istio-schema';
import { endpointSliceSchema, endpointsSchema, podSchema, serviceSchema } from './k8s-schema';
import { isRecord, obj, Schema, str, stringMap, validate } from './schema';
import type {
  DestinationRuleSpec, GatewaySpec, K8sEndpoints, K8sEndpointSlice, K8sPod, K8sServiceSpec, Resource, ResourceMeta, ServiceEntrySpec,
  SidecarSpec, VirtualServiceSpec, WorkloadEntrySpec,
} from './types';

export const LIMITS = {
  maxFileBytes: 4 * 1024 * 1024,
  maxFiles: 10_000,
  maxResources: 100_000,
  maxDepth: 16,
} as const;

export interface MeshConfig {
  readonly virtualServices: readonly Resource<VirtualServiceSpec>[];
  readonly destinationRules: readonly Resource<DestinationRuleSpec>[];
  readonly serviceEntries: readonly Resource<ServiceEntrySpec>[];
  readonly workloadEntries: readonly Resource<WorkloadEntrySpec>[];
  readonly gateways: readonly Resource<GatewaySpec>[];
  readonly sidecars: readonly Resource<SidecarSpec>[];
  readonly services: readonly Resource<K8sServiceSpec>[];
  readonly endpoints: readonly Resource<K8sEndpoints>[];
  readonly endpointSlices: readonly Resource<K8sEndpointSlice>[];
  readonly pods: readonly Resource<K8sPod>[];
}

export interface LoadResult {
  readonly config: MeshConfig;
  readonly problems: readonly ConfigProblem[];
  /** A hash of every file read (names and bytes): the same directory gives the same string. */
  readonly contentHash: string;
}

type Collection = keyof MeshConfig;

interface KindInfo {
  readonly collection: Collection;
  readonly apiVersions: readonly string[];
  /** Istio kinds validate `spec`; Kubernetes kinds validate the whole object (fields Weft reads). */
  readonly istio: boolean;
  readonly schema: Schema;
}

const ISTIO_VERSIONS = ['networking.istio.io/v1', 'networking.istio.io/v1beta1', 'networking.istio.io/v1alpha3'];

const KINDS: Readonly<Record<string, KindInfo>> = {
  VirtualService: { collection: 'virtualServices', apiVersions: ISTIO_VERSIONS, istio: true, schema: virtualServiceSpec },
  DestinationRule: { collection: 'destinationRules', apiVersions: ISTIO_VERSIONS, istio: true, schema: destinationRuleSpec },
  ServiceEntry: { collection: 'serviceEntries', apiVersions: ISTIO_VERSIONS, istio: true, schema: serviceEntrySpec },
  WorkloadEntry: { collection: 'workloadEntries', apiVersions: ISTIO_VERSIONS, istio: true, schema: workloadEntrySpec },
  Gateway: { collection: 'gateways', apiVersions: ISTIO_VERSIONS, istio: true, schema: gatewaySpec },
  Sidecar: { collection: 'sidecars', apiVersions: ISTIO_VERSIONS, istio: true, schema: sidecarSpec },
  Service: { collection: 'services', apiVersions: ['v1'], istio: false, schema: serviceSchema },
  Endpoints: { collection: 'endpoints', apiVersions: ['v1'], istio: false, schema: endpointsSchema },
  EndpointSlice: { collection: 'endpointSlices', apiVersions: ['discovery.k8s.io/v1'], istio: false, schema: endpointSliceSchema },
  Pod: { collection: 'pods', apiVersions: ['v1'], istio: false, schema: podSchema },
};

const metadataSchema = obj({ name: { t: 'string', nonEmpty: true, check: checkDnsName }, namespace: { t: 'string', check: checkDnsLabel }, labels: stringMap, annotations: stringMap, uid: str }, { open: true, required: ['name'] });

function checkDnsName(v: string): string | undefined {
  return /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(v) ? undefined : `"${v}" is not a valid name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit`;
}
function checkDnsLabel(v: string): string | undefined {
  return /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(v) ? undefined : `"${v}" is not a valid namespace: lower-case letters, digits and '-', at most 63 characters`;
}

/** Loads and validates every resource under `dir`. Never throws for bad content: problems are returned. */
export async function loadConfigDir(dir: string): Promise<LoadResult> {
  const problems: ConfigProblem[] = [];
  const hash = createHash('sha256');
  const collections: Record<Collection, Resource<unknown>[]> = {
    virtualServices: [], destinationRules: [], serviceEntries: [], workloadEntries: [], gateways: [], sidecars: [],
    services: [], endpoints: [], endpointSlices: [], pods: [],
  };
  const files = await listFiles(dir, problems);
  const seen = new Set<string>();
  let count = 0;
  for (const file of files) {
    const rel = path.relative(dir, file) || path.basename(file);
    let text: string;
    try {
      const st = await fs.stat(file);
      if (st.size > LIMITS.maxFileBytes) {
        problems.push({ file: rel, resource: '', field: '', message: `file is ${st.size} bytes, over the ${LIMITS.maxFileBytes}-byte limit; split it into smaller files` });
        continue;
      }
      text = await fs.readFile(file, 'utf8');
    } catch (e) {
      // A file removed between listing and reading is a normal race while watching.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') problems.push({ file: rel, resource: '', field: '', message: `cannot read: ${(e as Error).message}` });
      continue;
    }
    hash.update(rel).update('\0').update(text).update('\0');
    for (const doc of parseDocumentsCached(file, text, rel, problems)) {
      if (count >= LIMITS.maxResources) {
        problems.push({ file: rel, resource: '', field: '', message: `more than ${LIMITS.maxResources} resources; the rest are ignored` });
        break;
      }
      count++;
      const parsed = parseResource(doc.value, rel, doc.index, problems);
      if (!parsed) continue;
      const key = `${parsed.meta.kind}/${parsed.meta.namespace}/${parsed.meta.name}`;
      if (seen.has(key)) {
        problems.push({ file: rel, resource: key, field: 'metadata.name', message: 'defined more than once; the first definition (in file order) is used' });
        continue;
      }
      seen.add(key);
      collections[parsed.collection].push(parsed.resource);
    }
  }
  return { config: collections as unknown as MeshConfig, problems, contentHash: hash.digest('hex').slice(0, 16) };
}

async function listFiles(dir: string, problems: ConfigProblem[]): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string, depth: number): Promise<void> {
    if (depth > LIMITS.maxDepth) {
      problems.push({ file: path.relative(dir, d), resource: '', field: '', message: `directory nesting deeper than ${LIMITS.maxDepth}; not read` });
      return;
    }
    let entries;
    try {
      entries = await fs.readdir(d, { withFileTypes: true });
    } catch (e) {
      if (d === dir) throw new Error(`cannot read config directory ${dir}: ${(e as Error).message}`);
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p, depth + 1);
      else if (e.isFile() && /\.(ya?ml|json)$/.test(e.name)) {
        if (out.length >= LIMITS.maxFiles) {
          problems.push({ file: path.relative(dir, p), resource: '', field: '', message: `more than ${LIMITS.maxFiles} files; the rest are ignored` });
          return;
        }
        out.push(p);
      }
    }
  }
  await walk(dir, 0);
  return out;
}

interface Doc { readonly value: unknown; readonly index: number }

/**
 * The YAML parse of each file as last read, reused while its text is unchanged: a watched
 * directory is reloaded whole on every change (and rescan), and parsing dominates that reload at
 * a thousand files. Callers get a structured clone, so nothing downstream shares cached objects.
 */
interface ParsedFile { readonly text: string; readonly rel: string; readonly docs: readonly Doc[]; readonly problems: readonly ConfigProblem[] }
const parsedFiles = new Map<string, ParsedFile>();

function parseDocumentsCached(file: string, text: string, rel: string, problems: ConfigProblem[]): Doc[] {
  const hit = parsedFiles.get(file);
  if (hit !== undefined && hit.text === text && hit.rel === rel) {
    for (const p of hit.problems) problems.push({ ...p });
    return structuredClone(hit.docs) as Doc[];
  }
  const own: ConfigProblem[] = [];
  const docs = parseDocuments(text, rel, own);
  problems.push(...own);
  if (parsedFiles.size >= LIMITS.maxFiles) parsedFiles.clear();
  parsedFiles.set(file, { text, rel, docs: structuredClone(docs), problems: own.map((p) => ({ ...p })) });
  return docs;
}

function parseDocuments(text: string, file: string, problems: ConfigProblem[]): Doc[] {
  const docs: Doc[] = [];
  const all = parseAllDocuments(text, { uniqueKeys: true });
  const list = Array.isArray(all) ? all : [all];
  list.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      const e = doc.errors[0];
      const line = e.linePos?.[0] ? ` (line ${e.linePos[0].line}, column ${e.linePos[0].col})` : '';
      problems.push({ file, resource: `document ${index + 1}`, field: '', message: `YAML syntax error${line}: ${e.message.split('\n')[0]}` });
      return;
    }
    const value: unknown = doc.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    // kind: List (kubectl's form) carries resources in items.
    if (isRecord(value) && value.kind === 'List' && Array.isArray(value.items)) {
      for (const item of value.items) docs.push({ value: item, index });
      return;
    }
    docs.push({ value, index });
  });
  return docs;
}

function parseResource(
  v: unknown, file: string, index: number, problems: ConfigProblem[],
): { collection: Collection; resource: Resource<unknown>; meta: ResourceMeta } | undefined {
  const where = `document ${index + 1}`;
  if (!isRecord(v)) {
    problems.push({ file, resource: where, field: '', message: 'expected a Kubernetes-style object with apiVersion, kind, metadata' });
    return undefined;
  }
  const kind = typeof v.kind === 'string' ? v.kind : '';
  const apiVersion = typeof v.apiVersion === 'string' ? v.apiVersion : '';
  const md = isRecord(v.metadata) ? v.metadata : {};
  const name = typeof md.name === 'string' ? md.name : '';
  const namespace = typeof md.namespace === 'string' && md.namespace !== '' ? md.namespace : 'default';
  const label = `${kind || '?'}/${namespace}/${name || '?'}`;
  const info = KINDS[kind];
  if (info === undefined) {
    const msg = kind === '' ? 'kind is required' : `unknown kind "${kind}" (${apiVersion}); Weft reads ${Object.keys(KINDS).join(', ')}; skipped`;
    problems.push({ file, resource: label, field: 'kind', message: msg });
    return undefined;
  }
  if (!info.apiVersions.includes(apiVersion)) {
    problems.push({ file, resource: label, field: 'apiVersion', message: `apiVersion "${apiVersion}" is not one Weft reads for ${kind}; use ${info.apiVersions.join(' or ')}` });
    return undefined;
  }
  const issues: ConfigIssue[] = [];
  validate(metadataSchema, v.metadata ?? null, 'metadata', issues);
  for (const k of Object.keys(v)) {
    if (info.istio && !['apiVersion', 'kind', 'metadata', 'spec', 'status'].includes(k)) issues.push({ path: k, message: `unknown top-level field "${k}"` });
  }
  let spec: unknown;
  if (info.istio) {
    if (v.spec === undefined || v.spec === null) issues.push({ path: 'spec', message: 'spec is required' });
    else if (validate(info.schema, v.spec, 'spec', issues)) rejectUnsupportedFields(v.spec, 'spec', UNSUPPORTED_FIELDS[kind] ?? [], issues);
    if (kind === 'DestinationRule' && issues.length === 0) checkTlsModes(v.spec, issues);
    spec = v.spec;
  } else {
    validate(info.schema, v, '', issues);
    spec = kind === 'Service' ? v.spec : kind === 'Pod' ? { spec: v.spec, status: v.status } : v;
  }
  if (issues.length > 0) {
    for (const i of issues) problems.push({ file, resource: label, field: i.path, message: i.message });
    return undefined;
  }
  const meta: ResourceMeta = {
    kind,
    name,
    namespace,
    labels: (isRecord(md.labels) ? md.labels : {}) as Record<string, string>,
    annotations: (isRecord(md.annotations) ? md.annotations : {}) as Record<string, string>,
    file,
  };
  return { collection: info.collection, resource: { meta, spec }, meta };
}

/** Client TLS other than DISABLE needs certificates (SDS) that Weft does not serve yet. */
function checkTlsModes(spec: unknown, issues: ConfigIssue[]): void {
  const visit = (v: unknown, p: string): void => {
    if (Array.isArray(v)) return v.forEach((x, i) => visit(x, `${p}[${i}]`));
    if (!isRecord(v)) return;
    for (const [k, x] of Object.entries(v)) {
      if (k === 'tls' && isRecord(x) && x.mode !== undefined && x.mode !== 'DISABLE') {
        issues.push({ path: `${p}.tls.mode`, message: `tls mode ${String(x.mode)} is not supported by Weft yet (only DISABLE); remove tls or set mode: DISABLE` });
      } else visit(x, `${p}.${k}`);
    }
  };
  visit(spec, 'spec');
}
