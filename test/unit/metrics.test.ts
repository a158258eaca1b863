import { describe, expect, it } from 'vitest';
import { transition } from '../../shared/domain/claim.js';
import { newJob } from '../../shared/domain/job.js';
import {
  AggregateSchema,
  addSample,
  bucketOf,
  emptyAggregate,
  emptyHistogram,
  endsDeployment,
  fold,
  mergeAggregates,
  metricsSeries,
  metricsView,
  quantileMs,
} from '../../shared/domain/metrics.js';
import { DeploymentRequestSchema } from '../../shared/domain/request.js';
import { getMetrics } from '../../shared/pipeline/metrics.js';
import { acceptDeployment } from '../../shared/pipeline/requests.js';
import { failDeployment } from '../../shared/pipeline/stage-runner.js';
import { harness } from '../support/fakes.js';

describe('the metrics histogram', () => {
  it('gives p95 within 5 % of the exact value, for uniform and skewed samples', () => {
    for (const gen of [(i: number) => 1000 + i * 37, (i: number) => 200 * 1.01 ** i]) {
      const xs = Array.from({ length: 1000 }, (_, i) => gen(i));
      let h = emptyHistogram();
      for (const x of xs) h = addSample(h, x);
      const exact = [...xs].sort((a, b) => a - b)[Math.ceil(0.95 * xs.length) - 1];
      expect(Math.abs((quantileMs(h, 0.95) ?? 0) - exact) / exact).toBeLessThan(0.05);
    }
    expect(quantileMs(emptyHistogram(), 0.95)).toBeNull();
  });

  it('folds finished deployments by outcome, merges days exactly, and shows seed 004’s shape', () => {
    const base = newJob('d', DeploymentRequestSchema.parse({ agent_id: 'a' }), '2026-01-01T00:00:00.000Z');
    const done = (status: 'completed' | 'failed' | 'rolled_back', ms: number) => ({
      ...base,
      status,
      completed_at: new Date(Date.parse(base.created_at) + ms).toISOString(),
      stage_timings: { validating: { started_at: base.created_at, completed_at: null, duration_ms: ms / 10 } },
    });
    const day1 = fold(fold(emptyAggregate('all', '2026-01-01'), done('completed', 10_000)), done('failed', 20_000));
    const day2 = fold(emptyAggregate('all', '2026-01-02'), done('rolled_back', 30_000));
    const view = metricsView(mergeAggregates('all', [day1, day2]), { from: '2026-01-01', to: '2026-01-02' }, 4, 'now');
    expect(view).toMatchObject({
      total_deployments: 3,
      successful_deployments: 1,
      failed_deployments: 2,
      rolled_back_deployments: 1,
      success_rate: 0.333,
      average_deployment_time: 20,
      average_validation_time: 2,
      active_deployments: 4,
      deployment_frequency: Math.round((3 / 48) * 1000) / 1000,
    });
    expect(view.p95_deployment_time).toBeGreaterThan(28);
    expect(view.stages.validating).toMatchObject({ count: 3, average: 2 });
  });

  it('counts a deployment once, when it ends, and not one that never left the queue', () => {
    const j = newJob('d', DeploymentRequestSchema.parse({ agent_id: 'a' }), 't');
    const running = transition(j, 'validating');
    expect(endsDeployment(running, transition(running, 'failed'))).toBe(true);
    expect(endsDeployment(null, j)).toBe(false);
    const done = transition(running, 'failed');
    expect(endsDeployment(done, { ...done, status: 'failed' })).toBe(false);
    const waiting = { ...j, queue: { reason: 'agent_busy' as const, since: 't' } };
    expect(endsDeployment(waiting, transition(waiting, 'cancelled'))).toBe(false);
  });
});

