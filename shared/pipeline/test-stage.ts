import { performance } from 'node:perf_hooks';
import { PermanentError } from '../domain/errors.js';
import type { TestSliceTask } from '../domain/events.js';
import { DEFAULT_HEALTH_PATH, judgeHealthAnswer, judgeRootAnswer } from '../domain/health.js';
import type { Job } from '../domain/job.js';
import { serviceName, taskName } from '../domain/names.js';
import { progressAt } from '../domain/pipeline.js';
import {
  exposureCheck,
  headerChecks,
  loadVerdict,
  performanceVerdict,
  planTests,
  type SecurityCheck,
  securityVerdict,
  sliceCount,
  sliceDurationMs,
  smokeProblem,
  type TestPlan,
  type TestResult,
  type TestType,
} from '../domain/testing.js';
import { QUEUES } from '../domain/topics.js';
import type { PipelineDeps } from './deps.js';
import {
  claimText,
  continueStage,
  done,
  emitsWhenDone,
  type Handoff,
  resendHandoff,
  runClaimed,
  runStageClaim,
  type StageOutcome,
} from './stage-runner.js';

const sliceToken = (n: number) => `slice-${n}`;
type Verdict = { passed: boolean; message: string; metrics: Record<string, unknown> };

/**
 * deployment.verified → the tests the request and its environment select, against the candidate's
 * tagged URL before it has any traffic. Functional, performance and security run here; a load test
 * runs afterwards in slices, each a task (testSlice), so no function outlives its timeout.
 */
export async function testCandidate(deps: PipelineDeps, deploymentId: string): Promise<string> {
  const claim = await runStageClaim(deps, deploymentId, 'testing', emitsWhenDone('testing'), (ctx) => firstPass(deps, ctx.job, ctx.log));
  if (claim.kind !== 'claim') await resendSlice(deps, deploymentId);
  return claimText(claim);
}

export async function testSlice(deps: PipelineDeps, task: TestSliceTask): Promise<string> {
  const claim = await continueStage(deps, task.deployment_id, 'testing', sliceToken(task.slice));
  if (claim.kind !== 'claim') {
    await resendSlice(deps, task.deployment_id);
    return claimText(claim);
  }
  await runClaimed(deps, claim.job, 'testing', ({ job, log }) => loadSlice(deps, job, task.slice, log));
  return 'sliced';
}

/** A retried event or task finding the load test waiting on a slice sends that slice's task again. */
async function resendSlice(deps: PipelineDeps, id: string): Promise<void> {
  const job = await deps.jobs.get(id);
  if (job?.status !== 'testing') return;
  const next = job.load_slices.length + 1;
  await resendHandoff(deps, id, 'testing', { token: sliceToken(next), handoff: sliceTask(id, next) }, emitsWhenDone('testing'));
}

function sliceTask(id: string, n: number): Handoff {
  return {
    kind: 'task',
    queue: QUEUES.testSlice,
    name: taskName(id, 'test-slice', n),
    payload: { type: 'test.slice.v1', deployment_id: id, slice: n },
    delay_ms: 0,
  };
}

function planOf(deps: PipelineDeps, job: Job): TestPlan {
  return planTests(job.request.test_options, deps.settings.environments, job.environment, job.request.deployment_options.health_path);
}

async function candidateUrl(deps: PipelineDeps, job: Job): Promise<string> {
  if (!job.revision) throw new PermanentError('No revision to test');
  const status = await deps.runtime.getRevision(serviceName(job.agent_id), job.revision);
  if (!status?.tag_url) throw new PermanentError(`Revision ${job.revision} has no tagged URL to test`);
  return status.tag_url;
}

