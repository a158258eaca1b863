import { z } from 'zod';
import { QueueEntrySchema } from './admission.js';
import { AnalysisSchema } from './analysis/schema.js';
import { ApprovalSchema } from './approval.js';
import { CanaryAnalysisSchema } from './canary.js';
import { FailureSchema } from './failure.js';
import { withoutCredentials } from './redact.js';
import { type DeploymentRequest, DeploymentRequestSchema, RollbackOptionsSchema } from './request.js';
import { isFinal, STAGES, StageSchema, StatusSchema, UNTIMED_STAGES } from './status.js';
import { LoadSliceSchema, TestResultSchema } from './testing.js';

export const SeveritySchema = z.enum(['critical', 'high', 'medium', 'low', 'info']);
export type Severity = z.infer<typeof SeveritySchema>;
/** One check of the validating stage, passed or not (seed 004's validation_results); `field` names what it is about. */
export const ValidationResultSchema = z.object({
  test_name: z.string(),
  test_type: z.string(),
  severity: SeveritySchema,
  passed: z.boolean(),
  message: z.string(),
  /** Seconds. */
  execution_time: z.number(),
  timestamp: z.string(),
  field: z.string().optional(),
});
export type ValidationResult = z.infer<typeof ValidationResultSchema>;

/** What the revision runs with: the request's limits and the environment's requirements for the rest. */
export const ResourcesSchema = z.object({
  memory_mb: z.number().optional(),
  cpu_cores: z.number().optional(),
  concurrent_tasks: z.number().optional(),
});

const Iso = z.string();

export const StageTimingSchema = z.object({
  started_at: Iso,
  completed_at: Iso.nullable(),
  duration_ms: z.number().nullable(),
});

/**
 * Who is running the current stage. A duplicate delivery sees a live claim and backs off; a
 * redelivery after a crash finds the lease expired and takes over; `done` means the stage's
 * work is committed and only the hand-off event may still need publishing.
 */
export const ClaimSchema = z.object({
  stage: StageSchema,
  token: z.string(),
  expires_at: Iso,
  done: z.boolean(),
  /**
   * Held by a worker for the length of the stage body (a random token), as opposed to a wait on
   * an outside event under a known token: such a claim ends with its worker's process (see holder).
   */
  ephemeral: z.boolean().default(false),
  /**
   * The process that took the claim (PipelineSettings.worker_id: the local stack's boot, a
   * function instance). Where one process alone runs stages (the local stack, by its data
   * folder's lock), an ephemeral claim of any other holder is a dead process's: taken over at
   * once, not after its lease. Absent in claims written before it existed: treated as another's.
   */
  holder: z.string().optional(),
});

export const ArtifactSchema = z.object({
  /** Where the runnable artifact is: a blob key (local) or an image reference (gcp). */
  ref: z.string(),
  /** Deploy by digest, never by a moving tag. */
  digest: z.string(),
});

