import * as grpc from '@grpc/grpc-js';

/**
 * A grpc-js echo service with raw Buffer messages (no protobuf needed): the four call kinds, plus
 * behaviours chosen by request metadata:
 *   x-fail: <code>       answer with that status (and trailer x-trailer: failed)
 *   x-delay-ms: N        wait before answering (ends early if the call is cancelled)
 *   x-count: N           server-streaming: number of messages
 */

const identity = (b: Buffer): Buffer => b;
function method(path: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> {
  return { path, requestStream, responseStream, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity };
}

export const ECHO_SERVICE = {
  unary: method('/weft.test.Echo/Unary', false, false),
  serverStream: method('/weft.test.Echo/ServerStream', false, true),
  clientStream: method('/weft.test.Echo/ClientStream', true, false),
  bidi: method('/weft.test.Echo/Bidi', true, true),
} as const;

export const EchoClient = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo') as unknown as new (
  address: string,
  creds: grpc.ChannelCredentials,
  options?: grpc.ChannelOptions,
) => EchoClientApi;

export interface EchoClientApi extends grpc.Client {
  unary(req: Buffer, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Buffer) => void): grpc.ClientUnaryCall;
  serverStream(req: Buffer, md: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientReadableStream<Buffer>;
  clientStream(md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Buffer) => void): grpc.ClientWritableStream<Buffer>;
  bidi(md: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientDuplexStream<Buffer, Buffer>;
}

export interface EchoServer {
  port: number;
  /** Calls the server saw cancelled by the client (through the proxy). */
  cancelled: number;
  calls: number;
  stop(): Promise<void>;
}

function trailer(extra: Record<string, string> = {}): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('x-trailer', 'ok');
  for (const [k, v] of Object.entries(extra)) md.set(k, v);
  return md;
}

function failure(md: grpc.Metadata): grpc.StatusObject | null {
  const code = md.get('x-fail')[0];
  if (code === undefined) return null;
  return { code: Number(code), details: 'failed on purpose', metadata: trailer({ 'x-trailer': 'failed' }) };
}

export async function startGrpcEcho(maxMessage = 8 * 1024 * 1024): Promise<EchoServer> {
  const state = { cancelled: 0, calls: 0 };
  const server = new grpc.Server({ 'grpc.max_receive_message_length': maxMessage, 'grpc.max_send_message_length': maxMessage });
  server.addService(ECHO_SERVICE, {
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      state.calls++;
      const md = call.metadata;
      const h = md.get('x-echo')[0];
      if (h !== undefined) {
        const echo = new grpc.Metadata();
        echo.set('x-echo', h);
        call.sendMetadata(echo);
      }
      const fail = failure(md);
      const delay = Number(md.get('x-delay-ms')[0] ?? 0);
      const answer = (): void => {
        if (fail !== null) cb(fail);
        else cb(null, call.request, trailer());
      };
      if (delay > 0) {
        const t = setTimeout(answer, delay);
        call.on('cancelled', () => {
          state.cancelled++;
          clearTimeout(t);
        });
      } else answer();
    },
    serverStream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      state.calls++;
      call.on('cancelled', () => state.cancelled++);
      const n = Number(call.metadata.get('x-count')[0] ?? 3);
      const delay = Number(call.metadata.get('x-delay-ms')[0] ?? 0);
      let i = 0;
      const next = (): void => {
        if (call.cancelled) return;
        if (i >= n) {
          call.end(trailer());
          return;
        }
        call.write(Buffer.from(`${call.request.toString()}-${i++}`));
        if (delay > 0) setTimeout(next, delay);
        else setImmediate(next);
      };
      next();
    },
    clientStream: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      state.calls++;
      const parts: Buffer[] = [];
      call.on('data', (b: Buffer) => parts.push(b));
      call.on('cancelled', () => state.cancelled++);
      call.on('end', () => cb(null, Buffer.concat(parts), trailer({ 'x-count': String(parts.length) })));
    },
    bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      state.calls++;
      call.on('cancelled', () => state.cancelled++);
      call.on('data', (b: Buffer) => call.write(Buffer.concat([Buffer.from('echo:'), b])));
      call.on('end', () => call.end(trailer()));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port,
    get cancelled() {
      return state.cancelled;
    },
    get calls() {
      return state.calls;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        setTimeout(() => server.forceShutdown(), 2000).unref();
      }),
  };
}

/** Promise form of a unary call. */
export function unary(client: EchoClientApi, msg: Buffer, md = new grpc.Metadata(), opts: grpc.CallOptions = {}): Promise<{ res: Buffer; status: grpc.StatusObject; headers: grpc.Metadata }> {
  return new Promise((resolve, reject) => {
    let headers = new grpc.Metadata();
    let res: Buffer | undefined;
    let err: grpc.ServiceError | null = null;
    let done = 0;
    const call = client.unary(msg, md, opts, (e, r) => {
      err = e;
      res = r;
      if (++done === 2) finish();
    });
    call.on('metadata', (m: grpc.Metadata) => (headers = m));
    let status: grpc.StatusObject;
    call.on('status', (s: grpc.StatusObject) => {
      status = s;
      if (++done === 2) finish();
    });
    function finish(): void {
      if (err !== null) reject(Object.assign(err as Error, { status }));
      else resolve({ res: res!, status, headers });
    }
  });
}

export const H2_CLUSTER_OPTIONS = {
  typed_extension_protocol_options: {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      explicit_http_config: { http2_protocol_options: {} },
    },
  },
};
