import { PermanentError } from '../domain/errors.js';
import type { PromoteStepTask } from '../domain/events.js';
import { type Job, typicalStageMs } from '../domain/job.js';
import { serviceName, taskName } from '../domain/names.js';
import { progressAt } from '../domain/pipeline.js';
import { QUEUES } from '../domain/topics.js';
import { nextSplit } from '../domain/traffic.js';
import type { PipelineDeps } from './deps.js';
import { checkRevision } from './health-check.js';
import {
  claimText,
  continueStage,
  done,
  type Handoff,
  resendHandoff,
  runClaimed,
  runStageClaim,
  type StageOutcome,
} from './stage-runner.js';

const stepToken = (step: number) => `step-${step}`;

/**
 * deployment.verified → traffic moves to the new revision: all at once, or the first canary
 * step (later steps are Cloud Tasks, each after a watch window in which the revision must stay
 * healthy). The last step completes the deployment and records the service's last good revision.
 */
export async function promoteRevision(deps: PipelineDeps, deploymentId: string): Promise<string> {
  const claim = await runStageClaim(deps, deploymentId, 'promoting', { kind: 'none' }, (ctx) => shiftTo(deps, ctx.job, 0, ctx.log));
  if (claim.kind !== 'claim') await resendCanaryStep(deps, deploymentId, 1);
  return claimText(claim);
}

/** A retried event that finds the canary waiting for step `step` sends that step's task again. */
async function resendCanaryStep(deps: PipelineDeps, id: string, step: number): Promise<void> {
  const job = await deps.jobs.get(id);
  if (job?.status !== 'promoting') return;
  await resendHandoff(deps, id, 'promoting', { token: stepToken(step), handoff: canaryTask(job, step) }, null);
}

function canaryTask(job: Job, step: number): Handoff {
  const strategy = job.request.deployment_options.strategy;
  return {
    kind: 'task',
    queue: QUEUES.promoteStep,
    name: taskName(job.deployment_id, 'canary', step),
    payload: { type: 'promote.step.v1', deployment_id: job.deployment_id, step },
    delay_ms: strategy.type === 'canary' ? strategy.window_seconds * 1000 : 0,
  };
}

export async function canaryStep(deps: PipelineDeps, task: PromoteStepTask): Promise<string> {
  const claim = await continueStage(deps, task.deployment_id, 'promoting', stepToken(task.step));
  if (claim.kind !== 'claim') {
    await resendCanaryStep(deps, task.deployment_id, task.step + 1);
    return claimText(claim);
  }
  await runClaimed(deps, claim.job, 'promoting', async ({ job, log }) => {
    const svc = await deps.runtime.getService(serviceName(job.agent_id));
    const tagged = svc?.traffic.find((t) => t.revision === job.revision && t.url)?.url;
    if (tagged) {
      const { check } = await checkRevision(deps, tagged, job.request.deployment_options.health_path);
      if (check.kind !== 'healthy')
        throw new PermanentError(`Canary revision ${job.revision} became unhealthy during the watch window: ${check.reason}`);
    }
    return shiftTo(deps, job, task.step, log);
  });
  return 'stepped';
}

async function shiftTo(deps: PipelineDeps, job: Job, step: number, log: (m: string) => void): Promise<StageOutcome> {
  const revision = job.revision;
  if (!revision) throw new PermanentError('No revision to promote');
  const service = serviceName(job.agent_id);
  const strategy = job.request.deployment_options.strategy;
  const steps = strategy.type === 'canary' && job.previous_revision ? strategy.steps : [100];
  const percent = steps[step] ?? 100;
  // Only this deployment's entries change: other tags and pinned splits are kept (nextSplit).
  const current = (await deps.runtime.getService(service))?.traffic ?? [];
  const traffic = nextSplit(current, { revision, previous: job.previous_revision, percent, tagged: percent < 100 });
  await deps.runtime.setTraffic(service, traffic);
  log(`Traffic: ${traffic.map((t) => `${t.revision} ${t.percent}%`).join(', ')}`);
  if (percent < 100) {
    const window = strategy.type === 'canary' ? strategy.window_seconds * 1000 : 0;
    return {
      patch: { current_step: `Canary at ${percent}%`, progress: progressAt('promoting', (percent / 100) * 0.9) },
      result: {
        done: false,
        token: stepToken(step + 1),
        lease_ms: window + deps.settings.claim_lease_ms,
        handoff: canaryTask(job, step + 1),
      },
    };
  }
  const svc = await deps.runtime.getService(service);
  const url = svc?.url ?? null;
  const now = deps.clock.now().toISOString();
  await deps.jobs.updateService(job.agent_id, (cur) => ({
    agent_id: job.agent_id,
    service_name: service,
    url,
    serving_revision: revision,
    last_good_revision: revision,
    good_revisions: [
      ...(cur?.good_revisions ?? []).filter((g) => g.revision !== revision),
      { revision, deployment_id: job.deployment_id },
    ].slice(-20),
    deployment_id: job.deployment_id,
    status: 'running',
    typical_stage_ms: typicalStageMs(cur?.typical_stage_ms ?? {}, job),
    updated_at: now,
  }));
  log(`Deployment completed: ${url ?? revision} serves revision ${revision}`);
  return done(
    { kind: 'none' },
    { current_step: 'Completed', progress: 100, service_url: url, completed_at: now, error_message: null },
    'completed',
  );
}
