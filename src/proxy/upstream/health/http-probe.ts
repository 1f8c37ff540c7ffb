/**
 * Envoy's HTTP health check over HTTP/1.1 (node:http; not the request path): the configured
 * method and path, `host` = http_health_check.host or the cluster name, `user-agent: Envoy/HC`,
 * request_headers_to_add/remove, optional body. A status outside expected_statuses (default
 * [200, 201)) fails at once unless it is in retriable_statuses; `x-envoy-degraded` marks the host
 * degraded; `x-envoy-immediate-health-check-fail` on a failure excludes it; receive payloads must
 * appear in the first response_buffer_size bytes; service_name_matcher checks
 * `x-envoy-upstream-healthchecked-cluster`.
 */
import http from 'node:http';
import type { HttpCheckSpec } from './config';
import { payloadMatches } from './payload';
import { FailureType, Probe, ProbeSink, ProbeTarget } from './probe';
import type { Counter } from '../../telemetry/stats';

function inRanges(code: number, ranges: HttpCheckSpec['expected']): boolean {
  for (const [s, e] of ranges) if (code >= s && code < e) return true;
  return false;
}

export class HttpProbe implements Probe {
  private agent: http.Agent;
  private req: http.ClientRequest | null = null;
  private readonly headers: Array<readonly [string, string]>;

  constructor(
    private readonly spec: HttpCheckSpec,
    private readonly target: ProbeTarget,
    private readonly sink: ProbeSink,
    reuseConnection: boolean,
    private readonly verifyCluster: Counter,
  ) {
    this.agent = new http.Agent({ keepAlive: reuseConnection, maxSockets: 1 });
    const tls = target.tls;
    // [tls] Through the cluster's TLS transport socket (the request waits for the handshake).
    if (tls !== undefined) this.agent.createConnection = () => tls.connect({ host: target.address, port: target.port });
    const base: Array<readonly [string, string]> = [
      ['host', target.authority],
      ['user-agent', 'Envoy/HC'],
    ];
    const kept = base.filter(([k]) => !spec.removeHeaders.includes(k) || k === 'host');
    this.headers = [...kept, ...spec.headers];
    if (spec.send) this.headers.push(['content-length', String(spec.send.length)]);
  }

  start(): void {
    const spec = this.spec;
    const flat: string[] = [];
    for (const [k, v] of this.headers) flat.push(k, v);
    const req = http.request({
      host: this.target.address,
      port: this.target.port,
      method: spec.method,
      path: spec.path,
      headers: flat,
      agent: this.agent,
      setHost: false,
    });
    this.req = req;
    req.on('error', (err: Error) => {
      if (this.req !== req) return;
      this.req = null;
      this.sink.failure(FailureType.NETWORK, false, err.message);
    });
    req.on('response', (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const want = spec.receive.length > 0;
      const limit = spec.responseBufferSize;
      res.on('data', (d: Buffer) => {
        if (!want) return;
        if (limit !== 0 && size >= limit) return;
        const take = limit !== 0 ? d.subarray(0, limit - size) : d;
        chunks.push(take);
        size += take.length;
      });
      res.on('error', (err: Error) => {
        if (this.req !== req) return;
        this.req = null;
        this.sink.failure(FailureType.NETWORK, false, err.message);
      });
      res.on('end', () => {
        if (this.req !== req) return;
        this.req = null;
        this.evaluate(res, want ? Buffer.concat(chunks, size) : undefined);
      });
    });
    req.end(spec.send);
  }

  private evaluate(res: http.IncomingMessage, body: Buffer | undefined): void {
    const spec = this.spec;
    const code = res.statusCode ?? 0;
    const immediate = res.headers['x-envoy-immediate-health-check-fail'] !== undefined;
    if (body !== undefined && !payloadMatches(spec.receive, body)) {
      if (immediate) this.sink.immediateFail();
      this.sink.failure(FailureType.ACTIVE, false, `status_code=${code} reason=payload_mismatch`);
      return;
    }
    if (!inRanges(code, spec.expected)) {
      if (immediate) this.sink.immediateFail();
      this.sink.failure(FailureType.ACTIVE, inRanges(code, spec.retriable), `status_code=${code} reason=unexpected_status`);
      return;
    }
    const degraded = res.headers['x-envoy-degraded'] !== undefined;
    if (spec.serviceNameMatcher) {
      this.verifyCluster.inc();
      const hv = res.headers['x-envoy-upstream-healthchecked-cluster'];
      const v = typeof hv === 'string' ? hv : '';
      if (!spec.serviceNameMatcher(v)) {
        this.sink.failure(FailureType.ACTIVE, false, `status_code=${code} reason=service_name_mismatch`);
        return;
      }
    }
    this.sink.success(degraded);
  }

  abort(): void {
    const req = this.req;
    this.req = null;
    if (req) req.destroy();
  }

  close(): void {
    this.abort();
    this.agent.destroy();
  }
}
