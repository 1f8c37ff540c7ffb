import * as fs from 'node:fs';
import * as path from 'node:path';
import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { isObject, readObject, readString, type Decoded } from '../../lib/decoded-read';
import { logger } from '../../lib/log';
import { GaugeMode, type Counter, type Gauge, type StatsStore } from '../telemetry/stats';
import { compileTlsCertificate, type LoadedCertificate, type TlsCertificateSpec } from './tls-certificate';
import { compileValidationContext, type LoadedValidation, type ValidationContextSpec } from './validation-context';

/**
 * The secret store: every TLS certificate and validation context the proxy uses, named
 * (static_resources.secrets, or SDS) or inline (anonymous). TLS contexts hold a `SecretEntry` and
 * subscribe to it; whoever changes an entry — a watched file, or an SDS client via `setDynamic` /
 * `removeDynamic` — bumps its version and notifies them, and they rebuild their context for new
 * handshakes. Existing connections keep the context they were made with.
 *
 * Files are watched (the `watched_directory`, or else each file's directory); re-reads are
 * debounced. A re-read that fails keeps the last good material, logs, and counts
 * `sds.<name>.key_rotation_failed`.
 */

export type SecretKind = 'tls_certificate' | 'validation_context';
type Spec = TlsCertificateSpec | ValidationContextSpec;
export type SecretMaterial<K extends SecretKind> = K extends 'tls_certificate' ? LoadedCertificate : LoadedValidation;

const log = logger('secret');
/** A burst of file events (an atomic rename swap makes several) is read once, this long after the last. */
export const RELOAD_DEBOUNCE_MS = 100;
export const SECRET_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

class SecretStats {
  readonly update_success: Counter;
  readonly update_rejected: Counter;
  readonly key_rotation_failed: Counter;
  constructor(stats: StatsStore, name: string) {
    const p = `sds.${name}.`;
    this.update_success = stats.counter(p + 'update_success');
    this.update_rejected = stats.counter(p + 'update_rejected');
    this.key_rotation_failed = stats.counter(p + 'key_rotation_failed');
  }
}

export class SecretEntry<K extends SecretKind = SecretKind> {
  /** Undefined for a dynamic secret SDS has not delivered yet (or removed). */
  value: SecretMaterial<K> | undefined = undefined;
  version = 0;
  spec: Spec | undefined = undefined;
  reloadTimer: NodeJS.Timeout | null = null;
  private readonly subscribers = new Set<() => void>();

  constructor(
    readonly name: string,
    readonly kind: K,
    /** True when it comes from SDS (sds_config set), false for static and inline secrets. */
    readonly dynamic: boolean,
    readonly stats: SecretStats,
  ) {}

  subscribe(onChange: () => void): () => void {
    this.subscribers.add(onChange);
    return () => this.subscribers.delete(onChange);
  }

  set(value: SecretMaterial<K> | undefined): void {
    this.value = value;
    this.version++;
    for (const s of this.subscribers) s();
  }
}

export class SecretStore {
  private readonly named = new Map<string, SecretEntry>();
  private readonly all = new Set<SecretEntry>();
  private readonly watchers = new Map<string, { watcher: fs.FSWatcher; entries: Set<SecretEntry> }>();
  private readonly expiringGauge: Gauge;
  private watching = false;
  private anonymous = 0;

  constructor(private readonly stats: StatsStore) {
    this.expiringGauge = stats.gauge('server.days_until_first_cert_expiring', GaugeMode.NeverImport);
  }

  /** static_resources.secrets[i]: compiled and loaded now; a problem is a config issue. */
  addStatic(decoded: unknown, p: string, issues: ConfigIssue[]): void {
    if (!isObject(decoded)) {
      issues.push({ path: p, message: 'expected a Secret' });
      return;
    }
    const name = readString(decoded, 'name', p, issues) ?? '';
    if (name === '') {
      issues.push({ path: joinPath(p, 'name'), message: 'secret name is required' });
      return;
    }
    if (this.named.has(name)) {
      issues.push({ path: joinPath(p, 'name'), message: `duplicate secret name ${name}` });
      return;
    }
    const compiled = compileSecret(decoded, p, issues);
    if (compiled === undefined) return;
    const material = compiled.spec.load();
    if (material instanceof Error) {
      issues.push({ path: p, message: material.message });
      return;
    }
    const entry = new SecretEntry(name, compiled.spec.kind, false, new SecretStats(this.stats, name));
    entry.spec = compiled.spec;
    entry.value = material;
    this.register(entry);
  }