async function firstPass(deps: PipelineDeps, job: Job, log: (m: string) => void): Promise<StageOutcome> {
  const plan = planOf(deps, job);
  if (plan.tests.length === 0) {
    log('No tests selected for this deployment');
    return done(emitsWhenDone('testing'), { test_results: [], current_step: 'No tests selected' });
  }
  const base = await candidateUrl(deps, job);
  log(`Testing ${job.revision} at ${base}: ${plan.tests.join(', ')}`);
  const runners: Partial<Record<TestType, () => Promise<Verdict>>> = {
    functional_test: () => functional(deps, base, plan),
    performance_test: () => performance_(deps, base, plan),
    security_test: () => security(deps, base, plan),
  };
  const results: TestResult[] = [];
  for (const type of plan.tests) {
    const run = runners[type];
    if (!run) continue;
    results.push(await timed(deps, type, run));
    log(results[results.length - 1].message);
  }
  await failOnAny(deps, job, results);
  if (!plan.tests.includes('load_test')) return done(emitsWhenDone('testing'), { test_results: results, current_step: 'Tests passed' });
  const count = sliceCount(plan, deps.settings.test_slice_ms);
  return waitForSlice(deps, job, 1, count, { test_results: results, load_slices: [] });
}

async function loadSlice(deps: PipelineDeps, job: Job, n: number, log: (m: string) => void): Promise<StageOutcome> {
  const plan = planOf(deps, job);
  const count = sliceCount(plan, deps.settings.test_slice_ms);
  const url = new URL(plan.target_path, await candidateUrl(deps, job)).toString();
  const duration = sliceDurationMs(plan, n, deps.settings.test_slice_ms);
  const started = performance.now();
  const slice = await deps.tester.load(url, {
    connections: plan.concurrent_users,
    duration_ms: duration,
    timeout_ms: deps.settings.test_request_timeout_ms,
  });
  const slices = [...job.load_slices, slice];
  log(`Load slice ${n}/${count}: ${slice.successful}/${slice.total} requests succeeded in ${Math.round(slice.duration_ms)} ms`);
  if (n < count) return waitForSlice(deps, job, n + 1, count, { load_slices: slices });
  const verdict = loadVerdict(slices, plan);
  const result = resultOf(
    deps,
    'load_test',
    verdict,
    (performance.now() - started) / 1000 + slices.slice(0, -1).reduce((a, s) => a + s.duration_ms / 1000, 0),
  );
  log(result.message);
  const results = [...job.test_results, result];
  await failOnAny(deps, job, results, { load_slices: slices });
  return done(emitsWhenDone('testing'), { test_results: results, load_slices: slices, current_step: 'Tests passed' });
}

function waitForSlice(deps: PipelineDeps, job: Job, n: number, count: number, patch: Partial<Job>): StageOutcome {
  return {
    patch: { ...patch, current_step: `Load test: slice ${n}/${count}`, progress: progressAt('testing', (n - 1) / count) },
    result: {
      done: false,
      token: sliceToken(n),
      lease_ms: deps.settings.test_slice_ms + deps.settings.claim_lease_ms,
      handoff: sliceTask(job.deployment_id, n),
    },
  };
}

/** A failed test fails the deployment in `testing`; its results are on the job first, so the failure shows what was measured. */
async function failOnAny(deps: PipelineDeps, job: Job, results: TestResult[], extra: Partial<Job> = {}): Promise<void> {
  const failed = results.filter((r) => !r.passed);
  if (failed.length === 0) return;
  const token = job.claim?.token;
  await deps.jobs.update(job.deployment_id, (cur) =>
    cur.status === 'testing' && cur.claim?.token === token ? { ...cur, ...extra, test_results: results } : null,
  );
  throw new PermanentError(
    `Revision ${job.revision} failed testing: ${failed.map((r) => r.message).join('; ')}`,
    'Fix the service or adjust test_options, then deploy again',
  );
}

async function timed(deps: PipelineDeps, type: TestType, run: () => Promise<Verdict>): Promise<TestResult> {
  const started = performance.now();
  const verdict = await run();
  return resultOf(deps, type, verdict, (performance.now() - started) / 1000);
}

function resultOf(deps: PipelineDeps, type: TestType, v: Verdict, seconds: number): TestResult {
  return {
    test_name: type,
    test_type: type,
    status: v.passed ? 'completed' : 'failed',
    passed: v.passed,
    message: v.message,
    metrics: v.metrics,
    execution_time: Math.round(seconds * 1000) / 1000,
    timestamp: deps.clock.now().toISOString(),
  };
}

