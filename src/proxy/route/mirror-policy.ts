import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { isObject, readBool, readObject, readString } from '../../lib/decoded-read';
import type { Msg } from './fields';

/** RouteAction.request_mirror_policies: copies of the request sent, fire and forget, to another cluster. */
export interface MirrorPolicy {
  readonly cluster: string;
  /** Share of requests mirrored: numerator over denominator (1/1 when no runtime_fraction). */
  readonly numerator: number;
  readonly denominator: number;
  /** When false, the shadow's authority gets Envoy's "-shadow" suffix. */
  readonly disableShadowHostSuffixAppend: boolean;
}

export const NO_MIRRORS: readonly MirrorPolicy[] = [];

const DENOMINATORS: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

export function compileMirrorPolicies(list: Array<[Msg, string]>, issues: ConfigIssue[]): MirrorPolicy[] {
  const out: MirrorPolicy[] = [];
  for (const [m, path] of list) {
    const mp = m as Record<string, unknown>;
    rejectUnsupported(mp, path, ['cluster', 'runtime_fraction', 'disable_shadow_host_suffix_append'], issues);
    const cluster = readString(mp, 'cluster', path, issues) ?? '';
    if (cluster === '') issues.push({ path: joinPath(path, 'cluster'), message: 'cluster is required' });
    let numerator = 1;
    let denominator = 1;
    const rf = readObject(mp, 'runtime_fraction', path, issues);
    if (rf !== undefined) {
      const rp = joinPath(path, 'runtime_fraction');
      rejectUnsupported(rf, rp, ['default_value', 'runtime_key'], issues);
      const dv = rf.default_value;
      numerator = 0;
      denominator = 100;
      if (isObject(dv)) {
        numerator = typeof dv.numerator === 'number' ? dv.numerator : 0;
        denominator = DENOMINATORS[typeof dv.denominator === 'string' ? dv.denominator : 'HUNDRED'] ?? 100;
      }
    }
    out.push({
      cluster,
      numerator: Math.min(numerator, denominator),
      denominator,
      disableShadowHostSuffixAppend: readBool(mp, 'disable_shadow_host_suffix_append', path, issues) ?? false,
    });
  }
  return out;
}

/** Envoy's shadow authority: "-shadow" appended to the host, before any port. */
export function shadowAuthority(authority: string): string {
  const colon = authority.lastIndexOf(':');
  if (colon > 0 && !authority.endsWith(']') && /^\d+$/.test(authority.slice(colon + 1))) {
    return authority.slice(0, colon) + '-shadow' + authority.slice(colon);
  }
  return authority + '-shadow';
}
