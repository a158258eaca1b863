import { VerifyPollTaskSchema } from '../../shared/domain/events.js';
import { verifyRevision } from '../../shared/pipeline/verify.js';
import { taskFunction } from '../lib/task.js';

/** Trigger: Cloud Tasks queue baton-verify-poll. One readiness/health poll of the new revision. */
export const verify = taskFunction('verify', VerifyPollTaskSchema, verifyRevision);
