import type { PipelineDeps } from './deps.js';
import { privateRequest } from './private.js';
import { done, emitsWhenDone, runStage } from './stage-runner.js';

const NEXT = emitsWhenDone('preparing');

/** deployment.validated → the source as an archive in the blob store → deployment.prepared. */
export function prepareSource(deps: PipelineDeps, deploymentId: string): Promise<string> {
  return runStage(deps, deploymentId, 'preparing', NEXT, async ({ job, log }) => {
    const { source_key, summary, commit_sha } = await deps.sources.prepare({
      deployment_id: job.deployment_id,
      agent_id: job.agent_id,
      source: (await privateRequest(deps, job)).source,
      config: job.request.config,
      log: (line) => log(line),
    });
    log(`Source ready: ${summary}`);
    return done(NEXT, { current_step: 'Source prepared', source_key, ...(commit_sha ? { commit_sha } : {}) });
  });
}
