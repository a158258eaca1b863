import { z } from 'zod';
import { RequestError } from './errors.js';
import type { Preview } from './preview.js';

/**
 * A deployed design — an **endpoint** — and its execution logs, in seed 002's wire shape
 * (shared/designs.md, "Endpoints"). Seed 002 calls an endpoint a "deployment" and serves it at
 * /api/deployments; Baton's own service deployments stay at /deployments. Pure.
 */

const Iso = z.string();

export const EndpointPathSchema = z
  .string()
  .max(200)
  .transform((p) => (p.startsWith('/') ? p : `/${p}`))
  .pipe(
    z
      .string()
      .regex(
        /^(\/[a-z0-9][a-z0-9_-]{0,62}){1,5}$/,
        'an endpoint_path is 1-5 segments of lower-case letters, digits, "_" and "-", e.g. "/my-analysis"',
      ),
  );

export const ScheduleSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    cron_expression: z.string().max(200).optional(),
    interval_seconds: z.number().int().positive().optional(),
    timezone: z.string().max(100).default('UTC'),
  })
  .refine((s) => !(s.cron_expression !== undefined && s.interval_seconds !== undefined), {
    message: 'give cron_expression or interval_seconds, not both',
    path: ['interval_seconds'],
  })
  .refine((s) => !s.enabled || s.cron_expression !== undefined || s.interval_seconds !== undefined, {
    message: 'an enabled schedule needs cron_expression (five fields) or interval_seconds',
    path: ['cron_expression'],
  });
export type Schedule = z.infer<typeof ScheduleSchema>;

export const RateLimitSchema = z.strictObject({ requests_per_minute: z.number().int().min(1).max(100_000) });
export type RateLimit = z.infer<typeof RateLimitSchema>;

export const AuthSchema = z.strictObject({ type: z.enum(['api_key', 'none']) });

/** The sync deadline of POST /api/deployed/{path}: the endpoint's, default 60 s. */
export const DEFAULT_DEADLINE_MS = 60_000;
export const MAX_DEADLINE_MS = 300_000;
export const DEFAULT_RATE_LIMIT: RateLimit = { requests_per_minute: 120 };

/** POST /api/deployments */
export const DeployEndpointSchema = z.strictObject({
  design: z.unknown().refine((d) => d !== undefined, 'a design is required'),
  design_name: z.string().min(1).max(200).optional(),
  design_id: z.string().min(1).max(200).optional(),
  endpoint_path: EndpointPathSchema,
  status: z.enum(['active', 'inactive']).default('active'),
  schedule: ScheduleSchema.optional(),
  input_schema: z.record(z.string(), z.unknown()).optional(),
  rate_limit: RateLimitSchema.optional(),
  auth: AuthSchema.optional(),
  deadline_ms: z.number().int().min(100).max(MAX_DEADLINE_MS).optional(),
});

/** PUT /api/deployments/{id}: any of these; the rest stays. */
export const UpdateEndpointSchema = z.strictObject({
  design: z.unknown().optional(),
  design_name: z.string().min(1).max(200).optional(),
  status: z.enum(['active', 'inactive']).optional(),
  schedule: ScheduleSchema.nullable().optional(),
  input_schema: z.record(z.string(), z.unknown()).nullable().optional(),
  rate_limit: RateLimitSchema.optional(),
  auth: AuthSchema.optional(),
  deadline_ms: z.number().int().min(100).max(MAX_DEADLINE_MS).optional(),
});

export const ApiKeyRecordSchema = z.object({
  key_id: z.string(),
  /** sha256 of the whole key (keys are 192 random bits: a slow hash buys nothing). */
  sha256: z.string(),
  created_at: Iso,
  /** A rotated-out key stays valid until then (the grace the rotation asked for). */
  expires_at: Iso.nullable(),
});
export type ApiKeyRecord = z.infer<typeof ApiKeyRecordSchema>;

/** The stored endpoint: the public record's fields plus what no client is shown. */
export const EndpointDocSchema = z.object({
  id: z.string(),
  design_id: z.string(),
  design_name: z.string(),
  endpoint_path: z.string(),
  status: z.enum(['active', 'inactive']),
  schedule: z.object({
    enabled: z.boolean(),
    cron_expression: z.string().optional(),
    interval_seconds: z.number().optional(),
    timezone: z.string(),
  }),
  created_at: Iso,
  updated_at: Iso,
  last_execution_at: Iso.nullable(),
  execution_count: z.number().int(),
  design: z.unknown(),
  input_schema: z.record(z.string(), z.unknown()).nullable(),
  rate_limit: RateLimitSchema,
  auth: AuthSchema,
  deadline_ms: z.number().int(),
  api_keys: z.array(ApiKeyRecordSchema),
  /** The scheduled run still going, if any: the next firing is skipped while it runs. */
  running_scheduled: z.string().nullable(),
});
export type EndpointDoc = z.infer<typeof EndpointDocSchema>;

