import type { EndpointDoc, ExecutionDoc, LogQuery, TriggerType } from '../domain/endpoint.js';
import { isFinalExecution, publicExecution } from '../domain/endpoint.js';
import { RequestError } from '../domain/errors.js';
import { checkInput } from '../domain/input-schema.js';
import { previewOf, redactKeys } from '../domain/preview.js';
import { keyMatches, presentedKey } from './api-keys.js';
import type { DesignDeps } from './deps.js';
import { leaseFor, UNCLAIMED } from './execution.js';
import { enqueueRun, runSync } from './sync-run.js';
import type { RunOutcome } from './types.js';

/**
 * Runs of an endpoint: started by hand (`manual`), by API (`api`, synchronous within the
 * endpoint's deadline or, with `Prefer: respond-async`, through the run queue) or by its
 * schedule (`scheduled`, always through the queue). A synchronous run that outlives its deadline
 * goes on through the queue, and its caller gets the execution id (202) instead of the result.
 * Every running execution holds a lease (execution.ts): a crashed worker's run is taken over once
 * its lease lapses, by its task's next delivery or by the sweep, which replays the recorded steps
 * and calls only what had not finished.
 */

export type Headers = Record<string, string | string[] | undefined>;

function newExecution(
  deps: DesignDeps,
  ep: EndpointDoc,
  trigger: TriggerType,
  input: unknown,
  extra: Partial<ExecutionDoc> = {},
): ExecutionDoc {
  const id = `exec-${deps.newId()}`;
  return {
    // Until a worker claims it: if none has within lease_ms (its task lost), the sweep hands it to the queue again.
    lease_until: leaseFor(deps, UNCLAIMED),
    id,
    execution_id: id,
    deployment_id: ep.id,
    status: 'running',
    trigger_type: trigger,
    input_data: redactKeys(input),
    run_input: input,
    result_data: null,
    started_at: deps.clock.now().toISOString(),
    completed_at: null,
    duration_ms: null,
    design: ep.design,
    input_preview: previewOf(input),
    ...extra,
  };
}

async function countExecution(deps: DesignDeps, ep: EndpointDoc, at: string): Promise<void> {
  await deps.store.updateEndpoint(ep.id, (cur) => ({ ...cur, execution_count: cur.execution_count + 1, last_execution_at: at }));
}

/** Refuses an endpoint that may not run: inactive ones answer 409 and never run. */
function assertActive(ep: EndpointDoc): void {
  if (ep.status !== 'active')
    throw new RequestError('conflict', `endpoint ${ep.endpoint_path} is inactive: set its status to active to run it`, 'status');
}

export interface RunAnswer {
  execution_id: string;
  deployment_id: string;
  /** Absent when the run went to the queue. */
  outcome?: RunOutcome;
  /** Why it went to the queue when the caller wanted the result: it outlived the sync deadline. */
  handed_over?: string;
}

/** Starts a run and waits for it (sync, within the endpoint's deadline) or hands it to the queue (async). */
async function startRun(deps: DesignDeps, ep: EndpointDoc, trigger: TriggerType, input: unknown, async: boolean): Promise<RunAnswer> {
  assertActive(ep);
  if (ep.input_schema) checkInput(ep.input_schema, input);
  if (async) {
    const exec = newExecution(deps, ep, trigger, input);
    await deps.store.createExecution(exec);
    await countExecution(deps, ep, exec.started_at);
    await enqueueRun(deps, exec.id);
    return { execution_id: exec.id, deployment_id: ep.id };
  }
  // Run here (runSync creates the execution, with the endpoint's counters, in its first commit).
  const exec = newExecution(deps, ep, trigger, input);
  const outcome = await runSync(deps, exec, ep.deadline_ms);
  if (outcome.status === 'suspended') return { execution_id: exec.id, deployment_id: ep.id, handed_over: outcome.reason };
  return { execution_id: exec.id, deployment_id: ep.id, outcome };
}

export { enqueueRun };

/** POST /api/deployments/{id}/execute */
export async function executeManual(deps: DesignDeps, id: string, input: unknown, async: boolean): Promise<RunAnswer> {
  const ep = await deps.store.getEndpoint(id);
  if (!ep) throw new RequestError('not_found', `no endpoint ${id}`, 'id');
  return startRun(deps, ep, 'manual', input, async);
}

