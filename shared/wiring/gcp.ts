import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { withApiErrors } from '../adapters/gcp/api-errors.js';
import { GcsBlobStore } from '../adapters/gcp/blob-store.js';
import { GcsBuildLogReader } from '../adapters/gcp/build-logs.js';
import { CloudBuildBuilder } from '../adapters/gcp/builder.js';
import { CloudMonitoringCanaryMetrics } from '../adapters/gcp/canary-metrics.js';
import { FirestoreDesignStore } from '../adapters/gcp/design-store.js';
import { PubSubEventBus } from '../adapters/gcp/event-bus.js';
import { IdTokenProbe, idTokenHeaders } from '../adapters/gcp/http-probe.js';
import { FirestoreJobStore } from '../adapters/gcp/job-store.js';
import { CloudRunRuntime } from '../adapters/gcp/runtime.js';
import { CloudLoggingRuntimeLogs } from '../adapters/gcp/runtime-logs.js';
import { CloudSchedulerAdapter } from '../adapters/gcp/scheduler.js';
import { GcsSourcePreparer } from '../adapters/gcp/source-preparer.js';
import { CloudTasksQueue } from '../adapters/gcp/task-queue.js';
import { HttpAgentCaller } from '../adapters/local/http-agent-caller.js';
import { FetchTester } from '../adapters/local/http-tester.js';
import { archiveLimitsOf, type Config } from '../config.js';
import { parseAllowList } from '../domain/agent-url.js';
import { DEFAULT_SETTINGS, type PipelineDeps } from '../pipeline/deps.js';
import { DeploymentLogs } from '../pipeline/logs.js';
import { systemClock } from '../ports/clock.js';
import type { Clock, HttpProbe, HttpTester } from '../ports/index.js';
import { buildGcpClients, type GcpClients } from './gcp-clients.js';
import type { GcpConfig } from './gcp-config.js';

export interface GcpAdapters {
  deps: PipelineDeps;
  clients: GcpClients;
  jobs: FirestoreJobStore;
  bus: PubSubEventBus;
  blobs: GcsBlobStore;
  tasks: CloudTasksQueue;
  builder: CloudBuildBuilder;
  runtime: CloudRunRuntime;
}

/**
 * The gcp target's adapters, built once per function instance from the validated config. Polls
 * run every 2 s at least: Cloud Run's operations take seconds, and each poll is a task and a write.
 * Every adapter that calls Google is wrapped by withApiErrors, so an answer no retry can change
 * (a missing role, an invalid request, a topic Terraform never made) fails the stage at once
 * with the API's message and what to do, instead of being retried into the dead letter.
 */
