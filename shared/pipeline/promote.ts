import { type CanaryAnalysis, judgeCanary, openWindow } from '../domain/canary.js';
import { canaryThresholdsFor } from '../domain/environments.js';
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

/** The first check of a step keeps the token of before checks existed (`step-N`), so a task from then still matches. */
const stepToken = (step: number, check: number) => (check <= 1 ? `step-${step}` : `step-${step}-check-${check}`);

function parseStepToken(token: string): { step: number; check: number } | null {
  const m = /^step-(\d+)(?:-check-(\d+))?$/.exec(token);
  return m ? { step: Number(m[1]), check: m[2] ? Number(m[2]) : 1 } : null;
}

/** A canary check task as its function receives it; `check` absent is the first. */
export type CanaryCheck = Omit<PromoteStepTask, 'check'> & { check?: number };

/**
 * deployment.tested → traffic moves to the new revision: all at once, or the first canary step.
 * Each canary step's window is analysed every canary_check_ms by a task (canaryStep): the
 * candidate's requests, 5xx rate and latency against the stable revision's and the thresholds. A
 * breach rolls back at that check; the window's last check moves traffic on. The last step
 * completes the deployment and records the service's last good revision.
 */
export async function promoteRevision(deps: PipelineDeps, deploymentId: string): Promise<string> {
  const claim = await runStageClaim(deps, deploymentId, 'promoting', { kind: 'none' }, (ctx) =>
    shiftTo(deps, ctx.job, 0, ctx.job.canary_analyses, ctx.log),
  );
  if (claim.kind !== 'claim') await resendCurrentCheck(deps, deploymentId);
  return claimText(claim);
}

/** A retried event or a stale task finding the canary waiting on a check sends that check's task again. */
async function resendCurrentCheck(deps: PipelineDeps, id: string): Promise<void> {
  const job = await deps.jobs.get(id);
  if (job?.status !== 'promoting' || !job.claim || job.claim.done) return;
  const at = parseStepToken(job.claim.token);
  const analysis = at && job.canary_analyses.find((a) => a.step === at.step);
  if (!at || !analysis) return;
  const delay = nextCheckDelay(deps, analysis, deps.clock.now().getTime());
  await resendHandoff(deps, id, 'promoting', { token: job.claim.token, handoff: checkTask(job, at.step, at.check, delay) }, null);
}

function checkTask(job: Job, step: number, check: number, delay_ms: number): Handoff {
  return {
    kind: 'task',
    queue: QUEUES.promoteStep,
    name: check <= 1 ? taskName(job.deployment_id, 'canary', step) : taskName(job.deployment_id, `canary-${step}-check`, check),
    payload: { type: 'promote.step.v1', deployment_id: job.deployment_id, step, check },
    delay_ms,
  };
}

const windowEnd = (a: CanaryAnalysis) => Date.parse(a.window_started_at) + a.window_seconds * 1000;

/** The next check: canary_check_ms from now, or the window's end if that comes first. */
function nextCheckDelay(deps: PipelineDeps, a: CanaryAnalysis, now: number): number {
  return Math.max(0, Math.min(deps.settings.canary_check_ms, windowEnd(a) - now));
}

export async function canaryStep(deps: PipelineDeps, task: CanaryCheck): Promise<string> {
  const check = task.check ?? 1;
  const claim = await continueStage(deps, task.deployment_id, 'promoting', stepToken(task.step, check));
  if (claim.kind !== 'claim') {
    await resendCurrentCheck(deps, task.deployment_id);
    return claimText(claim);
  }
  await runClaimed(deps, claim.job, 'promoting', ({ job, log }) => analyse(deps, job, task.step, check, log));
  return 'checked';
}

