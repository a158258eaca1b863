import { describe, expect, it } from 'vitest';
import { buildTag, RollbackPollTaskSchema } from '../../shared/domain/events.js';
import { QUEUES } from '../../shared/domain/topics.js';
import { startBuild } from '../../shared/pipeline/build.js';
import { onBuildNotification } from '../../shared/pipeline/build-events.js';
import { deployRevision } from '../../shared/pipeline/deploy.js';
import { prepareSource } from '../../shared/pipeline/prepare-source.js';
import { promoteRevision } from '../../shared/pipeline/promote.js';
import { acceptDeployment, requestCancel, requestRollback } from '../../shared/pipeline/requests.js';
import { checkRollback, rollBack } from '../../shared/pipeline/rollback.js';
import { failDeployment } from '../../shared/pipeline/stage-runner.js';
import { testCandidate } from '../../shared/pipeline/test-stage.js';
import { validateDeployment } from '../../shared/pipeline/validate.js';
import { verifyRevision } from '../../shared/pipeline/verify.js';
import { sweepStuckDeployments } from '../../shared/pipeline/watchdog.js';
import { harness, PermanentError } from '../support/fakes.js';
import { notification, servingOld, throughDeploy } from '../support/pipeline-steps.js';

/** Runs the last rollback poll task the pipeline scheduled, as Cloud Tasks would. */
async function pollRollback(h: ReturnType<typeof harness>) {
  const task = h.tasks.tasks.filter((t) => t.queue === QUEUES.rollbackPoll).at(-1);
  if (!task) throw new Error('no rollback poll was scheduled');
  return checkRollback(h.deps, RollbackPollTaskSchema.parse(task.payload));
}

