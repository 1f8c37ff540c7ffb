/**
 * DNS for STRICT_DNS / LOGICAL_DNS clusters, off the request path. The default resolver uses the
 * system resolver (getaddrinfo, so /etc/hosts names like "localhost" work); with respect_dns_ttl
 * it first asks DNS directly (resolve4/resolve6 with TTLs) and falls back to getaddrinfo.
 */
import { promises as dnsp } from 'node:dns';
import { isIP } from 'node:net';

/** Envoy's Cluster.DnsLookupFamily. AUTO = IPv6 if any, else IPv4. */
export type DnsLookupFamily = 'AUTO' | 'V4_ONLY' | 'V6_ONLY' | 'V4_PREFERRED' | 'ALL';
export const DNS_LOOKUP_FAMILIES: readonly DnsLookupFamily[] = ['AUTO', 'V4_ONLY', 'V6_ONLY', 'V4_PREFERRED', 'ALL'];

export interface DnsAnswer {
  addresses: string[];
  /** Smallest TTL of the answer in ms, when known. */
  ttlMs?: number;
}

/** Resolves a name; rejects on failure. Injectable for tests. */
export type DnsResolve = (name: string, family: DnsLookupFamily, wantTtl: boolean) => Promise<DnsAnswer>;

function pickFamily(v4: string[], v6: string[], family: DnsLookupFamily): string[] {
  switch (family) {
    case 'V4_ONLY':
      return v4;
    case 'V6_ONLY':
      return v6;
    case 'V4_PREFERRED':
      return v4.length > 0 ? v4 : v6;
    case 'ALL':
      return [...v4, ...v6];
    case 'AUTO':
    default:
      return v6.length > 0 ? v6 : v4;
  }
}

async function resolveWithTtl(name: string, family: DnsLookupFamily): Promise<DnsAnswer> {
  const settle = async (fn: () => Promise<{ address: string; ttl: number }[]>) => {
    try {
      return await fn();
    } catch {
      return [];
    }
  };
  const want4 = family !== 'V6_ONLY';
  const want6 = family !== 'V4_ONLY';
  const [r4, r6] = await Promise.all([
    want4 ? settle(() => dnsp.resolve4(name, { ttl: true })) : Promise.resolve([]),
    want6 ? settle(() => dnsp.resolve6(name, { ttl: true })) : Promise.resolve([]),
  ]);
  const chosen = pickFamily(
    r4.map((r) => r.address),
    r6.map((r) => r.address),
    family,
  );
  if (chosen.length === 0) throw new Error(`no DNS records for ${name}`);
  const ttls = [...r4, ...r6].filter((r) => chosen.includes(r.address)).map((r) => r.ttl);
  return { addresses: chosen, ttlMs: Math.min(...ttls) * 1000 };
}

export const systemDnsResolve: DnsResolve = async (name, family, wantTtl) => {
  if (isIP(name)) return { addresses: [name] };
  if (wantTtl) {
    try {
      return await resolveWithTtl(name, family);
    } catch {
      // fall through to getaddrinfo (e.g. names only in /etc/hosts)
    }
  }
  const all = await dnsp.lookup(name, {
    all: true,
    family: family === 'V4_ONLY' ? 4 : family === 'V6_ONLY' ? 6 : 0,
  });
  const v4: string[] = [];
  const v6: string[] = [];
  for (const a of all) {
    const list = a.family === 6 ? v6 : v4;
    if (!list.includes(a.address)) list.push(a.address);
  }
  const chosen = pickFamily(v4, v6, family);
  if (chosen.length === 0) throw new Error(`no ${family} addresses for ${name}`);
  return { addresses: chosen };
};
