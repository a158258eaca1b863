import { transition } from '../domain/claim.js';
import { PermanentError } from '../domain/errors.js';
import type { RollbackPollTask } from '../domain/events.js';
import { failureRecord } from '../domain/failure.js';
import type { Job } from '../domain/job.js';
import { serviceName, taskName } from '../domain/names.js';
import { QUEUES } from '../domain/topics.js';
import { nextSplit, type Split, sameSplit } from '../domain/traffic.js';
import type { PipelineDeps } from './deps.js';
import {
  claimText,
  continueStage,
  done,
  type Handoff,
  resendHandoff,
  runClaimed,
  runStageClaim,
  type StageOutcome,
} from './stage-runner.js';

const pollToken = (round: string, attempt: number) => `rollback-${round}-poll-${attempt}`;
interface Poll {
  round: string;
  attempt: number;
  traffic: Split[];
}
type Log = (m: string, l?: 'INFO' | 'WARNING') => void;

/**
 * deployment.rollback_requested → traffic returns to the revision that served before the
 * deployment; nothing is rebuilt. For an automatic rollback the event names the failed
 * deployment (already rolling_back); for a manual one it names the rollback job, which points at
 * the deployment it undoes. Moving traffic is only asked of the runtime here: Cloud Run applies
 * it seconds later, so the failed revision is removed by checkRollback once the runtime serves
 * the new split (a Cloud Tasks poll, never a wait inside a function).
 */
export async function rollBack(deps: PipelineDeps, id: string): Promise<string> {
  const claim = await runStageClaim(deps, id, 'rolling_back', { kind: 'none' }, ({ job, log }) => moveTraffic(deps, job, log));
  return claim.kind === 'claim' ? 'rolling back' : claimText(claim);
}

async function targetOf(deps: PipelineDeps, job: Job): Promise<{ target: Job; back: string }> {
  const target = job.kind === 'rollback' ? await deps.jobs.get(job.rollback_of ?? '') : job;
  if (!target) throw new PermanentError(`The deployment to roll back (${job.rollback_of}) does not exist`);
  // A rollback job names where it returns to (the revision before, a target_revision, or what a rolled-back rollback undid).
  const back = job.kind === 'rollback' ? (job.revision ?? target.previous_revision) : target.previous_revision;
  if (!back) throw new PermanentError(`Deployment ${target.deployment_id} has no earlier revision to return to`);
  return { target, back };
}

async function moveTraffic(deps: PipelineDeps, job: Job, log: Log): Promise<StageOutcome> {
  const { target, back } = await targetOf(deps, job);
  const service = serviceName(target.agent_id);
  const current = (await deps.runtime.getService(service))?.traffic ?? [];
  const undone = target.revision ?? back;
  // An automatic rollback deletes the failed revision afterwards: nothing may still name it, not even a tag.
  const traffic = nextSplit(current, {
    revision: undone,
    previous: back,
    percent: 0,
    tagged: false,
    dropRevision: removesUndone(job),
  });
  log(`Returning all traffic to ${back}`);
  await deps.runtime.setTraffic(service, traffic);
  // The claim's token is fresh for every take-over, so a new round never collides with an old round's task names.
  const round = (job.claim?.token ?? 'r').slice(0, 8);
  return waitFor(deps, job, { round, attempt: 1, traffic });
}

/** The revision rolled back from is removed afterwards: always for an automatic rollback, on request (cleanup_resources) for a manual one. */
function removesUndone(job: Job): boolean {
  return job.kind === 'deployment' || job.rollback_options?.cleanup_resources === true;
}

function rollbackPoll(deps: PipelineDeps, id: string, poll: Poll): Handoff {
  return {
    kind: 'task',
    queue: QUEUES.rollbackPoll,
    name: taskName(id, `rollback-${poll.round}`, poll.attempt),
    payload: { type: 'rollback.poll.v1', deployment_id: id, ...poll } satisfies RollbackPollTask,
    delay_ms: deps.settings.verify_poll_interval_ms,
  };
}

function waitFor(deps: PipelineDeps, job: Job, poll: Poll): StageOutcome {
  return {
    patch: { current_step: 'Waiting for the runtime to serve the restored traffic split' },
    result: {
      done: false,
      token: pollToken(poll.round, poll.attempt),
      lease_ms: deps.settings.claim_lease_ms,
      handoff: rollbackPoll(deps, job.deployment_id, poll),
    },
  };
}

/**
 * A poll after the rollback moved traffic: once the runtime reports the restored split and has
 * stopped reconciling, the failed revision is removed and the rollback completes; until then the
 * stage re-arms with the next poll, up to `reconcile_attempts`, then fails with what it saw.
 */
