/**
 * Envoy's TCP health check: connect; with no receive payloads a successful connect passes (and
 * the connection is closed); otherwise write `send` and pass once every receive segment has
 * arrived in order. An unexpected close is a network failure. With reuse_connection the
 * connection stays open between checks.
 */
import net from 'node:net';
import type { TcpCheckSpec } from './config';
import { payloadMatches } from './payload';
import { FailureType, Probe, ProbeSink, ProbeTarget } from './probe';

export class TcpProbe implements Probe {
  private sock: net.Socket | null = null;
  private buffered: Buffer = Buffer.alloc(0);
  private expectClose = false;

  constructor(
    private readonly spec: TcpCheckSpec,
    private readonly target: ProbeTarget,
    private readonly sink: ProbeSink,
    private readonly reuseConnection: boolean,
  ) {}

  start(): void {
    let sock = this.sock;
    if (sock === null) {
      const tls = this.target.tls;
      const s = tls !== undefined ? tls.connect({ host: this.target.address, port: this.target.port }) : net.connect({ host: this.target.address, port: this.target.port });
      sock = s;
      this.sock = s;
      this.expectClose = false;
      this.buffered = Buffer.alloc(0);
      s.setNoDelay(true);
      s.unref();
      s.on(tls?.readyEvent ?? 'connect', () => {
        if (this.sock !== s) return;
        if (this.spec.receive.length === 0) {
          this.drop(s);
          this.sink.success(false);
        }
      });
      s.on('data', (d: Buffer) => this.onData(s, d));
      s.on('error', () => {
        /* followed by 'close' */
      });
      s.on('close', () => {
        if (this.sock !== s) return;
        this.sock = null;
        if (!this.expectClose) this.sink.failure(FailureType.NETWORK, false, 'connection closed');
      });
    }
    if (this.spec.send) sock.write(this.spec.send);
  }

  private onData(s: net.Socket, d: Buffer): void {
    if (this.sock !== s) return;
    this.buffered = this.buffered.length === 0 ? d : Buffer.concat([this.buffered, d]);
    if (payloadMatches(this.spec.receive, this.buffered)) {
      this.buffered = Buffer.alloc(0);
      if (!this.reuseConnection) this.drop(s);
      this.sink.success(false);
    }
  }

  private drop(s: net.Socket): void {
    this.expectClose = true;
    if (this.sock === s) this.sock = null;
    s.destroy();
  }

  abort(): void {
    const s = this.sock;
    if (s) this.drop(s);
  }

  close(): void {
    this.abort();
  }
}
