import { PermanentError } from '../domain/errors.js';
import { type Job, withPrivate } from '../domain/job.js';
import type { DeploymentRequest } from '../domain/request.js';
import type { PipelineDeps } from './deps.js';

/**
 * The job's request with its private values (env values, git credentials) put back, for a stage
 * that needs them. The job document itself never holds them: it is readable by its owner's clients.
 */
export async function privateRequest(deps: PipelineDeps, job: Job): Promise<DeploymentRequest> {
  if (!job.private_ref) return job.request;
  const secret = await deps.jobs.getPrivate(job.private_ref);
  if (!secret) {
    throw new PermanentError(
      `The private data of deployment ${job.deployment_id} (its env values and git credentials) is missing`,
      'Deploy again',
    );
  }
  return withPrivate(job.request, secret);
}
