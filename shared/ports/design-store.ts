import type { StepLog, StepRecord } from '../designs/types.js';
import type { EndpointDoc, ExecutionDoc, LogQuery, Page } from '../domain/endpoint.js';
import type { Mutation } from './job-store.js';

/** One commit of a run's progress: all of it or nothing. */
export interface RunCommit {
  /**
   * The execution as it is to be, from the stored one (null before a synchronous run's first
   * commit creates it); null refuses the commit and nothing is written. Absent: the execution
   * document is left as it is.
   */
  execution?: (current: ExecutionDoc | null) => ExecutionDoc | null;
  /** Attempt records to append. */
  steps: StepLog[];
  /** Step results to record (durable once the commit resolves). */
  records: StepRecord[];
  /** Counts the run on its endpoint (execution_count + 1, last_execution_at), unless the endpoint is gone. Once per run. */
  count_on?: { endpoint_id: string; at: string };
}

export interface EndpointQuery {
  status?: EndpointDoc['status'];
  limit: number;
  cursor?: string;
}

/**
 * Endpoints (deployed designs), their execution logs with one record per step attempt, the
 * durable step results of each run, and the rate-limit counters every instance shares.
 * Firestore: `design_endpoints`, `endpoint_paths` (the path index), `execution_logs` with
 * `steps` and `results` below each log, `rate_limits`; locally one DocJournal folder.
 */
export interface DesignStore {
  /** Creates the endpoint; `path_taken` when another endpoint has its endpoint_path (checked atomically). */
  createEndpoint(doc: EndpointDoc): Promise<'created' | 'exists' | 'path_taken'>;
  getEndpoint(id: string): Promise<EndpointDoc | null>;
  getEndpointByPath(path: string): Promise<EndpointDoc | null>;
  /** Compare-and-set in a transaction; null when the endpoint does not exist. */
  updateEndpoint(id: string, mutate: Mutation<EndpointDoc>): Promise<EndpointDoc | null>;
  /** Removes the endpoint and frees its path; its logs stay. */
  deleteEndpoint(id: string): Promise<boolean>;
  /** Newest first. */
  listEndpoints(query: EndpointQuery): Promise<Page<EndpointDoc>>;

  createExecution(doc: ExecutionDoc): Promise<boolean>;
  getExecution(id: string): Promise<ExecutionDoc | null>;
  updateExecution(id: string, mutate: Mutation<ExecutionDoc>): Promise<ExecutionDoc | null>;
  /** One endpoint's executions, newest first (started_at, then id), filtered. */
  listExecutions(query: LogQuery): Promise<Page<ExecutionDoc>>;

  /** Appends attempt records to an execution's log. */
  appendSteps(executionId: string, steps: StepLog[]): Promise<void>;
  /** In seq order. */
  listSteps(executionId: string): Promise<StepLog[]>;
  /** Durable when it resolves: a resumed run replays it instead of calling the agent. */
  recordStep(executionId: string, record: StepRecord): Promise<void>;
  recordedSteps(executionId: string): Promise<StepRecord[]>;

  /**
   * A run's writes as one commit (one synced batch locally, one transaction on Firestore): what a
   * synchronous run's grouped journal writes. Resolves with the execution as committed (the
   * stored one when `execution` is absent), or null when `execution` refused.
   */
  commitRun(executionId: string, commit: RunCommit): Promise<ExecutionDoc | null>;
  /**
   * Running executions whose lease (`lease_until`, `<iso>#<holder>`) ends before `beforeIso`,
   * soonest first: runs whose worker died (or whose task was lost), for the sweep to hand back to
   * the run queue.
   */
  listLapsedRuns(beforeIso: string, limit: number): Promise<ExecutionDoc[]>;

  /**
   * Counts one request in the fixed window of `windowMs` that holds `nowMs`, for every instance
   * alike; refused (with the ms until the window ends) when `limit` are counted already.
   */
  takeRateToken(key: string, limit: number, windowMs: number, nowMs: number): Promise<{ ok: true } | { ok: false; retry_after_ms: number }>;
}
