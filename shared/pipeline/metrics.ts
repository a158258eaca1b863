import { RequestError } from '../domain/errors.js';
import {
  dayOf,
  daysBetween,
  MAX_HOURLY_DAYS,
  mergeAggregates,
  metricsSeries,
  metricsView,
  type Resolution,
  scopeOf,
} from '../domain/metrics.js';
import type { PipelineDeps } from './deps.js';

export interface MetricsQuery {
  agent_id?: string;
  environment?: string;
  /** The window's first and last UTC day (a date or a timestamp; taken as its day). */
  from?: string;
  to?: string;
  /** The series' points: an hour or a day each (default: hour for a window of at most 7 days, else day). */
  resolution?: Resolution;
}

/** Up to this many days, the series defaults to hours. */
export const HOURLY_BY_DEFAULT_DAYS = 7;

/** The default window: the last 30 days, today included. */
export const DEFAULT_WINDOW_DAYS = 30;
/** The longest window one request reads (one aggregate per day). */
export const MAX_WINDOW_DAYS = 366;

/**
 * GET /metrics: the aggregates of one scope over the window's days and the open deployments, never
 * the jobs; the same aggregates as a series over time (hours or days).
 */
export async function getMetrics(deps: PipelineDeps, q: MetricsQuery) {
  const now = deps.clock.now();
  const to = q.to ? dayOf(q.to) : dayOf(now.toISOString());
  const from = q.from
    ? dayOf(q.from)
    : dayOf(new Date(Date.parse(`${to}T00:00:00Z`) - (DEFAULT_WINDOW_DAYS - 1) * 86_400_000).toISOString());
  if (from > to) throw new RequestError('invalid', `from: ${from} is after to (${to})`, 'from');
  const days = daysBetween(from, to, MAX_WINDOW_DAYS + 1);
  if (days.length > MAX_WINDOW_DAYS) throw new RequestError('invalid', `the window may span at most ${MAX_WINDOW_DAYS} days`, 'from');
  const resolution = q.resolution ?? (days.length <= HOURLY_BY_DEFAULT_DAYS ? 'hour' : 'day');
  if (resolution === 'hour' && days.length > MAX_HOURLY_DAYS)
    throw new RequestError('invalid', `an hourly series covers at most ${MAX_HOURLY_DAYS} days; ask for resolution=day`, 'resolution');
  const scope = scopeOf(q);
  const filter = { ...(q.agent_id ? { agent_id: q.agent_id } : {}), ...(q.environment ? { environment: q.environment } : {}) };
  const [aggregates, active] = await Promise.all([deps.jobs.metrics(scope, days), deps.jobs.countOpen(filter)]);
  return {
    metrics: metricsView(mergeAggregates(scope, aggregates), { from, to }, active, now.toISOString()),
    series: { resolution, points: metricsSeries(aggregates, resolution) },
    filters: { agent_id: q.agent_id ?? null, environment: q.environment ?? null },
  };
}
