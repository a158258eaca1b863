import { boundsOf, type Histogram, quantileOf, type RevisionTraffic, revisionTraffic } from '../../domain/canary.js';
import type { CanaryMetrics, MetricsWindow } from '../../ports/index.js';

/** Latency buckets (ms): exponential from 1 ms by 1.25, 64 finite ones (up to about 1,600 s). */
export const LATENCY_BOUNDS: readonly number[] = boundsOf({ exponential: { numFiniteBuckets: 63, growthFactor: 1.25, scale: 1 } });

/** Requests are counted in slots of this length: a window's edges are this precise. */
const SLOT_MS = 100;

interface Slot {
  requests: number;
  server_errors: number;
  sum_ms: number;
  /** Latency bucket index → requests (sparse: a slot's requests fall in few buckets). */
  buckets: Map<number, number>;
}

/**
 * What the local router served, per service and revision, in 100 ms slots kept for `retentionMs`
 * (the longest canary window and then some): request count, 5xx answers and a latency histogram.
 * Memory is bounded by the slots that saw traffic, each with a handful of buckets.
 */
export class RequestStats {
  private readonly slots = new Map<string, Map<number, Slot>>();
  private prunedAt = 0;

  constructor(private readonly retentionMs = 2 * 3_600_000) {}

  record(service: string, revision: string, status: number, ms: number, at = Date.now()): void {
    const key = `${service}\u0000${revision}`;
    let byTime = this.slots.get(key);
    if (!byTime) {
      byTime = new Map();
      this.slots.set(key, byTime);
    }
    const t = Math.floor(at / SLOT_MS);
    let slot = byTime.get(t);
    if (!slot) {
      slot = { requests: 0, server_errors: 0, sum_ms: 0, buckets: new Map() };
      byTime.set(t, slot);
    }
    slot.requests++;
    if (status >= 500) slot.server_errors++;
    slot.sum_ms += ms;
    const b = bucketOf(ms);
    slot.buckets.set(b, (slot.buckets.get(b) ?? 0) + 1);
    if (at - this.prunedAt > 60_000) this.prune(at);
  }

  /** Requests of a revision that arrived in [from, to), to the slot. */
  query(
    service: string,
    revision: string,
    fromMs: number,
    toMs: number,
  ): { requests: number; server_errors: number; sum_ms: number; histogram: Histogram } {
    const counts = new Array<number>(LATENCY_BOUNDS.length + 1).fill(0);
    let requests = 0;
    let serverErrors = 0;
    let sum = 0;
    const lo = Math.floor(fromMs / SLOT_MS);
    const hi = Math.ceil(toMs / SLOT_MS);
    for (const [t, slot] of this.slots.get(`${service}\u0000${revision}`) ?? []) {
      if (t < lo || t >= hi) continue;
      requests += slot.requests;
      serverErrors += slot.server_errors;
      sum += slot.sum_ms;
      for (const [b, n] of slot.buckets) counts[b] += n;
    }
    return { requests, server_errors: serverErrors, sum_ms: sum, histogram: { bounds: LATENCY_BOUNDS, counts } };
  }

  private prune(now: number): void {
    this.prunedAt = now;
    const oldest = Math.floor((now - this.retentionMs) / SLOT_MS);
    for (const [key, byTime] of this.slots) {
      for (const t of byTime.keys()) if (t < oldest) byTime.delete(t);
      if (byTime.size === 0) this.slots.delete(key);
    }
  }
}

/** The bucket of a latency: 0 below the first bound, i for [bounds[i-1], bounds[i]), the last at or above the last bound. */
function bucketOf(ms: number): number {
  let lo = 0;
  let hi = LATENCY_BOUNDS.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ms < LATENCY_BOUNDS[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The canary's metrics on the local target: what the router counted through each service URL. */
export class LocalCanaryMetrics implements CanaryMetrics {
  readonly source = 'local router';

  constructor(private readonly stats: RequestStats) {}

  async revisionTraffic(service: string, revisions: readonly string[], window: MetricsWindow): Promise<RevisionTraffic[]> {
    return revisions.map((revision) => {
      const q = this.stats.query(service, revision, window.from.getTime(), window.to.getTime());
      return revisionTraffic(revision, q.requests, q.server_errors, {
        p95_ms: quantileOf(q.histogram, 0.95),
        mean_ms: q.requests > 0 ? q.sum_ms / q.requests : null,
      });
    });
  }
}
