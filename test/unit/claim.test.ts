import { describe, expect, it } from 'vitest';
import { type ClaimDecision, decideClaim, decideContinue, IllegalTransitionError, transition } from '../../shared/domain/claim.js';
import { type Job, newJob } from '../../shared/domain/job.js';
import { PIPELINE } from '../../shared/domain/pipeline.js';
import { DeploymentRequestSchema } from '../../shared/domain/request.js';
import { canTransition, STATUSES, type Stage, type Status } from '../../shared/domain/status.js';

const NOW = new Date('2026-01-01T00:10:00.000Z');
const base = newJob(
  'd1',
  DeploymentRequestSchema.parse({ agent_id: 'svc', source: { type: 'directory', path: '/src' } }),
  NOW.toISOString(),
);

/**
 * live/lapsed/mine/done: a claim under a known token (a wait, or this worker's own); the worker
 * claims (random token, live lease) of another process (`elsewhere`) or of this one (`here`).
 */
type ClaimState = 'none' | 'live' | 'lapsed' | 'mine' | 'done' | 'worker-elsewhere' | 'worker-here';
const CLAIM_STATES: ClaimState[] = ['none', 'live', 'lapsed', 'mine', 'done', 'worker-elsewhere', 'worker-here'];
const ME = 'this-process';
const STAGES = PIPELINE.map((s) => s.status) as Stage[];

function jobIn(status: Status, claim: ClaimState, cancel: boolean, kind: Job['kind']): Job {
  const expires = claim === 'lapsed' ? '2026-01-01T00:09:00.000Z' : '2026-01-01T00:20:00.000Z';
  const token = claim === 'mine' ? 'me' : 'other';
  return {
    ...base,
    kind,
    status,
    cancel_requested: cancel,
    claim:
      claim === 'none'
        ? null
        : {
            stage: 'validating',
            token,
            expires_at: expires,
            done: claim === 'done',
            ephemeral: claim.startsWith('worker-'),
            holder: claim === 'worker-here' ? ME : claim === 'worker-elsewhere' ? 'a-dead-boot' : undefined,
          },
  };
}

/** The protocol, written out once more from the architecture notes rather than from the code. */
function expected(job: Job, stage: Stage, sole: boolean): ClaimDecision['kind'] {
  const beforeTraffic = ['queued', 'validating', 'preparing', 'building', 'deploying', 'verifying', 'testing', 'awaiting_approval'];
  if (job.cancel_requested && beforeTraffic.includes(job.status)) return 'cancel';
  const order: Status[] = [...(beforeTraffic as Status[]), 'promoting'];
  // Approval is optional: promoting is entered from awaiting_approval, or from testing when none is needed.
  const entries: (Status | null)[] =
    stage === 'rolling_back'
      ? [job.kind === 'rollback' ? 'queued' : null]
      : job.kind === 'deployment'
        ? stage === 'promoting'
          ? ['awaiting_approval', 'testing']
          : [order[order.indexOf(stage) - 1]]
        : [null];
  if (entries.includes(job.status)) return job.status === 'queued' || job.claim?.done ? 'claim' : 'behind';
  if (job.status !== stage) return 'stale';
  if (!job.claim) return 'claim';
  if (job.claim.done) return 'handoff-only';
  if (job.claim.token === 'me') return 'claim';
  // Where this process alone runs stages, another process's worker is dead; elsewhere it may be live.
  if (job.claim.ephemeral && sole && job.claim.holder !== ME) return 'claim';
  return Date.parse(job.claim.expires_at) > NOW.getTime() ? 'duplicate' : 'claim';
}

const cases = STATUSES.flatMap((status) =>
  STAGES.flatMap((stage) =>
    CLAIM_STATES.flatMap((claim) =>
      [false, true].flatMap((cancel) =>
        (['deployment', 'rollback'] as const).flatMap((kind) =>
          [false, true].map((sole) => [status, stage, claim, cancel, kind, sole] as const),
        ),
      ),
    ),
  ),
);

describe('decideClaim, over every status × stage × claim × cancel × kind', () => {
  it(`decides each of the ${cases.length} combinations as the protocol says`, () => {
    for (const [status, stage, claimState, cancel, kind, sole] of cases) {
      const what = `job ${status}, event for ${stage}, claim ${claimState}, cancel ${cancel}, ${kind}, sole holder ${sole}`;
      const job = jobIn(status, claimState, cancel, kind);
      const d = decideClaim(job, { stage, now: NOW, token: 'me', ephemeral: false, lease_ms: 60_000, holder: ME, sole_holder: sole });
      expect(d.kind, what).toBe(expected(job, stage, sole));
      if (d.kind === 'claim') {
        expect(d.job.status, what).toBe(stage);
        if (status !== stage) expect(canTransition(status, stage), what).toBe(true);
        expect(d.job.claim?.token, what).toBe('me');
        expect(Date.parse(d.job.claim?.expires_at ?? ''), what).toBe(NOW.getTime() + 60_000);
      }
      if (d.kind === 'cancel')
        expect([d.job.status, d.job.claim, canTransition(status, 'cancelled')], what).toEqual(['cancelled', null, true]);
    }
  });

  it('enters a stage with its step label, progress and timing', () => {
    const d = decideClaim(jobIn('queued', 'none', false, 'deployment'), {
      stage: 'validating',
      now: NOW,
      token: 't',
      ephemeral: true,
      lease_ms: 1,
      holder: ME,
      sole_holder: true,
    });
    expect(d.kind === 'claim' && d.job).toMatchObject({
      status: 'validating',
      stage: 'validating',
      current_step: 'Validating configuration',
      progress: 5,
      claim: { stage: 'validating', token: 't', done: false, ephemeral: true, holder: ME },
      stage_timings: { validating: { started_at: NOW.toISOString(), completed_at: null } },
    });
  });
});

describe('decideContinue', () => {
  it.each(STATUSES.flatMap((status) => STAGES.map((stage) => [status, stage] as const)))('job %s, continuing %s', (status, stage) => {
    const waiting = {
      ...jobIn(status, 'mine', false, 'deployment'),
      claim: { stage, token: 'poll-2', expires_at: NOW.toISOString(), done: false, ephemeral: false },
    };
    expect(decideContinue(waiting, stage, 'poll-2', NOW).kind).toBe(status === stage ? 'continue' : 'stale');
    expect(decideContinue(waiting, stage, 'poll-1', NOW).kind).toBe('stale');
    const cancelling = decideContinue({ ...waiting, cancel_requested: true }, stage, 'poll-2', NOW);
    expect(cancelling.kind).toBe(status !== stage ? 'stale' : canTransition(stage, 'cancelled') ? 'cancel' : 'continue');
  });
});

describe('transition', () => {
  it.each(STATUSES.flatMap((from) => STATUSES.map((to) => [from, to] as const)))(
    '%s → %s only where the state machine allows',
    (from, to) => {
      const job = { ...base, status: from };
      if (canTransition(from, to)) {
        expect(transition(job, to, { current_step: 'x' })).toMatchObject({ status: to, current_step: 'x' });
      } else {
        expect(() => transition(job, to)).toThrow(IllegalTransitionError);
        expect(() => transition(job, to)).toThrow(`illegal status change of d1: ${from} → ${to}`);
      }
    },
  );
});
