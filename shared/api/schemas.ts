import { z } from 'zod';
import { EnvironmentDefSchema } from '../domain/environments.js';
import { HistoryEntrySchema } from '../domain/history.js';
import { JobSchema, PinSchema } from '../domain/job.js';
import { AgentIdSchema } from '../domain/names.js';
import { RollbackOptionsSchema, SourceSchema } from '../domain/request.js';
import { RuntimeLogEntrySchema } from '../domain/runtime-log.js';
import { StatusSchema } from '../domain/status.js';

/**
 * What the HTTP API answers, as zod schemas: the OpenAPI document (functions/api/openapi.ts) is
 * generated from them, and test/unit/openapi.test.ts checks real answers against that document.
 * Request schemas stay where the domain parses them (shared/domain/request.ts …).
 */

/** The error codes a client can branch on (shared/domain/errors.ts RequestError, and the router's own). */
export const API_ERROR_CODES = [
  'invalid',
  'unauthorized',
  'not_found',
  'method_not_allowed',
  'conflict',
  'too_large',
  'rate_limited',
  'unavailable',
  'internal',
] as const;
export const ApiErrorCodeSchema = z.enum(API_ERROR_CODES);
export type ApiErrorCode = z.infer<typeof ApiErrorCodeSchema>;

export const ApiErrorSchema = z
  .object({
    error: z.object({
      code: ApiErrorCodeSchema,
      message: z.string(),
      /** The request field at fault (`agent_id`, `deployment_options.strategy.steps`, `query.limit` …). */
      field: z.string().optional(),
    }),
  })
  .meta({ id: 'ApiError', description: 'Every 4xx/5xx answer: what is wrong and which field' });

/** A job as the API and its stream show it (shared/domain/job.ts publicJob). */
export const PublicJobSchema = JobSchema.omit({ claim: true, request: true })
  .extend({
    source: SourceSchema,
    eta_seconds: z.number().nullable(),
    /** Place in its agent's or owner's queue while it waits in queued (1 = next), else null (publicJob). */
    queue_position: z.number().int().nullable(),
    progress_percentage: z.number(),
    estimated_completion: z.string().nullable(),
    deployment_metadata: z.object({
      version: z.string(),
      environment: z.string(),
      environment_config: z.string(),
      agent_endpoint: z.string().nullable(),
      revision: z.string().nullable(),
      previous_revision: z.string().nullable(),
      source_type: z.string(),
      kind: z.enum(['deployment', 'rollback']),
    }),
  })
  .meta({ id: 'Job', description: 'A deployment or rollback job (deployment_jobs/{id})' });

export const AcceptedSchema = z
  .object({
    message: z.string(),
    deployment_id: z.string(),
    agent_id: AgentIdSchema,
    status: z.literal('queued'),
    /** When it waits in the queue: its place and why (agent_busy | owner_limit). */
    queue_position: z.number().int().nullable().optional(),
    queue_reason: z.enum(['agent_busy', 'owner_limit']).nullable().optional(),
    /** The agent's older waiting deployments this one cancelled (newest wins). */
    superseded: z.array(z.string()).optional(),
  })
  .meta({ id: 'Accepted' });

export const RollbackAcceptedSchema = z
  .object({
    message: z.string(),
    rollback_id: z.string(),
    deployment_id: z.string(),
    agent_id: AgentIdSchema,
    status: z.literal('queued'),
    rollback_reason: z.string(),
    /** Where traffic returns to. */
    target_revision: z.string(),
    rollback_options: RollbackOptionsSchema,
    progress_percentage: z.number(),
    /** Now plus the agent's typical rollback; null before its first. */
    estimated_completion: z.string().nullable(),
  })
  .meta({ id: 'RollbackAccepted' });

export const CancelResultSchema = z
  .object({ message: z.string(), deployment_id: z.string(), status: StatusSchema })
  .meta({ id: 'CancelResult' });

/** What approve and reject answer: the deployment goes on to promoting, or fails. */
export const ApprovalResultSchema = z
  .object({ message: z.string(), deployment_id: z.string(), agent_id: z.string(), status: StatusSchema })
  .meta({ id: 'ApprovalResult' });

export const JobListSchema = z
  .object({ deployments: z.array(PublicJobSchema), next_cursor: z.string().nullable() })
  .meta({ id: 'JobList' });

export const DeploymentLogsSchema = z.object({ deployment_id: z.string(), logs: z.string() }).meta({ id: 'DeploymentLogs' });

