import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type CronSchedule, checkJobSchedule, checkJobTarget, nextFireTime } from '../../domain/cron.js';
import { type Clock, systemClock } from '../../ports/clock.js';
import type { EventBus, ScheduledJob, Scheduler, ScheduleSpec } from '../../ports/index.js';
import { writeFileAtomic } from './fs-util.js';

export interface LocalSchedulerOptions {
  /** The time jobs are due by; tests move a fake one. Timers wait for the difference from it. */
  clock?: Clock;
  /** For HTTP targets. */
  fetch?: typeof fetch;
  /** A firing that failed (a publish that threw, an HTTP answer other than 2xx); logged by default. */
  onError?: (job: string, err: unknown) => void;
  /** How long an HTTP target may take (Cloud Scheduler's attempt deadline: 3 minutes by default). */
  httpTimeoutMs?: number;
}

interface Entry {
  job: ScheduledJob;
  schedule: CronSchedule;
  /** When it fires next (ms), while enabled. */
  next: number;
  running: boolean;
}

/** Timers are re-armed at least this often, so a clock that jumps (or DST) is noticed. */
const MAX_TIMER_MS = 60_000;

/**
 * Cloud Scheduler on one machine: jobs on a unix cron schedule in their time zone (see
 * shared/domain/cron.ts for the rules, DST included), a topic target publishing to the EventBus,
 * an HTTP target POSTed with fetch. Jobs are kept in the data folder (one JSON file each), or in
 * memory when the folder is null. Nothing fires until `start()`; `runDue()` fires what is due now,
 * for tests on a fake clock.
 *
 * Unlike Cloud Scheduler: a firing that fails is not retried (Cloud Scheduler's default retry
 * count is 0 too, but it can be configured), times missed while the process was down are not
 * made up, and a firing still running when the next is due delays it (as Cloud Scheduler does)
 * but only within this process.
 */
