import { describe, expect, it } from 'vitest';
import { approvalOptOutProblem, approvalPolicy } from '../../shared/domain/approval.js';
import { DEFAULT_ENVIRONMENTS, environmentsView, parseEnvironmentsFile } from '../../shared/domain/environments.js';
import { RequestError, TransientError } from '../../shared/domain/errors.js';
import { estimateEtaSeconds, type Job, typicalStageMs } from '../../shared/domain/job.js';
import { DeploymentRequestSchema } from '../../shared/domain/request.js';
import { approvalCheck } from '../../shared/pipeline/approval-check.js';
import { approvalGate } from '../../shared/pipeline/approval-gate.js';
import { approveDeployment, rejectDeployment } from '../../shared/pipeline/approval-requests.js';
import { promoteRevision } from '../../shared/pipeline/promote.js';
import { acceptDeployment, requestCancel } from '../../shared/pipeline/requests.js';
import { sweepStuckDeployments } from '../../shared/pipeline/watchdog.js';
import { harness } from '../support/fakes.js';

/**
 * Approval over in-memory ports: the gate, approve, reject, the deadline and cancel, each as the
 * use case the function or the API runs, with the job store's real transactions. The task queue
 * and bus record; the test delivers what they would.
 */

const request = (options: Record<string, unknown> = {}, environment?: string) =>
  DeploymentRequestSchema.parse({ agent_id: 'svc', ...(environment ? { environment } : {}), deployment_options: options });

/** A job whose tests passed (testing, claim done), its candidate ready. */
async function tested(options: Record<string, unknown> = {}, patch: Partial<Job> = {}, environment = 'development') {
  const h = harness();
  await h.job(
    'd1',
    { environment, deployment_options: options },
    {
      status: 'testing',
      stage: 'testing',
      revision: 'svc-r2',
      previous_revision: null,
      progress: 90,
      claim: { stage: 'testing', token: 't', expires_at: '2100-01-01T00:00:00.000Z', done: true, ephemeral: false },
      stage_timings: { testing: { started_at: '2026-01-01T00:00:00.000Z', completed_at: '2026-01-01T00:00:01.000Z', duration_ms: 1000 } },
      ...patch,
    },
  );
  h.runtime.ready('svc-r2');
  return h;
}

const get = async (h: ReturnType<typeof harness>) => (await h.jobs.get('d1')) as Job;
const conflict = (message: RegExp) => expect.objectContaining({ code: 'conflict', message: expect.stringMatching(message) });

describe('approval policy (environments and requests)', () => {
  it('is required in production by default, off elsewhere; a request opts in or out; an enforced environment refuses "none"', () => {
    const envs = DEFAULT_ENVIRONMENTS;
    expect(approvalPolicy(request({}, 'production'), envs, 'production')).toMatchObject({ required: true, timeout_s: 86400 });
    expect(approvalPolicy(request({}, 'staging'), envs, 'staging').required).toBe(false);
    expect(approvalPolicy(request({ approval: 'none' }, 'production'), envs, 'production').required).toBe(false);
    expect(approvalPolicy(request({ approval: 'required', approval_timeout_seconds: 60 }), envs, 'development')).toMatchObject({
      required: true,
      timeout_s: 60,
    });
    expect(environmentsView(envs).environments.production.approval).toBe('required');
    expect(environmentsView(envs).environments.development.approval).toBe('none');

    const strict = parseEnvironmentsFile(
      'environments:\n  prod:\n    description: P\n    resource_requirements: {memory_mb: 512, cpu_cores: 1, storage_gb: 1}\n    validation_level: strict\n    monitoring_level: standard\n    approval: enforced\n    approval_timeout_seconds: 600\n',
      'envs.yaml',
    );
    expect(approvalPolicy(request({ approval: 'none' }, 'prod'), strict, 'prod')).toMatchObject({ required: true, timeout_s: 600 });
    expect(approvalOptOutProblem(request({ approval: 'none' }, 'prod'), strict, 'prod')).toMatch(/enforces approval/);
    expect(approvalOptOutProblem(request({ approval: 'none' }, 'production'), strict, 'production')).toBeNull();
    expect(() => DeploymentRequestSchema.parse({ agent_id: 'a', deployment_options: { approval_timeout_seconds: 604801 } })).toThrow(
      /at most 604800/,
    );
    expect(() => DeploymentRequestSchema.parse({ agent_id: 'a', deployment_options: { approval: 'maybe' } })).toThrow();
  });

  it('refuses at accept time a request that opts out where approval is enforced, changing nothing', async () => {
    const h = harness();
    h.deps.settings = {
      ...h.deps.settings,
      environments: {
        ...DEFAULT_ENVIRONMENTS,
        environments: {
          ...DEFAULT_ENVIRONMENTS.environments,
          production: { ...DEFAULT_ENVIRONMENTS.environments.production, approval: 'enforced' },
        },
      },
    };
    const err = await acceptDeployment(h.deps, request({ approval: 'none' }, 'production')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RequestError);
    expect(err).toMatchObject({ code: 'invalid', field: 'deployment_options.approval' });
    expect((await h.jobs.list({ limit: 10 })).items).toEqual([]);
    expect(h.bus.published).toEqual([]);
  });
});

