import { isWaiting } from '../domain/admission.js';
import type { Job } from '../domain/job.js';
import type { PipelineDeps } from './deps.js';
import { handOff } from './stage-runner.js';
import { sweepWaiting } from './watchdog.js';

/**
 * Admitted but not started: out of the queue (queue null, so no release will admit it again),
 * still `queued`, so no stage has taken its requested event yet.
 */
export function awaitsStartEvent(job: Job): boolean {
  return job.kind === 'deployment' && job.status === 'queued' && !isWaiting(job) && !job.cancel_requested;
}

/**
 * Start-up recovery of the queue for a process that is the only worker on its state (the local
 * stack, under its data folder's lock), so that no accepted deployment waits out the watchdog
 * after a crash:
 * - every admitted deployment still queued gets its requested event again at once. The admission
 *   commit and the event's publish are two writes; a kill -9 between them (releaseSlots:
 *   admitWaiting, then handOff) leaves a job out of the queue with no event to deliver, which the
 *   watchdog's sweepQueued would re-send only after RESEND_REQUESTED_MS. Sending it to one whose
 *   event did survive is harmless: the redelivery and the re-send meet at the validating stage's
 *   claim, and the second finds the first's claim (decideClaim: a duplicate, or a done claim
 *   whose hand-off it sends again);
 * - then the waiting ones that may start now are admitted (sweepWaiting): a kill between a job's
 *   end and its release left their slot free with nobody to release it until the next sweep.
 *
 * Not for Google Cloud, where other instances are live and an admitted job's event may be in
 * flight: there the watchdog does both, the re-send after RESEND_REQUESTED_MS. Returns the ids
 * whose event it sent again.
 */
export async function resumeQueueOnStart(deps: PipelineDeps): Promise<string[]> {
  const sent: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await deps.jobs.list({ status: 'queued', limit: 100, cursor });
    for (const job of page.items) {
      if (!awaitsStartEvent(job)) continue;
      deps.logs.write(job.agent_id, job.deployment_id, 'INFO', 'Admitted before a restart and not started: sending its start event again');
      await handOff(deps, job, { kind: 'event', type: 'deployment.requested.v1' });
      await deps.logs.flush(job.deployment_id);
      sent.push(job.deployment_id);
    }
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  await sweepWaiting(deps);
  return sent;
}
