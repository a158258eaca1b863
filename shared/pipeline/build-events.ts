import { TransientError } from '../domain/errors.js';
import { BUILD_TAG_PREFIX, BUILD_TERMINAL_STATUSES, type BuildNotification, buildTag, commitFromStepOutputs } from '../domain/events.js';
import { progressAt } from '../domain/pipeline.js';
import { drainBuildLog, followBuildLog } from './build-log.js';
import type { PipelineDeps } from './deps.js';
import { claimText, commitStage, continueStage, done, emitsWhenDone, failDeployment, resendHandoff, stageLogger } from './stage-runner.js';

/*
 * The notifications of Baton's builds (baton-builds): progress, the end of a build (its log read
 * to the end first), its outcome. Apart from build.ts (which submits) so that the build function's
 * code reaches no read of build logs and no baton-build-log task (test/infra checks each
 * function's reach against its grants).
 */
const NEXT = emitsWhenDone('building');

/** The steps a build goes through before a terminal status, in order: a late QUEUED never undoes WORKING. */
const BUILD_STEPS: readonly (readonly [string, string])[] = [
  ['STATUS_UNKNOWN', 'Build status unknown'],
  ['PENDING', 'Build pending'],
  ['QUEUED', 'Build queued'],
  ['WORKING', 'Building'],
];
const stepRank = (step: string) => BUILD_STEPS.findIndex(([, s]) => s === step);

/**
 * A build notification (`baton-builds`). Builds that are not Baton's are ignored; duplicates and
 * out-of-order notifications change nothing because the stage only moves while it waits on this
 * exact build id.
 */
export async function onBuildNotification(deps: PipelineDeps, build: BuildNotification): Promise<string> {
  // Baton's builds carry both the tag and the substitution; the stage then matches the build id.
  const fromTag = build.tags.find((t) => t.startsWith(BUILD_TAG_PREFIX))?.slice(BUILD_TAG_PREFIX.length);
  const deploymentId = build.substitutions._DEPLOYMENT_ID ?? fromTag;
  if (!deploymentId || !build.tags.includes(buildTag(deploymentId))) return 'not a Baton build';
  const claim = await continueStage(deps, deploymentId, 'building', build.id);
  if (claim.kind !== 'claim') {
    // The build stage may not have recorded this build id yet (its worker is between submit and
    // commit): a retry will find it, so this notification must not be acknowledged as stale.
    const job = await deps.jobs.get(deploymentId);
    const terminal = (BUILD_TERMINAL_STATUSES as readonly string[]).includes(build.status);
    const recording = job?.status === 'building' && job.claim && !job.claim.done && (job.claim.ephemeral || job.claim.token === build.id);
    if (terminal && recording) {
      throw new TransientError(`build ${build.id} of ${deploymentId} is not recorded yet; retrying`);
    }
    // A redelivered SUCCESS for a build already committed: the built event may have been lost.
    if (build.status === 'SUCCESS' && job?.build_id === build.id) await resendHandoff(deps, deploymentId, 'building', null, NEXT);
    return claimText(claim);
  }
  const job = claim.job;
  const log = stageLogger(deps, job, 'building');

  const step = BUILD_STEPS.find(([status]) => status === build.status)?.[1];
  if (step) {
    await deps.jobs.update(deploymentId, (j) =>
      j.status === 'building' && j.build_id === build.id && stepRank(step) > stepRank(j.current_step)
        ? { ...j, current_step: step, progress: Math.max(j.progress, progressAt('building', build.status === 'WORKING' ? 0.125 : 0)) }
        : null,
    );
    // Working: its own log starts to be written; follow it (a named task: a duplicate WORKING starts nothing).
    if (build.status === 'WORKING' && deps.builder.readLog) await followBuildLog(deps, job, build.id);
    return 'progress';
  }
  // Ended: the rest of its log goes in before its outcome.
  await drainBuildLog(deps, job, build.id);
  if (build.status === 'SUCCESS') {
    const image = build.results?.images[0];
    if (!image) {
      await failDeployment(deps, deploymentId, 'building', `Build ${build.id} succeeded but produced no image`);
      return 'failed';
    }
    // A build that fetched its git source itself says which commit it checked out.
    const commit_sha = commitFromStepOutputs(build.results?.buildStepOutputs);
    if (commit_sha) log(`Built commit ${commit_sha}`);
    log(`Build ${build.id} succeeded: ${image.name}@${image.digest}`);
    const buildMs = build.createTime && build.finishTime ? Date.parse(build.finishTime) - Date.parse(build.createTime) : undefined;
    const measurements = buildMs !== undefined ? { ...job.measurements, build_ms: buildMs } : job.measurements;
    await commitStage(
      deps,
      job,
      'building',
      done(NEXT, {
        artifact: { ref: image.name, digest: image.digest },
        measurements,
        current_step: 'Build succeeded',
        ...(commit_sha ? { commit_sha } : {}),
      }),
    );
    await deps.logs.flush(deploymentId);
    return 'built';
  }
  const detail = (build.failureInfo?.detail ?? build.statusDetail ?? 'no detail given').replace(/\.+\s*$/, '');
  const words: Record<string, string> = {
    FAILURE: 'failed',
    INTERNAL_ERROR: 'failed with an internal error of the build service',
    TIMEOUT: 'timed out',
    CANCELLED: 'was cancelled',
    EXPIRED: 'expired in the queue before it started',
  };
  const link = build.logUrl ? ` Full build log: ${build.logUrl}` : '';
  // Locally the build's log is the deployment's log; on Google Cloud, Cloud Build's console page.
  const build_log_url = build.logUrl?.startsWith('http') ? build.logUrl : `/deployments/${deploymentId}/logs`;
  await failDeployment(deps, deploymentId, 'building', `Build ${build.id} ${words[build.status] ?? build.status}: ${detail}.${link}`, {
    reason_code:
      build.status === 'TIMEOUT' ? 'stage_timeout' : /Missing script: "?start"?/.test(detail) ? 'missing_start_script' : 'build_failed',
    build_log_url,
  });
  return 'failed';
}
