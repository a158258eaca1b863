import type { AdmissionPolicy } from '../domain/admission.js';
import type { HistoryEntry } from '../domain/history.js';
import type { Job, JobPrivate, ServiceRecord } from '../domain/job.js';
import type { Aggregate } from '../domain/metrics.js';
import type { Status } from '../domain/status.js';

/**
 * A mutation run inside a transaction. It may run more than once (on contention), so it must be
 * pure: return the new document, or null to leave it as it is.
 */
export type Mutation<T> = (current: T) => T | null;

export interface JobQuery {
  agent_id?: string;
  status?: Status;
  kind?: Job['kind'];
  limit: number;
  /** The opaque cursor from the previous page. */
  cursor?: string;
}

export interface JobPage {
  items: Job[];
  next_cursor: string | null;
}

export type Unsubscribe = () => void;

/**
 * What enqueue did: `started` (admitted at once: send its requested event), `queued` (waiting,
 * with `queue` set), `exists` (the id was taken), `full` (its owner's queue is full: nothing
 * written), `rolling_back` (a rollback of the agent is unfinished: nothing written). `superseded`:
 * the agent's older waiting deployments it cancelled.
 */
export interface EnqueueResult {
  outcome: 'started' | 'queued' | 'exists' | 'full' | 'rolling_back';
  job: Job;
  superseded: string[];
}

/** Deployment jobs and per-service records (Firestore `deployment_jobs/{id}`, `services/{agent}`). */
export interface JobStore {
  /** Creates the job; false when the id exists already (nothing is overwritten). */
  create(job: Job): Promise<boolean>;
  /**
   * Creates the job only while its agent has fewer than `maxActive` running deployments and no
   * rollback unfinished (a rollback job not final, or a deployment rolling back), checked and
   * created atomically: two concurrent requests cannot both pass the check.
   */
  createUnlessBusy(job: Job, maxActive: number): Promise<'created' | 'exists' | 'busy' | 'rolling_back'>;
  /**
   * Creates a deployment job and decides in the same transaction whether it starts now or waits
   * (decideAdmission: its agent busy, its owner at the limit), cancelling the agent's older waiting
   * deployments when `supersede` (status cancelled, `superseded_by`). Holds across instances: on
   * Firestore the owner's counters (`owner_slots/{owner}`) and the agent's lock document are
   * written by every admission, so concurrent ones conflict and retry.
   */
  enqueue(job: Job, policy: AdmissionPolicy, supersede: boolean): Promise<EnqueueResult>;
  /**
   * Admits the waiting deployments of `owner` and of `agent_id` that may start now, oldest first,
   * each in its own transaction under the same rule; returns the jobs admitted (`queue` null), whose
   * requested events the caller sends.
   */
  admitWaiting(scope: { owner: string | null; agent_id: string }, policy: AdmissionPolicy, now: string): Promise<Job[]>;
  /** Owners with deployments waiting (for the watchdog's sweep), at most `limit`. */
  waitingScopes(limit: number): Promise<{ owner: string | null; agent_id: string }[]>;
  /** The job's 1-based place among its owner's waiting deployments; null when it is not waiting. */
  queuePosition(job: Job): Promise<number | null>;
  get(id: string): Promise<Job | null>;
  /** Compare-and-set in a transaction: `mutate` sees the committed document. */
  update(id: string, mutate: Mutation<Job>): Promise<{ job: Job; changed: boolean } | null>;
  list(query: JobQuery): Promise<JobPage>;
  /** Calls `onChange` with the document now and after each committed change. */
  watch(id: string, onChange: (job: Job) => void): Unsubscribe;
  getService(agentId: string): Promise<ServiceRecord | null>;
  /**
   * The metrics aggregates of one scope for these UTC days (shared/domain/metrics.ts; days with
   * none are absent). Every store folds a deployment into its aggregates in the transaction that
   * makes it final, so this never reads a job.
   */
  metrics(scope: string, days: readonly string[]): Promise<Aggregate[]>;
  /** Deployments not final (admitted or waiting), of one agent and/or environment when given. */
  countOpen(filter: { agent_id?: string; environment?: string }): Promise<number>;
  /** Records an operator action (deploy, cancel, rollback, approve, unpin) in the agent's audit trail. */
  appendHistory(entry: HistoryEntry): Promise<void>;
  /**
   * The agent's audit trail, newest first, at most `limit`: every state change of its jobs (the
   * stores write one in the commit of each change: shared/domain/history.ts) and every action.
   */
  history(agentId: string, limit: number): Promise<HistoryEntry[]>;
  /** Service records by agent id, at most `limit`. */
  listServices(limit: number): Promise<ServiceRecord[]>;
  updateService(agentId: string, mutate: Mutation<ServiceRecord | null>): Promise<ServiceRecord | null>;
  /** Counts running deployments of one agent, for the concurrency limit. */
  countActive(agentId: string): Promise<number>;
  /**
   * Stores a job's private data (env values, git credentials) where no client can read it
   * (Firestore `deployment_private/{id}`, which firestore.rules deny to every client; locally a
   * 0600 file apart from the job files). Overwrites: writing the same data again is harmless.
   */
  putPrivate(id: string, data: JobPrivate): Promise<void>;
  /** The private data stored under `id`, or null. */
  getPrivate(id: string): Promise<JobPrivate | null>;
}
