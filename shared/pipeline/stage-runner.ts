import { randomUUID } from 'node:crypto';
import { isPermanent, messageOf } from '../domain/errors.js';
import { type EventType, stageEvent } from '../domain/events.js';
import { type Job, LOG_TAIL_LINES } from '../domain/job.js';
import { serviceName } from '../domain/names.js';
import { canTransition, isFinal, type PipelineStage, previousStatus, STAGE_PROGRESS, STAGE_STEP, type Stage } from '../domain/status.js';
import { TOPIC_OF_EVENT } from '../domain/topics.js';
import type { PipelineDeps } from './deps.js';
import type { Level } from './logs.js';

/** What a stage hands on when its work is committed. */
export type Handoff =
  | { kind: 'event'; type: EventType }
  | { kind: 'task'; queue: string; name: string; payload: unknown; delay_ms: number }
  | { kind: 'none' };

export interface StageOutcome {
  patch?: Partial<Job>;
  /** Done: the stage's work is committed and the handoff goes out. Waiting: an external event continues it under `token`. */
  result: { done: true; handoff: Handoff } | { done: false; token: string; lease_ms: number; handoff: Handoff };
}

export interface StageContext {
  job: Job;
  log: (message: string, level?: Level) => void;
}

type Claimed = { ok: true; job: Job } | { ok: false; reason: string };

const iso = (deps: PipelineDeps) => deps.clock.now().toISOString();

export function stageLogger(deps: PipelineDeps, job: Job, stage: Stage) {
  return (message: string, level: Level = 'INFO') => deps.logs.write(job.agent_id, job.deployment_id, level, message, stage);
}

/**
 * Compare-and-set the job into `stage`. Returns the claimed job, or why the event changes
 * nothing: a duplicate (the stage is claimed and its lease is live), a stale event (the job is
 * past this stage), or a cancellation handled here at the stage boundary.
 */
export async function claimStage(deps: PipelineDeps, id: string, stage: PipelineStage, knownToken?: string): Promise<Claimed> {
  const now = deps.clock.now();
  const token = knownToken ?? randomUUID();
  const fresh = () => ({
    stage,
    token,
    expires_at: lease(now, deps.settings.claim_lease_ms),
    done: false,
    ephemeral: knownToken === undefined,
  });
  let reason = '';
  let cancelled = false;
  let republish = false;
  const res = await deps.jobs.update(id, (job) => {
    reason = '';
    cancelled = false;
    republish = false;
    if (job.cancel_requested && !isFinal(job.status) && job.status !== 'rolling_back' && job.status !== 'promoting') {
      cancelled = true;
      return cancelledJob(job, now.toISOString());
    }
    if (job.status === previousStatus(stage)) {
      if (job.status !== 'queued' && !job.claim?.done) {
        reason = `the ${job.status} stage has not finished`;
        return null;
      }
      return enterStage(job, stage, fresh(), now);
    }
    if (job.status === stage && job.claim) {
      if (job.claim.done) {
        republish = true;
        reason = 'stage already done';
        return null;
      }
      // A deterministic token (a named task's retry) is the same worker coming back: let it run.
      if (job.claim.token === token) return { ...job, claim: { ...job.claim, expires_at: lease(now, deps.settings.claim_lease_ms) } };
      if (Date.parse(job.claim.expires_at) > now.getTime()) {
        reason = 'duplicate delivery: the stage is running';
        return null;
      }
      // The lease lapsed: the worker that held it died. Take over.
      return { ...job, claim: fresh() };
    }
    if (job.status === stage && !job.claim) {
      return { ...job, claim: fresh() };
    }
    reason = `stale event: the job is ${job.status}`;
    return null;
  });
  if (!res) return { ok: false, reason: 'no such deployment' };
  if (cancelled && res.changed) {
    await afterCancel(deps, res.job, stage);
    return { ok: false, reason: 'cancelled' };
  }
  if (!res.changed) return { ok: false, reason: republish ? 'done' : reason };
  if (res.job.claim?.token !== token) return { ok: false, reason: 'lost the claim' };
  stageLogger(deps, res.job, stage)(`${STAGE_STEP[stage]}`);
  return { ok: true, job: res.job };
}

/** Continue a stage that waits on something external (a build, a readiness poll) under `token`. */
export async function continueStage(deps: PipelineDeps, id: string, stage: Stage, token: string): Promise<Claimed> {
  const job = await deps.jobs.get(id);
  if (!job) return { ok: false, reason: 'no such deployment' };
  if (job.status !== stage || !job.claim || job.claim.done || job.claim.token !== token) {
    return { ok: false, reason: `stale: the job is ${job.status}` };
  }
  if (job.cancel_requested && stage !== 'rolling_back' && stage !== 'promoting') {
    const res = await deps.jobs.update(id, (j) => (j.status === stage ? cancelledJob(j, iso(deps)) : null));
    if (res?.changed) await afterCancel(deps, res.job, stage);
    return { ok: false, reason: 'cancelled' };
  }
  return { ok: true, job };
}