export const JobSchema = z.object({
  deployment_id: z.string(),
  kind: z.enum(['deployment', 'rollback']),
  agent_id: z.string(),
  environment: z.string(),
  version: z.string(),
  status: StatusSchema,
  stage: StageSchema.nullable(),
  current_step: z.string(),
  progress: z.number().min(0).max(100),
  /** The last lines of the log; the whole log is in the blob store. */
  logs: z.array(z.string()),
  error_message: z.string().nullable(),
  failed_stage: StageSchema.nullable(),
  /** Why it failed or was rolled back, structured (shared/domain/failure.ts); null while it has not. */
  failure: FailureSchema.nullable().default(null),
  service_url: z.string().nullable(),
  revision: z.string().nullable(),
  /** The revision that served before this deployment: where a rollback returns traffic. */
  previous_revision: z.string().nullable(),
  previous_deployment_id: z.string().nullable(),
  /** Failed health checks of the new revision so far. */
  health_failures: z.number().int(),
  /** Times the watchdog sent a stuck stage's entering event again (a worker that died with nothing to redeliver its event). */
  watchdog_redrives: z.number().int().nonnegative().default(0),
  /** Time spent outside the control plane: build_ms (the builder), startup_ms (the revision's start). */
  measurements: z.record(z.string(), z.number()),
  created_at: Iso,
  started_at: Iso.nullable(),
  updated_at: Iso,
  completed_at: Iso.nullable(),
  stage_timings: z.record(z.string(), StageTimingSchema),
  validation_results: z.array(ValidationResultSchema).default([]),
  /** Set by validation; null before (and for jobs from before environments had requirements). */
  resources: ResourcesSchema.nullable().default(null),
  /** The test stage's results in seed 004's shape, passes as well as failures. */
  test_results: z.array(TestResultSchema).default([]),
  /** The load test's slices measured so far (combined when the last one is in). */
  load_slices: z.array(LoadSliceSchema).default([]),
  /** Each canary step's analysis: candidate and stable revision measured in its window, the thresholds, the verdict. */
  canary_analyses: z.array(CanaryAnalysisSchema).default([]),
  /** What validation found in the source (language, framework, how it builds and starts): shared/domain/analysis. */
  analysis: AnalysisSchema.nullable().default(null),
  /** Set when the deployment waits for a person (awaiting_approval): the deadline and the decision. */
  approval: ApprovalSchema.nullable().default(null),
  /** The commit a git source's fetch checked out. */
  commit_sha: z.string().nullable().default(null),
  /** Blob key of the prepared source archive. */
  source_key: z.string().nullable(),
  build_id: z.string().nullable(),
  /**
   * How much of the build's own log (Cloud Build's log object, read by byte offset while it runs)
   * is in this job's log: the next read starts at `offset`, so a redelivered poll copies nothing twice.
   */
  build_log: z
    .object({ build_id: z.string(), offset: z.number().int().min(0), lines: z.number().int().min(0) })
    .nullable()
    .default(null),
  artifact: ArtifactSchema.nullable(),
  cancel_requested: z.boolean(),
  claim: ClaimSchema.nullable(),
  /** For a rollback job: the deployment it rolls back. For a deployment: its rollback job, if any. */
  rollback_of: z.string().nullable(),
  rollback_id: z.string().nullable(),
  rollback_reason: z.string().nullable(),
  /** A rollback job's options (seed 004's rollback_options, as honoured). */
  rollback_options: RollbackOptionsSchema.nullable().default(null),
  /** Set while it waits in the queue (accepted, not started: shared/domain/admission.ts); null once admitted. */
  queue: QueueEntrySchema.nullable().default(null),
  /** The newer deployment of the agent that cancelled this one while it waited. */
  superseded_by: z.string().nullable().default(null),
  /** Who asked for it (the caller's email on Google Cloud): Firestore rules let only them read it. */
  owner: z.string().nullable().default(null),
  /**
   * The id of the job's private document (JobStore.getPrivate), or null when it has none. The
   * document is readable by clients: `request` keeps env names with REDACTED values and the git
   * URL without credentials; the values themselves are in the private document.
   */
  private_ref: z.string().nullable().default(null),
  request: DeploymentRequestSchema,
});
export type Job = z.infer<typeof JobSchema>;
export type Artifact = z.infer<typeof ArtifactSchema>;

export const PinSchema = z.object({
  rollback_id: z.string(),
  revision: z.string(),
  reason: z.string(),
  pinned_at: Iso,
  /** Who rolled back (the caller's email on Google Cloud; null locally). */
  by: z.string().nullable(),
});
export type Pin = z.infer<typeof PinSchema>;

/** The per-service document: what serves now and where to go back to. */
export const ServiceRecordSchema = z.object({
  agent_id: z.string(),
  service_name: z.string(),
  url: z.string().nullable(),
  serving_revision: z.string().nullable(),
  last_good_revision: z.string().nullable(),
  /** Revisions that served, newest last: the rollback history. */
  good_revisions: z.array(z.object({ revision: z.string(), deployment_id: z.string() })),
  deployment_id: z.string().nullable(),
  status: z.enum(['creating', 'running', 'error']),
  /** Typical duration of each stage for this service (a moving average of past deployments), for ETAs. */
  typical_stage_ms: z.record(z.string(), z.number()).default({}),
  /**
   * Set by a manual rollback: the agent stays on what the rollback restored, and a deployment is
   * refused (409) until one sets `unpin: true` or POST /services/{agent_id}/unpin clears it.
   */
  pinned: z.boolean().optional(),
  pin: PinSchema.nullish(),
  updated_at: Iso,
});
export type ServiceRecord = z.infer<typeof ServiceRecordSchema>;

export const LOG_TAIL_LINES = 20;

export function newJob(
  id: string,
  request: z.infer<typeof DeploymentRequestSchema>,
  now: string,
  kind: Job['kind'] = 'deployment',
  owner: string | null = null,
): Job {
  return {
    deployment_id: id,
    kind,
    agent_id: request.agent_id,
    environment: request.environment ?? 'development',
    version: request.version,
    status: 'queued',
    stage: null,
    analysis: null,
    commit_sha: null,
    current_step: kind === 'rollback' ? 'Rollback queued' : 'Queued',
    progress: 0,
    logs: [],
    error_message: null,
    failed_stage: null,
    failure: null,
    service_url: null,
    revision: null,
    previous_revision: null,
    previous_deployment_id: null,
    health_failures: 0,
    watchdog_redrives: 0,
    measurements: {},
    created_at: now,
    started_at: null,
    updated_at: now,
    completed_at: null,
    stage_timings: {},
    validation_results: [],
    resources: null,
    test_results: [],
    load_slices: [],
    canary_analyses: [],
    approval: null,
    source_key: null,
    build_id: null,
    build_log: null,
    artifact: null,
    cancel_requested: false,
    claim: null,
    rollback_of: null,
    rollback_id: null,
    rollback_reason: null,
    rollback_options: null,
    queue: null,
    superseded_by: null,
    owner,
    private_ref: null,
    request,
  };
}

