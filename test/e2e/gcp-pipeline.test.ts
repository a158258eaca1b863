import type { Subscription } from '@google-cloud/pubsub';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { toCloudEvent } from '../../functions/lib/pubsub-event.js';
import { EVENT_FUNCTIONS, TASK_FUNCTIONS } from '../../functions/registry.js';
import type { BuildResource } from '../../shared/adapters/gcp/builder.js';
import { TOKEN_ENV } from '../../shared/adapters/gcp/git-step.js';
import { loadConfig, loadGcpConfig } from '../../shared/config.js';
import { buildTag } from '../../shared/domain/events.js';
import { isFinal } from '../../shared/domain/status.js';
import { QUEUES, TOPICS } from '../../shared/domain/topics.js';
import type { HttpProbe } from '../../shared/ports/index.js';
import { buildGcpAdapters, type GcpAdapters } from '../../shared/wiring/gcp.js';
import { Workspace } from '../support/cloudbuild-steps.js';
import { describeWithEmulators, type Emulator, pubsubClient, startEmulator, uniqueProjectId } from '../support/emulators.js';
import { FakeTester } from '../support/fakes.js';
import { type BuildNotificationMessage, type CloudBuildFake, startCloudBuildFake } from '../support/gcp-fakes/cloudbuild-server.js';
import { type CloudRunFake, startCloudRunFake } from '../support/gcp-fakes/run-server.js';
import { FakeStorageServer } from '../support/gcp-fakes/storage-server.js';
import { FakeCloudTasksServer } from '../support/gcp-fakes/tasks-server.js';
import { type GitServer, startGitServer } from '../support/git-server.js';

/**
 * The whole pipeline on the gcp adapters: Firestore and Pub/Sub are Google's emulators; Cloud
 * Storage, Cloud Tasks, Cloud Build and Cloud Run are the in-process fakes. A small driver plays
 * the parts of Google that no stand-in plays: it delivers each Pub/Sub message to its function (as
 * the push subscriptions would), dispatches each created task to its function (as Cloud Tasks
 * would), and publishes Cloud Build's notifications. The adapters' counters then give the cost of
 * one successful deployment. What this does not prove: real builds, real containers, IAM, push
 * delivery and dead-lettering by Pub/Sub itself, Cloud Tasks' own dispatch and retries.
 */
