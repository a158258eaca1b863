import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DataLock } from '../../shared/adapters/local/data-lock.js';
import { codeOf } from '../../shared/adapters/local/fs-util.js';
import { archiveLimitsOf, type Config, ConfigError } from '../../shared/config.js';
import { sweepLapsedRuns } from '../../shared/designs/sweep.js';
import { TOPICS } from '../../shared/domain/topics.js';
import { resumeQueueOnStart } from '../../shared/pipeline/restart-recovery.js';
import { buildLocalAdapters, type LocalAdapters } from '../../shared/wiring/local.js';
import { createApi } from '../api/index.js';
import { toCloudEvent } from '../lib/pubsub-event.js';
import { EVENT_FUNCTIONS, SCHEDULED_FUNCTIONS, TASK_FUNCTIONS } from '../registry.js';
import { dashboardHandler } from './dashboard.js';

export interface LocalStack extends LocalAdapters {
  /** The API's base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  server: Server;
  stop(): Promise<void>;
}

/**
 * The whole control plane in one process: the local adapters, every function subscribed to its
 * topic or queue (as Eventarc and Cloud Tasks would deliver to it), and the API on PORT.
 *
 * Order matters: the data folder's lock first (another live stack on it refuses the start), then
 * the API's port (a port in use refuses it), and only then is anything of the saved state read
 * back, rewritten or started; requests that arrive meanwhile wait for the stack to be ready.
 */
export async function startLocalStack(config: Config): Promise<LocalStack> {
  const lock = DataLock.acquire(config.BATON_DATA_DIR);
  let handler: ((req: IncomingMessage, res: ServerResponse) => void) | null = null;
  const waiting: [IncomingMessage, ServerResponse][] = [];
  const server = createServer((req, res) => (handler ? handler(req, res) : waiting.push([req, res])));
  server.keepAliveTimeout = 5000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.PORT, config.BATON_HOST, () => resolve());
    });
  } catch (err) {
    lock.release();
    if (codeOf(err) === 'EADDRINUSE') {
      throw new ConfigError(
        `Port ${config.PORT} on ${config.BATON_HOST} is in use by another program: set PORT to a free port (or 0 for any). Nothing in ${config.BATON_DATA_DIR} was changed`,
      );
    }
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  let adapters: LocalAdapters | null = null;
  try {
    adapters = await startAdapters(config);
  } catch (err) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    lock.release();
    throw err;
  }
  const { deps, bus, tasks, runtime, builder } = adapters;
  // Cloud Scheduler's every-minute functions (the watchdog, the designs sweep), on one timer.
  const watchdog = setInterval(() => {
    for (const [name, fn] of Object.entries(SCHEDULED_FUNCTIONS))
      fn.handle(deps).catch((err: unknown) => console.error(`${name}: ${String(err)}`));
  }, config.BATON_WATCHDOG_INTERVAL_MS);
  watchdog.unref();

  if (deps.designs) {
    const base = `http://${config.BATON_HOST}:${port}`;
    deps.designs.settings.base_url = config.BATON_PUBLIC_URL ?? base;
    deps.designs.settings.scheduled_url = `${base}/api/internal/scheduled`;
  }
  adapters.scheduler.start();
  const api = createApi(deps, {
    maxUploadBytes: config.BATON_MAX_UPLOAD_BYTES,
    archiveLimits: archiveLimitsOf(config),
    target: config.BATON_TARGET,
  });
  const dashboard = dashboardHandler(config.BATON_DASHBOARD_DIR);
  handler = (req, res) => {
    if (!dashboard(req, res)) void api(req, res);
  };
  for (const [req, res] of waiting.splice(0)) handler(req, res);

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      clearInterval(watchdog);
      adapters.scheduler.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      bus.stop();
      tasks.stop();
      await builder.stop();
      await adapters.cleanup?.stop();
      await runtime.stop();
      adapters.runtimeLogs.flush();
      adapters.agents.close();
      await Promise.all([adapters.jobs.flush(), bus.flush(), tasks.flush(), adapters.designStore.flush()]);
      lock.release();
    })();
    return stopping;
  };
  return { ...adapters, url: `http://${config.BATON_HOST}:${port}`, server, stop };
}

/** Builds the adapters, subscribes every function, and carries on what the saved state holds. */
async function startAdapters(config: Config): Promise<LocalAdapters> {
  const adapters = buildLocalAdapters(config);
  const { deps, bus, tasks, runtime, builder } = adapters;
  const retry = {
    maxAttempts: config.BATON_BUS_MAX_ATTEMPTS,
    minBackoffMs: config.BATON_BUS_MIN_BACKOFF_MS,
    maxBackoffMs: config.BATON_BUS_MAX_BACKOFF_MS,
    ackDeadlineMs: config.BATON_BUS_ACK_DEADLINE_MS,
  };
  for (const [name, fn] of Object.entries(EVENT_FUNCTIONS)) {
    const deadLetterTopic = fn.topic === TOPICS.deadLetter ? undefined : TOPICS.deadLetter;
    bus.subscribe(name, fn.topic, (msg) => fn.handle(deps, toCloudEvent(fn.topic, msg)), { ...retry, deadLetterTopic });
  }
  for (const fn of Object.values(TASK_FUNCTIONS)) {
    tasks.register(fn.queue, (payload) => fn.handle(deps, payload), { ...retry, maxAttempts: Math.max(retry.maxAttempts, 5) });
  }
  // Every worker of a previous run is gone: the claims they hold name another boot of the stack,
  // which the redeliveries below take over at once (decideClaim, sole_worker).
  try {
    await runtime.resume();
  } catch (err) {
    await runtime.stop();
    throw err;
  }
  bus.resume();
  tasks.resume();
  builder.resume();
  // A kill between an admission and its event's publish, or between a job's end and its release, left the queue stalled until the watchdog: resume it now.
  await resumeQueueOnStart(deps).catch((err: unknown) =>
    console.error(`baton: could not resume the queue (the watchdog will): ${String(err)}`),
  );
  // Design runs the previous process was running (a synchronous one's caller is gone): each goes
  // to the run queue when its lease ends, and resumes from its recorded steps.
  if (deps.designs)
    await sweepLapsedRuns(deps.designs, { horizonMs: Number.POSITIVE_INFINITY }).catch((err: unknown) =>
      console.error(`baton: could not resume the design runs (the sweep will): ${String(err)}`),
    );
  return adapters;
}
