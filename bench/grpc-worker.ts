// The gRPC suite's processes: `node grpc-worker.js server PORT` runs a grpc-js unary echo server;
// `node grpc-worker.js client HOST:PORT SECONDS INFLIGHT` keeps INFLIGHT unary calls outstanding on
// one channel for SECONDS and prints {"calls":N,"errors":E,"seconds":S} on stdout.
import * as grpc from '@grpc/grpc-js';

const identity = (b: Buffer): Buffer => b;
const UNARY: grpc.MethodDefinition<Buffer, Buffer> = {
  path: '/weft.bench.Echo/Unary',
  requestStream: false,
  responseStream: false,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
};
const SERVICE = { unary: UNARY };

function server(port: number): void {
  const s = new grpc.Server();
  s.addService(SERVICE, { unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request) });
  s.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err) {
      console.error(err.message);
      process.exit(1);
    }
    console.error(`grpc server on :${port}`);
  });
}

function client(target: string, seconds: number, inflight: number): void {
  const Client = grpc.makeGenericClientConstructor(SERVICE, 'Echo');
  const c = new Client(target, grpc.credentials.createInsecure()) as unknown as {
    unary(req: Buffer, cb: (e: grpc.ServiceError | null) => void): void;
    close(): void;
  };
  const payload = Buffer.from('hello weft');
  let calls = 0;
  let errors = 0;
  let stopped = false;
  const start = performance.now();
  const done = (e: grpc.ServiceError | null): void => {
    if (e) errors++;
    else calls++;
    if (!stopped) c.unary(payload, done);
  };
  for (let i = 0; i < inflight; i++) c.unary(payload, done);
  setTimeout(() => {
    stopped = true;
    const s = (performance.now() - start) / 1000;
    process.stdout.write(JSON.stringify({ calls, errors, seconds: Number(s.toFixed(3)) }) + '\n');
    c.close();
    setTimeout(() => process.exit(0), 200).unref();
  }, seconds * 1000);
}

const [mode, a, b, n] = process.argv.slice(2);
if (mode === 'server') server(Number(a));
else if (mode === 'client') client(a, Number(b), Number(n));
else {
  console.error('usage: grpc-worker server PORT | client HOST:PORT SECONDS INFLIGHT');
  process.exit(2);
}