describe('stage idempotency', () => {
  it('runs a stage once when the same event arrives twice at the same time', async () => {
    const h = harness();
    await h.job('d1');
    const results = await Promise.all([validateDeployment(h.deps, 'd1'), validateDeployment(h.deps, 'd1')]);
    expect(results.sort()).toEqual(['duplicate delivery: the stage is running', 'ran']);
    expect(h.bus.types()).toEqual(['deployment.validated.v1']);
  });

  it('re-publishes the hand-off when the event comes back after the stage was done (a crash before publish)', async () => {
    const h = harness();
    await h.job('d1');
    await validateDeployment(h.deps, 'd1');
    expect(await validateDeployment(h.deps, 'd1')).toBe('done');
    expect(h.bus.types()).toEqual(['deployment.validated.v1', 'deployment.validated.v1']);
  });

  it('ignores a stale event once the job has moved on', async () => {
    const h = harness();
    await h.job('d1');
    await validateDeployment(h.deps, 'd1');
    await prepareSource(h.deps, 'd1');
    expect(await validateDeployment(h.deps, 'd1')).toBe('stale event: the job is preparing');
    expect(h.bus.types()).toEqual(['deployment.validated.v1', 'deployment.prepared.v1']);
  });

  it('refuses to start a stage whose previous stage has not finished', async () => {
    const h = harness();
    await h.job('d1');
    expect(await prepareSource(h.deps, 'd1')).toBe('stale event: the job is queued');
  });

  it('lets a redelivery take over a stage whose worker died (lease expired), not before', async () => {
    const h = harness();
    await h.job(
      'd1',
      {},
      {
        status: 'validating',
        stage: 'validating',
        claim: { stage: 'validating', token: 'dead', expires_at: '2026-01-01T00:05:00.000Z', done: false, ephemeral: true },
      },
    );
    expect(await validateDeployment(h.deps, 'd1')).toBe('duplicate delivery: the stage is running');
    h.clock.advance(6 * 60_000);
    expect(await validateDeployment(h.deps, 'd1')).toBe('ran');
    expect((await h.jobs.get('d1'))?.claim?.done).toBe(true);
  });

  it('where it alone runs stages (the local stack), takes over at once a worker claim another process (a dead boot) holds, within its lease', async () => {
    const h = harness();
    h.deps.settings = { ...h.deps.settings, worker_id: 'boot-2', sole_worker: true };
    const claim = { stage: 'validating' as const, token: 'dead', expires_at: '2026-01-01T00:05:00.000Z', done: false };
    // A worker of the previous boot; one written before claims named their holder; a wait under a known token; a live worker of this boot.
    await h.job('d1', {}, { status: 'validating', stage: 'validating', claim: { ...claim, ephemeral: true, holder: 'boot-1' } });
    await h.job('d2', { agent_id: 'svc2' }, { status: 'validating', stage: 'validating', claim: { ...claim, ephemeral: true } });
    await h.job(
      'd3',
      { agent_id: 'svc3' },
      { status: 'validating', stage: 'validating', claim: { ...claim, ephemeral: false, holder: 'boot-1' } },
    );
    await h.job(
      'd4',
      { agent_id: 'svc4' },
      { status: 'validating', stage: 'validating', claim: { ...claim, ephemeral: true, holder: 'boot-2' } },
    );
    expect(await validateDeployment(h.deps, 'd1')).toBe('ran');
    expect((await h.jobs.get('d1'))?.claim).toMatchObject({ done: true, holder: 'boot-2' });
    expect(await validateDeployment(h.deps, 'd2')).toBe('ran');
    expect(await validateDeployment(h.deps, 'd3')).toBe('duplicate delivery: the stage is running');
    expect(await validateDeployment(h.deps, 'd4')).toBe('duplicate delivery: the stage is running');
  });

  it('where other instances run stages too (Google Cloud), leaves another instance its live worker claim until the lease lapses', async () => {
    const h = harness();
    h.deps.settings = { ...h.deps.settings, worker_id: 'instance-b', sole_worker: false };
    const claim = { stage: 'validating' as const, token: 'peer', expires_at: '2026-01-01T00:05:00.000Z', done: false, ephemeral: true };
    await h.job('d1', {}, { status: 'validating', stage: 'validating', claim: { ...claim, holder: 'instance-a' } });
    expect(await validateDeployment(h.deps, 'd1')).toBe('duplicate delivery: the stage is running');
    h.clock.advance(6 * 60_000);
    expect(await validateDeployment(h.deps, 'd1')).toBe('ran');
  });

  it('retries a transient error: the claim is released and the retry runs the stage', async () => {
    const h = harness();
    await h.job('d1');
    await validateDeployment(h.deps, 'd1');
    h.sources.failures.push(new Error('disk busy'));
    await expect(prepareSource(h.deps, 'd1')).rejects.toThrow('disk busy');
    expect((await h.jobs.get('d1'))?.claim).toBeNull();
    expect(await prepareSource(h.deps, 'd1')).toBe('ran');
    expect(h.sources.calls).toBe(2);
    expect((await h.jobs.get('d1'))?.source_key).toBe('sources/svc/d1.tar.gz');
  });

  it('fails the deployment on a permanent error, naming the stage and what to do, and acknowledges', async () => {
    const h = harness();
    await h.job('d1');
    await validateDeployment(h.deps, 'd1');
    h.sources.failures.push(new PermanentError('The source is larger than 50 MiB', 'Deploy a smaller folder'));
    await prepareSource(h.deps, 'd1');
    const job = await h.jobs.get('d1');
    expect(job).toMatchObject({
      status: 'failed',
      failed_stage: 'preparing',
      error_message: 'The source is larger than 50 MiB. Deploy a smaller folder',
    });
    expect(job?.completed_at).not.toBeNull();
    expect(h.bus.types()).toEqual(['deployment.validated.v1']);
  });

  it('fails validation naming each blocking check, and records every result, passes included', async () => {
    const h = harness();
    await h.job('d1', { environment: 'production', env: { API_TOKEN: 'plain' }, deployment_options: { allow_unauthenticated: true } });
    await validateDeployment(h.deps, 'd1');
    const job = await h.jobs.get('d1');
    expect(job?.status).toBe('failed');
    expect(job?.failed_stage).toBe('validating');
    expect(job?.error_message).toContain('plaintext_secret_validation (critical) env.API_TOKEN');
    // strict: a medium finding blocks too
    expect(job?.error_message).toContain('authentication_validation (medium)');
    expect(job?.validation_results.some((v) => v.passed && v.test_name === 'config_schema_validation')).toBe(true);
    for (const v of job?.validation_results ?? []) expect(v.timestamp).toMatch(/^\d{4}-/);
  });

  it('passes a development deployment with a plaintext secret, recording the warning, and sets the environment resources', async () => {
    const h = harness();
    await h.job('d1', { environment: 'development', env: { API_TOKEN: 'plain' } });
    await validateDeployment(h.deps, 'd1');
    const job = await h.jobs.get('d1');
    expect(job?.status).toBe('validating');
    expect(job?.validation_results.find((v) => !v.passed)).toMatchObject({ test_name: 'plaintext_secret_validation', severity: 'high' });
    expect(job?.resources).toEqual({ memory_mb: 512, cpu_cores: 0.5, concurrent_tasks: 1 });
  });

  it('checks declared dependencies: a deployed one whose health says a dependency is down is a high finding', async () => {
    const h = harness();
    await h.jobs.updateService('billing', () => ({
      agent_id: 'billing',
      service_name: 'billing',
      url: 'http://billing.test/',
      serving_revision: 'billing-r1',
      last_good_revision: 'billing-r1',
      good_revisions: [],
      deployment_id: null,
      status: 'running',
      typical_stage_ms: {},
      updated_at: h.clock.now().toISOString(),
    }));
    h.probe.answers.push({ status: 200, body: '{"services":{"db":false}}' });
    await h.job('d1', { environment: 'development', deployment_options: { depends_on: ['billing'] } });
    await validateDeployment(h.deps, 'd1');
    const job = await h.jobs.get('d1');
    // The runtime's live URL is preferred to the record's.
    expect(h.probe.urls).toEqual(['http://svc.local/health']);
    // development validates at the basic level: recorded, not blocking.
    expect(job?.status).toBe('validating');
    expect(job?.validation_results.find((v) => v.test_name === 'service_dependency_validation')).toMatchObject({
      passed: false,
      severity: 'high',
      message: 'billing: is not healthy at http://svc.local/health: dependencies reported unhealthy: db',
    });
  });

  it('checks declared dependencies: one never deployed blocks at the standard level', async () => {
    const h = harness();
    await h.job('d1', { environment: 'staging', deployment_options: { depends_on: ['billing'] } });
    await validateDeployment(h.deps, 'd1');
    const job = await h.jobs.get('d1');
    expect(job?.status).toBe('failed');
    expect(job?.error_message).toContain('service_dependency_validation (high) deployment_options.depends_on: billing: is not deployed');
  });
});

