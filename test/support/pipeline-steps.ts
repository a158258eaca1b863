import { buildTag, VerifyPollTaskSchema } from '../../shared/domain/events.js';
import { QUEUES } from '../../shared/domain/topics.js';
import { startBuild } from '../../shared/pipeline/build.js';
import { onBuildNotification } from '../../shared/pipeline/build-events.js';
import { deployRevision } from '../../shared/pipeline/deploy.js';
import { prepareSource } from '../../shared/pipeline/prepare-source.js';
import { validateDeployment } from '../../shared/pipeline/validate.js';
import { verifyRevision } from '../../shared/pipeline/verify.js';
import type { Harness } from './fakes.js';

export const notification = (id: string, dep: string, status: string, extra: Record<string, unknown> = {}) => ({
  id,
  status: status as 'SUCCESS',
  tags: [buildTag(dep)],
  substitutions: { _DEPLOYMENT_ID: dep },
  ...extra,
});

/** Runs a job through validate → prepare → build (+ SUCCESS) → deploy, as the bus would. */
export async function throughDeploy(h: Harness, id: string): Promise<string> {
  await validateDeployment(h.deps, id);
  await prepareSource(h.deps, id);
  await startBuild(h.deps, id);
  const buildId = (await h.jobs.get(id))?.build_id ?? '';
  await onBuildNotification(h.deps, notification(buildId, id, 'SUCCESS', { results: { images: [{ name: 'art', digest: 'sha256:abc' }] } }));
  await deployRevision(h.deps, id);
  return (await h.jobs.get(id))?.revision ?? '';
}

/** Runs the last verify poll the pipeline scheduled, at its schedule time on the test's clock, as Cloud Tasks would. */
export async function runNextVerifyPoll(h: Harness): Promise<string> {
  const task = h.tasks.tasks.filter((t) => t.queue === QUEUES.verifyPoll).at(-1);
  if (!task) throw new Error('no verify poll was scheduled');
  const wait = (task.schedule_time_ms ?? 0) - h.clock.now().getTime();
  if (wait > 0) h.clock.advance(wait);
  return verifyRevision(h.deps, VerifyPollTaskSchema.parse(task.payload));
}

/** The service already serves revision svc-old (deployment d0), ready on the runtime. */
export async function servingOld(h: Harness): Promise<void> {
  await h.jobs.updateService('svc', () => ({
    agent_id: 'svc',
    service_name: 'svc',
    url: null,
    serving_revision: 'svc-old',
    last_good_revision: 'svc-old',
    good_revisions: [{ revision: 'svc-old', deployment_id: 'd0' }],
    deployment_id: 'd0',
    status: 'running',
    typical_stage_ms: {},
    updated_at: 'now',
  }));
  h.runtime.revisions.set('svc-old', { name: 'svc-old', state: 'ready', message: null, tag_url: null });
}
