import { logger } from '../../shared/logger.js';
import type { PipelineDeps } from '../../shared/pipeline/deps.js';
import { sweepStuckDeployments } from '../../shared/pipeline/watchdog.js';

/** Trigger: Cloud Scheduler, every minute (a timer on the local stack). Fails deployments stuck past their deadline. */
export async function watchdog(deps: PipelineDeps): Promise<void> {
  const failed = await sweepStuckDeployments(deps);
  if (failed.length > 0) logger.warn(`failed ${failed.length} stuck deployment(s): ${failed.join(', ')}`, { function: 'watchdog' });
}