describe('the approval gate', () => {
  it('hands on deployment.approved at once when no approval is required; promote takes the job from testing', async () => {
    const h = await tested();
    expect(await approvalGate(h.deps, 'd1')).toMatch(/approval not required/);
    expect((await get(h)).status).toBe('testing');
    expect(h.bus.types()).toEqual(['deployment.approved.v1']);
    expect(h.tasks.tasks).toEqual([]);
    await promoteRevision(h.deps, 'd1');
    expect((await get(h)).status).toBe('completed');
    expect((await get(h)).stage_timings.awaiting_approval).toBeUndefined();
  });

  it('stops a deployment that requires approval in awaiting_approval, with its deadline as a task and no traffic moved', async () => {
    const h = await tested({ approval: 'required', approval_timeout_seconds: 3600 });
    await approvalGate(h.deps, 'd1');
    const job = await get(h);
    expect(job.status).toBe('awaiting_approval');
    expect(job.approval).toMatchObject({ state: 'pending', deadline_at: '2026-01-01T01:00:00.000Z', timeout_seconds: 3600 });
    expect(job.claim).toMatchObject({ token: 'approval', done: false, expires_at: '2026-01-01T01:10:00.000Z' });
    expect(h.bus.published).toEqual([]);
    expect(h.tasks.tasks).toEqual([
      expect.objectContaining({
        queue: 'baton-approval-check',
        schedule_time_ms: Date.parse('2026-01-01T01:00:00.000Z'),
        payload: { type: 'approval.check.v1', deployment_id: 'd1', reason: 'deadline' },
      }),
    ]);
    expect(h.runtime.writes).toEqual([]);
    // A redelivered tested event changes nothing and sends the same (named) deadline task again, deduplicated.
    await approvalGate(h.deps, 'd1');
    expect(h.tasks.tasks).toHaveLength(1);
    expect((await get(h)).approval).toEqual(job.approval);
  });
});

