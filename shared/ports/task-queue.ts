/** Cloud Tasks: named HTTP tasks at a schedule time, refused when the name was used. */
export interface TaskSpec {
  /** Unique per step and attempt: [A-Za-z0-9_-]. */
  name: string;
  payload: unknown;
  /** Not before this time (ms since epoch); now when absent. */
  schedule_time_ms?: number;
}

export interface TaskQueue {
  /** 'exists' when a task of that name was created before (the duplicate is dropped). */
  enqueue(queue: string, task: TaskSpec): Promise<'created' | 'exists'>;
}
