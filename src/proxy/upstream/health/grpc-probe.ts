/**
 * Envoy's gRPC health check: `grpc.health.v1.Health/Check` over cleartext HTTP/2 (node:http2),
 * request `{service: service_name}`, healthy only for grpc-status 0 with one response message whose
 * status is SERVING (1). Anything else the server answers is an ACTIVE failure; a reset or a lost
 * connection is a NETWORK failure.
 */
import http2 from 'node:http2';
import type { GrpcCheckSpec } from './config';
import { FailureType, Probe, ProbeSink, ProbeTarget } from './probe';

const SERVING = 1;

/** HealthCheckRequest{service} as a gRPC length-prefixed frame. */
export function encodeHealthCheckRequest(service: string): Buffer {
  const s = Buffer.from(service, 'utf8');
  const varint: number[] = [];
  let n = s.length;
  while (n > 0x7f) {
    varint.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  varint.push(n);
  const msg = s.length > 0 ? Buffer.concat([Buffer.from([0x0a, ...varint]), s]) : Buffer.alloc(0);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(msg.length, 1);
  return Buffer.concat([head, msg]);
}

/** Reads HealthCheckResponse.status (field 1, varint) from a message; 0 (UNKNOWN) when absent; -1 when malformed. */
export function decodeServingStatus(msg: Buffer): number {
  let i = 0;
  let status = 0;
  const varint = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      if (i >= msg.length || shift > 35) return -1;
      const b = msg[i++];
      v += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return v;
      shift += 7;
    }
  };
  while (i < msg.length) {
    const key = varint();
    if (key < 0) return -1;
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      const v = varint();
      if (v < 0) return -1;
      if (field === 1) status = v;
    } else if (wire === 2) {
      const len = varint();
      if (len < 0 || i + len > msg.length) return -1;
      i += len;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else return -1;
  }
  return i === msg.length ? status : -1;
}

function grpcMessage(m: http2.IncomingHttpHeaders): string {
  const v = m['grpc-message'];
  if (typeof v !== 'string' || v === '') return '';
  try {
    return ` (${decodeURIComponent(v)})`;
  } catch {
    return ` (${v})`;
  }
}

export class GrpcProbe implements Probe {
  private session: http2.ClientHttp2Session | null = null;
  private stream: http2.ClientHttp2Stream | null = null;
  private readonly body: Buffer;

  constructor(
    private readonly spec: GrpcCheckSpec,
    private readonly target: ProbeTarget,
    private readonly sink: ProbeSink,
    private readonly reuseConnection: boolean,
    private readonly timeoutMs: number,
  ) {
    this.body = encodeHealthCheckRequest(spec.serviceName);
  }

  private connect(): http2.ClientHttp2Session {
    let s = this.session;
    if (s && !s.closed && !s.destroyed) return s;
    const a = this.target.address.includes(':') ? `[${this.target.address}]` : this.target.address;
    const tls = this.target.tls;
    const target = this.target;
    s =
      tls !== undefined
        ? http2.connect(`https://${a}:${target.port}`, { createConnection: () => tls.connect({ host: target.address, port: target.port, alpn: ['h2'] }) })
        : http2.connect(`http://${a}:${target.port}`);
    const sess = s;
    this.session = sess;
    // Health checks never keep the process alive by themselves (their timers are unref'd too).
    sess.unref();
    sess.on('error', () => {
      /* the stream reports */
    });
    sess.on('goaway', () => {
      if (this.session === sess) this.session = null;
    });
    sess.on('close', () => {
      if (this.session === sess) this.session = null;
    });
    return sess;
  }

  start(): void {
    const sess = this.connect();
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': '/grpc.health.v1.Health/Check',
      ':authority': this.target.authority,
      ':scheme': 'http',
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': 'Envoy/HC',
      'grpc-timeout': `${Math.max(1, Math.ceil(this.timeoutMs))}m`,
    };
    for (const [k, v] of this.spec.metadata) {
      const cur = headers[k];
      headers[k] = cur === undefined ? v : Array.isArray(cur) ? [...cur, v] : [String(cur), v];
    }
    let st: http2.ClientHttp2Stream;
    try {
      st = sess.request(headers, { endStream: false });
    } catch (err) {
      this.dropSession();
      this.sink.failure(FailureType.NETWORK, false, err instanceof Error ? err.message : String(err));
      return;
    }
    this.stream = st;
    let resHeaders: http2.IncomingHttpHeaders | null = null;
    let trailers: http2.IncomingHttpHeaders | null = null;
    const chunks: Buffer[] = [];
    st.on('response', (h) => {
      resHeaders = h;
    });
    st.on('trailers', (t) => {
      trailers = t;
    });
    st.on('data', (d: Buffer) => chunks.push(d));
    st.on('error', () => {
      /* 'close' reports */
    });
    st.on('end', () => {
      if (this.stream !== st) return;
      this.stream = null;
      this.complete(resHeaders, trailers, Buffer.concat(chunks));
    });
    st.on('close', () => {
      if (this.stream !== st) return;
      this.stream = null;
      if (!this.reuseConnection) this.dropSession();
      this.sink.failure(FailureType.NETWORK, false, `stream closed (code ${st.rstCode ?? 0})`);
    });
    st.end(this.body);
  }

  private complete(h: http2.IncomingHttpHeaders | null, t: http2.IncomingHttpHeaders | null, data: Buffer): void {
    if (!this.reuseConnection) this.dropSession();
    const fail = (why: string): void => this.sink.failure(FailureType.ACTIVE, false, why);
    if (h === null) return fail('no response headers');
    const status = Number(h[':status']);
    const grpcStatusOf = (m: http2.IncomingHttpHeaders | null): number | undefined => {
      const v = m?.['grpc-status'];
      return typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : undefined;
    };
    if (status !== 200) return fail(`non-200 HTTP response ${status}`);
    const ct = h['content-type'];
    if (typeof ct !== 'string' || !/^application\/grpc(\+|;|$)/.test(ct)) return fail('not a gRPC response');
    const gs = t ? grpcStatusOf(t) : grpcStatusOf(h);
    if (gs === undefined) return fail('invalid gRPC status');
    if (gs !== 0) return fail(`grpc_status=${gs}${grpcMessage(t ?? h)}`);
    // Exactly one uncompressed message.
    if (data.length < 5 || data[0] !== 0) return fail('invalid grpc.health.v1 RPC payload');
    const len = data.readUInt32BE(1);
    if (data.length !== 5 + len) return fail(data.length > 5 + len ? 'unexpected streaming' : 'invalid grpc.health.v1 RPC payload');
    const serving = decodeServingStatus(data.subarray(5));
    if (serving !== SERVING) return fail(`service_status=${serving}`);
    this.sink.success(false);
  }

  private dropSession(): void {
    const s = this.session;
    this.session = null;
    if (s && !s.destroyed) s.destroy();
  }

  abort(): void {
    const st = this.stream;
    this.stream = null;
    if (st && !st.destroyed) st.close(http2.constants.NGHTTP2_CANCEL);
    if (!this.reuseConnection) this.dropSession();
  }

  close(): void {
    this.abort();
    this.dropSession();
  }
}
