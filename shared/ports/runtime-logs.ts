import type { RuntimeLogEntry } from '../domain/runtime-log.js';

/** Whose logs: a Cloud Run service, and one of its revisions or all of them. */
export interface RuntimeLogScope {
  service: string;
  revision?: string;
}

/**
 * What deployed revisions write to stdout and stderr, kept after they are ready (locally: files
 * per revision under the data folder; on Google Cloud: Cloud Logging).
 */
export interface RuntimeLogs {
  /** The last `lines` entries, oldest first. */
  read(scope: RuntimeLogScope, lines: number): Promise<RuntimeLogEntry[]>;
  /**
   * Hands every entry written after `after` (the last one `read` returned, or null: from now) to
   * `onEntry`, in order, until `signal` aborts; `onError` gets a failure that ends the follow.
   */
  follow(scope: RuntimeLogScope, after: RuntimeLogEntry | null, onEntry: (entry: RuntimeLogEntry) => void, opts: FollowOptions): void;
}

export interface FollowOptions {
  signal: AbortSignal;
  onError: (err: unknown) => void;
}
