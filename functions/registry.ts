import { ALL_FUNCTIONS, type EventFunctionName, type ScheduledFunctionName, type TaskFunctionName } from '../shared/domain/pipeline.js';
import type { Queue, Topic } from '../shared/domain/topics.js';
import type { PipelineDeps } from '../shared/pipeline/deps.js';
import { approvalCheck } from './approval-check/index.js';
import { approvalGate } from './approval-gate/index.js';
import { build } from './build/index.js';
import { buildEvents } from './build-events/index.js';
import { buildLog } from './build-log/index.js';
import { canaryStep } from './canary-step/index.js';
import { deadLetter } from './dead-letter/index.js';
import { deploy } from './deploy/index.js';
import { designRun } from './design-run/index.js';
import { designsSweep } from './designs-sweep/index.js';
import type { EventFunction } from './lib/pubsub-event.js';
import type { TaskFunction } from './lib/task.js';
import { prepareSource } from './prepare-source/index.js';
import { promote } from './promote/index.js';
import { rollback } from './rollback/index.js';
import { rollbackCheck } from './rollback-check/index.js';
import { testCandidateFn } from './test-candidate/index.js';
import { testSliceFn } from './test-slice/index.js';
import { validate } from './validate/index.js';
import { verify } from './verify/index.js';
import { watchdog } from './watchdog/index.js';

/**
 * The handler of every function of the pipeline table (shared/domain/pipeline.ts); triggers come
 * from the table. A function added to the table without a handler here does not compile.
 */
const EVENT_HANDLERS: Readonly<Record<EventFunctionName, EventFunction>> = {
  validate,
  'prepare-source': prepareSource,
  build,
  'build-events': buildEvents,
  deploy,
  'test-candidate': testCandidateFn,
  'approval-gate': approvalGate,
  promote,
  rollback,
  'dead-letter': deadLetter,
};
const TASK_HANDLERS: Readonly<Record<TaskFunctionName, TaskFunction>> = {
  'build-log': buildLog,
  verify,
  'test-slice': testSliceFn,
  'approval-check': approvalCheck,
  'canary-step': canaryStep,
  'rollback-check': rollbackCheck,
  'design-run': designRun,
};
const SCHEDULED_HANDLERS: Readonly<Record<ScheduledFunctionName, (deps: PipelineDeps) => Promise<void>>> = {
  watchdog,
  'designs-sweep': designsSweep,
};

function triggered<K extends 'topic' | 'queue' | 'schedule', N extends string, H>(key: K, handlers: Readonly<Record<N, H>>) {
  const out: Record<string, Record<K, string> & { handle: H }> = {};
  for (const f of ALL_FUNCTIONS) {
    if (!(key in f.trigger)) continue;
    const handle = handlers[f.name as N];
    if (!handle) throw new Error(`functions/registry.ts: no handler for ${f.name}`);
    out[f.name] = { [key]: (f.trigger as Record<K, string>)[key], handle } as Record<K, string> & { handle: H };
  }
  return out;
}

/** Every Pub/Sub-triggered function and its topic: the local stack subscribes these, Terraform declares them. */
export const EVENT_FUNCTIONS: Readonly<Record<string, { topic: Topic; handle: EventFunction }>> = triggered(
  'topic',
  EVENT_HANDLERS,
) as Record<string, { topic: Topic; handle: EventFunction }>;

/** Every Cloud Tasks-triggered function and its queue. */
export const TASK_FUNCTIONS: Readonly<Record<string, { queue: Queue; handle: TaskFunction }>> = triggered('queue', TASK_HANDLERS) as Record<
  string,
  { queue: Queue; handle: TaskFunction }
>;

/** Functions fired by Cloud Scheduler (unix cron, one-minute minimum). */
export const SCHEDULED_FUNCTIONS = triggered('schedule', SCHEDULED_HANDLERS) as Record<
  ScheduledFunctionName,
  { schedule: string; handle: (deps: PipelineDeps) => Promise<void> }
>;