describe('the build stage', () => {
  it('submits a tagged build and waits; only its own build notifications move it', async () => {
    const h = harness();
    await h.job('d1');
    await validateDeployment(h.deps, 'd1');
    await prepareSource(h.deps, 'd1');
    await startBuild(h.deps, 'd1');
    expect(h.builder.submitted[0]).toMatchObject({ tags: [buildTag('d1')], substitutions: { _DEPLOYMENT_ID: 'd1' } });
    expect(await onBuildNotification(h.deps, { ...notification('other', 'd1', 'SUCCESS'), tags: [] })).toBe('not a Baton build');
    expect(await onBuildNotification(h.deps, { ...notification('other', 'd1', 'SUCCESS'), tags: [], substitutions: {} })).toBe(
      'not a Baton build',
    );
    // Correlated by the tag alone when a notification lacks the substitution.
    expect(await onBuildNotification(h.deps, { ...notification('build-1', 'd1', 'QUEUED'), substitutions: {} })).toBe('progress');
    expect(await onBuildNotification(h.deps, notification('build-999', 'd1', 'SUCCESS'))).toMatch(/^stale/);
    expect(await onBuildNotification(h.deps, notification('build-1', 'd1', 'WORKING'))).toBe('progress');
    expect((await h.jobs.get('d1'))?.current_step).toBe('Building');
    const ok = notification('build-1', 'd1', 'SUCCESS', {
      results: { images: [{ name: 'img', digest: 'sha256:1' }] },
      createTime: '2026-01-01T00:00:00Z',
      finishTime: '2026-01-01T00:00:02Z',
    });
    expect(await onBuildNotification(h.deps, ok)).toBe('built');
    expect(await onBuildNotification(h.deps, ok)).toMatch(/^stale/);
    expect(await onBuildNotification(h.deps, notification('build-1', 'd1', 'WORKING'))).toMatch(/^stale/);
    const job = await h.jobs.get('d1');
    expect(job?.artifact).toEqual({ ref: 'img', digest: 'sha256:1' });
    expect(job?.measurements.build_ms).toBe(2000);
    // The duplicate SUCCESS re-sent the hand-off (in case the first publish was lost); once the
    // deploy stage has started, a further duplicate sends nothing.
    expect(h.bus.types().filter((t) => t === 'deployment.built.v1')).toHaveLength(2);
    await deployRevision(h.deps, 'd1');
    expect(await onBuildNotification(h.deps, ok)).toMatch(/^stale/);
    expect(h.bus.types().filter((t) => t === 'deployment.built.v1')).toHaveLength(2);
  });

  it('asks for a retry when a notification beats the build stage recording its build id', async () => {
    const h = harness();
    await h.job(
      'd1',
      {},
      {
        status: 'building',
        stage: 'building',
        claim: { stage: 'building', token: 'worker', expires_at: '2026-01-01T01:00:00.000Z', done: false, ephemeral: true },
      },
    );
    await expect(onBuildNotification(h.deps, notification('build-7', 'd1', 'SUCCESS'))).rejects.toThrow('not recorded yet');
    expect((await h.jobs.get('d1'))?.status).toBe('building');
  });

  it.each([
    ['FAILURE', 'failed'],
    ['TIMEOUT', 'timed out'],
    ['INTERNAL_ERROR', 'internal error'],
    ['CANCELLED', 'was cancelled'],
    ['EXPIRED', 'expired'],
  ])('fails the deployment on %s with the detail and the log link', async (status, words) => {
    const h = harness();
    await h.job('d1');
    await validateDeployment(h.deps, 'd1');
    await prepareSource(h.deps, 'd1');
    await startBuild(h.deps, 'd1');
    await onBuildNotification(
      h.deps,
      notification('build-1', 'd1', status, { failureInfo: { detail: 'step 1 exited 2' }, logUrl: 'https://console/build-1' }),
    );
    const job = await h.jobs.get('d1');
    expect(job?.status).toBe('failed');
    expect(job?.failed_stage).toBe('building');
    expect(job?.error_message).toContain(words);
    expect(job?.error_message).toContain('step 1 exited 2');
    expect(job?.error_message).toContain('https://console/build-1');
  });
});

