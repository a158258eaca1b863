import { CANDIDATE_TAG, revisionName, serviceName, taskName } from '../domain/names.js';
import { QUEUES } from '../domain/topics.js';
import type { PipelineDeps } from './deps.js';
import { privateRequest } from './private.js';
import { done, type Handoff, runStage } from './stage-runner.js';

/** deployment.built → a new revision with no traffic behind a tag → the first readiness poll. */
export function deployRevision(deps: PipelineDeps, deploymentId: string): Promise<string> {
  const firstPoll = verifyPoll(deps, deploymentId, 1);
  return runStage(deps, deploymentId, 'deploying', firstPoll, async ({ job, log }) => {
    if (!job.artifact) throw new Error('the build left no artifact yet');
    const service = serviceName(job.agent_id);
    const revision = revisionName(job.agent_id, job.deployment_id);
    const record = await deps.jobs.getService(job.agent_id);
    const secrets = Object.keys(job.request.secrets);
    if (secrets.length > 0 && deps.settings.target === 'local') {
      log(`Secrets ${secrets.join(', ')} are not resolved on the local target; set them in env for local runs`, 'WARNING');
    }
    await deps.runtime.deployRevision({
      service,
      revision,
      artifact: job.artifact,
      env: { ...(await privateRequest(deps, job)).env, BATON_AGENT_CONFIG: JSON.stringify(job.request.config), BATON_REVISION: revision },
      secrets: job.request.secrets,
      tag: CANDIDATE_TAG,
      deployment_id: job.deployment_id,
      start_timeout_seconds: job.request.deployment_options.start_timeout_seconds,
      // Set by validation from the request and the environment; older jobs carry only the request's.
      resources: job.resources ?? job.request.deployment_options.resource_limits,
    });
    log(`Revision ${revision} created with no traffic behind tag "${CANDIDATE_TAG}"`);
    return done(firstPoll, {
      revision,
      previous_revision: record?.serving_revision ?? null,
      previous_deployment_id: record?.deployment_id ?? null,
      current_step: 'Waiting for the new revision to start',
    });
  });
}

export function verifyPoll(deps: PipelineDeps, deploymentId: string, attempt: number, delayMs?: number): Handoff {
  return {
    kind: 'task',
    queue: QUEUES.verifyPoll,
    name: taskName(deploymentId, 'verify', attempt),
    payload: { type: 'verify.poll.v1', deployment_id: deploymentId, attempt },
    delay_ms: delayMs ?? deps.settings.verify_poll_interval_ms,
  };
}
