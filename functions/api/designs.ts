import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import type { DesignDeps } from '../../shared/designs/deps.js';
import { deleteEndpoint, deployEndpoint, getEndpoint, rotateKey, updateEndpoint, view } from '../../shared/designs/endpoints.js';
import {
  AuthError,
  executeManual,
  fireSchedule,
  getLog,
  invokeEndpoint,
  listLogs,
  RateLimitedError,
  type RunAnswer,
} from '../../shared/designs/runs.js';
import { DeployEndpointSchema, EndpointListQuerySchema, LogQuerySchema, UpdateEndpointSchema } from '../../shared/domain/endpoint.js';
import { RequestError } from '../../shared/domain/errors.js';
import { assertDepth, parseWith, readBody, readJson, sendError, sendJson } from './http.js';
import { type Route, type RouteDoc, route } from './routes.js';

/**
 * The endpoints API (shared/designs.md, seed 002's paths): /api/deployments manages deployed
 * designs, /api/deployed/{path} runs one. Thin: parse and validate, call one use case, map the
 * result. `scheduledRoute` serves the scheduler's target on the local stack (on Google Cloud it
 * is the designs-scheduled function, invoked by Cloud Scheduler with an OIDC token).
 */

const ExecuteSchema = z.strictObject({ input: z.unknown().optional() });
const RotateSchema = z.strictObject({
  grace_seconds: z
    .number()
    .int()
    .min(0)
    .max(7 * 86400)
    .default(0),
});
const ScheduledSchema = z.strictObject({ deployment_id: z.string().min(1).max(200) });
const isAsync = (req: IncomingMessage) => /\brespond-async\b/i.test(String(req.headers.prefer ?? ''));

const EndpointId = z.string().min(1).max(200).meta({ description: "a deployed design's id" });
const doc = (summary: string, responses: RouteDoc['responses'], extra: Partial<RouteDoc> = {}): RouteDoc => ({
  summary,
  tag: 'designs',
  responses,
  ...extra,
});

/**
 * The designs' routes for the API's table, and the mapping of their own refusals (401 with
 * WWW-Authenticate, 429 with Retry-After). Their answers are documented by description: the
 * records are TypeScript types (shared/domain/endpoint.ts), not zod schemas yet.
 */
export function createDesignsApi(deps: DesignDeps, options: { scheduledRoute: boolean }) {
  const routes: Route[] = [
    route(
      'POST',
      '/api/deployments',
      doc(
        'Deploy a design as an endpoint',
        { 201: { description: 'the endpoint record, with its api_key once' } },
        { body: { json: DeployEndpointSchema } },
      ),
      async (req, res) => {
        const { record, api_key } = await deployEndpoint(deps, await readJson(req, DeployEndpointSchema));
        sendJson(res, 201, { ...record, ...(api_key ? { api_key } : {}) });
      },
    ),
    route(
      'GET',
      '/api/deployments',
      doc('Deployed designs', { 200: { description: '{deployments, next_cursor}' } }, { query: EndpointListQuerySchema }),
      async (_req, res, _p, url) => {
        const q = parseWith(EndpointListQuerySchema, Object.fromEntries(url.searchParams), 'query');
        const page = await deps.store.listEndpoints(q);
        sendJson(res, 200, { deployments: page.items.map((d) => view(deps, d)), next_cursor: page.next_cursor });
      },
    ),
    route(
      'GET',
      '/api/deployments/{id}',
      doc('One deployed design', { 200: { description: 'the endpoint record' } }, { params: { id: EndpointId } }),
      async (_req, res, [id]) => sendJson(res, 200, view(deps, await getEndpoint(deps, id))),
    ),
    route(
      'PUT',
      '/api/deployments/{id}',
      doc(
        'Change a deployed design (design, path, schedule, status …)',
        { 200: { description: 'the endpoint record' } },
        { params: { id: EndpointId }, body: { json: UpdateEndpointSchema } },
      ),
      async (req, res, [id]) => sendJson(res, 200, await updateEndpoint(deps, id, await readJson(req, UpdateEndpointSchema))),
    ),
    route(
      'DELETE',
      '/api/deployments/{id}',
      doc(
        'Remove a deployed design (its logs stay readable)',
        { 200: { description: '{id, deleted: true}' } },
        { params: { id: EndpointId } },
      ),
      async (_req, res, [id]) => {
        await deleteEndpoint(deps, id);
        sendJson(res, 200, { id, deleted: true });
      },
    ),
    route(
      'POST',
      '/api/deployments/{id}/execute',
      doc(
        'Run a deployed design with an input (Prefer: respond-async answers 202 at once)',
        {
          200: { description: '{execution_id, status, result_data, termination_reason}' },
          202: {
            description:
              '{execution_id, status: running, log_url}: Prefer: respond-async, or past the sync deadline (then with a message; the run goes on through the queue)',
          },
        },
        { params: { id: EndpointId }, body: { json: ExecuteSchema } },
      ),
      async (req, res, [id]) => {
        const body = await readJson(req, ExecuteSchema);
        const answer = await executeManual(deps, id, body.input ?? null, isAsync(req));
        sendExecution(res, answer);
      },
    ),
    route(
      'POST',
      '/api/deployments/{id}/keys',
      doc(
        "Rotate the endpoint's API key (the old one works for grace_seconds)",
        { 201: { description: '{api_key, key_id, deployment}' } },
        { params: { id: EndpointId }, body: { json: RotateSchema } },
      ),
      async (req, res, [id]) => {
        const body =
          req.headers['content-length'] === '0' || !req.headers['content-type'] ? { grace_seconds: 0 } : await readJson(req, RotateSchema);
        const { api_key, key_id, record } = await rotateKey(deps, id, body.grace_seconds);
        sendJson(res, 201, { api_key, key_id, deployment: record });
      },
    ),
    route(
      'GET',
      '/api/deployments/{id}/logs',
      doc(
        'Executions of a deployed design, newest first',
        { 200: { description: '{logs, next_cursor}' } },
        { params: { id: EndpointId }, query: LogQuerySchema },
      ),
      async (_req, res, [id], url) => {
        const q = parseWith(LogQuerySchema, Object.fromEntries(url.searchParams), 'query');
        sendJson(res, 200, await listLogs(deps, { deployment_id: id, ...q }));
      },
    ),
    route(
      'GET',
      '/api/deployments/{id}/logs/{log_id}',
      doc(
        'One execution with its steps',
        { 200: { description: 'the execution log and its steps' } },
        {
          params: { id: EndpointId, log_id: z.string().min(1).max(200) },
        },
      ),
      async (_req, res, [id, logId]) => sendJson(res, 200, await getLog(deps, id, logId)),
    ),
    deployedRoute(deps),
  ];
  if (options.scheduledRoute) {
    routes.push(
      route(
        'POST',
        '/api/internal/scheduled',
        doc("The scheduler's target on the local stack (Cloud Scheduler calls designs-scheduled on Google Cloud)", {
          200: { description: '{result}' },
        }),
        async (req, res) => {
          const body = parseWith(ScheduledSchema, JSON.parse((await readBody(req, 4096)).toString('utf8') || '{}') as unknown);
          sendJson(res, 200, { result: await fireSchedule(deps, body.deployment_id) });
        },
      ),
    );
  }
  return { routes, sendError: sendDesignError };
}

