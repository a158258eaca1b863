/** Cloud Scheduler: recurring jobs on a unix cron schedule in a time zone. */
export type ScheduleTarget =
  | { kind: 'topic'; topic: string; data: string; attributes?: Record<string, string> }
  | { kind: 'http'; url: string; body?: string };

export interface ScheduleSpec {
  /** [A-Za-z0-9_-], unique per project and region. */
  name: string;
  /** Unix cron, five fields, no seconds (one minute at the finest). */
  cron: string;
  /** An IANA time zone, e.g. Europe/Paris. */
  time_zone: string;
  target: ScheduleTarget;
  description?: string;
}

export interface ScheduledJob extends ScheduleSpec {
  state: 'enabled' | 'paused';
}

export interface Scheduler {
  /** Creates the job, or replaces its schedule and target. */
  upsert(spec: ScheduleSpec): Promise<void>;
  get(name: string): Promise<ScheduledJob | null>;
  pause(name: string): Promise<void>;
  resume(name: string): Promise<void>;
  delete(name: string): Promise<void>;
}