  /**
   * An SdsSecretConfig reference (tls_certificate_sds_secret_configs, validation_context_sds_secret_config).
   * Without sds_config the secret must be a static one; with it, the entry waits for SDS.
   */
  reference<K extends SecretKind>(ref: unknown, kind: K, p: string, issues: ConfigIssue[]): SecretEntry<K> | undefined {
    if (!isObject(ref)) {
      issues.push({ path: p, message: 'expected an SdsSecretConfig' });
      return undefined;
    }
    rejectUnsupported(ref, p, ['name', 'sds_config'], issues);
    const name = readString(ref, 'name', p, issues) ?? '';
    if (name === '') {
      issues.push({ path: joinPath(p, 'name'), message: 'secret name is required' });
      return undefined;
    }
    const dynamic = readObject(ref, 'sds_config', p, issues) !== undefined;
    const existing = this.named.get(name);
    if (existing !== undefined) {
      if (existing.kind !== kind) {
        issues.push({ path: joinPath(p, 'name'), message: `secret ${name} is a ${existing.kind}, not a ${kind}` });
        return undefined;
      }
      if (existing.dynamic !== dynamic) {
        issues.push({ path: joinPath(p, 'sds_config'), message: `secret ${name} is ${existing.dynamic ? 'delivered by SDS' : 'a static secret'} elsewhere` });
        return undefined;
      }
      return existing as SecretEntry<K>;
    }
    if (!dynamic) {
      issues.push({ path: joinPath(p, 'name'), message: `static secret ${name} is not defined in static_resources.secrets` });
      return undefined;
    }
    const entry = new SecretEntry(name, kind, true, new SecretStats(this.stats, name));
    this.register(entry);
    return entry;
  }

  /** An inline TlsCertificate / CertificateValidationContext: an anonymous entry, loaded now. */
  inline<K extends SecretKind>(spec: Spec & { kind: K }, p: string, issues: ConfigIssue[]): SecretEntry<K> | undefined {
    const material = spec.load();
    if (material instanceof Error) {
      issues.push({ path: p, message: material.message });
      return undefined;
    }
    const name = `inline_${spec.kind}_${++this.anonymous}`;
    const entry = new SecretEntry(name, spec.kind, false, new SecretStats(this.stats, name));
    entry.spec = spec;
    entry.value = material as SecretMaterial<K>;
    this.all.add(entry);
    if (this.watching) this.watch(entry);
    this.refreshExpiry();
    return entry as SecretEntry<K>;
  }

  /** Forgets an inline secret whose TLS context is gone (stops watching its files). */
  release(entry: SecretEntry): void {
    if (this.named.get(entry.name) === entry) return;
    this.unwatch(entry);
    if (entry.reloadTimer !== null) clearTimeout(entry.reloadTimer);
    entry.reloadTimer = null;
    this.all.delete(entry);
  }

  /** Names of the secrets awaiting SDS (what an SDS client subscribes to). */
  dynamicNames(): string[] {
    return [...this.named.values()].filter((e) => e.dynamic).map((e) => e.name);
  }

  get(name: string): SecretEntry | undefined {
    return this.named.get(name);
  }

  /**
   * SDS delivered a Secret (decoded form). Returns the issues (the NACK); on any issue the last
   * good version stays in use.
   */
  setDynamic(decoded: unknown): ConfigIssue[] {
    const issues: ConfigIssue[] = [];
    const name = isObject(decoded) && typeof decoded.name === 'string' ? decoded.name : '';
    const entry = this.named.get(name);
    if (entry === undefined || !entry.dynamic) {
      return [{ path: 'name', message: `no listener or cluster references SDS secret ${JSON.stringify(name)}` }];
    }
    const compiled = isObject(decoded) ? compileSecret(decoded, '', issues) : undefined;
    if (compiled !== undefined && compiled.spec.kind !== entry.kind) {
      issues.push({ path: '', message: `secret ${name} must be a ${entry.kind}` });
    }
    const material = compiled !== undefined && issues.length === 0 ? compiled.spec.load() : undefined;
    if (material instanceof Error) issues.push({ path: '', message: material.message });
    if (issues.length > 0 || compiled === undefined || material === undefined || material instanceof Error) {
      entry.stats.update_rejected.inc();
      return issues;
    }
    this.unwatch(entry);
    entry.spec = compiled.spec;
    entry.stats.update_success.inc();
    entry.set(material);
    if (this.watching) this.watch(entry);
    this.refreshExpiry();
    return [];
  }

  /** SDS removed the secret: new handshakes that need it fail until it comes back. */
  removeDynamic(name: string): void {
    const entry = this.named.get(name);
    if (entry === undefined || !entry.dynamic) return;
    this.unwatch(entry);
    entry.spec = undefined;
    entry.set(undefined);
    this.refreshExpiry();
  }

  /** Starts watching files (only for a running proxy, not for --mode validate). */
  startWatching(): void {
    if (this.watching) return;
    this.watching = true;
    for (const e of this.all) this.watch(e);
    this.refreshExpiry();
  }

