import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { environmentsView } from '../../shared/domain/environments.js';
import { RequestError } from '../../shared/domain/errors.js';
import { publicJob } from '../../shared/domain/job.js';
import { AgentIdSchema } from '../../shared/domain/names.js';
import { DeploymentRequestSchema, RollbackRequestSchema } from '../../shared/domain/request.js';
import { isFinal, StatusSchema } from '../../shared/domain/status.js';
import type { PipelineDeps } from '../../shared/pipeline/deps.js';
import {
  acceptDeployment,
  getDeployment,
  getDeploymentLogs,
  getServiceStatus,
  jobViewer,
  requestCancel,
  requestRollback,
} from '../../shared/pipeline/requests.js';
import { type ArchiveLimits, DEFAULT_ARCHIVE_LIMITS } from '../../shared/sources/archive-reader.js';
import { openEventStream, parseWith, readJson, sendError, sendJson } from './http.js';
import { serviceLogs } from './logs.js';
import { parseDeployUpload } from './upload.js';

export interface ApiOptions {
  maxUploadBytes: number;
  /** Caps an uploaded archive is read under before it is accepted (default: DEFAULT_ARCHIVE_LIMITS). */
  archiveLimits?: ArchiveLimits;
  target: string;
  /** Keep-alive comments on an idle event stream. */
  heartbeatMs?: number;
}

type Handler = (req: IncomingMessage, res: ServerResponse, params: string[], url: URL) => Promise<void>;

const ListQuerySchema = z.object({
  agent_id: AgentIdSchema.optional(),
  status: StatusSchema.optional(),
  kind: z.enum(['deployment', 'rollback']).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(512).optional(),
});

/**
 * The HTTP API, one function: parse and validate, call one use case, map the result. Nothing
 * slow runs in a request; the deployment itself happens in the stages.
 */
export function createApi(deps: PipelineDeps, options: ApiOptions) {
  const routes: [string, RegExp, Handler][] = [
    [
      'GET',
      /^\/health$/,
      async (_q, res) => sendJson(res, 200, { status: 'ok', target: options.target, time: deps.clock.now().toISOString() }),
    ],
    [
      'POST',
      /^\/deploy$/,
      async (req, res) => {
        const request = await readJson(req, DeploymentRequestSchema);
        if (request.source.type === 'archive')
          throw new RequestError('invalid', 'upload an archive with POST /deploy-from-file', 'source.type');
        sendJson(res, 202, await acceptDeployment(deps, request, callerOf(req)));
      },
    ],
    [
      'POST',
      /^\/deploy-from-file$/,
      async (req, res) => {
        const request = await parseDeployUpload(
          req,
          options.maxUploadBytes,
          options.archiveLimits ?? DEFAULT_ARCHIVE_LIMITS,
          deps.blobs,
          deps.newId,
        );
        try {
          sendJson(res, 202, await acceptDeployment(deps, request, callerOf(req)));
        } catch (err) {
          // Refused: the uploaded archive belongs to no deployment.
          if (request.source.type === 'archive') await deps.blobs.delete(request.source.blob_key).catch(() => undefined);
          throw err;
        }
      },
    ],
    [
      'GET',
      /^\/deployments$/,
      async (_req, res, _p, url) => {
        const q = parseWith(ListQuerySchema, Object.fromEntries(url.searchParams), 'query');
        const page = await deps.jobs.list(q);
        // No ETA in a list (it would cost a service read per item); seed 004's fields are there all the same.
        const now = deps.clock.now().getTime();
        sendJson(res, 200, { deployments: page.items.map((j) => publicJob(j, null, now)), next_cursor: page.next_cursor });
      },
    ],
    ['GET', /^\/environments$/, async (_req, res) => sendJson(res, 200, environmentsView(deps.settings.environments))],
    ['GET', /^\/deployments\/([^/]+)$/, async (_req, res, [id]) => sendJson(res, 200, await getDeployment(deps, id))],
    ['GET', /^\/deployments\/([^/]+)\/logs$/, async (_req, res, [id]) => sendJson(res, 200, await getDeploymentLogs(deps, id))],
    ['GET', /^\/deployments\/([^/]+)\/stream$/, async (req, res, [id]) => stream(deps, req, res, id, options.heartbeatMs ?? 15_000)],
    ['POST', /^\/deployments\/([^/]+)\/cancel$/, async (_req, res, [id]) => sendJson(res, 202, await requestCancel(deps, id))],
    [
      'POST',
      /^\/rollback$/,
      async (req, res) => {
        const body = await readJson(req, RollbackRequestSchema);
        sendJson(res, 202, await requestRollback(deps, body.deployment_id, body.rollback_reason, callerOf(req)));
      },
    ],
    [
      'GET',
      /^\/services\/([^/]+)$/,
      async (_req, res, [agent]) => {
        const agentId = parseWith(AgentIdSchema, agent, 'agent_id');
        sendJson(res, 200, await getServiceStatus(deps, agentId));
      },
    ],
    [
      'GET',
      /^\/services\/([^/]+)\/logs$/,
      async (req, res, [agent], url) => serviceLogs(deps, req, res, agent, url, options.heartbeatMs ?? 15_000),
    ],
  ];

  return async function api(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://baton.local');
      const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
      let pathMatched = false;
      for (const [method, pattern, handler] of routes) {
        const m = pattern.exec(path);
        if (!m) continue;
        pathMatched = true;
        if (method !== req.method) continue;
        await handler(req, res, m.slice(1).map(decodePathParam), url);
        return;
      }
      if (pathMatched) sendJson(res, 405, { error: { code: 'method_not_allowed', message: `${req.method} is not allowed on ${path}` } });
      else sendJson(res, 404, { error: { code: 'not_found', message: `no route ${req.method} ${path}; see the README for the API` } });
    } catch (err) {
      sendError(res, err);
    }
  };
}