describe('GET /metrics from the store’s aggregates', () => {
  it('counts what ended, filters by agent and environment, and reads no job', async () => {
    const h = harness();
    const a = await acceptDeployment(h.deps, DeploymentRequestSchema.parse({ agent_id: 'm-a', environment: 'staging' }));
    const b = await acceptDeployment(h.deps, DeploymentRequestSchema.parse({ agent_id: 'm-b' }));
    await acceptDeployment(h.deps, DeploymentRequestSchema.parse({ agent_id: 'm-c' }));
    await failDeployment(h.deps, a.deployment_id, 'validating', 'broken');
    await failDeployment(h.deps, b.deployment_id, 'validating', 'broken');
    const all = (await getMetrics(h.deps, {})).metrics;
    expect([all.total_deployments, all.failed_deployments, all.active_deployments]).toEqual([2, 2, 1]);
    expect((await getMetrics(h.deps, { agent_id: 'm-a' })).metrics.total_deployments).toBe(1);
    expect((await getMetrics(h.deps, { environment: 'staging' })).metrics.total_deployments).toBe(1);
    expect((await getMetrics(h.deps, { environment: 'production' })).metrics.total_deployments).toBe(0);
    expect((await getMetrics(h.deps, { from: '2001-01-01', to: '2001-01-31' })).metrics.total_deployments).toBe(0);
    await expect(getMetrics(h.deps, { from: '2001-01-01', to: '2009-01-01' })).rejects.toMatchObject({ code: 'invalid' });
    // Reads aggregates only: a store whose job reads throw still answers.
    const blind = {
      ...h.deps,
      jobs: Object.assign(Object.create(h.jobs), {
        list: () => Promise.reject(new Error('scanned')),
        get: () => Promise.reject(new Error('read')),
      }),
    };
    expect((await getMetrics(blind, {})).metrics.total_deployments).toBe(2);
  });
});