/** Commits the stage's outcome (only while this worker still holds the claim), then hands off. */
export async function commitStage(deps: PipelineDeps, job: Job, stage: Stage, outcome: StageOutcome): Promise<Job | null> {
  const token = job.claim?.token;
  const now = deps.clock.now();
  const lines = deps.logs.take(job.deployment_id);
  const res = await deps.jobs.update(job.deployment_id, (cur) => {
    const claim = cur.claim;
    if (cur.status !== stage || !claim || claim.token !== token || claim.done) return null;
    const next: Job = { ...cur, ...outcome.patch, logs: [...cur.logs, ...lines].slice(-LOG_TAIL_LINES), updated_at: now.toISOString() };
    if (outcome.result.done) {
      next.claim = { ...claim, done: true };
      next.progress = Math.max(next.progress, STAGE_PROGRESS[stage][1]);
      const t = cur.stage_timings[stage];
      if (t) {
        next.stage_timings = {
          ...next.stage_timings,
          [stage]: { ...t, completed_at: now.toISOString(), duration_ms: now.getTime() - Date.parse(t.started_at) },
        };
      }
    } else {
      next.claim = { stage, token: outcome.result.token, expires_at: lease(now, outcome.result.lease_ms), done: false, ephemeral: false };
    }
    return next;
  });
  if (!res?.changed) return null;
  await handOff(deps, res.job, outcome.result.handoff);
  return res.job;
}

export async function handOff(deps: PipelineDeps, job: Job, handoff: Handoff): Promise<void> {
  if (handoff.kind === 'event') {
    const ev = stageEvent(handoff.type, job.deployment_id, iso(deps));
    await deps.bus.publish(TOPIC_OF_EVENT[handoff.type], Buffer.from(JSON.stringify(ev)), {
      type: ev.type,
      deployment_id: ev.deployment_id,
      idempotency_key: ev.idempotency_key,
    });
  } else if (handoff.kind === 'task') {
    await deps.tasks.enqueue(handoff.queue, {
      name: handoff.name,
      payload: handoff.payload,
      schedule_time_ms: deps.clock.now().getTime() + handoff.delay_ms,
    });
  }
}

/**
 * Runs `work` under the claim and maps its result or error: a permanent error fails the
 * deployment (rolling back when a revision exists), anything else releases the claim and is
 * rethrown so the trigger retries.
 */
export async function runClaimed(
  deps: PipelineDeps,
  job: Job,
  stage: Stage,
  work: (ctx: StageContext) => Promise<StageOutcome>,
): Promise<void> {
  const log = stageLogger(deps, job, stage);
  try {
    const outcome = await work({ job, log });
    await commitStage(deps, job, stage, outcome);
  } catch (err) {
    if (isPermanent(err)) {
      await failDeployment(deps, job.deployment_id, stage, messageOf(err));
      return;
    }
    log(`Transient error, will retry: ${messageOf(err)}`, 'WARNING');
    await deps.logs.flush(job.deployment_id);
    throw err;
  } finally {
    await deps.logs.flush(job.deployment_id);
  }
}

/**
 * Fails the deployment with a message a user can act on. When a revision was created and
 * auto_rollback is on and an earlier revision exists, the job goes to rolling_back and the
 * rollback function restores traffic; otherwise it ends failed and the new revision is removed.
 */
export async function failDeployment(deps: PipelineDeps, id: string, stage: Stage, message: string): Promise<void> {
  const willRollBack = (job: Job) =>
    job.revision !== null &&
    job.request.deployment_options.auto_rollback &&
    job.previous_revision !== null &&
    canTransition(job.status, 'rolling_back');
  // A job that ends failed has its revision removed first, so whoever sees `failed` finds it gone.
  const before = await deps.jobs.get(id);
  if (before && !isFinal(before.status) && before.status !== 'rolling_back' && !willRollBack(before)) await cleanUpRevision(deps, before);
  const now = iso(deps);
  const lines = deps.logs.take(id);
  let rollback = false;
  const res = await deps.jobs.update(id, (job) => {
    if (isFinal(job.status) || (job.status === 'rolling_back' && stage !== 'rolling_back')) return null;
    rollback = willRollBack(job);
    const errorLine = `${now} ERROR   [${stage}] ${message}`;
    return {
      ...job,
      status: rollback ? 'rolling_back' : 'failed',
      stage: rollback ? 'rolling_back' : job.stage,
      failed_stage: stage,
      error_message: message,
      current_step: rollback ? `Rolling back to ${job.previous_revision}` : `Failed at ${stage}`,
      claim: null,
      logs: [...job.logs, ...lines, errorLine].slice(-LOG_TAIL_LINES),
      updated_at: now,
      completed_at: rollback ? null : now,
    };
  });
  if (!res?.changed) {
    // Already rolling back, and nobody holds the rollback: its event may have been lost. Send it again.
    if (res?.job.status === 'rolling_back' && !res.job.claim && stage !== 'rolling_back') {
      await handOff(deps, res.job, { kind: 'event', type: 'deployment.rollback_requested.v1' });
    }
    return;
  }
  await deps.blobs.append(`deployment_logs/${res.job.agent_id}/${id}.log`, `${now} ERROR   [${stage}] ${message}\n`);
  if (rollback) {
    await handOff(deps, res.job, { kind: 'event', type: 'deployment.rollback_requested.v1' });
  } else {
    await deps.logs.flush(id);
  }
}

