import { z } from 'zod';
import { isFinal, isUnfinishedRollback, type Status } from './status.js';

/**
 * Admission: when an accepted deployment may start. One at a time per agent (newest wins among
 * those waiting) and at most `max_active_per_owner` running per owner; the rest wait in `queued`
 * with `queue` set, and start by themselves when a slot frees (JobStore.admitWaiting). Pure: the
 * stores run these decisions inside their transactions.
 */

/** Why a queued deployment waits; null once it is admitted (its requested event sent). */
export const QueueEntrySchema = z.object({
  reason: z.enum(['agent_busy', 'owner_limit']),
  since: z.string(),
});
export type QueueEntry = z.infer<typeof QueueEntrySchema>;

export interface AdmissionPolicy {
  /** Running deployments of one agent at once (1: one at a time). */
  max_active_per_agent: number;
  /** Running deployments of one owner at once, across all its agents. */
  max_active_per_owner: number;
  /** Deployments of one owner that may wait; one more is refused (429). */
  max_queued_per_owner: number;
}

/** The fields admission reads of a job. */
export interface Slotted {
  deployment_id: string;
  kind: 'deployment' | 'rollback';
  status: Status;
  agent_id: string;
  owner: string | null;
  queue: QueueEntry | null;
  created_at: string;
}

/** Every caller without an identity (the local target) is one owner. */
export const ANONYMOUS_OWNER = 'anonymous';
export const ownerKey = (owner: string | null): string => owner ?? ANONYMOUS_OWNER;

/** Waiting in the queue: accepted, not started. */
export function isWaiting(job: Slotted): boolean {
  return job.status === 'queued' && job.queue !== null;
}

/** Holds one of its owner's slots: a deployment admitted and not final (rolling back included: it still moves traffic). */
export function holdsOwnerSlot(job: Slotted): boolean {
  return job.kind === 'deployment' && job.queue === null && !isFinal(job.status);
}

/** Keeps its agent busy: admitted, not final, not rolling back (an unfinished rollback refuses on its own). */
export function keepsAgentBusy(job: Slotted): boolean {
  return holdsOwnerSlot(job) && job.status !== 'rolling_back';
}

/** What the store found, counted inside its transaction. */
export interface AdmissionState {
  agent_active: number;
  owner_active: number;
  owner_waiting: number;
  /** A rollback of the agent unfinished: deployments are refused meanwhile (409). */
  rolling_back: boolean;
}

export type AdmissionDecision = 'start' | QueueEntry['reason'] | 'full' | 'rolling_back';

export function decideAdmission(s: AdmissionState, policy: AdmissionPolicy): AdmissionDecision {
  if (s.rolling_back) return 'rolling_back';
  const reason =
    s.agent_active >= policy.max_active_per_agent ? 'agent_busy' : s.owner_active >= policy.max_active_per_owner ? 'owner_limit' : null;
  if (reason === null) return 'start';
  return s.owner_waiting >= policy.max_queued_per_owner ? 'full' : reason;
}

/** Whether a waiting job may start now (the same rule, without the queue-full case). */
export function mayStart(s: AdmissionState, policy: AdmissionPolicy): boolean {
  return !s.rolling_back && s.agent_active < policy.max_active_per_agent && s.owner_active < policy.max_active_per_owner;
}

/** How a commit changes its owner's counters: the gcp store keeps them in `owner_slots/{owner}` in the same transaction. */
export function slotDelta(before: Slotted | null, after: Slotted | null): { active: number; waiting: number } {
  const n = (j: Slotted | null, f: (j: Slotted) => boolean) => (j && f(j) ? 1 : 0);
  return {
    active: n(after, holdsOwnerSlot) - n(before, holdsOwnerSlot),
    waiting: n(after, isWaiting) - n(before, isWaiting),
  };
}

/** Counts what admission needs from a set of jobs (the local store's whole set; the gcp store's query results). */
export function admissionState(jobs: Iterable<Slotted>, agentId: string, owner: string | null): AdmissionState {
  const key = ownerKey(owner);
  const s: AdmissionState = { agent_active: 0, owner_active: 0, owner_waiting: 0, rolling_back: false };
  for (const j of jobs) {
    if (j.agent_id === agentId) {
      if (keepsAgentBusy(j)) s.agent_active++;
      if (isUnfinishedRollback(j)) s.rolling_back = true;
    }
    if (ownerKey(j.owner) === key) {
      if (holdsOwnerSlot(j)) s.owner_active++;
      if (isWaiting(j)) s.owner_waiting++;
    }
  }
  return s;
}

/** Oldest first: the order the queue is served in. */
export function byQueueOrder(a: Slotted, b: Slotted): number {
  return a.created_at.localeCompare(b.created_at) || a.deployment_id.localeCompare(b.deployment_id);
}

/** The 1-based place of `job` among its owner's waiting jobs, or null when it is not waiting. */
export function queuePosition(job: Slotted, ownersWaiting: Iterable<Slotted>): number | null {
  if (!isWaiting(job)) return null;
  let ahead = 0;
  for (const j of ownersWaiting) if (isWaiting(j) && j.deployment_id !== job.deployment_id && byQueueOrder(j, job) < 0) ahead++;
  return ahead + 1;
}
