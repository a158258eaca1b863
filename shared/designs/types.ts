import type { Pattern } from '../domain/design.js';
import type { Preview } from '../domain/preview.js';

/** How a run ended (designs.md's execution statuses, less running and skipped, which are the log's). */
export type RunStatus = 'completed' | 'failed' | 'limit_exceeded' | 'timeout' | 'cancelled';

export interface RunCounters {
  /** Agent calls made, recorded ones of an earlier start included. */
  agent_calls: number;
  retries: number;
  /** Steps taken from the journal instead of calling their agent again. */
  replayed: number;
}

/**
 * What the executor returns when the caller's `suspend` signal fired before the run ended: the
 * run is not over, its completed steps are in the journal, and another worker continues it
 * (a synchronous run past its deadline goes on through the run queue).
 */
export interface SuspendedRun {
  status: 'suspended';
  reason: string;
  counters: RunCounters;
}

export interface RunOutcome {
  status: RunStatus;
  /** Why it ended: output_ready, output_skipped, step_failed:<id>, max_agent_calls, run_timeout_ms, cancelled … */
  termination_reason: string;
  result: unknown;
  error?: string;
  counters: RunCounters;
}

/** A completed step's result, recorded durably under its deterministic step id before anything uses it. */
export interface StepRecord {
  /** `fetch`, `panel/a`, `loop/writer/i2`, `team/worker/r1/d0` … the same on every run of the design. */
  step_id: string;
  /** fallback: it failed and on_error "skip" gave its fallback_output. */
  status: 'completed' | 'fallback';
  output: unknown;
  attempts: number;
}

/** One record per step attempt, iteration and round (designs.md's `steps`), with previews. */
export interface StepLog {
  seq: number;
  step_id: string;
  block_id: string;
  group_id?: string;
  pattern?: Pattern;
  attempt: number;
  iteration?: number;
  round?: number;
  status: 'completed' | 'failed' | 'timeout' | 'aborted' | 'skipped';
  started_at: string;
  duration_ms: number;
  http_status?: number;
  input_preview?: Preview;
  output_preview?: Preview;
  /** What a group decided at this step: the route taken, the critic's verdict, the delegation. */
  decision?: Record<string, unknown>;
  error?: string;
}

export interface StepJournal {
  /** What earlier starts of this run completed, by step id. */
  readonly completed: ReadonlyMap<string, StepRecord>;
  /** The seq of the next log record (after those an earlier start wrote). */
  readonly nextSeq: number;
  /** Durable before it resolves: a crash after it never calls the step again. */
  record(step: StepRecord): Promise<void>;
  /** Appends one attempt's log record (kept in order by `seq`). */
  log(step: StepLog): void;
}
