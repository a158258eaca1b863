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

/**
 * The endpoints API (shared/designs.md, seed 002's paths): /api/deployments manages deployed
 * designs, /api/deployed/{path} runs one. Thin: parse and validate, call one use case, map the
 * result. `scheduledRoute` serves the scheduler's target on the local stack (on Google Cloud it
 * is the designs-scheduled function, invoked by Cloud Scheduler with an OIDC token).
 */

type Handler = (req: IncomingMessage, res: ServerResponse, params: string[], url: URL) => Promise<void>;

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

export function createDesignsApi(deps: DesignDeps, options: { scheduledRoute: boolean }) {
  const routes: [string, RegExp, Handler][] = [
    [
      'POST',
      /^\/api\/deployments$/,
      async (req, res) => {
        const { record, api_key } = await deployEndpoint(deps, await readJson(req, DeployEndpointSchema));
        sendJson(res, 201, { ...record, ...(api_key ? { api_key } : {}) });
      },
    ],
    [
      'GET',
      /^\/api\/deployments$/,
      async (_req, res, _p, url) => {
        const q = parseWith(EndpointListQuerySchema, Object.fromEntries(url.searchParams), 'query');
        const page = await deps.store.listEndpoints(q);
        sendJson(res, 200, { deployments: page.items.map((d) => view(deps, d)), next_cursor: page.next_cursor });
      },
    ],
    ['GET', /^\/api\/deployments\/([^/]+)$/, async (_req, res, [id]) => sendJson(res, 200, view(deps, await getEndpoint(deps, id)))],
    [
      'PUT',
      /^\/api\/deployments\/([^/]+)$/,
      async (req, res, [id]) => sendJson(res, 200, await updateEndpoint(deps, id, await readJson(req, UpdateEndpointSchema))),
    ],
    [
      'DELETE',
      /^\/api\/deployments\/([^/]+)$/,
      async (_req, res, [id]) => {
        await deleteEndpoint(deps, id);
        sendJson(res, 200, { id, deleted: true });
      },
    ],
    [
      'POST',
      /^\/api\/deployments\/([^/]+)\/execute$/,
      async (req, res, [id]) => {
        const body = await readJson(req, ExecuteSchema);
        const answer = await executeManual(deps, id, body.input ?? null, isAsync(req));
        sendExecution(res, id, answer);
      },
    ],
    [
      'POST',
      /^\/api\/deployments\/([^/]+)\/keys$/,
      async (req, res, [id]) => {
        const body =
          req.headers['content-length'] === '0' || !req.headers['content-type'] ? { grace_seconds: 0 } : await readJson(req, RotateSchema);
        const { api_key, key_id, record } = await rotateKey(deps, id, body.grace_seconds);
        sendJson(res, 201, { api_key, key_id, deployment: record });
      },
    ],
    [
      'GET',
      /^\/api\/deployments\/([^/]+)\/logs$/,
      async (_req, res, [id], url) => {
        const q = parseWith(LogQuerySchema, Object.fromEntries(url.searchParams), 'query');
        sendJson(res, 200, await listLogs(deps, { deployment_id: id, ...q }));
      },
    ],
    [
      'GET',
      /^\/api\/deployments\/([^/]+)\/logs\/([^/]+)$/,
      async (_req, res, [id, logId]) => sendJson(res, 200, await getLog(deps, id, logId)),
    ],
    [
      'POST',
      /^\/api\/deployed(\/.+)$/,
      async (req, res, [path]) => {
        const answer = await invokeEndpoint(deps, path, req.headers, () => readInput(req, deps.settings.max_request_bytes));
        if (!answer.outcome) {
          sendJson(res, 202, { execution_id: answer.execution_id, status: 'running' });
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
    ],
  ];
  if (options.scheduledRoute) {
    routes.push([
      'POST',
      /^\/api\/internal\/scheduled$/,
      async (req, res) => {
        const body = parseWith(ScheduledSchema, JSON.parse((await readBody(req, 4096)).toString('utf8') || '{}') as unknown);
        sendJson(res, 200, { result: await fireSchedule(deps, body.deployment_id) });
      },
    ]);
  }

  /** True when it served the request (a path under /api/). */
  return async function designsApi(req: IncomingMessage, res: ServerResponse, path: string, url: URL): Promise<boolean> {
    if (!path.startsWith('/api/')) return false;
    try {
      let pathMatched = false;
      for (const [method, pattern, handler] of routes) {
        const m = pattern.exec(path);
        if (!m) continue;
        pathMatched = true;
        if (method !== req.method) continue;
        await handler(req, res, m.slice(1).map(decode), url);
        return true;
      }
      if (pathMatched) sendJson(res, 405, { error: { code: 'method_not_allowed', message: `${req.method} is not allowed on ${path}` } });
      else sendJson(res, 404, { error: { code: 'not_found', message: `no route ${req.method} ${path}; see the README for the API` } });
    } catch (err) {
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
    return true;
  };
}

function sendExecution(res: ServerResponse, deploymentId: string, answer: RunAnswer): void {
  if (!answer.outcome) {
    sendJson(res, 202, {
      execution_id: answer.execution_id,
      status: 'running',
      log_url: `/api/deployments/${deploymentId}/logs/${answer.execution_id}`,
    });
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

function decode(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    throw new RequestError('invalid', `the path holds malformed percent-encoding: ${p.slice(0, 80)}`, 'path');
  }
}