describe('the metrics series over time', () => {
  const base = newJob('d', DeploymentRequestSchema.parse({ agent_id: 'a' }), '2026-01-01T00:00:00.000Z');
  /** A deployment accepted `ms` before `end`, with a validating stage of a tenth of it. */
  const ended = (status: 'completed' | 'failed' | 'rolled_back' | 'cancelled', end: string, ms: number) => ({
    ...base,
    status,
    created_at: new Date(Date.parse(end) - ms).toISOString(),
    completed_at: end,
    stage_timings: { validating: { started_at: end, completed_at: end, duration_ms: ms / 10 } },
  });

  it('keeps each hour in the day’s aggregate and reads a series by hour or by day that adds up to the totals', () => {
    let d1 = emptyAggregate('all', '2026-01-01');
    d1 = fold(d1, ended('completed', '2026-01-01T09:10:00.000Z', 10_000));
    d1 = fold(d1, ended('completed', '2026-01-01T09:50:00.000Z', 30_000));
    d1 = fold(d1, ended('failed', '2026-01-01T13:00:00.000Z', 20_000));
    d1 = fold(d1, ended('cancelled', '2026-01-01T13:30:00.000Z', 5_000));
    const d2 = fold(emptyAggregate('all', '2026-01-02'), ended('rolled_back', '2026-01-02T23:59:59.000Z', 60_000));
    // Given newest first, read oldest first.
    const hourly = metricsSeries([d2, d1], 'hour');
    expect(hourly.map((p) => [p.start, p.total, p.successful, p.failed, p.cancelled, p.success_rate])).toEqual([
      ['2026-01-01T09:00:00.000Z', 2, 2, 0, 0, 1],
      ['2026-01-01T13:00:00.000Z', 1, 0, 1, 1, 0],
      ['2026-01-02T23:00:00.000Z', 1, 0, 1, 0, 0],
    ]);
    // p50/p95 of one hour's durations, within the histogram's 5 %.
    expect(hourly[0].p50_deployment_time).toBeGreaterThan(9.5);
    expect(hourly[0].p50_deployment_time).toBeLessThan(10.5);
    expect(hourly[0].p95_deployment_time).toBeGreaterThan(28.5);
    expect(hourly[0].p95_deployment_time).toBeLessThan(31.5);
    expect(hourly[0].stages).toBeUndefined();
    const daily = metricsSeries([d1, d2], 'day');
    expect(daily.map((p) => [p.start, p.total])).toEqual([
      ['2026-01-01T00:00:00.000Z', 3],
      ['2026-01-02T00:00:00.000Z', 1],
    ]);
    expect(daily[0].stages?.validating.count).toBe(3);
    expect(daily[1].stages?.validating.p50).toBeCloseTo(6, 0);
    const view = metricsView(mergeAggregates('all', [d1, d2]), { from: '2026-01-01', to: '2026-01-02' }, 0, 'now');
    const sum = (k: 'total' | 'successful' | 'failed' | 'cancelled') => hourly.reduce((n, p) => n + p[k], 0);
    expect([sum('total'), sum('successful'), sum('failed'), sum('cancelled')]).toEqual([
      view.total_deployments,
      view.successful_deployments,
      view.failed_deployments,
      view.cancelled_deployments,
    ]);
    expect(view.p50_deployment_time).toBeGreaterThan(19);
    expect(view.stages.validating).toMatchObject({ count: 4 });
    expect(view.stages.validating.p50).not.toBeNull();
  });

  it('stays bounded: a day of 5,000 deployments keeps at most 24 hours of at most 161 buckets', () => {
    let agg = emptyAggregate('all', '2026-01-01');
    for (let i = 0; i < 5000; i++) {
      const end = new Date(Date.parse('2026-01-01T00:00:00.000Z') + ((i * 7919) % 86_400) * 1000).toISOString();
      agg = fold(agg, ended(i % 5 === 0 ? 'failed' : 'completed', end, 100 * 1.07 ** (i % 200)));
    }
    expect(Object.keys(agg.hours).length).toBe(24);
    for (const h of Object.values(agg.hours))
      expect(Object.keys(h.deployment_ms.buckets).length).toBeLessThanOrEqual(bucketOf(Number.MAX_VALUE) + 1);
    const n = Object.values(agg.hours).reduce((s, h) => s + h.successful + h.failed, 0);
    expect(n).toBe(5000);
    expect(JSON.stringify(agg).length).toBeLessThan(200_000);
  });

  it('reads an aggregate stored before hours were kept: no hours, and the day still counts', () => {
    const old = { ...emptyAggregate('all', '2025-12-31'), successful: 2 } as Record<string, unknown>;
    delete old.hours;
    const parsed = AggregateSchema.parse(old);
    expect(parsed.hours).toEqual({});
    expect(metricsSeries([parsed], 'hour')).toEqual([]);
    expect(metricsSeries([parsed], 'day')[0]).toMatchObject({ total: 2, successful: 2 });
  });

  it('GET /metrics: hours for a window of up to 7 days, days beyond; an hourly series of more than 31 days is refused naming resolution', async () => {
    const h = harness();
    const a = await acceptDeployment(h.deps, DeploymentRequestSchema.parse({ agent_id: 's-a' }));
    await failDeployment(h.deps, a.deployment_id, 'validating', 'broken');
    const today = h.deps.clock.now().toISOString().slice(0, 10);
    const week = await getMetrics(h.deps, { from: new Date(Date.parse(today) - 6 * 86_400_000).toISOString().slice(0, 10) });
    expect(week.series.resolution).toBe('hour');
    expect(week.series.points).toHaveLength(1);
    expect(week.series.points[0]).toMatchObject({ total: 1, failed: 1, success_rate: 0 });
    expect(week.series.points[0].start.slice(0, 13)).toBe(h.deps.clock.now().toISOString().slice(0, 13));
    const month = await getMetrics(h.deps, {});
    expect(month.series).toMatchObject({ resolution: 'day', points: [{ start: `${today}T00:00:00.000Z`, total: 1 }] });
    expect((await getMetrics(h.deps, { resolution: 'hour' })).series.resolution).toBe('hour');
    await expect(getMetrics(h.deps, { from: '2025-01-01', to: '2025-03-01', resolution: 'hour' })).rejects.toMatchObject({
      code: 'invalid',
      field: 'resolution',
    });
  });
});
