import { describe, expect, it } from 'vitest';
import { transition } from '../../shared/domain/claim.js';
import { newJob } from '../../shared/domain/job.js';
import {
  addSample,
  emptyAggregate,
  emptyHistogram,
  endsDeployment,
  fold,
  mergeAggregates,
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
