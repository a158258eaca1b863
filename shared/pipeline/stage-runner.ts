import { randomUUID } from 'node:crypto';
import { decideClaim, decideContinue, finishStage, transition } from '../domain/claim.js';
import { isPermanent, messageOf, TransientError } from '../domain/errors.js';
import { type EventType, stageEvent } from '../domain/events.js';
import { type FailureDetail, failureRecord, REVISION_OUTPUT_LINES } from '../domain/failure.js';
import { type Job, LOG_TAIL_LINES } from '../domain/job.js';
import { serviceName } from '../domain/names.js';
import { stageDef } from '../domain/pipeline.js';
import { canTransition, isFinal, type PipelineStage, STAGE_STEP, type Stage, type Status } from '../domain/status.js';
import { TOPIC_OF_EVENT } from '../domain/topics.js';
import { logger } from '../logger.js';
import { admissionPolicy, type PipelineDeps } from './deps.js';
import { type Level, redact } from './logs.js';

/** What a stage hands on when its work is committed. */
export type Handoff =
  | { kind: 'event'; type: EventType }
  | { kind: 'task'; queue: string; name: string; payload: unknown; delay_ms: number }
  | { kind: 'none' };

export interface StageOutcome {
  /** Fields the stage sets; never `status`, which changes only through transition(). */
  patch?: Partial<Omit<Job, 'status'>>;
  /**
   * Done: the stage's work is committed and the handoff goes out; `to` ends the job there (the
   * last stage). Waiting: an external event continues it under `token`.
   */
  result: { done: true; handoff: Handoff; to?: Status } | { done: false; token: string; lease_ms: number; handoff: Handoff };
}

export interface StageContext {
  job: Job;
  log: (message: string, level?: Level) => void;
}

/** What an event or task found: the claimed job, or why it changes nothing (see decideClaim). */
export type Claimed =
  | { kind: 'claim'; job: Job }
  | { kind: 'cancelled' }
  | { kind: 'handoff-only' }
  | { kind: 'duplicate' }
  | { kind: 'stale'; reason: string }
  | { kind: 'missing' };

/** The words a use case returns (and its function logs) for a claim that runs nothing. */
export function claimText(c: Claimed): string {
  switch (c.kind) {
    case 'claim':
      return 'ran';
    case 'cancelled':
      return 'cancelled';
    case 'handoff-only':
      return 'done';
    case 'duplicate':
      return 'duplicate delivery: the stage is running';
    case 'stale':
      return c.reason;
    case 'missing':
      return 'no such deployment';
  }
}

const iso = (deps: PipelineDeps) => deps.clock.now().toISOString();

export function stageLogger(deps: PipelineDeps, job: Job, stage: Stage) {
  return (message: string, level: Level = 'INFO') => deps.logs.write(job.agent_id, job.deployment_id, level, message, stage);
}

/**
 * Runs a pure decision inside the transaction; returns the decision of the attempt that
 * committed (a transaction may run its mutation more than once).
 */
export async function decideAndUpdate<D>(
  deps: PipelineDeps,
  id: string,
  decide: (job: Job) => { decision: D; next: Job | null },
): Promise<{ decision: D; job: Job; changed: boolean } | null> {
  const decided: { decision: D }[] = [];
  const res = await deps.jobs.update(id, (job) => {
    const r = decide(job);
    decided[0] = { decision: r.decision };
    return r.next;
  });
  return res && decided[0] ? { ...res, decision: decided[0].decision } : null;
}

/**
 * Compare-and-set the job into `stage` (decideClaim, in the transaction). A cancellation found
 * at this stage boundary is carried out here.
 */
export async function claimStage(deps: PipelineDeps, id: string, stage: Stage, knownToken?: string): Promise<Claimed> {
  const req = {
    stage,
    now: deps.clock.now(),
    token: knownToken ?? randomUUID(),
    ephemeral: knownToken === undefined,
    lease_ms: deps.settings.claim_lease_ms,
    holder: deps.settings.worker_id,
    sole_holder: deps.settings.sole_worker,
  };
  const res = await decideAndUpdate(deps, id, (job) => {
    const decision = decideClaim(job, req);
    return { decision, next: decision.kind === 'claim' || decision.kind === 'cancel' ? decision.job : null };
  });
  if (!res) return { kind: 'missing' };
  const d = res.decision;
  // Acknowledging an event ahead of its job would strand the job until the watchdog fails it: it is
  // redelivered with back-off until the job catches up, and dead-letters (failing it, loudly) if it never does.
  if (d.kind === 'behind') throw new TransientError(`the ${stage} event for ${id} is ahead of its job: ${d.reason}; retrying`);
  if (d.kind === 'cancel') {
    await afterCancel(deps, res.job, stage);
    return { kind: 'cancelled' };
  }
  if (d.kind !== 'claim') return d;
  stageLogger(deps, res.job, stage)(`${STAGE_STEP[stage]}`);
  return { kind: 'claim', job: res.job };
}

