import { ownerKey } from '../domain/admission.js';
import { approvalOptOutProblem } from '../domain/approval.js';
import { transition } from '../domain/claim.js';
import { resolveEnvironment } from '../domain/environments.js';
import { messageOf, RequestError } from '../domain/errors.js';
import { failureRecord } from '../domain/failure.js';
import { estimateEtaSeconds, type Job, type JobPrivate, newJob, publicJob, type ServiceRecord, splitPrivate } from '../domain/job.js';
import { serviceName } from '../domain/names.js';
import { pinnedError } from '../domain/pin.js';
import { type DeploymentRequest, type RollbackOptions, RollbackOptionsSchema, type RollbackRequest } from '../domain/request.js';
import { CANCELLABLE, isFinal } from '../domain/status.js';
import { wakeForCancel } from './approval-requests.js';
import { recordAction } from './audit.js';
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
  const pin = (await deps.jobs.getService(request.agent_id))?.pin ?? null;
  if (pin && !request.unpin) throw pinnedError(request.agent_id, pin);
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
  await recordAction(deps, 'deploy', {
    agent_id: job.agent_id,
    deployment_id: id,
    by: owner,
    detail: `${job.environment}, version ${job.version}`,
  });
  if (pin) {
    await unpinService(deps, job.agent_id, owner, `by deployment ${id} (unpin: true)`);
    deps.logs.write(
      job.agent_id,
      id,
      'WARNING',
      `Unpinned ${job.agent_id} (pinned to ${pin.revision} by rollback ${pin.rollback_id}): unpin: true`,
    );
  }
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

/**
 * Manual rollback of what serves now: a completed deployment (traffic returns to the revision
 * before it, or to `target_revision`, one that served before), or a finished rollback (traffic
 * returns to the revision it undid). Seed 004's rollback_options are honoured or refused: data is
 * never touched (preserve_data: false and backup_before_rollback: true cannot be honoured),
 * force_rollback allows a target_revision that never served, cleanup_resources removes the
 * revision rolled back from. When it completes the agent is pinned (see acceptDeployment).
 */
export async function requestRollback(deps: PipelineDeps, body: RollbackRequest, owner: string | null = null) {
  const { deployment_id: deploymentId, rollback_reason: reason } = body;
  const options = RollbackOptionsSchema.parse(body.rollback_options ?? {});
  refuseUnhonourable(options);
  const target = await mustGet(deps, deploymentId);
  const svc = await deps.jobs.getService(target.agent_id);
  const back =
    target.kind === 'rollback' ? await undoTarget(deps, target, body, svc) : await rollbackTarget(deps, target, body, options, svc);
  if ((await deps.jobs.countActive(target.agent_id)) > 0) throw deploymentInProgress(target.agent_id);
  const id = deps.newId();
  const now = deps.clock.now().toISOString();
  const job: Job = {
    ...newJob(id, target.request, now, 'rollback', owner),
    rollback_of: deploymentId,
    rollback_reason: reason,
    rollback_options: options,
    revision: back,
  };
  // The same atomic check as a deployment's accept: one rollback at a time, none beside a deployment.
  const created = await deps.jobs.createUnlessBusy(job, 1);
  if (created === 'rolling_back') throw await rollingBackError(deps, target.agent_id, 'roll back again once it is done', 'deployment_id');
  if (created === 'busy') throw deploymentInProgress(target.agent_id);
  await deps.jobs.update(deploymentId, (t) => ({ ...t, rollback_id: id }));
  await recordAction(deps, 'rollback', {
    agent_id: job.agent_id,
    deployment_id: id,
    by: owner,
    detail: `${deploymentId} → ${back}: ${reason}`,
  });
  deps.logs.write(job.agent_id, id, 'INFO', `Rollback of ${deploymentId} to ${back} requested: ${reason}`);
  deps.logs.write(target.agent_id, deploymentId, 'WARNING', `Rollback ${id} requested: ${reason}`);
  await publishOrFail(deps, job, 'deployment.rollback_requested.v1');
  // Seed 004's fields: nothing is done yet, and the ETA is the agent's typical rollback (none before its first).
  const typical = svc?.typical_stage_ms.rolling_back;
  return {
    message: 'Rollback started',
    rollback_id: id,
    deployment_id: deploymentId,
    agent_id: job.agent_id,
    status: 'queued' as const,
    rollback_reason: reason,
    target_revision: back,
    rollback_options: options,
    progress_percentage: 0,
    estimated_completion: typical === undefined ? null : new Date(Date.parse(now) + typical).toISOString(),
  };
}

function refuseUnhonourable(options: RollbackOptions): void {
  if (!options.preserve_data) {
    throw new RequestError(
      'invalid',
      "rollback_options.preserve_data: false cannot be honoured: a rollback only moves traffic between revisions and Baton never touches a service's data, so data is always preserved",
      'rollback_options.preserve_data',
    );
  }
  if (options.backup_before_rollback) {
    throw new RequestError(
      'invalid',
      "rollback_options.backup_before_rollback: true cannot be honoured: Baton takes no backups of a service's data (it keeps none); back up the service's own store first, then roll back without it",
      'rollback_options.backup_before_rollback',
    );
  }
}

