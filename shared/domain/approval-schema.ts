import { z } from 'zod';

/**
 * The approval settings' shapes, apart from approval.ts so that environments.ts and request.ts
 * (which approval.ts reads) can use them without a cycle.
 */

/** A day: a person has the working day to look. */
export const DEFAULT_APPROVAL_TIMEOUT_S = 24 * 3600;
/** A week: a deployment waiting longer holds its agent (nothing else deploys) and its candidate revision for nothing. */
export const MAX_APPROVAL_TIMEOUT_S = 7 * 24 * 3600;
export const MIN_APPROVAL_TIMEOUT_S = 1;

export const ApprovalTimeoutSchema = z
  .number()
  .int()
  .min(MIN_APPROVAL_TIMEOUT_S)
  .max(MAX_APPROVAL_TIMEOUT_S, `must be at most ${MAX_APPROVAL_TIMEOUT_S} (7 days): a waiting deployment holds its agent`);

/** A request's choice: wait for a person, or not (refused where the environment enforces approval). */
export const ApprovalModeSchema = z.enum(['required', 'none']);
export const EnvironmentApprovalSchema = z.enum(['required', 'enforced', 'none']);
