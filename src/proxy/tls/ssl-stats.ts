import type { Counter, StatsStore } from '../telemetry/stats';
import type { PeerVerdict } from './peer-validation';

/** Envoy's per-listener / per-cluster TLS counters: `<prefix>ssl.*`. */
export class SslStats {
  readonly connection_error: Counter;
  readonly handshake: Counter;
  readonly no_certificate: Counter;
  readonly fail_verify_no_cert: Counter;
  readonly fail_verify_error: Counter;
  readonly fail_verify_san: Counter;
  readonly fail_verify_cert_hash: Counter;
  readonly context_update_failed: Counter;
  readonly session_reused: Counter;
  private readonly versions = new Map<string, Counter>();
  private readonly ciphers = new Map<string, Counter>();

  constructor(
    private readonly store: StatsStore,
    private readonly prefix: string,
  ) {
    const p = prefix + 'ssl.';
    this.connection_error = store.counter(p + 'connection_error');
    this.handshake = store.counter(p + 'handshake');
    this.no_certificate = store.counter(p + 'no_certificate');
    this.fail_verify_no_cert = store.counter(p + 'fail_verify_no_cert');
    this.fail_verify_error = store.counter(p + 'fail_verify_error');
    this.fail_verify_san = store.counter(p + 'fail_verify_san');
    this.fail_verify_cert_hash = store.counter(p + 'fail_verify_cert_hash');
    this.context_update_failed = store.counter(p + 'context_update_failed');
    this.session_reused = store.counter(p + 'session_reused');
  }

  verdict(v: Exclude<PeerVerdict, 'ok'>): Counter {
    switch (v) {
      case 'no_cert':
        return this.fail_verify_no_cert;
      case 'fail_verify_error':
        return this.fail_verify_error;
      case 'fail_verify_san':
        return this.fail_verify_san;
      case 'fail_verify_cert_hash':
        return this.fail_verify_cert_hash;
    }
  }

  /** ssl.versions.<TLSv1.3> and ssl.ciphers.<name>; the sets are tiny (a handful of versions/suites). */
  recordSession(version: string | null, cipher: string | undefined): void {
    if (version !== null) this.bump(this.versions, 'versions.' + version);
    if (cipher !== undefined) this.bump(this.ciphers, 'ciphers.' + cipher);
  }

  private bump(map: Map<string, Counter>, key: string): void {
    let c = map.get(key);
    if (c === undefined) {
      if (map.size >= 64) return;
      c = this.store.counter(this.prefix + 'ssl.' + key);
      map.set(key, c);
    }
    c.inc();
  }
}