/** One check of step `step`'s window: measure, judge, and then roll back, wait for the next check, or move on. */
async function analyse(deps: PipelineDeps, job: Job, step: number, check: number, log: (m: string) => void): Promise<StageOutcome> {
  const revision = job.revision;
  if (!revision) throw new PermanentError('No revision to promote');
  const service = serviceName(job.agent_id);
  const now = deps.clock.now();
  // A window opened before analyses were recorded: taken as ending now.
  const opened =
    job.canary_analyses.find((a) => a.step === step) ??
    openWindow(
      step,
      stepsOf(job)[step - 1] ?? 100,
      new Date(now.getTime() - windowSecondsOf(job) * 1000).toISOString(),
      windowSecondsOf(job),
      thresholdsOf(deps, job),
      deps.canaryMetrics.source,
    );
  const final = now.getTime() >= windowEnd(opened);
  const revisions = job.previous_revision ? [revision, job.previous_revision] : [revision];
  const [candidate, stable = null] = await deps.canaryMetrics.revisionTraffic(service, revisions, {
    from: new Date(opened.window_started_at),
    to: now,
  });
  const judged = judgeCanary(candidate, stable, opened.thresholds);
  const analysis: CanaryAnalysis = {
    ...opened,
    checks: opened.checks + 1,
    checked_at: now.toISOString(),
    candidate,
    stable,
    verdict: judged.verdict,
    decided_by: 'metrics',
    final: final || judged.verdict === 'breach',
    message: judged.message,
  };
  const label = `Canary step ${step} (${opened.percent}%), check ${analysis.checks}`;
  if (judged.verdict === 'breach') {
    log(`${label}: ${judged.message}`);
    return failWith(
      deps,
      job,
      analysis,
      `Canary analysis at ${opened.percent}% rolled back ${revision} mid-window: ${judged.message}`,
      'canary_breach',
    );
  }
  if (!final) {
    // Metrics may lag (Cloud Monitoring's do, by minutes): a candidate that stops answering its
    // health probe, health_attempts checks in a row, is rolled back without waiting for them.
    const health = await probeCandidate(deps, job, service);
    const failures = health.healthy ? 0 : opened.health_failures + 1;
    analysis.health = health;
    analysis.health_failures = failures;
    if (failures >= deps.settings.health_attempts) {
      const failed: CanaryAnalysis = {
        ...analysis,
        final: true,
        verdict: 'breach',
        decided_by: 'health_probe',
        message: `${judged.message}; the health probe failed ${failures} checks in a row: ${health.message}`,
      };
      log(`${label}: ${failed.message}`);
      return failWith(deps, job, failed, `Canary revision ${revision} became unhealthy during the watch window: ${health.message}`);
    }
    log(
      `${label}: ${judged.message}${health.healthy ? '' : `; health probe failed (${failures}/${deps.settings.health_attempts}): ${health.message}`} (window goes on)`,
    );
    const delay = nextCheckDelay(deps, opened, now.getTime());
    return {
      patch: { canary_analyses: replaced(job, analysis) },
      result: {
        done: false,
        token: stepToken(step, check + 1),
        lease_ms: delay + deps.settings.claim_lease_ms,
        handoff: checkTask(job, step, check + 1, delay),
      },
    };
  }
  // The window is over: the health probe has the last word, and decides alone when the metrics could not.
  const health = await probeCandidate(deps, job, service);
  const decided: CanaryAnalysis = { ...analysis, health };
  if (!health.healthy) {
    const why = `the health probe failed: ${health.message}`;
    const failed: CanaryAnalysis = { ...decided, verdict: 'breach', decided_by: 'health_probe', message: `${judged.message}; ${why}` };
    log(`${label}: ${failed.message}`);
    return failWith(deps, job, failed, `Canary revision ${revision} became unhealthy during the watch window: ${health.message}`);
  }
  if (judged.verdict === 'inconclusive') {
    decided.decided_by = 'health_probe';
    decided.message = `${judged.message}; the health probe decided: ${health.message}`;
  }
  log(`${label}, end of window: ${decided.message}`);
  return shiftTo(deps, job, step, replaced(job, decided), log);
}

