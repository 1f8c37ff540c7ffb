import * as tls from 'node:tls';
import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { isObject, readArray, readEnum, readObject, type Decoded } from '../../lib/decoded-read';
import { logger } from '../../lib/log';
import type { SecretEntry, SecretStore } from '../secret/secret-store';
import { compileTlsCertificate } from '../secret/tls-certificate';
import { compileValidationContext, mergeValidation, type LoadedValidation } from '../secret/validation-context';

/**
 * envoy.extensions.transport_sockets.tls.v3.CommonTlsContext, compiled against the secret store,
 * and the live context built from it: a `tls.SecureContext` plus the validation rules, rebuilt
 * whenever one of its secrets changes (file rotation, SDS). Handshakes read `current` and never
 * build anything themselves.
 */

const log = logger('tls');

export type Side = 'server' | 'client';

const VERSIONS: Record<string, tls.SecureVersion | undefined> = {
  TLS_AUTO: undefined,
  TLSv1_0: 'TLSv1',
  TLSv1_1: 'TLSv1.1',
  TLSv1_2: 'TLSv1.2',
  TLSv1_3: 'TLSv1.3',
};

export interface CommonTlsConfig {
  readonly certificates: readonly SecretEntry<'tls_certificate'>[];
  /** validation_context / combined_validation_context.default_validation_context */
  readonly validationDefault: SecretEntry<'validation_context'> | undefined;
  /** validation_context_sds_secret_config / combined_validation_context.validation_context_sds_secret_config */
  readonly validationDynamic: SecretEntry<'validation_context'> | undefined;
  readonly alpn: readonly string[];
  readonly minVersion: tls.SecureVersion;
  readonly maxVersion: tls.SecureVersion;
  readonly ciphers: string | undefined;
  readonly ecdhCurve: string | undefined;
  /** Drops the inline (anonymous) secrets this context created from the store. */
  release(): void;
}

const FIELDS = [
  'tls_params',
  'tls_certificates',
  'tls_certificate_sds_secret_configs',
  'validation_context',
  'validation_context_sds_secret_config',
  'combined_validation_context',
  'alpn_protocols',
];

