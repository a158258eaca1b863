import { describe, expect, it } from 'vitest';
import { EVENT_FUNCTIONS, TASK_FUNCTIONS } from '../../functions/registry.js';
import { EVENT_TYPES, type EventType } from '../../shared/domain/events.js';
import { type FunctionDef, PIPELINE, progressAt, stageOfQueue, tableProblems, terraformPipeline } from '../../shared/domain/pipeline.js';
import {
  CANCELLABLE,
  canTransition,
  entryStatuses,
  FINAL_STATUSES,
  isFinal,
  previousStatus,
  STAGE_PROGRESS,
  STAGE_STEP,
  STAGES,
  STATUSES,
  type Status,
  StatusSchema,
  TRANSITIONS,
  UNTIMED_STAGES,
} from '../../shared/domain/status.js';
import { QUEUES, type Queue, SUBSCRIPTIONS, TOPIC_OF_EVENT, TOPICS, type Topic } from '../../shared/domain/topics.js';
import { emitsWhenDone } from '../../shared/pipeline/stage-runner.js';

/** The legal transitions, written out once more by hand: the table in the code must equal it. */
const EXPECTED: Record<Status, Status[]> = {
  queued: ['validating', 'rolling_back', 'failed', 'cancelled'],
  validating: ['preparing', 'failed', 'cancelled'],
  preparing: ['building', 'failed', 'cancelled'],
  building: ['deploying', 'failed', 'cancelled'],
  deploying: ['verifying', 'rolling_back', 'failed', 'cancelled'],
  verifying: ['testing', 'rolling_back', 'failed', 'cancelled'],
  // Approval is optional: a deployment that needs none goes from testing straight to promoting.
  testing: ['awaiting_approval', 'promoting', 'rolling_back', 'failed', 'cancelled'],
  awaiting_approval: ['promoting', 'rolling_back', 'failed', 'cancelled'],
  promoting: ['completed', 'rolling_back', 'failed'],
  completed: ['rolling_back'],
  rolling_back: ['rolled_back', 'failed'],
  failed: [],
  rolled_back: [],
  cancelled: [],
};

describe('the state machine', () => {
  it.each(STATUSES.flatMap((from) => STATUSES.map((to) => [from, to] as const)))('%s -> %s is legal only if listed', (from, to) => {
    expect(canTransition(from, to)).toBe(EXPECTED[from].includes(to));
  });

  it('has an entry for every status and names only known statuses', () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...STATUSES].sort());
    for (const targets of Object.values(TRANSITIONS)) for (const t of targets) expect(STATUSES).toContain(t);
  });

  it('runs the happy path in order', () => {
    const path: Status[] = ['queued', ...STAGES, 'completed'];
    for (let i = 1; i < path.length; i++) expect(canTransition(path[i - 1], path[i]), `${path[i - 1]} -> ${path[i]}`).toBe(true);
    for (const stage of STAGES) expect(path[path.indexOf(stage) - 1]).toBe(previousStatus(stage));
  });

  it('enters each stage from the one before, and promoting also from testing when no approval is needed', () => {
    for (const stage of STAGES)
      expect(entryStatuses(stage)).toEqual(stage === 'promoting' ? ['awaiting_approval', 'testing'] : [previousStatus(stage)]);
    expect(UNTIMED_STAGES).toEqual(['awaiting_approval']);
  });

  it('reaches every status from queued', () => {
    const seen = new Set<Status>(['queued']);
    const queue: Status[] = ['queued'];
    while (queue.length > 0) {
      const s = queue.shift() as Status;
      for (const n of TRANSITIONS[s]) if (!seen.has(n)) queue.push(n) && seen.add(n);
    }
    expect([...seen].sort()).toEqual([...STATUSES].sort());
  });

  it('lets every running stage fail, and cancels only before traffic moves', () => {
    for (const stage of STAGES) expect(canTransition(stage, 'failed')).toBe(true);
    expect(STAGES.filter((s) => canTransition(s, 'cancelled'))).toEqual([
      'validating',
      'preparing',
      'building',
      'deploying',
      'verifying',
      'testing',
      'awaiting_approval',
    ]);
  });

  it('ends only in final statuses, which only a manual rollback of a completed deployment leaves', () => {
    expect([...FINAL_STATUSES].sort()).toEqual(['cancelled', 'completed', 'failed', 'rolled_back']);
    for (const s of STATUSES) expect(isFinal(s)).toBe(FINAL_STATUSES.includes(s));
    for (const s of FINAL_STATUSES) expect(TRANSITIONS[s]).toEqual(s === 'completed' ? ['rolling_back'] : []);
  });

  it('gives progress that never goes backwards from stage to stage', () => {
    let last = 0;
    for (const stage of STAGES) {
      const [start, end] = STAGE_PROGRESS[stage];
      expect(start).toBeGreaterThanOrEqual(last);
      expect(end).toBeGreaterThanOrEqual(start);
      last = end;
    }
    expect(last).toBe(100);
  });
});

