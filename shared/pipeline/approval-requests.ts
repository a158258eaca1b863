import { APPROVAL_TOKEN } from '../domain/approval.js';
import { RequestError } from '../domain/errors.js';
import type { Job } from '../domain/job.js';
import { checkTask, decide } from './approval-check.js';
import { recordAction } from './audit.js';
import type { PipelineDeps } from './deps.js';
import { emitsWhenDone, type Handoff, handOff, stageLogger } from './stage-runner.js';

/** The API's side of approval: approve, reject, and waking a wait that a cancel ends. */

const APPROVED: Handoff = emitsWhenDone('awaiting_approval');

/**
 * Only the job's owner decides. On Google Cloud the owner is the verified email that deployed it
 * (and a job without one, from before owners, is anyone's who may call the private API); on the
 * local target nothing identifies a caller, so there is no owner to check.
 */
export function mustBeOwner(job: Job, caller: string | null, what: string): void {
  if (job.owner === null || job.owner === caller) return;
  throw new RequestError(
    'forbidden',
    `only ${job.owner}, who started deployment ${job.deployment_id}, may ${what} it${caller ? `; you are ${caller}` : ' (no verified identity came with this request)'}`,
    'deployment_id',
  );
}

async function waiting(deps: PipelineDeps, id: string, caller: string | null, what: string): Promise<Job> {
  const job = /^[A-Za-z0-9_-]{1,128}$/.test(id) ? await deps.jobs.get(id) : null;
  if (!job) throw new RequestError('not_found', `no deployment with id ${id}`, 'deployment_id');
  mustBeOwner(job, caller, what);
  return job;
}

/** POST /deployments/{id}/approve: traffic may move. A second approve, or one after a reject or the deadline, is a 409 that changes nothing. */
export async function approveDeployment(deps: PipelineDeps, id: string, caller: string | null) {
  const before = await waiting(deps, id, caller, 'approve');
  const res = await decide(deps, id, { kind: 'approve', by: caller, now: deps.clock.now(), lease_ms: deps.settings.claim_lease_ms });
  if (res.kind === 'conflict') {
    // Approved, but the hand-off may not have gone out (the publish failed after the commit): send it again; promote ignores a duplicate.
    const cur = await deps.jobs.get(id);
    if (cur?.status === 'awaiting_approval' && cur.approval?.state === 'approved') await handOff(deps, cur, APPROVED);
    throw new RequestError('conflict', res.message, 'deployment_id');
  }
  stageLogger(deps, res.job, 'awaiting_approval')(`Approved by ${caller ?? 'a caller'}`);
  await recordAction(deps, 'approve', {
    agent_id: before.agent_id,
    deployment_id: id,
    by: caller,
    detail: 'traffic may move',
    at: res.job.approval?.decided_at ?? undefined,
  });
  await deps.logs.flush(id);
  try {
    await handOff(deps, res.job, APPROVED);
  } catch (err) {
    throw new RequestError(
      'unavailable',
      `the approval of ${id} is recorded but its promotion could not be sent (${err instanceof Error ? err.message : String(err)}); POST approve again to resend it`,
    );
  }
  return { message: 'Deployment approved: traffic moves next', deployment_id: id, agent_id: before.agent_id, status: res.job.status };
}

/** POST /deployments/{id}/reject {reason}: the deployment fails (approval-check removes the candidate or rolls back). */
export async function rejectDeployment(deps: PipelineDeps, id: string, reason: string, caller: string | null) {
  const before = await waiting(deps, id, caller, 'reject');
  const res = await decide(deps, id, { kind: 'reject', by: caller, now: deps.clock.now(), reason });
  if (res.kind === 'conflict') {
    const cur = await deps.jobs.get(id);
    // Rejected, but the wake-up may not have gone out: send it again (a named task: a duplicate is dropped).
    if (cur?.status === 'awaiting_approval' && cur.approval?.state === 'rejected') await handOff(deps, cur, checkTask(id, 'rejected', 0));
    throw new RequestError('conflict', res.message, 'deployment_id');
  }
  stageLogger(deps, res.job, 'awaiting_approval')(`Rejected by ${caller ?? 'a caller'}: ${reason}`, 'WARNING');
  await recordAction(deps, 'reject', {
    agent_id: before.agent_id,
    deployment_id: id,
    by: caller,
    detail: reason,
    at: res.job.approval?.decided_at ?? undefined,
  });
  await deps.logs.flush(id);
  await handOff(deps, res.job, checkTask(id, 'rejected', 0));
  return {
    message: 'Deployment rejected: it fails and its candidate is removed',
    deployment_id: id,
    agent_id: before.agent_id,
    status: res.job.status,
  };
}

/** A cancel of a job waiting for approval takes effect now, not at the deadline: wake the wait. */
export async function wakeForCancel(deps: PipelineDeps, job: Job): Promise<void> {
  if (job.status === 'awaiting_approval' && job.claim?.token === APPROVAL_TOKEN && !job.claim.done)
    await handOff(deps, job, checkTask(job.deployment_id, 'cancel', 0));
}
