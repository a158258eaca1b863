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
 *
 * For charts over time each day's aggregate also keeps its hours (`hours`, keyed "00"–"23" by the
 * UTC hour the deployment ended): outcome counts and the deployment-duration histogram, no stage
 * histograms (those stay per day). So an aggregate holds at most 24 hourly entries of at most
 * MAX_BUCKET + 1 buckets each, well inside a Firestore document's limits, and a series is read
 * from the same documents as the totals: a day at day resolution (with its stages' p50/p95), an
 * hour at hour resolution.
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

/** One UTC hour of a day's aggregate: what ended in it. */
export const HourAggregateSchema = z.object({
  successful: z.number().int(),
  failed: z.number().int(),
  rolled_back: z.number().int(),
  cancelled: z.number().int(),
  deployment_ms: HistogramSchema,
});
export type HourAggregate = z.infer<typeof HourAggregateSchema>;

const HOUR_KEY = /^([01]\d|2[0-3])$/;

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
  /** UTC hour ("00"–"23") → what ended in it; absent from aggregates written before hours were kept. */
  hours: z.record(z.string().regex(HOUR_KEY), HourAggregateSchema).default({}),
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
    hours: {},
  };
}

function emptyHour(): HourAggregate {
  return { successful: 0, failed: 0, rolled_back: 0, cancelled: 0, deployment_ms: emptyHistogram() };
}

/** The outcome counter a final status adds to. */
function outcomeOf(status: Status): 'successful' | 'rolled_back' | 'cancelled' | 'failed' {
  if (status === 'completed') return 'successful';
  if (status === 'rolled_back') return 'rolled_back';
  if (status === 'cancelled') return 'cancelled';
  return 'failed';
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
  const outcome = outcomeOf(job.status);
  const hourKey = end.slice(11, 13);
  const hour = { ...(agg.hours[hourKey] ?? emptyHour()) };
  const next: Aggregate = { ...agg, stage_ms: { ...agg.stage_ms }, hours: { ...agg.hours, [hourKey]: hour } };
  next[outcome]++;
  hour[outcome]++;
  if (job.status !== 'cancelled') {
    const took = Math.max(0, Date.parse(end) - Date.parse(job.created_at));
    next.deployment_ms = addSample(agg.deployment_ms, took);
    hour.deployment_ms = addSample(hour.deployment_ms, took);
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
      // Hours of different days do not add up: the series reads them from each day's aggregate.
      hours: {},
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

/** Seed 004's shape (seconds), plus the deployments' p50, each stage's average, p50 and p95, and what the window was. */
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
    p50_deployment_time: seconds(quantileMs(agg.deployment_ms, 0.5)),
    stages: stageView(agg.stage_ms),
    window: { from: window.from, to: window.to, resolution: 'day' as const },
    p95_method: 'log-scale histogram, buckets 10% wide from 100 ms; a percentile is the middle of its bucket (within ~5%)',
  };
}

function stageView(stages: Record<string, Histogram>) {
  return Object.fromEntries(
    Object.entries(stages).map(([s, h]) => [
      s,
      { count: h.count, average: seconds(avg(h)), p50: seconds(quantileMs(h, 0.5)), p95: seconds(quantileMs(h, 0.95)) },
    ]),
  );
}

export type Resolution = 'hour' | 'day';

/** The longest window an hourly series covers (24 points a day). */
export const MAX_HOURLY_DAYS = 31;

/** One point of a series: what ended in the hour or day from `start`, in seconds. */
export interface SeriesPoint {
  start: string;
  total: number;
  successful: number;
  failed: number;
  rolled_back: number;
  cancelled: number;
  success_rate: number;
  p50_deployment_time: number | null;
  p95_deployment_time: number | null;
  /** Each stage's p50/p95 of the day (day resolution only). */
  stages?: Record<string, { count: number; p50: number | null; p95: number | null }>;
}

function point(start: string, c: Omit<HourAggregate, 'deployment_ms'>, durations: Histogram): SeriesPoint {
  // As in metricsView: a cancelled deployment is no outcome of the rate, and rolled back is a failure.
  const total = c.successful + c.failed + c.rolled_back;
  return {
    start,
    total,
    successful: c.successful,
    failed: c.failed + c.rolled_back,
    rolled_back: c.rolled_back,
    cancelled: c.cancelled,
    success_rate: total === 0 ? 0 : Math.round((c.successful / total) * 1000) / 1000,
    p50_deployment_time: seconds(quantileMs(durations, 0.5)),
    p95_deployment_time: seconds(quantileMs(durations, 0.95)),
  };
}

/**
 * The window as a time series, oldest first, from the days' aggregates themselves: one point per
 * day or per hour that saw a deployment end (empty ones are left out). An aggregate written before
 * hours were kept has none, so its day is missing at hour resolution.
 */
export function metricsSeries(days: readonly Aggregate[], resolution: Resolution): SeriesPoint[] {
  const sorted = [...days].sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0));
  if (resolution === 'day') {
    return sorted.map((a) => {
      const p = point(`${a.day}T00:00:00.000Z`, a, a.deployment_ms);
      const stages = Object.fromEntries(
        Object.entries(a.stage_ms).map(([s, h]) => [
          s,
          { count: h.count, p50: seconds(quantileMs(h, 0.5)), p95: seconds(quantileMs(h, 0.95)) },
        ]),
      );
      return { ...p, stages };
    });
  }
  return sorted.flatMap((a) =>
    Object.keys(a.hours)
      .sort()
      .map((h) => {
        const hour = a.hours[h] as HourAggregate;
        return point(`${a.day}T${h}:00:00.000Z`, hour, hour.deployment_ms);
      }),
  );
}
