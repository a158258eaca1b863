import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GoogleApiError, withApiErrors } from '../../shared/adapters/gcp/api-errors.js';
import { GcsBlobStore } from '../../shared/adapters/gcp/blob-store.js';
import { CloudBuildBuilder } from '../../shared/adapters/gcp/builder.js';
import { CloudSchedulerAdapter } from '../../shared/adapters/gcp/scheduler.js';
import { CloudTasksQueue } from '../../shared/adapters/gcp/task-queue.js';
import { isPermanent, messageOf } from '../../shared/domain/errors.js';
import { QUEUES } from '../../shared/domain/topics.js';
import { configureLogging } from '../../shared/logger.js';
import { buildGcpClients, type GcpClients } from '../../shared/wiring/gcp-clients.js';
import { type GcpConfig, GcpConfigSchema } from '../../shared/wiring/gcp-config.js';
import { type CloudBuildFake, startCloudBuildFake } from '../support/gcp-fakes/cloudbuild-server.js';
import { FakeCloudSchedulerServer } from '../support/gcp-fakes/scheduler-server.js';
import { FakeStorageServer } from '../support/gcp-fakes/storage-server.js';
import { FakeCloudTasksServer } from '../support/gcp-fakes/tasks-server.js';

/**
 * Deterministic refusals through the real client libraries (built by buildGcpClients) against
 * the in-process fakes, which answer them in the APIs' own shape: the adapters, wrapped as
 * shared/wiring/gcp.ts wraps them, turn each into a PermanentError with the API's words and what
 * to do, and leave transient failures and the codes the adapters interpret themselves alone.
 */

const PROJECT = 'baton-test';
const REGION = 'europe-west1';
const BUCKET = 'baton-errors-bucket';
const SA = `baton-tasks@${PROJECT}.iam.gserviceaccount.com`;
const TARGETS = { verify: 'https://verify.example.test', 'canary-step': 'https://canary.example.test' };

let tasks: FakeCloudTasksServer;
let build: CloudBuildFake;
let storage: FakeStorageServer;
let scheduler: FakeCloudSchedulerServer;
let clients: GcpClients;
let config: GcpConfig;
const logged: string[] = [];

beforeAll(async () => {
  configureLogging({ format: 'json', write: (line) => logged.push(line) });
  [tasks, build, storage, scheduler] = await Promise.all([
    FakeCloudTasksServer.start({ queues: [`projects/${PROJECT}/locations/${REGION}/queues/${QUEUES.verifyPoll}`] }),
    startCloudBuildFake(),
    FakeStorageServer.start({ buckets: [BUCKET] }),
    FakeCloudSchedulerServer.start(),
  ]);
  config = GcpConfigSchema.parse({
    BATON_GCP_PROJECT: PROJECT,
    BATON_GCP_REGION: REGION,
    BATON_BUCKET: BUCKET,
    BATON_ARTIFACT_REPO: 'baton-images',
    BATON_TASKS_SERVICE_ACCOUNT: SA,
    BATON_TASK_TARGETS: JSON.stringify(TARGETS),
    BATON_TASKS_ENDPOINT: tasks.endpoint,
    BATON_CLOUDBUILD_ENDPOINT: build.endpoint,
    BATON_CLOUDBUILD_REST_ENDPOINT: build.restEndpoint,
    BATON_STORAGE_ENDPOINT: storage.url,
    BATON_SCHEDULER_ENDPOINT: scheduler.endpoint,
  });
  clients = buildGcpClients(config);
});

afterAll(async () => {
  await Promise.all([clients.tasks.close(), clients.cloudbuild.close(), clients.scheduler.close()]);
  await Promise.all([tasks.close(), build.close(), storage.close(), scheduler.close()]);
});

const queue = () => withApiErrors('tasks', CloudTasksQueue.fromConfig(clients.tasks, config));
const builder = () => withApiErrors('cloudbuild', new CloudBuildBuilder(clients.cloudbuild, clients.cloudbuildRest, config));
const blobs = () => withApiErrors('storage', new GcsBlobStore(clients.storage, BUCKET, { minWriteIntervalMs: 0 }));
const task = (name: string) => ({ name, payload: { deployment_id: 'd1' } });
const buildSpec = { deployment_id: 'd1', agent_id: 'agent', source_key: 'sources/agent/d1.tar.gz', tags: ['baton-d1'], substitutions: {} };

async function refusal(p: Promise<unknown>): Promise<GoogleApiError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GoogleApiError);
  return err as GoogleApiError;
}

