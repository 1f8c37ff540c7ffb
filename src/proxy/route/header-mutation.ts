/**
 * One level of request/response header mutation (headers_to_add + headers_to_remove), as Envoy's
 * HeaderParser: removals first; then every value is formatted against the headers as they are
 * after the removals; then overwrites are applied, then appends.
 */
import { joinPath, type ConfigIssue } from '../../lib/config-error';
import type { HeaderMap } from '../../lib/headers';
import type { StreamInfo } from '../stream-info';
import { compileFormatter, type Formatter } from '../telemetry/format';
import { Fields, type Msg } from './fields';

const enum Action {
  AppendIfExistsOrAdd = 0,
  AddIfAbsent = 1,
  OverwriteIfExistsOrAdd = 2,
  OverwriteIfExists = 3,
}

const ACTION_NAMES = ['APPEND_IF_EXISTS_OR_ADD', 'ADD_IF_ABSENT', 'OVERWRITE_IF_EXISTS_OR_ADD', 'OVERWRITE_IF_EXISTS'] as const;

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
    private readonly keys: readonly string[],
    private readonly constants: ReadonlyArray<string | null>,
    private readonly formatters: ReadonlyArray<Formatter | null>,
    private readonly actions: readonly Action[],
    private readonly keepEmpty: readonly boolean[],
  ) {
    this.values = new Array<string>(keys.length).fill('');
    this.decisions = new Uint8Array(keys.length);
  }

  get empty(): boolean {
    return this.removes.length === 0 && this.keys.length === 0;
  }

  apply(headers: HeaderMap, info: StreamInfo): void {
    const removes = this.removes;
    for (let i = 0; i < removes.length; i++) headers.remove(removes[i]);
    const n = this.keys.length;
    if (n === 0) return;
    const values = this.values;
    const decisions = this.decisions;
    for (let i = 0; i < n; i++) {
      const c = this.constants[i];
      const v = c !== null ? c : (this.formatters[i] as Formatter)(info);
      decisions[i] = SKIP;
      if (v.length === 0 && !this.keepEmpty[i]) continue;
      values[i] = v;
      switch (this.actions[i]) {
        case Action.AppendIfExistsOrAdd:
          decisions[i] = ADD;
          break;
        case Action.AddIfAbsent:
          if (!headers.has(this.keys[i])) decisions[i] = ADD;
          break;
        case Action.OverwriteIfExists:
          if (headers.has(this.keys[i])) decisions[i] = OVERWRITE;
          break;
        case Action.OverwriteIfExistsOrAdd:
          decisions[i] = OVERWRITE;
          break;
      }
    }
    for (let i = 0; i < n; i++) if (decisions[i] === OVERWRITE) headers.set(this.keys[i], values[i]);
    for (let i = 0; i < n; i++) if (decisions[i] === ADD) headers.add(this.keys[i], values[i]);
  }
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
  const keys: string[] = [];
  const constants: Array<string | null> = [];
  const formatters: Array<Formatter | null> = [];
  const actions: Action[] = [];
  const keepEmpty: boolean[] = [];
  for (const [opt, p] of f.msgs(o, addKey, path)) {
    f.reject(opt, p, ['header', 'append', 'append_action', 'keep_empty_value']);
    const hv = f.msg(opt, 'header', p);
    if (!hv) {
      issues.push({ path: joinPath(p, 'header'), message: 'header is required' });
      continue;
    }
    const hp = joinPath(p, 'header');
    f.reject(hv, hp, ['key', 'value', 'raw_value']);
    const key = (f.str(hv, 'key', hp) ?? '').toLowerCase();
    if (!HEADER_NAME_RE.test(key.startsWith(':') ? key.slice(1) : key)) {
      issues.push({ path: joinPath(hp, 'key'), message: 'a valid header name is required' });
      continue;
    }
    if (!modifiable(key)) {
      issues.push({ path: joinPath(hp, 'key'), message: ':-prefixed or host headers may not be modified' });
      continue;
    }
    let value = f.str(hv, 'value', hp) ?? '';
    const raw = hv.raw_value;
    if (raw !== undefined && raw !== null) {
      if (hv.value !== undefined && hv.value !== '') {
        issues.push({ path: hp, message: 'only one of value, raw_value may be set' });
        continue;
      }
      if (Buffer.isBuffer(raw)) value = raw.toString('latin1');
      else if (typeof raw === 'string') value = raw;
      else issues.push({ path: joinPath(hp, 'raw_value'), message: 'expected bytes' });
    }
    if (/[\r\n\0]/.test(value)) {
      issues.push({ path: joinPath(hp, 'value'), message: 'header value contains CR, LF or NUL' });
      continue;
    }
    const append = f.bool(opt, 'append', p);
    let action = Action.AppendIfExistsOrAdd;
    const named = f.enumName(opt, 'append_action', p, ACTION_NAMES);
    if (append !== undefined) {
      if (named !== undefined && named !== 'APPEND_IF_EXISTS_OR_ADD') {
        issues.push({ path: p, message: "Both append and append_action are set and it's not allowed" });
        continue;
      }
      action = append ? Action.AppendIfExistsOrAdd : Action.OverwriteIfExistsOrAdd;
    } else if (named !== undefined) {
      action = ACTION_NAMES.indexOf(named) as Action;
    }
    let formatter: Formatter | null = null;
    let constant: string | null = value;
    if (value.includes('%')) {
      try {
        formatter = compileFormatter(value, { omitEmptyValues: true });
        constant = null;
      } catch (e) {
        issues.push({ path: joinPath(hp, 'value'), message: `invalid header value format: ${(e as Error).message}` });
        continue;
      }
    }
    keys.push(key);
    constants.push(constant);
    formatters.push(formatter);
    actions.push(action);
    keepEmpty.push(f.bool(opt, 'keep_empty_value', p) ?? false);
  }
  if (issues.length !== before) return undefined;
  if (removes.length === 0 && keys.length === 0) return null;
  return new HeaderMutation(removes, keys, constants, formatters, actions, keepEmpty);
}
