import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import {
  AcceptedSchema,
  ApprovalResultSchema,
  CancelResultSchema,
  DeploymentLogsSchema,
  EnvironmentsViewSchema,
  HealthSchema,
  HistoryViewSchema,
  JobListSchema,
  MetricsViewSchema,
  PublicJobSchema,
  RollbackAcceptedSchema,
  ServiceListSchema,
  ServiceLogsSchema,
  ServiceStatusSchema,
  UnpinResultSchema,
} from '../../shared/api/schemas.js';
import { EnvironmentNameSchema, environmentsView } from '../../shared/domain/environments.js';
import { AuthError, RequestError } from '../../shared/domain/errors.js';
import { publicJob } from '../../shared/domain/job.js';
import { AgentIdSchema } from '../../shared/domain/names.js';
import { DeploymentRequestSchema, RejectRequestSchema, RollbackRequestSchema } from '../../shared/domain/request.js';
import { RuntimeLogQuerySchema } from '../../shared/domain/runtime-log.js';
import { isFinal, StatusSchema } from '../../shared/domain/status.js';
import { approveDeployment, rejectDeployment } from '../../shared/pipeline/approval-requests.js';
import { serviceHistory } from '../../shared/pipeline/audit.js';
import type { PipelineDeps } from '../../shared/pipeline/deps.js';
import { getMetrics } from '../../shared/pipeline/metrics.js';
import {
  acceptDeployment,
  getDeployment,
  getDeploymentLogs,
  getServiceStatus,
  jobViewer,
  listServices,
  requestCancel,
  requestRollback,
  unpinService,
} from '../../shared/pipeline/requests.js';
import { type ArchiveLimits, DEFAULT_ARCHIVE_LIMITS } from '../../shared/sources/archive-reader.js';
import { createDesignsApi } from './designs.js';
import { openEventStream, parseWith, readJson, sendError, sendJson } from './http.js';
import { serviceLogs } from './logs.js';
import { type OpenApiDocument, openApiDocument } from './openapi.js';
import { type Route, route } from './routes.js';
import { parseDeployUpload } from './upload.js';

export interface ApiOptions {
  maxUploadBytes: number;
  /** Caps an uploaded archive is read under before it is accepted (default: DEFAULT_ARCHIVE_LIMITS). */
  archiveLimits?: ArchiveLimits;
  target: string;
  /** Keep-alive comments on an idle event stream. */
  heartbeatMs?: number;
  /**
   * Who calls, checked before any route but GET /health and a CORS preflight: the caller's
   * verified email (null: no identity), or a thrown AuthError (401) / RequestError forbidden (403).
   * Unset, the bearer ID token is decoded as Cloud Run's IAM verified it (callerOf).
   */
  authenticate?: (req: IncomingMessage) => Promise<string | null>;
  /** Origins (the dashboard on Firebase Hosting) that may call the API from a browser (CORS). */
  corsOrigins?: readonly string[];
}

/** The callers options.authenticate verified, per request (callerOf reads them). */
const verifiedCallers = new WeakMap<IncomingMessage, string | null>();

/** The API's own version in the OpenAPI document (the package's). */
const API_VERSION = '0.1.0';

const IdParam = z.string().min(1).max(128).meta({ description: 'a deployment or rollback id' });

/** The parts of POST /deploy-from-file (functions/api/upload.ts reads them). */
const DeployUploadPartsSchema = z.object({
  agent_id: AgentIdSchema.optional().meta({ description: "the service's name (else the config file's agent_id)" }),
  environment: z.string().optional(),
  version: z.string().optional(),
  config_file: z.string().meta({ contentMediaType: 'application/yaml', description: 'the service config, YAML or JSON' }),
  source: z.string().optional().meta({ contentMediaType: 'application/gzip', description: '.tar.gz, .tgz or .zip' }),
});

