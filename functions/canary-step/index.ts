import { PromoteStepTaskSchema } from '../../shared/domain/events.js';
import { canaryStep as useCase } from '../../shared/pipeline/promote.js';
import { taskFunction } from '../lib/task.js';

/** Trigger: Cloud Tasks queue baton-promote-step. The next canary step after its watch window. */
export const canaryStep = taskFunction('canary-step', PromoteStepTaskSchema, useCase);
