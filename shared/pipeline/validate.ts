import { effectiveResources } from '../domain/environments.js';
import { PermanentError } from '../domain/errors.js';
import { pinnedError } from '../domain/pin.js';
import { blocking, type DependencyState, runChecks } from '../domain/preflight.js';
import type { PipelineDeps } from './deps.js';
import { checkRevision } from './health-check.js';
import { privateRequest } from './private.js';
import { sourceChecks } from './source-checks.js';
import { done, emitsWhenDone, runStage } from './stage-runner.js';

const NEXT = emitsWhenDone('validating');

/**
 * deployment.requested → every check recorded in validation_results → deployment.validated, or
 * failed naming each check that blocks at the environment's validation level.
 */
export function validateDeployment(deps: PipelineDeps, deploymentId: string): Promise<string> {
  return runStage(deps, deploymentId, 'validating', NEXT, async ({ job, log }) => {
    const request = await privateRequest(deps, job);
    // Pinned after it was accepted (it waited in the queue while a manual rollback ran): it must not undo the rollback.
    const pin = (await deps.jobs.getService(job.agent_id))?.pin;
    if (pin && !request.unpin)
      throw new PermanentError(pinnedError(job.agent_id, pin).message, undefined, { detail: { reason_code: 'validation_failed' } });
    const envs = deps.settings.environments;
    const env = envs.environments[job.environment];
    const started = deps.clock.now().getTime();
    const dependencies = await Promise.all(request.deployment_options.depends_on.map((id) => dependencyState(deps, id)));
    const probeSeconds = (deps.clock.now().getTime() - started) / 1000;
    const checked = runChecks(
      { request, environment: job.environment, env, known: Object.keys(envs.environments), target: deps.settings.target, dependencies },
      () => deps.clock.now().getTime(),
    );
    const source = await sourceChecks(deps, deploymentId, request);
    const results = [...checked, ...source.results];
    const analysis = source.analysis;
    // The dependency probes are the I/O done before the pure checks: their time belongs to that check.
    for (const r of results) if (r.test_type === 'dependency_validation') r.execution_time += probeSeconds;
    const level = env?.validation_level ?? 'basic';
    const blocked = blocking(results, level);
    for (const r of results) {
      if (r.passed) continue;
      const stops = blocked.includes(r);
      log(`${r.severity} ${r.test_name}${stops ? ' (blocks)' : ''}: ${r.message}`, stops ? 'ERROR' : 'WARNING');
    }
    if (blocked.length > 0) {
      await deps.jobs.update(deploymentId, (j) => ({ ...j, validation_results: results, analysis }));
      const what = blocked.map((r) => `${r.test_name} (${r.severity}) ${r.field ? `${r.field}: ` : ''}${r.message}`).join('; ');
      throw new PermanentError(`Validation failed at the ${level} level of ${job.environment}: ${what}`);
    }
    const resources = env ? effectiveResources(request.deployment_options.resource_limits, env) : null;
    log(`${results.length} checks passed or only warned at the ${level} level of ${job.environment}`);
    return done(NEXT, { validation_results: results, resources, analysis });
  });
}

/** Whether an agent this one depends on is deployed and its health endpoint says healthy. */
async function dependencyState(deps: PipelineDeps, agentId: string): Promise<DependencyState> {
  const record = await deps.jobs.getService(agentId);
  if (!record?.serving_revision) return { agent_id: agentId, problem: 'is not deployed (no revision serves it)' };
  const live = await deps.runtime.getService(record.service_name);
  const url = live?.url ?? record.url;
  if (!url) return { agent_id: agentId, problem: 'is deployed but has no URL' };
  const serving = record.deployment_id ? await deps.jobs.get(record.deployment_id) : null;
  // Judged as verification judged it: its health path, or TCP and / when it declared none and has no /health.
  const { check, url: at } = await checkRevision(deps, url, serving?.request.deployment_options.health_path);
  return { agent_id: agentId, problem: check.kind === 'healthy' ? null : `is not healthy at ${at}: ${check.reason}` };
}
