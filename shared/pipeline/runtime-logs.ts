import { RequestError } from '../domain/errors.js';
import { serviceName } from '../domain/names.js';
import type { RuntimeLogEntry } from '../domain/runtime-log.js';
import type { RuntimeLogScope } from '../ports/index.js';
import type { PipelineDeps } from './deps.js';

/**
 * Whose logs `GET /services/{agent_id}/logs` reads: the agent's service (known once it has a
 * service record or any deployment, so a first deployment that failed can be read too) and,
 * when asked, one revision of it.
 */
export async function serviceLogScope(deps: PipelineDeps, agentId: string, revision: string | undefined): Promise<RuntimeLogScope> {
  const record = await deps.jobs.getService(agentId);
  if (!record && (await deps.jobs.list({ agent_id: agentId, limit: 1 })).items.length === 0) {
    throw new RequestError('not_found', `no service has been deployed for agent ${agentId}`, 'agent_id');
  }
  const service = record?.service_name ?? serviceName(agentId);
  if (revision !== undefined && !revision.startsWith(`${service}-`)) {
    throw new RequestError(
      'invalid',
      `revision: ${revision} is not a revision of agent ${agentId} (its revisions are named ${service}-…)`,
      'query.revision',
    );
  }
  return revision === undefined ? { service } : { service, revision };
}

export async function readServiceLogs(deps: PipelineDeps, scope: RuntimeLogScope, lines: number): Promise<RuntimeLogEntry[]> {
  try {
    return await deps.runtimeLogs.read(scope, lines);
  } catch (err) {
    throw logsUnavailable(deps, err);
  }
}

/** A failure to read the logs is the control plane's, not the request's: a 503 saying what to check. */
export function logsUnavailable(deps: PipelineDeps, err: unknown): RequestError {
  const why = err instanceof Error ? err.message : String(err);
  const hint =
    deps.settings.target === 'gcp'
      ? "; the api's service account needs roles/logging.viewer on the project"
      : '; check the data folder (logs/revisions/) is readable';
  return new RequestError('unavailable', `the runtime logs could not be read (${why.slice(0, 300)})${hint}`);
}
