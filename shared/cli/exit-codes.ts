import type { Job } from '../../clients/typescript/src/index.js';

/**
 * What `baton` exits with, for scripts: the final status of a followed job, or why nothing ran.
 *   0 completed (a rollback job: rolled_back) or the command succeeded
 *   1 failed (or the control plane refused for another reason / could not be reached)
 *   2 rolled back
 *   3 cancelled
 *   4 bad input: a usage error, or the API's 400 naming a field
 *   130 interrupted while following (the job goes on)
 */
export const EXIT = { ok: 0, failed: 1, rolledBack: 2, cancelled: 3, badInput: 4, interrupted: 130 } as const;

export function exitCodeOf(job: Pick<Job, 'kind' | 'status'>): number {
  if (job.status === 'completed') return EXIT.ok;
  if (job.status === 'rolled_back') return job.kind === 'rollback' ? EXIT.ok : EXIT.rolledBack;
  if (job.status === 'cancelled') return EXIT.cancelled;
  return EXIT.failed;
}