export function buildGcpAdapters(
  config: Config,
  gcp: GcpConfig,
  overrides: { clock?: Clock; probe?: HttpProbe; tester?: HttpTester; minObjectWriteIntervalMs?: number } = {},
): GcpAdapters {
  const clients = buildGcpClients(gcp);
  const clock = overrides.clock ?? systemClock;
  const jobs = withApiErrors('firestore', new FirestoreJobStore(clients.firestore));
  const bus = withApiErrors('pubsub', new PubSubEventBus(clients.pubsub));
  const blobs = withApiErrors(
    'storage',
    new GcsBlobStore(clients.storage, gcp.BATON_BUCKET, { minWriteIntervalMs: overrides.minObjectWriteIntervalMs }),
  );
  const tasks = withApiErrors('tasks', CloudTasksQueue.fromConfig(clients.tasks, gcp, clock));
  // The build's own log, read from the logs bucket while it runs (a Storage call: classified as one).
  const buildLogs = gcp.BATON_BUILD_LOGS_BUCKET
    ? withApiErrors('storage', new GcsBuildLogReader(clients.storage, gcp.BATON_BUILD_LOGS_BUCKET))
    : undefined;
  const builder = withApiErrors(
    'cloudbuild',
    new CloudBuildBuilder(clients.cloudbuild, clients.cloudbuildRest, gcp, {
      timeoutSeconds: config.BATON_BUILD_TIMEOUT_S,
      ...(buildLogs ? { logs: buildLogs } : {}),
    }),
  );
  const runtime = withApiErrors('run', new CloudRunRuntime(clients.services, clients.revisions, gcp));
  const deps: PipelineDeps = {
    jobs,
    bus,
    blobs,
    builder,
    runtime,
    // Not wrapped by withApiErrors: the logs endpoint reports Cloud Logging's refusals itself (a 503 naming the role).
    runtimeLogs: new CloudLoggingRuntimeLogs(clients.logging, gcp),
    tasks,
    canaryMetrics: withApiErrors('monitoring', new CloudMonitoringCanaryMetrics(clients.metrics, gcp)),
    sources: new GcsSourcePreparer(blobs, archiveLimitsOf(config), gcp.BATON_GIT_TOKEN_SECRETS),
    probe: overrides.probe ?? new IdTokenProbe(),
    tester: overrides.tester ?? new FetchTester(idTokenHeaders()),
    clock,
    logs: new DeploymentLogs(blobs, jobs, clock, 1000),
    newId: () => randomUUID(),
    settings: {
      ...DEFAULT_SETTINGS,
      target: 'gcp',
      // Many instances run stages at once: another's claim may be live, and only its lease tells.
      worker_id: randomUUID(),
      sole_worker: false,
      build_timeout_ms: config.BATON_BUILD_TIMEOUT_S * 1000 + 5 * 60_000,
      verify_poll_interval_ms: Math.max(2000, config.BATON_VERIFY_POLL_MS),
      // Each read is a task, a ranged GET and (when the log grew) a job write.
      build_log_poll_ms: Math.max(1000, config.BATON_BUILD_LOG_POLL_MS),
      health_attempts: config.BATON_HEALTH_ATTEMPTS,
      health_timeout_ms: config.BATON_HEALTH_TIMEOUT_MS,
      max_active_per_agent: config.BATON_MAX_ACTIVE_PER_AGENT,
      max_active_per_owner: config.BATON_MAX_ACTIVE_PER_OWNER,
      max_queued_per_owner: config.BATON_MAX_QUEUED_PER_OWNER,
      queue_retry_after_s: config.BATON_QUEUE_RETRY_AFTER_S,
      environments: config.environments,
      test_slice_ms: config.BATON_TEST_SLICE_MS,
      test_request_timeout_ms: config.BATON_HEALTH_TIMEOUT_MS,
      // Each check is a task, two timeSeries.list calls and a write; Cloud Run's metrics move once a minute.
      canary_check_ms: Math.max(5000, config.BATON_CANARY_CHECK_MS),
    },
  };
  const functionsBase = `https://${gcp.BATON_GCP_REGION}-${gcp.BATON_GCP_PROJECT}.cloudfunctions.net`;
  deps.designs = {
    store: withApiErrors('firestore', new FirestoreDesignStore(clients.firestore)),
    scheduler: withApiErrors(
      'scheduler',
      new CloudSchedulerAdapter(clients.scheduler, {
        project: gcp.BATON_GCP_PROJECT,
        region: gcp.BATON_GCP_REGION,
        serviceAccountEmail: config.BATON_SCHEDULER_SERVICE_ACCOUNT,
      }),
    ),
    tasks,
    agents: new HttpAgentCaller({
      allow: parseAllowList(config.BATON_AGENT_URL_ALLOW ?? ''),
      resolveAgent: async (agentId) => (await jobs.getService(agentId))?.url ?? null,
      batonHeaders: idTokenHeaders(),
    }),
    clock,
    newId: () => randomUUID(),
    sleep: (ms, signal) => sleep(ms, undefined, { signal }),
    settings: {
      // Endpoints are served by the public deployed function (callers need no Google identity).
      base_url: config.BATON_PUBLIC_URL ?? config.BATON_DESIGNS_PUBLIC_URL ?? `${functionsBase}/baton-deployed`,
      scheduled_url: config.BATON_DESIGNS_SCHEDULED_URL ?? `${functionsBase}/designs-scheduled`,
      lease_ms: config.BATON_DESIGN_LEASE_MS,
      max_request_bytes: config.BATON_DESIGN_MAX_REQUEST_BYTES,
      sync_commits: config.BATON_DESIGN_SYNC_COMMITS,
      run_task_deadline_ms: config.BATON_DESIGN_RUN_TIMEOUT_S * 1000,
    },
  };
  return { deps, clients, jobs, bus, blobs, tasks, builder, runtime };
}