describe('the pipeline table (shared/domain/pipeline.ts) and what derives from it', () => {
  it('has no problems: unique functions and triggers, emitted events that trigger something, progress in order', () => {
    expect(tableProblems()).toEqual([]);
  });

  it('derives the statuses, stages, step labels, progress and cancellability from the table', () => {
    expect([...STATUSES].sort()).toEqual(
      [...PIPELINE.map((s) => s.status), 'queued', 'completed', 'failed', 'rolled_back', 'cancelled'].sort(),
    );
    expect(STAGES).toEqual(PIPELINE.filter((s) => s.path === 'forward').map((s) => s.status));
    for (const s of PIPELINE) {
      expect(STAGE_PROGRESS[s.status]).toEqual(s.progress);
      expect(STAGE_STEP[s.status]).toBe(s.step);
      expect(CANCELLABLE.includes(s.status), s.status).toBe(s.cancellable);
      expect(canTransition(s.status, 'cancelled'), s.status).toBe(s.cancellable);
      if (s.path === 'forward') expect(canTransition(s.status, 'rolling_back'), s.status).toBe(s.rolls_back);
    }
    expect(StatusSchema.options).toEqual([...STATUSES]);
  });

  it('derives every event, topic, queue and subscription, and the registry, from the triggers', () => {
    const triggers = PIPELINE.flatMap((s) => s.functions as readonly FunctionDef[]);
    for (const f of triggers) {
      const t = f.trigger;
      if ('topic' in t) {
        expect(SUBSCRIPTIONS[t.topic as Topic]).toBe(f.name);
        expect(EVENT_FUNCTIONS[f.name]?.topic).toBe(t.topic);
        expect(Object.values(TOPICS)).toContain(t.topic);
        if (t.event) expect([EVENT_TYPES.includes(t.event as EventType), TOPIC_OF_EVENT[t.event as EventType]]).toEqual([true, t.topic]);
      }
      if ('queue' in t) {
        expect(SUBSCRIPTIONS[t.queue as Queue]).toBe(f.name);
        expect(TASK_FUNCTIONS[f.name]?.queue).toBe(t.queue);
        expect(Object.values(QUEUES)).toContain(t.queue);
      }
    }
    expect(Object.keys(TOPIC_OF_EVENT).sort()).toEqual([...EVENT_TYPES].sort());
    expect(terraformPipeline().task_functions).toEqual(Object.fromEntries(Object.entries(TASK_FUNCTIONS).map(([n, f]) => [n, f.queue])));
    expect(terraformPipeline().event_functions).toEqual(Object.fromEntries(Object.entries(EVENT_FUNCTIONS).map(([n, f]) => [n, f.topic])));
  });

  it('names topics and queues in code by their table names (baton-rollback-poll → QUEUES.rollbackPoll)', () => {
    expect(QUEUES).toEqual({
      buildLog: 'baton-build-log',
      verifyPoll: 'baton-verify-poll',
      testSlice: 'baton-test-slice',
      approvalCheck: 'baton-approval-check',
      promoteStep: 'baton-promote-step',
      rollbackPoll: 'baton-rollback-poll',
      designRun: 'baton-design-run',
    });
    expect(TOPICS.deploymentRequested).toBe('baton-deployment-requested');
    expect(TOPICS.builds).toBe('baton-builds');
    expect(TOPICS.deadLetter).toBe('baton-dead-letter');
  });

  it('hands each stage on with the event the table names, and fails a task that gives up in the stage that owns its queue', () => {
    for (const s of PIPELINE) expect(emitsWhenDone(s.status)).toEqual(s.emits ? { kind: 'event', type: s.emits } : { kind: 'none' });
    expect(stageOfQueue(QUEUES.verifyPoll)).toBe('verifying');
    expect(stageOfQueue(QUEUES.testSlice)).toBe('testing');
    expect(stageOfQueue(QUEUES.approvalCheck)).toBe('awaiting_approval');
    expect(stageOfQueue(QUEUES.promoteStep)).toBe('promoting');
    expect(stageOfQueue(QUEUES.rollbackPoll)).toBe('rolling_back');
    expect(progressAt('promoting', 0.45)).toBe(95);
  });
});