  close(): void {
    this.watching = false;
    for (const w of this.watchers.values()) w.watcher.close();
    this.watchers.clear();
    for (const e of this.all) {
      if (e.reloadTimer !== null) clearTimeout(e.reloadTimer);
      e.reloadTimer = null;
    }
  }

  private register(entry: SecretEntry): void {
    this.named.set(entry.name, entry);
    this.all.add(entry);
    if (this.watching) this.watch(entry);
    this.refreshExpiry();
  }

  private watchedDirs(entry: SecretEntry): string[] {
    const spec = entry.spec;
    if (spec === undefined) return [];
    if (spec.watchedDirectory !== undefined) return [path.resolve(spec.watchedDirectory)];
    return [...new Set(spec.files.map((f) => path.dirname(f)))];
  }

  private watch(entry: SecretEntry): void {
    for (const dir of this.watchedDirs(entry)) {
      let w = this.watchers.get(dir);
      if (w === undefined) {
        let watcher: fs.FSWatcher;
        try {
          watcher = fs.watch(dir, { persistent: false }, () => this.onDirectoryEvent(dir));
        } catch (e) {
          log.warn(`secret ${entry.name}: cannot watch ${dir}: ${(e as Error).message}; rotation of its files needs a restart`);
          entry.stats.key_rotation_failed.inc();
          continue;
        }
        watcher.on('error', (e) => log.warn(`watch of ${dir} failed: ${e.message}`));
        w = { watcher, entries: new Set() };
        this.watchers.set(dir, w);
      }
      w.entries.add(entry);
    }
  }

  private unwatch(entry: SecretEntry): void {
    for (const [dir, w] of this.watchers) {
      if (!w.entries.delete(entry) || w.entries.size > 0) continue;
      w.watcher.close();
      this.watchers.delete(dir);
    }
  }

  private onDirectoryEvent(dir: string): void {
    const w = this.watchers.get(dir);
    if (w === undefined) return;
    for (const entry of w.entries) {
      if (entry.reloadTimer !== null) clearTimeout(entry.reloadTimer);
      entry.reloadTimer = setTimeout(() => this.reload(entry), RELOAD_DEBOUNCE_MS);
    }
  }

  private reload(entry: SecretEntry): void {
    entry.reloadTimer = null;
    const spec = entry.spec;
    if (spec === undefined || !this.watching) return;
    const material = spec.load();
    if (material instanceof Error) {
      entry.stats.key_rotation_failed.inc();
      log.warn(`secret ${entry.name}: reload failed, keeping the previous version: ${material.message}`);
      return;
    }
    if (sameMaterial(entry.value, material)) return;
    log.info(`secret ${entry.name}: reloaded from disk`);
    entry.set(material);
    this.refreshExpiry();
  }

  private refreshExpiry(): void {
    let first = Infinity;
    for (const e of this.all) {
      if (e.kind === 'tls_certificate' && e.value !== undefined) first = Math.min(first, (e.value as LoadedCertificate).notAfter.getTime());
    }
    const days = first === Infinity ? 0 : Math.max(0, Math.floor((first - Date.now()) / 86_400_000));
    this.expiringGauge.set(days);
    if (first !== Infinity && first < Date.now()) log.warn('a configured TLS certificate has expired (server.days_until_first_cert_expiring is 0)');
  }
}

function sameMaterial(a: LoadedCertificate | LoadedValidation | undefined, b: LoadedCertificate | LoadedValidation): boolean {
  if (a === undefined) return false;
  if ('certChain' in a && 'certChain' in b) return a.certChain.equals(b.certChain) && a.privateKey.equals(b.privateKey) && a.passphrase === b.passphrase;
  if ('sanMatchers' in a && 'sanMatchers' in b) {
    return a.trustedCa === undefined ? b.trustedCa === undefined : b.trustedCa !== undefined && a.trustedCa.equals(b.trustedCa);
  }
  return false;
}

/** envoy.extensions.transport_sockets.tls.v3.Secret: tls_certificate or validation_context. */
function compileSecret(s: Decoded, p: string, issues: ConfigIssue[]): { spec: Spec } | undefined {
  rejectUnsupported(s, p, ['name', 'tls_certificate', 'validation_context'], issues);
  const tc = readObject(s, 'tls_certificate', p, issues);
  const vc = readObject(s, 'validation_context', p, issues);
  if ((tc === undefined) === (vc === undefined)) {
    if (s.session_ticket_keys === undefined && s.generic_secret === undefined) {
      issues.push({ path: p, message: 'exactly one of tls_certificate, validation_context is required' });
    }
    return undefined;
  }
  const spec = tc !== undefined
    ? compileTlsCertificate(tc, joinPath(p, 'tls_certificate'), issues)
    : compileValidationContext(vc as Decoded, joinPath(p, 'validation_context'), issues);
  return spec === undefined ? undefined : { spec };
}