describe('Google API refusals through the real clients', () => {
  it('Cloud Tasks: a missing cloudtasks.tasks.create is permanent, in the API words, naming roles/cloudtasks.enqueuer', async () => {
    tasks.iam.deny('cloudtasks.tasks.create');
    try {
      const err = await refusal(queue().enqueue(QUEUES.verifyPoll, task('denied-1')));
      expect(err.status).toBe('PERMISSION_DENIED');
      expect(err.message).toBe(
        `Cloud Tasks answered PERMISSION_DENIED to enqueue: The principal (user or service account) lacks IAM permission "cloudtasks.tasks.create" ` +
          `for the resource "projects/${PROJECT}/locations/${REGION}/queues/${QUEUES.verifyPoll}" (or the resource may not exist)`,
      );
      expect(err.hint).toContain(
        "Grant the calling function's service account roles/cloudtasks.enqueuer, which holds cloudtasks.tasks.create",
      );
      // The ErrorInfo the fake sends in grpc-status-details-bin, as google-gax decodes it.
      expect(err.cause).toMatchObject({ reason: 'IAM_PERMISSION_DENIED', errorInfoMetadata: { permission: 'cloudtasks.tasks.create' } });
      // Refused once, as the API did: gax does not retry PERMISSION_DENIED either.
      expect(tasks.callsOf('CreateTask').filter((c) => c.code === 7)).toHaveLength(1);
    } finally {
      tasks.iam.allow('cloudtasks.tasks.create');
    }
    expect(await queue().enqueue(QUEUES.verifyPoll, task('denied-1'))).toBe('created');
  });

  it('Cloud Tasks: acting as the OIDC service account needs roles/iam.serviceAccountUser; a missing queue points at Terraform', async () => {
    tasks.iam.deny('iam.serviceAccounts.actAs');
    try {
      const err = await refusal(queue().enqueue(QUEUES.verifyPoll, task('act-as')));
      expect(err.message).toContain(`"iam.serviceAccounts.actAs" for the resource "${SA}"`);
      expect(err.hint).toContain('roles/iam.serviceAccountUser');
    } finally {
      tasks.iam.allow('iam.serviceAccounts.actAs');
    }
    const missing = await refusal(queue().enqueue(QUEUES.promoteStep, task('no-queue')));
    expect(missing.status).toBe('NOT_FOUND');
    expect(messageOf(missing)).toContain('The queue does not exist: Terraform may not have been applied');
    // ALREADY_EXISTS of a named task is the adapter's de-duplication, not an error.
    expect(await queue().enqueue(QUEUES.verifyPoll, task('denied-1'))).toBe('exists');
  });

  it('Cloud Build: PERMISSION_DENIED names roles/cloudbuild.builds.editor; INVALID_ARGUMENT keeps the field the API named', async () => {
    build.iam.deny('cloudbuild.builds.create');
    try {
      const err = await refusal(builder().submit(buildSpec));
      expect(err.message).toBe('Cloud Build answered PERMISSION_DENIED to submit: The caller does not have permission');
      expect(err.hint).toMatch(/^Grant the calling function's service account roles\/cloudbuild\.builds\.editor: terraform/);
    } finally {
      build.iam.allow('cloudbuild.builds.create');
    }
    const invalid = await refusal(builder().submit({ ...buildSpec, tags: ['-bad tag'] }));
    expect(invalid.status).toBe('INVALID_ARGUMENT');
    expect(invalid.message).toContain('invalid build tag "-bad tag"');
    expect(invalid.hint).toContain('correct the request');
    // A cancel of a finished build is FAILED_PRECONDITION, which the adapter takes as "nothing to stop".
    const { build_id } = await builder().submit(buildSpec);
    build.setStatus(build_id, 'SUCCESS');
    await expect(builder().cancel(build_id)).resolves.toBeUndefined();
  });

  it('Cloud Storage: a 403 names roles/storage.objectUser and the permission; a 404 on get is still null', async () => {
    storage.iam.deny('storage.objects.create');
    try {
      const err = await refusal(blobs().put('sources/a/d1.tar.gz', 'x'));
      expect(err.status).toBe('HTTP 403');
      expect(err.message).toContain(
        "does not have storage.objects.create access to the Google Cloud Storage object. Permission 'storage.objects.create' denied",
      );
      expect(err.hint).toContain('roles/storage.objectUser, which holds storage.objects.create');
    } finally {
      storage.iam.allow('storage.objects.create');
    }
    expect(await blobs().get('sources/a/none.tar.gz')).toBeNull();
    const noBucket = withApiErrors('storage', new GcsBlobStore(clients.storage, 'baton-no-such-bucket'));
    expect(isPermanent(await noBucket.put('k', 'x').catch((e: unknown) => e))).toBe(true);
  });

  it('Cloud Scheduler: PERMISSION_DENIED names roles/cloudscheduler.admin', async () => {
    scheduler.iam.deny('cloudscheduler.jobs.get');
    try {
      const adapter = withApiErrors('scheduler', new CloudSchedulerAdapter(clients.scheduler, { project: PROJECT, region: REGION }));
      const err = await refusal(adapter.get('baton-watchdog'));
      expect(err.message).toContain('lacks IAM permission "cloudscheduler.jobs.get"');
      expect(err.hint).toContain('roles/cloudscheduler.admin');
    } finally {
      scheduler.iam.allow('cloudscheduler.jobs.get');
    }
  });

  it('a service that does not answer stays transient (UNAVAILABLE), so the trigger retries it', async () => {
    const down = await FakeCloudTasksServer.start();
    const endpoint = down.endpoint;
    await down.close();
    const cfg = GcpConfigSchema.parse({
      ...config,
      BATON_TASK_TARGETS: JSON.stringify(TARGETS),
      BATON_GIT_TOKEN_SECRETS: JSON.stringify(config.BATON_GIT_TOKEN_SECRETS),
      // Parsed already (lists now): given again as the environment would give them, unset.
      BATON_API_USERS: undefined,
      BATON_DASHBOARD_ORIGINS: undefined,
      BATON_TASKS_ENDPOINT: endpoint,
    });
    const c = buildGcpClients(cfg);
    try {
      const err = await withApiErrors('tasks', CloudTasksQueue.fromConfig(c.tasks, cfg))
        .enqueue(QUEUES.verifyPoll, task('down'))
        .catch((e: unknown) => e);
      expect((err as { code?: unknown }).code).toBe(14);
      expect(isPermanent(err)).toBe(false);
    } finally {
      await c.tasks.close();
    }
  });

  it('logs each refusal once, as a Cloud Logging JSON entry at ERROR with the hint', () => {
    const entries = logged.map((l) => JSON.parse(l) as { severity: string; message: string });
    const denied = entries.filter((e) => e.message.includes('cloudtasks.tasks.create'));
    expect(denied).toHaveLength(1);
    expect(denied[0]).toMatchObject({ severity: 'ERROR' });
    expect(denied[0].message).toContain('roles/cloudtasks.enqueuer');
  });
});
