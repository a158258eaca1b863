import { z } from 'zod';
import { isFinal, type Status } from './status.js';

/**
 * Deployment metrics as aggregates kept up to date as deployments end (the stores fold a job into
 * them in the transaction that makes it final), so GET /metrics reads a handful of documents and
 * never the jobs. One aggregate per scope (all, agent, environment, agent+environment) and UTC day;
 * a query merges the days of its window for its one scope.
 *
 * Durations go into bounded histograms: log-scale buckets growing by 10 % from 100 ms (bucket i
 * holds [100·1.1^i, 100·1.1^(i+1)) ms; i ≤ 160 reaches past 30 days), kept sparse. A percentile is
 * the geometric middle of the bucket holding its rank: at most ~5 % from the true value, merged
 * exactly across days and instances (counts add), in constant space per aggregate.
 */

const BASE_MS = 100;
const GROWTH = 1.1;
const MAX_BUCKET = 160;

export const HistogramSchema = z.object({
  count: z.number().int(),
  sum_ms: z.number(),
  /** Bucket index → count (sparse). */
  buckets: z.record(z.string(), z.number().int()),
});
export type Histogram = z.infer<typeof HistogramSchema>;

export const AggregateSchema = z.object({
  /** `all`, `agent:<id>`, `env:<name>` or `agent:<id>|env:<name>`, and the UTC day (YYYY-MM-DD). */
  scope: z.string(),
  day: z.string(),
  successful: z.number().int(),
  failed: z.number().int(),
  rolled_back: z.number().int(),
  cancelled: z.number().int(),
  /** From accepted (created_at) to final (completed_at): what a caller waits, queue included. */
  deployment_ms: HistogramSchema,
  stage_ms: z.record(z.string(), HistogramSchema),
  first_at: z.string().nullable(),
  last_at: z.string().nullable(),
});
export type Aggregate = z.infer<typeof AggregateSchema>;

export function emptyHistogram(): Histogram {
  return { count: 0, sum_ms: 0, buckets: {} };
}

export function emptyAggregate(scope: string, day: string): Aggregate {
  return {
    scope,
    day,
    successful: 0,
    failed: 0,
    rolled_back: 0,
    cancelled: 0,
    deployment_ms: emptyHistogram(),
    stage_ms: {},
    first_at: null,
    last_at: null,
  };
}

export function bucketOf(ms: number): number {
  if (ms < BASE_MS) return 0;
  return Math.min(MAX_BUCKET, Math.floor(Math.log(ms / BASE_MS) / Math.log(GROWTH)));
}

export function addSample(h: Histogram, ms: number): Histogram {
  const b = String(bucketOf(Math.max(0, ms)));
  return { count: h.count + 1, sum_ms: h.sum_ms + ms, buckets: { ...h.buckets, [b]: (h.buckets[b] ?? 0) + 1 } };
}

export function mergeHistograms(a: Histogram, b: Histogram): Histogram {
  const buckets = { ...a.buckets };
  for (const [k, n] of Object.entries(b.buckets)) buckets[k] = (buckets[k] ?? 0) + n;
  return { count: a.count + b.count, sum_ms: a.sum_ms + b.sum_ms, buckets };
}

/** The q-quantile (0–1) in ms: the geometric middle of the bucket holding rank ⌈q·count⌉; null when empty. */
export function quantileMs(h: Histogram, q: number): number | null {
  if (h.count === 0) return null;
  const rank = Math.max(1, Math.ceil(q * h.count));
  let seen = 0;
  for (const i of Object.keys(h.buckets)
    .map(Number)
    .sort((x, y) => x - y)) {
    seen += h.buckets[String(i)] ?? 0;
    if (seen >= rank) return i === 0 ? BASE_MS / 2 : BASE_MS * GROWTH ** (i + 0.5);
  }
  return null;
}

/** Whether this commit ends a deployment (it was running and is final now): the one moment it is folded in. */
export function endsDeployment(
  before: { status: Status; kind: string; queue: unknown } | null,
  after: { status: Status; kind: string },
): boolean {
  // One that never left the queue (superseded, cancelled while waiting) never ran: it is no deployment to measure.
  return after.kind === 'deployment' && isFinal(after.status) && before !== null && !isFinal(before.status) && before.queue === null;
}

/** The aggregate keys a finished job is folded into. */
export function scopesOf(job: { agent_id: string; environment: string }): string[] {
  return ['all', `agent:${job.agent_id}`, `env:${job.environment}`, `agent:${job.agent_id}|env:${job.environment}`];
}

export function scopeOf(filter: { agent_id?: string; environment?: string }): string {
  if (filter.agent_id && filter.environment) return `agent:${filter.agent_id}|env:${filter.environment}`;
  if (filter.agent_id) return `agent:${filter.agent_id}`;
  if (filter.environment) return `env:${filter.environment}`;
  return 'all';
}

