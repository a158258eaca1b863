import { z } from 'zod';
import type { DeploymentRequestInput } from '../../../shared/domain/request.js';
import { FINAL_STATUSES, type Status } from '../../../shared/domain/status.js';
import {
  type DeployDesignRequest,
  type DesignEndpoint,
  DesignEndpointListSchema,
  DesignEndpointSchema,
  type Execution,
  type ExecutionList,
  ExecutionListSchema,
  type ExecutionQuery,
  ExecutionSchema,
  type ExecutionWithSteps,
  ExecutionWithStepsSchema,
  KeyRotationSchema,
  type UpdateDesignRequest,
} from './designs.js';
import { apiErrorFrom, BatonApiError, BatonConnectionError, BatonResponseError, BatonTimeoutError } from './errors.js';
import { type RetryPolicy, retryAfterMs, retryDelayMs } from './retry.js';
import {
  type Accepted,
  AcceptedSchema,
  type ApprovalResult,
  ApprovalResultSchema,
  type CancelResult,
  CancelResultSchema,
  type Environments,
  EnvironmentsSchema,
  type HistoryEntryView,
  HistorySchema,
  type Job,
  type JobList,
  JobListSchema,
  JobViewSchema,
  LogsSchema,
  type Metrics,
  type MetricsQuery,
  MetricsSchema,
  type RollbackAccepted,
  RollbackAcceptedSchema,
  type ServiceList,
  ServiceListSchema,
  type ServiceLogEntry,
  ServiceLogEntrySchema,
  ServiceLogsSchema,
  type ServiceView,
  ServiceViewSchema,
  type UnpinResult,
  UnpinResultSchema,
} from './schemas.js';
import { sseEvents, unseenLines } from './sse.js';

/**
 * Baton's typed HTTP client: submit deployments, follow them (Server-Sent Events with reconnect
 * and a polling fallback), read logs, roll back, cancel. No dependency beyond zod and the
 * platform's fetch, so it also runs in a browser.
 */

export const DEFAULT_BASE_URL = 'http://127.0.0.1:8080';

export interface ServiceLogOptions {
  revision?: string;
  lines?: number;
}

