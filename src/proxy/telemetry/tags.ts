/**
 * Envoy's default tag extraction (source/common/config/well_known_names.cc): a flat stat name such
 * as "cluster.backend.upstream_rq_200" becomes a tag-extracted name "cluster.upstream_rq" plus tags
 * [envoy.response_code=200, envoy.cluster_name=backend]. Used by the Prometheus renderer.
 *
 * Mechanics, as in Envoy: every extractor is matched against the ORIGINAL name; a regex extractor's
 * first capture group is the text removed from the name, its second group (or the first when there
 * is only one) is the tag value. Tokenized extractors ("cluster.$.**") split on dots: `*` matches
 * one token, `**` zero or more, `$` is the tag value (removed with its trailing dot). Extractors
 * whose pattern has no fixed first token run first, then those keyed by the name's first token, in
 * definition order (regex extractors before tokenized ones). A tag name is extracted at most once.
 */

export interface Tag {
  name: string;
  value: string;
}

export interface TagExtraction {
  /** The name with every tag's text removed, e.g. "cluster.upstream_rq". */
  extractedName: string;
  tags: Tag[];
}

interface Extractor {
  name: string;
  /** First token the stat name must have, or "" for extractors that apply to every name. */
  prefix: string;
  /** Returns [removeStart, removeEnd, value] or null. */
  match(statName: string, tokens: string[]): [number, number, string] | null;
}

const TAG_VALUE = '[^\\.]+';
const ADDRESS = '(?:(?:\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}|\\[[a-fA-F_\\d]+\\])_\\d+)';
const CIPHER = '[\\w-]+';
const TLS_VERSION = 'TLSv\\d\\.\\d';
const ROUTE_CONFIG_NAME = '[\\w\\-\\.]+';
const LISTENER_OR_CLUSTER_WITH_NAME = '(?:listener|cluster)\\..*?';

function expand(re: string): string {
  return re
    .replace(/<ADDRESS>/g, ADDRESS)
    .replace(/<CIPHER>/g, CIPHER)
    .replace(/<TLS_VERSION>/g, TLS_VERSION)
    .replace(/<TAG_VALUE>/g, TAG_VALUE)
    .replace(/<ROUTE_CONFIG_NAME>/g, ROUTE_CONFIG_NAME)
    .replace(/<LISTENER_OR_CLUSTER_WITH_NAME>/g, LISTENER_OR_CLUSTER_WITH_NAME);
}

function regexPrefix(re: string): string {
  const m = /^\^([a-z_]+)\\\./.exec(re);
  return m ? m[1] : '';
}

function regexExtractor(name: string, source: string, negativeMatch = ''): Extractor {
  const expanded = expand(source);
  // 'd' flag gives capture-group indices.
  const re = new RegExp(expanded, 'd');
  return {
    name,
    prefix: regexPrefix(expanded),
    match(statName) {
      const m = re.exec(statName);
      if (!m || m[1] === undefined || !m.indices) return null;
      const removeIdx = m.indices[1];
      if (!removeIdx) return null;
      const value = m[2] !== undefined ? m[2] : m[1];
      if (negativeMatch && value === negativeMatch) return null;
      return [removeIdx[0], removeIdx[1], value];
    },
  };
}

function tokenizedExtractor(name: string, pattern: string): Extractor {
  const pat = pattern.split('.');
  const prefix = pat[0] === '*' || pat[0] === '**' || pat[0] === '$' ? '' : pat[0];
  // Returns the index of the input token matched by '$', or -1.
  const search = (tokens: string[], ti: number, pi: number): number => {
    if (pi === pat.length) return ti === tokens.length ? -2 : -1; // -2: matched, no $ yet here
    const p = pat[pi];
    if (p === '**') {
      for (let k = ti; k <= tokens.length; k++) {
        const r = search(tokens, k, pi + 1);
        if (r !== -1) return r;
      }
      return -1;
    }
    if (ti >= tokens.length) return -1;
    if (p === '$') {
      const r = search(tokens, ti + 1, pi + 1);
      return r === -1 ? -1 : ti;
    }
    if (p !== '*' && p !== tokens[ti]) return -1;
    return search(tokens, ti + 1, pi + 1);
  };
  return {
    name,
    prefix,
    match(statName, tokens) {
      const idx = search(tokens, 0, 0);
      if (idx < 0) return null;
      let start = 0;
      for (let k = 0; k < idx; k++) start += tokens[k].length + 1;
      const value = tokens[idx];
      let end = start + value.length;
      if (idx < tokens.length - 1) end += 1; // remove the trailing dot
      else if (start > 0) start -= 1; // last token: remove the preceding dot instead
      return [start, end, value];
    },
  };
}