async function functional(deps: PipelineDeps, base: string, plan: TestPlan): Promise<Verdict> {
  const get = (path: string) => deps.tester.get(new URL(path, base).toString(), { timeout_ms: deps.settings.test_request_timeout_ms });
  const problems: string[] = [];
  let ms = 0;
  let requests = 0;
  if (plan.smoke === null) {
    // No declared requests: the health check once more, as verify judged it (a missing default route falls back to /).
    const health = await get(plan.health_path ?? DEFAULT_HEALTH_PATH);
    ms += health.ms;
    requests++;
    let verdict = judgeHealthAnswer(health, plan.health_path);
    if (verdict.kind === 'no-health-route') {
      const root = await get('/');
      ms += root.ms;
      requests++;
      verdict = judgeRootAnswer(root);
    }
    if (verdict.kind !== 'healthy') problems.push(verdict.reason);
  } else {
    for (const req of plan.smoke) {
      const res = await get(req.path);
      ms += res.ms;
      requests++;
      const problem = 'error' in res ? res.error : smokeProblem(req, res.status, res.body);
      if (problem) problems.push(problem);
    }
  }
  const metrics = { response_time: Math.round(ms / requests) / 1000, requests, failed_requests: problems.length };
  return problems.length === 0
    ? { passed: true, metrics, message: `Functional test completed successfully (${requests} requests)` }
    : { passed: false, metrics, message: `Functional test failed: ${problems.join('; ')}` };
}

async function performance_(deps: PipelineDeps, base: string, plan: TestPlan): Promise<Verdict> {
  const url = new URL(plan.target_path, base).toString();
  const latencies: number[] = [];
  const failures: string[] = [];
  const started = performance.now();
  for (let i = 0; i < plan.performance_requests; i++) {
    const res = await deps.tester.get(url, { timeout_ms: deps.settings.test_request_timeout_ms });
    if ('error' in res) failures.push(res.error);
    // A fast 404 is still an answer whose latency counts; a server error is not.
    else if (res.status >= 500) failures.push(`${url} answered HTTP ${res.status}`);
    else latencies.push(res.ms);
  }
  return performanceVerdict(latencies, failures, plan.response_time_threshold_s, performance.now() - started);
}

const EXPOSURES = [
  ['no_exposed_env', '/.env'],
  ['no_exposed_git', '/.git/HEAD'],
  ['no_directory_listing', '/'],
] as const;

async function security(deps: PipelineDeps, base: string, plan: TestPlan): Promise<Verdict> {
  const get = (path: string, authenticated = true) =>
    deps.tester.get(new URL(path, base).toString(), { timeout_ms: deps.settings.test_request_timeout_ms, authenticated });
  const checks: SecurityCheck[] = [];
  const health = await get(plan.target_path);
  if ('error' in health) checks.push({ name: 'headers', passed: false, message: health.error });
  else checks.push(...headerChecks(health.headers));
  for (const [name, path] of EXPOSURES) {
    const res = await get(path);
    checks.push(
      'error' in res
        ? { name, passed: true, message: `${path} not served (${res.error})` }
        : exposureCheck(name, path, res.status, res.body),
    );
  }
  if (plan.requires_auth) checks.push(await authCheck(deps, plan, get));
  return securityVerdict(checks);
}

async function authCheck(
  deps: PipelineDeps,
  plan: TestPlan,
  get: (path: string, authenticated: boolean) => ReturnType<PipelineDeps['tester']['get']>,
): Promise<SecurityCheck> {
  const name = 'protected_path_refuses_unauthenticated';
  // Local revisions have no authentication in front of them: there is nothing to refuse with.
  if (deps.settings.target === 'local')
    return { name, passed: true, message: 'Not applicable on the local target: no authentication in front of revisions' };
  const res = await get(plan.protected_path, false);
  if ('error' in res) return { name, passed: false, message: res.error };
  const refused = res.status === 401 || res.status === 403;
  return {
    name,
    passed: refused,
    message: refused
      ? `${plan.protected_path} refuses an unauthenticated request (HTTP ${res.status})`
      : `${plan.protected_path} answered an unauthenticated request with HTTP ${res.status}`,
  };
}