describe('verification and promotion', () => {
  it('polls through tasks until this exact revision is ready and healthy, then promotes', async () => {
    const h = harness();
    await h.job('d1');
    const revision = await throughDeploy(h, 'd1');
    expect(h.runtime.deployed[0]).toMatchObject({ revision, tag: 'candidate' });
    expect(h.tasks.tasks.map((t) => t.payload)).toEqual([{ type: 'verify.poll.v1', deployment_id: 'd1', attempt: 1 }]);

    await verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: 'd1', attempt: 1 });
    expect((await h.jobs.get('d1'))?.status).toBe('verifying');
    expect(h.tasks.tasks).toHaveLength(2);
    // A stale or duplicate poll changes nothing.
    expect(await verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: 'd1', attempt: 1 })).toBe(
      'duplicate delivery: the stage is running',
    );
    expect(await verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: 'd1', attempt: 3 })).toMatch(/^stale/);
    expect(h.tasks.tasks).toHaveLength(2);

    h.runtime.ready(revision);
    await verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: 'd1', attempt: 2 });
    expect(h.probe.urls).toEqual(['http://tag.local/health']);
    expect(h.bus.types().at(-1)).toBe('deployment.verified.v1');

    await testCandidate(h.deps, 'd1');

    await promoteRevision(h.deps, 'd1');
    const job = await h.jobs.get('d1');
    expect(job).toMatchObject({ status: 'completed', progress: 100, service_url: 'http://svc.local/' });
    expect(h.runtime.traffic).toEqual([{ revision, percent: 100 }]);
    expect(await h.jobs.getService('svc')).toMatchObject({ serving_revision: revision, deployment_id: 'd1' });
  });

  it('refuses to verify when another revision is the latest ready one', async () => {
    const h = harness();
    await h.job('d1');
    const revision = await throughDeploy(h, 'd1');
    h.runtime.ready(revision);
    h.runtime.latestReady = 'svc-someoneelse';
    await verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: 'd1', attempt: 1 });
    const job = await h.jobs.get('d1');
    expect(job?.status).toBe('failed');
    expect(job?.error_message).toContain('latest ready revision is svc-someoneelse');
  });

  it('retries a failed health check, then rolls back to the previous revision', async () => {
    const h = harness();
    await servingOld(h);
    h.runtime.traffic = [{ revision: 'svc-old', percent: 100 }];
    await h.job('d1');
    const revision = await throughDeploy(h, 'd1');
    h.runtime.ready(revision);
    h.probe.answers = [
      { status: 500, body: '' },
      { status: 200, body: '{"services":{"db":false}}' },
    ];
    await verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: 'd1', attempt: 1 });
    expect((await h.jobs.get('d1'))?.health_failures).toBe(1);
    await verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: 'd1', attempt: 2 });
    let job = await h.jobs.get('d1');
    expect(job?.status).toBe('rolling_back');
    expect(job?.error_message).toContain('dependencies reported unhealthy: db');
    expect(h.bus.types().at(-1)).toBe('deployment.rollback_requested.v1');

    await rollBack(h.deps, 'd1');
    expect(await pollRollback(h)).toBe('checked');
    job = await h.jobs.get('d1');
    expect(job?.status).toBe('rolled_back');
    expect(h.runtime.traffic).toEqual([{ revision: 'svc-old', percent: 100 }]);
    expect(h.runtime.deleted).toEqual([revision]);
    expect(await rollBack(h.deps, 'd1')).toBe('stale event: the job is rolled_back');
  });

  it('moves traffic in canary steps through tasks', async () => {
    const h = harness();
    await servingOld(h);
    await h.job('d1', { deployment_options: { strategy: { type: 'canary', steps: [10, 100], window_seconds: 5 } } });
    const revision = await throughDeploy(h, 'd1');
    h.runtime.ready(revision);
    await verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: 'd1', attempt: 1 });
    await testCandidate(h.deps, 'd1');
    await promoteRevision(h.deps, 'd1');
    expect(h.runtime.traffic).toEqual([
      { revision, percent: 10, tag: 'candidate' },
      { revision: 'svc-old', percent: 90 },
    ]);
    const step = h.tasks.tasks.at(-1);
    expect(step?.payload).toEqual({ type: 'promote.step.v1', deployment_id: 'd1', step: 1, check: 1 });
    // The window (5 s) is shorter than canary_check_ms: one check, at its end.
    expect((step?.schedule_time_ms ?? 0) - h.clock.now().getTime()).toBe(5000);
    h.clock.advance(5000);
    const { canaryStep } = await import('../../shared/pipeline/promote.js');
    await canaryStep(h.deps, { type: 'promote.step.v1', deployment_id: 'd1', step: 1 });
    expect(h.runtime.traffic).toEqual([{ revision, percent: 100 }]);
    expect((await h.jobs.get('d1'))?.status).toBe('completed');
  });
});