/** Continue a stage that waits on something external (a build, a readiness poll) under `token`. */
export async function continueStage(deps: PipelineDeps, id: string, stage: Stage, token: string): Promise<Claimed> {
  const job = await deps.jobs.get(id);
  if (!job) return { kind: 'missing' };
  const seen = decideContinue(job, stage, token, deps.clock.now());
  if (seen.kind === 'stale') return seen;
  if (seen.kind === 'cancel') {
    const res = await decideAndUpdate(deps, id, (j) => {
      const decision = decideContinue(j, stage, token, deps.clock.now());
      return { decision, next: decision.kind === 'cancel' ? decision.job : null };
    });
    if (res?.decision.kind === 'cancel') await afterCancel(deps, res.job, stage);
    return { kind: 'cancelled' };
  }
  return { kind: 'claim', job };
}

/** Commits the stage's outcome (only while this worker still holds the claim), then hands off. */
export async function commitStage(deps: PipelineDeps, job: Job, stage: Stage, outcome: StageOutcome): Promise<Job | null> {
  const token = job.claim?.token;
  const now = deps.clock.now();
  const lines = deps.logs.take(job.deployment_id);
  const res = await deps.jobs.update(job.deployment_id, (cur) => {
    const claim = cur.claim;
    if (cur.status !== stage || !claim || claim.token !== token || claim.done) return null;
    const fields = { ...outcome.patch, logs: [...cur.logs, ...lines].slice(-LOG_TAIL_LINES), updated_at: now.toISOString() };
    const to = outcome.result.done ? outcome.result.to : undefined;
    const next: Job = to ? transition(cur, to, fields) : { ...cur, ...fields };
    if (outcome.result.done) return finishStage({ ...next, claim }, stage, now);
    next.claim = {
      stage,
      token: outcome.result.token,
      expires_at: lease(now, outcome.result.lease_ms),
      done: false,
      ephemeral: false,
      holder: deps.settings.worker_id,
    };
    return next;
  });
  if (!res?.changed) return null;
  await handOff(deps, res.job, outcome.result.handoff);
  if (isFinal(res.job.status)) await releaseSlots(deps, res.job);
  return res.job;
}

/**
 * A job ended: the waiting deployments of its owner and of its agent that may start now are
 * admitted (JobStore.admitWaiting) and their requested events sent. A failure here leaves them
 * waiting, or admitted without their event, until the watchdog's next sweep does the same; it
 * never fails the stage that called it.
 */
