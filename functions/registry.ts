import { QUEUES, type Queue, TOPICS, type Topic } from '../shared/domain/topics.js';
import { build } from './build/index.js';
import { buildEvents } from './build-events/index.js';
import { canaryStep } from './canary-step/index.js';
import { deadLetter } from './dead-letter/index.js';
import { deploy } from './deploy/index.js';
import type { EventFunction } from './lib/pubsub-event.js';
import type { TaskFunction } from './lib/task.js';
import { prepareSource } from './prepare-source/index.js';
import { promote } from './promote/index.js';
import { rollback } from './rollback/index.js';
import { validate } from './validate/index.js';
import { verify } from './verify/index.js';
import { watchdog } from './watchdog/index.js';

/** Every Pub/Sub-triggered function and its topic: the local stack subscribes these, Terraform declares them. */
export const EVENT_FUNCTIONS: Readonly<Record<string, { topic: Topic; handle: EventFunction }>> = {
  validate: { topic: TOPICS.deploymentRequested, handle: validate },
  'prepare-source': { topic: TOPICS.deploymentValidated, handle: prepareSource },
  build: { topic: TOPICS.deploymentPrepared, handle: build },
  'build-events': { topic: TOPICS.cloudBuilds, handle: buildEvents },
  deploy: { topic: TOPICS.deploymentBuilt, handle: deploy },
  promote: { topic: TOPICS.deploymentVerified, handle: promote },
  rollback: { topic: TOPICS.rollbackRequested, handle: rollback },
  'dead-letter': { topic: TOPICS.deadLetter, handle: deadLetter },
};

/** Every Cloud Tasks-triggered function and its queue. */
export const TASK_FUNCTIONS: Readonly<Record<string, { queue: Queue; handle: TaskFunction }>> = {
  verify: { queue: QUEUES.verifyPoll, handle: verify },
  'canary-step': { queue: QUEUES.promoteStep, handle: canaryStep },
};

/** Functions fired by Cloud Scheduler (unix cron, one-minute minimum). */
export const SCHEDULED_FUNCTIONS = {
  watchdog: { schedule: '* * * * *', handle: watchdog },
} as const;
