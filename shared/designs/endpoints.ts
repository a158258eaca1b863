import type { z } from 'zod';
import { DesignError, validateDesign } from '../domain/design-graph.js';
import { scheduleCron, scheduleJobName } from '../domain/design-schedule.js';
import {
  DEFAULT_DEADLINE_MS,
  DEFAULT_RATE_LIMIT,
  type DeployEndpointSchema,
  type EndpointDoc,
  type EndpointRecord,
  publicEndpoint,
  type Schedule,
  type UpdateEndpointSchema,
} from '../domain/endpoint.js';
import { RequestError } from '../domain/errors.js';
import { compileInputSchema } from '../domain/input-schema.js';
import { newApiKey } from './api-keys.js';
import type { DesignDeps } from './deps.js';

/**
 * The endpoints API's use cases (shared/designs.md, "Endpoints"): deploy a design, read, update,
 * remove, rotate keys. An endpoint's Scheduler job follows it: created with it, replaced when
 * its schedule changes, paused while it is inactive or its schedule disabled, deleted with it.
 */

type DeployBody = z.infer<typeof DeployEndpointSchema>;
type UpdateBody = z.infer<typeof UpdateEndpointSchema>;

/** A 400 naming the path inside the design. */
function checkedDesign(raw: unknown): { name: string } {
  try {
    return validateDesign(raw).design;
  } catch (err) {
    if (err instanceof DesignError) throw new RequestError('invalid', err.message, err.field);
    throw err;
  }
}

function scheduleOf(s: Schedule | undefined | null): EndpointDoc['schedule'] {
  if (!s) return { enabled: false, timezone: 'UTC' };
  return {
    enabled: s.enabled,
    ...(s.cron_expression !== undefined ? { cron_expression: s.cron_expression } : {}),
    ...(s.interval_seconds !== undefined ? { interval_seconds: s.interval_seconds } : {}),
    timezone: s.timezone,
  };
}

export function view(deps: DesignDeps, doc: EndpointDoc): EndpointRecord {
  return publicEndpoint(doc, deps.settings.base_url, deps.clock.now().toISOString());
}

export async function deployEndpoint(deps: DesignDeps, body: DeployBody): Promise<{ record: EndpointRecord; api_key?: string }> {
  const design = checkedDesign(body.design);
  if (body.schedule?.enabled) scheduleCron(body.schedule);
  if (body.input_schema) compileInputSchema(body.input_schema);
  const now = deps.clock.now();
  const auth = body.auth ?? { type: 'api_key' as const };
  const key = auth.type === 'api_key' ? newApiKey(now) : null;
  const doc: EndpointDoc = {
    id: deps.newId(),
    design_id: body.design_id ?? deps.newId(),
    design_name: body.design_name ?? design.name,
    endpoint_path: body.endpoint_path,
    status: body.status,
    schedule: scheduleOf(body.schedule),
    created_at: now.toISOString(),
    updated_at: now.toISOString(),
    last_execution_at: null,
    execution_count: 0,
    design: body.design,
    input_schema: body.input_schema ?? null,
    rate_limit: body.rate_limit ?? DEFAULT_RATE_LIMIT,
    auth,
    deadline_ms: body.deadline_ms ?? DEFAULT_DEADLINE_MS,
    api_keys: key ? [key.record] : [],
    running_scheduled: null,
  };
  const created = await deps.store.createEndpoint(doc);
  if (created === 'path_taken')
    throw new RequestError(
      'conflict',
      `endpoint_path: ${doc.endpoint_path} is served by another endpoint; choose another path or update that one`,
      'endpoint_path',
    );
  if (created === 'exists') throw new RequestError('conflict', 'an endpoint with this id exists', 'id');
  try {
    await syncSchedule(deps, doc);
  } catch (err) {
    // The endpoint would run on no schedule: take it back.
    await deps.store.deleteEndpoint(doc.id);
    throw err;
  }
  return { record: view(deps, doc), ...(key ? { api_key: key.key } : {}) };
}