export const TrafficEntrySchema = z.object({
  revision: z.string(),
  percent: z.number(),
  tag: z.string().optional(),
  /** The tag's own URL, where the runtime gives one. */
  url: z.string().optional(),
});

export const ServiceStatusSchema = z
  .object({
    agent_id: AgentIdSchema,
    service_name: z.string(),
    status: z.enum(['creating', 'running', 'error']),
    url: z.string().nullable(),
    serving_revision: z.string().nullable(),
    last_good_revision: z.string().nullable(),
    /** Revisions that served the agent, oldest first, with the deployment that made each: what a rollback may name as target_revision. */
    good_revisions: z.array(z.object({ revision: z.string(), deployment_id: z.string() })),
    deployment_id: z.string().nullable(),
    traffic: z.array(TrafficEntrySchema),
    latest_ready_revision: z.string().nullable(),
    pinned: z.boolean(),
    pin: PinSchema.nullable(),
    updated_at: z.string(),
  })
  .meta({ id: 'ServiceStatus' });

const StageMetricsSchema = z.object({
  count: z.number(),
  average: z.number().nullable(),
  p50: z.number().nullable(),
  p95: z.number().nullable(),
});

const SeriesPointSchema = z.object({
  start: z.string().meta({ description: 'the UTC hour or day the point covers' }),
  total: z.number(),
  successful: z.number(),
  failed: z.number().meta({ description: 'failed or rolled back, as failed_deployments' }),
  rolled_back: z.number(),
  cancelled: z.number(),
  success_rate: z.number(),
  p50_deployment_time: z.number().nullable(),
  p95_deployment_time: z.number().nullable(),
  stages: z
    .record(z.string(), z.object({ count: z.number(), p50: z.number().nullable(), p95: z.number().nullable() }))
    .optional()
    .meta({ description: "each stage's p50/p95 of the day (day resolution only)" }),
});

/** GET /metrics (shared/domain/metrics.ts metricsView): seed 004's names, seconds. */
export const MetricsViewSchema = z
  .object({
    metrics: z.object({
      total_deployments: z.number(),
      successful_deployments: z.number(),
      failed_deployments: z.number(),
      rolled_back_deployments: z.number(),
      cancelled_deployments: z.number(),
      success_rate: z.number(),
      average_deployment_time: z.number().nullable(),
      average_validation_time: z.number().nullable(),
      average_test_time: z.number().nullable(),
      p95_deployment_time: z.number().nullable(),
      p50_deployment_time: z.number().nullable(),
      deployment_frequency: z.number(),
      active_deployments: z.number(),
      last_updated: z.string(),
      stages: z.record(z.string(), StageMetricsSchema),
      window: z.object({ from: z.string(), to: z.string(), resolution: z.literal('day') }),
      p95_method: z.string(),
    }),
    /** The window over time, oldest first: one point per hour or day in which a deployment ended. */
    series: z.object({ resolution: z.enum(['hour', 'day']), points: z.array(SeriesPointSchema) }),
    filters: z.object({ agent_id: z.string().nullable(), environment: z.string().nullable() }),
  })
  .meta({ id: 'Metrics' });

export const HistoryViewSchema = z.object({ agent_id: AgentIdSchema, history: z.array(HistoryEntrySchema) }).meta({ id: 'History' });

export const ServiceListSchema = z
  .object({
    services: z.array(
      z.object({
        agent_id: AgentIdSchema,
        service_name: z.string(),
        status: z.enum(['creating', 'running', 'error']),
        url: z.string().nullable(),
        serving_revision: z.string().nullable(),
        deployment_id: z.string().nullable(),
        pinned: z.boolean(),
        pin: PinSchema.nullable(),
        updated_at: z.string(),
      }),
    ),
  })
  .meta({ id: 'ServiceList' });

export const UnpinResultSchema = z
  .object({ agent_id: AgentIdSchema, pinned: z.literal(false), unpinned: PinSchema.nullable() })
  .meta({ id: 'UnpinResult' });

export const ServiceLogsSchema = z
  .object({
    agent_id: AgentIdSchema,
    service_name: z.string(),
    revision: z.string().nullable(),
    entries: z.array(RuntimeLogEntrySchema),
  })
  .meta({ id: 'ServiceLogs' });

export const EnvironmentsViewSchema = z
  .object({ environments: z.record(z.string(), EnvironmentDefSchema), default_environment: z.string() })
  .meta({ id: 'Environments' });

export const HealthSchema = z.object({ status: z.literal('ok'), target: z.string(), time: z.string() }).meta({ id: 'Health' });