/** What a deployment needs and no client may read; kept apart from the job (JobStore.putPrivate). */
export const JobPrivateSchema = z.object({
  /** The request's env, values included. */
  env: z.record(z.string(), z.string()),
  /** The git URL as the caller gave it, credentials included; null for any other source. */
  source_url: z.string().nullable(),
});
export type JobPrivate = z.infer<typeof JobPrivateSchema>;

/** What an env value reads as in the job document. */
export const REDACTED = '<redacted>';

/**
 * Splits a request into what the job document may hold (env names, the git URL without its
 * credentials) and the private part, or null when nothing in it is private. Secret Manager
 * references (`secrets`) are names, not values: they stay in the request.
 */
export function splitPrivate(request: DeploymentRequest): { request: DeploymentRequest; private: JobPrivate | null } {
  const names = Object.keys(request.env);
  const source = request.source;
  const url = source.type === 'git' && withoutCredentials(source.url) !== source.url ? source.url : null;
  if (names.length === 0 && url === null) return { request, private: null };
  return {
    request: {
      ...request,
      env: Object.fromEntries(names.map((name) => [name, REDACTED])),
      source: source.type === 'git' ? { ...source, url: withoutCredentials(source.url) } : source,
    },
    private: { env: { ...request.env }, source_url: url },
  };
}

/** The request as the stages need it: the job's request with its private values put back. */
export function withPrivate(request: DeploymentRequest, secret: JobPrivate | null): DeploymentRequest {
  if (!secret) return request;
  const source = request.source.type === 'git' && secret.source_url ? { ...request.source, url: secret.source_url } : request.source;
  return { ...request, env: { ...request.env, ...secret.env }, source };
}

/**
 * Seed 004's names for what the job already says, carried beside Baton's own so seed 004's
 * clients keep working: `progress_percentage` (= progress), `estimated_completion` (a timestamp:
 * now plus the ETA while it runs, `completed_at` once final, null with no history to go on) and
 * `deployment_metadata` (version, environment, the agent's endpoint, revisions). `stage` is a
 * field of the job itself.
 */
export function seedFields(job: Job, eta_seconds: number | null, nowMs: number) {
  const estimated_completion = isFinal(job.status)
    ? job.completed_at
    : eta_seconds === null
      ? null
      : new Date(nowMs + eta_seconds * 1000).toISOString();
  return {
    progress_percentage: job.progress,
    estimated_completion,
    deployment_metadata: {
      version: job.version,
      environment: job.environment,
      environment_config: job.environment,
      agent_endpoint: job.service_url,
      revision: job.revision,
      previous_revision: job.previous_revision,
      source_type: job.request.source.type,
      kind: job.kind,
    },
  };
}

/** What clients see: no claim bookkeeping, env values and secret names hidden, and seed 004's names beside Baton's. */
export function publicJob(job: Job, eta_seconds: number | null, nowMs: number, queue_position: number | null = null) {
  const { claim: _claim, request, ...rest } = job;
  const source = request.source.type === 'git' ? { ...request.source, url: withoutCredentials(request.source.url) } : request.source;
  return { ...rest, source, eta_seconds, queue_position, ...seedFields(job, eta_seconds, nowMs) };
}
export type PublicJob = ReturnType<typeof publicJob>;

/** Folds a finished deployment's stage durations into the service's typical durations. */
export function typicalStageMs(previous: Record<string, number>, job: Job): Record<string, number> {
  const next = { ...previous };
  for (const [stage, t] of Object.entries(job.stage_timings)) {
    // A person's time to approve says nothing about how long the next deployment's stages take.
    if (t.duration_ms === null || (UNTIMED_STAGES as readonly string[]).includes(stage)) continue;
    const old = next[stage];
    next[stage] = old === undefined ? t.duration_ms : Math.round((old + t.duration_ms) / 2);
  }
  return next;
}

/**
 * Seconds left, from the service's typical stage durations: what remains of the current stage
 * plus every later one. Null when there is no history to go on. The wait for approval is not in
 * it (a person's time): while a job awaits approval its ETA is what follows once it is approved.
 */
export function estimateEtaSeconds(job: Job, typical: Record<string, number>, nowMs: number): number | null {
  if (isFinal(job.status)) return 0;
  const order = STAGES as readonly string[];
  const at = job.status === 'queued' ? 0 : order.indexOf(job.status);
  if (at < 0) return null;
  let ms = 0;
  for (let i = at; i < order.length; i++) {
    if ((UNTIMED_STAGES as readonly string[]).includes(order[i])) continue;
    const typ = typical[order[i]];
    if (typ === undefined) return null;
    const started = job.stage_timings[order[i]]?.started_at;
    ms += i === at && started && job.status !== 'queued' ? Math.max(0, typ - (nowMs - Date.parse(started))) : typ;
  }
  return Math.ceil(ms / 1000);
}

/** A URL without its credentials (userinfo, credential query values), for anything a client or a log sees. */
export { withoutCredentials };