describe('requests', () => {
  it('accepts a deployment: a queued job and one requested event', async () => {
    const h = harness();
    const req = (await import('../../shared/domain/request.js')).DeploymentRequestSchema.parse({ agent_id: 'svc' });
    const res = await acceptDeployment(h.deps, req);
    expect(res).toEqual({ message: 'Deployment started', deployment_id: 'id-1', agent_id: 'svc', status: 'queued' });
    expect(h.bus.types()).toEqual(['deployment.requested.v1']);
    // A second one of a busy agent waits (test/unit/queue.test.ts): no second event.
    expect(await acceptDeployment(h.deps, req)).toMatchObject({ status: 'queued', queue_reason: 'agent_busy', queue_position: 1 });
    expect(h.bus.types()).toEqual(['deployment.requested.v1']);
  });

  it('refuses a manual rollback while a deployment of the agent is running', async () => {
    const h = harness();
    await h.job('old', {}, { status: 'completed', revision: 'svc-2', previous_revision: 'svc-1' });
    await h.job('running', {}, { status: 'building' });
    await expect(requestRollback(h.deps, { deployment_id: 'old', rollback_reason: 'why' })).rejects.toMatchObject({
      code: 'conflict',
      field: 'deployment_id',
    });
  });

  it('cancels a queued deployment at once and a running one at its next stage boundary', async () => {
    const h = harness();
    await h.job('q1');
    await requestCancel(h.deps, 'q1');
    expect((await h.jobs.get('q1'))?.status).toBe('cancelled');

    await h.job('r1', { agent_id: 'other' });
    await validateDeployment(h.deps, 'r1');
    await prepareSource(h.deps, 'r1');
    await startBuild(h.deps, 'r1');
    await requestCancel(h.deps, 'r1');
    expect(h.builder.cancelled).toEqual(['build-1']);
    expect((await h.jobs.get('r1'))?.status).toBe('building');
    await onBuildNotification(h.deps, notification('build-1', 'r1', 'CANCELLED'));
    expect((await h.jobs.get('r1'))?.status).toBe('cancelled');
    await expect(requestCancel(h.deps, 'r1')).rejects.toMatchObject({ code: 'conflict' });
  });

  it('removes the revision of a deployment cancelled after it was deployed', async () => {
    const h = harness();
    await h.job('d1');
    const revision = await throughDeploy(h, 'd1');
    await requestCancel(h.deps, 'd1');
    await verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: 'd1', attempt: 1 });
    expect((await h.jobs.get('d1'))?.status).toBe('cancelled');
    expect(h.runtime.deleted).toEqual([revision]);
  });
});

