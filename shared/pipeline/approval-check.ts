import { APPROVAL_TOKEN, type ApprovalAction, approvalFailure, decideApproval } from '../domain/approval.js';
import { RequestError, TransientError } from '../domain/errors.js';
import type { ApprovalCheckTask } from '../domain/events.js';
import { taskName } from '../domain/names.js';
import { QUEUES } from '../domain/topics.js';
import type { PipelineDeps } from './deps.js';
import { claimText, continueStage, decideAndUpdate, failDeployment, type Handoff, stageLogger } from './stage-runner.js';

/**
 * The end of a wait for approval that is not an approval. Nothing waits inside a function: the
 * deadline (scheduled by the gate), a rejection and a cancel (sent by the API) each arrive here as
 * a task; the job says what happened. Approve is the API's (approval-requests.ts).
 */

export function checkTask(id: string, reason: ApprovalCheckTask['reason'], delay_ms: number): Handoff {
  return {
    kind: 'task',
    queue: QUEUES.approvalCheck,
    name: taskName(id, `approval-${reason}`, 1),
    payload: { type: 'approval.check.v1', deployment_id: id, reason } satisfies ApprovalCheckTask,
    delay_ms,
  };
}

/** approval.check → a rejected or expired wait fails the deployment; a cancel requested meanwhile cancels it (continueStage). */
export async function approvalCheck(deps: PipelineDeps, task: ApprovalCheckTask): Promise<string> {
  const id = task.deployment_id;
  const claim = await continueStage(deps, id, 'awaiting_approval', APPROVAL_TOKEN);
  if (claim.kind !== 'claim') return claimText(claim);
  let job = claim.job;
  if (job.approval?.state === 'pending') {
    const res = await decide(deps, id, { kind: 'expire', now: deps.clock.now() });
    if (res.kind === 'conflict') {
      // Early (clock skew) or woken by something else: the deadline task is still due, and the watchdog backs it.
      if (task.reason === 'deadline') throw new TransientError(res.message);
      return res.message;
    }
    job = res.job;
    stageLogger(deps, job, 'awaiting_approval')(`Approval deadline ${job.approval?.deadline_at} passed`, 'WARNING');
  }
  const message = approvalFailure(job);
  if (!message) return `approval ${job.approval?.state ?? 'missing'}`;
  await failDeployment(deps, id, 'awaiting_approval', message);
  return `failed: approval ${job.approval?.state}`;
}

/** Runs decideApproval in the job store's transaction. */
export async function decide(deps: PipelineDeps, id: string, action: ApprovalAction) {
  const res = await decideAndUpdate(deps, id, (job) => {
    const decision = decideApproval(job, action);
    return { decision, next: decision.kind === 'decided' ? decision.job : null };
  });
  if (!res) throw new RequestError('not_found', `no deployment with id ${id}`, 'deployment_id');
  return res.decision.kind === 'decided' ? { kind: 'decided' as const, job: res.job } : res.decision;
}
