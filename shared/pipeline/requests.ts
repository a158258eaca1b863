import { ownerKey } from '../domain/admission.js';
import { approvalOptOutProblem } from '../domain/approval.js';
import { transition } from '../domain/claim.js';
import { resolveEnvironment } from '../domain/environments.js';
import { messageOf, RequestError } from '../domain/errors.js';
import { failureRecord } from '../domain/failure.js';
import { estimateEtaSeconds, type Job, type JobPrivate, newJob, publicJob, splitPrivate } from '../domain/job.js';
import type { DeploymentRequest } from '../domain/request.js';
import { CANCELLABLE, isFinal } from '../domain/status.js';
import { wakeForCancel } from './approval-requests.js';
import { admissionPolicy, type PipelineDeps } from './deps.js';
import { handOff, releaseSlots } from './stage-runner.js';

/**
 * The API's use cases. Each does only quick work (a few document reads and writes and one
 * publish); everything slow happens in the stages.
 */
export async function acceptDeployment(deps: PipelineDeps, input: DeploymentRequest, owner: string | null = null) {
  const environment = resolveEnvironment(deps.settings.environments, input.environment);
  if (!environment.ok) throw new RequestError('invalid', `environment: ${environment.message}`, 'environment');
  const optOut = approvalOptOutProblem(input, deps.settings.environments, environment.name);
  if (optOut) throw new RequestError('invalid', `deployment_options.approval: ${optOut}`, 'deployment_options.approval');
  const request = { ...input, environment: environment.name };
  await deps.sources.check(request.source);
  const id = deps.newId();
  const now = deps.clock.now().toISOString();
  // Env values and git credentials go to a private document no client can read; the job keeps names.
  const split = splitPrivate(request);
  const job = { ...newJob(id, split.request, now, 'deployment', owner), private_ref: split.private ? id : null };
  const queued = await deps.jobs.enqueue(job, admissionPolicy(deps.settings), request.deployment_options.supersede_queued);
  if (queued.outcome === 'rolling_back')
    throw await rollingBackError(deps, request.agent_id, 'a deployment now would be undone by it', 'agent_id');
  if (queued.outcome === 'full') {
    throw new RequestError(
      'too_many',
      `the queue of ${ownerKey(owner)} is full: ${deps.settings.max_queued_per_owner} deployments wait already behind ${deps.settings.max_active_per_owner} running; try again later or cancel some (GET /deployments?status=queued)`,
      'agent_id',
      deps.settings.queue_retry_after_s,
    );
  }
  if (queued.outcome === 'exists') throw new RequestError('conflict', `deployment id ${id} exists already; try again`, 'deployment_id');
  for (const old of queued.superseded) {
    deps.logs.write(
      job.agent_id,
      old,
      'WARNING',
      `Superseded by ${id}: a newer deployment of ${job.agent_id} was accepted while this one waited`,
    );
    await deps.logs.flush(old);
  }
  const what = `Deployment ${id} of ${job.agent_id} (${job.environment}, version ${job.version})`;
  const secret = split.private;
  if (queued.outcome === 'queued') {
    const position = await deps.jobs.queuePosition(queued.job);
    const why =
      queued.job.queue?.reason === 'agent_busy'
        ? `another deployment of ${job.agent_id} is running`
        : `${ownerKey(owner)} has ${deps.settings.max_active_per_owner} running`;
    deps.logs.write(
      job.agent_id,
      id,
      'INFO',
      `${what} waits in the queue (position ${position ?? '?'}): ${why}; it starts by itself when a slot frees`,
    );
    if (queued.superseded.length > 0) deps.logs.write(job.agent_id, id, 'INFO', `Superseded the waiting ${queued.superseded.join(', ')}`);
    await storePrivateOrFail(deps, job, secret);
    await deps.logs.flush(id);
    return {
      message: 'Deployment queued',
      deployment_id: id,
      agent_id: job.agent_id,
      status: 'queued' as const,
      queue_position: position,
      queue_reason: queued.job.queue?.reason ?? null,
      superseded: queued.superseded,
    };
  }
  deps.logs.write(job.agent_id, id, 'INFO', `${what} queued; source: ${request.source.type}`);
  if (queued.superseded.length > 0) deps.logs.write(job.agent_id, id, 'INFO', `Superseded the waiting ${queued.superseded.join(', ')}`);
  await publishOrFail(deps, job, 'deployment.requested.v1', secret ? () => deps.jobs.putPrivate(id, secret) : undefined);
  return {
    message: 'Deployment started',
    deployment_id: id,
    agent_id: job.agent_id,
    status: 'queued' as const,
    ...(queued.superseded.length > 0 ? { superseded: queued.superseded } : {}),
  };
}

