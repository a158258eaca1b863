import { RollbackPollTaskSchema } from '../../shared/domain/events.js';
import { checkRollback } from '../../shared/pipeline/rollback.js';
import { taskFunction } from '../lib/task.js';

/** Trigger: Cloud Tasks queue baton-rollback-poll. Has Cloud Run applied the restored split? Then remove the failed revision. */
export const rollbackCheck = taskFunction('rollback-check', RollbackPollTaskSchema, checkRollback);