describe('a hand-off lost after its stage committed', () => {
  it('is sent again when the build notification is redelivered', async () => {
    const h = harness();
    await h.job('d1');
    await validateDeployment(h.deps, 'd1');
    await prepareSource(h.deps, 'd1');
    await startBuild(h.deps, 'd1');
    const ok = notification('build-1', 'd1', 'SUCCESS', { results: { images: [{ name: 'img', digest: 'sha256:1' }] } });
    h.bus.failNext = 1;
    await expect(onBuildNotification(h.deps, ok)).rejects.toThrow('bus unavailable');
    expect(h.bus.types()).not.toContain('deployment.built.v1');
    await onBuildNotification(h.deps, ok);
    expect(h.bus.types().filter((t) => t === 'deployment.built.v1')).toHaveLength(1);
  });

  it('is sent again when a readiness poll is retried', async () => {
    const h = harness();
    await h.job('d1');
    await throughDeploy(h, 'd1');
    h.tasks.failNext = 1;
    await expect(verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: 'd1', attempt: 1 })).rejects.toThrow('queue unavailable');
    expect(h.tasks.tasks.map((t) => (t.payload as { attempt: number }).attempt)).toEqual([1]);
    await verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: 'd1', attempt: 1 });
    expect(h.tasks.tasks.map((t) => (t.payload as { attempt: number }).attempt)).toEqual([1, 2]);
  });

  it('drives a stuck rollback again from the watchdog instead of failing it', async () => {
    const h = harness();
    await h.job(
      'd1',
      {},
      { status: 'rolling_back', stage: 'rolling_back', revision: 'svc-new', previous_revision: 'svc-old', claim: null },
    );
    h.clock.advance(12 * 60_000);
    expect(await sweepStuckDeployments(h.deps)).toEqual([]);
    expect(h.bus.types()).toEqual(['deployment.rollback_requested.v1']);
    expect((await h.jobs.get('d1'))?.status).toBe('rolling_back');
  });
});

describe('a failed rollback job', () => {
  it('never removes the revision it was restoring', async () => {
    const h = harness();
    await h.job('rb', {}, { kind: 'rollback', rollback_of: 'gone', revision: 'svc-good' });
    await rollBack(h.deps, 'rb');
    const job = await h.jobs.get('rb');
    expect(job?.status).toBe('failed');
    expect(job?.error_message).toContain('does not exist');
    expect(h.runtime.deleted).toEqual([]);
  });
});