/** A waiting deployment's private data is stored now (the stages read it once it is admitted); failing that, it fails. */
async function storePrivateOrFail(deps: PipelineDeps, job: Job, secret: JobPrivate | null): Promise<void> {
  if (!secret) return;
  try {
    await deps.jobs.putPrivate(job.deployment_id, secret);
  } catch (err) {
    await failQueued(deps, job, 'its private data could not be stored');
    throw new RequestError('unavailable', `the deployment could not be queued (${messageOf(err)}); try again`);
  }
}

/** Manual rollback of a completed deployment that is serving now: traffic returns to the revision before it. */
export async function requestRollback(deps: PipelineDeps, deploymentId: string, reason: string, owner: string | null = null) {
  const target = await mustGet(deps, deploymentId);
  if (target.kind !== 'deployment') throw new RequestError('invalid', 'a rollback job cannot itself be rolled back', 'deployment_id');
  if (target.status !== 'completed') {
    throw new RequestError(
      'conflict',
      `only a completed deployment can be rolled back; ${deploymentId} is ${target.status}`,
      'deployment_id',
    );
  }
  if (!target.previous_revision) {
    throw new RequestError(
      'conflict',
      `deployment ${deploymentId} was the first of ${target.agent_id}: there is no earlier revision to return to`,
      'deployment_id',
    );
  }
  if ((await deps.jobs.countActive(target.agent_id)) > 0) throw deploymentInProgress(target.agent_id);
  const svc = await deps.jobs.getService(target.agent_id);
  if (svc?.deployment_id !== deploymentId) {
    throw new RequestError(
      'conflict',
      `deployment ${deploymentId} is not the one serving ${target.agent_id}; roll back the serving deployment (${svc?.deployment_id ?? 'none'})`,
      'deployment_id',
    );
  }
  const id = deps.newId();
  const now = deps.clock.now().toISOString();
  const job: Job = {
    ...newJob(id, target.request, now, 'rollback', owner),
    rollback_of: deploymentId,
    rollback_reason: reason,
    revision: target.previous_revision,
  };
  // The same atomic check as a deployment's accept: one rollback at a time, none beside a deployment.
  const created = await deps.jobs.createUnlessBusy(job, 1);
  if (created === 'rolling_back') throw await rollingBackError(deps, target.agent_id, 'roll back again once it is done', 'deployment_id');
  if (created === 'busy') throw deploymentInProgress(target.agent_id);
  await deps.jobs.update(deploymentId, (t) => ({ ...t, rollback_id: id }));
  deps.logs.write(job.agent_id, id, 'INFO', `Rollback of ${deploymentId} to ${target.previous_revision} requested: ${reason}`);
  deps.logs.write(target.agent_id, deploymentId, 'WARNING', `Rollback ${id} requested: ${reason}`);
  await publishOrFail(deps, job, 'deployment.rollback_requested.v1');
  return { message: 'Rollback started', rollback_id: id, deployment_id: deploymentId, agent_id: job.agent_id, status: 'queued' as const };
}

function deploymentInProgress(agentId: string): RequestError {
  return new RequestError(
    'conflict',
    `a deployment of ${agentId} is in progress; wait for it to finish or cancel it, then roll back`,
    'deployment_id',
  );
}

/** The store refused because a rollback is unfinished: name it, so the caller knows what to wait for. */
async function rollingBackError(deps: PipelineDeps, agentId: string, why: string, field: string): Promise<RequestError> {
  const rollback = await rollbackInProgress(deps, agentId);
  const which = rollback ? ` (${rollback.deployment_id}, ${rollback.status})` : '';
  const wait = rollback ? `GET /deployments/${rollback.deployment_id}` : `GET /deployments?agent_id=${agentId}`;
  return new RequestError('conflict', `agent ${agentId} is being rolled back${which}: ${why}; wait for it to finish (${wait})`, field);
}

/** Which rollback of the agent is unfinished, for the message only (the refusal itself is atomic in the store). */
async function rollbackInProgress(deps: PipelineDeps, agentId: string): Promise<Job | null> {
  const queries = [
    { agent_id: agentId, status: 'rolling_back' as const, limit: 1 },
    { agent_id: agentId, kind: 'rollback' as const, status: 'queued' as const, limit: 1 },
  ];
  for (const q of queries) {
    const [job] = (await deps.jobs.list(q)).items;
    if (job) return job;
  }
  return null;
}

