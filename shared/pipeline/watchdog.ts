import { isWaiting } from '../domain/admission.js';
import { stuckApprovalMessage } from '../domain/approval.js';
import type { EventType } from '../domain/events.js';
import type { Job } from '../domain/job.js';
import { stageDef } from '../domain/pipeline.js';
import { isFinal, type PipelineStage, STATUSES, type Status } from '../domain/status.js';
import { type PipelineDeps, stageLeaseMs } from './deps.js';
import { failDeployment, handOff, releaseSlots } from './stage-runner.js';

/** How long past its deadline a stage may sit before the watchdog fails it. */
export const WATCHDOG_GRACE_MS = 60_000;
/**
 * How long a job may stay queued. The bus delivers a requested event within seconds and its
 * retries end in the dead letter well before this; a job still queued after it was never picked
 * up (a lost event, a document no stage can read) and would block its agent for ever.
 */
export const QUEUED_DEADLINE_MS = 15 * 60_000;
/** An admitted deployment still queued this long after its admission gets its requested event again. */
export const RESEND_REQUESTED_MS = 2 * 60_000;
/** A queued rollback job is sent again each sweep until this long after it was created, then failed: it must not block its agent for ever. */
export const QUEUED_ROLLBACK_GIVE_UP_MS = 2 * QUEUED_DEADLINE_MS;
/** Times a stuck stage's entering event is sent again before the watchdog fails the deployment instead. */
export const MAX_WATCHDOG_REDRIVES = 2;

/**
 * Fails deployments stuck past their stage deadline (a build notification that never came, a
 * stage that keeps dying), so nothing waits forever. Fired on a schedule (Cloud Scheduler; a
 * timer on the local stack). Returns the ids it failed.
 *
 * A stage entered by an event whose worker died with nothing left to redeliver that event (on
 * Google Cloud an instance that died after its redelivery was taken for a duplicate of its own
 * live claim; a hand-off lost after the commit) is driven again first: its entering event is
 * sent again (the lapsed claim is taken over; a done one re-sends its hand-off), at most
 * MAX_WATCHDOG_REDRIVES times per deployment. A wait on the outside world (a build, a readiness
 * poll, a canary step) is not: its continuation is not the watchdog's to invent.
 */