describe('approve and reject', () => {
  async function waiting(patch: Partial<Job> = {}) {
    const h = await tested({ approval: 'required', approval_timeout_seconds: 3600 }, patch);
    await approvalGate(h.deps, 'd1');
    return h;
  }

  it('approve publishes deployment.approved and promote moves traffic; approving again is a 409 that changes nothing', async () => {
    const h = await waiting({ owner: 'ann@example.com' });
    h.clock.advance(60_000);
    const res = await approveDeployment(h.deps, 'd1', 'ann@example.com');
    expect(res).toMatchObject({ deployment_id: 'd1', status: 'awaiting_approval' });
    const job = await get(h);
    expect(job.approval).toMatchObject({ state: 'approved', decided_by: 'ann@example.com', decided_at: '2026-01-01T00:01:00.000Z' });
    expect(job.claim).toMatchObject({ done: true, expires_at: '2026-01-01T00:11:00.000Z' });
    expect(job.stage_timings.awaiting_approval?.duration_ms).toBe(60_000);
    expect(h.bus.types()).toEqual(['deployment.approved.v1']);
    const approvals = (await h.jobs.history('svc', 50)).filter((e) => e.event === 'action');
    expect(approvals).toEqual([
      expect.objectContaining({
        action: 'approve',
        deployment_id: 'd1',
        by: 'ann@example.com',
        at: '2026-01-01T00:01:00.000Z',
      }),
    ]);

    const again = await approveDeployment(h.deps, 'd1', 'ann@example.com').catch((e: unknown) => e);
    expect(again).toEqual(conflict(/already approved by ann@example.com/));
    expect((await get(h)).approval).toEqual(job.approval);
    expect(await rejectDeployment(h.deps, 'd1', 'too late', 'ann@example.com').catch((e: unknown) => e)).toEqual(
      conflict(/already approved/),
    );

    // Refused decisions are no actions: nothing more in the trail.
    expect((await h.jobs.history('svc', 50)).filter((e) => e.event === 'action')).toEqual(approvals);

    await promoteRevision(h.deps, 'd1');
    const done = await get(h);
    expect(done.status).toBe('completed');
    expect(await approveDeployment(h.deps, 'd1', 'ann@example.com').catch((e: unknown) => e)).toEqual(conflict(/already approved/));
    // The wait is a person's time: it is not folded into the service's typical durations, and no ETA counts it.
    expect(typicalStageMs({}, done).awaiting_approval).toBeUndefined();
  });

  it('only the owner decides; another caller, or none, is refused with 403 and nothing changes', async () => {
    const h = await waiting({ owner: 'ann@example.com' });
    const before = await get(h);
    for (const caller of ['bob@example.com', null]) {
      expect(await approveDeployment(h.deps, 'd1', caller).catch((e: unknown) => e)).toMatchObject({ code: 'forbidden' });
      expect(await rejectDeployment(h.deps, 'd1', 'no', caller).catch((e: unknown) => e)).toMatchObject({ code: 'forbidden' });
    }
    expect(await get(h)).toEqual(before);
    expect(h.bus.published).toEqual([]);
    expect((await h.jobs.history('svc', 50)).filter((e) => e.event === 'action')).toEqual([]);
  });

  it('a job not (yet) waiting answers 409 saying why, also in the moment between entering the stage and committing the wait', async () => {
    const h = await tested();
    expect(await approveDeployment(h.deps, 'd1', null).catch((e: unknown) => e)).toEqual(conflict(/is testing, not awaiting approval/));
    expect(await approveDeployment(h.deps, 'nope', null).catch((e: unknown) => e)).toMatchObject({ code: 'not_found' });
    await h.jobs.update('d1', (j) => ({
      ...j,
      status: 'awaiting_approval',
      claim: { ...(j.claim as NonNullable<Job['claim']>), token: 'worker', done: false },
    }));
    expect(await approveDeployment(h.deps, 'd1', null).catch((e: unknown) => e)).toEqual(conflict(/entering awaiting_approval; try again/));
  });

  it('reject wakes approval-check, which fails the deployment naming who and why and removes the candidate; approve after it is a 409', async () => {
    const h = await waiting({ owner: 'ann@example.com' });
    h.clock.advance(5_000);
    await rejectDeployment(h.deps, 'd1', 'changelog missing', 'ann@example.com');
    expect((await get(h)).approval).toMatchObject({ state: 'rejected', reason: 'changelog missing' });
    expect((await h.jobs.history('svc', 50)).filter((e) => e.event === 'action')).toEqual([
      expect.objectContaining({
        action: 'reject',
        deployment_id: 'd1',
        by: 'ann@example.com',
        at: '2026-01-01T00:00:05.000Z',
        detail: 'changelog missing',
      }),
    ]);
    expect(await approveDeployment(h.deps, 'd1', 'ann@example.com').catch((e: unknown) => e)).toEqual(
      conflict(/was rejected .*changelog missing/),
    );
    const wake = h.tasks.tasks.at(-1);
    expect(wake).toMatchObject({
      queue: 'baton-approval-check',
      payload: { reason: 'rejected' },
      schedule_time_ms: h.clock.now().getTime(),
    });
    await approvalCheck(h.deps, wake?.payload as never);
    const job = await get(h);
    expect(job.status).toBe('failed');
    expect(job.failed_stage).toBe('awaiting_approval');
    expect(job.error_message).toMatch(
      /^Rejected by ann@example.com at .*: changelog missing; revision svc-r2 was not promoted. Deploy again once it is fixed$/,
    );
    expect(h.runtime.deleted).toEqual(['svc-r2']);
    // The deadline task arriving afterwards finds nothing to do.
    h.clock.advance(3_600_000);
    expect(await approvalCheck(h.deps, { type: 'approval.check.v1', deployment_id: 'd1', reason: 'deadline' })).toMatch(/stale/);
    expect((await get(h)).status).toBe('failed');
  });

  it('with an earlier revision and auto_rollback, a rejection rolls back (which only removes the candidate: it never served)', async () => {
    const h = await waiting({ previous_revision: 'svc-r1' });
    await rejectDeployment(h.deps, 'd1', 'no', null);
    await approvalCheck(h.deps, h.tasks.tasks.at(-1)?.payload as never);
    expect((await get(h)).status).toBe('rolling_back');
    expect(h.bus.types()).toEqual(['deployment.rollback_requested.v1']);
  });
});

