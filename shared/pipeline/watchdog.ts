import { isWaiting } from '../domain/admission.js';
import { isFinal, STATUSES, type Status } from '../domain/status.js';
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

/**
 * Fails deployments stuck past their stage deadline (a worker that died with no redelivery, a
 * build notification that never came), so nothing waits forever. Fired on a schedule (Cloud
 * Scheduler; a timer on the local stack). Returns the ids it failed.
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
        const stage = job.stage ?? 'validating';
        await failDeployment(
          deps,
          job.deployment_id,
          stage,
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
 */
async function sweepWaiting(deps: PipelineDeps): Promise<void> {
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

/** Running jobs, swept against their claim; queued ones have no claim and are swept by sweepQueued. */
const RUNNING: readonly Status[] = STATUSES.filter((s) => !isFinal(s) && s !== 'queued');
