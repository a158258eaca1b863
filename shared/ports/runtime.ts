import type { Artifact } from '../domain/job.js';

/** Cloud Run: services with revisions, traffic split by percent, tags for revisions with no traffic. */
export interface RevisionSpec {
  service: string;
  revision: string;
  artifact: Artifact;
  env: Record<string, string>;
  /** Environment variables whose values come from Secret Manager: name -> secret name (latest version). */
  secrets?: Record<string, string>;
  /** The new revision gets this tag and no traffic; the existing split is kept. */
  tag: string;
  /** Where the revision's own output goes (the deployment's log). */
  deployment_id: string;
  start_timeout_seconds: number;
  /** Per instance, as the request asked (Cloud Run's defaults where absent). */
  resources?: { memory_mb?: number; cpu_cores?: number; concurrent_tasks?: number };
}

export type RevisionState = 'starting' | 'ready' | 'failed' | 'stopped';

export interface RevisionStatus {
  name: string;
  state: RevisionState;
  /** Why it failed, in words a user can act on. */
  message: string | null;
  /** The URL of its tag, when it has one. */
  tag_url: string | null;
  /** From process start to listening, where the runtime knows it. */
  startup_ms?: number;
}

export interface TrafficTarget {
  revision: string;
  percent: number;
  tag?: string;
}

export interface ServiceStatus {
  name: string;
  url: string;
  traffic: (TrafficTarget & { url?: string })[];
  latest_created_revision: string | null;
  latest_ready_revision: string | null;
  /**
   * The runtime is still applying the last change (Cloud Run's `reconciling`): `traffic` is what
   * it serves now, not yet what was asked. Nothing may be removed on the strength of it.
   */
  reconciling: boolean;
}

export interface Runtime {
  /** Creates the revision with no traffic behind `tag`. Idempotent for the same revision name. */
  deployRevision(spec: RevisionSpec): Promise<void>;
  getRevision(service: string, revision: string): Promise<RevisionStatus | null>;
  getService(service: string): Promise<ServiceStatus | null>;
  /** Replaces the whole traffic split; percents sum to 100. */
  setTraffic(service: string, traffic: TrafficTarget[]): Promise<void>;
  deleteRevision(service: string, revision: string): Promise<void>;
}
