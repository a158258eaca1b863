import { z } from 'zod';
import type { DeploymentRequestInput } from '../domain/request.js';
import { FINAL_STATUSES, type Status, StatusSchema } from '../domain/status.js';

/**
 * Baton's typed HTTP client: submit deployments, follow them (Server-Sent Events with reconnect
 * and a polling fallback), read logs, roll back, cancel. No dependency beyond zod and the
 * platform's fetch, so it also runs in a browser.
 */

export const DEFAULT_BASE_URL = 'http://127.0.0.1:8080';

// ---------------------------------------------------------------------------------------------
// Response schemas: lenient (unknown fields pass through, optional fields default) so a newer
// server keeps working with an older client.
// ---------------------------------------------------------------------------------------------

const StageTimingViewSchema = z.looseObject({
  started_at: z.string(),
  completed_at: z.string().nullable().default(null),
  duration_ms: z.number().nullable().default(null),
});

const ValidationViewSchema = z.looseObject({
  test_name: z.string(),
  severity: z.string(),
  passed: z.boolean(),
  field: z.string().optional(),
  message: z.string(),
});

/** A deployment or rollback job as GET /deployments/{id} and the stream return it. */
export const JobViewSchema = z.looseObject({
  deployment_id: z.string(),
  kind: z.enum(['deployment', 'rollback']).default('deployment'),
  agent_id: z.string(),
  environment: z.string().default('development'),
  version: z.string().default('latest'),
  status: StatusSchema,
  stage: z.string().nullable().default(null),
  current_step: z.string().default(''),
  progress: z.number().default(0),
  logs: z.array(z.string()).default([]),
  error_message: z.string().nullable().default(null),
  failed_stage: z.string().nullable().default(null),
  service_url: z.string().nullable().default(null),
  revision: z.string().nullable().default(null),
  previous_revision: z.string().nullable().default(null),
  created_at: z.string(),
  started_at: z.string().nullable().default(null),
  updated_at: z.string().nullable().default(null),
  completed_at: z.string().nullable().default(null),
  stage_timings: z.record(z.string(), StageTimingViewSchema).default({}),
  validation_results: z.array(ValidationViewSchema).default([]),
  /** The test stage's results (seed 004's shape). */
  test_results: z
    .array(
      z.looseObject({ test_name: z.string(), test_type: z.string(), passed: z.boolean(), message: z.string(), execution_time: z.number() }),
    )
    .default([]),
  /** Each canary step's analysis: what was measured, against what, the verdict. */
  canary_analyses: z
    .array(
      z.looseObject({
        step: z.number(),
        percent: z.number(),
        verdict: z.string(),
        final: z.boolean(),
        checks: z.number(),
        message: z.string(),
      }),
    )
    .default([]),
  source: z.looseObject({ type: z.string() }).optional(),
  rollback_of: z.string().nullable().default(null),
  rollback_id: z.string().nullable().default(null),
  rollback_reason: z.string().nullable().default(null),
  eta_seconds: z.number().nullable().default(null),
  /** Seed 004's names for progress and the ETA (a timestamp), beside Baton's own. */
  progress_percentage: z.number().optional(),
  estimated_completion: z.string().nullable().optional(),
  /** Waiting in the queue: its place among its owner's waiting deployments, and why it waits. */
  queue_position: z.number().nullable().default(null),
  queue: z.looseObject({ reason: z.string() }).nullable().default(null),
  superseded_by: z.string().nullable().default(null),
  /** Why it failed or was rolled back (shared/domain/failure.ts). */
  failure: z
    .looseObject({ reason_code: z.string(), hint: z.string(), stage: z.string(), listening_port: z.number().optional() })
    .nullable()
    .default(null),
  /** Set once the deployment waits for approval: its deadline and, once decided, by whom and why. */
  approval: z
    .looseObject({
      state: z.string(),
      deadline_at: z.string(),
      decided_at: z.string().nullable().default(null),
      decided_by: z.string().nullable().default(null),
      reason: z.string().nullable().default(null),
    })
    .nullable()
    .default(null),
});
export type Job = z.infer<typeof JobViewSchema>;