async function probeCandidate(deps: PipelineDeps, job: Job, service: string): Promise<{ healthy: boolean; message: string }> {
  const svc = await deps.runtime.getService(service);
  const tagged = svc?.traffic.find((t) => t.revision === job.revision && t.url)?.url;
  if (!tagged) return { healthy: true, message: `no tagged URL of ${job.revision} to probe` };
  const { check, url } = await checkRevision(deps, tagged, job.request.deployment_options.health_path);
  return check.kind === 'healthy' ? { healthy: true, message: `${url} healthy` } : { healthy: false, message: check.reason };
}

/** Records the step's final analysis on the job (under this worker's claim), then fails the deployment: a rollback when it may. */
async function failWith(
  deps: PipelineDeps,
  job: Job,
  analysis: CanaryAnalysis,
  message: string,
  reason_code?: 'canary_breach',
): Promise<never> {
  const token = job.claim?.token;
  const analyses = replaced(job, analysis);
  await deps.jobs.update(job.deployment_id, (cur) =>
    cur.status === 'promoting' && cur.claim?.token === token ? { ...cur, canary_analyses: analyses } : null,
  );
  // A health probe that failed is classified from its words (health_5xx, health_failed …) like verification's.
  throw new PermanentError(message, undefined, reason_code ? { detail: { reason_code } } : undefined);
}

const replaced = (job: Job, a: CanaryAnalysis) =>
  [...job.canary_analyses.filter((x) => x.step !== a.step), a].sort((x, y) => x.step - y.step);

function stepsOf(job: Job): number[] {
  const strategy = job.request.deployment_options.strategy;
  return strategy.type === 'canary' && job.previous_revision ? strategy.steps : [100];
}

function windowSecondsOf(job: Job): number {
  const strategy = job.request.deployment_options.strategy;
  return strategy.type === 'canary' ? strategy.window_seconds : 0;
}

function thresholdsOf(deps: PipelineDeps, job: Job) {
  const o = job.request.deployment_options;
  return canaryThresholdsFor(deps.settings.environments, job.environment, {
    max_error_rate: o.max_error_rate,
    max_latency_ms: o.max_latency_ms,
    min_requests: o.min_requests,
  });
}

/** Moves traffic to steps[step]: below 100 % it opens that step's window and schedules its first check. */
async function shiftTo(
  deps: PipelineDeps,
  job: Job,
  step: number,
  analyses: CanaryAnalysis[],
  log: (m: string) => void,
): Promise<StageOutcome> {
  const revision = job.revision;
  if (!revision) throw new PermanentError('No revision to promote');
  const service = serviceName(job.agent_id);
  const percent = stepsOf(job)[step] ?? 100;
  // Only this deployment's entries change: other tags and pinned splits are kept (nextSplit).
  const current = (await deps.runtime.getService(service))?.traffic ?? [];
  const traffic = nextSplit(current, { revision, previous: job.previous_revision, percent, tagged: percent < 100 });
  await deps.runtime.setTraffic(service, traffic);
  log(`Traffic: ${traffic.map((t) => `${t.revision} ${t.percent}%`).join(', ')}`);
  if (percent < 100) {
    const window = windowSecondsOf(job);
    // The window opens once the runtime has the new split: what came before is not this step's.
    const opened = openWindow(
      step + 1,
      percent,
      deps.clock.now().toISOString(),
      window,
      thresholdsOf(deps, job),
      deps.canaryMetrics.source,
    );
    const delay = nextCheckDelay(deps, opened, deps.clock.now().getTime());
    const next = { ...job, canary_analyses: analyses };
    return {
      patch: {
        current_step: `Canary at ${percent}%`,
        progress: progressAt('promoting', (percent / 100) * 0.9),
        canary_analyses: replaced(next, opened),
      },
      result: {
        done: false,
        token: stepToken(step + 1, 1),
        lease_ms: window * 1000 + deps.settings.claim_lease_ms,
        handoff: checkTask(job, step + 1, 1, delay),
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
    { current_step: 'Completed', progress: 100, service_url: url, completed_at: now, error_message: null, canary_analyses: analyses },
    'completed',
  );
}
