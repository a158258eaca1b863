import { describe, expect, it } from 'vitest';
import { PromoteStepTaskSchema } from '../../shared/domain/events.js';
import { QUEUES } from '../../shared/domain/topics.js';
import { canaryStep, promoteRevision } from '../../shared/pipeline/promote.js';
import { rollBack } from '../../shared/pipeline/rollback.js';
import { testCandidate } from '../../shared/pipeline/test-stage.js';
import { verifyRevision } from '../../shared/pipeline/verify.js';
import { type Harness, harness } from '../support/fakes.js';
import { servingOld, throughDeploy } from '../support/pipeline-steps.js';

/** A deployment promoting through a [10, 50, 100] canary with 60 s windows, checked every 5 s. */
async function canary(h: Harness, options: Record<string, unknown> = {}) {
  h.deps.settings.canary_check_ms = 5000;
  await servingOld(h);
  h.runtime.traffic = [{ revision: 'svc-old', percent: 100 }];
  await h.job('d1', {
    deployment_options: { strategy: { type: 'canary', steps: [10, 50, 100], window_seconds: 60 }, min_requests: 10, ...options },
  });
  const revision = await throughDeploy(h, 'd1');
  h.runtime.ready(revision);
  await verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: 'd1', attempt: 1 });
  await testCandidate(h.deps, 'd1');
  await promoteRevision(h.deps, 'd1');
  h.runtime.traffic = h.runtime.traffic.map((t) => (t.tag ? { ...t, url: 'http://tag.local/' } : t));
  return revision;
}

/** Runs the last canary check scheduled, at its schedule time on the test's clock, as Cloud Tasks would. */
async function nextCheck(h: Harness) {
  const task = h.tasks.tasks.filter((t) => t.queue === QUEUES.promoteStep).at(-1);
  if (!task) throw new Error('no canary check was scheduled');
  const wait = (task.schedule_time_ms ?? 0) - h.clock.now().getTime();
  if (wait > 0) h.clock.advance(wait);
  return { wait, result: await canaryStep(h.deps, PromoteStepTaskSchema.parse(task.payload)) };
}