describe('the watchdog', () => {
  it('fails only deployments stuck past their stage deadline, naming the stage', async () => {
    const h = harness();
    await h.job(
      'stuck',
      {},
      {
        status: 'building',
        stage: 'building',
        claim: { stage: 'building', token: 'b', expires_at: '2026-01-01T00:10:00.000Z', done: false, ephemeral: false },
      },
    );
    await h.job(
      'fine',
      { agent_id: 'b' },
      {
        status: 'building',
        stage: 'building',
        claim: { stage: 'building', token: 'b', expires_at: '2026-01-01T01:00:00.000Z', done: false, ephemeral: false },
      },
    );
    await h.job('waiting', { agent_id: 'c' });
    expect(await sweepStuckDeployments(h.deps)).toEqual([]);
    h.clock.advance(12 * 60_000);
    expect(await sweepStuckDeployments(h.deps)).toEqual(['stuck']);
    expect(await h.jobs.get('stuck')).toMatchObject({ status: 'failed', failed_stage: 'building' });
    expect((await h.jobs.get('stuck'))?.error_message).toContain('No progress in the building stage');
    expect((await h.jobs.get('fine'))?.status).toBe('building');
    expect((await h.jobs.get('waiting'))?.status).toBe('queued');
  });

  it("drives again a stage whose worker died with nothing to redeliver its event (another instance's lapsed claim), at most twice, then fails it", async () => {
    const h = harness();
    h.deps.settings = { ...h.deps.settings, worker_id: 'instance-b', sole_worker: false };
    await h.job('d1');
    await validateDeployment(h.deps, 'd1');
    const dead = {
      stage: 'preparing' as const,
      token: 'dead',
      expires_at: '2026-01-01T00:10:00.000Z',
      done: false,
      ephemeral: true,
      holder: 'instance-a',
    };
    await h.jobs.update('d1', (j) => ({ ...j, status: 'preparing', stage: 'preparing', claim: dead }));
    // Its redelivery came while the claim was live and was taken for a duplicate: nothing else will come.
    expect(await prepareSource(h.deps, 'd1')).toBe('duplicate delivery: the stage is running');
    h.clock.advance(12 * 60_000);
    const sent = h.bus.types().length;
    expect(await sweepStuckDeployments(h.deps)).toEqual([]);
    expect(h.bus.types().slice(sent)).toEqual(['deployment.validated.v1']);
    expect((await h.jobs.get('d1'))?.watchdog_redrives).toBe(1);
    // The event sent again takes the lapsed claim over and the stage runs.
    expect(await prepareSource(h.deps, 'd1')).toBe('ran');
    expect((await h.jobs.get('d1'))?.claim).toMatchObject({ done: true, holder: 'instance-b' });

    // Done, but its hand-off was lost: the entering event again re-sends the hand-off only.
    h.clock.advance(12 * 60_000);
    expect(await sweepStuckDeployments(h.deps)).toEqual([]);
    expect(await prepareSource(h.deps, 'd1')).toBe('done');
    expect(h.bus.types().slice(-1)).toEqual(['deployment.prepared.v1']);
    expect((await h.jobs.get('d1'))?.watchdog_redrives).toBe(2);
    expect(h.sources.calls).toBe(1);

    // Still stuck after MAX_WATCHDOG_REDRIVES: failed, as before.
    h.clock.advance(12 * 60_000);
    expect(await sweepStuckDeployments(h.deps)).toEqual(['d1']);
    expect(await h.jobs.get('d1')).toMatchObject({ status: 'failed', failed_stage: 'preparing' });
  });
});

/** A job at promoting step 1 of a 10 % → 100 % canary, over a service whose split has entries Baton does not own. */
async function canaryAt10(h: ReturnType<typeof harness>, traffic = [{ revision: 'svc-old', percent: 100 }]) {
  await servingOld(h);
  h.runtime.traffic = traffic;
  await h.job('d1', { deployment_options: { strategy: { type: 'canary', steps: [10, 100], window_seconds: 5 } } });
  const revision = await throughDeploy(h, 'd1');
  h.runtime.ready(revision);
  await verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: 'd1', attempt: 1 });
  await testCandidate(h.deps, 'd1');
  await promoteRevision(h.deps, 'd1');
  return revision;
}

describe('promotion keeps what it does not own', () => {
  it('keeps other tags and a pinned split through every canary step and the final promotion', async () => {
    const h = harness();
    const others = [
      { revision: 'svc-old', percent: 80 },
      { revision: 'svc-pinned', percent: 20, tag: 'blue' },
      { revision: 'svc-qa', percent: 0, tag: 'qa' },
    ];
    const revision = await canaryAt10(h, others);
    expect(h.runtime.traffic).toEqual([
      { revision, percent: 8, tag: 'candidate' },
      { revision: 'svc-old', percent: 72 },
      { revision: 'svc-pinned', percent: 20, tag: 'blue' },
      { revision: 'svc-qa', percent: 0, tag: 'qa' },
    ]);
    h.clock.advance(5000);
    const { canaryStep } = await import('../../shared/pipeline/promote.js');
    await canaryStep(h.deps, { type: 'promote.step.v1', deployment_id: 'd1', step: 1 });
    expect(h.runtime.traffic).toEqual([
      { revision, percent: 80 },
      { revision: 'svc-pinned', percent: 20, tag: 'blue' },
      { revision: 'svc-qa', percent: 0, tag: 'qa' },
    ]);
    expect((await h.jobs.get('d1'))?.status).toBe('completed');
  });
});

