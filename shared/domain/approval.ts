import { z } from 'zod';
import { DEFAULT_APPROVAL_TIMEOUT_S } from './approval-schema.js';
import { finishStage } from './claim.js';
import { type Environments, environmentApproval } from './environments.js';
import type { Job } from './job.js';
import type { DeploymentRequest } from './request.js';

/**
 * Approval as data and pure decisions: whether a deployment waits for a person before traffic
 * moves, and what approve, reject and the deadline do to a waiting job. No I/O: the use cases in
 * shared/pipeline/approval.ts run these inside the job store's transaction.
 */

/** The token the awaiting_approval stage waits under: only a decision on this wait continues it. */
export const APPROVAL_TOKEN = 'approval';
/** Cloud Tasks may deliver a moment early by the function's clock: a deadline this close counts as reached. */
const DEADLINE_SLACK_MS = 1000;

export const ApprovalSchema = z.object({
  state: z.enum(['pending', 'approved', 'rejected', 'expired']),
  requested_at: z.string(),
  deadline_at: z.string(),
  timeout_seconds: z.number(),
  decided_at: z.string().nullable(),
  /** The caller's email on Google Cloud; null on the local target, where nothing identifies a caller. */
  decided_by: z.string().nullable(),
  reason: z.string().nullable(),
});
export type Approval = z.infer<typeof ApprovalSchema>;

export interface ApprovalPolicy {
  required: boolean;
  timeout_s: number;
  /** Why, for the log: the request's choice or the environment's rule. */
  why: string;
}

/** Whether a deployment waits for approval, and how long, from its request and its environment. */
export function approvalPolicy(request: DeploymentRequest, envs: Environments, environment: string): ApprovalPolicy {
  const rule = environmentApproval(envs, environment);
  const asked = request.deployment_options.approval;
  const timeout_s =
    request.deployment_options.approval_timeout_seconds ??
    envs.environments[environment]?.approval_timeout_seconds ??
    DEFAULT_APPROVAL_TIMEOUT_S;
  if (rule === 'enforced') return { required: true, timeout_s, why: `${environment} enforces approval` };
  if (asked) return { required: asked === 'required', timeout_s, why: `the request says approval: "${asked}"` };
  return {
    required: rule === 'required',
    timeout_s,
    why: `${environment} ${rule === 'required' ? 'requires' : 'does not require'} approval`,
  };
}

/** A request that opts out where the environment does not allow it; null when it may. */
export function approvalOptOutProblem(request: DeploymentRequest, envs: Environments, environment: string): string | null {
  if (request.deployment_options.approval !== 'none' || environmentApproval(envs, environment) !== 'enforced') return null;
  return `approval "none" is not allowed in ${environment}, which enforces approval; leave it out`;
}

/** What the wait records when it starts. */
export function pendingApproval(now: Date, timeout_s: number): Approval {
  return {
    state: 'pending',
    requested_at: now.toISOString(),
    deadline_at: new Date(now.getTime() + timeout_s * 1000).toISOString(),
    timeout_seconds: timeout_s,
    decided_at: null,
    decided_by: null,
    reason: null,
  };
}

export type ApprovalAction =
  | { kind: 'approve'; by: string | null; now: Date; lease_ms: number }
  | { kind: 'reject'; by: string | null; now: Date; reason: string }
  | { kind: 'expire'; now: Date };

export type ApprovalDecision = { kind: 'decided'; job: Job } | { kind: 'conflict'; message: string };

const who = (by: string | null) => by ?? 'a caller';

/** Why a decision cannot be taken now: the job is not (or no longer) waiting on one. */
export function notWaitingReason(job: Job): string | null {
  const id = job.deployment_id;
  const a = job.approval;
  if (a?.state === 'approved') return `deployment ${id} was already approved by ${who(a.decided_by)} at ${a.decided_at}; nothing changed`;
  if (a?.state === 'rejected')
    return `deployment ${id} was rejected by ${who(a.decided_by)} at ${a.decided_at} (${a.reason}); it can no longer be approved or rejected: deploy again`;
  if (a?.state === 'expired')
    return `deployment ${id} was not approved before its deadline (${a.deadline_at}) and has failed; deploy again and approve it in time`;
  if (job.cancel_requested) return `deployment ${id} is being cancelled; nothing to approve or reject`;
  // Entered (the gate's claim) but the wait not yet committed: a moment from now it can be decided.
  if (job.status === 'awaiting_approval' && (!a || job.claim?.token !== APPROVAL_TOKEN))
    return `deployment ${id} is entering awaiting_approval; try again in a moment`;
  if (job.status !== 'awaiting_approval' || !a || job.claim?.token !== APPROVAL_TOKEN || job.claim.done)
    return `deployment ${id} is ${job.status}, not awaiting approval${job.status === 'testing' || !isPast(job.status) ? ' (it waits for approval only once it is tested, and only when approval is required)' : ''}`;
  return null;
}

