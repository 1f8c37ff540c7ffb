/**
 * Outlier ejection events in the JSON shape of envoy.data.cluster.v3.OutlierDetectionEvent
 * (proto3 JSON with primitive fields always printed, as Envoy's event log writes it), kept in a
 * bounded in-memory ring for admin.
 */

export interface OutlierEjectSuccessRateJson {
  host_success_rate: number;
  cluster_average_success_rate: number;
  cluster_success_rate_ejection_threshold: number;
}

export interface OutlierDetectionEventJson {
  type: string;
  timestamp: string;
  /** UInt64Value: a decimal string in proto3 JSON; absent when there was no previous action. */
  secs_since_last_action?: string;
  cluster_name: string;
  upstream_url: string;
  action: 'EJECT' | 'UNEJECT';
  num_ejections: number;
  enforced: boolean;
  eject_success_rate_event?: OutlierEjectSuccessRateJson;
  eject_consecutive_event?: Record<string, never>;
  eject_failure_percentage_event?: { host_success_rate: number };
}

/** A fixed-capacity ring of the most recent events. */
export class EventRing {
  private readonly buf: (OutlierDetectionEventJson | undefined)[];
  private next = 0;
  private count = 0;

  constructor(readonly capacity = 100) {
    this.buf = new Array<OutlierDetectionEventJson | undefined>(capacity);
  }

  push(e: OutlierDetectionEventJson): void {
    this.buf[this.next] = e;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  /** Oldest first. */
  toArray(): OutlierDetectionEventJson[] {
    const out: OutlierDetectionEventJson[] = [];
    const start = (this.next - this.count + this.capacity) % this.capacity;
    for (let i = 0; i < this.count; i++) out.push(this.buf[(start + i) % this.capacity] as OutlierDetectionEventJson);
    return out;
  }
}

/** A success rate as Envoy stores it in the uint32 event fields (truncated, never negative). */
export function rateField(v: number): number {
  return v > 0 ? Math.min(100, Math.trunc(v)) : 0;
}
