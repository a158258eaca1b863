import { ApprovalCheckTaskSchema } from '../../shared/domain/events.js';
import { approvalCheck as check } from '../../shared/pipeline/approval-check.js';
import { taskFunction } from '../lib/task.js';

/** Trigger: Cloud Tasks queue baton-approval-check. A wait for approval at its deadline, after a rejection or a cancel. */
export const approvalCheck = taskFunction('approval-check', ApprovalCheckTaskSchema, check);