export interface EndpointRecord {
  id: string;
  design_id: string;
  design_name: string;
  endpoint_path: string;
  status: 'active' | 'inactive';
  schedule: EndpointDoc['schedule'];
  created_at: string;
  updated_at: string;
  last_execution_at: string | null;
  execution_count: number;
  endpoint_url: string;
  rate_limit: RateLimit;
  auth: EndpointDoc['auth'];
  deadline_ms: number;
  input_schema: EndpointDoc['input_schema'];
  design: unknown;
  api_key_ids: string[];
}

/** What clients see of an endpoint: never its key hashes. */
export function publicEndpoint(doc: EndpointDoc, baseUrl: string, now: string): EndpointRecord {
  return {
    id: doc.id,
    design_id: doc.design_id,
    design_name: doc.design_name,
    endpoint_path: doc.endpoint_path,
    status: doc.status,
    schedule: doc.schedule,
    created_at: doc.created_at,
    updated_at: doc.updated_at,
    last_execution_at: doc.last_execution_at,
    execution_count: doc.execution_count,
    endpoint_url: `${baseUrl.replace(/\/$/, '')}/api/deployed${doc.endpoint_path}`,
    rate_limit: doc.rate_limit,
    auth: doc.auth,
    deadline_ms: doc.deadline_ms,
    input_schema: doc.input_schema,
    design: doc.design,
    api_key_ids: doc.api_keys.filter((k) => k.expires_at === null || k.expires_at > now).map((k) => k.key_id),
  };
}

export const EXECUTION_STATUSES = ['running', 'completed', 'failed', 'limit_exceeded', 'timeout', 'cancelled', 'skipped'] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];
export const TRIGGER_TYPES = ['manual', 'scheduled', 'api'] as const;
export type TriggerType = (typeof TRIGGER_TYPES)[number];

export function isFinalExecution(s: ExecutionStatus): boolean {
  return s !== 'running';
}

/** An execution log, without its steps (stored apart: one record per attempt). */
export interface ExecutionDoc {
  id: string;
  deployment_id: string;
  execution_id: string;
  status: ExecutionStatus;
  trigger_type: TriggerType;
  input_data: unknown;
  result_data: unknown;
  error?: string;
  termination_reason?: string;
  started_at: string;
  completed_at: string | null;
  duration_ms: number | null;
  /** The input as given (input_data is redacted): what a resumed run runs on. Never shown. */
  run_input: unknown;
  /** The design this run runs (a PUT meanwhile does not change a run under way). */
  design: unknown;
  counters?: { agent_calls: number; retries: number; replayed: number };
  /** A worker's claim on the run while it executes it; a crashed one's lapses. */
  lease_until: string | null;
  scheduled_for?: string;
  input_preview?: Preview;
}

export interface LogQuery {
  deployment_id: string;
  status?: ExecutionStatus;
  trigger_type?: TriggerType;
  /** started_at ≥ from, < to (ISO). */
  from?: string;
  to?: string;
  limit: number;
  cursor?: string;
}

export const LogQuerySchema = z.strictObject({
  status: z.enum(EXECUTION_STATUSES).optional(),
  trigger_type: z.enum(TRIGGER_TYPES).optional(),
  from: z.iso.datetime({ offset: true, error: 'an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z' }).optional(),
  to: z.iso.datetime({ offset: true, error: 'an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z' }).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(512).optional(),
});

export const EndpointListQuerySchema = z.strictObject({
  status: z.enum(['active', 'inactive']).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(512).optional(),
});

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** The public execution log: the doc less the lease and design. */
export function publicExecution(doc: ExecutionDoc): Omit<ExecutionDoc, 'lease_until' | 'design' | 'run_input'> {
  const { lease_until: _l, design: _d, run_input: _i, ...rest } = doc;
  return rest;
}

/** A page cursor: the (timestamp, id) of the last item served. */
export function encodeCursor(at: string, id: string): string {
  return Buffer.from(JSON.stringify([at, id])).toString('base64url');
}

export function decodeCursor(cursor: string): [string, string] {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && typeof v[0] === 'string' && typeof v[1] === 'string') return [v[0], v[1]];
  } catch {
    // not JSON: refused below
  }
  throw new RequestError(
    'invalid',
    'query.cursor: not a cursor this API returned; pass next_cursor from the previous page',
    'query.cursor',
  );
}
