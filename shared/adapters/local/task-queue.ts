import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskQueue, TaskSpec } from '../../ports/index.js';
import { jsonFilesIn, writeFileAtomic } from './fs-util.js';

export interface QueuePolicy {
  maxAttempts: number;
  minBackoffMs: number;
  maxBackoffMs: number;
}

type TaskHandler = (payload: unknown) => Promise<void>;
type GiveUp = (queue: string, payload: unknown, error: unknown) => Promise<void>;

interface StoredTask {
  queue: string;
  name: string;
  payload: unknown;
  schedule_time_ms: number;
}

/** A used task name is refused for this long, as Cloud Tasks refuses it for about an hour. */
const NAME_TOMBSTONE_MS = 60 * 60_000;

/**
 * Cloud Tasks on one machine: a task runs at its schedule time, a failure is retried with
 * back-off up to `maxAttempts`, and a name once used is refused. Pending tasks are kept in the
 * data folder and scheduled again after a restart.
 */
export class LocalTaskQueue implements TaskQueue {
  private readonly handlers = new Map<string, { handler: TaskHandler; policy: QueuePolicy }>();
  private readonly names = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  readonly counters = { created: 0, deduplicated: 0, dispatched: 0, failed: 0 };

  constructor(
    private readonly dir: string | null,
    private readonly onGiveUp: GiveUp = async () => {},
  ) {}

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
    this.persist(stored);
    this.counters.created++;
    this.arm(stored, 1);
    return 'created';
  }

  /** Schedules the tasks a previous run left pending. Call after every queue is registered. */
  resume(): number {
    if (!this.dir) return 0;
    let n = 0;
    for (const f of jsonFilesIn(this.dir)) {
      try {
        const t = JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as StoredTask;
        if (!this.handlers.has(t.queue)) continue;
        this.names.set(`${t.queue}/${t.name}`, Date.now());
        this.arm(t, 1);
        n++;
      } catch {}
    }
    return n;
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
      this.remove(task);
    } catch (err) {
      this.counters.failed++;
      if (this.stopped) return;
      if (attempt >= q.policy.maxAttempts) {
        this.remove(task);
        await this.onGiveUp(task.queue, task.payload, err).catch((e: unknown) =>
          console.error(`baton: give-up handler failed: ${String(e)}`),
        );
        return;
      }
      this.arm(task, attempt + 1, Math.min(q.policy.maxBackoffMs, q.policy.minBackoffMs * 2 ** (attempt - 1)));
    }
  }

  private persist(t: StoredTask): void {
    if (this.dir) writeFileAtomic(join(this.dir, `${fileName(t)}.json`), JSON.stringify(t));
  }

  private remove(t: StoredTask): void {
    if (this.dir) rmSync(join(this.dir, `${fileName(t)}.json`), { force: true });
  }
}

const fileName = (t: StoredTask) => `${t.queue}--${t.name}`;