function decodePathParam(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    throw new RequestError('invalid', `the path holds malformed percent-encoding: ${p.slice(0, 80)}`, 'path');
  }
}

/**
 * The caller's verified email from its bearer ID token. On Google Cloud the platform has verified the token
 * before the request reaches the api (it requires IAM), so it is decoded here, not verified; with
 * no token (the local target) there is no owner.
 */
export function callerOf(req: IncomingMessage): string | null {
  const auth = req.headers.authorization;
  const token = auth?.startsWith('Bearer ') ? auth.slice(7).split('.') : [];
  if (token.length !== 3) return null;
  try {
    const claims = JSON.parse(Buffer.from(token[1], 'base64url').toString('utf8')) as { email?: unknown; email_verified?: unknown };
    // firestore.rules grant a job to its owner only with a verified email: an unverified one would own what it cannot read.
    if (claims.email_verified !== true) return null;
    return typeof claims.email === 'string' ? claims.email.slice(0, 320) : null;
  } catch {
    return null;
  }
}

/** Server-Sent Events: one `job` event per committed change, closed after a final status. */
async function stream(deps: PipelineDeps, req: IncomingMessage, res: ServerResponse, id: string, heartbeatMs: number): Promise<void> {
  const view = await jobViewer(deps, (await getDeployment(deps, id)).agent_id);
  let unsubscribe = () => {};
  const events = openEventStream(req, res, { heartbeatMs, comment: 'following deployment', onClose: () => unsubscribe() });
  // Views are made in order (a waiting job's queue position is one store read): the stream keeps commit order.
  let chain = Promise.resolve();
  unsubscribe = deps.jobs.watch(id, (job) => {
    chain = chain
      .then(() => view(job))
      .then((v) => {
        events.send('job', v);
        if (isFinal(job.status)) events.close();
      })
      .catch(() => events.close());
  });
  if (events.closed) unsubscribe();
}