export async function releaseSlots(deps: PipelineDeps, ended: Pick<Job, 'owner' | 'agent_id' | 'deployment_id' | 'status'>): Promise<void> {
  try {
    const admitted = await deps.jobs.admitWaiting(
      { owner: ended.owner, agent_id: ended.agent_id },
      admissionPolicy(deps.settings),
      iso(deps),
    );
    for (const next of admitted) {
      deps.logs.write(
        next.agent_id,
        next.deployment_id,
        'INFO',
        `Admitted from the queue (${ended.deployment_id} ended ${ended.status}): starting`,
      );
      await handOff(deps, next, { kind: 'event', type: 'deployment.requested.v1' });
      await deps.logs.flush(next.deployment_id);
    }
  } catch (err) {
    logger.warn(`could not start the deployments waiting behind ${ended.deployment_id}: ${messageOf(err)}; the watchdog will`, {
      deployment_id: ended.deployment_id,
    });
  }
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
      await failDeployment(deps, job.deployment_id, stage, messageOf(err), { ...err.detail, hint: err.detail.hint ?? err.hint });
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
export async function failDeployment(
  deps: PipelineDeps,
  id: string,
  stage: Stage,
  message: string,
  detail: FailureDetail = {},
): Promise<void> {
  // Messages carry outside text (a build's detail, a revision's last output): redacted like every log line.
  const text = redact(message);
  const willRollBack = (job: Job) =>
    job.revision !== null &&
    job.request.deployment_options.auto_rollback &&
    job.previous_revision !== null &&
    canTransition(job.status, 'rolling_back');
  // A job that ends failed has its revision removed first, so whoever sees `failed` finds it gone.
  const before = await deps.jobs.get(id);
  // Read before the revision is removed: what it wrote is the best evidence of why it failed.
  const output = before && !detail.revision_output ? await revisionOutput(deps, before) : [];
  const failure = failureRecord(stage, message, detail, output);
  if (before && !isFinal(before.status) && before.status !== 'rolling_back' && !willRollBack(before)) await cleanUpRevision(deps, before);
  const now = iso(deps);
  const lines = deps.logs.take(id);
  const errorLine = `${now} ERROR   [${stage}] ${text}`;
  const res = await decideAndUpdate(deps, id, (job) => {
    if (isFinal(job.status) || (job.status === 'rolling_back' && stage !== 'rolling_back'))
      return { decision: 'none' as const, next: null };
    const rollback = willRollBack(job);
    const common = {
      failed_stage: stage,
      error_message: text,
      failure,
      claim: null,
      logs: [...job.logs, ...lines, errorLine].slice(-LOG_TAIL_LINES),
      updated_at: now,
    };
    return rollback
      ? {
          decision: 'rolling_back' as const,
          next: transition(job, 'rolling_back', {
            ...common,
            stage: 'rolling_back',
            current_step: `Rolling back to ${job.previous_revision}`,
            completed_at: null,
          }),
        }
      : {
          decision: 'failed' as const,
          next: transition(job, 'failed', { ...common, current_step: `Failed at ${stage}`, completed_at: now }),
        };
  });
  if (!res?.changed) {
    // Already rolling back, and nobody holds the rollback: its event may have been lost. Send it again.
    if (res?.job.status === 'rolling_back' && !res.job.claim && stage !== 'rolling_back') {
      await handOff(deps, res.job, { kind: 'event', type: 'deployment.rollback_requested.v1' });
    }
    return;
  }
  await deps.blobs.append(`deployment_logs/${res.job.agent_id}/${id}.log`, `${errorLine}\n`);
  if (res.decision === 'rolling_back') {
    await handOff(deps, res.job, { kind: 'event', type: 'deployment.rollback_requested.v1' });
  } else {
    await deps.logs.flush(id);
    await releaseSlots(deps, res.job);
  }
}

/** How long a failure waits for the runtime's logs (Cloud Logging may be slow): the record goes without them after. */
const OUTPUT_READ_MS = 3000;

/** The last lines the job's revision wrote, bounded in lines and time; none when it has no revision or they cannot be read. */
async function revisionOutput(deps: PipelineDeps, job: Job): Promise<string[]> {
  if (!job.revision || job.kind === 'rollback') return [];
  const scope = { service: serviceName(job.agent_id), revision: job.revision };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), OUTPUT_READ_MS);
  });
  try {
    const entries = await Promise.race([deps.runtimeLogs.read(scope, REVISION_OUTPUT_LINES), timeout]);
    return entries ? entries.map((e) => e.message) : [];
  } catch {
    return [];
  } finally {
    clearTimeout(timer);
  }
}

/** A job just cancelled at a stage boundary: say so in its log and remove its revision. */
async function afterCancel(deps: PipelineDeps, job: Job, stage: Stage): Promise<void> {
  stageLogger(deps, job, stage)(`Cancelled at the ${stage} stage boundary, as requested`, 'WARNING');
  await cleanUpRevision(deps, job);
  await deps.logs.flush(job.deployment_id);
  await releaseSlots(deps, job);
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
  return claimText(await runStageClaim(deps, id, stage, handoffWhenDone, work));
}

/** runStage, returning what the claim found (the claimed job once the stage has run). */
export async function runStageClaim(
  deps: PipelineDeps,
  id: string,
  stage: Stage,
  handoffWhenDone: Handoff,
  work: (ctx: StageContext) => Promise<StageOutcome>,
): Promise<Claimed> {
  const claim = await claimStage(deps, id, stage);
  if (claim.kind !== 'claim') {
    if (claim.kind === 'handoff-only' && handoffWhenDone.kind !== 'none') {
      const job = await deps.jobs.get(id);
      if (job?.status === stage) await handOff(deps, job, handoffWhenDone);
    }
    return claim;
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
  return claim;
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

/** The hand-off of a stage whose work is done: the event the pipeline table says it emits. */
export function emitsWhenDone(stage: Stage): Handoff {
  const type = stageDef(stage).emits;
  return type ? { kind: 'event', type: type as EventType } : { kind: 'none' };
}

export function done(handoff: Handoff, patch?: StageOutcome['patch'], to?: Status): StageOutcome {
  return { patch, result: { done: true, handoff, ...(to ? { to } : {}) } };
}