const LATE = ['promoting', 'completed', 'failed', 'rolling_back', 'rolled_back', 'cancelled'];
const isPast = (status: string) => LATE.includes(status);

/**
 * Approve: the wait ends and the stage is done (its hand-off, deployment.approved, goes out next);
 * the claim's lease shrinks back to an ordinary one, so a hand-off lost after this commit is
 * found by the watchdog within minutes, not at the approval deadline.
 * Reject and expire: the decision is recorded and the wait stays claimed until approval-check
 * fails the deployment (which removes the candidate or rolls back), so neither can be approved meanwhile.
 */
export function decideApproval(job: Job, action: ApprovalAction): ApprovalDecision {
  const reason = notWaitingReason(job);
  if (reason !== null || !job.approval)
    return { kind: 'conflict', message: reason ?? `deployment ${job.deployment_id} is not awaiting approval` };
  const at = action.now.toISOString();
  const a = job.approval;
  switch (action.kind) {
    case 'approve': {
      const approved: Job = {
        ...job,
        approval: { ...a, state: 'approved', decided_at: at, decided_by: action.by, reason: null },
        current_step: `Approved by ${who(action.by)}`,
        updated_at: at,
      };
      const finished = finishStage(approved, 'awaiting_approval', action.now);
      const claim = finished.claim
        ? { ...finished.claim, expires_at: new Date(action.now.getTime() + action.lease_ms).toISOString() }
        : null;
      return { kind: 'decided', job: { ...finished, claim } };
    }
    case 'reject':
      return {
        kind: 'decided',
        job: {
          ...job,
          approval: { ...a, state: 'rejected', decided_at: at, decided_by: action.by, reason: action.reason },
          current_step: `Rejected by ${who(action.by)}`,
          updated_at: at,
        },
      };
    case 'expire':
      if (action.now.getTime() + DEADLINE_SLACK_MS < Date.parse(a.deadline_at))
        return { kind: 'conflict', message: `deployment ${job.deployment_id} may still be approved until ${a.deadline_at}` };
      return {
        kind: 'decided',
        job: { ...job, approval: { ...a, state: 'expired', decided_at: at }, current_step: 'Approval deadline passed', updated_at: at },
      };
  }
}

/** The message a deployment fails with once a person rejected it or its deadline passed. */
export function approvalFailure(job: Pick<Job, 'revision' | 'approval'>): string | null {
  const a = job.approval;
  // Baton moved no traffic to it; on Cloud Run a new service's first revision serves its URL regardless, so claim no more than that.
  const candidate = `revision ${job.revision ?? '(none)'} was not promoted`;
  if (a?.state === 'rejected')
    return `Rejected by ${who(a.decided_by)} at ${a.decided_at}: ${a.reason}; ${candidate}. Deploy again once it is fixed`;
  if (a?.state === 'expired' || a?.state === 'pending')
    return `Not approved within ${formatSeconds(a.timeout_seconds)} (deadline ${a.deadline_at}): ${candidate}. Deploy again and approve it in time (baton approve <id>, POST /deployments/<id>/approve), or give it longer with deployment_options.approval_timeout_seconds (at most 7 days)`;
  return null;
}

/** For the watchdog: what a wait that outlived its lease fails with (null: a generic message fits, e.g. approved but not handed on). */
export function stuckApprovalMessage(job: Job): string | null {
  if (job.status !== 'awaiting_approval' || job.approval?.state === 'approved') return null;
  return approvalFailure(job);
}

export function formatSeconds(s: number): string {
  if (s % 86400 === 0) return `${s / 86400} d`;
  if (s % 3600 === 0) return `${s / 3600} h`;
  if (s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}