const Day = z.string().regex(/^\d{4}-\d\d-\d\d(T[\d:.]+Z?)?$/, 'must be a date (YYYY-MM-DD) or a UTC timestamp');
const MetricsQuerySchema = z.object({
  agent_id: AgentIdSchema.optional(),
  environment: EnvironmentNameSchema.optional(),
  from: Day.optional(),
  to: Day.optional(),
  resolution: z.enum(['hour', 'day']).optional().meta({ description: 'series points: default hour up to 7 days, else day' }),
});

const ServicesQuerySchema = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) });

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
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  let openApi: OpenApiDocument | undefined;
  const routes: Route[] = [
    route(
      'GET',
      '/health',
      { summary: "The control plane's own health", tag: 'system', responses: { 200: { description: 'up', schema: HealthSchema } } },
      async (_q, res) => sendJson(res, 200, { status: 'ok', target: options.target, time: deps.clock.now().toISOString() }),
    ),
    route(
      'GET',
      '/openapi.json',
      { summary: 'This document', tag: 'system', responses: { 200: { description: 'OpenAPI 3.1' } } },
      async (_q, res) => {
        openApi ??= openApiDocument(routes, API_VERSION);
        sendJson(res, 200, openApi);
      },
    ),
    route(
      'POST',
      '/deploy',
      {
        summary: 'Queue a deployment (returns at once)',
        tag: 'deployments',
        body: { json: DeploymentRequestSchema },
        responses: { 202: { description: 'queued', schema: AcceptedSchema } },
      },
      async (req, res) => {
        const request = await readJson(req, DeploymentRequestSchema);
        if (request.source.type === 'archive')
          throw new RequestError('invalid', 'upload an archive with POST /deploy-from-file', 'source.type');
        sendJson(res, 202, await acceptDeployment(deps, request, callerOf(req)));
      },
    ),
    route(
      'POST',
      '/deploy-from-file',
      {
        summary: 'Queue a deployment from a YAML/JSON config file and, optionally, a source archive',
        tag: 'deployments',
        body: { multipart: DeployUploadPartsSchema },
        responses: { 202: { description: 'queued', schema: AcceptedSchema } },
      },
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
    ),
    route(
      'GET',
      '/deployments',
      {
        summary: 'Deployments and rollbacks, newest first',
        tag: 'deployments',
        query: ListQuerySchema,
        responses: { 200: { description: 'one page', schema: JobListSchema } },
      },
      async (_req, res, _p, url) => {
        const q = parseWith(ListQuerySchema, Object.fromEntries(url.searchParams), 'query');
        const page = await deps.jobs.list(q);
        // No ETA in a list (it would cost a service read per item); seed 004's fields are there all the same.
        const now = deps.clock.now().getTime();
        sendJson(res, 200, { deployments: page.items.map((j) => publicJob(j, null, now)), next_cursor: page.next_cursor });
      },
    ),
    route(
      'GET',
      '/metrics',
      {
        summary: "Deployment metrics in seed 004's shape, per stage, filtered by agent, environment and a window of UTC days",
        tag: 'system',
        query: MetricsQuerySchema,
        responses: { 200: { description: 'the aggregates of the window', schema: MetricsViewSchema } },
      },
      async (_req, res, _p, url) =>
        sendJson(res, 200, await getMetrics(deps, parseWith(MetricsQuerySchema, Object.fromEntries(url.searchParams), 'query'))),
    ),
    route(
      'GET',
      '/environments',
      { summary: 'Deployment environments', tag: 'system', responses: { 200: { description: 'by name', schema: EnvironmentsViewSchema } } },
      async (_req, res) => sendJson(res, 200, environmentsView(deps.settings.environments)),
    ),
    route(
      'GET',
      '/deployments/{id}',
      {
        summary: 'One job',
        tag: 'deployments',
        params: { id: IdParam },
        responses: { 200: { description: 'the job', schema: PublicJobSchema } },
      },
      async (_req, res, [id]) => sendJson(res, 200, await getDeployment(deps, id)),
    ),
    route(
      'GET',
      '/deployments/{id}/logs',
      {
        summary: "The job's whole log",
        tag: 'deployments',
        params: { id: IdParam },
        responses: { 200: { description: 'one `timestamp LEVEL [stage] message` line each', schema: DeploymentLogsSchema } },
      },
      async (_req, res, [id]) => sendJson(res, 200, await getDeploymentLogs(deps, id)),
    ),
    route(
      'GET',
      '/deployments/{id}/stream',
      {
        summary: 'Follow a job: an event on every change, closed at a final status',
        tag: 'deployments',
        params: { id: IdParam },
        responses: { 200: { description: 'the job on every change', events: { job: PublicJobSchema } } },
      },
      async (req, res, [id]) => stream(deps, req, res, id, heartbeatMs),
    ),
    route(
      'POST',
      '/deployments/{id}/cancel',
      {
        summary: 'Stop a queued or running deployment at its next stage boundary',
        tag: 'deployments',
        params: { id: IdParam },
        responses: { 202: { description: 'requested', schema: CancelResultSchema } },
      },
      async (req, res, [id]) => sendJson(res, 202, await requestCancel(deps, id, callerOf(req))),
    ),
    route(
      'POST',
      '/deployments/{id}/approve',
      {
        summary: 'Let a deployment awaiting approval take traffic (its owner only; 409 when it is not waiting)',
        tag: 'deployments',
        params: { id: IdParam },
        responses: { 202: { description: 'approved: promotion follows', schema: ApprovalResultSchema } },
      },
      async (req, res, [id]) => sendJson(res, 202, await approveDeployment(deps, id, callerOf(req))),
    ),
    route(
      'POST',
      '/deployments/{id}/reject',
      {
        summary: 'Fail a deployment awaiting approval, for a reason (its owner only); its candidate revision is removed',
        tag: 'deployments',
        params: { id: IdParam },
        body: { json: RejectRequestSchema },
        responses: { 202: { description: 'rejected: it fails next', schema: ApprovalResultSchema } },
      },
      async (req, res, [id]) => {
        const body = await readJson(req, RejectRequestSchema);
        sendJson(res, 202, await rejectDeployment(deps, id, body.reason, callerOf(req)));
      },
    ),
    route(
      'POST',
      '/rollback',
      {
        summary: 'Return traffic to the revision that served before a completed deployment',
        tag: 'deployments',
        body: { json: RollbackRequestSchema },
        responses: { 202: { description: 'queued', schema: RollbackAcceptedSchema } },
      },
      async (req, res) => {
        const body = await readJson(req, RollbackRequestSchema);
        sendJson(res, 202, await requestRollback(deps, body, callerOf(req)));
      },
    ),
    route(
      'GET',
      '/services',
      {
        summary: 'Every service record, with its pin',
        tag: 'services',
        query: ServicesQuerySchema,
        responses: { 200: { description: 'the services', schema: ServiceListSchema } },
      },
      async (_req, res, _p, url) => {
        const q = parseWith(ServicesQuerySchema, Object.fromEntries(url.searchParams), 'query');
        sendJson(res, 200, await listServices(deps, q.limit));
      },
    ),
    route(
      'GET',
      '/services/{agent_id}/history',
      {
        summary: "An agent's audit trail, newest first: every state change and operator action, with who and when",
        tag: 'services',
        params: { agent_id: AgentIdSchema },
        query: ServicesQuerySchema,
        responses: { 200: { description: 'the entries', schema: HistoryViewSchema } },
      },
      async (_req, res, [agent], url) => {
        const agentId = parseWith(AgentIdSchema, agent, 'agent_id');
        const q = parseWith(ServicesQuerySchema, Object.fromEntries(url.searchParams), 'query');
        sendJson(res, 200, await serviceHistory(deps, agentId, q.limit));
      },
    ),
    route(
      'POST',
      '/services/{agent_id}/unpin',
      {
        summary: 'Clear the pin a manual rollback left',
        tag: 'services',
        params: { agent_id: AgentIdSchema },
        responses: { 200: { description: 'unpinned', schema: UnpinResultSchema } },
      },
      async (req, res, [agent]) => {
        const agentId = parseWith(AgentIdSchema, agent, 'agent_id');
        sendJson(res, 200, await unpinService(deps, agentId, callerOf(req)));
      },
    ),
    route(
      'GET',
      '/services/{agent_id}',
      {
        summary: 'A service: URL, serving revision, traffic split',
        tag: 'services',
        params: { agent_id: AgentIdSchema },
        responses: { 200: { description: 'the service', schema: ServiceStatusSchema } },
      },
      async (_req, res, [agent]) => {
        const agentId = parseWith(AgentIdSchema, agent, 'agent_id');
        sendJson(res, 200, await getServiceStatus(deps, agentId));
      },
    ),
    route(
      'GET',
      '/services/{agent_id}/logs',
      {
        summary: "What a service's revisions wrote; follow=1 streams new lines",
        tag: 'services',
        params: { agent_id: AgentIdSchema },
        query: RuntimeLogQuerySchema,
        responses: {
          200: {
            description: 'the last `lines` entries, oldest first (with follow=1: a stream of `log` events, `error` if reading stops)',
            schema: ServiceLogsSchema,
          },
        },
      },
      async (req, res, [agent], url) => serviceLogs(deps, req, res, agent, url, heartbeatMs),
    ),
  ];

  // Deployed designs live under /api/ (seed 002's paths), in the same table.
  const designs = deps.designs ? createDesignsApi(deps.designs, { scheduledRoute: options.target === 'local' }) : null;
  if (designs) routes.push(...designs.routes);
  const corsOrigins = new Set(options.corsOrigins ?? []);
  async function api(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://baton.local');
      const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
      const origin = req.headers.origin;
      if (origin && corsOrigins.has(origin)) {
        res.setHeader('access-control-allow-origin', origin);
        res.setHeader('vary', 'Origin');
        if (req.method === 'OPTIONS') {
          // A preflight carries no credentials: answered here, before any identity check.
          res.writeHead(204, {
            'access-control-allow-methods': 'GET, POST, PUT, DELETE, OPTIONS',
            'access-control-allow-headers': 'authorization, content-type, x-api-key',
            'access-control-max-age': '3600',
          });
          res.end();
          return;
        }
      }
      if (options.authenticate && !(req.method === 'GET' && path === '/health')) {
        try {
          verifiedCallers.set(req, await options.authenticate(req));
        } catch (err) {
          if (!(err instanceof AuthError)) throw err;
          sendJson(res, 401, { error: { code: 'unauthorized', message: err.message } }, { 'www-authenticate': 'Bearer' });
          return;
        }
      }
      let pathMatched = false;
      for (const { method, pattern, handler } of routes) {
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
      if (designs && (req.url ?? '').startsWith('/api/')) designs.sendError(res, err);
      else sendError(res, err);
    }
  }
  /** The table itself, for what enumerates the API (the OpenAPI test). */
  return Object.assign(api, { routes: routes as readonly Route[] });
}

function decodePathParam(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    throw new RequestError('invalid', `the path holds malformed percent-encoding: ${p.slice(0, 80)}`, 'path');
  }
}

/**
 * The caller's verified email: what options.authenticate verified (BATON_API_AUTH=firebase), else
 * from its bearer ID token, decoded, not verified: on Google Cloud with BATON_API_AUTH=iam the
 * platform has verified it before the request reaches the api (it requires IAM); with no token (the
 * local target) there is no owner.
 */
export function callerOf(req: IncomingMessage): string | null {
  if (verifiedCallers.has(req)) return verifiedCallers.get(req) ?? null;
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
