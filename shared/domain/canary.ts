import { z } from 'zod';

/**
 * Canary analysis, pure: what was measured of the candidate and the stable revision during a
 * canary step's window, the thresholds it is judged against, and the verdict. No I/O here: the
 * measurements come through the CanaryMetrics port (the local router's counters, Cloud
 * Monitoring), the decision is made here, the use case (shared/pipeline/promote.ts) acts on it.
 */

/** What a deployment's canary is judged against (deployment_options; unset fields come from the environment). */
export const CanaryThresholdsSchema = z.strictObject({
  /** The highest share of the candidate's requests that may answer 5xx (0–1). */
  max_error_rate: z.number().min(0).max(1),
  /** The highest p95 latency of the candidate's requests, in milliseconds. */
  max_latency_ms: z.number().positive().max(600_000),
  /** Fewer candidate requests than this in a window is inconclusive: health probes decide. */
  min_requests: z.number().int().min(1).max(1_000_000),
});
export type CanaryThresholds = z.infer<typeof CanaryThresholdsSchema>;

/** What one revision served in the window: requests, 5xx answers and latency. */
export const RevisionTrafficSchema = z.object({
  revision: z.string(),
  requests: z.number().int().min(0),
  /** Answers with a 5xx status (the router's own 502/503 for a revision that did not answer included). */
  server_errors: z.number().int().min(0),
  /** server_errors / requests; null with no requests. */
  error_rate: z.number().nullable(),
  latency_p95_ms: z.number().nullable(),
  latency_mean_ms: z.number().nullable(),
});
export type RevisionTraffic = z.infer<typeof RevisionTrafficSchema>;

export const CanaryVerdictSchema = z.enum(['pending', 'pass', 'breach', 'inconclusive']);
export type CanaryVerdict = z.infer<typeof CanaryVerdictSchema>;

/** One canary step's analysis on the job: what was measured, against what, and the verdict. */
export const CanaryAnalysisSchema = z.object({
  /** The canary step (1-based) whose window this is, and its share of the traffic. */
  step: z.number().int().min(1),
  percent: z.number(),
  window_started_at: z.string(),
  window_seconds: z.number(),
  /** Checks made so far in the window (each a task), and when the last one was. */
  checks: z.number().int().min(0),
  checked_at: z.string().nullable(),
  /** The window is over (or a breach ended it): this is the step's verdict. */
  final: z.boolean(),
  /** Where the numbers come from: the local router, or Cloud Monitoring. */
  source: z.string(),
  candidate: RevisionTrafficSchema.nullable(),
  stable: RevisionTrafficSchema.nullable(),
  thresholds: CanaryThresholdsSchema,
  verdict: CanaryVerdictSchema,
  /** metrics; health_probe when too few requests left the metrics inconclusive, or when the probes failed. */
  decided_by: z.enum(['metrics', 'health_probe']).nullable(),
  /** The last health probe of the candidate's tag URL (one each check). */
  health: z.object({ healthy: z.boolean(), message: z.string() }).nullable(),
  /** Health probes failed in a row: health_attempts of them end the window with a breach, whatever the metrics say. */
  health_failures: z.number().int().min(0).default(0),
  message: z.string(),
});
export type CanaryAnalysis = z.infer<typeof CanaryAnalysisSchema>;

/** The analysis of a window just opened: nothing measured yet. */
export function openWindow(
  step: number,
  percent: number,
  startedAt: string,
  windowSeconds: number,
  thresholds: CanaryThresholds,
  source: string,
): CanaryAnalysis {
  return {
    step,
    percent,
    window_started_at: startedAt,
    window_seconds: windowSeconds,
    checks: 0,
    checked_at: null,
    final: false,
    source,
    candidate: null,
    stable: null,
    thresholds,
    verdict: 'pending',
    decided_by: null,
    health: null,
    health_failures: 0,
    message: `Watching ${percent}% of the traffic for ${windowSeconds} s`,
  };
}

export interface Judgement {
  /** pass and inconclusive mid-window are provisional; breach is final at once. */
  verdict: Exclude<CanaryVerdict, 'pending'>;
  /** Each threshold the candidate broke, in words. */
  breaches: string[];
  message: string;
}

/**
 * The decision: fewer candidate requests than `min_requests` is inconclusive (a window with too
 * little traffic proves nothing either way); otherwise a 5xx rate above `max_error_rate` or a p95
 * latency above `max_latency_ms` is a breach, anything else a pass. The stable revision's numbers
 * are quoted beside the candidate's, so the message shows what the candidate is compared with.
 */
