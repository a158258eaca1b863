import { transition } from './claim.js';
import type { Job } from './job.js';

/** A waiting deployment admitted: it leaves the queue (its requested event is sent next). */
export function admit(job: Job, now: string): Job {
  return { ...job, queue: null, current_step: 'Queued', updated_at: now };
}

/** An older waiting deployment of the agent cancelled by a newer one (newest wins). */
export function supersededBy(older: Job, newer: string, now: string): Job {
  return transition(older, 'cancelled', {
    superseded_by: newer,
    cancel_requested: true,
    current_step: `Superseded by ${newer}`,
    updated_at: now,
    completed_at: now,
  });
}

/** What the job's step says while it waits. */
export function waitingStep(reason: 'agent_busy' | 'owner_limit'): string {
  return reason === 'agent_busy'
    ? 'Waiting for the running deployment of this agent'
    : "Waiting for a slot of the owner's concurrency limit";
}

/** A new deployment that waits, and why. */
export function asWaiting(job: Job, reason: 'agent_busy' | 'owner_limit'): Job {
  return { ...job, queue: { reason, since: job.created_at }, current_step: waitingStep(reason) };
}
