/**
 * One level of request/response header mutation (headers_to_add + headers_to_remove), as Envoy's
 * HeaderParser: removals first; then every value is formatted against the headers as they are
 * after the removals; then overwrites are applied, then appends.
 */
import { joinPath, type ConfigIssue } from '../../lib/config-error';
import type { HeaderMap } from '../../lib/headers';
import type { StreamInfo } from '../stream-info';
import type { Decoded } from '../../lib/decoded-read';
import { AppendAction, compileHeaderValueOption, type HeaderAdd } from './header-value-option';
import { Fields, type Msg } from './fields';


/** Scratch decisions for one apply (no allocation per request; apply never re-enters). */
const SKIP = 0;
const ADD = 1;
const OVERWRITE = 2;

const HEADER_NAME_RE = /^[0-9a-zA-Z!#$%&'*+\-.^_|~`]+$/;

export class HeaderMutation {
  private readonly values: string[];
  private readonly decisions: Uint8Array;

  constructor(
    private readonly removes: readonly string[],
    private readonly adds: readonly HeaderAdd[],
  ) {
    this.values = new Array<string>(adds.length).fill('');
    this.decisions = new Uint8Array(adds.length);
  }

  get empty(): boolean {
    return this.removes.length === 0 && this.adds.length === 0;
  }

  apply(headers: HeaderMap, info: StreamInfo): void {
    const removes = this.removes;
    for (let i = 0; i < removes.length; i++) headers.remove(removes[i]);
    const adds = this.adds;
    const n = adds.length;
    if (n === 0) return;
    const values = this.values;
    const decisions = this.decisions;
    for (let i = 0; i < n; i++) {
      const a = adds[i];
      const v = a.value(info);
      decisions[i] = SKIP;
      if (v.length === 0 && !a.keepEmpty) continue;
      values[i] = v;
      switch (a.action) {
        case AppendAction.AppendIfExistsOrAdd:
          decisions[i] = ADD;
          break;
        case AppendAction.AddIfAbsent:
          if (!headers.has(a.key)) decisions[i] = ADD;
          break;
        case AppendAction.OverwriteIfExists:
          if (headers.has(a.key)) decisions[i] = OVERWRITE;
          break;
        case AppendAction.OverwriteIfExistsOrAdd:
          decisions[i] = OVERWRITE;
          break;
      }
    }
    for (let i = 0; i < n; i++) if (decisions[i] === OVERWRITE) headers.set(adds[i].key, values[i]);
    for (let i = 0; i < n; i++) if (decisions[i] === ADD) headers.add(adds[i].key, values[i]);
  }
}

/** Route header mutations may name any valid header except pseudo-headers and host. */
function checkRouteHeaderKey(key: string, path: string, issues: ConfigIssue[]): boolean {
  if (!HEADER_NAME_RE.test(key.startsWith(':') ? key.slice(1) : key)) {
    issues.push({ path, message: 'a valid header name is required' });
    return false;
  }
  if (!modifiable(key)) {
    issues.push({ path, message: ':-prefixed or host headers may not be modified' });
    return false;
  }
  return true;
}

/** Whether a header may be added/removed by configuration: not a pseudo-header, not host. */
function modifiable(key: string): boolean {
  return key.length > 0 && key.charCodeAt(0) !== 58 && key !== 'host';
}

/**
 * Compiles `<prefix>headers_to_add` and `<prefix>headers_to_remove` of `o` (prefix "request_" or
 * "response_"). Returns null when the level has no mutation, undefined on error.
 */
export function compileHeaderMutation(
  o: Msg,
  path: string,
  prefix: 'request_' | 'response_',
  issues: ConfigIssue[],
): HeaderMutation | null | undefined {
  const f = new Fields(issues);
  const before = issues.length;
  const addKey = `${prefix}headers_to_add`;
  const removeKey = `${prefix}headers_to_remove`;
  const removes: string[] = [];
  const rlist = f.strs(o, removeKey, path);
  for (let i = 0; i < rlist.length; i++) {
    const k = rlist[i].toLowerCase();
    if (!modifiable(k) || !HEADER_NAME_RE.test(k)) {
      issues.push({ path: joinPath(joinPath(path, removeKey), i), message: ':-prefixed or host headers may not be removed' });
    } else {
      removes.push(k);
    }
  }
  const adds: HeaderAdd[] = [];
  for (const [opt, p] of f.msgs(o, addKey, path)) {
    const add = compileHeaderValueOption(opt as Decoded, p, issues, checkRouteHeaderKey);
    if (add !== undefined) adds.push(add);
  }
  if (issues.length !== before) return undefined;
  if (removes.length === 0 && adds.length === 0) return null;
  return new HeaderMutation(removes, adds);
}