/** Envoy's default extractors, in Envoy's definition order. */
function defaultExtractors(): Extractor[] {
  const r = regexExtractor;
  const t = tokenizedExtractor;
  const regexes: Extractor[] = [
    r('envoy.response_code', '_rq(_(\\d{3}))$'),
    r('envoy.response_code_class', '_rq_((\\d))xx$'),
    r(
      'envoy.dynamo_partition_id',
      '^http\\.<TAG_VALUE>\\.dynamodb\\.table\\.<TAG_VALUE>\\.capacity\\.<TAG_VALUE>(\\.__partition_id=(\\w{7}))$',
    ),
    r(
      'envoy.dynamo_operation',
      '^http\\.<TAG_VALUE>\\.dynamodb.(?:operation|table\\.<TAG_VALUE>\\.capacity)(\\.(<TAG_VALUE>))(?:\\.|$)',
    ),
    r('envoy.dynamo_table', '^http\\.<TAG_VALUE>\\.dynamodb.(?:table|error)\\.((<TAG_VALUE>)\\.)'),
    r('envoy.ssl_cipher', '^listener\\..*?\\.ssl\\.ciphers(\\.(<CIPHER>))$'),
    r('envoy.ssl_curve', '^<LISTENER_OR_CLUSTER_WITH_NAME>\\.ssl\\.curves(\\.(<CIPHER>))$'),
    r('envoy.ssl_sigalg', '^<LISTENER_OR_CLUSTER_WITH_NAME>\\.ssl\\.sigalgs(\\.(<CIPHER>))$'),
    r('envoy.ssl_version', '^<LISTENER_OR_CLUSTER_WITH_NAME>\\.ssl\\.versions(\\.(<TLS_VERSION>))$'),
    r('cipher_suite', '^cluster\\.<TAG_VALUE>\\.ssl\\.ciphers(\\.(<CIPHER>))$'),
    r('envoy.http_conn_manager_prefix', '^listener\\..*?\\.http\\.((<TAG_VALUE>)\\.)'),
    r('envoy.worker_id', '^(?:listener\\.(?:<ADDRESS>|<TAG_VALUE>)\\.|server\\.|listener_manager\\.)worker_((\\d+)\\.)'),
    r('envoy.listener_address', '^listener\\.((<ADDRESS>|<TAG_VALUE>)\\.)', 'admin'),
    r('envoy.rds_route_config', '^http\\.<TAG_VALUE>\\.rds\\.((<ROUTE_CONFIG_NAME>)\\.)\\w+?$'),
  ];
  const tokenized: Extractor[] = [
    t('envoy.mongo_callsite', 'mongo.*.collection.*.callsite.$.query.**'),
    t('envoy.mongo_collection', 'mongo.*.collection.$.**.query.*'),
    t('envoy.mongo_cmd', 'mongo.*.cmd.$.**'),
    t('envoy.grpc_bridge_method', 'cluster.*.grpc.*.$.**'),
    t('envoy.http_user_agent', 'http.*.user_agent.$.**'),
    t('envoy.virtual_cluster', 'vhost.*.vcluster.$.**'),
    t('envoy.fault_downstream_cluster', 'http.*.fault.$.**'),
    t('envoy.grpc_bridge_service', 'cluster.*.grpc.$.**'),
    t('envoy.tcp_prefix', 'tcp.$.**'),
    t('envoy.udp_prefix', 'udp.$.**'),
    t('envoy.clientssl_prefix', 'auth.clientssl.$.**'),
    t('envoy.ratelimit_prefix', 'ratelimit.$.**'),
    t('envoy.cluster_name', 'cluster.$.**'),
    t('envoy.ext_authz_prefix', 'cluster.*.ext_authz.$.**'),
    t('envoy.ext_authz_prefix', 'http.*.ext_authz.$.**'),
    t('envoy.http_conn_manager_prefix', 'http.$.**'),
    t('envoy.virtual_host', 'vhost.$.**'),
    t('envoy.mongo_prefix', 'mongo.$.**'),
    t('envoy.route', 'vhost.*.route.$.**'),
    t('envoy.thrift_prefix', 'thrift.$.**'),
    t('envoy.redis_prefix', 'redis.$.**'),
    t('envoy.local_http_ratelimit_prefix', '$.http_local_rate_limit.**'),
    t('envoy.local_network_ratelimit_prefix', 'local_rate_limit.$.**'),
    t('envoy.local_listener_ratelimit_prefix', 'listener_local_ratelimit.$.**'),
    t('envoy.dns_filter_prefix', 'dns_filter.$.**'),
  ];
  return [...regexes, ...tokenized];
}

/** Extracts tags from stat names with Envoy's default extractors; results are cached per name. */
export class TagExtractor {
  private readonly noPrefix: Extractor[];
  private readonly byPrefix = new Map<string, Extractor[]>();
  private readonly cache = new Map<string, TagExtraction>();

  constructor(extractors: Extractor[] = defaultExtractors()) {
    this.noPrefix = extractors.filter((e) => e.prefix === '');
    for (const e of extractors) {
      if (e.prefix === '') continue;
      let list = this.byPrefix.get(e.prefix);
      if (!list) this.byPrefix.set(e.prefix, (list = []));
      list.push(e);
    }
  }

  extract(name: string): TagExtraction {
    const cached = this.cache.get(name);
    if (cached) return cached;
    const tokens = name.split('.');
    const tags: Tag[] = [];
    const remove: Array<[number, number]> = [];
    const seen = new Set<string>();
    const run = (list: Extractor[] | undefined): void => {
      if (!list) return;
      for (const e of list) {
        if (seen.has(e.name)) continue;
        const m = e.match(name, tokens);
        if (!m) continue;
        seen.add(e.name);
        tags.push({ name: e.name, value: m[2] });
        remove.push([m[0], m[1]]);
      }
    };
    run(this.noPrefix);
    run(this.byPrefix.get(tokens[0]));
    let extractedName = name;
    if (remove.length > 0) {
      const drop = new Uint8Array(name.length);
      for (const [s, e] of remove) drop.fill(1, s, e);
      extractedName = '';
      for (let i = 0; i < name.length; i++) if (!drop[i]) extractedName += name[i];
    }
    const out = { extractedName, tags };
    this.cache.set(name, out);
    return out;
  }
}

let defaultExtractor: TagExtractor | undefined;
/** The process-wide extractor with Envoy's default tag specifiers. */
export function defaultTagExtractor(): TagExtractor {
  if (!defaultExtractor) defaultExtractor = new TagExtractor();
  return defaultExtractor;
}