export async function requestCancel(deps: PipelineDeps, deploymentId: string) {
  const job = await mustGet(deps, deploymentId);
  if (job.kind === 'rollback')
    throw new RequestError('conflict', 'a rollback cannot be cancelled; deploy again or roll back the result', 'deployment_id');
  const now = deps.clock.now().toISOString();
  const res = await deps.jobs.update(deploymentId, (j) => {
    if (!CANCELLABLE.includes(j.status) || j.cancel_requested) return null;
    // Nothing has started yet: cancel at once. Otherwise the running stage stops at its boundary.
    return j.status === 'queued' && j.kind === 'deployment'
      ? transition(j, 'cancelled', { current_step: 'Cancelled', cancel_requested: true, updated_at: now, completed_at: now })
      : { ...j, cancel_requested: true, current_step: `Cancelling after ${j.status}`, updated_at: now };
  });
  if (!res?.changed) {
    if (res?.job.cancel_requested && !isFinal(res.job.status))
      return { message: 'Cancellation already requested', deployment_id: deploymentId, status: res.job.status };
    throw new RequestError(
      'conflict',
      `deployment ${deploymentId} is ${res?.job.status ?? job.status} and can no longer be cancelled`,
      'deployment_id',
    );
  }
  deps.logs.write(res.job.agent_id, deploymentId, 'WARNING', 'Cancellation requested');
  await deps.logs.flush(deploymentId);
  if (isFinal(res.job.status)) await releaseSlots(deps, res.job);
  if (res.job.status === 'building' && res.job.build_id) await deps.builder.cancel(res.job.build_id);
  // Waiting for approval, nothing runs to reach a boundary: the wait is woken now, not at its deadline.
  await wakeForCancel(deps, res.job);
  return { message: 'Cancellation requested', deployment_id: deploymentId, status: res.job.status };
}

export async function getDeployment(deps: PipelineDeps, id: string) {
  const job = await mustGet(deps, id);
  const svc = await deps.jobs.getService(job.agent_id);
  const now = deps.clock.now().getTime();
  const position = job.queue ? await deps.jobs.queuePosition(job) : null;
  return publicJob(job, estimateEtaSeconds(job, svc?.typical_stage_ms ?? {}, now), now, position);
}

/** A view of the job for a client following it: the document with an ETA from the service's history. */
export async function jobViewer(deps: PipelineDeps, agentId: string) {
  const typical = (await deps.jobs.getService(agentId))?.typical_stage_ms ?? {};
  return async (job: Job) => {
    const position = job.queue ? await deps.jobs.queuePosition(job) : null;
    const now = deps.clock.now().getTime();
    return publicJob(job, estimateEtaSeconds(job, typical, now), now, position);
  };
}

export async function getDeploymentLogs(deps: PipelineDeps, id: string) {
  const job = await mustGet(deps, id);
  await deps.logs.flush(id);
  return { deployment_id: id, logs: (await deps.logs.read(job.agent_id, id)) ?? '' };
}

export async function getServiceStatus(deps: PipelineDeps, agentId: string) {
  const record = await deps.jobs.getService(agentId);
  if (!record) throw new RequestError('not_found', `no service has been deployed for agent ${agentId}`, 'agent_id');
  const live = await deps.runtime.getService(record.service_name);
  return {
    agent_id: agentId,
    service_name: record.service_name,
    status: record.status,
    url: live?.url ?? record.url,
    serving_revision: record.serving_revision,
    last_good_revision: record.last_good_revision,
    deployment_id: record.deployment_id,
    traffic: live?.traffic ?? [],
    latest_ready_revision: live?.latest_ready_revision ?? null,
    updated_at: record.updated_at,
  };
}

/** Ids are Baton's own (UUIDs): anything else is no deployment, and never reaches a store as a path. */
const ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

async function mustGet(deps: PipelineDeps, id: string): Promise<Job> {
  const job = ID_PATTERN.test(id) ? await deps.jobs.get(id) : null;
  if (!job) throw new RequestError('not_found', `no deployment with id ${id}`, 'deployment_id');
  return job;
}

/** `before` runs first (storing the private data): the stages the event starts need what it stores. */
async function publishOrFail(
  deps: PipelineDeps,
  job: Job,
  type: 'deployment.requested.v1' | 'deployment.rollback_requested.v1',
  before?: () => Promise<void>,
) {
  let stored = before === undefined;
  try {
    await before?.();
    stored = true;
    await handOff(deps, job, { kind: 'event', type });
  } catch (err) {
    await failQueued(deps, job, stored ? 'the event bus refused it' : 'its private data could not be stored');
    throw new RequestError(
      'unavailable',
      `the deployment could not be queued (${err instanceof Error ? err.message : String(err)}); try again`,
    );
  }
}

async function failQueued(deps: PipelineDeps, job: Job, why: string): Promise<void> {
  const now = deps.clock.now().toISOString();
  const res = await deps.jobs.update(job.deployment_id, (j) =>
    j.status === 'queued'
      ? transition(j, 'failed', {
          error_message: `could not be queued: ${why}`,
          failure: failureRecord('validating', `could not be queued: ${why}`, { hint: 'Try again' }, []),
          completed_at: now,
        })
      : null,
  );
  if (res?.changed) await releaseSlots(deps, res.job);
}