export function compileCommonTlsContext(
  m: Decoded | undefined,
  p: string,
  issues: ConfigIssue[],
  secrets: SecretStore,
  side: Side,
): CommonTlsConfig | undefined {
  const before = issues.length;
  m = m ?? {};
  rejectUnsupported(m, p, FIELDS, issues);
  const certificates: SecretEntry<'tls_certificate'>[] = [];
  const inlineEntries: SecretEntry[] = [];
  const release = (): void => {
    for (const e of inlineEntries.splice(0)) secrets.release(e);
  };
  readArray(m, 'tls_certificates', p, issues).forEach((c, i) => {
    const cp = joinPath(joinPath(p, 'tls_certificates'), i);
    if (!isObject(c)) return;
    const spec = compileTlsCertificate(c, cp, issues);
    const entry = spec === undefined ? undefined : secrets.inline(spec, cp, issues);
    if (entry !== undefined) {
      certificates.push(entry);
      inlineEntries.push(entry);
    }
  });
  readArray(m, 'tls_certificate_sds_secret_configs', p, issues).forEach((r, i) => {
    const entry = secrets.reference(r, 'tls_certificate', joinPath(joinPath(p, 'tls_certificate_sds_secret_configs'), i), issues);
    if (entry !== undefined) certificates.push(entry);
  });
  if (certificates.length > 0 && m.tls_certificates !== undefined && m.tls_certificate_sds_secret_configs !== undefined) {
    issues.push({ path: joinPath(p, 'tls_certificate_sds_secret_configs'), message: 'tls_certificates and tls_certificate_sds_secret_configs are mutually exclusive' });
  }
  let validationDefault: SecretEntry<'validation_context'> | undefined;
  let validationDynamic: SecretEntry<'validation_context'> | undefined;
  const inlineValidation = (vc: unknown, vp: string): SecretEntry<'validation_context'> | undefined => {
    if (!isObject(vc)) return undefined;
    const spec = compileValidationContext(vc, vp, issues);
    if (spec === undefined) return undefined;
    if (spec.hasSanMatchers && !spec.hasTrustedCa && m?.combined_validation_context === undefined) {
      issues.push({ path: vp, message: 'SAN-based verification of peer certificates without trusted_ca is insecure and not allowed' });
      return undefined;
    }
    const entry = secrets.inline(spec, vp, issues);
    if (entry !== undefined) inlineEntries.push(entry);
    return entry;
  };
  const set = ['validation_context', 'validation_context_sds_secret_config', 'combined_validation_context'].filter((f) => m?.[f] !== undefined);
  if (set.length > 1) issues.push({ path: p, message: `only one of ${set.join(', ')} may be set` });
  if (m.validation_context !== undefined) validationDefault = inlineValidation(m.validation_context, joinPath(p, 'validation_context'));
  if (m.validation_context_sds_secret_config !== undefined) {
    validationDynamic = secrets.reference(m.validation_context_sds_secret_config, 'validation_context', joinPath(p, 'validation_context_sds_secret_config'), issues);
  }
  const cvc = readObject(m, 'combined_validation_context', p, issues);
  if (cvc !== undefined) {
    const cp = joinPath(p, 'combined_validation_context');
    rejectUnsupported(cvc, cp, ['default_validation_context', 'validation_context_sds_secret_config'], issues);
    if (cvc.default_validation_context !== undefined) validationDefault = inlineValidation(cvc.default_validation_context, joinPath(cp, 'default_validation_context'));
    if (cvc.validation_context_sds_secret_config === undefined) issues.push({ path: joinPath(cp, 'validation_context_sds_secret_config'), message: 'validation_context_sds_secret_config is required' });
    else validationDynamic = secrets.reference(cvc.validation_context_sds_secret_config, 'validation_context', joinPath(cp, 'validation_context_sds_secret_config'), issues);
  }
  const alpn = readArray(m, 'alpn_protocols', p, issues).map((a, i) => {
    if (typeof a !== 'string' || a === '' || a.length > 255) issues.push({ path: joinPath(joinPath(p, 'alpn_protocols'), i), message: 'expected a protocol name of 1..255 bytes' });
    return String(a);
  });
  // Envoy's defaults: servers TLSv1.2..TLSv1.3, clients TLSv1.2..TLSv1.2.
  let minVersion: tls.SecureVersion = 'TLSv1.2';
  let maxVersion: tls.SecureVersion = side === 'server' ? 'TLSv1.3' : 'TLSv1.2';
  let ciphers: string | undefined;
  let ecdhCurve: string | undefined;
  const tp = readObject(m, 'tls_params', p, issues);
  if (tp !== undefined) {
    const pp = joinPath(p, 'tls_params');
    rejectUnsupported(tp, pp, ['tls_minimum_protocol_version', 'tls_maximum_protocol_version', 'cipher_suites', 'ecdh_curves'], issues);
    const names = Object.keys(VERSIONS);
    const min = readEnum(tp, 'tls_minimum_protocol_version', pp, issues, names);
    const max = readEnum(tp, 'tls_maximum_protocol_version', pp, issues, names);
    minVersion = (min && VERSIONS[min]) || minVersion;
    maxVersion = (max && VERSIONS[max]) || maxVersion;
    if (min !== undefined && max !== undefined && VERSIONS[min] && VERSIONS[max] && names.indexOf(min) > names.indexOf(max)) {
      issues.push({ path: pp, message: `tls_minimum_protocol_version ${min} is above tls_maximum_protocol_version ${max}` });
    }
    if (minVersion > maxVersion) maxVersion = minVersion;
    const suites = readArray(tp, 'cipher_suites', pp, issues);
    suites.forEach((s, i) => {
      if (typeof s !== 'string' || !/^[A-Za-z0-9_-]+$/.test(s)) {
        issues.push({ path: joinPath(joinPath(pp, 'cipher_suites'), i), message: 'expected a cipher suite name (BoringSSL equal-preference groups [a|b] are not implemented by Weft)' });
      }
    });
    if (suites.length > 0) ciphers = suites.join(':');
    const curves = readArray(tp, 'ecdh_curves', pp, issues);
    if (curves.length > 0) ecdhCurve = curves.map(String).join(':');
  }
  if (issues.length > before) {
    release();
    return undefined;
  }
  return { certificates, validationDefault, validationDynamic, alpn, minVersion, maxVersion, ciphers, ecdhCurve, release };
}

