import { z } from 'zod';

/** Every status a job can be in. Pipeline order matters: see PIPELINE_ORDER. */
export const STATUSES = [
  'queued',
  'validating',
  'preparing',
  'building',
  'deploying',
  'verifying',
  'promoting',
  'completed',
  'failed',
  'rolling_back',
  'rolled_back',
  'cancelled',
] as const;

export const StatusSchema = z.enum(STATUSES);
export type Status = z.infer<typeof StatusSchema>;

/** The stages that do work, in the order a deployment runs them. */
export const STAGES = ['validating', 'preparing', 'building', 'deploying', 'verifying', 'promoting'] as const;
export const StageSchema = z.enum([...STAGES, 'rolling_back']);
export type Stage = z.infer<typeof StageSchema>;
export type PipelineStage = (typeof STAGES)[number];

/**
 * The legal transitions, as data. Any running stage may fail or be cancelled at its boundary;
 * once a revision exists (deploying onwards) a failure can roll back instead; a completed
 * deployment can be rolled back by hand; a rollback job starts queued and goes straight to
 * rolling_back.
 */
export const TRANSITIONS: Readonly<Record<Status, readonly Status[]>> = {
  queued: ['validating', 'rolling_back', 'failed', 'cancelled'],
  validating: ['preparing', 'failed', 'cancelled'],
  preparing: ['building', 'failed', 'cancelled'],
  building: ['deploying', 'failed', 'cancelled'],
  deploying: ['verifying', 'rolling_back', 'failed', 'cancelled'],
  verifying: ['promoting', 'rolling_back', 'failed', 'cancelled'],
  promoting: ['completed', 'rolling_back', 'failed'],
  completed: ['rolling_back'],
  rolling_back: ['rolled_back', 'failed'],
  failed: [],
  rolled_back: [],
  cancelled: [],
};

export function canTransition(from: Status, to: Status): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Statuses after which a client stops following a job. */
export const FINAL_STATUSES: readonly Status[] = ['completed', 'failed', 'rolled_back', 'cancelled'];

export function isFinal(status: Status): boolean {
  return FINAL_STATUSES.includes(status);
}

/** The stage that must have finished before `stage` may start. */
export function previousStatus(stage: PipelineStage): Status {
  const i = STAGES.indexOf(stage);
  return i === 0 ? 'queued' : STAGES[i - 1];
}

/** Nominal progress (0–100) when a stage starts and when it ends. */
export const STAGE_PROGRESS: Readonly<Record<Stage, readonly [number, number]>> = {
  validating: [5, 10],
  preparing: [10, 20],
  building: [20, 60],
  deploying: [60, 75],
  verifying: [75, 90],
  promoting: [90, 100],
  rolling_back: [50, 100],
};

export const STAGE_STEP: Readonly<Record<Stage, string>> = {
  validating: 'Validating configuration',
  preparing: 'Preparing source',
  building: 'Building',
  deploying: 'Deploying new revision with no traffic',
  verifying: 'Verifying the new revision',
  promoting: 'Shifting traffic',
  rolling_back: 'Rolling back traffic',
};