/** A job just cancelled at a stage boundary: say so in its log and remove its revision. */
async function afterCancel(deps: PipelineDeps, job: Job, stage: Stage): Promise<void> {
  stageLogger(deps, job, stage)(`Cancelled at the ${stage} stage boundary, as requested`, 'WARNING');
  await cleanUpRevision(deps, job);
  await deps.logs.flush(job.deployment_id);
}

async function cleanUpRevision(deps: PipelineDeps, job: Job): Promise<void> {
  // A rollback job's revision is the one it restores: never remove that.
  if (!job.revision || job.kind === 'rollback') return;
  try {
    await deps.runtime.deleteRevision(serviceName(job.agent_id), job.revision);
    stageLogger(deps, job, job.stage ?? 'deploying')(`Removed revision ${job.revision}`);
  } catch (err) {
    stageLogger(deps, job, job.stage ?? 'deploying')(`Could not remove revision ${job.revision}: ${messageOf(err)}`, 'WARNING');
  }
}

function enterStage(job: Job, stage: Stage, claim: NonNullable<Job['claim']>, now: Date): Job {
  const at = now.toISOString();
  return {
    ...job,
    status: stage,
    stage,
    current_step: STAGE_STEP[stage],
    progress: Math.max(job.progress, STAGE_PROGRESS[stage][0]),
    started_at: job.started_at ?? at,
    updated_at: at,
    claim,
    stage_timings: { ...job.stage_timings, [stage]: { started_at: at, completed_at: null, duration_ms: null } },
  };
}

function cancelledJob(job: Job, now: string): Job {
  return { ...job, status: 'cancelled', current_step: 'Cancelled', claim: null, updated_at: now, completed_at: now };
}

function lease(now: Date, ms: number): string {
  return new Date(now.getTime() + ms).toISOString();
}

/**
 * The common shape of a stage: claim it, run the work, commit and hand off. When the event
 * finds the stage done already (a crash between commit and publish), the hand-off goes out again;
 * the next stage tolerates the duplicate.
 */
export async function runStage(
  deps: PipelineDeps,
  id: string,
  stage: PipelineStage,
  handoffWhenDone: Handoff,
  work: (ctx: StageContext) => Promise<StageOutcome>,
): Promise<string> {
  const claim = await claimStage(deps, id, stage);
  if (!claim.ok) {
    if (claim.reason === 'done' && handoffWhenDone.kind !== 'none') {
      const job = await deps.jobs.get(id);
      if (job?.status === stage) await handOff(deps, job, handoffWhenDone);
    }
    return claim.reason;
  }
  const token = claim.job.claim?.token;
  try {
    await runClaimed(deps, claim.job, stage, work);
  } catch (err) {
    // Release the claim so the retry of this event runs the stage again instead of taking it for a duplicate.
    await deps.jobs.update(id, (j) =>
      j.status === stage && j.claim && j.claim.token === token && !j.claim.done ? { ...j, claim: null } : null,
    );
    throw err;
  }
  return 'ran';
}

/**
 * Sends again the hand-off a waiting stage committed but may not have delivered (the publish or
 * enqueue failed after the commit). Called when a retried event finds the stage already moved on:
 * with the claim done it re-sends `whenDone`; still waiting under `next.token`, it re-sends
 * `next.handoff`. Named tasks and idempotent stages make the duplicate harmless.
 */
export async function resendHandoff(
  deps: PipelineDeps,
  id: string,
  stage: Stage,
  next: { token: string; handoff: Handoff } | null,
  whenDone: Handoff | null,
): Promise<void> {
  const job = await deps.jobs.get(id);
  if (!job || job.status !== stage || !job.claim) return;
  if (job.claim.done) {
    if (whenDone) await handOff(deps, job, whenDone);
  } else if (next && job.claim.token === next.token) {
    await handOff(deps, job, next.handoff);
  }
}

export function done(handoff: Handoff, patch?: Partial<Job>): StageOutcome {
  return { patch, result: { done: true, handoff } };
}
