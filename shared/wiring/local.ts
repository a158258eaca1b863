import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FolderBlobStore } from '../adapters/local/blob-store.js';
import { isolatedBuildRoot, LocalBuilder } from '../adapters/local/builder.js';
import { LocalCleanup } from '../adapters/local/cleanup.js';
import { DepsCache } from '../adapters/local/deps-cache.js';
import { LocalDesignStore } from '../adapters/local/design-store.js';
import { LocalEventBus } from '../adapters/local/event-bus.js';
import { codeOf } from '../adapters/local/fs-util.js';
import { HttpAgentCaller } from '../adapters/local/http-agent-caller.js';
import { fetchProbe } from '../adapters/local/http-probe.js';
import { FetchTester } from '../adapters/local/http-tester.js';
import { LocalJobStore } from '../adapters/local/job-store.js';
import { revisionUser } from '../adapters/local/process.js';
import { LocalCanaryMetrics } from '../adapters/local/request-stats.js';
import { RevisionLogFiles } from '../adapters/local/revision-logs.js';
import { LocalRuntime } from '../adapters/local/runtime.js';
import { LocalScheduler } from '../adapters/local/scheduler.js';
import { LocalSourcePreparer } from '../adapters/local/source-preparer.js';
import { LocalTaskQueue } from '../adapters/local/task-queue.js';
import type { Config } from '../config.js';
import type { DesignDeps } from '../designs/deps.js';
import { parseAllowList } from '../domain/agent-url.js';
import { PermanentError } from '../domain/errors.js';
import { stageOfQueue } from '../domain/pipeline.js';
import { QUEUES } from '../domain/topics.js';
import { DEFAULT_SETTINGS, type PipelineDeps } from '../pipeline/deps.js';
import { DeploymentLogs } from '../pipeline/logs.js';
import { failDeployment } from '../pipeline/stage-runner.js';
import { systemClock } from '../ports/clock.js';

export interface LocalAdapters {
  deps: PipelineDeps;
  jobs: LocalJobStore;
  bus: LocalEventBus;
  tasks: LocalTaskQueue;
  blobs: FolderBlobStore;
  builder: LocalBuilder;
  runtime: LocalRuntime;
  /** Null when BATON_CLEANUP=false. */
  cleanup: LocalCleanup | null;
  runtimeLogs: RevisionLogFiles;
  /** Endpoints' schedules; started by the local stack. */
  scheduler: LocalScheduler;
  designStore: LocalDesignStore;
  agents: HttpAgentCaller;
}

/**
 * The one place the local target's adapters are built, all under the data folder:
 * store/ (job documents), bus/ and tasks/ (undelivered messages and pending tasks), blobs/ (logs,
 * sources, artifacts), work/ (builds, unless a project is above the data folder, and running
 * revisions), cache/ (package caches kept between builds), runtime.json (services and traffic),
 * logs/revisions/ (what each revision writes).
 */