export const dayOf = (iso: string): string => iso.slice(0, 10);

/** A document id for the aggregate (`/` is no Firestore id character; agent ids and environments have none). */
export const aggregateId = (scope: string, day: string): string => `${scope}@${day}`;

interface Finished {
  status: Status;
  created_at: string;
  completed_at: string | null;
  updated_at: string;
  stage_timings: Record<string, { duration_ms: number | null }>;
}

/** Folds one finished deployment into an aggregate. */
export function fold(agg: Aggregate, job: Finished): Aggregate {
  const end = job.completed_at ?? job.updated_at;
  const next: Aggregate = { ...agg, stage_ms: { ...agg.stage_ms } };
  if (job.status === 'completed') next.successful++;
  else if (job.status === 'rolled_back') next.rolled_back++;
  else if (job.status === 'cancelled') next.cancelled++;
  else next.failed++;
  if (job.status !== 'cancelled') {
    next.deployment_ms = addSample(agg.deployment_ms, Math.max(0, Date.parse(end) - Date.parse(job.created_at)));
    for (const [stage, t] of Object.entries(job.stage_timings)) {
      if (t.duration_ms !== null) next.stage_ms[stage] = addSample(agg.stage_ms[stage] ?? emptyHistogram(), t.duration_ms);
    }
  }
  next.first_at = agg.first_at === null || end < agg.first_at ? end : agg.first_at;
  next.last_at = agg.last_at === null || end > agg.last_at ? end : agg.last_at;
  return next;
}

export function mergeAggregates(scope: string, all: readonly Aggregate[]): Aggregate {
  let out = emptyAggregate(scope, '');
  for (const a of all) {
    const stage_ms = { ...out.stage_ms };
    for (const [s, h] of Object.entries(a.stage_ms)) stage_ms[s] = mergeHistograms(stage_ms[s] ?? emptyHistogram(), h);
    out = {
      ...out,
      successful: out.successful + a.successful,
      failed: out.failed + a.failed,
      rolled_back: out.rolled_back + a.rolled_back,
      cancelled: out.cancelled + a.cancelled,
      deployment_ms: mergeHistograms(out.deployment_ms, a.deployment_ms),
      stage_ms,
      first_at: out.first_at === null || (a.first_at !== null && a.first_at < out.first_at) ? a.first_at : out.first_at,
      last_at: out.last_at === null || (a.last_at !== null && a.last_at > out.last_at) ? a.last_at : out.last_at,
    };
  }
  return out;
}

/** The UTC days from `from` to `to` inclusive (YYYY-MM-DD), at most `max`. */
export function daysBetween(from: string, to: string, max: number): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`) && out.length < max; t += 86_400_000) {
    out.push(new Date(t).toISOString().slice(0, 10));
  }
  return out;
}

const seconds = (ms: number | null) => (ms === null ? null : Math.round(ms) / 1000);
const avg = (h: Histogram | undefined) => (h && h.count > 0 ? h.sum_ms / h.count : null);

/** Seed 004's shape (seconds), plus per-stage average and p95 and what the window was. */
export function metricsView(agg: Aggregate, window: { from: string; to: string }, active: number, now: string) {
  const total = agg.successful + agg.failed + agg.rolled_back;
  const hours = Math.max(1, (Date.parse(`${window.to}T00:00:00Z`) + 86_400_000 - Date.parse(`${window.from}T00:00:00Z`)) / 3_600_000);
  return {
    total_deployments: total,
    successful_deployments: agg.successful,
    failed_deployments: agg.failed + agg.rolled_back,
    rolled_back_deployments: agg.rolled_back,
    cancelled_deployments: agg.cancelled,
    success_rate: total === 0 ? 0 : Math.round((agg.successful / total) * 1000) / 1000,
    average_deployment_time: seconds(avg(agg.deployment_ms)),
    average_validation_time: seconds(avg(agg.stage_ms.validating)),
    average_test_time: seconds(avg(agg.stage_ms.testing)),
    p95_deployment_time: seconds(quantileMs(agg.deployment_ms, 0.95)),
    deployment_frequency: Math.round((total / hours) * 1000) / 1000,
    active_deployments: active,
    last_updated: agg.last_at ?? now,
    stages: Object.fromEntries(
      Object.entries(agg.stage_ms).map(([s, h]) => [s, { count: h.count, average: seconds(avg(h)), p95: seconds(quantileMs(h, 0.95)) }]),
    ),
    window: { from: window.from, to: window.to, resolution: 'day' as const },
    p95_method: 'log-scale histogram, buckets 10% wide from 100 ms; a percentile is the middle of its bucket (within ~5%)',
  };
}
