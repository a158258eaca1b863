import { z } from 'zod';
import { BuildOptionsSchema } from './analysis/schema.js';
import { ApprovalModeSchema, ApprovalTimeoutSchema } from './approval-schema.js';
import { CanaryThresholdsSchema } from './canary.js';
import { cloudRunLimitProblem, MAX_STARTUP_SECONDS } from './cloud-run-limits.js';
import { EnvironmentNameSchema } from './environments.js';
import { GitPathSchema, GitRefSchema, GitUrlSchema } from './git-source.js';
import { AgentIdSchema } from './names.js';
import { TestOptionsSchema } from './testing.js';

/** The default environments' names (an operator's file may add others: shared/domain/environments.ts). */
export const EnvironmentSchema = z.enum(['development', 'staging', 'production']);

const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a valid environment variable name');

/*
 * Inside `source` and `deployment_options` an unknown field is refused (strict objects), so a typo
 * such as `start_command` is a 400 naming it instead of an option silently not applied; unknown
 * top-level fields stay tolerated (stripped) for older and newer clients.
 */
export const SourceSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('image'), image: z.string().min(1).max(512) }),
  z.strictObject({
    type: z.literal('git'),
    url: GitUrlSchema,
    ref: GitRefSchema.default('main'),
    /** The service's folder inside the repository (a monorepo). */
    path: GitPathSchema.optional(),
    /** A Secret Manager secret holding a token for a private repository (locally: BATON_LOCAL_SECRETS_FILE); never stored. */
    token_secret: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,255}$/, 'must be a secret name')
      .optional(),
  }),
  /** An uploaded archive, already in the blob store (set by POST /deploy-from-file, never by a client). */
  z.strictObject({
    type: z.literal('archive'),
    blob_key: z.string().min(1),
    format: z.enum(['tar.gz', 'zip']),
  }),
  /** A folder on the control plane's own machine: local target only. */
  z.strictObject({ type: z.literal('directory'), path: z.string().min(1).max(4096) }),
  /** No code: the agent config runs on the runtime image. */
  z.strictObject({ type: z.literal('config') }),
]);
export type Source = z.infer<typeof SourceSchema>;

export const StrategySchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('all_at_once') }),
  z.strictObject({
    type: z.literal('canary'),
    /** Percent of traffic on the new revision at each step; the last step must be 100. */
    steps: z
      .array(z.number().int().min(1).max(100))
      .min(1)
      .max(10)
      .refine((s) => s[s.length - 1] === 100, 'the last canary step must be 100')
      .refine((s) => s.every((v, i) => i === 0 || v > s[i - 1]), 'canary steps must increase'),
    window_seconds: z.number().min(0).max(3600).default(30),
  }),
]);

export const DeploymentOptionsSchema = z.strictObject({
  auto_rollback: z.boolean().default(true),
  /**
   * Absent: /health is probed, and a 404 there falls back to Cloud Run's own check (TCP, then `/`
   * below 500), so apps with no health route deploy. Given: that path must answer 2xx.
   */
  health_path: z
    .string()
    .regex(/^\/[^\s]*$/, 'must be a path starting with "/"')
    .max(512)
    .optional(),
  strategy: StrategySchema.default({ type: 'all_at_once' }),
  /** How long a new revision may take to listen on PORT: Cloud Run's startup probe allows at most 240 s. */
  start_timeout_seconds: z
    .number()
    .min(1)
    .max(
      MAX_STARTUP_SECONDS,
      `must be at most ${MAX_STARTUP_SECONDS}: Cloud Run gives a revision at most ${MAX_STARTUP_SECONDS} s to start`,
    )
    .default(60),
  /** Per instance: memory and CPUs, and how many requests one instance serves at once. */
  resource_limits: z
    .strictObject({
      memory_mb: z.number().int().min(128).max(32768).optional(),
      cpu_cores: z.number().min(0.08).max(8).optional(),
      concurrent_tasks: z.number().int().min(1).max(1000).optional(),
    })
    .superRefine((limits, ctx) => {
      const problem = cloudRunLimitProblem(limits);
      if (problem) ctx.addIssue({ code: 'custom', path: [problem.field], message: problem.message });
    })
    .optional(),
  allow_unauthenticated: z.boolean().optional(),
  /** Agents this one needs: validation checks each is deployed and healthy. */
  depends_on: z.array(AgentIdSchema).max(20).default([]),
  /**
   * Canary analysis (each step's window): the highest 5xx share of the candidate's requests, its
   * highest p95 latency, and the fewest requests that make a window conclusive. Unset: the
   * environment's (environments.ts environmentCanary).
   */
  max_error_rate: CanaryThresholdsSchema.shape.max_error_rate.optional(),
  max_latency_ms: CanaryThresholdsSchema.shape.max_latency_ms.optional(),
  min_requests: CanaryThresholdsSchema.shape.min_requests.optional(),
  /** Newest wins: this deployment cancels the agent's older deployments still waiting in the queue (false: they stay queued). */
  supersede_queued: z.boolean().default(true),
  /**
   * "required": a tested deployment waits in awaiting_approval until its owner approves or rejects
   * it; "none": it does not (refused where the environment enforces approval). Absent: the
   * environment decides (production: required).
   */
  approval: ApprovalModeSchema.optional(),
  /** How long it waits for approval before it fails; absent: the environment's, else 24 h. */
  approval_timeout_seconds: ApprovalTimeoutSchema.optional(),
});

