import type { Job, JobPrivate, ServiceRecord } from '../domain/job.js';
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
  get(id: string): Promise<Job | null>;
  /** Compare-and-set in a transaction: `mutate` sees the committed document. */
  update(id: string, mutate: Mutation<Job>): Promise<{ job: Job; changed: boolean } | null>;
  list(query: JobQuery): Promise<JobPage>;
  /** Calls `onChange` with the document now and after each committed change. */
  watch(id: string, onChange: (job: Job) => void): Unsubscribe;
  getService(agentId: string): Promise<ServiceRecord | null>;
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