describeWithEmulators('the pipeline on the gcp adapters (emulators and fakes)', () => {
  const PROJECT = uniqueProjectId('baton-e2e');
  const REGION = 'us-central1';
  const BUCKET = 'baton-e2e-bucket';
  const TARGETS = {
    verify: 'https://verify.example.test',
    'test-slice': 'https://test-slice.example.test',
    'approval-check': 'https://approval-check.example.test',
    'canary-step': 'https://canary.example.test',
    'rollback-check': 'https://rollback-check.example.test',
    'build-log': 'https://build-log.example.test',
  };
  const BUILD_LOGS = 'baton-e2e-build-logs';
  /** Builds of this agent are moved along by their test, not by the driver. */
  const HELD_AGENT = 'gcp-logs';
  let firestore: Emulator;
  let pubsub: Emulator;
  let storage: FakeStorageServer;
  let tasks: FakeCloudTasksServer;
  let build: CloudBuildFake;
  let run: CloudRunFake;
  let git: GitServer;
  let gitSha: string;
  const GIT_TOKEN = 'ghp_e2e0123456789abcdefghijklmnopqrstuv';
  let a: GcpAdapters;
  let stopDriver: () => Promise<void>;
  /** Puts the fake Cloud Build's notifications on the emulator's topic each build named (set by the driver). */
  let publishNotification: ((n: BuildNotificationMessage) => void) | undefined;
  const tester = new FakeTester();
  const probe: HttpProbe = {
    get: async () => ({ status: 200, body: '{"status":"ok","services":{"db":true}}' }),
    connect: async () => ({ ok: true }),
  };

  beforeAll(async () => {
    git = await startGitServer(GIT_TOKEN, { tls: true });
    gitSha = git.repo('private-mono', { 'README.md': 'mono', 'services/api/package.json': '{"name":"api","scripts":{"start":"node ."}}' });
    [firestore, pubsub, storage, tasks, run] = await Promise.all([
      startEmulator('firestore', { projectId: PROJECT }),
      startEmulator('pubsub', { projectId: PROJECT }),
      FakeStorageServer.start({ buckets: [BUCKET, BUILD_LOGS] }),
      FakeCloudTasksServer.start({ queues: Object.values(QUEUES).map((q) => `projects/${PROJECT}/locations/${REGION}/queues/${q}`) }),
      startCloudRunFake(),
    ]);
    build = await startCloudBuildFake({ onNotification: (n) => publishNotification?.(n), storage });
    process.env.FIRESTORE_EMULATOR_HOST = firestore.host;
    process.env.PUBSUB_EMULATOR_HOST = pubsub.host;
    const env = {
      BATON_TARGET: 'gcp',
      BATON_GCP_PROJECT: PROJECT,
      BATON_GCP_REGION: REGION,
      BATON_BUCKET: BUCKET,
      BATON_TASKS_SERVICE_ACCOUNT: `baton-tasks@${PROJECT}.iam.gserviceaccount.com`,
      BATON_TASK_TARGETS: JSON.stringify(TARGETS),
      BATON_STORAGE_ENDPOINT: storage.url,
      BATON_TASKS_ENDPOINT: tasks.endpoint,
      BATON_CLOUDBUILD_ENDPOINT: build.endpoint,
      BATON_CLOUDBUILD_REST_ENDPOINT: build.restEndpoint,
      BATON_RUN_ENDPOINT: run.endpoint,
      BATON_GIT_TOKEN_SECRETS: JSON.stringify({ 'git-token': new URL(git.url).host }),
      BATON_BUILD_LOGS_BUCKET: BUILD_LOGS,
    };
    a = buildGcpAdapters(loadConfig(env), loadGcpConfig(env), { probe, tester, minObjectWriteIntervalMs: 20 });
    a.deps.settings.verify_poll_interval_ms = 20;
    a.deps.settings.build_log_poll_ms = 30;
    stopDriver = await startDriver();
  }, 90_000);

  afterAll(async () => {
    await stopDriver?.();
    await Promise.all([
      firestore?.stop(),
      pubsub?.stop(),
      storage?.close?.(),
      tasks?.close?.(),
      build?.close(),
      run?.close(),
      git?.close(),
    ]);
  });

  /** Plays Pub/Sub push, Cloud Tasks dispatch and Cloud Build's notifications against the functions. */
  async function startDriver(): Promise<() => Promise<void>> {
    const admin = pubsubClient(pubsub, PROJECT);
    const subscriptions: Subscription[] = [];
    for (const [name, fn] of Object.entries(EVENT_FUNCTIONS)) {
      const [topic] = await admin.topic(fn.topic).get({ autoCreate: true });
      const [sub] = await topic.subscription(`push-${name}`).get({ autoCreate: true });
      sub.on('message', (m) => {
        const event = toCloudEvent(fn.topic, {
          data: m.data,
          attributes: m.attributes,
          messageId: m.id,
          publishTime: m.publishTime.toISOString(),
          deliveryAttempt: m.deliveryAttempt || 1,
        });
        fn.handle(a.deps, event).then(
          () => m.ack(),
          () => m.nack(),
        );
      });
      subscriptions.push(sub);
    }
    // A topic the emulator does not have (cloud-builds) fails the publish: the build would never be seen.
    publishNotification = (n) => {
      admin
        .topic(n.topic.split('/').pop() ?? '')
        .publishMessage({ json: n.data, attributes: n.attributes })
        .catch((err: unknown) =>
          console.error(`could not publish ${n.attributes.status} of ${n.attributes.buildId} on ${n.topic}: ${String(err)}`),
        );
    };
    const byUrl = new Map(Object.entries(TARGETS).map(([fn, url]) => [url, TASK_FUNCTIONS[fn]]));
    const done = new Set<string>();
    const notified = new Set<string>();
    const timer = setInterval(() => {
      for (const task of tasks.tasks.values()) {
        const due = Number(task.scheduleTime?.seconds ?? 0) * 1000 <= Date.now();
        if (done.has(task.name) || !due) continue;
        done.add(task.name);
        const http = task.httpRequest as { url: string; body: string };
        const fn = byUrl.get(http.url);
        const payload = JSON.parse(Buffer.from(http.body, 'base64').toString('utf8'));
        fn?.handle(a.deps, payload).catch(() => done.delete(task.name));
      }
      for (const [id, created] of build.builds) {
        if (notified.has(id)) continue;
        notified.add(id);
        if (created.substitutions?._AGENT_ID === HELD_AGENT) continue;
        const image = `${REGION}-docker.pkg.dev/${PROJECT}/baton/app`;
        const digest = `sha256:${id.replace(/-/g, '').padEnd(64, '0').slice(0, 64)}`;
        // The fake publishes each state on the topic the build named (and QUEUED at create).
        build.setStatus(id, 'WORKING');
        const resource = created as unknown as BuildResource;
        if (!resource.steps?.some((st) => st.id === 'fetch')) {
          build.setStatus(id, 'SUCCESS', { results: { images: [{ name: image, digest }] } });
          continue;
        }
        // A git source: its fetch step runs as Cloud Build would run it, against the test's git server.
        const workspace = new Workspace(resource, { [TOKEN_ENV]: GIT_TOKEN }, { GIT_SSL_CAINFO: git.caFile ?? '' });
        void workspace.run('fetch').then((run) => {
          workspace.remove();
          const outputs = resource.steps.map((st) => Buffer.from(st.id === 'fetch' ? run.output : '', 'base64'));
          if (run.code === 0) build.setStatus(id, 'SUCCESS', { results: { images: [{ name: image, digest }], buildStepOutputs: outputs } });
          else build.setStatus(id, 'FAILURE', { failureInfo: { type: 'USER_BUILD_STEP', detail: run.log.trim().split('\n').pop() ?? '' } });
        });
      }
    }, 15);
    return async () => {
      clearInterval(timer);
      await Promise.all(subscriptions.map((s) => s.close()));
      await admin.close();
    };
  }

  async function waitFinal(id: string) {
    const until = Date.now() + 60_000;
    while (Date.now() < until) {
      const job = await a.jobs.get(id);
      if (job && isFinal(job.status)) return job;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`deployment ${id} did not finish: ${JSON.stringify(await a.jobs.get(id))}`);
  }

  function snapshot() {
    return {
      firestore_writes: a.jobs.counters.writes,
      firestore_reads: a.jobs.counters.reads,
      pubsub_published_by_baton: a.bus.counters.published,
      tasks_created: a.tasks.counters.created,
      storage_writes: a.blobs.counters.writes,
    };
  }

  it('deploys twice through every stage, and counts what one successful deployment costs', async () => {
    const { acceptDeployment } = await import('../../shared/pipeline/requests.js');
    const { DeploymentRequestSchema } = await import('../../shared/domain/request.js');
    const request = (version: string) => DeploymentRequestSchema.parse({ agent_id: 'gcp-agent', version, config: { name: 'helper' } });

    const first = await acceptDeployment(a.deps, request('v1'));
    const v1 = await waitFinal(first.deployment_id);
    expect(v1.status, v1.error_message ?? '').toBe('completed');
    expect(v1.service_url).toMatch(/^https:\/\//);
    // No limits asked for: the default environment's (development: 512 MiB, 0.5 CPU).
    const rev = [...run.revisions.values()].find((r) => r.name?.endsWith(`/${v1.revision}`));
    expect(rev?.containers?.[0]?.resources?.limits).toEqual({ memory: '512Mi', cpu: '0.5' });

    const before = snapshot();
    const second = await acceptDeployment(a.deps, request('v2'));
    const v2 = await waitFinal(second.deployment_id);
    const after = snapshot();
    expect(v2.status, v2.error_message ?? '').toBe('completed');
    expect(v2.previous_revision).toBe(v1.revision);
    expect(build.createRequests.at(-1)?.build).toMatchObject({ tags: [buildTag(second.deployment_id)] });

    const perDeployment = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof typeof before]]));
    // Cloud Build publishes one notification per state change, on the build's own topic; build-events receives each.
    const notes = build.notifications.filter((n) => n.attributes.buildId === v2.build_id);
    expect(notes.map((n) => n.topic)).toEqual(Array(3).fill(`projects/${PROJECT}/topics/${TOPICS.builds}`));
    const notifications = notes.length;
    console.log(`per successful deployment: ${JSON.stringify({ ...perDeployment, build_notifications: notifications })}`);
    // requested, validated, prepared, built, verified, tested, approved (the gate's: development needs no approval).
    expect(perDeployment.pubsub_published_by_baton).toBe(7);
    expect(perDeployment.tasks_created).toBeGreaterThanOrEqual(1);
    expect(perDeployment.firestore_writes).toBeGreaterThan(5);

    const log = (await a.deps.blobs.get(`deployment_logs/gcp-agent/${second.deployment_id}.log`))?.toString() ?? '';
    for (const stage of ['validating', 'preparing', 'building', 'deploying', 'verifying', 'testing', 'promoting'])
      expect(log).toContain(`[${stage}]`);
  }, 120_000);

  it('runs a load test in slices, each a task through the Cloud Tasks fake, and combines them', async () => {
    const { acceptDeployment } = await import('../../shared/pipeline/requests.js');
    const { DeploymentRequestSchema } = await import('../../shared/domain/request.js');
    a.deps.settings.test_slice_ms = 1000;
    tester.slices = [
      { duration_ms: 1000, total: 100, successful: 100, latency_avg_ms: 2, latency_max_ms: 9 },
      { duration_ms: 1000, total: 100, successful: 90, latency_avg_ms: 4, latency_max_ms: 30 },
      { duration_ms: 500, total: 50, successful: 50, latency_avg_ms: 2, latency_max_ms: 5 },
    ];
    const slicesBefore = [...tasks.tasks.values()].filter((t) => (t.httpRequest as { url: string }).url === TARGETS['test-slice']).length;
    const accepted = await acceptDeployment(
      a.deps,
      DeploymentRequestSchema.parse({
        agent_id: 'gcp-load',
        config: { name: 'helper' },
        test_options: { load_test: true, concurrent_users: 4, test_duration: 2.5 },
      }),
    );
    const job = await waitFinal(accepted.deployment_id);
    expect(job.status, job.error_message ?? '').toBe('completed');
    const sliceTasks = [...tasks.tasks.values()].filter((t) => (t.httpRequest as { url: string }).url === TARGETS['test-slice']);
    expect(sliceTasks.length - slicesBefore).toBe(3);
    expect(job.load_slices.map((s) => s.total)).toEqual([100, 100, 50]);
    expect(tester.loads.slice(-3).map((l) => [l.connections, l.duration_ms])).toEqual([
      [4, 1000],
      [4, 1000],
      [4, 500],
    ]);
    const load = job.test_results.find((r) => r.test_type === 'load_test');
    expect(load?.metrics).toMatchObject({
      total_requests: 250,
      successful_requests: 240,
      success_rate: 0.96,
      slices: 3,
      requests_per_second: 100,
    });
  }, 60_000);

  it('waits for approval without a function waiting: approve continues it; a deadline is a Cloud Tasks delivery that fails it', async () => {
    const { acceptDeployment } = await import('../../shared/pipeline/requests.js');
    const { approveDeployment } = await import('../../shared/pipeline/approval-requests.js');
    const { DeploymentRequestSchema } = await import('../../shared/domain/request.js');
    const request = (agent_id: string, timeout: number) =>
      DeploymentRequestSchema.parse({
        agent_id,
        config: { name: 'helper' },
        deployment_options: { approval: 'required', approval_timeout_seconds: timeout },
      });
    const waitStatus = async (id: string, status: string) => {
      const until = Date.now() + 30_000;
      while (Date.now() < until) {
        const job = await a.jobs.get(id);
        if (job?.status === status || (job && isFinal(job.status))) return job;
        await new Promise((r) => setTimeout(r, 30));
      }
      throw new Error(`${id} never reached ${status}`);
    };
    const approved = await acceptDeployment(a.deps, request('gcp-approve', 3600), 'ann@example.com');
    const waiting = await waitStatus(approved.deployment_id, 'awaiting_approval');
    expect(waiting?.status).toBe('awaiting_approval');
    // The wait is committed before its deadline task is created: give the enqueue a moment.
    const findDeadline = () =>
      [...tasks.tasks.values()].find(
        (t) => (t.httpRequest as { url: string }).url === TARGETS['approval-check'] && t.name?.includes(approved.deployment_id),
      );
    for (let i = 0; i < 100 && !findDeadline(); i++) await new Promise((r) => setTimeout(r, 20));
    const deadline = findDeadline();
    // Scheduled for the deadline, an hour ahead: nothing polls meanwhile.
    expect(Number(deadline?.scheduleTime?.seconds) * 1000).toBeGreaterThan(Date.now() + 3_500_000);
    expect(await approveDeployment(a.deps, approved.deployment_id, 'bob@example.com').catch((e: unknown) => e)).toMatchObject({
      code: 'forbidden',
    });
    await approveDeployment(a.deps, approved.deployment_id, 'ann@example.com');
    const done = await waitFinal(approved.deployment_id);
    expect(done.status, done.error_message ?? '').toBe('completed');
    expect(done.approval).toMatchObject({ state: 'approved', decided_by: 'ann@example.com' });

    // The next deployment of that agent waits one second: its deadline task fails it and, with the
    // serving revision before it, rolls back, which removes the candidate once Cloud Run serves the old split.
    const expired = await acceptDeployment(a.deps, request('gcp-approve', 1));
    const failed = await waitFinal(expired.deployment_id);
    expect(failed.status, failed.logs.join('\n')).toBe('rolled_back');
    expect(failed.failed_stage).toBe('awaiting_approval');
    expect(failed.error_message).toMatch(/^Not approved within 1 s \(deadline .*\): revision .* was not promoted. Deploy again/);
    // Cloud Run keeps a service's latest revision (the adapter leaves it, counted): what matters is that nothing routes to it.
    const svc = [...run.services.values()].find((s) => s.name?.endsWith('/gcp-approve'));
    expect(svc?.traffic?.map((t) => [t.revision, t.percent, t.tag ?? null])).toEqual([[done.revision, 100, null]]);
  }, 60_000);

  it('deploys a private git repository: Cloud Build clones it with the token from Secret Manager, and the commit is recorded', async () => {
    const { acceptDeployment } = await import('../../shared/pipeline/requests.js');
    const { DeploymentRequestSchema } = await import('../../shared/domain/request.js');
    const source = { type: 'git', url: `${git.url}/private-mono.git`, ref: 'main', path: 'services/api', token_secret: 'git-token' };
    const accepted = await acceptDeployment(a.deps, DeploymentRequestSchema.parse({ agent_id: 'gcp-git', source }));
    const job = await waitFinal(accepted.deployment_id);
    expect(job.status, job.error_message ?? job.logs.join('\n')).toBe('completed');
    expect(job.commit_sha).toBe(gitSha);
    const { build: sent } = build.createRequests.find((r) => (r.build as BuildResource).tags?.includes(buildTag(job.deployment_id))) as {
      build: BuildResource;
    };
    expect(sent.steps[0]).toMatchObject({ id: 'fetch', secretEnv: [TOKEN_ENV] });
    expect(JSON.stringify(sent)).not.toContain(GIT_TOKEN);
    const log = (await a.deps.blobs.get(`deployment_logs/gcp-git/${job.deployment_id}.log`))?.toString() ?? '';
    expect(log).toContain(`Built commit ${gitSha}`);
    expect(job.validation_results.find((r) => r.test_name === 'source_analysis')?.message).toMatch(
      /^Not analysed or linted before the build/,
    );
    expect(JSON.stringify(job)).not.toContain(GIT_TOKEN);

    // Refused at the API, before anything is queued: a token for another host, credentials in the URL, plain http.
    for (const [bad, field] of [
      [{ ...source, url: 'https://evil.example/x.git' }, 'source.token_secret'],
      [{ ...source, url: `${git.url.replace('https://', 'https://u:p@')}/private-mono.git`, token_secret: undefined }, 'source.url'],
      [{ ...source, url: 'http://127.0.0.1:1/x.git', token_secret: undefined }, 'source.url'],
    ] as const)
      await expect(acceptDeployment(a.deps, DeploymentRequestSchema.parse({ agent_id: 'gcp-git-bad', source: bad }))).rejects.toMatchObject(
        {
          code: 'invalid',
          field,
        },
      );
    expect((await a.jobs.list({ agent_id: 'gcp-git-bad', limit: 5 })).items).toHaveLength(0);
  }, 90_000);

  it("streams a running build's log from the logs bucket into the job while it builds, each line once, the step named", async () => {
    const { acceptDeployment } = await import('../../shared/pipeline/requests.js');
    const { DeploymentRequestSchema } = await import('../../shared/domain/request.js');
    const accepted = await acceptDeployment(a.deps, DeploymentRequestSchema.parse({ agent_id: HELD_AGENT, config: { name: 'helper' } }));
    const id = accepted.deployment_id;
    const until = async <T>(what: string, probe: () => Promise<T | null | undefined | false>): Promise<T> => {
      const end = Date.now() + 30_000;
      while (Date.now() < end) {
        const v = await probe();
        if (v) return v;
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(await a.jobs.get(id))}`);
    };
    const buildId = await until('the build', async () => {
      const job = await a.jobs.get(id);
      return job?.status === 'building' && job.claim?.token === job.build_id && job.build_id;
    });
    const request = build.createRequests.find((r) => (r.build as BuildResource).tags?.includes(buildTag(id)))?.build as BuildResource;
    expect(request.logsBucket).toBe(`gs://${BUILD_LOGS}`);
    expect(request.options).toMatchObject({ logging: 'LEGACY', logStreamingOption: 'STREAM_ON' });
    const buildLines = async () =>
      ((await a.jobs.get(id))?.logs ?? []).map((l) => l.slice(l.indexOf('build: ') >= 0 ? l.indexOf('build: ') : l.length)).filter(Boolean);

    build.setStatus(buildId, 'WORKING');
    build.appendLog(buildId, `starting build "${buildId}"\n\nFETCHSOURCE\nBUILD\nStarting Step #0 - "dockerfile"\n`);
    build.appendLog(buildId, 'Step #0 - "dockerfile": Building with the Dockerfile in the source\nFinished Step #0 - "dockerfile"\n');
    await until(
      'the first lines in the job',
      async () =>
        (await buildLines()).includes('build: [dockerfile] Finished') || (await buildLines()).includes('build: [dockerfile] finished'),
    );
    expect((await a.jobs.get(id))?.status).toBe('building');
    build.appendLog(
      buildId,
      'Starting Step #1 - "build"\nStep #1 - "build": Step 1/3 : FROM node:22-slim\nStep #1 - "build": Successfully bui',
    );
    await until('the build step', async () => (await buildLines()).includes('build: [build] Step 1/3 : FROM node:22-slim'));
    // The line still being written is not taken yet.
    expect((await buildLines()).some((l) => l.includes('Successfully bui'))).toBe(false);
    expect((await a.jobs.get(id))?.status).toBe('building');

    // A task delivered again (Cloud Tasks is at least once) copies nothing twice.
    const logTasks = [...tasks.tasks.values()].filter((t) => (t.httpRequest as { url: string }).url === TARGETS['build-log']);
    expect(logTasks.length).toBeGreaterThanOrEqual(2);
    const last = logTasks[logTasks.length - 1].httpRequest as { body: string };
    const again = JSON.parse(Buffer.from(last.body, 'base64').toString('utf8'));
    await TASK_FUNCTIONS['build-log'].handle(a.deps, again);
    await TASK_FUNCTIONS['build-log'].handle(a.deps, again);

    build.appendLog(buildId, 'lt 4f2a\nFinished Step #1 - "build"\nPUSH\nDONE');
    const image = `${REGION}-docker.pkg.dev/${PROJECT}/baton/app`;
    build.setStatus(buildId, 'SUCCESS', { results: { images: [{ name: image, digest: `sha256:${'1'.repeat(64)}` }] } });
    const job = await waitFinal(id);
    expect(job.status, job.error_message ?? '').toBe('completed');
    const full = ((await a.deps.blobs.get(`deployment_logs/${HELD_AGENT}/${id}.log`))?.toString() ?? '').split('\n');
    const copied = full.filter((l) => l.includes('[building] build: ')).map((l) => l.slice(l.indexOf('build: ')));
    expect(copied).toEqual([
      `build: starting build "${buildId}"`,
      'build: FETCHSOURCE',
      'build: BUILD',
      'build: [dockerfile] started',
      'build: [dockerfile] Building with the Dockerfile in the source',
      'build: [dockerfile] finished',
      'build: [build] started',
      'build: [build] Step 1/3 : FROM node:22-slim',
      'build: [build] Successfully built 4f2a',
      'build: [build] finished',
      'build: PUSH',
      // The last line has no newline: read once the build has ended.
      'build: DONE',
    ]);
    // Before the build's outcome, and the offset is the whole object.
    expect(full.findIndex((l) => l.includes('build: DONE'))).toBeLessThan(full.findIndex((l) => l.includes(`Build ${buildId} succeeded`)));
    expect(job.build_log).toEqual({ build_id: buildId, offset: storage.object(BUILD_LOGS, `log-${buildId}.txt`)?.data.length, lines: 12 });
    const reads = storage.requestsOf('download').filter((r) => r.object === `log-${buildId}.txt`);
    console.log(`build log reads for one build: ${reads.length} (${reads.map((r) => r.status).join(' ')})`);
  }, 90_000);

  it('fails a stage at once, with the API message and the role to grant, when Google refuses a call for good', async () => {
    const { acceptDeployment } = await import('../../shared/pipeline/requests.js');
    const { DeploymentRequestSchema } = await import('../../shared/domain/request.js');
    const request = (agent_id: string) => DeploymentRequestSchema.parse({ agent_id, version: 'v1', config: { name: 'helper' } });

    // Before: PERMISSION_DENIED was retried through the whole back-off; the job never ended here.
    build.iam.deny('cloudbuild.builds.create');
    const creates = build.calls.CreateBuild ?? 0;
    try {
      const denied = await waitFinal((await acceptDeployment(a.deps, request('gcp-denied-build'))).deployment_id);
      expect(denied.status).toBe('failed');
      expect(denied.failed_stage).toBe('building');
      expect(denied.error_message).toBe(
        'Cloud Build answered PERMISSION_DENIED to submit: The caller does not have permission. ' +
          "Grant the calling function's service account roles/cloudbuild.builds.editor: terraform/iam.tf declares the grants, apply it, then deploy again",
      );
      expect((build.calls.CreateBuild ?? 0) - creates).toBe(1);
    } finally {
      build.iam.allow('cloudbuild.builds.create');
    }

    tasks.iam.deny('cloudtasks.tasks.create');
    try {
      const denied = await waitFinal((await acceptDeployment(a.deps, request('gcp-denied-tasks'))).deployment_id);
      expect(denied.status).toBe('failed');
      expect(denied.failed_stage).toBe('deploying');
      expect(denied.error_message).toContain('lacks IAM permission "cloudtasks.tasks.create"');
      expect(denied.error_message).toContain('roles/cloudtasks.enqueuer');
      // One refused readiness poll, not retried (the build's log reads were refused too, and only said so).
      expect(
        tasks.callsOf('CreateTask').filter((c) => c.code === 7 && String(c.request.parent).endsWith(`/${QUEUES.verifyPoll}`)),
      ).toHaveLength(1);
    } finally {
      tasks.iam.allow('cloudtasks.tasks.create');
    }
  }, 120_000);
});