export const AcceptedSchema = z.looseObject({
  message: z.string().default('Deployment started'),
  deployment_id: z.string(),
  agent_id: z.string(),
  status: z.string().default('queued'),
});
export type Accepted = z.infer<typeof AcceptedSchema>;

export const JobListSchema = z.looseObject({
  deployments: z.array(JobViewSchema),
  next_cursor: z.string().nullable().default(null),
});
export type JobList = z.infer<typeof JobListSchema>;

const LogsSchema = z.looseObject({ logs: z.string() });

/** One line a deployed revision wrote, as GET /services/{agent_id}/logs returns it. */
export const ServiceLogEntrySchema = z.looseObject({
  id: z.string(),
  time: z.string(),
  revision: z.string(),
  stream: z.string().nullable().default(null),
  severity: z.string().default('DEFAULT'),
  message: z.string(),
});
export type ServiceLogEntry = z.infer<typeof ServiceLogEntrySchema>;
const ServiceLogsSchema = z.looseObject({ entries: z.array(ServiceLogEntrySchema) });

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

export const RollbackAcceptedSchema = z.looseObject({
  message: z.string().default('Rollback started'),
  rollback_id: z.string(),
  deployment_id: z.string(),
  agent_id: z.string(),
  status: z.string().default('queued'),
});
export type RollbackAccepted = z.infer<typeof RollbackAcceptedSchema>;

export const CancelResultSchema = z.looseObject({
  message: z.string(),
  deployment_id: z.string(),
  status: z.string(),
});
export type CancelResult = z.infer<typeof CancelResultSchema>;
/** What approve and reject answer (202): the deployment goes on to promoting, or fails. */
export const ApprovalResultSchema = z.looseObject({
  message: z.string(),
  deployment_id: z.string(),
  agent_id: z.string(),
  status: z.string(),
});
export type ApprovalResult = z.infer<typeof ApprovalResultSchema>;

export const ServiceViewSchema = z.looseObject({
  agent_id: z.string(),
  service_name: z.string().optional(),
  status: z.string(),
  url: z.string().nullable().default(null),
  serving_revision: z.string().nullable().default(null),
  last_good_revision: z.string().nullable().default(null),
  deployment_id: z.string().nullable().default(null),
  traffic: z
    .array(z.looseObject({ revision: z.string().optional(), percent: z.number().optional(), tag: z.string().nullish() }))
    .default([]),
  latest_ready_revision: z.string().nullable().default(null),
  updated_at: z.string().nullable().default(null),
});
export type ServiceView = z.infer<typeof ServiceViewSchema>;

const ApiErrorBodySchema = z.object({
  error: z.looseObject({ code: z.string(), message: z.string(), field: z.string().nullish() }),
});

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/** The API refused a request: HTTP status, the server's error code and the field at fault. */
export class BatonApiError extends Error {
  override readonly name = 'BatonApiError';
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;
  /** The server's own message, without the decoration this error's message adds. */
  readonly serverMessage: string;

  constructor(status: number, code: string, serverMessage: string, field?: string) {
    super(`${serverMessage}${field ? ` (field: ${field})` : ''} [HTTP ${status} ${code}]`);
    this.status = status;
    this.code = code;
    this.field = field;
    this.serverMessage = serverMessage;
  }
}

/** The control plane could not be reached at all (refused, unknown host, reset, timed out). */
export class BatonConnectionError extends Error {
  override readonly name = 'BatonConnectionError';
  constructor(
    readonly baseUrl: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      `the Baton control plane is not reachable at ${baseUrl} (${reason}): start it with \`npm start\`, or set BATON_URL (or --url) to where it runs`,
      options,
    );
  }
}

/** The server answered 2xx with a body this client does not understand. */
export class BatonResponseError extends Error {
  override readonly name = 'BatonResponseError';
}

