import type { PipelineDeps } from '../../shared/pipeline/deps.js';
import { sweepStuckDeployments } from '../../shared/pipeline/watchdog.js';

/** Trigger: Cloud Scheduler, every minute (a timer on the local stack). Fails deployments stuck past their deadline. */
export async function watchdog(deps: PipelineDeps): Promise<void> {
  const failed = await sweepStuckDeployments(deps);
  if (failed.length > 0) console.warn(`watchdog: failed ${failed.length} stuck deployment(s): ${failed.join(', ')}`);
}