export function buildLocalAdapters(config: Config): LocalAdapters {
  const dir = config.BATON_DATA_DIR;
  const clock = systemClock;
  const jobs = new LocalJobStore(join(dir, 'store'));
  const blobs = new FolderBlobStore(join(dir, 'blobs'));
  const bus = new LocalEventBus(join(dir, 'bus'), { duplicateDelivery: config.BATON_DUPLICATE_DELIVERY });
  const logs = new DeploymentLogs(blobs, jobs, clock);
  const caps = { maxBytes: config.BATON_MAX_SOURCE_BYTES, maxFiles: config.BATON_MAX_SOURCE_FILES };
  // Set once the runtime exists; the builder calls it only after a build.
  const later: { cleanup: LocalCleanup | null } = { cleanup: null };
  const builder = new LocalBuilder({
    blobs,
    bus,
    logs,
    workDir: isolatedBuildRoot(dir, config.BATON_BUILD_DIR ?? null),
    ...(config.BATON_BUILD_PATH ? { path: config.BATON_BUILD_PATH } : {}),
    revisionsRunAsOther: revisionUser() !== null,
    caps,
    cacheDir: join(dir, 'cache'),
    depsCache: config.BATON_DEPS_CACHE ? new DepsCache(join(dir, 'cache', 'node_modules'), config.BATON_DEPS_CACHE_KEEP) : null,
    timeoutMs: config.BATON_BUILD_TIMEOUT_S * 1000,
    stateDir: join(dir, 'builds'),
    onFinished: (agentId) => later.cleanup?.schedule(agentId),
    // Called only once a build has run, long after the runtime below exists.
    keepBuilt: (artifact, built, packed) => runtime.adoptBuild(artifact, built, packed),
  });
  const runtimeLogs = new RevisionLogFiles(join(dir, 'logs', 'revisions'));
  const runtime = new LocalRuntime({
    blobs,
    revisionLogs: runtimeLogs,
    workDir: join(dir, 'work', 'revisions'),
    stateFile: join(dir, 'runtime.json'),
    onOutput: (deploymentId, revision, line) => {
      void jobs.get(deploymentId).then((job) => {
        if (job) logs.write(job.agent_id, deploymentId, 'INFO', `[${revision}] ${line}`, 'revision');
      });
    },
  });
  const cleanup = config.BATON_CLEANUP
    ? new LocalCleanup({
        jobs,
        runtime,
        blobs,
        keep: config.BATON_KEEP_REVISIONS,
        revisionLogs: runtimeLogs,
        artifactInUse: (ref) => runtime.usesArtifact(ref),
      })
    : null;
  later.cleanup = cleanup;
  // deps is referenced by the give-up handler before it exists; the handler runs only later.
  const holder: { deps?: PipelineDeps } = {};
  const tasks = new LocalTaskQueue(join(dir, 'tasks'), async (queue, payload, error) => {
    const id = typeof payload === 'object' && payload !== null && 'deployment_id' in payload ? String(payload.deployment_id) : null;
    // Following a build's log is best effort: giving up on it fails nothing (the local builder schedules none anyway).
    if (queue === QUEUES.buildLog) return;
    if (id && holder.deps) {
      await failDeployment(
        holder.deps,
        id,
        stageOfQueue(queue) ?? 'verifying',
        `Gave up on task queue ${queue} after repeated errors: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  });
  const deps: PipelineDeps = {
    jobs,
    bus,
    blobs,
    builder,
    runtime,
    runtimeLogs,
    tasks,
    canaryMetrics: new LocalCanaryMetrics(runtime.requestStats),
    sources: new LocalSourcePreparer(
      blobs,
      caps,
      join(dir, 'work', 'sources'),
      config.BATON_MAX_ARCHIVE_RATIO,
      localSecrets(config.BATON_LOCAL_SECRETS_FILE),
    ),
    probe: fetchProbe,
    tester: new FetchTester(),
    clock,
    logs,
    newId: () => randomUUID(),
    settings: {
      ...DEFAULT_SETTINGS,
      target: 'local',
      claim_lease_ms: config.BATON_CLAIM_LEASE_MS,
      // One stack per data folder (its lock): a claim another boot of it took is a dead worker's.
      worker_id: randomUUID(),
      sole_worker: true,
      build_timeout_ms: config.BATON_BUILD_TIMEOUT_S * 1000 + 60_000,
      verify_poll_interval_ms: config.BATON_VERIFY_POLL_MS,
      health_attempts: config.BATON_HEALTH_ATTEMPTS,
      health_timeout_ms: config.BATON_HEALTH_TIMEOUT_MS,
      max_active_per_agent: config.BATON_MAX_ACTIVE_PER_AGENT,
      max_active_per_owner: config.BATON_MAX_ACTIVE_PER_OWNER,
      max_queued_per_owner: config.BATON_MAX_QUEUED_PER_OWNER,
      queue_retry_after_s: config.BATON_QUEUE_RETRY_AFTER_S,
      environments: config.environments,
      test_slice_ms: config.BATON_TEST_SLICE_MS,
      test_request_timeout_ms: config.BATON_HEALTH_TIMEOUT_MS,
      canary_check_ms: config.BATON_CANARY_CHECK_MS,
    },
  };
  holder.deps = deps;
  const designStore = new LocalDesignStore(join(dir, 'store', 'designs'));
  const scheduler = new LocalScheduler(join(dir, 'schedules'), bus, { clock });
  const agents = new HttpAgentCaller({
    allow: parseAllowList(config.BATON_AGENT_URL_ALLOW ?? '127.0.0.1:*,localhost:*'),
    resolveAgent: async (agentId) => (await jobs.getService(agentId))?.url ?? null,
  });
  const designs: DesignDeps = {
    store: designStore,
    scheduler,
    tasks,
    agents,
    clock,
    newId: () => randomUUID(),
    sleep: (ms, signal) => sleep(ms, undefined, { signal }),
    settings: {
      // The stack sets both once its port is bound.
      base_url: config.BATON_PUBLIC_URL ?? `http://${config.BATON_HOST}:${config.PORT}`,
      scheduled_url: `http://${config.BATON_HOST}:${config.PORT}/api/internal/scheduled`,
      lease_ms: config.BATON_DESIGN_LEASE_MS,
      max_request_bytes: config.BATON_DESIGN_MAX_REQUEST_BYTES,
      sync_commits: config.BATON_DESIGN_SYNC_COMMITS,
      run_task_deadline_ms: config.BATON_DESIGN_RUN_TIMEOUT_S * 1000,
    },
  };
  deps.designs = designs;
  return { deps, jobs, bus, tasks, blobs, builder, runtime, cleanup, runtimeLogs, scheduler, designStore, agents };
}

/**
 * The local stand-in for Secret Manager: a JSON file of names to values, read when asked (so an
 * edit needs no restart), never logged. A bad file fails the deployment that asks, naming the file.
 */
export function localSecrets(file: string | undefined): (name: string) => string | null {
  return (name) => {
    if (!file) return null;
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new PermanentError(
        `BATON_LOCAL_SECRETS_FILE ${file} cannot be read as JSON (${codeOf(err) ?? 'invalid'})`,
        'Make it a JSON object of secret names to values',
      );
    }
    const value = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>)[name] : undefined;
    return typeof value === 'string' ? value : null;
  };
}