describe('canary analysis in each step window', () => {
  it('checks the window every canary_check_ms (tasks, no waiting) and moves on at its end with the analysis recorded', async () => {
    const h = harness();
    const revision = await canary(h);
    let job = await h.jobs.get('d1');
    expect(job?.canary_analyses).toMatchObject([
      { step: 1, percent: 10, window_seconds: 60, checks: 0, verdict: 'pending', final: false, source: 'fake metrics' },
    ]);
    h.metrics.served.set(revision, { requests: 30, server_errors: 0, p95_ms: 40 });
    h.metrics.served.set('svc-old', { requests: 270, server_errors: 1 });
    const waits: number[] = [];
    for (let i = 0; i < 12; i++) waits.push((await nextCheck(h)).wait);
    // Twelve checks five seconds apart; the twelfth, at the window's end, opened step 2.
    expect(waits).toEqual(Array(12).fill(5000));
    job = await h.jobs.get('d1');
    expect(h.runtime.traffic.find((t) => t.revision === revision)?.percent).toBe(50);
    const [first, second] = job?.canary_analyses ?? [];
    expect(first).toMatchObject({
      step: 1,
      checks: 12,
      final: true,
      verdict: 'pass',
      decided_by: 'metrics',
      candidate: { revision, requests: 30, server_errors: 0, error_rate: 0, latency_p95_ms: 40 },
      stable: { revision: 'svc-old', requests: 270, server_errors: 1 },
      thresholds: { max_error_rate: 0.1, max_latency_ms: 2000, min_requests: 10 },
      health: { healthy: true },
    });
    expect(second).toMatchObject({ step: 2, percent: 50, verdict: 'pending' });
    // Each question covered the window from its start to the check.
    const asked = h.metrics.asked.at(-1);
    expect(asked?.revisions).toEqual([revision, 'svc-old']);
    expect(asked?.window.to.getTime()).toBe(Date.parse(first.window_started_at) + 60_000);
    expect(asked?.window.from.getTime()).toBe(Date.parse(first.window_started_at));
  });

  it('rolls back at the first check that sees a breach, long before the window ends, and records what it measured', async () => {
    const h = harness();
    const revision = await canary(h, { max_error_rate: 0.05 });
    h.metrics.served.set(revision, { requests: 4, server_errors: 4 });
    await nextCheck(h); // 4 requests: fewer than min_requests, inconclusive: the window goes on.
    h.metrics.served.set(revision, { requests: 20, server_errors: 9 });
    h.metrics.served.set('svc-old', { requests: 180, server_errors: 0 });
    await nextCheck(h);
    const job = await h.jobs.get('d1');
    expect(job?.status).toBe('rolling_back');
    expect(job?.error_message).toContain(`Canary analysis at 10% rolled back ${revision} mid-window`);
    expect(job?.error_message).toContain('5xx rate 45% (9/20) over max_error_rate 5%');
    expect(job?.failure).toMatchObject({
      stage: 'promoting',
      reason_code: 'canary_breach',
      hint: expect.stringContaining('canary_analyses'),
    });
    expect(job?.canary_analyses).toMatchObject([
      {
        step: 1,
        checks: 2,
        final: true,
        verdict: 'breach',
        decided_by: 'metrics',
        candidate: { requests: 20, server_errors: 9, error_rate: 0.45 },
        stable: { requests: 180, server_errors: 0, error_rate: 0 },
        thresholds: { max_error_rate: 0.05 },
      },
    ]);
    // 10 s into a 60 s window; no further check was scheduled.
    expect(Date.parse(job?.canary_analyses[0].checked_at ?? '') - Date.parse(job?.canary_analyses[0].window_started_at ?? '')).toBe(10_000);
    expect(h.tasks.tasks.filter((t) => t.queue === QUEUES.promoteStep)).toHaveLength(2);
    await rollBack(h.deps, 'd1');
    expect(h.runtime.writes.at(-1)).toEqual([{ revision: 'svc-old', percent: 100 }]);
  });

  it('lets the health probe decide a window with too few requests, and says so on the job', async () => {
    const h = harness();
    const revision = await canary(h);
    h.metrics.served.set(revision, { requests: 3, server_errors: 0 });
    for (let i = 0; i < 12; i++) await nextCheck(h);
    const job = await h.jobs.get('d1');
    expect(job?.status).toBe('promoting');
    expect(job?.canary_analyses[0]).toMatchObject({
      final: true,
      verdict: 'inconclusive',
      decided_by: 'health_probe',
      health: { healthy: true, message: 'http://tag.local/health healthy' },
    });
    expect(job?.canary_analyses[0].message).toBe(
      'Inconclusive: 3 candidate requests, fewer than min_requests 10; stable svc-old: no requests; the health probe decided: http://tag.local/health healthy',
    );
    expect(await h.deps.logs.read('svc', 'd1')).toContain('the health probe decided');
  });

  it('rolls back an inconclusive window whose health probe fails at its end', async () => {
    const h = harness();
    await canary(h);
    for (let i = 0; i < 11; i++) await nextCheck(h);
    h.probe.answers = [{ status: 500, body: 'boom' }];
    await nextCheck(h);
    const job = await h.jobs.get('d1');
    expect(job?.status).toBe('rolling_back');
    expect(job?.error_message).toContain('became unhealthy during the watch window');
    expect(job?.canary_analyses[0]).toMatchObject({ verdict: 'breach', decided_by: 'health_probe', health: { healthy: false } });
  });

  it('probes the candidate at each check: health_attempts failures in a row roll back mid-window, one alone does not', async () => {
    const h = harness();
    const revision = await canary(h);
    h.metrics.served.set(revision, { requests: 50, server_errors: 0 });
    // health_attempts is 2 here: a failure, a recovery (the count starts again), then two in a row.
    h.probe.answers = [
      { status: 500, body: 'boom' },
      { status: 200, body: '{}' },
      { status: 500, body: 'boom' },
      { status: 503, body: '' },
    ];
    await nextCheck(h);
    expect((await h.jobs.get('d1'))?.canary_analyses[0]).toMatchObject({ health_failures: 1, health: { healthy: false }, final: false });
    await nextCheck(h);
    expect((await h.jobs.get('d1'))?.canary_analyses[0]).toMatchObject({ health_failures: 0, health: { healthy: true } });
    await nextCheck(h);
    await nextCheck(h);
    const job = await h.jobs.get('d1');
    expect(job?.status).toBe('rolling_back');
    expect(job?.canary_analyses[0]).toMatchObject({
      checks: 4,
      final: true,
      verdict: 'breach',
      decided_by: 'health_probe',
      health_failures: 2,
    });
    expect(job?.canary_analyses[0].message).toContain('the health probe failed 2 checks in a row');
    expect(job?.error_message).toContain('became unhealthy during the watch window');
  });

  it('completes after the last step with one analysis per canary step', async () => {
    const h = harness();
    const revision = await canary(h);
    h.metrics.served.set(revision, { requests: 50, server_errors: 0 });
    for (let i = 0; i < 24; i++) await nextCheck(h);
    const job = await h.jobs.get('d1');
    expect(job?.status).toBe('completed');
    expect(job?.canary_analyses.map((a) => [a.step, a.percent, a.verdict, a.final, a.checks])).toEqual([
      [1, 10, 'pass', true, 12],
      [2, 50, 'pass', true, 12],
    ]);
  });

  it('a check delivered twice, or late after the job moved on, changes nothing', async () => {
    const h = harness();
    const revision = await canary(h);
    h.metrics.served.set(revision, { requests: 50, server_errors: 0 });
    const task = h.tasks.tasks.filter((t) => t.queue === QUEUES.promoteStep).at(-1);
    await nextCheck(h);
    const before = await h.jobs.get('d1');
    expect(await canaryStep(h.deps, PromoteStepTaskSchema.parse(task?.payload))).toBe('stale: the job is promoting');
    expect((await h.jobs.get('d1'))?.canary_analyses).toEqual(before?.canary_analyses);
  });
});