/** What a client sends to POST /deploy. Unknown top-level fields are dropped so older clients keep working. */
export const DeploymentRequestSchema = z.object({
  agent_id: AgentIdSchema,
  /** One of the configured environments; none: the default one (set when the deployment is accepted). */
  environment: EnvironmentNameSchema.optional(),
  version: z.string().min(1).max(64).default('latest'),
  source: SourceSchema.default({ type: 'config' }),
  /** The agent's own configuration, handed to the service as BATON_AGENT_CONFIG. */
  config: z.record(z.string(), z.unknown()).default({}),
  env: z.record(EnvName, z.string().max(32768)).default({}),
  /** Environment variables whose values come from Secret Manager: name -> secret name. */
  secrets: z.record(EnvName, z.string().min(1).max(255)).default({}),
  deployment_options: DeploymentOptionsSchema.default(DeploymentOptionsSchema.parse({})),
  /** Explicit build settings (start/build/install command, runtime version, Dockerfile path): each wins over analysis. */
  build_options: BuildOptionsSchema.default({}),
  /** Which tests run against the candidate and their thresholds (seed 004's shape); unset flags come from the environment. */
  test_options: TestOptionsSchema.optional(),
  /** Deploy an agent pinned by a manual rollback, clearing the pin. */
  unpin: z.boolean().default(false),
});
export type DeploymentRequest = z.infer<typeof DeploymentRequestSchema>;
export type DeploymentRequestInput = z.input<typeof DeploymentRequestSchema>;

/** POST /deployments/{id}/reject: why, for the job and its log. */
export const RejectRequestSchema = z.object({ reason: z.string().trim().min(1, 'say why it is rejected').max(2000) });
/** Seed 004's rollback_options, with what Baton can honour (shared/pipeline/requests.ts refuses the rest). */
export const RollbackOptionsSchema = z.strictObject({
  /** Allow a target_revision that never served (not in the service's history). */
  force_rollback: z.boolean().default(false),
  /** Remove the revision rolled back from once traffic has left it (it cannot be rolled back to after). */
  cleanup_resources: z.boolean().default(false),
  /** Baton never touches a service's data: true is what always happens, false cannot be honoured. */
  preserve_data: z.boolean().default(true),
  /** Baton takes no backups: true cannot be honoured. */
  backup_before_rollback: z.boolean().default(false),
});
export type RollbackOptions = z.infer<typeof RollbackOptionsSchema>;

export const RollbackRequestSchema = z.object({
  deployment_id: z.string().min(1).max(128),
  rollback_reason: z.string().min(1).max(2000).default('manual rollback'),
  /** Roll back to this revision (one that served before) instead of the one before the deployment. */
  target_revision: z.string().min(1).max(128).optional(),
  rollback_options: RollbackOptionsSchema.optional(),
});
export type RollbackRequest = z.infer<typeof RollbackRequestSchema>;
