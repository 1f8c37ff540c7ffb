/** Load-balancer configuration (lb_policy and its *_lb_config) and the factory. */
import { ConfigIssue, joinPath, rejectUnsupported } from '../../../lib/config-error';
import type { Gauge } from '../../telemetry/stats';
import { Decoded, readEnum, readNumber, readObject } from '../../../lib/decoded-read';
import { LeastRequestLb, LeastRequestOptions } from './least-request';
import { DEFAULT_MAGLEV_TABLE_SIZE, isPrime, MaglevLb, MAX_MAGLEV_TABLE_SIZE } from './maglev';
import { RandomLb } from './random';
import { RingHashLb, RingHashOptions } from './ring-hash';
import { RoundRobinLb } from './round-robin';
import type { LbDeps, LoadBalancer } from './types';

export type { LbContext, LoadBalancer, LbDeps, LbStats } from './types';

export type LbPolicy = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'RING_HASH' | 'MAGLEV';
const POLICIES: readonly LbPolicy[] = ['ROUND_ROBIN', 'LEAST_REQUEST', 'RANDOM', 'RING_HASH', 'MAGLEV'];
const KNOWN_POLICIES = ['CLUSTER_PROVIDED', 'LOAD_BALANCING_POLICY_CONFIG'];

export type RingHashFunction = 'XX_HASH' | 'MURMUR_HASH_2';

export interface LbConfig {
  policy: LbPolicy;
  leastRequest: LeastRequestOptions;
  ringHash: RingHashOptions & { hashFunction: RingHashFunction };
  maglevTableSize: number;
}

const MAX_RING = 8 * 1024 * 1024;

/** Reads lb_policy, least_request_lb_config, ring_hash_lb_config, maglev_lb_config, round_robin_lb_config. */
export function parseLbConfig(c: Decoded, path: string, issues: ConfigIssue[]): LbConfig {
  const policy = readEnum(c, 'lb_policy', path, issues, POLICIES, KNOWN_POLICIES) ?? 'ROUND_ROBIN';
  const cfg: LbConfig = {
    policy,
    leastRequest: { choiceCount: 2, activeRequestBias: 1 },
    ringHash: { minimumRingSize: 1024, maximumRingSize: MAX_RING, hashFunction: 'XX_HASH' },
    maglevTableSize: DEFAULT_MAGLEV_TABLE_SIZE,
  };

  const lr = readObject(c, 'least_request_lb_config', path, issues);
  if (lr) {
    const p = joinPath(path, 'least_request_lb_config');
    rejectUnsupported(lr, p, ['choice_count', 'active_request_bias'], issues);
    cfg.leastRequest.choiceCount = readNumber(lr, 'choice_count', p, issues, { min: 2, integer: true }) ?? 2;
    const bias = readObject(lr, 'active_request_bias', p, issues);
    if (bias) {
      const bp = joinPath(p, 'active_request_bias');
      // runtime_key is accepted: Weft has no runtime layer, so default_value always applies.
      rejectUnsupported(bias, bp, ['default_value', 'runtime_key'], issues);
      cfg.leastRequest.activeRequestBias = readNumber(bias, 'default_value', bp, issues, { min: 0 }) ?? 1;
    }
  }

  const rh = readObject(c, 'ring_hash_lb_config', path, issues);
  if (rh) {
    const p = joinPath(path, 'ring_hash_lb_config');
    rejectUnsupported(rh, p, ['minimum_ring_size', 'maximum_ring_size', 'hash_function'], issues);
    const min = readNumber(rh, 'minimum_ring_size', p, issues, { min: 1, max: MAX_RING, integer: true }) ?? 1024;
    const max = readNumber(rh, 'maximum_ring_size', p, issues, { min: 1, max: MAX_RING, integer: true }) ?? MAX_RING;
    if (min > max) issues.push({ path: p, message: `minimum_ring_size (${min}) > maximum_ring_size (${max})` });
    cfg.ringHash.minimumRingSize = min;
    cfg.ringHash.maximumRingSize = max;
    cfg.ringHash.hashFunction =
      readEnum<RingHashFunction>(rh, 'hash_function', p, issues, ['XX_HASH'], ['MURMUR_HASH_2']) ?? 'XX_HASH';
  }

  const mg = readObject(c, 'maglev_lb_config', path, issues);
  if (mg) {
    const p = joinPath(path, 'maglev_lb_config');
    rejectUnsupported(mg, p, ['table_size'], issues);
    const size = readNumber(mg, 'table_size', p, issues, { max: MAX_MAGLEV_TABLE_SIZE, integer: true });
    if (size !== undefined) {
      if (!isPrime(size)) issues.push({ path: joinPath(p, 'table_size'), message: 'the table size of maglev must be prime number' });
      else cfg.maglevTableSize = size;
    }
  }

  const rr = readObject(c, 'round_robin_lb_config', path, issues);
  if (rr) rejectUnsupported(rr, joinPath(path, 'round_robin_lb_config'), [], issues);
  return cfg;
}

export function createLoadBalancer(cfg: LbConfig, deps: LbDeps, gauge: (name: string) => Gauge): LoadBalancer {
  let lb: LoadBalancer;
  switch (cfg.policy) {
    case 'ROUND_ROBIN':
      lb = new RoundRobinLb(deps);
      break;
    case 'LEAST_REQUEST':
      lb = new LeastRequestLb(deps, cfg.leastRequest);
      break;
    case 'RANDOM':
      lb = new RandomLb(deps);
      break;
    case 'RING_HASH':
      lb = new RingHashLb(deps, cfg.ringHash, {
        size: gauge('ring_hash_lb.size'),
        min_hashes_per_host: gauge('ring_hash_lb.min_hashes_per_host'),
        max_hashes_per_host: gauge('ring_hash_lb.max_hashes_per_host'),
      });
      break;
    case 'MAGLEV':
      lb = new MaglevLb(deps, cfg.maglevTableSize, {
        min_entries_per_host: gauge('maglev_lb.min_entries_per_host'),
        max_entries_per_host: gauge('maglev_lb.max_entries_per_host'),
      });
      break;
  }
  lb.refresh();
  return lb;
}
