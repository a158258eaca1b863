import { APPROVAL_TOKEN, type ApprovalPolicy, approvalPolicy, pendingApproval } from '../domain/approval.js';
import { TransientError } from '../domain/errors.js';
import type { Job } from '../domain/job.js';
import { checkTask } from './approval-check.js';
import type { PipelineDeps } from './deps.js';
import { claimText, emitsWhenDone, type Handoff, handOff, resendHandoff, runStageClaim, type StageOutcome } from './stage-runner.js';

/**
 * deployment.tested → the awaiting_approval stage, when the request or its environment requires
 * approval: the wait is recorded on the job and its deadline scheduled as a task (approval-check);
 * POST /deployments/{id}/approve ends it (approval-requests.ts). Otherwise it hands on at once.
 */

const APPROVED: Handoff = emitsWhenDone('awaiting_approval');

/** deployment.tested → wait for a person when the request or its environment requires it; else hand on at once. */
export async function approvalGate(deps: PipelineDeps, id: string): Promise<string> {
  const job = await deps.jobs.get(id);
  if (!job) return 'no such deployment';
  const policy = approvalPolicy(job.request, deps.settings.environments, job.environment);
  if (!policy.required) {
    if (job.status !== 'testing') return `stale event: the job is ${job.status}`;
    if (!job.claim?.done) throw new TransientError(`the approval gate for ${id} is ahead of its job: testing has not finished; retrying`);
    // The job stays in testing (done): promote takes it from there, as the state machine allows.
    await handOff(deps, job, APPROVED);
    return `approval not required (${policy.why})`;
  }
  const claim = await runStageClaim(deps, id, 'awaiting_approval', APPROVED, (ctx) => wait(deps, ctx.job, policy, ctx.log));
  if (claim.kind !== 'claim') {
    const cur = await deps.jobs.get(id);
    const deadline = cur?.approval ? Math.max(0, Date.parse(cur.approval.deadline_at) - deps.clock.now().getTime()) : 0;
    await resendHandoff(deps, id, 'awaiting_approval', { token: APPROVAL_TOKEN, handoff: checkTask(id, 'deadline', deadline) }, APPROVED);
  }
  return claimText(claim);
}

async function wait(deps: PipelineDeps, job: Job, policy: ApprovalPolicy, log: (m: string) => void): Promise<StageOutcome> {
  const approval = pendingApproval(deps.clock.now(), policy.timeout_s);
  const id = job.deployment_id;
  log(
    `Waiting for approval (${policy.why}) until ${approval.deadline_at}: baton approve ${id}, or baton reject ${id} --reason "…" (POST /deployments/${id}/approve | /reject)`,
  );
  return {
    patch: { approval, current_step: `Waiting for approval until ${approval.deadline_at}` },
    result: {
      done: false,
      token: APPROVAL_TOKEN,
      // The deadline task ends the wait; past this lease the watchdog does, should that task be lost.
      lease_ms: policy.timeout_s * 1000 + deps.settings.claim_lease_ms,
      handoff: checkTask(id, 'deadline', policy.timeout_s * 1000),
    },
  };
}