/** Where a rollback of a completed deployment returns to: the revision before it, or a target_revision that served. */
async function rollbackTarget(
  deps: PipelineDeps,
  target: Job,
  body: RollbackRequest,
  options: RollbackOptions,
  svc: ServiceRecord | null,
): Promise<string> {
  const id = target.deployment_id;
  // A rolled-back deployment serves again once its rollback was rolled back: it may be rolled back again.
  const serving = svc?.deployment_id === id;
  if (target.status !== 'completed' && !(target.status === 'rolled_back' && serving))
    throw new RequestError('conflict', `only a completed deployment can be rolled back; ${id} is ${target.status}`, 'deployment_id');
  if (!svc || !serving) {
    throw new RequestError(
      'conflict',
      `deployment ${id} is not the one serving ${target.agent_id}; roll back the serving deployment (${svc?.deployment_id ?? 'none'})`,
      'deployment_id',
    );
  }
  const wanted = body.target_revision;
  if (wanted === undefined) {
    if (!target.previous_revision) {
      throw new RequestError(
        'conflict',
        `deployment ${id} was the first of ${target.agent_id}: there is no earlier revision to return to`,
        'deployment_id',
      );
    }
    return target.previous_revision;
  }
  if (wanted === target.revision) throw new RequestError('conflict', `${wanted} is the revision serving now`, 'target_revision');
  const live = await deps.runtime.getRevision(serviceName(target.agent_id), wanted);
  if (!live || live.state === 'failed') {
    throw new RequestError(
      'conflict',
      `revision ${wanted} of ${target.agent_id} ${live ? `failed (${live.message ?? 'no detail'})` : 'does not exist (removed, or never deployed)'}: it cannot serve`,
      'target_revision',
    );
  }
  const served = svc.good_revisions.some((g) => g.revision === wanted);
  if (!served && !options.force_rollback) {
    throw new RequestError(
      'conflict',
      `revision ${wanted} never served ${target.agent_id} (known good: ${svc.good_revisions.map((g) => g.revision).join(', ') || 'none'}); set rollback_options.force_rollback: true to return to it anyway`,
      'target_revision',
    );
  }
  return wanted;
}

/** Where a rollback of a finished rollback returns to: the revision that rollback undid, if it still serves and still exists. */
async function undoTarget(deps: PipelineDeps, rollback: Job, body: RollbackRequest, svc: ServiceRecord | null): Promise<string> {
  const id = rollback.deployment_id;
  if (body.target_revision !== undefined) {
    throw new RequestError(
      'invalid',
      'target_revision is for rolling back a deployment; a rollback of a rollback returns to the revision it undid',
      'target_revision',
    );
  }
  if (rollback.status !== 'rolled_back')
    throw new RequestError('conflict', `only a finished rollback can be rolled back; ${id} is ${rollback.status}`, 'deployment_id');
  if (!rollback.revision || svc?.serving_revision !== rollback.revision) {
    throw new RequestError(
      'conflict',
      `rollback ${id} no longer decides what serves ${rollback.agent_id} (it serves ${svc?.serving_revision ?? 'nothing'}); roll back what serves now`,
      'deployment_id',
    );
  }
  const undone = rollback.rollback_of ? await deps.jobs.get(rollback.rollback_of) : null;
  const back = undone?.revision ?? null;
  if (!back || (await deps.runtime.getRevision(serviceName(rollback.agent_id), back)) === null) {
    throw new RequestError(
      'conflict',
      `the revision rollback ${id} undid (${back ?? 'unknown'}) no longer exists (removed by cleanup_resources or the local cleanup): deploy it again instead`,
      'deployment_id',
    );
  }
  return back;
}

/** Clears a manual rollback's pin; returns the pin it cleared (null when there was none). */
export async function unpinService(deps: PipelineDeps, agentId: string, by: string | null, how = 'POST /services/{agent_id}/unpin') {
  const before = await deps.jobs.getService(agentId);
  if (!before) throw new RequestError('not_found', `no service has been deployed for agent ${agentId}`, 'agent_id');
  const now = deps.clock.now().toISOString();
  await deps.jobs.updateService(agentId, (cur) => (cur?.pinned ? { ...cur, pinned: false, pin: null, updated_at: now } : null));
  if (before.pin) {
    await recordAction(deps, 'unpin', {
      agent_id: agentId,
      deployment_id: before.pin.rollback_id,
      by,
      detail: `pinned to ${before.pin.revision} (${before.pin.reason}); ${how}`,
    });
  }
  return { agent_id: agentId, pinned: false, unpinned: before.pin ?? null };
}

/** GET /services: every service record, with its pin. */
export async function listServices(deps: PipelineDeps, limit: number) {
  const records = await deps.jobs.listServices(limit);
  return {
    services: records.map((r) => ({
      agent_id: r.agent_id,
      service_name: r.service_name,
      status: r.status,
      url: r.url,
      serving_revision: r.serving_revision,
      deployment_id: r.deployment_id,
      pinned: r.pinned ?? false,
      pin: r.pin ?? null,
      updated_at: r.updated_at,
    })),
  };
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

export async function requestCancel(deps: PipelineDeps, deploymentId: string, by: string | null = null) {
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
  await recordAction(deps, 'cancel', { agent_id: res.job.agent_id, deployment_id: deploymentId, by, detail: `while ${job.status}` });
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
    good_revisions: record.good_revisions.map((g) => ({ revision: g.revision, deployment_id: g.deployment_id })),
    deployment_id: record.deployment_id,
    traffic: live?.traffic ?? [],
    latest_ready_revision: live?.latest_ready_revision ?? null,
    pinned: record.pinned ?? false,
    pin: record.pin ?? null,
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
