import { generateDockerfile } from '../domain/dockerfile-gen/generate.js';
import { PermanentError } from '../domain/errors.js';
import { buildTag } from '../domain/events.js';
import { type PipelineDeps, stageLeaseMs } from './deps.js';
import { done, emitsWhenDone, runStage } from './stage-runner.js';

const NEXT = emitsWhenDone('building');

/**
 * deployment.prepared → submit the build and return. The build's completion arrives later as a
 * `baton-builds` notification (see onBuildNotification, build-events.ts); the stage waits under the build id.
 */
export function startBuild(deps: PipelineDeps, deploymentId: string): Promise<string> {
  return runStage(deps, deploymentId, 'building', NEXT, async ({ job, log }) => {
    if (job.request.source.type === 'image') {
      log(`Prebuilt image ${job.request.source.image}: nothing to build`);
      return done(NEXT, { artifact: { ref: job.request.source.image, digest: '' } });
    }
    const source = job.request.source;
    // A git source with no archive is fetched by the build itself (Cloud Build's clone step).
    const git =
      source.type === 'git' && !job.source_key
        ? {
            url: source.url,
            ref: source.ref,
            ...(source.path ? { path: source.path } : {}),
            ...(source.token_secret ? { token_secret: source.token_secret } : {}),
          }
        : undefined;
    if (!job.source_key && !git)
      throw new PermanentError('No prepared source to build', 'Redeploy: the prepare stage left no source archive');
    const { build_id, log_url } = await deps.builder.submit({
      deployment_id: job.deployment_id,
      agent_id: job.agent_id,
      source_key: job.source_key ?? '',
      ...(git ? { git } : {}),
      tags: [buildTag(job.deployment_id)],
      substitutions: { _DEPLOYMENT_ID: job.deployment_id, _AGENT_ID: job.agent_id },
      generated: job.analysis?.dockerfile === 'generated' ? (generateDockerfile(job.analysis) ?? undefined) : undefined,
      ...(job.analysis ? { analysis: job.analysis } : {}),
    });
    log(`Build ${build_id} submitted; log: ${log_url}`);
    return {
      patch: { build_id, current_step: 'Build queued' },
      result: { done: false, token: build_id, lease_ms: stageLeaseMs(deps.settings, 'building'), handoff: { kind: 'none' } },
    };
  });
}