/** waitForDeployment gave up; the deployment itself keeps running. */
export class BatonTimeoutError extends Error {
  override readonly name = 'BatonTimeoutError';
  constructor(
    message: string,
    readonly lastJob: Job | undefined,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------
// Server-Sent Events
// ---------------------------------------------------------------------------------------------

export interface SseEvent {
  event: string;
  data: string;
  id: string | undefined;
}

/**
 * An incremental text/event-stream parser (WHATWG rules): feed it decoded text in chunks of any
 * size; it returns the events completed by each chunk. Comment lines (":") are skipped.
 */
export class SseParser {
  private buffer = '';
  private eventName = '';
  private data: string[] = [];
  private lastId: string | undefined;
  private hasData = false;

  push(chunk: string): SseEvent[] {
    this.buffer += chunk;
    const out: SseEvent[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buffer);
      if (!m) break;
      // A lone '\r' at the very end may be the first half of '\r\n': wait for the next chunk.
      if (m[0] === '\r' && m.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, m.index);
      this.buffer = this.buffer.slice(m.index + m[0].length);
      const ev = this.line(line);
      if (ev) out.push(ev);
    }
    return out;
  }

  private line(line: string): SseEvent | null {
    if (line === '') {
      if (!this.hasData) {
        this.eventName = '';
        return null;
      }
      const ev: SseEvent = { event: this.eventName || 'message', data: this.data.join('\n'), id: this.lastId };
      this.eventName = '';
      this.data = [];
      this.hasData = false;
      return ev;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.eventName = value;
    else if (field === 'data') {
      this.data.push(value);
      this.hasData = true;
    } else if (field === 'id' && !value.includes('\0')) this.lastId = value;
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Log tail de-duplication
// ---------------------------------------------------------------------------------------------

/**
 * The lines of a job's log tail (its last N lines) that `printed` does not show yet: the longest
 * head of `tail` found as a contiguous run among the recent printed lines is what was already
 * seen; the rest is new. When nothing overlaps (more than N lines arrived in between) the whole
 * tail is new.
 */
export function unseenLines(printed: readonly string[], tail: readonly string[], window = 2000): string[] {
  const from = Math.max(0, printed.length - window);
  for (let k = Math.min(tail.length, printed.length - from); k > 0; k--) {
    for (let start = printed.length - k; start >= from; start--) {
      let match = true;
      for (let i = 0; i < k; i++) {
        if (printed[start + i] !== tail[i]) {
          match = false;
          break;
        }
      }
      if (match) return tail.slice(k);
    }
  }
  return [...tail];
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
  fetch?: typeof fetch;
  /** Timeout of one ordinary request (not of a stream); default 60 s. */
  requestTimeoutMs?: number;
}

export interface WatchOptions {
  signal?: AbortSignal;
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

type Body = { json: unknown } | { form: FormData } | undefined;

/** Consecutive failed polls (server unreachable or 5xx) tolerated before watch gives up. */
const MAX_POLL_FAILURES = 5;

export class BatonClient {
  readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly requestTimeoutMs: number;
  private readonly documentWatcher: DocumentWatcher | undefined;
  private readonly token: string | undefined;

  constructor(options: BatonClientOptions = {}) {
    this.documentWatcher = options.documentWatcher;
    this.token = options.token ?? (typeof process !== 'undefined' ? process.env.BATON_TOKEN : undefined) ?? undefined;
    const envUrl = typeof process !== 'undefined' ? process.env.BATON_URL : undefined;
    this.baseUrl = (options.baseUrl || envUrl || DEFAULT_BASE_URL).replace(/\/+$/, '');
    const f = options.fetch ?? globalThis.fetch;
    this.fetchImpl = (input, init) => f(input, init);
    this.requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
  }

  /** POST /deploy: queues a deployment and returns at once (202). */
  deploy(request: DeploymentRequestInput): Promise<Accepted> {
    return this.request('POST', '/deploy', AcceptedSchema, { json: request });
  }

  /** POST /deploy-from-file: a YAML or JSON service config and, optionally, a source archive. */
  deployFromFile(input: { agentId?: string; configFile: FileUpload; source?: FileUpload }): Promise<Accepted> {
    const form = new FormData();
    if (input.agentId) form.append('agent_id', input.agentId);
    form.append('config_file', toBlob(input.configFile), input.configFile.name);
    if (input.source) form.append('source', toBlob(input.source), input.source.name);
    return this.request('POST', '/deploy-from-file', AcceptedSchema, { form });
  }

  getStatus(id: string): Promise<Job> {
    return this.request('GET', `/deployments/${encodeURIComponent(id)}`, JobViewSchema);
  }

  listDeployments(query: ListQuery = {}): Promise<JobList> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, String(v));
    const qs = params.toString();
    return this.request('GET', `/deployments${qs ? `?${qs}` : ''}`, JobListSchema);
  }

  async getLogs(id: string): Promise<string> {
    return (await this.request('GET', `/deployments/${encodeURIComponent(id)}/logs`, LogsSchema)).logs;
  }

  rollback(deploymentId: string, reason?: string): Promise<RollbackAccepted> {
    return this.request('POST', '/rollback', RollbackAcceptedSchema, {
      json: { deployment_id: deploymentId, ...(reason ? { rollback_reason: reason } : {}) },
    });
  }

  cancel(id: string): Promise<CancelResult> {
    return this.request('POST', `/deployments/${encodeURIComponent(id)}/cancel`, CancelResultSchema, { json: {} });
  }

  /** A deployment awaiting approval may take traffic (its owner only; 409 when it is not waiting). */
  approve(id: string): Promise<ApprovalResult> {
    return this.request('POST', `/deployments/${encodeURIComponent(id)}/approve`, ApprovalResultSchema, { json: {} });
  }

  /** A deployment awaiting approval fails, for `reason`; its candidate is removed. */
  reject(id: string, reason: string): Promise<ApprovalResult> {
    return this.request('POST', `/deployments/${encodeURIComponent(id)}/reject`, ApprovalResultSchema, { json: { reason } });
  }

  getService(agentId: string): Promise<ServiceView> {
    return this.request('GET', `/services/${encodeURIComponent(agentId)}`, ServiceViewSchema);
  }

  /** The last lines (100 unless `lines`) the agent's revisions wrote, or one revision's, oldest first. */
  async getServiceLogs(agentId: string, options: ServiceLogOptions = {}): Promise<ServiceLogEntry[]> {
    return (await this.request('GET', serviceLogsPath(agentId, options), ServiceLogsSchema)).entries;
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
    signal?.addEventListener('abort', onOuterAbort, { once: true });
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

  private async request<S extends z.ZodType>(method: 'GET' | 'POST', path: string, schema: S, body?: Body): Promise<z.output<S>> {
    const headers: Record<string, string> = { accept: 'application/json' };
    let payload: string | FormData | undefined;
    if (body && 'json' in body) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body.json);
    } else if (body && 'form' in body) {
      payload = body.form;
    }
    const url = `${this.baseUrl}${path}`;
    const res = await this.send(url, { method, headers, body: payload, signal: AbortSignal.timeout(this.requestTimeoutMs) });
    const text = await res.text();
    if (!res.ok) throw apiErrorFrom(res.status, text);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new BatonResponseError(`${method} ${url} answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new BatonResponseError(`${method} ${url} answered with an unexpected body: ${z.prettifyError(parsed.error)}`);
    }
    return parsed.data;
  }

  /** fetch, with network failures turned into BatonConnectionError. */
  private async send(url: string, init: RequestInit): Promise<Response> {
    // A control plane on Google Cloud takes an ID token (e.g. `gcloud auth print-identity-token`).
    if (this.token) init.headers = { ...(init.headers as Record<string, string>), authorization: `Bearer ${this.token}` };
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

function apiErrorFrom(status: number, text: string): BatonApiError {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = ApiErrorBodySchema.safeParse(json);
  if (parsed.success) {
    const { code, message, field } = parsed.data.error;
    return new BatonApiError(status, code, message, field ?? undefined);
  }
  const snippet = text.trim().slice(0, 200);
  return new BatonApiError(status, 'http_error', `the server answered HTTP ${status}${snippet ? `: ${snippet}` : ''}`);
}

/** The events of one Server-Sent Events body until it ends; leaving the loop early cancels the body. */
async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      yield* parser.push(done ? decoder.decode() : decoder.decode(value, { stream: true }));
      if (done) return;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
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
