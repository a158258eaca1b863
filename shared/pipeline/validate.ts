import { PermanentError } from '../domain/errors.js';
import { blocking, preflight } from '../domain/preflight.js';
import type { PipelineDeps } from './deps.js';
import { privateRequest } from './private.js';
import { done, emitsWhenDone, runStage } from './stage-runner.js';

const NEXT = emitsWhenDone('validating');

/** deployment.requested → preflight checks → deployment.validated. */
export function validateDeployment(deps: PipelineDeps, deploymentId: string): Promise<string> {
  return runStage(deps, deploymentId, 'validating', NEXT, async ({ job, log }) => {
    const results = preflight(await privateRequest(deps, job), deps.settings.target);
    for (const r of results) {
      const level = r.severity === 'critical' ? 'ERROR' : r.severity === 'info' ? 'INFO' : 'WARNING';
      log(`${r.severity} ${r.rule}: ${r.message}`, level);
    }
    const critical = blocking(results);
    if (critical.length > 0) {
      await deps.jobs.update(deploymentId, (j) => ({ ...j, validation: results }));
      const what = critical.map((r) => (r.field ? `${r.field}: ${r.message}` : r.message)).join('; ');
      throw new PermanentError(`Validation failed: ${what}`);
    }
    return done(NEXT, { validation: results });
  });
}
