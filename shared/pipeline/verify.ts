import { PermanentError } from '../domain/errors.js';
import type { VerifyPollTask } from '../domain/events.js';
import { DEFAULT_HEALTH_PATH, warmingHint } from '../domain/health.js';
import type { Job } from '../domain/job.js';
import { serviceName } from '../domain/names.js';
import { verifyPoll } from './deploy.js';
import type { PipelineDeps } from './deps.js';
import { checkRevision } from './health-check.js';
import { claimStage, claimText, continueStage, done, emitsWhenDone, resendHandoff, runClaimed, type StageOutcome } from './stage-runner.js';

const pollToken = (attempt: number) => `poll-${attempt}`;

/**
 * A readiness poll (a Cloud Task, never a wait inside a function). Verification passes only when
 * this deployment's own revision is the latest ready one and its health endpoint answers 2xx with
 * every reported dependency up (with no health_path and no /health route: TCP and `/` below 500,
 * as Cloud Run checks); until then the stage re-arms itself with the next poll. A 503 or a refused
 * connection is a service warming up, polled until its start timeout; other failures count
 * towards health_attempts.
 */
export async function verifyRevision(deps: PipelineDeps, task: VerifyPollTask): Promise<string> {
  const id = task.deployment_id;
  const claim =
    task.attempt === 1
      ? await claimStage(deps, id, 'verifying', pollToken(1))
      : await continueStage(deps, id, 'verifying', pollToken(task.attempt));
  if (claim.kind !== 'claim') {
    await resendHandoff(
      deps,
      id,
      'verifying',
      { token: pollToken(task.attempt + 1), handoff: verifyPoll(deps, id, task.attempt + 1) },
      emitsWhenDone('verifying'),
    );
    return claimText(claim);
  }
  await runClaimed(deps, claim.job, 'verifying', (ctx) => poll(deps, ctx.job, task.attempt, ctx.log));
  return 'polled';
}

async function poll(deps: PipelineDeps, job: Job, attempt: number, log: (m: string) => void): Promise<StageOutcome> {
  const revision = job.revision;
  if (!revision) throw new PermanentError('No revision was deployed');
  const service = serviceName(job.agent_id);
  const status = await deps.runtime.getRevision(service, revision);
  if (!status) throw new PermanentError(`Revision ${revision} no longer exists`, 'Redeploy');
  if (status.state === 'failed' || status.state === 'stopped') {
    throw new PermanentError(`Revision ${revision} did not start: ${status.message ?? 'it stopped'}`);
  }
  if (status.state === 'starting') {
    // The runtime enforces the start timeout itself; this is the backstop if it never says.
    const limitMs = (job.request.deployment_options.start_timeout_seconds + 120) * 1000;
    if (verifyingForMs(deps, job) > limitMs) {
      throw new PermanentError(
        `Revision ${revision} was still not ready after ${Math.round(limitMs / 1000)} s`,
        'Check that it starts and listens on $PORT, or raise --start-timeout (deployment_options.start_timeout_seconds)',
      );
    }
    return again(deps, job, attempt, deps.settings.verify_poll_interval_ms);
  }

  const svc = await deps.runtime.getService(service);
  if (svc?.latest_ready_revision !== revision) {
    throw new PermanentError(
      `The latest ready revision is ${svc?.latest_ready_revision ?? 'none'}, not ${revision}: another deployment of ${job.agent_id} replaced it`,
      'Deploy again once the other deployment has finished',
    );
  }
  if (!status.tag_url) throw new PermanentError(`Revision ${revision} has no tagged URL to verify`);
  const measurements = status.startup_ms !== undefined ? { ...job.measurements, startup_ms: status.startup_ms } : job.measurements;
  const options = job.request.deployment_options;
  const { check, url, probe } = await checkRevision(deps, status.tag_url, options.health_path);
  if (check.kind === 'healthy') {
    if (check.note) log(`Revision ${revision}: ${check.note}`);
    log(`Revision ${revision} is ready and healthy (${url})`);
    return done(emitsWhenDone('verifying'), { measurements, current_step: 'Verified' });
  }
  if (check.kind === 'warming') {
    // A service still warming up answers 503 (or nothing) for a while: that is not a failed check, until the start timeout.
    const limitS = options.start_timeout_seconds;
    if (verifyingForMs(deps, job) > limitS * 1000) {
      throw new PermanentError(
        `Revision ${revision} was still not serving after ${limitS} s, its start timeout, at ${url}: ${check.reason}`,
        warmingHint(options.health_path ?? DEFAULT_HEALTH_PATH),
        { detail: { reason_code: 'start_timeout', ...(probe ? { probe } : {}) } },
      );
    }
    if (job.current_step !== WARMING)
      log(`Revision ${revision} is not serving yet (${check.reason}); checking again until its start timeout (${limitS} s)`);
    return again(deps, { ...job, measurements }, attempt, warmingDelay(deps, attempt), WARMING);
  }
  const failures = job.health_failures + 1;
  if (failures >= deps.settings.health_attempts) {
    throw new PermanentError(`Health check of revision ${revision} failed ${failures} times at ${url}: ${check.reason}`, check.hint, {
      detail: { reason_code: healthReason(probe?.status ?? null, check.reason), ...(probe ? { probe } : {}) },
    });
  }
  log(`Health check ${failures}/${deps.settings.health_attempts} failed: ${check.reason}; checking again`);
  return again(deps, { ...job, health_failures: failures, measurements }, attempt, deps.settings.verify_poll_interval_ms * 4);
}

const WARMING = 'Waiting for the service to warm up';

/** A failed health check's reason code: a dependency reported down, a server error, or any other answer. */
function healthReason(status: number | null, reason: string): 'dependency_down' | 'health_5xx' | 'health_failed' {
  if (/dependencies reported unhealthy/.test(reason)) return 'dependency_down';
  return status !== null && status >= 500 ? 'health_5xx' : 'health_failed';
}

/** Since the revision was deployed (the first readiness poll): its start-up and warm-up both count. */
function verifyingForMs(deps: PipelineDeps, job: Job): number {
  return deps.clock.now().getTime() - Date.parse(job.stage_timings.verifying?.started_at ?? job.updated_at);
}

/** Polls a warming service often at first, then at most every half second (or the poll interval, if longer). */
function warmingDelay(deps: PipelineDeps, attempt: number): number {
  const base = deps.settings.verify_poll_interval_ms;
  return Math.min(Math.max(base, 500), base * 2 ** Math.min(attempt, 16));
}

function again(deps: PipelineDeps, job: Job, attempt: number, delayMs: number, step?: string): StageOutcome {
  const next = attempt + 1;
  return {
    patch: { health_failures: job.health_failures, measurements: job.measurements, ...(step ? { current_step: step } : {}) },
    result: {
      done: false,
      token: pollToken(next),
      lease_ms: deps.settings.claim_lease_ms,
      handoff: verifyPoll(deps, job.deployment_id, next, delayMs),
    },
  };
}