export async function sweepStuckDeployments(deps: PipelineDeps): Promise<string[]> {
  const now = deps.clock.now().getTime();
  const failed: string[] = [];
  for (const status of RUNNING) {
    let cursor: string | undefined;
    do {
      const page = await deps.jobs.list({ status, limit: 100, cursor });
      for (const job of page.items) {
        const deadline = job.claim
          ? Date.parse(job.claim.expires_at)
          : Date.parse(job.updated_at) + stageLeaseMs(deps.settings, job.stage ?? 'validating');
        if (now < deadline + WATCHDOG_GRACE_MS) continue;
        if (job.status === 'rolling_back') {
          // A stuck rollback is driven again, not abandoned: failing it would leave the bad revision serving.
          await handOff(deps, job, { kind: 'event', type: 'deployment.rollback_requested.v1' });
          continue;
        }
        if (await redrive(deps, job, now)) continue;
        const stage = job.stage ?? 'validating';
        await failDeployment(
          deps,
          job.deployment_id,
          stage,
          // A wait for approval that outlived its deadline (its deadline task lost) says so, not "no progress".
          stuckApprovalMessage(job) ??
            `No progress in the ${stage} stage since ${new Date(deadline).toISOString()}: the stage's worker stopped or its event was lost. Deploy again; if it recurs, check the control plane's logs`,
        );
        failed.push(job.deployment_id);
      }
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
  }
  const queuedFailed = await sweepQueued(deps, now);
  await sweepWaiting(deps);
  return [...failed, ...queuedFailed];
}

/** Scopes looked at per sweep for waiting deployments that may start. */
const WAITING_SCOPES_PER_SWEEP = 200;

/**
 * The queue's backstop: admits what may start now among the waiting deployments (a release that
 * failed, a crash between a job's end and its release), as releaseSlots does when a job ends.
 * Also run once at the local stack's start (resumeQueueOnStart).
 */
export async function sweepWaiting(deps: PipelineDeps): Promise<void> {
  const scopes = await deps.jobs.waitingScopes(WAITING_SCOPES_PER_SWEEP);
  const seen = new Set<string>();
  for (const scope of scopes) {
    const key = `${scope.owner ?? ''}\n${scope.agent_id}`;
    if (seen.has(key)) continue;
    seen.add(key);
    await releaseSlots(deps, { ...scope, deployment_id: 'the watchdog', status: 'queued' });
  }
}

/**
 * Queued jobs past QUEUED_DEADLINE_MS: a deployment fails (freeing its agent); a rollback job is
 * sent again, and failed once past QUEUED_ROLLBACK_GIVE_UP_MS (an unfinished rollback refuses
 * every deployment of its agent).
 */
async function sweepQueued(deps: PipelineDeps, now: number): Promise<string[]> {
  const failed: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await deps.jobs.list({ status: 'queued', limit: 100, cursor });
    for (const job of page.items) {
      // Waiting in the queue is not stuck: it starts when a slot frees (sweepWaiting).
      if (isWaiting(job)) continue;
      const since = Date.parse(job.updated_at);
      if (job.kind === 'deployment' && now >= since + RESEND_REQUESTED_MS && now < since + QUEUED_DEADLINE_MS && !job.cancel_requested) {
        // Admitted but not picked up: its requested event may have been lost after the admission. A duplicate is harmless.
        await handOff(deps, job, { kind: 'event', type: 'deployment.requested.v1' });
        continue;
      }
      if (now < since + QUEUED_DEADLINE_MS) continue;
      const stuck = Math.round((now - since) / 60_000);
      if (job.kind === 'rollback' && now < Date.parse(job.created_at) + QUEUED_ROLLBACK_GIVE_UP_MS) {
        await handOff(deps, job, { kind: 'event', type: 'deployment.rollback_requested.v1' });
        continue;
      }
      if (job.kind === 'rollback') {
        await failDeployment(
          deps,
          job.deployment_id,
          'rolling_back',
          `Rollback still queued ${stuck} minutes after it was requested, though it was sent again: nothing was changed. Roll back again; if it recurs, check the control plane's logs`,
        );
        failed.push(job.deployment_id);
        continue;
      }
      await failDeployment(
        deps,
        job.deployment_id,
        'validating',
        `Still queued ${stuck} minutes after it was accepted (${job.updated_at}): no stage picked it up, so its request event was lost or could not be processed. Deploy again; if it recurs, check the control plane's logs`,
      );
      failed.push(job.deployment_id);
    }
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return failed;
}

/** The event that enters the job's stage, when sending it again can only resume the stage or re-send its hand-off. */
function entryEvent(job: Job): EventType | null {
  if (job.kind !== 'deployment' || job.status === 'rolling_back' || (job.watchdog_redrives ?? 0) >= MAX_WATCHDOG_REDRIVES) return null;
  // A wait under a known token (a build id, poll-N, step-N): only its own continuation may move it.
  if (job.claim && !job.claim.done && !job.claim.ephemeral) return null;
  const trigger = stageDef(job.status as PipelineStage).functions[0]?.trigger;
  return trigger && 'event' in trigger && trigger.event ? (trigger.event as EventType) : null;
}

/**
 * Counts the re-drive and sends the stage's entering event again. A worker's lapsed claim stays
 * as it is (the redelivery takes it over, by its lease); a done claim gets a new deadline, so the
 * next sweep waits for the re-sent hand-off before trying again.
 */
async function redrive(deps: PipelineDeps, job: Job, now: number): Promise<boolean> {
  const type = entryEvent(job);
  if (!type) return false;
  const res = await deps.jobs.update(job.deployment_id, (j) => {
    if (j.status !== job.status || j.claim?.token !== job.claim?.token || entryEvent(j) !== type) return null;
    const at = new Date(now).toISOString();
    const claim = j.claim?.done
      ? { ...j.claim, expires_at: new Date(now + stageLeaseMs(deps.settings, j.status as PipelineStage)).toISOString() }
      : j.claim;
    return { ...j, claim, watchdog_redrives: (j.watchdog_redrives ?? 0) + 1, updated_at: at };
  });
  if (!res?.changed) return false;
  deps.logs.write(
    job.agent_id,
    job.deployment_id,
    'WARNING',
    `No progress in the ${job.status} stage since its lease lapsed: sending its event again (${res.job.watchdog_redrives} of ${MAX_WATCHDOG_REDRIVES})`,
    job.status as PipelineStage,
  );
  await deps.logs.flush(job.deployment_id);
  await handOff(deps, res.job, { kind: 'event', type });
  return true;
}

/** Running jobs, swept against their claim; queued ones have no claim and are swept by sweepQueued. */
const RUNNING: readonly Status[] = STATUSES.filter((s) => !isFinal(s) && s !== 'queued');
