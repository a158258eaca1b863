import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Config } from '../../shared/config.js';
import { TOPICS } from '../../shared/domain/topics.js';
import { buildLocalAdapters, type LocalAdapters } from '../../shared/wiring/local.js';
import { createApi } from '../api/index.js';
import { toCloudEvent } from '../lib/pubsub-event.js';
import { EVENT_FUNCTIONS, SCHEDULED_FUNCTIONS, TASK_FUNCTIONS } from '../registry.js';

export interface LocalStack extends LocalAdapters {
  /** The API's base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  server: Server;
  stop(): Promise<void>;
}

/**
 * The whole control plane in one process: the local adapters, every function subscribed to its
 * topic or queue (as Eventarc and Cloud Tasks would deliver to it), and the API on PORT.
 */
export async function startLocalStack(config: Config): Promise<LocalStack> {
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
  // Every worker of a previous run is gone: release its claims, then redeliver what it left.
  adapters.jobs.releaseEphemeralClaims();
  await runtime.resume();
  bus.resume();
  tasks.resume();
  builder.resume();

  const watchdog = setInterval(() => {
    SCHEDULED_FUNCTIONS.watchdog.handle(deps).catch((err: unknown) => console.error(`watchdog: ${String(err)}`));
  }, config.BATON_WATCHDOG_INTERVAL_MS);
  watchdog.unref();

  const api = createApi(deps, { maxUploadBytes: config.BATON_MAX_UPLOAD_BYTES, target: config.BATON_TARGET });
  const server = createServer((req, res) => void api(req, res));
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.PORT, config.BATON_HOST, () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      clearInterval(watchdog);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      bus.stop();
      tasks.stop();
      await builder.stop();
      await adapters.cleanup?.stop();
      await runtime.stop();
      adapters.runtimeLogs.flush();
      await Promise.all([adapters.jobs.flush(), bus.flush(), tasks.flush()]);
    })();
    return stopping;
  };
  return { ...adapters, url: `http://${config.BATON_HOST}:${port}`, server, stop };
}
