/** Cloud Tasks: named HTTP tasks at a schedule time, refused when the name was used. */
export interface TaskSpec {
  /** Unique per step and attempt: [A-Za-z0-9_-]. */
  name: string;
  payload: unknown;
  /** Not before this time (ms since epoch); now when absent. */
  schedule_time_ms?: number;
  /**
   * How long the target may take to answer before the attempt counts as failed and is retried
   * (Cloud Tasks' dispatchDeadline: 15 s to 30 min, 10 min when absent). Locally a task runs to its end.
   */
  dispatch_deadline_ms?: number;
}

export interface TaskQueue {
  /** 'exists' when a task of that name was created before (the duplicate is dropped). */
  enqueue(queue: string, task: TaskSpec): Promise<'created' | 'exists'>;
}
