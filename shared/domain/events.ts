import { z } from 'zod';
import { EVENT_NAMES, type EventName } from './pipeline.js';

/**
 * Every message between stages is one of these versioned envelopes. The idempotency key is
 * deterministic (deployment + event type), so a re-publish after a crash is the same event.
 */
export const EVENT_TYPES: readonly EventName[] = EVENT_NAMES;
export type EventType = EventName;

/** Derived from the pipeline table: the events its triggers carry. */
export const StageEventSchema = z.object({
  type: z.enum(EVENT_TYPES as [EventType, ...EventType[]]),
  deployment_id: z.string().min(1),
  attempt: z.number().int().min(1).default(1),
  idempotency_key: z.string().min(1),
  emitted_at: z.string(),
});
export type StageEvent = z.infer<typeof StageEventSchema>;

export function stageEvent(type: EventType, deploymentId: string, now: string): StageEvent {
  return {
    type,
    deployment_id: deploymentId,
    attempt: 1,
    idempotency_key: `${deploymentId}:${type}`,
    emitted_at: now,
  };
}

/** Payloads of Cloud Tasks (the poll and step tasks), versioned the same way. */
export const VerifyPollTaskSchema = z.object({
  type: z.literal('verify.poll.v1'),
  deployment_id: z.string().min(1),
  attempt: z.number().int().min(1),
});
/**
 * A check of canary step `step`'s window (the step is 1-based; its percent is steps[step - 1]):
 * each window is analysed every canary_check_ms, one task per check; the last check of the window
 * moves traffic to steps[step]. A task without `check` (from before checks) is the first.
 */
export const PromoteStepTaskSchema = z.object({
  type: z.literal('promote.step.v1'),
  deployment_id: z.string().min(1),
  step: z.number().int().min(0),
  check: z.number().int().min(1).default(1),
});
/** One slice of a load test against the candidate revision. */
export const TestSliceTaskSchema = z.object({
  type: z.literal('test.slice.v1'),
  deployment_id: z.string().min(1),
  slice: z.number().int().min(1),
});
/**
 * A wait for approval to look at again: at its deadline, after a rejection, after a cancel. The
 * job says what happened (its approval, cancel_requested); the task only wakes the stage.
 */
export const ApprovalCheckTaskSchema = z.object({
  type: z.literal('approval.check.v1'),
  deployment_id: z.string().min(1),
  reason: z.enum(['deadline', 'rejected', 'cancel']),
});
/** A check, after the rollback moved traffic, that Cloud Run serves the restored split. */
export const RollbackPollTaskSchema = z.object({
  type: z.literal('rollback.poll.v1'),
  deployment_id: z.string().min(1),
  /** Which attempt at the rollback this poll belongs to: a takeover starts a new round of polls. */
  round: z.string().regex(/^[A-Za-z0-9-]{1,36}$/),
  attempt: z.number().int().min(1),
  /** The split the rollback asked for: what the runtime must report before anything is removed. */
  traffic: z.array(z.object({ revision: z.string().min(1), percent: z.number().int().min(0).max(100), tag: z.string().optional() })),
});
/** A read of a running build's log (Cloud Build's log object), from the offset the job records. */
export const BuildLogTaskSchema = z.object({
  type: z.literal('build.log.v1'),
  deployment_id: z.string().min(1),
  build_id: z.string().min(1),
  poll: z.number().int().min(1),
});
export type BuildLogTask = z.infer<typeof BuildLogTaskSchema>;
export type VerifyPollTask = z.infer<typeof VerifyPollTaskSchema>;
export type RollbackPollTask = z.infer<typeof RollbackPollTaskSchema>;
export type PromoteStepTask = z.infer<typeof PromoteStepTaskSchema>;
export type TestSliceTask = z.infer<typeof TestSliceTaskSchema>;
export type ApprovalCheckTask = z.infer<typeof ApprovalCheckTaskSchema>;

/** The Cloud Build resource as a build notification carries it (the fields Baton reads). */
export const BUILD_TERMINAL_STATUSES = ['SUCCESS', 'FAILURE', 'INTERNAL_ERROR', 'TIMEOUT', 'CANCELLED', 'EXPIRED'] as const;
export const BuildStatusSchema = z.enum(['STATUS_UNKNOWN', 'PENDING', 'QUEUED', 'WORKING', ...BUILD_TERMINAL_STATUSES]);
export type BuildStatus = z.infer<typeof BuildStatusSchema>;

export const BuildNotificationSchema = z.object({
  id: z.string().min(1),
  status: BuildStatusSchema,
  tags: z.array(z.string()).default([]),
  substitutions: z.record(z.string(), z.string()).default({}),
  logUrl: z.string().optional(),
  failureInfo: z.object({ type: z.string().optional(), detail: z.string().optional() }).optional(),
  statusDetail: z.string().optional(),
  results: z
    .object({
      images: z.array(z.object({ name: z.string(), digest: z.string() })).default([]),
      /** What each step wrote to $BUILDER_OUTPUT/output (first 4 KB), base64, in step order. */
      buildStepOutputs: z.array(z.string()).optional(),
    })
    .optional(),
  createTime: z.string().optional(),
  finishTime: z.string().optional(),
});
export type BuildNotification = z.infer<typeof BuildNotificationSchema>;

export const BUILD_TAG_PREFIX = 'baton-';

/** The line a build's fetch step writes into $BUILDER_OUTPUT/output (results.buildStepOutputs): the commit it checked out. */
export const COMMIT_MARKER = 'baton-commit=';

/** The commit a fetch step recorded: `baton-commit=<sha>` in one of the build's step outputs (base64: the API's bytes). */
export function commitFromStepOutputs(outputs: readonly string[] | undefined): string | null {
  for (const output of outputs ?? []) {
    const text = Buffer.from(output, 'base64').toString('utf8');
    const m = new RegExp(`^${COMMIT_MARKER}([0-9a-f]{40}|[0-9a-f]{64})\\s*$`, 'm').exec(text);
    if (m) return m[1];
  }
  return null;
}

export function buildTag(deploymentId: string): string {
  return `${BUILD_TAG_PREFIX}${deploymentId}`.slice(0, 128);
}