function serviceLogsPath(agentId: string, options: ServiceLogOptions & { follow?: boolean }): string {
  const params = new URLSearchParams();
  if (options.revision) params.set('revision', options.revision);
  if (options.lines !== undefined) params.set('lines', String(options.lines));
  if (options.follow) params.set('follow', '1');
  const qs = params.toString();
  return `/services/${encodeURIComponent(agentId)}/logs${qs ? `?${qs}` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

export function isFinalStatus(status: Status): boolean {
  return FINAL_STATUSES.includes(status);
}

/**
 * Follows one job document from its store directly (Firestore `onSnapshot` on the gcp target):
 * calls `onDoc` with the document now and after every change; returns the unsubscribe.
 */
export type DocumentWatcher = (id: string, onDoc: (doc: unknown) => void, onError: (err: Error) => void) => () => void;

export interface BatonClientOptions {
  /** Where the control plane listens; default BATON_URL or http://127.0.0.1:8080. */
  baseUrl?: string;
  /** When set, watch() follows the job document itself instead of the API's event stream. */
  documentWatcher?: DocumentWatcher;
  /** A bearer token sent with every request; default BATON_TOKEN. */
  token?: string;
  /**
   * A bearer token read before every request, for one that is refreshed (a browser's Firebase
   * Auth ID token: `() => user.getIdToken()`); it wins over `token` when it gives one.
   */
  getToken?: () => Promise<string | null | undefined>;
  fetch?: typeof fetch;
  /** Timeout of one ordinary request (not of a stream); default 60 s. */
  requestTimeoutMs?: number;
  /** Retries of a request answered 429 or 503 (the server changed nothing); default 3 with back-off from 250 ms. */
  retry?: Partial<RetryPolicy>;
}

/** Every call takes a signal: aborting it stops the call (and its retries) with the signal's reason. */
export interface CallOptions {
  signal?: AbortSignal;
}

export interface WatchOptions extends CallOptions {
  /** Polling interval when the stream is unavailable; default 500 ms. */
  pollIntervalMs?: number;
  /** How many times a stream that drops before a final status is reopened before polling; default 3. */
  maxReconnects?: number;
  /** Delay before the first reconnect, doubled for each next one (at most 2 s); default 250 ms. */
  reconnectDelayMs?: number;
}

export interface WaitOptions extends WatchOptions {
  /** Give up after this long; default 30 minutes. */
  timeoutMs?: number;
}

export interface FileUpload {
  name: string;
  data: Uint8Array;
}

export interface ListQuery {
  agent_id?: string;
  status?: Status;
  limit?: number;
  cursor?: string;
}

type Body = { json: unknown } | { form: () => FormData } | undefined;

/** Consecutive failed polls (server unreachable or 5xx) tolerated before watch gives up. */
const MAX_POLL_FAILURES = 5;

export class BatonClient {
  readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly requestTimeoutMs: number;
  private readonly documentWatcher: DocumentWatcher | undefined;
  private readonly token: string | undefined;
  private readonly getToken: (() => Promise<string | null | undefined>) | undefined;
  private readonly retry: RetryPolicy;

  constructor(options: BatonClientOptions = {}) {
    this.documentWatcher = options.documentWatcher;
    this.getToken = options.getToken;
    this.token = options.token ?? (typeof process !== 'undefined' ? process.env.BATON_TOKEN : undefined) ?? undefined;
    const envUrl = typeof process !== 'undefined' ? process.env.BATON_URL : undefined;
    this.baseUrl = (options.baseUrl || envUrl || DEFAULT_BASE_URL).replace(/\/+$/, '');
    const f = options.fetch ?? globalThis.fetch;
    this.fetchImpl = (input, init) => f(input, init);
    this.requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    this.retry = { retries: 3, baseDelayMs: 250, maxDelayMs: 10_000, ...options.retry };
  }

  /** POST /deploy: queues a deployment and returns at once (202). */
  deploy(request: DeploymentRequestInput, options: CallOptions = {}): Promise<Accepted> {
    return this.request('POST', '/deploy', AcceptedSchema, { json: request }, options);
  }

  /** POST /deploy-from-file: a YAML or JSON service config and, optionally, a source archive. */
  deployFromFile(
    input: { agentId?: string; configFile: FileUpload; source?: FileUpload; unpin?: boolean },
    options: CallOptions = {},
  ): Promise<Accepted> {
    // A body is read once: each retry sends a new form.
    const form = () => {
      const f = new FormData();
      if (input.agentId) f.append('agent_id', input.agentId);
      if (input.unpin) f.append('unpin', 'true');
      f.append('config_file', toBlob(input.configFile), input.configFile.name);
      if (input.source) f.append('source', toBlob(input.source), input.source.name);
      return f;
    };
    return this.request('POST', '/deploy-from-file', AcceptedSchema, { form }, options);
  }

  getStatus(id: string, options: CallOptions = {}): Promise<Job> {
    return this.request('GET', `/deployments/${encodeURIComponent(id)}`, JobViewSchema, undefined, options);
  }

  listDeployments(query: ListQuery = {}, options: CallOptions = {}): Promise<JobList> {
    return this.request('GET', `/deployments${queryString(query)}`, JobListSchema, undefined, options);
  }

  async getLogs(id: string, options: CallOptions = {}): Promise<string> {
    return (await this.request('GET', `/deployments/${encodeURIComponent(id)}/logs`, LogsSchema, undefined, options)).logs;
  }

  /** `target` names another revision to return to and seed 004's rollback_options. */
  rollback(
    deploymentId: string,
    reason?: string,
    options: CallOptions = {},
    target: { target_revision?: string; rollback_options?: Record<string, boolean> } = {},
  ): Promise<RollbackAccepted> {
    return this.request(
      'POST',
      '/rollback',
      RollbackAcceptedSchema,
      { json: { deployment_id: deploymentId, ...(reason ? { rollback_reason: reason } : {}), ...target } },
      options,
    );
  }

  /** Clears the pin a manual rollback left on the agent. */
  unpin(agentId: string, options: CallOptions = {}): Promise<UnpinResult> {
    return this.request('POST', `/services/${encodeURIComponent(agentId)}/unpin`, UnpinResultSchema, { json: {} }, options);
  }

  /** The agent's audit trail, newest first: every state change of its jobs and every operator action, with who and when. */
  async getHistory(agentId: string, limit = 100, options: CallOptions = {}): Promise<HistoryEntryView[]> {
    const path = `/services/${encodeURIComponent(agentId)}/history?limit=${limit}`;
    return (await this.request('GET', path, HistorySchema, undefined, options)).history;
  }

  listServices(limit = 100, options: CallOptions = {}): Promise<ServiceList> {
    return this.request('GET', `/services?limit=${limit}`, ServiceListSchema, undefined, options);
  }

  cancel(id: string, options: CallOptions = {}): Promise<CancelResult> {
    return this.request('POST', `/deployments/${encodeURIComponent(id)}/cancel`, CancelResultSchema, { json: {} }, options);
  }

  /** A deployment awaiting approval may take traffic (its owner only; 409 when it is not waiting). */
  approve(id: string, options: CallOptions = {}): Promise<ApprovalResult> {
    return this.request('POST', `/deployments/${encodeURIComponent(id)}/approve`, ApprovalResultSchema, { json: {} }, options);
  }

  /** A deployment awaiting approval fails, for `reason`; its candidate is removed. */
  reject(id: string, reason: string, options: CallOptions = {}): Promise<ApprovalResult> {
    return this.request('POST', `/deployments/${encodeURIComponent(id)}/reject`, ApprovalResultSchema, { json: { reason } }, options);
  }

  getService(agentId: string, options: CallOptions = {}): Promise<ServiceView> {
    return this.request('GET', `/services/${encodeURIComponent(agentId)}`, ServiceViewSchema, undefined, options);
  }

  /** The last lines (100 unless `lines`) the agent's revisions wrote, or one revision's, oldest first. */
  async getServiceLogs(agentId: string, options: ServiceLogOptions & CallOptions = {}): Promise<ServiceLogEntry[]> {
    return (await this.request('GET', serviceLogsPath(agentId, options), ServiceLogsSchema, undefined, options)).entries;
  }

  // --- deployed designs (/api/deployments, /api/deployed/{path}) ---------------------------------

  /** POST /api/deployments: deploys a design at `endpoint_path`; the answer carries its api_key once. */
  deployDesign(request: DeployDesignRequest, options: CallOptions = {}): Promise<DesignEndpoint> {
    return this.request('POST', '/api/deployments', DesignEndpointSchema, { json: request }, options);
  }

  listDesigns(query: { status?: 'active' | 'inactive'; limit?: number; cursor?: string } = {}, options: CallOptions = {}) {
    return this.request('GET', `/api/deployments${queryString(query)}`, DesignEndpointListSchema, undefined, options);
  }

  getDesign(id: string, options: CallOptions = {}): Promise<DesignEndpoint> {
    return this.request('GET', `/api/deployments/${encodeURIComponent(id)}`, DesignEndpointSchema, undefined, options);
  }

  /** PUT /api/deployments/{id}: change any of design, status (activate/deactivate), schedule … */
  updateDesign(id: string, change: UpdateDesignRequest, options: CallOptions = {}): Promise<DesignEndpoint> {
    return this.request('PUT', `/api/deployments/${encodeURIComponent(id)}`, DesignEndpointSchema, { json: change }, options);
  }

  async deleteDesign(id: string, options: CallOptions = {}): Promise<void> {
    await this.request('DELETE', `/api/deployments/${encodeURIComponent(id)}`, z.looseObject({ deleted: z.boolean() }), undefined, options);
  }

  /** POST /api/deployments/{id}/execute: runs it with `input` and answers with the outcome. */
  executeDesign(id: string, input: unknown, options: CallOptions = {}): Promise<Execution> {
    return this.request('POST', `/api/deployments/${encodeURIComponent(id)}/execute`, ExecutionSchema, { json: { input } }, options);
  }

  rotateDesignKey(id: string, graceSeconds = 0, options: CallOptions = {}) {
    return this.request(
      'POST',
      `/api/deployments/${encodeURIComponent(id)}/keys`,
      KeyRotationSchema,
      { json: { grace_seconds: graceSeconds } },
      options,
    );
  }

  /** Executions of a deployed design, newest first, filtered by status, trigger and time. */
  listExecutions(id: string, query: ExecutionQuery = {}, options: CallOptions = {}): Promise<ExecutionList> {
    return this.request(
      'GET',
      `/api/deployments/${encodeURIComponent(id)}/logs${queryString(query)}`,
      ExecutionListSchema,
      undefined,
      options,
    );
  }

  /** One execution with its steps. */
  getExecution(id: string, executionId: string, options: CallOptions = {}): Promise<ExecutionWithSteps> {
    const path = `/api/deployments/${encodeURIComponent(id)}/logs/${encodeURIComponent(executionId)}`;
    return this.request('GET', path, ExecutionWithStepsSchema, undefined, options);
  }

  /** POST /api/deployed/{path}: calls the endpoint as its users do (its API key, unless auth is none); answers its result. */
  callEndpoint(endpointPath: string, input: unknown, options: CallOptions & { apiKey?: string } = {}): Promise<unknown> {
    const path = `/api/deployed/${endpointPath.replace(/^\/+/, '').split('/').map(encodeURIComponent).join('/')}`;
    return this.request('POST', path, z.unknown(), { json: input }, options, options.apiKey);
  }

  /** GET /metrics: totals, per-stage p50/p95 and the window over time, from the server's aggregates. */
  getMetrics(query: MetricsQuery = {}, options: CallOptions = {}): Promise<Metrics> {
    return this.request('GET', `/metrics${queryString(query)}`, MetricsSchema, undefined, options);
  }

  /** GET /environments: each environment's resources, validation level and tests, and the default. */
  getEnvironments(options: CallOptions = {}): Promise<Environments> {
    return this.request('GET', '/environments', EnvironmentsSchema, undefined, options);
  }

  /**
   * The same lines, then every new one as it is written, until `signal` aborts or the server ends
   * the stream; an `error` event from the server rejects with it.
   */
  async followServiceLogs(
    agentId: string,
    onEntry: (entry: ServiceLogEntry) => void,
    options: ServiceLogOptions & { signal?: AbortSignal } = {},
  ): Promise<void> {
    const url = `${this.baseUrl}${serviceLogsPath(agentId, { ...options, follow: true })}`;
    const res = await this.send(url, { method: 'GET', headers: { accept: 'text/event-stream' }, signal: options.signal });
    if (!res.ok) throw apiErrorFrom(res.status, await res.text());
    if (!res.body) throw new BatonResponseError(`GET ${url} answered with no body`);
    for await (const ev of sseEvents(res.body)) {
      if (ev.event === 'error') throw apiErrorFrom(503, ev.data);
      if (ev.event !== 'log') continue;
      const entry = ServiceLogEntrySchema.safeParse(parseJson(ev.data));
      if (entry.success) onEntry(entry.data);
    }
  }

  /**
   * Follows a job until it reaches a final status and resolves with it. `onChange` sees every
   * distinct state. Uses GET /deployments/{id}/stream; a stream that drops early is reopened up to
   * `maxReconnects` times, then (or when the server has no stream) the job is polled.
   */
  async watch(id: string, onChange: (job: Job) => void, options: WatchOptions = {}): Promise<Job> {
    const { signal, pollIntervalMs = 500, maxReconnects = 3, reconnectDelayMs = 250 } = options;
    let last: Job | undefined;
    let lastKey = '';
    const seen = (job: Job): boolean => {
      const key = JSON.stringify(job);
      last = job;
      if (key !== lastKey) {
        lastKey = key;
        onChange(job);
      }
      return isFinalStatus(job.status);
    };

    if (this.documentWatcher) return this.followDocument(this.documentWatcher, id, seen, signal);

    for (let attempt = 0; attempt <= maxReconnects; attempt++) {
      signal?.throwIfAborted();
      if (attempt > 0) await sleep(Math.min(reconnectDelayMs * 2 ** (attempt - 1), 2000), signal);
      let outcome: 'final' | 'dropped' | 'unsupported';
      try {
        outcome = await this.followStream(id, seen, signal);
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        // Not reachable at all on the first try: say so rather than poll a dead server.
        if (attempt === 0 && err instanceof BatonConnectionError) throw err;
        outcome = 'dropped';
      }
      if (outcome === 'final' && last) return last;
      if (outcome === 'unsupported') break;
    }
    return this.poll(id, seen, pollIntervalMs, signal);
  }

  private followDocument(watcher: DocumentWatcher, id: string, seen: (job: Job) => boolean, signal?: AbortSignal): Promise<Job> {
    return new Promise((resolve, reject) => {
      let unsubscribe: (() => void) | null = null;
      let done = false;
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        unsubscribe?.();
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const onAbort = () => finish(() => reject(signal?.reason));
      signal?.addEventListener('abort', onAbort, { once: true });
      unsubscribe = watcher(
        id,
        (doc) => {
          if (doc === undefined || doc === null)
            return finish(() => reject(new BatonApiError(404, 'not_found', `no deployment with id ${id}`)));
          const job = JobViewSchema.safeParse(doc);
          if (!job.success)
            return finish(() =>
              reject(new BatonResponseError(`the job document of ${id} could not be read: ${job.error.issues[0]?.message}`)),
            );
          if (seen(job.data)) finish(() => resolve(job.data));
        },
        (err) => finish(() => reject(err)),
      );
      // The watcher may have reported a final state before it returned its unsubscribe.
      if (done) unsubscribe();
    });
  }

  /** Resolves with the job at its final status; rejects with BatonTimeoutError after `timeoutMs`. */
  async waitForDeployment(id: string, onProgress?: (job: Job) => void, options: WaitOptions = {}): Promise<Job> {
    const { timeoutMs = 30 * 60_000, signal, ...watchOptions } = options;
    const controller = new AbortController();
    let last: Job | undefined;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error('timeout'));
    }, timeoutMs);
    const onOuterAbort = () => controller.abort(signal?.reason);
    // An 'abort' listener never fires for a signal aborted already.
    if (signal?.aborted) onOuterAbort();
    else signal?.addEventListener('abort', onOuterAbort, { once: true });
    try {
      return await this.watch(
        id,
        (job) => {
          last = job;
          onProgress?.(job);
        },
        { ...watchOptions, signal: controller.signal },
      );
    } catch (err) {
      if (timedOut) {
        const where = last ? `; last seen ${last.status} at ${last.progress}% (${last.current_step})` : '';
        throw new BatonTimeoutError(
          `timed out after ${formatSeconds(timeoutMs)} waiting for deployment ${id} to finish${where}; it keeps running on the server`,
          last,
        );
      }
      if (signal?.aborted) throw signal.reason;
      throw err;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onOuterAbort);
    }
  }

  async deployAndWait(request: DeploymentRequestInput, onProgress?: (job: Job) => void, options: WaitOptions = {}): Promise<Job> {
    const accepted = await this.deploy(request);
    return this.waitForDeployment(accepted.deployment_id, onProgress, options);
  }

  /**
   * `baton logs -f`: hands over every line of the log so far, then each new line of the job's
   * log tail until the job reaches a final status, which it resolves with.
   */
  async followLogs(id: string, onLine: (line: string) => void, options: WatchOptions = {}): Promise<Job> {
    const printed = splitLines(await this.getLogs(id));
    for (const line of printed) onLine(line);
    return this.watch(
      id,
      (job) => {
        for (const line of unseenLines(printed, job.logs)) {
          printed.push(line);
          onLine(line);
        }
        if (printed.length > 10_000) printed.splice(0, printed.length - 5_000);
      },
      options,
    );
  }

  // -------------------------------------------------------------------------------------------

  /** Reads one stream connection. 'final' once a final job arrived, 'dropped' if it ended before. */
  private async followStream(id: string, seen: (job: Job) => boolean, signal?: AbortSignal): Promise<'final' | 'dropped' | 'unsupported'> {
    const url = `${this.baseUrl}/deployments/${encodeURIComponent(id)}/stream`;
    const res = await this.send(url, { method: 'GET', headers: { accept: 'text/event-stream' }, signal });
    const type = res.headers.get('content-type') ?? '';
    if (!res.ok || !res.body || !type.includes('text/event-stream')) {
      // No usable stream: polling will report a real error (unknown deployment …) properly.
      await res.body?.cancel().catch(() => undefined);
      return 'unsupported';
    }
    for await (const ev of sseEvents(res.body)) {
      if (ev.event !== 'job' && ev.event !== 'message') continue;
      const job = parseJobEvent(ev.data);
      if (job && seen(job)) return 'final';
    }
    return 'dropped';
  }

  private async poll(id: string, seen: (job: Job) => boolean, intervalMs: number, signal?: AbortSignal): Promise<Job> {
    let failures = 0;
    for (;;) {
      signal?.throwIfAborted();
      try {
        const job = await this.getStatus(id);
        failures = 0;
        if (seen(job)) return job;
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        const transient = err instanceof BatonConnectionError || (err instanceof BatonApiError && err.status >= 500);
        if (!transient || ++failures >= MAX_POLL_FAILURES) throw err;
      }
      await sleep(intervalMs, signal);
    }
  }

  /**
   * One API call: JSON in and out, the answer checked against `schema`. A 429 or 503 (the server
   * changed nothing) is sent again up to `retry.retries` times, after its Retry-After when it
   * gives one, else after an exponential back-off with jitter; `signal` stops the waiting too.
   */
  private async request<S extends z.ZodType>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    schema: S,
    body: Body,
    options: CallOptions,
    /** A bearer token for this call instead of the client's (an endpoint's API key). */
    token?: string,
  ): Promise<z.output<S>> {
    const url = `${this.baseUrl}${path}`;
    for (let attempt = 0; ; attempt++) {
      options.signal?.throwIfAborted();
      const headers: Record<string, string> = { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
      let payload: string | FormData | undefined;
      if (body && 'json' in body) {
        headers['content-type'] = 'application/json';
        payload = JSON.stringify(body.json);
      } else if (body && 'form' in body) payload = body.form();
      const timeout = AbortSignal.timeout(this.requestTimeoutMs);
      const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
      const res = await this.send(url, { method, headers, body: payload, signal });
      const text = await res.text();
      if (res.ok) return parseBody(schema, method, url, res.status, text);
      const after = retryAfterMs(res.headers.get('retry-after'), Date.now());
      const error = apiErrorFrom(res.status, text, after);
      if ((res.status !== 429 && res.status !== 503) || attempt >= this.retry.retries) throw error;
      await sleep(after ?? retryDelayMs(this.retry, attempt, Math.random()), options.signal);
    }
  }

  /** fetch, with network failures turned into BatonConnectionError. */
  private async send(url: string, init: RequestInit): Promise<Response> {
    // A control plane on Google Cloud takes an ID token (e.g. `gcloud auth print-identity-token`,
    // or a signed-in browser's Firebase Auth ID token).
    if (!(init.headers as Record<string, string> | undefined)?.authorization) {
      const token = (this.getToken ? await this.getToken() : undefined) || this.token;
      if (token) init.headers = { ...(init.headers as Record<string, string>), authorization: `Bearer ${token}` };
    }
    try {
      return await this.fetchImpl(url, init);
    } catch (err) {
      if (init.signal?.aborted) {
        const reason: unknown = init.signal.reason;
        if (reason instanceof DOMException && reason.name === 'TimeoutError') {
          throw new BatonConnectionError(this.baseUrl, `no answer within ${formatSeconds(this.requestTimeoutMs)}`, { cause: err });
        }
        throw reason;
      }
      if (err instanceof TypeError) throw new BatonConnectionError(this.baseUrl, networkReason(err), { cause: err });
      throw err;
    }
  }
}

// ---------------------------------------------------------------------------------------------

function queryString(query: object): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, String(v));
  const qs = params.toString();
  return qs ? `?${qs}` : '';
}

function parseBody<S extends z.ZodType>(schema: S, method: string, url: string, status: number, text: string): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new BatonResponseError(`${method} ${url} answered ${status} with a body that is not JSON: ${text.slice(0, 200)}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new BatonResponseError(`${method} ${url} answered with an unexpected body: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

function parseJobEvent(data: string): Job | null {
  const parsed = JobViewSchema.safeParse(parseJson(data));
  return parsed.success ? parsed.data : null;
}

function parseJson(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}

/** The most telling code in a fetch failure's cause chain (ECONNREFUSED, ENOTFOUND …). */
function networkReason(err: TypeError): string {
  const stack: unknown[] = [err.cause];
  while (stack.length > 0) {
    const c = stack.shift();
    if (!c || typeof c !== 'object') continue;
    if ('code' in c && typeof c.code === 'string') return c.code;
    if ('errors' in c && Array.isArray(c.errors)) stack.push(...(c.errors as unknown[]));
    if ('cause' in c) stack.push(c.cause);
  }
  return err.cause instanceof Error ? err.cause.message : err.message;
}

function toBlob(file: FileUpload): Blob {
  const lower = file.name.toLowerCase();
  const type = lower.endsWith('.json')
    ? 'application/json'
    : lower.endsWith('.yaml') || lower.endsWith('.yml')
      ? 'application/yaml'
      : lower.endsWith('.zip')
        ? 'application/zip'
        : lower.endsWith('.gz') || lower.endsWith('.tgz')
          ? 'application/gzip'
          : 'application/octet-stream';
  return new Blob([new Uint8Array(file.data)], { type });
}

function splitLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
