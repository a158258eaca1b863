import { z } from 'zod';
import type { DeployEndpointSchema, UpdateEndpointSchema } from '../../../shared/domain/endpoint.js';

/**
 * Deployed designs (the endpoints API of designs.md, seed 002's paths): what the client reads,
 * lenient like the other response schemas, and the request types from the server's own schemas.
 */
export type DeployDesignRequest = z.input<typeof DeployEndpointSchema>;
export type UpdateDesignRequest = z.input<typeof UpdateEndpointSchema>;

export const DesignEndpointSchema = z.looseObject({
  id: z.string(),
  design_id: z.string(),
  design_name: z.string(),
  endpoint_path: z.string(),
  status: z.enum(['active', 'inactive']),
  schedule: z
    .looseObject({ enabled: z.boolean().optional(), cron_expression: z.string().optional(), timezone: z.string().optional() })
    .nullable()
    .default(null),
  created_at: z.string(),
  updated_at: z.string(),
  last_execution_at: z.string().nullable().default(null),
  execution_count: z.number().default(0),
  endpoint_url: z.string(),
  auth: z.looseObject({ type: z.string() }).optional(),
  deadline_ms: z.number().optional(),
  design: z.unknown(),
  /** Only in the answer to a deploy (or a key rotation): shown once. */
  api_key: z.string().optional(),
});
export type DesignEndpoint = z.infer<typeof DesignEndpointSchema>;

export const DesignEndpointListSchema = z.looseObject({
  deployments: z.array(DesignEndpointSchema),
  next_cursor: z.string().nullable().default(null),
});

export const ExecutionSchema = z.looseObject({
  id: z.string().optional(),
  execution_id: z.string(),
  status: z.string(),
  trigger_type: z.string().optional(),
  input_data: z.unknown().optional(),
  result_data: z.unknown().optional(),
  error: z.string().optional(),
  termination_reason: z.string().optional(),
  started_at: z.string().optional(),
  completed_at: z.string().nullable().optional(),
  duration_ms: z.number().nullable().optional(),
  log_url: z.string().optional(),
});
export type Execution = z.infer<typeof ExecutionSchema>;

export const ExecutionListSchema = z.looseObject({ logs: z.array(ExecutionSchema), next_cursor: z.string().nullable().default(null) });
export type ExecutionList = z.infer<typeof ExecutionListSchema>;

export const ExecutionWithStepsSchema = ExecutionSchema.extend({ steps: z.array(z.looseObject({})).default([]) });
export type ExecutionWithSteps = z.infer<typeof ExecutionWithStepsSchema>;

export const KeyRotationSchema = z.looseObject({ api_key: z.string(), key_id: z.string(), deployment: DesignEndpointSchema });

export interface ExecutionQuery {
  status?: string;
  trigger_type?: 'manual' | 'scheduled' | 'api';
  from?: string;
  to?: string;
  limit?: number;
  cursor?: string;
}