export class LocalScheduler implements Scheduler {
  readonly counters = { fired: 0, failed: 0 };
  private readonly jobs = new Map<string, Entry>();
  private readonly clock: Clock;
  private readonly fetchFn: typeof fetch;
  private readonly onError: (job: string, err: unknown) => void;
  private readonly httpTimeoutMs: number;
  private timer: NodeJS.Timeout | null = null;
  private started = false;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly dir: string | null,
    private readonly bus: EventBus,
    options: LocalSchedulerOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.fetchFn = options.fetch ?? fetch;
    this.onError =
      options.onError ??
      ((job, err) => console.error(`baton: scheduled job ${job} failed: ${err instanceof Error ? err.message : String(err)}`));
    this.httpTimeoutMs = options.httpTimeoutMs ?? 180_000;
    this.load();
  }

  async upsert(spec: ScheduleSpec): Promise<void> {
    const schedule = checkJobSchedule(spec.name, spec.cron, spec.time_zone);
    checkJobTarget(spec.target);
    const state = this.jobs.get(spec.name)?.job.state ?? 'enabled';
    const job: ScheduledJob = normalise({ ...spec, state });
    this.jobs.set(spec.name, { job, schedule, next: this.nextAfter(schedule, job.time_zone, this.now()), running: false });
    this.persist(job);
    this.arm();
  }

  async get(name: string): Promise<ScheduledJob | null> {
    const e = this.jobs.get(name);
    return e ? structuredClone(e.job) : null;
  }

  async pause(name: string): Promise<void> {
    this.setState(name, 'paused');
  }

  async resume(name: string): Promise<void> {
    this.setState(name, 'enabled');
  }

  async delete(name: string): Promise<void> {
    if (!this.jobs.delete(name)) return;
    if (this.dir) rmSync(join(this.dir, `${name}.json`), { force: true });
    this.arm();
  }

  /** When an enabled job fires next; null when paused or unknown. */
  nextRun(name: string): Date | null {
    const e = this.jobs.get(name);
    return e && e.job.state === 'enabled' ? new Date(e.next) : null;
  }

  /** Starts firing jobs on timers. */
  start(): void {
    this.started = true;
    this.arm();
  }

  /** Stops the timers; firings already running finish. */
  stop(): void {
    this.started = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Fires every enabled job that is due by the clock, and resolves when those firings have finished. Returns their names. */
  async runDue(): Promise<string[]> {
    const now = this.now();
    const due = [...this.jobs.values()].filter((e) => e.job.state === 'enabled' && !e.running && e.next <= now);
    const runs = due.map((e) => {
      // The next time counts from the one due (or now, if late), so an early timer never fires one time twice.
      e.next = this.nextAfter(e.schedule, e.job.time_zone, Math.max(now, e.next));
      return this.fire(e);
    });
    this.arm();
    await Promise.all(runs);
    return due.map((e) => e.job.name);
  }

  /** Resolves when no firing is running. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  private fire(e: Entry): Promise<void> {
    e.running = true;
    const job = e.job;
    const run = (async () => {
      try {
        if (job.target.kind === 'topic') {
          await this.bus.publish(job.target.topic, Buffer.from(job.target.data, 'utf8'), job.target.attributes ?? {});
        } else {
          const res = await this.fetchFn(job.target.url, {
            method: 'POST',
            body: job.target.body,
            signal: AbortSignal.timeout(this.httpTimeoutMs),
          });
          await res.arrayBuffer().catch(() => undefined);
          if (!res.ok) throw new Error(`POST ${job.target.url} answered ${res.status}`);
        }
        this.counters.fired++;
      } catch (err) {
        this.counters.failed++;
        this.onError(job.name, err);
      } finally {
        e.running = false;
      }
    })();
    this.inFlight.add(run);
    void run.finally(() => {
      this.inFlight.delete(run);
      // A job delayed by its own running firing is due now.
      this.arm();
    });
    return run;
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.started) return;
    const nexts = [...this.jobs.values()].filter((e) => e.job.state === 'enabled' && !e.running).map((e) => e.next);
    if (nexts.length === 0) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, Math.min(...nexts) - this.now()));
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.runDue();
    }, delay);
    this.timer.unref?.();
  }

  private setState(name: string, state: ScheduledJob['state']): void {
    const e = this.jobs.get(name);
    if (!e) throw new Error(`no scheduled job named ${JSON.stringify(name)}`);
    if (e.job.state === state) return;
    e.job = { ...e.job, state };
    // Times that passed while paused are not made up.
    if (state === 'enabled') e.next = this.nextAfter(e.schedule, e.job.time_zone, this.now());
    this.persist(e.job);
    this.arm();
  }

  private nextAfter(schedule: CronSchedule, timeZone: string, after: number): number {
    return nextFireTime(schedule, after, timeZone).getTime();
  }

  private now(): number {
    return this.clock.now().getTime();
  }

  private persist(job: ScheduledJob): void {
    if (this.dir) writeFileAtomic(join(this.dir, `${job.name}.json`), JSON.stringify(job, null, 2));
  }

  private load(): void {
    if (!this.dir) return;
    let files: string[];
    try {
      files = readdirSync(this.dir);
    } catch {
      return;
    }
    for (const f of files) {
      if (!f.endsWith('.json')) continue;
      try {
        const job = JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as ScheduledJob;
        const schedule = checkJobSchedule(job.name, job.cron, job.time_zone);
        this.jobs.set(job.name, { job, schedule, next: this.nextAfter(schedule, job.time_zone, this.now()), running: false });
      } catch (err) {
        console.error(`baton: ignoring the scheduled job in ${f}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
}

/** The job as both schedulers return it: no empty description, attributes or body. */
function normalise(job: ScheduledJob): ScheduledJob {
  const target =
    job.target.kind === 'topic'
      ? {
          kind: 'topic' as const,
          topic: job.target.topic,
          data: job.target.data,
          ...(Object.keys(job.target.attributes ?? {}).length > 0 ? { attributes: { ...job.target.attributes } } : {}),
        }
      : { kind: 'http' as const, url: job.target.url, ...(job.target.body ? { body: job.target.body } : {}) };
  return {
    name: job.name,
    cron: job.cron,
    time_zone: job.time_zone,
    target,
    ...(job.description ? { description: job.description } : {}),
    state: job.state,
  };
}