/** Counts a rebuild failure (e.g. ciphers the TLS library refuses); the previous context stays. */
export interface LiveContextEvents {
  onRebuildFailed(message: string): void;
}

/**
 * The context new handshakes use. `current` is undefined while a required secret is missing
 * (an SDS secret not delivered yet): handshakes are then refused.
 */
export class LiveTlsContext {
  current: { secureContext: tls.SecureContext; options: tls.SecureContextOptions; validation: LoadedValidation | undefined } | undefined;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly onChangeHooks: (() => void)[] = [];

  constructor(
    readonly config: CommonTlsConfig,
    private readonly description: string,
    private readonly events: LiveContextEvents,
  ) {
    const entries: (SecretEntry<'tls_certificate'> | SecretEntry<'validation_context'> | undefined)[] = [
      ...config.certificates,
      config.validationDefault,
      config.validationDynamic,
    ];
    for (const e of entries) if (e !== undefined) this.unsubscribe.push(e.subscribe(() => this.rebuild()));
    this.rebuild();
  }

  /** Called after `current` changed (the downstream transport pushes it into its tls.Server). */
  onChange(hook: () => void): void {
    this.onChangeHooks.push(hook);
  }

  /** What is missing, for the error of a refused handshake; undefined when ready. */
  missing(): string | undefined {
    const c = this.config;
    const names = [...c.certificates, c.validationDynamic].filter((e) => e !== undefined && e.value === undefined).map((e) => e?.name);
    return names.length === 0 ? undefined : `waiting for secret(s) ${names.join(', ')}`;
  }

  private rebuild(): void {
    const c = this.config;
    if (this.missing() !== undefined) {
      this.current = undefined;
      return;
    }
    let validation: LoadedValidation | undefined = c.validationDefault?.value;
    const dyn = c.validationDynamic?.value;
    if (dyn !== undefined) validation = validation === undefined ? dyn : mergeValidation(validation, dyn);
    const options: tls.SecureContextOptions = {
      minVersion: c.minVersion,
      maxVersion: c.maxVersion,
      cert: c.certificates.map((e) => e.value?.certChain ?? Buffer.alloc(0)),
      key: c.certificates.map((e) => ({ pem: e.value?.privateKey ?? Buffer.alloc(0), passphrase: e.value?.passphrase })),
    };
    if (validation?.trustedCa !== undefined) options.ca = validation.trustedCa;
    if (c.ciphers !== undefined) options.ciphers = c.ciphers;
    if (c.ecdhCurve !== undefined) options.ecdhCurve = c.ecdhCurve;
    try {
      const secureContext = tls.createSecureContext(options);
      this.current = { secureContext, options, validation };
    } catch (e) {
      const msg = `${this.description}: cannot build the TLS context: ${(e as Error).message}`;
      log.warn(this.current === undefined ? msg : `${msg}; keeping the previous one`);
      this.events.onRebuildFailed(msg);
      return;
    }
    for (const h of this.onChangeHooks) h();
  }

  close(): void {
    for (const u of this.unsubscribe) u();
    this.unsubscribe.length = 0;
    this.config.release();
  }
}