/**
 * POST /api/deployed/{path}: the route the API's table holds and the public `deployed` function
 * serves alone on Google Cloud (functions/deployed/), where the endpoint's API key is the only
 * authentication.
 */
export function deployedRoute(deps: DesignDeps): Route {
  return route(
    'POST',
    '/api/deployed/{path}',
    doc(
      'Call a deployed design at its endpoint path (its API key as a bearer token unless auth is none)',
      {
        200: { description: "the run's result" },
        202: {
          description:
            "{execution_id, status: running, log_url}: Prefer: respond-async, or the run outlived the endpoint's deadline_ms (then with a message; it goes on through the queue)",
        },
        502: { description: 'the run failed: {error: {code, message, execution_id, termination_reason}}' },
        504: { description: 'the run timed out' },
      },
      { params: { path: z.string().meta({ description: 'the endpoint path; may hold "/" (e.g. orders/summary)' }) }, rest: 'path' },
    ),
    async (req, res, [path]) => {
      const answer = await invokeEndpoint(deps, `/${path}`, req.headers, () => readInput(req, deps.settings.max_request_bytes));
      if (!answer.outcome) {
        sendAccepted(res, answer);
        return;
      }
      const o = answer.outcome;
      if (o.status === 'completed') sendJson(res, 200, o.result ?? null);
      else
        sendJson(res, o.status === 'timeout' ? 504 : 502, {
          error: {
            code: o.status,
            message: o.error ?? o.status,
            execution_id: answer.execution_id,
            termination_reason: o.termination_reason,
          },
        });
    },
  );
}

/** The designs' own refusals; anything else as every route's. */
export function sendDesignError(res: ServerResponse, err: unknown): void {
  if (err instanceof AuthError) {
    res.setHeader('www-authenticate', 'Bearer');
    sendJson(res, 401, { error: { code: 'unauthorized', message: err.message } });
  } else if (err instanceof RateLimitedError) {
    res.setHeader('retry-after', String(err.retryAfterSeconds));
    sendJson(res, 429, { error: { code: 'rate_limited', message: err.message } });
  } else if (err instanceof SyntaxError) {
    sendJson(res, 400, { error: { code: 'invalid', message: 'the body is not valid JSON', field: 'body' } });
  } else sendError(res, err);
}

/**
 * 202: the run goes on through the queue, asked for (Prefer: respond-async) or because it outlived
 * the endpoint's sync deadline; the log (the management API's path) has its result once it ends.
 */
function sendAccepted(res: ServerResponse, answer: RunAnswer): void {
  const logUrl = `/api/deployments/${answer.deployment_id}/logs/${answer.execution_id}`;
  sendJson(
    res,
    202,
    {
      execution_id: answer.execution_id,
      status: 'running',
      log_url: logUrl,
      ...(answer.handed_over ? { message: answer.handed_over } : {}),
    },
    { location: logUrl },
  );
}

function sendExecution(res: ServerResponse, answer: RunAnswer): void {
  if (!answer.outcome) {
    sendAccepted(res, answer);
    return;
  }
  const o = answer.outcome;
  sendJson(res, 200, {
    execution_id: answer.execution_id,
    status: o.status,
    result_data: o.result ?? null,
    termination_reason: o.termination_reason,
    ...(o.error ? { error: o.error } : {}),
  });
}

/** The run's input: the JSON body (an empty body is null), within the size limit. */
async function readInput(req: IncomingMessage, limit: number): Promise<unknown> {
  const body = await readBody(req, limit);
  if (body.length === 0) return null;
  const type = String(req.headers['content-type'] ?? '');
  if (!type.includes('application/json'))
    throw new RequestError('invalid', 'send the input as JSON with content-type: application/json', 'content-type');
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new RequestError('invalid', `the body is not valid JSON: ${err instanceof Error ? err.message : 'parse error'}`, 'body');
  }
  assertDepth(json);
  return json;
}
