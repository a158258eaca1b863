import { z } from 'zod';
import { StatusSchema } from '../../../shared/domain/status.js';

/**
 * What the client reads from the API: lenient (unknown fields pass through, optional fields
 * default) so a newer server keeps working with an older client. The server's own, closed
 * schemas are in shared/api/schemas.ts and its GET /openapi.json.
 */

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

export const LogsSchema = z.looseObject({ logs: z.string() });

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
export const ServiceLogsSchema = z.looseObject({ entries: z.array(ServiceLogEntrySchema) });

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
  /** Revisions that served the agent, oldest first: what a rollback may name as target_revision. */
  good_revisions: z.array(z.looseObject({ revision: z.string(), deployment_id: z.string() })).default([]),
  deployment_id: z.string().nullable().default(null),
  traffic: z
    .array(z.looseObject({ revision: z.string().optional(), percent: z.number().optional(), tag: z.string().nullish() }))
    .default([]),
  latest_ready_revision: z.string().nullable().default(null),
  updated_at: z.string().nullable().default(null),
  /** Set by a manual rollback: deployments are refused until one says unpin. */
  pinned: z.boolean().default(false),
  pin: z.looseObject({ rollback_id: z.string(), revision: z.string(), reason: z.string(), pinned_at: z.string() }).nullable().default(null),
});
export type ServiceView = z.infer<typeof ServiceViewSchema>;

const PinViewSchema = z.looseObject({ rollback_id: z.string(), revision: z.string(), reason: z.string(), pinned_at: z.string() });

export const UnpinResultSchema = z.looseObject({
  agent_id: z.string(),
  pinned: z.boolean(),
  unpinned: PinViewSchema.nullable().default(null),
});
export type UnpinResult = z.infer<typeof UnpinResultSchema>;

/** One entry of an agent's audit trail (GET /services/{agent_id}/history): a state change or an operator action. */
export const HistoryEntryViewSchema = z.looseObject({
  id: z.string(),
  at: z.string(),
  agent_id: z.string(),
  deployment_id: z.string().nullable().default(null),
  event: z.string(),
  from: StatusSchema.nullable().default(null),
  to: StatusSchema.nullable().default(null),
  action: z.string().nullable().default(null),
  by: z.string().nullable().default(null),
  detail: z.string().nullable().default(null),
});
export type HistoryEntryView = z.infer<typeof HistoryEntryViewSchema>;
export const HistorySchema = z.looseObject({ agent_id: z.string(), history: z.array(HistoryEntryViewSchema) });

export const ServiceListSchema = z.looseObject({
  services: z.array(
    z.looseObject({
      agent_id: z.string(),
      status: z.string(),
      url: z.string().nullable().default(null),
      serving_revision: z.string().nullable().default(null),
      pinned: z.boolean().default(false),
      pin: PinViewSchema.nullable().default(null),
    }),
  ),
});
export type ServiceList = z.infer<typeof ServiceListSchema>;

const num = z.number().nullable().default(null);

/** One point of GET /metrics' series: what ended in the hour or day from `start` (seconds). */
export const MetricsPointSchema = z.looseObject({
  start: z.string(),
  total: z.number(),
  successful: z.number(),
  failed: z.number(),
  rolled_back: z.number().default(0),
  cancelled: z.number().default(0),
  success_rate: z.number(),
  p50_deployment_time: num,
  p95_deployment_time: num,
  stages: z.record(z.string(), z.looseObject({ count: z.number(), p50: num, p95: num })).optional(),
});
export type MetricsPoint = z.infer<typeof MetricsPointSchema>;

/** GET /metrics: seed 004's totals for the window, per stage, and the same window over time. */
export const MetricsSchema = z.looseObject({
  metrics: z.looseObject({
    total_deployments: z.number(),
    successful_deployments: z.number(),
    failed_deployments: z.number(),
    rolled_back_deployments: z.number().default(0),
    cancelled_deployments: z.number().default(0),
    success_rate: z.number(),
    average_deployment_time: num,
    p50_deployment_time: num,
    p95_deployment_time: num,
    deployment_frequency: z.number().default(0),
    active_deployments: z.number().default(0),
    last_updated: z.string().optional(),
    stages: z.record(z.string(), z.looseObject({ count: z.number(), average: num, p50: num, p95: num })).default({}),
    window: z.looseObject({ from: z.string(), to: z.string() }).optional(),
  }),
  series: z.looseObject({ resolution: z.string(), points: z.array(MetricsPointSchema) }).default({ resolution: 'day', points: [] }),
  filters: z.looseObject({ agent_id: z.string().nullable().default(null), environment: z.string().nullable().default(null) }).optional(),
});
export type Metrics = z.infer<typeof MetricsSchema>;

export interface MetricsQuery {
  agent_id?: string;
  environment?: string;
  /** The window's first and last UTC day (YYYY-MM-DD or a timestamp); default the last 30 days. */
  from?: string;
  to?: string;
  /** The series' points; default hour for a window of up to 7 days, else day. */
  resolution?: 'hour' | 'day';
}

export const EnvironmentsSchema = z.looseObject({
  environments: z.record(
    z.string(),
    z.looseObject({
      description: z.string().default(''),
      resource_requirements: z.looseObject({ memory_mb: z.number(), cpu_cores: z.number() }).optional(),
      validation_level: z.string().optional(),
      monitoring_level: z.string().optional(),
      test_types: z.array(z.string()).default([]),
    }),
  ),
  default_environment: z.string(),
});
export type Environments = z.infer<typeof EnvironmentsSchema>;
