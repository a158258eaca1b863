import type { AgentCaller } from '../ports/agent-caller.js';
import type { Clock } from '../ports/clock.js';
import type { DesignStore } from '../ports/design-store.js';
import type { Scheduler } from '../ports/scheduler.js';
import type { TaskQueue } from '../ports/task-queue.js';

export interface DesignSettings {
  /** Where endpoints are served: endpoint_url is `${base_url}/api/deployed${endpoint_path}`. */
  base_url: string;
  /** The scheduler target (the designs-scheduled function, or the local stack's route). */
  scheduled_url: string;
  /** How long a worker's claim on a run holds without a heartbeat (a crashed worker's lapses). */
  lease_ms: number;
  /** Largest request body of POST /api/deployed/{path} and execute. */
  max_request_bytes: number;
  /**
   * How a synchronous run commits (shared/designs/execution.ts): `grouped` (its writes in as few
   * commits as one after another allow, a step's result durable within one commit of its
   * completion) or `each` (every write synced before the run goes on).
   */
  sync_commits: 'grouped' | 'each';
  /** How long a run task's delivery may take (Cloud Tasks' dispatch deadline): the design-run function's timeout. */
  run_task_deadline_ms: number;
}

/** What the designs use cases see: ports and settings only. */
export interface DesignDeps {
  store: DesignStore;
  scheduler: Scheduler;
  tasks: TaskQueue;
  agents: AgentCaller;
  clock: Clock;
  newId: () => string;
  /** Back-off waits; a fake in unit tests. */
  sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  settings: DesignSettings;
}
