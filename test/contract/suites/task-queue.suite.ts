import { afterEach, describe, expect, it } from 'vitest';
import type { TaskQueue } from '../../../shared/ports/index.js';
import { sleep, waitFor } from './util.js';

/**
 * The TaskQueue contract (Cloud Tasks: named tasks at a schedule time, retried, names refused
 * once used). Queues and their handlers are infrastructure, so the suite drives them through a
 * harness: the local one wraps LocalTaskQueue.register; a gcp one creates emulator queues pushing
 * to a test endpoint.
 *
 * What the local adapter does NOT prove about the real service: local tasks run on timers in this
 * process, so schedule times are met to the millisecond and retries follow the policy exactly;
 * Cloud Tasks dispatches from another process at its own rate, retries with its own back-off and
 * has no give-up callback (a gcp adapter must detect the last attempt, e.g. from
 * X-CloudTasks-TaskRetryCount). The local queue also forgets the names of tasks that finished
 * before a restart (Cloud Tasks refuses them for about an hour after), which this suite does not
 * check because the local adapter would fail it.
 */

export type TaskHandler = (payload: unknown) => Promise<void>;
export type GiveUp = (queue: string, payload: unknown, error: unknown) => Promise<void>;

export interface QueuePolicy {
  maxAttempts: number;
  minBackoffMs: number;
  maxBackoffMs: number;
}

export interface QueueHarness {
  queue: TaskQueue;
  /** Creates the queue and the handler its tasks are dispatched to. */
  register(queue: string, handler: TaskHandler, policy: QueuePolicy): void;
  /** Stops dispatching (pending tasks stay stored) and returns a harness over the same storage. */
  restart(): Promise<QueueHarness>;
  /** Schedules what a previous run left pending; call after registering. */
  resume(): void;
  cleanup(): Promise<void>;
}

export type MakeQueue = (options: { onGiveUp: GiveUp }) => Promise<QueueHarness>;

const FAST: QueuePolicy = { maxAttempts: 3, minBackoffMs: 20, maxBackoffMs: 100 };
/** Timers may fire a little early on some platforms; a task must not run before this much earlier. */
const JITTER_MS = 5;

const uniqueName = (base: string) => `${base}-${Math.random().toString(36).slice(2, 10)}`;

