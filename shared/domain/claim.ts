import type { Job } from './job.js';
import {
  canTransition,
  entryStatuses as entryStatusesOf,
  isFinal,
  type PipelineStage,
  STAGE_PROGRESS,
  STAGE_STEP,
  type Stage,
  type Status,
} from './status.js';

/** A status change the state machine (status.ts TRANSITIONS) does not allow: a bug, never a user's doing. */
export class IllegalTransitionError extends Error {
  constructor(
    readonly from: Status,
    readonly to: Status,
    id: string,
  ) {
    super(`illegal status change of ${id}: ${from} → ${to} is not in the state machine`);
    this.name = 'IllegalTransitionError';
  }
}

/**
 * The one way a job's status changes: refuses (throws) what the state machine does not allow.
 * A job that ends drops its private_ref: no stage reads its env values or git credentials again,
 * and the job stores delete the private document a commit un-references (in the same Firestore
 * transaction; locally once the job is on disk), so they do not outlive the job's run.
 */
export function transition(job: Job, to: Status, patch: Partial<Omit<Job, 'status'>> = {}): Job {
  if (!canTransition(job.status, to)) throw new IllegalTransitionError(job.status, to, job.deployment_id);
  return { ...job, ...patch, status: to, ...(isFinal(to) ? { private_ref: null } : {}) };
}

export interface ClaimRequest {
  stage: Stage;
  now: Date;
  /** The worker's token: deterministic for a named task's retries, random for an event. */
  token: string;
  /** True when the token is random: the claim ends with the worker (see ClaimSchema.ephemeral). */
  ephemeral: boolean;
  lease_ms: number;
  /** This worker's process (ClaimSchema.holder). */
  holder: string;
  /**
   * No other process runs stages on this job store (the local stack): a worker's claim held by
   * another process is a dead one's. False on Google Cloud, where many instances run at once and
   * a claim of another may be live: there only the lease tells.
   */
  sole_holder: boolean;
}

/**
 * What an event for `stage` does to the job:
 * - claim: the job as this worker holds it (entering the stage, renewing its own claim, or taking
 *   over a lapsed one);
 * - cancel: a cancel was requested and this stage boundary is where it takes effect;
 * - handoff-only: the stage's work is committed; only its hand-off may still be undelivered;
 * - duplicate: another worker's live claim: change nothing;
 * - behind: the event is ahead of its job (the previous stage is entered but not finished, as a
 *   restart can leave it): change nothing now, but do not drop the event, retry it;
 * - stale: the job is elsewhere, with the reason.
 */
export type ClaimDecision =
  | { kind: 'claim'; job: Job }
  | { kind: 'cancel'; job: Job }
  | { kind: 'handoff-only' }
  | { kind: 'duplicate' }
  | { kind: 'behind'; reason: string }
  | { kind: 'stale'; reason: string };

/** The statuses a job may be in for an event to enter `stage`; none when no event enters it from outside. */
function entryStatuses(job: Job, stage: Stage): readonly Status[] {
  if (stage === 'rolling_back') return job.kind === 'rollback' ? ['queued'] : [];
  return job.kind === 'deployment' ? entryStatusesOf(stage as PipelineStage) : [];
}

export function decideClaim(job: Job, req: ClaimRequest): ClaimDecision {
  const { stage, now } = req;
  const at = now.toISOString();
  const fresh = {
    stage,
    token: req.token,
    expires_at: lease(now, req.lease_ms),
    done: false,
    ephemeral: req.ephemeral,
    holder: req.holder,
  };
  // Also a duplicate within a running stage: whoever comes first to a boundary stops the job.
  if (job.cancel_requested && canTransition(job.status, 'cancelled')) {
    return { kind: 'cancel', job: cancelled(job, at) };
  }
  if (entryStatuses(job, stage).includes(job.status)) {
    if (job.status !== 'queued' && !job.claim?.done) return { kind: 'behind', reason: `the ${job.status} stage has not finished` };
    return { kind: 'claim', job: enterStage(job, stage, fresh, at) };
  }
  if (job.status !== stage) return { kind: 'stale', reason: `stale event: the job is ${job.status}` };
  if (!job.claim) return { kind: 'claim', job: { ...job, claim: fresh } };
  if (job.claim.done) return { kind: 'handoff-only' };
  // A deterministic token (a named task's retry) is the same worker coming back: let it run.
  if (job.claim.token === req.token) return { kind: 'claim', job: { ...job, claim: { ...job.claim, expires_at: fresh.expires_at } } };
  // The worker's process is gone (the local stack was restarted): nothing will finish its work. Take over now.
  if (job.claim.ephemeral && req.sole_holder && job.claim.holder !== req.holder) return { kind: 'claim', job: { ...job, claim: fresh } };
  if (Date.parse(job.claim.expires_at) > now.getTime()) return { kind: 'duplicate' };
  // The lease lapsed: the worker that held it died. Take over.
  return { kind: 'claim', job: { ...job, claim: fresh } };
}

/** A stage waiting on something outside (a build, a poll, a canary window) continues only under the token it waits for. */
export type ContinueDecision = { kind: 'continue' } | { kind: 'cancel'; job: Job } | { kind: 'stale'; reason: string };

export function decideContinue(job: Job, stage: Stage, token: string, now: Date): ContinueDecision {
  if (job.status !== stage || !job.claim || job.claim.done || job.claim.token !== token) {
    return { kind: 'stale', reason: `stale: the job is ${job.status}` };
  }
  if (job.cancel_requested && canTransition(stage, 'cancelled')) return { kind: 'cancel', job: cancelled(job, now.toISOString()) };
  return { kind: 'continue' };
}

function enterStage(job: Job, stage: Stage, claim: NonNullable<Job['claim']>, at: string): Job {
  return transition(job, stage, {
    stage,
    current_step: STAGE_STEP[stage],
    progress: Math.max(job.progress, STAGE_PROGRESS[stage][0]),
    started_at: job.started_at ?? at,
    updated_at: at,
    claim,
    stage_timings: { ...job.stage_timings, [stage]: { started_at: at, completed_at: null, duration_ms: null } },
  });
}

/** The stage's work committed: its claim done (only the hand-off may remain), its progress at the stage's end, its timing closed. */
export function finishStage(job: Job, stage: Stage, now: Date): Job {
  const next: Job = { ...job };
  if (job.claim) next.claim = { ...job.claim, done: true };
  next.progress = Math.max(job.progress, STAGE_PROGRESS[stage][1]);
  const t = job.stage_timings[stage];
  if (t) {
    const at = now.toISOString();
    next.stage_timings = {
      ...job.stage_timings,
      [stage]: { ...t, completed_at: at, duration_ms: now.getTime() - Date.parse(t.started_at) },
    };
  }
  return next;
}

export function cancelled(job: Job, at: string): Job {
  return transition(job, 'cancelled', { current_step: 'Cancelled', claim: null, updated_at: at, completed_at: at });
}

function lease(now: Date, ms: number): string {
  return new Date(now.getTime() + ms).toISOString();
}
