import { sweepLapsedRuns } from '../../shared/designs/sweep.js';
import { logger } from '../../shared/logger.js';
import type { PipelineDeps } from '../../shared/pipeline/deps.js';

/**
 * Trigger: Cloud Scheduler, every minute (a timer on the local stack). Hands every design run
 * whose worker died — its lease lapsed while it was still running — back to the run queue, which
 * resumes it from its recorded steps.
 */
export async function designsSweep(deps: PipelineDeps): Promise<void> {
  if (!deps.designs) return;
  const handed = await sweepLapsedRuns(deps.designs);
  if (handed.length > 0) logger.warn(`handed ${handed.length} lapsed design run(s) to the run queue: ${handed.join(', ')}`);
}
