import { createHash } from 'node:crypto';
import { QUEUES } from '../domain/topics.js';
import type { DesignDeps } from './deps.js';
import { leaseEnd, type RunTask } from './execution.js';

const FAR_FUTURE = '9999-12-31T23:59:59.999Z';

/**
 * Hands every running execution whose lease ends before now + `horizonMs` back to the run queue,
 * as a task due when the lease ends (named by the lease, so sweeping twice makes one task). Its
 * delivery takes the run over only if the lease is still the one swept (`lapsed_lease`) — a run
 * that a live worker renewed or finished meanwhile is left alone — and resumes it from its
 * recorded steps. On Google Cloud the designs-sweep function runs it every minute (horizon 0:
 * lapsed leases only); the local stack does too, and at start-up with no horizon, since every
 * worker of the previous process is gone.
 */
export async function sweepLapsedRuns(deps: DesignDeps, opts: { horizonMs?: number; limit?: number } = {}): Promise<string[]> {
  const now = deps.clock.now().getTime();
  const horizon = opts.horizonMs ?? 0;
  const before = Number.isFinite(horizon) ? new Date(now + horizon).toISOString() : FAR_FUTURE;
  const runs = await deps.store.listLapsedRuns(before, opts.limit ?? 200);
  const handed: string[] = [];
  for (const run of runs) {
    const lease = run.lease_until;
    if (!lease) continue;
    const end = leaseEnd(lease);
    const created = await deps.tasks.enqueue(QUEUES.designRun, {
      name: `resume-${run.id}-${createHash('sha256').update(lease).digest('hex').slice(0, 16)}`,
      payload: { execution_id: run.id, lapsed_lease: lease } satisfies RunTask,
      schedule_time_ms: Number.isFinite(end) ? Math.max(now, end + 1) : now,
      dispatch_deadline_ms: deps.settings.run_task_deadline_ms,
    });
    if (created === 'created') handed.push(run.id);
  }
  return handed;
}