export function taskQueueContract(name: string, makeQueue: MakeQueue): void {
  describe(`TaskQueue contract: ${name}`, () => {
    const harnesses: QueueHarness[] = [];
    const gaveUp: { queue: string; payload: unknown; error: unknown }[] = [];
    const open = async () => {
      const h = await makeQueue({
        onGiveUp: async (queue, payload, error) => void gaveUp.push({ queue, payload, error }),
      });
      harnesses.push(h);
      return h;
    };
    afterEach(async () => {
      for (const h of harnesses.splice(0).reverse()) await h.cleanup();
      gaveUp.length = 0;
    });

    it('runs a task with its payload, not before its schedule time', async () => {
      const h = await open();
      const q = uniqueName('sched');
      const runs: { payload: unknown; at: number }[] = [];
      h.register(q, async (payload) => void runs.push({ payload, at: Date.now() }), FAST);
      const at = Date.now() + 250;
      expect(await h.queue.enqueue(q, { name: uniqueName('t'), payload: { deployment_id: 'd-1', step: 2 }, schedule_time_ms: at })).toBe(
        'created',
      );
      await sleep(100);
      expect(runs).toEqual([]);
      await waitFor('the task', () => runs.length >= 1);
      expect(runs[0].payload).toEqual({ deployment_id: 'd-1', step: 2 });
      expect(runs[0].at).toBeGreaterThanOrEqual(at - JITTER_MS);
    });

    it('runs a task with no schedule time soon', async () => {
      const h = await open();
      const q = uniqueName('now');
      const runs: unknown[] = [];
      h.register(q, async (payload) => void runs.push(payload), FAST);
      await h.queue.enqueue(q, { name: uniqueName('t'), payload: 'now' });
      await waitFor('the task', () => runs.length >= 1, 5000);
      expect(runs).toEqual(['now']);
    });

    it('a task scheduled in the past runs at once', async () => {
      const h = await open();
      const q = uniqueName('past');
      const runs: unknown[] = [];
      h.register(q, async (payload) => void runs.push(payload), FAST);
      await h.queue.enqueue(q, { name: uniqueName('t'), payload: 'late', schedule_time_ms: Date.now() - 60_000 });
      await waitFor('the task', () => runs.length >= 1, 5000);
      expect(runs).toEqual(['late']);
    });

    it('refuses a duplicate name with "exists" and runs the task once, with the first payload', async () => {
      const h = await open();
      const q = uniqueName('dup');
      const runs: unknown[] = [];
      h.register(q, async (payload) => void runs.push(payload), FAST);
      const taskName = uniqueName('same');
      const at = Date.now() + 100;
      expect(await h.queue.enqueue(q, { name: taskName, payload: 'first', schedule_time_ms: at })).toBe('created');
      expect(await h.queue.enqueue(q, { name: taskName, payload: 'second', schedule_time_ms: at })).toBe('exists');
      await waitFor('the task', () => runs.length >= 1);
      // Still refused after it ran.
      expect(await h.queue.enqueue(q, { name: taskName, payload: 'third' })).toBe('exists');
      await sleep(250);
      expect(runs).toEqual(['first']);
    });

    it('concurrent enqueues of one name create it once', async () => {
      const h = await open();
      const q = uniqueName('race');
      const runs: unknown[] = [];
      h.register(q, async (payload) => void runs.push(payload), FAST);
      const taskName = uniqueName('same');
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => h.queue.enqueue(q, { name: taskName, payload: i })));
      expect(results.filter((r) => r === 'created')).toHaveLength(1);
      expect(results.filter((r) => r === 'exists')).toHaveLength(9);
      await waitFor('the task', () => runs.length >= 1);
      await sleep(150);
      expect(runs).toHaveLength(1);
    });

    it('the same name in two queues is two tasks', async () => {
      const h = await open();
      const runs: string[] = [];
      const q1 = uniqueName('q1');
      const q2 = uniqueName('q2');
      h.register(q1, async () => void runs.push('q1'), FAST);
      h.register(q2, async () => void runs.push('q2'), FAST);
      expect(await h.queue.enqueue(q1, { name: 'shared-name', payload: null })).toBe('created');
      expect(await h.queue.enqueue(q2, { name: 'shared-name', payload: null })).toBe('created');
      await waitFor('both tasks', () => runs.length >= 2);
      expect(runs.sort()).toEqual(['q1', 'q2']);
    });

    it('refuses an invalid task name', async () => {
      const h = await open();
      const q = uniqueName('names');
      h.register(q, async () => {}, FAST);
      await expect(h.queue.enqueue(q, { name: 'has spaces!', payload: null })).rejects.toThrow();
      await expect(h.queue.enqueue(q, { name: 'a/b', payload: null })).rejects.toThrow();
    });

    it('retries a failing task, then succeeds without giving up', async () => {
      const h = await open();
      const q = uniqueName('flaky');
      const attempts: number[] = [];
      h.register(
        q,
        async () => {
          attempts.push(Date.now());
          if (attempts.length < 3) throw new Error('not yet');
        },
        { maxAttempts: 5, minBackoffMs: 30, maxBackoffMs: 200 },
      );
      await h.queue.enqueue(q, { name: uniqueName('t'), payload: 'p' });
      await waitFor('three attempts', () => attempts.length >= 3);
      await sleep(300);
      expect(attempts).toHaveLength(3);
      expect(attempts[1] - attempts[0]).toBeGreaterThanOrEqual(30 - JITTER_MS);
      expect(gaveUp).toEqual([]);
    });

    it('retries a failing task up to maxAttempts, then calls give-up once', async () => {
      const h = await open();
      const q = uniqueName('doomed');
      let calls = 0;
      h.register(
        q,
        async () => {
          calls++;
          throw new Error(`broken ${calls}`);
        },
        FAST,
      );
      await h.queue.enqueue(q, { name: uniqueName('t'), payload: { deployment_id: 'd-9' } });
      await waitFor('give-up', () => gaveUp.length >= 1);
      await sleep(300);
      expect(calls).toBe(FAST.maxAttempts);
      expect(gaveUp).toHaveLength(1);
      expect(gaveUp[0].queue).toBe(q);
      expect(gaveUp[0].payload).toEqual({ deployment_id: 'd-9' });
      expect(String(gaveUp[0].error instanceof Error ? gaveUp[0].error.message : gaveUp[0].error)).toContain(`broken ${FAST.maxAttempts}`);
    });

    it('pending tasks survive a restart and run once, on the new consumer', async () => {
      const first = await open();
      const q = uniqueName('durable');
      const oldRuns: unknown[] = [];
      first.register(q, async (p) => void oldRuns.push(p), FAST);
      const taskName = uniqueName('t');
      const at = Date.now() + 400;
      await first.queue.enqueue(q, { name: taskName, payload: { keep: true }, schedule_time_ms: at });

      const second = await first.restart();
      harnesses.push(second);
      const newRuns: { payload: unknown; at: number }[] = [];
      second.register(q, async (payload) => void newRuns.push({ payload, at: Date.now() }), FAST);
      second.resume();
      // The name is still taken while the task is pending.
      expect(await second.queue.enqueue(q, { name: taskName, payload: 'again' })).toBe('exists');
      await waitFor('the resumed task', () => newRuns.length >= 1);
      await sleep(200);
      expect(oldRuns).toEqual([]);
      expect(newRuns).toHaveLength(1);
      expect(newRuns[0].payload).toEqual({ keep: true });
      expect(newRuns[0].at).toBeGreaterThanOrEqual(at - JITTER_MS);

      // Done means gone: a further restart runs nothing.
      const third = await second.restart();
      harnesses.push(third);
      const lateRuns: unknown[] = [];
      third.register(q, async (p) => void lateRuns.push(p), FAST);
      third.resume();
      await sleep(200);
      expect(lateRuns).toEqual([]);
    });
  });
}