export async function getEndpoint(deps: DesignDeps, id: string): Promise<EndpointDoc> {
  const doc = await deps.store.getEndpoint(id);
  if (!doc) throw new RequestError('not_found', `no endpoint ${id}`, 'id');
  return doc;
}

export async function updateEndpoint(deps: DesignDeps, id: string, body: UpdateBody): Promise<EndpointRecord> {
  if (body.design !== undefined) checkedDesign(body.design);
  if (body.schedule?.enabled) scheduleCron(body.schedule);
  if (body.input_schema) compileInputSchema(body.input_schema);
  const now = deps.clock.now().toISOString();
  const before = await getEndpoint(deps, id);
  const updated = await deps.store.updateEndpoint(id, (cur) => ({
    ...cur,
    ...(body.design !== undefined ? { design: body.design } : {}),
    ...(body.design_name !== undefined ? { design_name: body.design_name } : {}),
    ...(body.status !== undefined ? { status: body.status } : {}),
    ...(body.schedule !== undefined ? { schedule: scheduleOf(body.schedule) } : {}),
    ...(body.input_schema !== undefined ? { input_schema: body.input_schema } : {}),
    ...(body.rate_limit !== undefined ? { rate_limit: body.rate_limit } : {}),
    ...(body.auth !== undefined ? { auth: body.auth } : {}),
    ...(body.deadline_ms !== undefined ? { deadline_ms: body.deadline_ms } : {}),
    updated_at: now,
  }));
  if (!updated) throw new RequestError('not_found', `no endpoint ${id}`, 'id');
  try {
    await syncSchedule(deps, updated);
  } catch (err) {
    await deps.store.updateEndpoint(id, () => before);
    throw err;
  }
  return view(deps, updated);
}

export async function deleteEndpoint(deps: DesignDeps, id: string): Promise<void> {
  await getEndpoint(deps, id);
  await deps.scheduler.delete(scheduleJobName(id));
  if (!(await deps.store.deleteEndpoint(id))) throw new RequestError('not_found', `no endpoint ${id}`, 'id');
}

/** A new key; the old ones stop working at once, or after `grace_seconds`. Shown once. */
export async function rotateKey(
  deps: DesignDeps,
  id: string,
  graceSeconds: number,
): Promise<{ api_key: string; key_id: string; record: EndpointRecord }> {
  const now = deps.clock.now();
  const key = newApiKey(now);
  const until = new Date(now.getTime() + graceSeconds * 1000).toISOString();
  const updated = await deps.store.updateEndpoint(id, (cur) => ({
    ...cur,
    auth: { type: 'api_key' },
    api_keys: [
      ...cur.api_keys
        .filter((k) => k.expires_at === null || k.expires_at > now.toISOString())
        .map((k) => ({
          ...k,
          expires_at: graceSeconds > 0 ? (k.expires_at && k.expires_at < until ? k.expires_at : until) : now.toISOString(),
        }))
        .filter((k) => k.expires_at > now.toISOString()),
      key.record,
    ],
    updated_at: now.toISOString(),
  }));
  if (!updated) throw new RequestError('not_found', `no endpoint ${id}`, 'id');
  return { api_key: key.key, key_id: key.record.key_id, record: view(deps, updated) };
}

/** The endpoint's Scheduler job, as its status and schedule say now. */
export async function syncSchedule(deps: DesignDeps, doc: EndpointDoc): Promise<void> {
  const name = scheduleJobName(doc.id);
  const s = doc.schedule;
  if (!s.enabled || (s.cron_expression === undefined && s.interval_seconds === undefined)) {
    await deps.scheduler.delete(name);
    return;
  }
  const { cron, time_zone } = scheduleCron({ ...s, enabled: true });
  await deps.scheduler.upsert({
    name,
    cron,
    time_zone,
    target: { kind: 'http', url: deps.settings.scheduled_url, body: JSON.stringify({ deployment_id: doc.id }) },
    description: `Baton: scheduled runs of endpoint ${doc.endpoint_path}`,
  });
  if (doc.status === 'active') await deps.scheduler.resume(name);
  else await deps.scheduler.pause(name);
}