export function judgeCanary(candidate: RevisionTraffic, stable: RevisionTraffic | null, t: CanaryThresholds): Judgement {
  const versus = stable ? `; stable ${stable.revision}: ${describe(stable)}` : '';
  if (candidate.requests < t.min_requests) {
    return {
      verdict: 'inconclusive',
      breaches: [],
      message: `Inconclusive: ${candidate.requests} candidate request${candidate.requests === 1 ? '' : 's'}, fewer than min_requests ${t.min_requests}${versus}`,
    };
  }
  const breaches: string[] = [];
  const rate = candidate.error_rate ?? 0;
  if (rate > t.max_error_rate)
    breaches.push(`5xx rate ${pct(rate)} (${candidate.server_errors}/${candidate.requests}) over max_error_rate ${pct(t.max_error_rate)}`);
  if (candidate.latency_p95_ms !== null && candidate.latency_p95_ms > t.max_latency_ms)
    breaches.push(`p95 latency ${ms(candidate.latency_p95_ms)} over max_latency_ms ${ms(t.max_latency_ms)}`);
  if (breaches.length > 0)
    return { verdict: 'breach', breaches, message: `Breach: candidate ${candidate.revision} ${breaches.join('; ')}${versus}` };
  return { verdict: 'pass', breaches, message: `Pass: candidate ${candidate.revision}: ${describe(candidate)}${versus}` };
}

/** One revision's counts as the port reports them, with its error rate. */
export function revisionTraffic(
  revision: string,
  requests: number,
  serverErrors: number,
  latency: { p95_ms: number | null; mean_ms: number | null },
): RevisionTraffic {
  return {
    revision,
    requests,
    server_errors: serverErrors,
    error_rate: requests > 0 ? round(serverErrors / requests, 4) : null,
    latency_p95_ms: latency.p95_ms === null ? null : round(latency.p95_ms, 1),
    latency_mean_ms: latency.mean_ms === null ? null : round(latency.mean_ms, 1),
  };
}

function describe(r: RevisionTraffic): string {
  if (r.requests === 0) return 'no requests';
  const p95 = r.latency_p95_ms === null ? '' : `, p95 ${ms(r.latency_p95_ms)}`;
  return `${r.requests} requests, 5xx ${pct(r.error_rate ?? 0)}${p95}`;
}

const pct = (x: number) => `${round(x * 100, 2)}%`;
const ms = (x: number) => `${round(x, 1)} ms`;
const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

/**
 * A latency histogram: `bounds` are the finite bucket boundaries, ascending; `counts` has one more
 * entry than `bounds` (bucket 0 is below bounds[0], the last is at or above the last bound), as
 * Cloud Monitoring's Distribution lays them out.
 */
export interface Histogram {
  bounds: readonly number[];
  counts: readonly number[];
}

/** Cloud Monitoring's bucket options (google.api.Distribution.BucketOptions) as finite bounds. */
export type BucketOptions =
  | { linear: { numFiniteBuckets: number; width: number; offset: number } }
  | { exponential: { numFiniteBuckets: number; growthFactor: number; scale: number } }
  | { explicit: { bounds: readonly number[] } };

export function boundsOf(options: BucketOptions): number[] {
  if ('explicit' in options) return [...options.explicit.bounds];
  if ('linear' in options) {
    const { numFiniteBuckets: n, width, offset } = options.linear;
    return Array.from({ length: n + 1 }, (_, i) => offset + width * i);
  }
  const { numFiniteBuckets: n, growthFactor, scale } = options.exponential;
  return Array.from({ length: n + 1 }, (_, i) => scale * growthFactor ** i);
}

/**
 * The q-quantile (0–1) of a histogram, interpolated linearly inside the bucket it falls in (the
 * underflow bucket from 0, the overflow bucket reported at its lower bound): what Cloud
 * Monitoring's percentile aligners do with the same buckets. Null for an empty histogram.
 */
export function quantileOf(h: Histogram, q: number): number | null {
  const total = h.counts.reduce((a, c) => a + c, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const c = h.counts[i];
    if (c === 0 || seen + c < rank) {
      seen += c;
      continue;
    }
    const lo = i === 0 ? 0 : h.bounds[i - 1];
    if (i >= h.bounds.length) return lo;
    const hi = h.bounds[i];
    return lo + ((hi - lo) * (rank - seen)) / c;
  }
  return h.bounds[h.bounds.length - 1] ?? null;
}

/** Adds histograms of the same bounds (bucket by bucket). */
export function addHistograms(a: Histogram, b: Histogram): Histogram {
  const n = Math.max(a.counts.length, b.counts.length);
  return { bounds: a.bounds, counts: Array.from({ length: n }, (_, i) => (a.counts[i] ?? 0) + (b.counts[i] ?? 0)) };
}