describe('rollback waits for the runtime to apply the restored split', () => {
  it('removes the failed canary revision only once the runtime serves the old split, never while it reconciles', async () => {
    const h = harness();
    const revision = await canaryAt10(h);
    h.runtime.reconcileDelayMs = 5000;
    // The canary became unhealthy in its window: 10 % of the traffic is on the failed revision.
    await failDeployment(h.deps, 'd1', 'promoting', 'Canary revision became unhealthy');
    expect((await h.jobs.get('d1'))?.status).toBe('rolling_back');

    expect(await rollBack(h.deps, 'd1')).toBe('rolling back');
    expect(h.runtime.writes.at(-1)).toEqual([{ revision: 'svc-old', percent: 100 }]);
    // The runtime still serves the canary split: nothing is removed, the next poll is scheduled.
    expect(await pollRollback(h)).toBe('checked');
    expect(h.runtime.deleted).toEqual([]);
    expect(await h.jobs.get('d1')).toMatchObject({ status: 'rolling_back', claim: { token: expect.stringMatching(/-poll-2$/) } });
    h.clock.advance(5000);
    expect(await pollRollback(h)).toBe('checked');
    expect(h.runtime.deleted).toEqual([revision]);
    expect(h.runtime.traffic).toEqual([{ revision: 'svc-old', percent: 100 }]);
    expect(await h.jobs.get('d1')).toMatchObject({ status: 'rolled_back', progress: 100, current_step: 'Traffic restored to svc-old' });
    expect((await h.jobs.getService('svc'))?.serving_revision).toBe('svc-old');
  });

  it('gives up after reconcile_attempts polls with what the runtime serves', async () => {
    const h = harness();
    h.deps.settings.reconcile_attempts = 3;
    const revision = await canaryAt10(h);
    h.runtime.reconcileDelayMs = 3_600_000;
    // The canary became unhealthy in its window: 10 % of the traffic is on the failed revision.
    await failDeployment(h.deps, 'd1', 'promoting', 'Canary revision became unhealthy');
    await rollBack(h.deps, 'd1');
    for (let i = 0; i < 3; i++) await pollRollback(h);
    const job = await h.jobs.get('d1');
    expect(job?.status).toBe('failed');
    expect(job?.error_message).toContain('did not apply the restored traffic split after 3 checks (still reconciling)');
    expect(job?.error_message).toContain(`${revision} 10% (candidate)`);
    expect(h.runtime.deleted).toEqual([]);
    expect(h.tasks.tasks.filter((t) => t.queue === QUEUES.rollbackPoll)).toHaveLength(3);
  });

  it('a manual rollback completes both jobs only once the split is served', async () => {
    const h = harness();
    h.runtime.reconcileDelayMs = 1000;
    await h.job('done', {}, { status: 'completed', revision: 'svc-2', previous_revision: 'svc-1' });
    h.runtime.traffic = [{ revision: 'svc-2', percent: 100 }];
    await h.job('rb', {}, { kind: 'rollback', rollback_of: 'done', revision: 'svc-1' });
    await rollBack(h.deps, 'rb');
    await pollRollback(h);
    expect([(await h.jobs.get('done'))?.status, (await h.jobs.get('rb'))?.status]).toEqual(['completed', 'rolling_back']);
    h.clock.advance(1000);
    await pollRollback(h);
    expect([(await h.jobs.get('done'))?.status, (await h.jobs.get('rb'))?.status]).toEqual(['rolled_back', 'rolled_back']);
    expect(h.runtime.deleted).toEqual([]);
  });
});

describe('failure messages are redacted', () => {
  it('stores a failed revision’s last output without the secret it printed (job, log tail, full log)', async () => {
    const h = harness();
    await h.job('d1');
    const revision = await throughDeploy(h, 'd1');
    h.runtime.revisions.set(revision, {
      name: revision,
      state: 'failed',
      message:
        'the process exited with code 1 during start-up. Last output:\nconnecting with API_KEY=sk-live-4f9a8b7c6d\nAuthorization: Bearer eyJhbGciOi.secret',
      tag_url: null,
    });
    await verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: 'd1', attempt: 1 });
    const job = await h.jobs.get('d1');
    expect(job?.status).toBe('failed');
    expect(job?.error_message).toContain('Last output');
    const stored = [job?.error_message ?? '', ...(job?.logs ?? []), (await h.deps.logs.read('svc', 'd1')) ?? ''].join('\n');
    expect(stored).toContain('[REDACTED]');
    expect(stored).not.toContain('sk-live-4f9a8b7c6d');
    expect(stored).not.toContain('eyJhbGciOi');
  });
});