describe('the approval deadline', () => {
  it('fails the deployment with a message saying what happened and how to deploy again; an early delivery is retried', async () => {
    const h = await tested({ approval: 'required', approval_timeout_seconds: 3600 });
    await approvalGate(h.deps, 'd1');
    const deadline = h.tasks.tasks[0]?.payload as never;
    h.clock.advance(60_000);
    expect(await approvalCheck(h.deps, deadline).catch((e: unknown) => e)).toBeInstanceOf(TransientError);
    expect((await get(h)).approval?.state).toBe('pending');
    h.clock.advance(3_540_000);
    await approvalCheck(h.deps, deadline);
    const job = await get(h);
    expect(job.status).toBe('failed');
    expect(job.approval?.state).toBe('expired');
    expect(job.error_message).toMatch(
      /^Not approved within 1 h \(deadline 2026-01-01T01:00:00.000Z\): revision svc-r2 was not promoted. Deploy again and approve it in time \(baton approve/,
    );
    expect(await approveDeployment(h.deps, 'd1', null).catch((e: unknown) => e)).toEqual(conflict(/not approved before its deadline/));
  });

  it('the watchdog fails a wait whose deadline task was lost, with the same message', async () => {
    const h = await tested({ approval: 'required', approval_timeout_seconds: 60 });
    await approvalGate(h.deps, 'd1');
    h.clock.advance(60_000 + h.deps.settings.claim_lease_ms + 61_000);
    expect(await sweepStuckDeployments(h.deps)).toEqual(['d1']);
    expect((await get(h)).error_message).toMatch(/^Not approved within 1 min/);
  });
});

describe('cancel while awaiting approval', () => {
  it('takes effect now (not at the deadline): the wait is woken, the job cancelled and the candidate removed', async () => {
    const h = await tested({ approval: 'required' });
    await approvalGate(h.deps, 'd1');
    await requestCancel(h.deps, 'd1');
    const wake = h.tasks.tasks.at(-1);
    expect(wake).toMatchObject({ payload: { reason: 'cancel' }, schedule_time_ms: h.clock.now().getTime() });
    expect(await approveDeployment(h.deps, 'd1', null).catch((e: unknown) => e)).toEqual(conflict(/being cancelled/));
    await approvalCheck(h.deps, wake?.payload as never);
    expect((await get(h)).status).toBe('cancelled');
    expect(h.runtime.deleted).toEqual(['svc-r2']);
  });
});

describe('the ETA while awaiting approval', () => {
  it('leaves the wait out: what follows approval is the estimate', async () => {
    const h = await tested({ approval: 'required' });
    await approvalGate(h.deps, 'd1');
    const job = await get(h);
    expect(estimateEtaSeconds(job, { promoting: 4000 }, h.clock.now().getTime() + 10 * 3_600_000)).toBe(4);
    expect(estimateEtaSeconds({ ...job, status: 'testing' }, { testing: 1000, promoting: 4000 }, h.clock.now().getTime())).toBe(5);
  });
});