/** POST /api/deployed/{path}: API key, rate limit, input schema, then the run. */
export async function invokeEndpoint(deps: DesignDeps, path: string, headers: Headers, input: () => Promise<unknown>): Promise<RunAnswer> {
  const ep = await deps.store.getEndpointByPath(path);
  if (ep?.status !== 'active') {
    throw new RequestError('not_found', ep ? `endpoint ${path} is inactive` : `no endpoint serves ${path}`, 'path');
  }
  const now = deps.clock.now();
  if (ep.auth.type === 'api_key') {
    const key = presentedKey(headers);
    if (!key) throw new AuthError('send the endpoint\'s API key as "Authorization: Bearer <key>" or "X-API-Key: <key>"');
    if (!keyMatches(ep, key, now)) throw new AuthError('the API key is not valid for this endpoint (rotated or mistyped?)');
  }
  const token = await deps.store.takeRateToken(`ep-${ep.id}`, ep.rate_limit.requests_per_minute, 60_000, now.getTime());
  if (!token.ok) throw new RateLimitedError(Math.max(1, Math.ceil(token.retry_after_ms / 1000)), ep.rate_limit.requests_per_minute);
  const prefer = String(headers.prefer ?? '');
  return startRun(deps, ep, 'api', await input(), /\brespond-async\b/i.test(prefer));
}

export class AuthError extends Error {
  override readonly name = 'AuthError';
}

export class RateLimitedError extends Error {
  override readonly name = 'RateLimitedError';
  constructor(
    readonly retryAfterSeconds: number,
    limit: number,
  ) {
    super(`this endpoint takes ${limit} requests a minute; retry after ${retryAfterSeconds} s`);
  }
}

/**
 * The scheduler's firing of an endpoint: a run through the queue, or — while the previous
 * scheduled run is still going — a `skipped` log saying which run it overlapped.
 */
export async function fireSchedule(deps: DesignDeps, endpointId: string): Promise<'started' | 'skipped' | 'ignored'> {
  const ep = await deps.store.getEndpoint(endpointId);
  if (ep?.status !== 'active' || !ep.schedule.enabled) return 'ignored';
  const previous = ep.running_scheduled ? await deps.store.getExecution(ep.running_scheduled) : null;
  const now = deps.clock.now().toISOString();
  if (previous && !isFinalExecution(previous.status)) {
    const skipped = newExecution(deps, ep, 'scheduled', null, {
      status: 'skipped',
      lease_until: null,
      completed_at: now,
      duration_ms: 0,
      error: `the previous scheduled run ${previous.id} was still running`,
      termination_reason: 'overlap',
      scheduled_for: now,
    });
    await deps.store.createExecution(skipped);
    return 'skipped';
  }
  const exec = newExecution(deps, ep, 'scheduled', null, { scheduled_for: now });
  const took = await deps.store.updateEndpoint(ep.id, (cur) =>
    cur.running_scheduled === ep.running_scheduled
      ? { ...cur, running_scheduled: exec.id, execution_count: cur.execution_count + 1, last_execution_at: now }
      : null,
  );
  // Another firing won the race: this one overlaps it.
  if (!took || took.running_scheduled !== exec.id) return fireSchedule(deps, endpointId);
  await deps.store.createExecution(exec);
  await enqueueRun(deps, exec.id);
  return 'started';
}

export async function listLogs(deps: DesignDeps, query: LogQuery) {
  await endpointOrLogs(deps, query.deployment_id);
  const page = await deps.store.listExecutions(query);
  return { logs: page.items.map(publicExecution), next_cursor: page.next_cursor };
}

export async function getLog(deps: DesignDeps, deploymentId: string, logId: string) {
  const doc = await deps.store.getExecution(logId);
  if (!doc || doc.deployment_id !== deploymentId)
    throw new RequestError('not_found', `no execution ${logId} of endpoint ${deploymentId}`, 'log_id');
  return { ...publicExecution(doc), steps: await deps.store.listSteps(logId) };
}

/** Logs stay readable after their endpoint is removed: only an id that never ran anything is unknown. */
async function endpointOrLogs(deps: DesignDeps, id: string): Promise<void> {
  if (await deps.store.getEndpoint(id)) return;
  const any = await deps.store.listExecutions({ deployment_id: id, limit: 1 });
  if (any.items.length === 0) throw new RequestError('not_found', `no endpoint ${id}`, 'id');
}
