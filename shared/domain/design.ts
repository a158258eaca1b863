import { z } from 'zod';

/**
 * An orchestration design, version 1 (shared/designs.md is the contract): blocks that each call an
 * agent over HTTP, groups that give some of them a pattern, edges between blocks and groups, the
 * node whose output is the run's result, and the run-wide limits. This file is the shape only;
 * the rules that span fields (references, one group per block, acyclicity) are in design-graph.ts.
 * Every loop is bounded here: a bound that is missing or above its ceiling is refused.
 */

export const DESIGN_VERSION = 1;

/** Ceilings on the run-wide limits (designs-notes: run ≤ 900 s, ≤ 500 agent calls). */
export const LIMIT_CEILINGS = {
  run_timeout_ms: 900_000,
  max_agent_calls: 500,
  max_concurrency: 64,
  /** Below Firestore's 1 MiB document limit: a step's recorded output is one document. */
  max_payload_bytes: 1_000_000,
} as const;

export const NodeIdSchema = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'an id is 1-64 letters, digits, "_" or "-", starting with a letter');

/** A dotted path into an agent's JSON answer, e.g. `route` or `verdict.approved`. */
const JsonPathSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'a path is dot-separated keys, e.g. "verdict.approved"')
  .max(200);

export const AgentRefSchema = z.union([
  z.strictObject({
    agent_id: z.string().regex(/^[a-z][a-z0-9-]{0,48}[a-z0-9]$/, 'an agent_id as Baton deploys it: lower case, digits and "-"'),
    path: z
      .string()
      .regex(/^\/[A-Za-z0-9/_.~-]*$/, 'a path starts with "/"')
      .max(500)
      .optional(),
  }),
  z.strictObject({ url: z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }).max(2000) }),
]);

export const RetrySchema = z.strictObject({
  max_attempts: z.number().int().min(1).max(10).default(1),
  initial_backoff_ms: z.number().int().min(0).max(60_000).default(200),
  max_backoff_ms: z.number().int().min(0).max(300_000).default(5_000),
});

export const BlockSchema = z.strictObject({
  id: NodeIdSchema,
  agent: AgentRefSchema,
  timeout_ms: z.number().int().min(1).max(LIMIT_CEILINGS.run_timeout_ms).default(30_000),
  retry: RetrySchema.default({ max_attempts: 1, initial_backoff_ms: 200, max_backoff_ms: 5_000 }),
  on_error: z.enum(['fail', 'skip']).default('fail'),
  /** The block's output when it fails with on_error "skip" (null when absent). */
  fallback_output: z.json().optional(),
});

const bounded = (name: string, max: number) =>
  z
    .number({ error: (i) => (i.input === undefined ? `${name} is required (at most ${max})` : `${name} must be a whole number`) })
    .int()
    .min(1)
    .max(max, `${name} is at most ${max}`);

const members = z.array(NodeIdSchema).min(1);

export const SequentialGroupSchema = z.strictObject({ id: NodeIdSchema, pattern: z.literal('sequential'), blocks: members });

export const ParallelGroupSchema = z.strictObject({
  id: NodeIdSchema,
  pattern: z.literal('parallel'),
  blocks: members,
  reduce: z.enum(['collect', 'merge']).default('collect'),
  mode: z.enum(['all', 'all_settled']).default('all'),
  min_success: z.number().int().min(1).optional(),
  max_concurrency: z.number().int().min(1).max(LIMIT_CEILINGS.max_concurrency).optional(),
});

export const HierarchicalGroupSchema = z.strictObject({
  id: NodeIdSchema,
  pattern: z.literal('hierarchical'),
  manager: NodeIdSchema,
  workers: members,
  max_rounds: bounded('max_rounds', 10).default(3),
});

export const DebateGroupSchema = z.strictObject({
  id: NodeIdSchema,
  pattern: z.literal('debate'),
  debaters: z.array(NodeIdSchema).min(2, 'a debate needs at least 2 debaters'),
  judge: NodeIdSchema.optional(),
  max_rounds: bounded('max_rounds', 5),
  consensus_path: JsonPathSchema.default('consensus'),
  answer_path: JsonPathSchema.default('answer'),
});

export const RoutingGroupSchema = z.strictObject({
  id: NodeIdSchema,
  pattern: z.literal('routing'),
  router: NodeIdSchema,
  route_path: JsonPathSchema.default('route'),
  routes: z.record(z.string().min(1).max(200), NodeIdSchema),
  default: NodeIdSchema.optional(),
});

export const ReflectionGroupSchema = z.strictObject({
  id: NodeIdSchema,
  pattern: z.literal('reflection'),
  generator: NodeIdSchema,
  critic: NodeIdSchema,
  max_iterations: bounded('max_iterations', 10),
  approved_path: JsonPathSchema.default('approved'),
  feedback_path: JsonPathSchema.default('feedback'),
  on_exhausted: z.enum(['return_last', 'fail']).default('return_last'),
});

export const GroupSchema = z.discriminatedUnion('pattern', [
  SequentialGroupSchema,
  ParallelGroupSchema,
  HierarchicalGroupSchema,
  DebateGroupSchema,
  RoutingGroupSchema,
  ReflectionGroupSchema,
]);

export const EdgeSchema = z.strictObject({ from: NodeIdSchema, to: NodeIdSchema });

export const LimitsSchema = z.strictObject({
  run_timeout_ms: z.number().int().min(1).max(LIMIT_CEILINGS.run_timeout_ms).default(60_000),
  max_agent_calls: z.number().int().min(1).max(LIMIT_CEILINGS.max_agent_calls).default(100),
  max_concurrency: z.number().int().min(1).max(LIMIT_CEILINGS.max_concurrency).default(8),
  max_payload_bytes: z.number().int().min(2).max(LIMIT_CEILINGS.max_payload_bytes).default(1_000_000),
});

export const DesignSchema = z.strictObject({
  version: z.literal(DESIGN_VERSION, { error: `version must be ${DESIGN_VERSION}: the only design version this Baton reads` }),
  name: z.string().min(1).max(200),
  blocks: z.array(BlockSchema).min(1, 'a design needs at least one block').max(200),
  groups: z.array(GroupSchema).max(100).default([]),
  edges: z.array(EdgeSchema).max(1000).default([]),
  output: NodeIdSchema,
  limits: LimitsSchema.default({ run_timeout_ms: 60_000, max_agent_calls: 100, max_concurrency: 8, max_payload_bytes: 1_000_000 }),
});

export type Design = z.infer<typeof DesignSchema>;
export type DesignInput = z.input<typeof DesignSchema>;
export type Block = z.infer<typeof BlockSchema>;
export type Group = z.infer<typeof GroupSchema>;
export type AgentRef = z.infer<typeof AgentRefSchema>;
export type Limits = z.infer<typeof LimitsSchema>;
export type Pattern = Group['pattern'];

/** The block ids a group holds, in declaration order (a routing group holds its router only: its routes are nodes of their own). */
export function membersOf(g: Group): string[] {
  switch (g.pattern) {
    case 'sequential':
    case 'parallel':
      return [...g.blocks];
    case 'hierarchical':
      return [g.manager, ...g.workers];
    case 'debate':
      return [...g.debaters, ...(g.judge ? [g.judge] : [])];
    case 'routing':
      return [g.router];
    case 'reflection':
      return [g.generator, g.critic];
  }
}

/** The value at a dotted path of a JSON value, or undefined. */
export function valueAt(value: unknown, path: string): unknown {
  let v: unknown = value;
  for (const key of path.split('.')) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}
