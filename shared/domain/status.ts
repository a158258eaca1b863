import { z } from 'zod';
import { type ForwardStage, PIPELINE, type StageDef, type StageStatus } from './pipeline.js';

/** The statuses around the stages: where a job starts and where it ends. */
type EndStatus = 'completed' | 'failed' | 'rolled_back' | 'cancelled';
export type Status = 'queued' | StageStatus | EndStatus;

const forward = PIPELINE.filter((s) => s.path === 'forward');
const isOptional = (s: StageDef): boolean => s.optional === true;
const recovery = PIPELINE.filter((s) => s.path === 'rollback');

/** Every status a job can be in, derived from the pipeline table (shared/domain/pipeline.ts). Pipeline order matters. */
export const STATUSES: readonly Status[] = [
  'queued',
  ...forward.map((s) => s.status),
  'completed',
  'failed',
  ...recovery.map((s) => s.status),
  'rolled_back',
  'cancelled',
];

export const StatusSchema = z.enum(STATUSES as [Status, ...Status[]]);

/** The stages that do work, in the order a deployment runs them. */
export const STAGES: readonly ForwardStage[] = forward.map((s) => s.status);
export const StageSchema = z.enum(PIPELINE.map((s) => s.status) as [StageStatus, ...StageStatus[]]);
export type Stage = StageStatus;
export type PipelineStage = ForwardStage;

/**
 * The legal transitions, derived from the table. Any running stage may fail, and be cancelled at
 * its boundary where the table says so; once a revision exists (`rolls_back`) a failure can roll
 * back instead; a completed deployment can be rolled back by hand; a rollback job starts queued
 * and goes straight to rolling_back.
 */
export const TRANSITIONS: Readonly<Record<Status, readonly Status[]>> = (() => {
  const t = {} as Record<Status, Status[]>;
  t.queued = [STAGES[0], ...recovery.map((s) => s.status), 'failed', 'cancelled'];
  forward.forEach((s, i) => {
    t[s.status] = [
      i + 1 < forward.length ? forward[i + 1].status : 'completed',
      // An optional stage (approval) the deployment does not need is passed over.
      ...(i + 2 < forward.length && isOptional(forward[i + 1]) ? [forward[i + 2].status] : []),
      ...(s.rolls_back ? recovery.map((r) => r.status) : []),
      'failed',
      ...(s.cancellable ? (['cancelled'] as const) : []),
    ];
  });
  t.completed = recovery.map((s) => s.status);
  for (const r of recovery) t[r.status] = ['rolled_back', 'failed'];
  t.failed = [];
  t.rolled_back = [];
  t.cancelled = [];
  return t;
})();

export function canTransition(from: Status, to: Status): boolean {
  return TRANSITIONS[from].includes(to);
}

/** Statuses after which a client stops following a job. */
export const FINAL_STATUSES: readonly Status[] = ['completed', 'failed', 'rolled_back', 'cancelled'];

export function isFinal(status: Status): boolean {
  return FINAL_STATUSES.includes(status);
}

/**
 * A rollback the agent has not finished: a rollback job not yet final, or a deployment rolling
 * back. While one runs it moves traffic, so nothing else of the agent may start.
 */
export function isUnfinishedRollback(job: { kind: 'deployment' | 'rollback'; status: Status }): boolean {
  return job.status === 'rolling_back' || (job.kind === 'rollback' && !isFinal(job.status));
}

/** The stage that must have finished before `stage` may start. */
export function previousStatus(stage: PipelineStage): Status {
  const i = STAGES.indexOf(stage);
  return i === 0 ? 'queued' : STAGES[i - 1];
}

/** The statuses `stage` is entered from: the stage before it, and the one before that when the one between is optional. */
export function entryStatuses(stage: PipelineStage): readonly Status[] {
  const i = STAGES.indexOf(stage);
  const before = previousStatus(stage);
  return i >= 2 && isOptional(forward[i - 1]) ? [before, STAGES[i - 2]] : [before];
}

/** Stages whose time is a person's (approval): in no typical duration and no ETA. */
export const UNTIMED_STAGES: readonly Stage[] = PIPELINE.filter((s: StageDef) => s.waits_for_person === true).map((s) => s.status);

/** Nominal progress (0–100) when a stage starts and when it ends. */
export const STAGE_PROGRESS: Readonly<Record<Stage, readonly [number, number]>> = Object.fromEntries(
  PIPELINE.map((s) => [s.status, s.progress]),
) as Record<Stage, readonly [number, number]>;

export const STAGE_STEP: Readonly<Record<Stage, string>> = Object.fromEntries(PIPELINE.map((s) => [s.status, s.step])) as Record<
  Stage,
  string
>;

/** Statuses a cancel may be requested in: before anything started, or in a stage the table marks cancellable. */
export const CANCELLABLE: readonly Status[] = ['queued', ...PIPELINE.filter((s) => s.cancellable).map((s) => s.status)];
