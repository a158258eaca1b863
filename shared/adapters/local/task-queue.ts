import { z } from 'zod';
import type { TaskQueue, TaskSpec } from '../../ports/index.js';
import { DocJournal, parsedDocs } from './doc-writer.js';

export interface QueuePolicy {
  maxAttempts: number;
  minBackoffMs: number;
  maxBackoffMs: number;
}

type TaskHandler = (payload: unknown) => Promise<void>;
type GiveUp = (queue: string, payload: unknown, error: unknown) => Promise<void>;

const StoredTaskSchema = z.object({
  queue: z.string().min(1),
  name: z.string().regex(/^[A-Za-z0-9_-]{1,500}$/),
  payload: z.unknown(),
  schedule_time_ms: z.number(),
});
type StoredTask = z.infer<typeof StoredTaskSchema>;

/** A used task name is refused for this long, as Cloud Tasks refuses it for about an hour. */
const NAME_TOMBSTONE_MS = 60 * 60_000;

/**
 * Cloud Tasks on one machine: a task runs at its schedule time, a failure is retried with
 * back-off up to `maxAttempts`, and a name once used is refused. `enqueue` resolves once the task
 * is synced to the data folder (DocJournal); a task stays there until it succeeds or is given
 * up, so a restart schedules again whatever was pending or running.
 */
export class LocalTaskQueue implements TaskQueue {
  private readonly handlers = new Map<string, { handler: TaskHandler; policy: QueuePolicy }>();
  private readonly names = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private readonly journal: DocJournal | null;
  /** What a previous run left pending, until resume() schedules it. */
  private saved: StoredTask[] = [];
  readonly counters = { created: 0, deduplicated: 0, dispatched: 0, failed: 0 };

  constructor(
    dir: string | null,
    private readonly onGiveUp: GiveUp = async () => {},
  ) {
    this.journal = dir ? new DocJournal(dir) : null;
    if (!this.journal) return;
    this.saved = parsedDocs(this.journal, this.journal.open(['']), '', StoredTaskSchema);
  }

  register(queue: string, handler: TaskHandler, policy: QueuePolicy): void {
    this.handlers.set(queue, { handler, policy });
  }

  async enqueue(queue: string, task: TaskSpec): Promise<'created' | 'exists'> {
    if (!/^[A-Za-z0-9_-]{1,500}$/.test(task.name)) throw new Error(`invalid task name ${JSON.stringify(task.name)}`);
    if (!this.handlers.has(queue)) throw new Error(`no such queue: ${queue}`);
    const key = `${queue}/${task.name}`;
    const now = Date.now();
    const used = this.names.get(key);
    if (used !== undefined && now - used < NAME_TOMBSTONE_MS) {
      this.counters.deduplicated++;
      return 'exists';
    }
    this.names.set(key, now);
    const stored: StoredTask = { queue, name: task.name, payload: task.payload, schedule_time_ms: task.schedule_time_ms ?? now };
    try {
      await this.journal?.put(fileName(stored), stored);
    } catch (err) {
      this.names.delete(key);
      throw err;
    }
    this.counters.created++;
    this.arm(stored, 1);
    return 'created';
  }

  /** Schedules the tasks a previous run left pending. Call after every queue is registered. */
  resume(): number {
    let n = 0;
    for (const t of this.saved.splice(0)) {
      if (!this.handlers.has(t.queue)) {
        // Kept on disk: a stack with that queue runs it.
        console.warn(`baton: task ${t.name} waits for queue ${t.queue}, which this stack does not have`);
        continue;
      }
      this.names.set(`${t.queue}/${t.name}`, Date.now());
      this.arm(t, 1);
      n++;
    }
    return n;
  }

  /** Resolves when every change to the pending tasks is on disk. */
  flush(): Promise<void> {
    return this.journal?.flush() ?? Promise.resolve();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private arm(task: StoredTask, attempt: number, delayMs = Math.max(0, task.schedule_time_ms - Date.now())): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.run(task, attempt);
    }, delayMs);
    this.timers.add(timer);
  }

  private async run(task: StoredTask, attempt: number): Promise<void> {
    const q = this.handlers.get(task.queue);
    if (!q || this.stopped) return;
    this.counters.dispatched++;
    try {
      await q.handler(task.payload);
      await this.remove(task);
    } catch (err) {
      this.counters.failed++;
      if (this.stopped) return;
      if (attempt >= q.policy.maxAttempts) {
        await this.remove(task);
        await this.onGiveUp(task.queue, task.payload, err).catch((e: unknown) =>
          console.error(`baton: give-up handler failed: ${String(e)}`),
        );
        return;
      }
      this.arm(task, attempt + 1, Math.min(q.policy.maxBackoffMs, q.policy.minBackoffMs * 2 ** (attempt - 1)));
    }
  }

  private async remove(t: StoredTask): Promise<void> {
    // A removal lost in a crash only means the task runs once more: report it, do not fail the task.
    await this.journal
      ?.delete(fileName(t))
      .catch((err: unknown) =>
        console.error(`baton: could not record that task ${t.name} is done: ${err instanceof Error ? err.message : String(err)}`),
      );
  }
}

const fileName = (t: StoredTask) => `${t.queue}--${t.name}`;
