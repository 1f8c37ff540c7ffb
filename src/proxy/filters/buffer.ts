/**
 * envoy.filters.http.buffer (envoy.extensions.filters.http.buffer.v3.Buffer) with the per-route
 * BufferPerRoute (disabled, or a Buffer that replaces the filter's).
 *
 * As Envoy's BufferFilter: a request with a body is held (headers and every chunk: StopIteration)
 * until the body has ended, then let go whole, with content-length set from the buffered size when
 * the request had none (transfer-encoding is then dropped: the body is no longer chunked). A body
 * larger than max_request_bytes is answered 413 "Payload Too Large", details
 * "request_payload_too_large" (in Envoy the connection manager sends it when the decoder buffer
 * limit is exceeded). Header-only requests and disabled routes pass untouched.
 */
import { joinPath, rejectUnsupported, type ConfigIssue } from '../../lib/config-error';
import { readNumber, readObject, type Decoded } from '../../lib/decoded-read';
import type { HeaderMap } from '../../lib/headers';
import {
  FilterStatus,
  type FilterCallbacks,
  type HttpFilter,
  type HttpFilterFactory,
  type HttpFilterType,
} from '../http/filter';
import { checkPerRouteType } from './common';

export const BUFFER_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer';
export const BUFFER_PER_ROUTE_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.buffer.v3.BufferPerRoute';
export const REQUEST_PAYLOAD_TOO_LARGE = 'request_payload_too_large';

/** Compiled buffer settings (filter-level or per-route). */
export class BufferSettings {
  constructor(
    readonly disabled: boolean,
    readonly maxRequestBytes: number,
  ) {}
}

function compileBuffer(config: Decoded, path: string, issues: ConfigIssue[]): BufferSettings | undefined {
  const before = issues.length;
  rejectUnsupported(config, path, ['max_request_bytes'], issues);
  const max = readNumber(config, 'max_request_bytes', path, issues, { gt: 0, integer: true, max: 0xffffffff });
  if (config.max_request_bytes === undefined) issues.push({ path: joinPath(path, 'max_request_bytes'), message: 'max_request_bytes is required' });
  if (issues.length !== before || max === undefined) return undefined;
  return new BufferSettings(false, max);
}

const DISABLED = new BufferSettings(true, 0);

class BufferFilter implements HttpFilter {
  private settings: BufferSettings;
  private headers: HeaderMap | null = null;
  private bytes = 0;
  private done = false;

  constructor(
    settings: BufferSettings,
    private readonly cb: FilterCallbacks,
  ) {
    this.settings = settings;
  }

  decodeHeaders(headers: HeaderMap, endStream: boolean): FilterStatus {
    if (endStream) return FilterStatus.Continue;
    this.settings = this.cb.perRouteConfig<BufferSettings>() ?? this.settings;
    if (this.settings.disabled) return FilterStatus.Continue;
    this.headers = headers;
    return FilterStatus.StopIteration;
  }

  decodeData(chunk: Buffer, endStream: boolean): FilterStatus {
    if (this.headers === null || this.done) return FilterStatus.Continue;
    this.bytes += chunk.length;
    if (this.bytes > this.settings.maxRequestBytes) {
      this.done = true;
      this.cb.sendLocalReply(413, 'Payload Too Large', { details: REQUEST_PAYLOAD_TOO_LARGE });
      return FilterStatus.StopIteration;
    }
    if (!endStream) return FilterStatus.StopIteration;
    this.done = true;
    const h = this.headers;
    if (!h.has('content-length')) {
      h.remove('transfer-encoding');
      h.set('content-length', String(this.bytes));
    }
    return FilterStatus.Continue;
  }
}

export const bufferFilterType: HttpFilterType = {
  typeUrl: BUFFER_TYPE_URL,
  compile(config: Decoded, name: string, path: string, issues: ConfigIssue[]): HttpFilterFactory | undefined {
    const s = compileBuffer(config, path, issues);
    if (!s) return undefined;
    return { name, create: (cb) => new BufferFilter(s, cb) };
  },
  compilePerRoute(config: Decoded, path: string, issues: ConfigIssue[]): BufferSettings | undefined {
    if (!checkPerRouteType(config, path, issues, [BUFFER_PER_ROUTE_TYPE_URL])) return undefined;
    const before = issues.length;
    rejectUnsupported(config, path, ['disabled', 'buffer'], issues);
    const hasDisabled = config.disabled !== undefined;
    const hasBuffer = config.buffer !== undefined;
    if (hasDisabled === hasBuffer) {
      issues.push({ path, message: hasBuffer ? 'only one of disabled, buffer may be set' : 'one of disabled, buffer is required' });
      return undefined;
    }
    if (hasDisabled) {
      if (config.disabled !== true) issues.push({ path: joinPath(path, 'disabled'), message: 'value must equal true' });
      return issues.length === before ? DISABLED : undefined;
    }
    const b = readObject(config, 'buffer', path, issues);
    if (!b) return undefined;
    const s = compileBuffer(b, joinPath(path, 'buffer'), issues);
    return issues.length === before ? s : undefined;
  },
};
