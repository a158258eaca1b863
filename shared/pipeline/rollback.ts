import { randomUUID } from 'node:crypto';
import { isPermanent, messageOf, PermanentError } from '../domain/errors.js';
import type { Job } from '../domain/job.js';
import { serviceName } from '../domain/names.js';
import type { PipelineDeps } from './deps.js';
import { failDeployment, stageLogger } from './stage-runner.js';

/**
 * deployment.rollback_requested → traffic returns to the revision that served before the
 * deployment; nothing is rebuilt. For an automatic rollback the event names the failed
 * deployment (already rolling_back); for a manual one it names the rollback job, which points at
 * the deployment it undoes.
 */
export async function rollBack(deps: PipelineDeps, id: string): Promise<string> {
  const token = randomUUID();
  const now = deps.clock.now();
  const claim = {
    stage: 'rolling_back' as const,
    token,
    expires_at: new Date(now.getTime() + deps.settings.claim_lease_ms).toISOString(),
    done: false,
    ephemeral: true,
  };
  const claimed = await deps.jobs.update(id, (job) => {
    const live = job.claim && !job.claim.done && Date.parse(job.claim.expires_at) > now.getTime();
    if (job.status === 'queued' && job.kind === 'rollback') {
      const at = now.toISOString();
      return {
        ...job,
        status: 'rolling_back',
        stage: 'rolling_back',
        current_step: 'Rolling back traffic',
        progress: 50,
        started_at: at,
        updated_at: at,
        claim,
      };
    }
    if (job.status === 'rolling_back' && !live && !job.claim?.done) return { ...job, claim };
    return null;
  });
  if (!claimed?.changed) return claimed ? `nothing to do: ${claimed.job.status}` : 'no such job';
  const job = claimed.job;
  const log = stageLogger(deps, job, 'rolling_back');
  try {
    const target = job.kind === 'rollback' ? await deps.jobs.get(job.rollback_of ?? '') : job;
    if (!target) throw new PermanentError(`The deployment to roll back (${job.rollback_of}) does not exist`);
    await restore(deps, job, target, log);
  } catch (err) {
    if (!isPermanent(err)) {
      log(`Transient error, will retry: ${messageOf(err)}`, 'WARNING');
      await deps.jobs.update(id, (j) => (j.claim?.token === token ? { ...j, claim: null } : null));
      await deps.logs.flush(id);
      throw err;
    }
    await failDeployment(deps, id, 'rolling_back', messageOf(err));
  }
  await deps.logs.flush(id);
  return 'rolled back';
}

async function restore(deps: PipelineDeps, job: Job, target: Job, log: (m: string, l?: 'INFO' | 'WARNING') => void): Promise<void> {
  const service = serviceName(target.agent_id);
  const back = target.previous_revision;
  if (!back) throw new PermanentError(`Deployment ${target.deployment_id} has no earlier revision to return to`);
  log(`Returning all traffic to ${back}`);
  await deps.runtime.setTraffic(service, [{ revision: back, percent: 100 }]);
  const automatic = job.kind === 'deployment';
  if (automatic && target.revision) {
    await deps.runtime.deleteRevision(service, target.revision);
    log(`Stopped the failed revision ${target.revision}`);
  }
  const svc = await deps.runtime.getService(service);
  const now = deps.clock.now().toISOString();
  await deps.jobs.updateService(target.agent_id, (cur) => ({
    agent_id: target.agent_id,
    service_name: service,
    url: svc?.url ?? cur?.url ?? null,
    serving_revision: back,
    last_good_revision: back,
    good_revisions: (cur?.good_revisions ?? []).filter((g) => g.revision !== target.revision),
    deployment_id: target.previous_deployment_id,
    status: 'running',
    typical_stage_ms: cur?.typical_stage_ms ?? {},
    updated_at: now,
  }));
  const lines = deps.logs.take(job.deployment_id);
  const finish = (j: Job, step: string): Job => ({
    ...j,
    status: 'rolled_back',
    current_step: step,
    progress: 100,
    claim: j.claim ? { ...j.claim, done: true } : null,
    service_url: svc?.url ?? j.service_url,
    logs: [...j.logs, ...(j.deployment_id === job.deployment_id ? lines : [])].slice(-20),
    updated_at: now,
    completed_at: now,
  });
  if (!automatic) {
    // The deployment leaves completed only now that its rollback has succeeded.
    await deps.jobs.update(target.deployment_id, (t) => (t.status === 'completed' ? { ...t, status: 'rolling_back' } : null));
    await deps.jobs.update(target.deployment_id, (t) =>
      t.status === 'rolling_back'
        ? { ...finish(t, `Rolled back to ${back} by ${job.deployment_id}`), rollback_reason: job.rollback_reason }
        : null,
    );
  }
  await deps.jobs.update(job.deployment_id, (j) => (j.status === 'rolling_back' ? finish(j, `Traffic restored to ${back}`) : null));
  log(`Rolled back: ${back} serves all traffic`);
}
