import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { readBool, readEnum, readObject, readString, type Decoded } from '../../lib/decoded-read';
import type { HeaderMap } from '../../lib/headers';
import type { StreamInfo } from '../stream-info';
import { compileFormatter, type Formatter } from '../telemetry/format';

/**
 * envoy.config.core.v3.HeaderValueOption, compiled once: the header, its value (constant, or a
 * formatter when it holds %OPERATORS%), the append action and keep_empty_value. Shared by route
 * header mutation and the HTTP filters that add headers.
 */

/** Checks the key of an added header; pushes an issue and returns false when it may not be set. */
export type HeaderKeyCheck = (key: string, path: string, issues: ConfigIssue[]) => boolean;

export const enum AppendAction {
  AppendIfExistsOrAdd = 0,
  AddIfAbsent = 1,
  OverwriteIfExistsOrAdd = 2,
  OverwriteIfExists = 3,
}

const APPEND_ACTIONS = ['APPEND_IF_EXISTS_OR_ADD', 'ADD_IF_ABSENT', 'OVERWRITE_IF_EXISTS_OR_ADD', 'OVERWRITE_IF_EXISTS'] as const;

/** One compiled HeaderValueOption; its value may contain %OPERATORS%. */
export class HeaderAdd {
  constructor(
    readonly key: string,
    private readonly constant: string | null,
    private readonly formatter: Formatter | null,
    readonly action: AppendAction,
    readonly keepEmpty: boolean,
  ) {}

  value(info: StreamInfo): string {
    return this.constant !== null ? this.constant : (this.formatter as Formatter)(info);
  }

  /** Applies this one entry to `headers` (Envoy's header_mutation AppendMutation semantics). */
  apply(headers: HeaderMap, info: StreamInfo): void {
    const v = this.value(info);
    if (v.length === 0 && !this.keepEmpty) return;
    switch (this.action) {
      case AppendAction.AppendIfExistsOrAdd:
        headers.add(this.key, v);
        return;
      case AppendAction.AddIfAbsent:
        if (!headers.has(this.key)) headers.add(this.key, v);
        return;
      case AppendAction.OverwriteIfExists:
        if (headers.has(this.key)) headers.set(this.key, v);
        return;
      case AppendAction.OverwriteIfExistsOrAdd:
        headers.set(this.key, v);
        return;
    }
  }
}

export function compileHeaderValueOption(opt: Decoded, p: string, issues: ConfigIssue[], checkKey: HeaderKeyCheck): HeaderAdd | undefined {
  const before = issues.length;
  rejectUnsupported(opt, p, ['header', 'append', 'append_action', 'keep_empty_value'], issues);
  const hv = readObject(opt, 'header', p, issues);
  if (!hv) {
    if (opt.header === undefined) issues.push({ path: joinPath(p, 'header'), message: 'header is required' });
    return undefined;
  }
  const hp = joinPath(p, 'header');
  rejectUnsupported(hv, hp, ['key', 'value', 'raw_value'], issues);
  const key = (readString(hv, 'key', hp, issues) ?? '').toLowerCase();
  checkKey(key, joinPath(hp, 'key'), issues);
  let value = readString(hv, 'value', hp, issues) ?? '';
  const raw = hv.raw_value;
  if (raw !== undefined) {
    if (value !== '') issues.push({ path: hp, message: 'only one of value, raw_value may be set' });
    if (Buffer.isBuffer(raw)) value = raw.toString('latin1');
    else if (typeof raw === 'string') value = raw;
    else issues.push({ path: joinPath(hp, 'raw_value'), message: 'expected bytes' });
  }
  if (/[\r\n\0]/.test(value)) issues.push({ path: joinPath(hp, 'value'), message: 'header value contains CR, LF or NUL' });
  const append = readBool(opt, 'append', p, issues);
  const named = readEnum(opt, 'append_action', p, issues, APPEND_ACTIONS);
  let action = AppendAction.AppendIfExistsOrAdd;
  if (append !== undefined) {
    if (named !== undefined && named !== 'APPEND_IF_EXISTS_OR_ADD') {
      issues.push({ path: p, message: "Both append and append_action are set and it's not allowed" });
    }
    action = append ? AppendAction.AppendIfExistsOrAdd : AppendAction.OverwriteIfExistsOrAdd;
  } else if (named !== undefined) {
    action = APPEND_ACTIONS.indexOf(named) as AppendAction;
  }
  const keepEmpty = readBool(opt, 'keep_empty_value', p, issues) ?? false;
  let formatter: Formatter | null = null;
  let constant: string | null = value;
  if (value.includes('%')) {
    try {
      formatter = compileFormatter(value, { omitEmptyValues: true });
      constant = null;
    } catch (e) {
      issues.push({ path: joinPath(hp, 'value'), message: `invalid header value format: ${(e as Error).message}` });
    }
  }
  if (issues.length !== before) return undefined;
  return new HeaderAdd(key, constant, formatter, action, keepEmpty);
}

