import type { StreamInfo } from '../stream-info';
import type { MatchedRoute, RouteRequest } from './contracts';
import type { FilterCallbacks, LocalReplyOptions } from './filter';

/** What a filter's view needs from its stream (the active stream implements it). */
export interface FilterHost extends RouteRequest {
  readonly info: StreamInfo;
  currentRoute(): MatchedRoute | null;
  clearRouteCache(): void;
  pickedCluster(): string | null;
  perRouteConfig(filterIndex: number): unknown;
  filterLocalReply(status: number, body: string, opts: LocalReplyOptions): void;
  continueDecoding(filterIndex: number): void;
  addTimer(t: NodeJS.Timeout): void;
}

/** Per-filter view of the stream, handed to one filter instance. */
export class FilterHandle implements FilterCallbacks {
  constructor(
    private readonly stream: FilterHost,
    readonly index: number,
  ) {}
  get info(): StreamInfo {
    return this.stream.info;
  }
  get request(): RouteRequest {
    return this.stream;
  }
  route(): MatchedRoute | null {
    return this.stream.currentRoute();
  }
  clearRouteCache(): void {
    this.stream.clearRouteCache();
  }
  upstreamCluster(): string | null {
    return this.stream.pickedCluster();
  }
  perRouteConfig<T>(): T | undefined {
    return this.stream.perRouteConfig(this.index) as T | undefined;
  }
  sendLocalReply(status: number, body: string, opts: LocalReplyOptions): void {
    this.stream.filterLocalReply(status, body, opts);
  }
  continueDecoding(): void {
    this.stream.continueDecoding(this.index);
  }
  continueEncoding(): void {
    // Encoder filters here never hold the response; nothing to resume.
  }
  setTimeout(ms: number, fn: () => void): void {
    this.stream.addTimer(setTimeout(fn, ms));
  }
}