export async function checkRollback(deps: PipelineDeps, task: RollbackPollTask): Promise<string> {
  const id = task.deployment_id;
  const claim = await continueStage(deps, id, 'rolling_back', pollToken(task.round, task.attempt));
  if (claim.kind !== 'claim') {
    const poll = { round: task.round, attempt: task.attempt + 1, traffic: task.traffic };
    const next = { token: pollToken(poll.round, poll.attempt), handoff: rollbackPoll(deps, id, poll) };
    await resendHandoff(deps, id, 'rolling_back', next, null);
    return claimText(claim);
  }
  await runClaimed(deps, claim.job, 'rolling_back', ({ job, log }) => settle(deps, job, task, log));
  return 'checked';
}

async function settle(deps: PipelineDeps, job: Job, task: RollbackPollTask, log: Log): Promise<StageOutcome> {
  const { target, back } = await targetOf(deps, job);
  const service = serviceName(target.agent_id);
  const svc = await deps.runtime.getService(service);
  if (!svc) throw new PermanentError(`Service ${service} no longer exists: there is no traffic to restore`);
  if (svc.reconciling || !sameSplit(svc.traffic, task.traffic)) {
    if (task.attempt >= deps.settings.reconcile_attempts) {
      const seen = svc.traffic.map((t) => `${t.revision} ${t.percent}%${t.tag ? ` (${t.tag})` : ''}`).join(', ');
      throw new PermanentError(
        `The runtime did not apply the restored traffic split after ${task.attempt} checks${svc.reconciling ? ' (still reconciling)' : ''}; it serves: ${seen || 'nothing'}`,
        `Check service ${service} in the Cloud Run console and set its traffic to ${back} by hand`,
      );
    }
    return waitFor(deps, job, { round: task.round, attempt: task.attempt + 1, traffic: task.traffic });
  }
  const automatic = job.kind === 'deployment';
  const undone = target.revision;
  if (removesUndone(job) && undone && undone !== back) {
    await deps.runtime.deleteRevision(service, undone);
    log(automatic ? `Stopped the failed revision ${undone}` : `Removed revision ${undone} (cleanup_resources)`);
  }
  const now = deps.clock.now().toISOString();
  const startedMs = Date.parse(job.stage_timings.rolling_back?.started_at ?? now);
  await deps.jobs.updateService(target.agent_id, (cur) => {
    const history = (cur?.good_revisions ?? []).filter((g) => g.revision !== undone);
    // Who serves now: a rolled-back rollback returns to the deployment it undid; else the deployment that served `back`.
    const servedBy =
      target.kind === 'rollback'
        ? target.rollback_of
        : (cur?.good_revisions.find((g) => g.revision === back)?.deployment_id ?? target.previous_deployment_id);
    const good =
      servedBy && !history.some((g) => g.revision === back) ? [...history, { revision: back, deployment_id: servedBy }] : history;
    const typical = cur?.typical_stage_ms ?? {};
    const took = Date.parse(now) - startedMs;
    return {
      agent_id: target.agent_id,
      service_name: service,
      url: svc.url || (cur?.url ?? null),
      serving_revision: back,
      last_good_revision: back,
      good_revisions: good,
      deployment_id: servedBy,
      status: 'running',
      typical_stage_ms: {
        ...typical,
        rolling_back: typical.rolling_back === undefined ? took : Math.round((typical.rolling_back + took) / 2),
      },
      // A manual rollback pins the agent to what it restored: the next deployment must say unpin.
      pinned: automatic ? cur?.pinned : true,
      pin: automatic
        ? cur?.pin
        : {
            rollback_id: job.deployment_id,
            revision: back,
            reason: job.rollback_reason ?? 'manual rollback',
            pinned_at: now,
            by: job.owner,
          },
      updated_at: now,
    };
  });
  const url = svc.url || job.service_url;
  if (!automatic) {
    // The deployment leaves completed only now that its rollback has succeeded.
    await deps.jobs.update(target.deployment_id, (t) =>
      t.status === 'completed'
        ? transition(transition(t, 'rolling_back'), 'rolled_back', {
            current_step: `Rolled back to ${back} by ${job.deployment_id}`,
            progress: 100,
            service_url: url,
            rollback_reason: job.rollback_reason,
            failure: failureRecord(
              'rolling_back',
              `Rolled back by hand (${job.deployment_id}): ${job.rollback_reason ?? 'no reason given'}`,
              { reason_code: 'manual_rollback' },
              [],
            ),
            updated_at: now,
            completed_at: now,
          })
        : null,
    );
  }
  log(`Rolled back: ${back} serves all traffic${automatic ? '' : `; ${target.agent_id} is pinned to it until a deployment sets unpin`}`);
  return done(
    { kind: 'none' },
    { current_step: `Traffic restored to ${back}`, progress: 100, service_url: url, completed_at: now },
    'rolled_back',
  );
}
