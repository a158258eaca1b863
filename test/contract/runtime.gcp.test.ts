import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServicesClient } from '@google-cloud/run';
import { extract } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudRunRuntime, explainStartFailure, imageReference } from '../../shared/adapters/gcp/runtime.js';
import { GcsSourcePreparer } from '../../shared/adapters/gcp/source-preparer.js';
import { FolderBlobStore } from '../../shared/adapters/local/blob-store.js';
import { buildTag, RollbackPollTaskSchema } from '../../shared/domain/events.js';
import { revisionName, serviceName } from '../../shared/domain/names.js';
import { QUEUES } from '../../shared/domain/topics.js';
import { startBuild } from '../../shared/pipeline/build.js';
import { onBuildNotification } from '../../shared/pipeline/build-events.js';
import { deployRevision } from '../../shared/pipeline/deploy.js';
import { prepareSource } from '../../shared/pipeline/prepare-source.js';
import { promoteRevision } from '../../shared/pipeline/promote.js';
import { checkRollback, rollBack } from '../../shared/pipeline/rollback.js';
import { testCandidate } from '../../shared/pipeline/test-stage.js';
import { validateDeployment } from '../../shared/pipeline/validate.js';
import { verifyRevision } from '../../shared/pipeline/verify.js';
import type { RevisionSpec } from '../../shared/ports/index.js';
import { buildGcpClients, type GcpClients } from '../../shared/wiring/gcp-clients.js';
import { type GcpConfig, GcpConfigSchema } from '../../shared/wiring/gcp-config.js';
import { harness } from '../support/fakes.js';
import { type CloudRunFake, startCloudRunFake } from '../support/gcp-fakes/run-server.js';

/**
 * CloudRunRuntime through the real @google-cloud/run clients (built by buildGcpClients) against
 * the in-process Cloud Run Admin v2 fake. Each test uses a service of its own. See the fake for
 * what this does not prove (no container starts; readiness is decided by the image name).
 */

const PROJECT = 'baton-test';
const REGION = 'us-central1';
const PARENT = `projects/${PROJECT}/locations/${REGION}`;
const RUNTIME_SA = 'baton-runtime@baton-test.iam.gserviceaccount.com';
const REV = 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION';

let fake: CloudRunFake;
let clients: GcpClients;
let config: GcpConfig;
let runtime: CloudRunRuntime;

beforeAll(async () => {
  fake = await startCloudRunFake();
  config = configFor(fake.endpoint);
  clients = buildGcpClients(config);
  runtime = new CloudRunRuntime(clients.services, clients.revisions, config);
});

function configFor(endpoint: string): GcpConfig {
  return GcpConfigSchema.parse({
    BATON_GCP_PROJECT: PROJECT,
    BATON_GCP_REGION: REGION,
    BATON_BUCKET: 'baton-test-bucket',
    BATON_RUNTIME_SERVICE_ACCOUNT: RUNTIME_SA,
    BATON_RUN_ENDPOINT: endpoint,
  });
}

afterAll(async () => {
  await clients.services.close();
  await clients.revisions.close();
  await fake.close();
});

const digestOf = (s: string) => `sha256:${Buffer.from(s).toString('hex').padEnd(64, '0').slice(0, 64)}`;

function spec(service: string, deploymentId: string, image = 'app', env: Record<string, string> = { GREETING: 'hello' }): RevisionSpec {
  return {
    service,
    revision: revisionName(service, deploymentId),
    artifact: { ref: `${REGION}-docker.pkg.dev/${PROJECT}/baton/${image}:${deploymentId}`, digest: digestOf(deploymentId) },
    env,
    tag: 'candidate',
    deployment_id: deploymentId,
    start_timeout_seconds: 60,
  };
}

const lastUpdate = (service: string) =>
  fake.requests
    .filter((r) => r.method === 'UpdateService' && (r.request.service as { name?: string }).name === `${PARENT}/services/${service}`)
    .at(-1)?.request.service as Record<string, unknown> & { traffic: unknown[]; template: Record<string, unknown> };
const stored = (service: string) => fake.services.get(`${PARENT}/services/${service}`);

/** A service whose revision r1 (deployment d1) serves 100 %. */
async function serving(service: string): Promise<string> {
  const s = spec(service, 'd1');
  await runtime.deployRevision(s);
  await runtime.setTraffic(service, [{ revision: s.revision, percent: 100 }]);
  return s.revision;
}

describe('CloudRunRuntime (Cloud Run Admin v2 fake)', () => {
  it('a first deployment creates the service: image by digest, plain env without PORT, service account; LATEST holds the 100 %, the revision waits at 0 behind the tag', async () => {
    const s = spec('first', 'd1', 'first', { GREETING: 'hello', PORT: '3000', K_SERVICE: 'x' });
    await runtime.deployRevision(s);
    const create = fake.requests.find((r) => r.method === 'CreateService' && r.request.serviceId === 'first');
    expect(create?.request).toEqual({
      parent: PARENT,
      serviceId: 'first',
      service: {
        template: {
          revision: 'first-d1',
          labels: { 'baton-deployment': 'd1' },
          serviceAccount: RUNTIME_SA,
          containers: [
            {
              image: `${REGION}-docker.pkg.dev/${PROJECT}/baton/first@${digestOf('d1')}`,
              env: [{ name: 'GREETING', value: 'hello' }],
              startupProbe: { tcpSocket: {}, timeoutSeconds: 1, periodSeconds: 2, failureThreshold: 30 },
            },
          ],
        },
        // A new service has no earlier revision and percents must sum to 100: LATEST (ready) holds them.
        traffic: [
          { type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST', percent: 100 },
          { type: REV, revision: 'first-d1', percent: 0, tag: 'candidate' },
        ],
      },
    });
  });

  it('references secrets from Secret Manager by name, never by value', async () => {
    await runtime.deployRevision({ ...spec('secretive', 'd9'), secrets: { DB_PASSWORD: 'db-password' } });
    const create = fake.requests.find((r) => r.method === 'CreateService' && r.request.serviceId === 'secretive');
    expect(JSON.stringify(create?.request)).toContain('"valueSource":{"secretKeyRef":{"secret":"db-password","version":"latest"}}');
    expect(JSON.stringify(create?.request)).toContain('"name":"DB_PASSWORD"');
  });

  it('a later deployment sends the whole service back: the old revision kept at its percent, the new one at 0 behind the tag, named from the deployment', async () => {
    const r1 = await serving('shop');
    const read = structuredClone(stored('shop'));
    const s2 = spec('shop', '7f3a9c1e-2b4d-4e6f-8a0b-1c2d3e4f5a6b');
    expect(s2.revision).toBe('shop-7f3a9c1e2b4d');
    await runtime.deployRevision(s2);
    const sent = lastUpdate('shop');
    // The whole resource as read, with only template and traffic changed.
    expect(sent).toMatchObject({ name: `${PARENT}/services/shop`, uid: read?.uid, etag: read?.etag, uri: read?.uri });
    expect(sent.template).toMatchObject({
      revision: 'shop-7f3a9c1e2b4d',
      containers: [{ image: `${REGION}-docker.pkg.dev/${PROJECT}/baton/app@${digestOf(s2.deployment_id)}` }],
    });
    expect(sent.traffic).toEqual([
      { type: REV, revision: r1, percent: 100 },
      { type: REV, revision: 'shop-7f3a9c1e2b4d', percent: 0, tag: 'candidate' },
    ]);
    const svc = await runtime.getService('shop');
    expect(svc?.traffic).toEqual([
      { revision: r1, percent: 100 },
      { revision: 'shop-7f3a9c1e2b4d', percent: 0, tag: 'candidate', url: 'https://candidate---shop-xyz.a.run.app' },
    ]);
  });

  it('keeps a pinned split as it is; the tag moves to the new revision and the old holder keeps its percent', async () => {
    const r1 = await serving('pinned');
    const r2 = spec('pinned', 'd2');
    await runtime.deployRevision(r2);
    await runtime.setTraffic('pinned', [
      { revision: r1, percent: 90 },
      { revision: r2.revision, percent: 10, tag: 'candidate' },
    ]);
    const r3 = spec('pinned', 'd3');
    await runtime.deployRevision(r3);
    expect(lastUpdate('pinned').traffic).toEqual([
      { type: REV, revision: r1, percent: 90 },
      { type: REV, revision: r2.revision, percent: 10 },
      { type: REV, revision: r3.revision, percent: 0, tag: 'candidate' },
    ]);
  });

  it('deployRevision is idempotent for the same revision name: a retry writes nothing', async () => {
    await serving('retry');
    const s2 = spec('retry', 'd2');
    await runtime.deployRevision(s2);
    const writes = () =>
      fake.requests.filter((r) => r.method === 'UpdateService' && JSON.stringify(r.request).includes('/services/retry"')).length;
    const before = writes();
    await runtime.deployRevision(s2);
    expect(writes()).toBe(before);
  });

  it('getRevision: ready with its tag URL; starting while Cloud Run reconciles; null for an unknown revision', async () => {
    await serving('states');
    const ok = spec('states', 'd2');
    await runtime.deployRevision(ok);
    expect(await runtime.getRevision('states', ok.revision)).toEqual({
      name: ok.revision,
      state: 'ready',
      message: null,
      tag_url: 'https://candidate---states-xyz.a.run.app',
    });
    const slow = spec('states', 'd3', 'slow-app');
    await runtime.deployRevision(slow);
    expect(await runtime.getRevision('states', slow.revision)).toMatchObject({ state: 'starting', message: null });
    expect((await runtime.getService('states'))?.latest_ready_revision).toBe(ok.revision);
    fake.settle();
    expect(await runtime.getRevision('states', slow.revision)).toMatchObject({
      state: 'ready',
      tag_url: 'https://candidate---states-xyz.a.run.app',
    });
    expect(await runtime.getRevision('states', 'states-nosuch')).toBeNull();
    expect(await runtime.getRevision('no-such-service', 'x-1')).toBeNull();
  });

  it('a revision that fails to start is failed, with a message a user can act on', async () => {
    const r1 = await serving('crashy');
    const bad = spec('crashy', 'd2', 'crash-app');
    await runtime.deployRevision(bad);
    const status = await runtime.getRevision('crashy', bad.revision);
    expect(status?.state).toBe('failed');
    expect(status?.message).toMatch(/^Failed to start and then listen on the port defined by the PORT environment variable \(PORT=8080\)/);
    expect(status?.message).toContain('process.env.PORT');
    expect(status?.message).toContain('0.0.0.0');
    expect(status?.message).toContain(
      `https://console.cloud.google.com/logs/viewer?resource=cloud_run_revision/revision_name/${bad.revision}`,
    );
    // The old revision still serves; the failed one never became the latest ready.
    const svc = await runtime.getService('crashy');
    expect(svc).toMatchObject({ latest_created_revision: bad.revision, latest_ready_revision: r1 });
    expect(svc?.traffic).toEqual([{ revision: r1, percent: 100 }]);
  });

  it('getService: URL, traffic with tag URLs, and short revision names', async () => {
    const r1 = await serving('status');
    const s2 = spec('status', 'd2');
    await runtime.deployRevision(s2);
    expect(await runtime.getService('status')).toEqual({
      name: 'status',
      url: 'https://status-xyz.a.run.app',
      traffic: [
        { revision: r1, percent: 100 },
        { revision: s2.revision, percent: 0, tag: 'candidate', url: 'https://candidate---status-xyz.a.run.app' },
      ],
      latest_created_revision: s2.revision,
      latest_ready_revision: s2.revision,
      reconciling: false,
    });
    expect(await runtime.getService('nothing-here')).toBeNull();
  });

  it('setTraffic writes explicit REVISION entries that sum to 100, and refuses any other split without writing', async () => {
    const r1 = await serving('split');
    const s2 = spec('split', 'd2');
    await runtime.deployRevision(s2);
    await runtime.setTraffic('split', [
      { revision: s2.revision, percent: 25, tag: 'candidate' },
      { revision: r1, percent: 75 },
    ]);
    const sent = lastUpdate('split').traffic as { type: string; percent: number }[];
    expect(sent).toEqual([
      { type: REV, revision: s2.revision, percent: 25, tag: 'candidate' },
      { type: REV, revision: r1, percent: 75 },
    ]);
    expect(sent.every((t) => t.type === REV)).toBe(true);
    expect(sent.reduce((a, t) => a + t.percent, 0)).toBe(100);
    const writes = fake.calls.UpdateService;
    await expect(runtime.setTraffic('split', [{ revision: r1, percent: 90 }])).rejects.toThrow(/sum to 100, not 90/);
    await expect(
      runtime.setTraffic('split', [
        { revision: r1, percent: 50, tag: 'a' },
        { revision: s2.revision, percent: 50, tag: 'a' },
      ]),
    ).rejects.toThrow(/one traffic entry/);
    await expect(runtime.setTraffic('no-such-service', [{ revision: r1, percent: 100 }])).rejects.toThrow(/no service/);
    expect(fake.calls.UpdateService).toBe(writes);
  });

  it('rollback is setTraffic back to the old revision: all traffic returns and nothing is rebuilt', async () => {
    const r1 = await serving('undo');
    const s2 = spec('undo', 'd2');
    await runtime.deployRevision(s2);
    await runtime.setTraffic('undo', [{ revision: s2.revision, percent: 100 }]);
    const revisionsBefore = [...fake.revisions.keys()].filter((k) => k.includes('/services/undo/')).length;
    await runtime.setTraffic('undo', [{ revision: r1, percent: 100 }]);
    expect(lastUpdate('undo').traffic).toEqual([{ type: REV, revision: r1, percent: 100 }]);
    expect((lastUpdate('undo').template as { revision: string }).revision).toBe(s2.revision);
    expect([...fake.revisions.keys()].filter((k) => k.includes('/services/undo/'))).toHaveLength(revisionsBefore);
    expect((await runtime.getService('undo'))?.traffic).toEqual([{ revision: r1, percent: 100 }]);
  });

  it('deleteRevision refuses a revision that serves traffic, deletes a retired one, and leaves the latest one untagged', async () => {
    const r1 = await serving('cleanup');
    await expect(runtime.deleteRevision('cleanup', r1)).rejects.toThrow(/still serves traffic/);
    expect(fake.calls.DeleteRevision ?? 0).toBe(0);

    const s2 = spec('cleanup', 'd2');
    await runtime.deployRevision(s2);
    await runtime.setTraffic('cleanup', [{ revision: s2.revision, percent: 100 }]);
    await runtime.deleteRevision('cleanup', r1);
    expect(fake.revisions.has(`${PARENT}/services/cleanup/revisions/${r1}`)).toBe(false);
    expect(fake.requests.filter((r) => r.method === 'DeleteRevision').at(-1)?.request).toEqual({
      name: `${PARENT}/services/cleanup/revisions/${r1}`,
    });

    // A failed candidate is the latest revision, which Cloud Run does not delete: its tag goes, it stays.
    const bad = spec('cleanup', 'd3', 'crash-app');
    await runtime.deployRevision(bad);
    const deletes = fake.calls.DeleteRevision;
    await runtime.deleteRevision('cleanup', bad.revision);
    expect(fake.calls.DeleteRevision).toBe(deletes);
    expect(lastUpdate('cleanup').traffic).toEqual([{ type: REV, revision: s2.revision, percent: 100 }]);
    expect(runtime.counters.kept_latest).toBeGreaterThanOrEqual(1);
    await expect(runtime.deleteRevision('cleanup', 'cleanup-gone')).resolves.toBeUndefined();
  });

  it('an update made from a stale read is refused (etag), not silently lost', async () => {
    const r1 = await serving('race');
    const s2 = spec('race', 'd2');
    await runtime.deployRevision(s2);
    // Another writer changes the service between this runtime's read and its write.
    const other = new CloudRunRuntime(clients.services, clients.revisions, config);
    const racing = Object.create(clients.services) as ServicesClient;
    racing.getService = (async (request: { name: string }) => {
      const answer = await clients.services.getService(request);
      await other.setTraffic('race', [{ revision: s2.revision, percent: 100 }]);
      return answer;
    }) as ServicesClient['getService'];
    const stale = new CloudRunRuntime(racing, clients.revisions, config);
    await expect(stale.setTraffic('race', [{ revision: r1, percent: 100 }])).rejects.toMatchObject({ code: 10 });
    expect((await runtime.getService('race'))?.traffic).toEqual([{ revision: s2.revision, percent: 100 }]);
  });

  it('never waits on a long-running operation', () => {
    expect(fake.calls.CreateService).toBeGreaterThan(0);
    expect(fake.calls.GetOperation ?? 0).toBe(0);
  });

  it('refuses, as Cloud Run does, a service id with a leading digit and a tag too long with the service name', async () => {
    const service = { template: { containers: [{ image: 'app' }] } };
    await expect(clients.services.createService({ parent: PARENT, serviceId: '1abc', service })).rejects.toMatchObject({
      code: 3,
      details: expect.stringContaining('must begin with letter'),
    });
    const long = 'a'.repeat(38);
    await expect(
      clients.services.createService({
        parent: PARENT,
        serviceId: long,
        service: {
          ...service,
          template: { ...service.template, revision: `${long}-r1` },
          traffic: [{ type: REV, revision: `${long}-r1`, percent: 100, tag: 'candidate' }],
        },
      }),
    ).rejects.toMatchObject({
      code: 3,
      details: expect.stringContaining('together are too long. Combined traffic tag and service name cannot exceed 46 characters'),
    });
  });

  it('deploys the longest agent ids and ones with a leading digit behind the candidate tag', async () => {
    for (const agent of ['b'.repeat(40), `9${'_x'.repeat(19)}y`]) {
      const service = serviceName(agent);
      await runtime.deployRevision({ ...spec(service, 'd1'), revision: revisionName(agent, 'd1') });
      expect((await runtime.getRevision(service, revisionName(agent, 'd1')))?.tag_url).toBe(`https://candidate---${service}-xyz.a.run.app`);
    }
  });

  it('builds startup probes Cloud Run accepts for every start timeout a request may ask (timeout < period, window ≤ 240 s)', async () => {
    for (const [i, seconds] of [1, 1.5, 5, 9, 10, 61, 239, 240].entries()) {
      await runtime.deployRevision({ ...spec(`probe-${i}`, 'd1'), start_timeout_seconds: seconds });
      const probe = (stored(`probe-${i}`)?.template?.containers?.[0]?.startupProbe ?? {}) as Record<string, number>;
      expect(probe.timeoutSeconds).toBeLessThan(probe.periodSeconds);
      expect(probe.periodSeconds * probe.failureThreshold).toBeGreaterThanOrEqual(Math.min(240, Math.ceil(seconds)));
      expect(probe.periodSeconds * probe.failureThreshold).toBeLessThanOrEqual(240);
    }
    // What the fake refuses, as Cloud Run does: a timeout equal to the period, a window over 240 s.
    const service = {
      template: {
        containers: [{ image: 'app', startupProbe: { tcpSocket: {}, timeoutSeconds: 1, periodSeconds: 1, failureThreshold: 5 } }],
      },
    };
    await expect(clients.services.createService({ parent: PARENT, serviceId: 'probe-bad', service })).rejects.toMatchObject({
      code: 3,
      details: expect.stringContaining('smaller than period_seconds'),
    });
    service.template.containers[0].startupProbe = { tcpSocket: {}, timeoutSeconds: 1, periodSeconds: 2, failureThreshold: 300 };
    await expect(clients.services.createService({ parent: PARENT, serviceId: 'probe-bad', service })).rejects.toMatchObject({
      code: 3,
      details: expect.stringContaining('cannot exceed 240 seconds'),
    });
  });

  it('applies resource_limits to the container and concurrent_tasks to the revision; a later deployment without them sends none', async () => {
    await runtime.deployRevision({ ...spec('sized', 'd1'), resources: { memory_mb: 1024, cpu_cores: 2, concurrent_tasks: 40 } });
    const create = fake.requests.find((r) => r.method === 'CreateService' && r.request.serviceId === 'sized')?.request as {
      service: { template: Record<string, unknown> & { containers: Record<string, unknown>[] } };
    };
    expect(create.service.template.maxInstanceRequestConcurrency).toBe(40);
    expect(create.service.template.containers[0].resources).toEqual({ limits: { memory: '1024Mi', cpu: '2' }, cpuIdle: true });

    await runtime.deployRevision({ ...spec('sized', 'd2'), resources: { cpu_cores: 0.5, concurrent_tasks: 1 } });
    expect(lastUpdate('sized').template.containers).toMatchObject([{ resources: { limits: { cpu: '0.5' }, cpuIdle: true } }]);
    expect(lastUpdate('sized').template.maxInstanceRequestConcurrency).toBe(1);

    await runtime.deployRevision(spec('sized', 'd3'));
    expect((lastUpdate('sized').template.containers as Record<string, unknown>[])[0].resources).toBeUndefined();
    expect(lastUpdate('sized').template.maxInstanceRequestConcurrency).toBeUndefined();
  });

  it('the fake refuses limits Cloud Run refuses', async () => {
    const attempt = (resources: object, concurrency?: number) =>
      clients.services.createService({
        parent: PARENT,
        serviceId: 'limits-bad',
        service: {
          template: { ...(concurrency ? { maxInstanceRequestConcurrency: concurrency } : {}), containers: [{ image: 'app', resources }] },
        },
      });
    await expect(attempt({ limits: { cpu: '3' } })).rejects.toMatchObject({
      code: 3,
      details: expect.stringContaining("'3' is not supported"),
    });
    await expect(attempt({ limits: { cpu: '1', memory: '8Gi' } })).rejects.toMatchObject({
      code: 3,
      details: expect.stringContaining('not allowed with 1 CPU'),
    });
    await expect(attempt({ limits: { cpu: '4' } })).rejects.toMatchObject({
      code: 3,
      details: expect.stringContaining('needs between 2048Mi'),
    });
    await expect(attempt({ limits: { cpu: '0.5' }, cpuIdle: true }, 10)).rejects.toMatchObject({
      code: 3,
      details: expect.stringContaining('must be 1'),
    });
    await expect(attempt({ limits: { memory: '512MB' } })).rejects.toMatchObject({ code: 3 });
  });

  it('deploys an agent id with "_" as a valid Cloud Run service name', async () => {
    const service = serviceName('under_score');
    await runtime.deployRevision(spec(service, 'd1'));
    expect(service).toMatch(/^under-score-[0-9a-f]{5}$/);
    expect(await runtime.getService(service)).toMatchObject({ latest_created_revision: revisionName(service, 'd1') });
  });
});

describe('CloudRunRuntime helpers', () => {
  it('deploys by digest: the tag of a built image is dropped, a prebuilt image without digest runs as given', () => {
    const digest = digestOf('x');
    expect(imageReference({ ref: 'us-central1-docker.pkg.dev/p/baton/svc:dep-1', digest })).toBe(
      `us-central1-docker.pkg.dev/p/baton/svc@${digest}`,
    );
    expect(imageReference({ ref: 'localhost:5000/svc', digest })).toBe(`localhost:5000/svc@${digest}`);
    expect(imageReference({ ref: 'gcr.io/p/svc@sha256:abc', digest: 'sha256:abc' })).toBe('gcr.io/p/svc@sha256:abc');
    expect(imageReference({ ref: 'nginx:1.27', digest: '' })).toBe('nginx:1.27');
  });

  it('rewrites the other classic start-up failures as what to do', () => {
    expect(
      explainStartFailure({ message: 'Memory limit of 512 MiB exceeded with 530 MiB used. Consider increasing the memory limit.' }),
    ).toMatch(/ran out of memory.*raise the service's memory limit.*Memory limit of 512 MiB exceeded/s);
    expect(explainStartFailure({ reason: 'CONTAINER_PERMISSION_DENIED', message: 'Permission denied on image.' })).toMatch(
      /Artifact Registry Reader/,
    );
    expect(explainStartFailure({ reason: 'CONTAINER_MISSING', message: "Image 'x' not found." })).toMatch(/deploy again/);
    expect(explainStartFailure({ message: 'exec /usr/local/bin/docker-entrypoint.sh: exec format error' })).toMatch(/linux\/amd64/);
    expect(explainStartFailure({ reason: 'PROGRESS_DEADLINE_EXCEEDED', message: 'Something new.' })).toBe(
      'Cloud Run could not start it (PROGRESS_DEADLINE_EXCEEDED): Something new.',
    );
    expect(explainStartFailure({})).toBe('Cloud Run could not start it: no detail given');
    // Cloud Run's older wording of the classic failure is recognised too.
    expect(
      explainStartFailure({
        message: 'Container failed to start. Failed to start and then listen on the port defined by the PORT environment variable.',
      }),
    ).toMatch(/^Failed to start and then listen on the port defined by the PORT environment variable \(PORT=8080\).*0\.0\.0\.0/s);
  });
});

/** Drives one deployment of `agent` through the use cases up to the first verification poll. */
function pipeline(agent: string) {
  const h = harness();
  h.deps.runtime = runtime;
  const through = async (id: string, image: string) => {
    await h.job(id, { agent_id: agent });
    await validateDeployment(h.deps, id);
    await prepareSource(h.deps, id);
    await startBuild(h.deps, id);
    const buildId = (await h.jobs.get(id))?.build_id ?? '';
    const name = `${REGION}-docker.pkg.dev/${PROJECT}/baton/${image}:${id}`;
    const built = await onBuildNotification(h.deps, {
      id: buildId,
      status: 'SUCCESS',
      tags: [buildTag(id)],
      substitutions: { _DEPLOYMENT_ID: id },
      results: { images: [{ name, digest: digestOf(id) }] },
    });
    expect(built).toBe('built');
    await deployRevision(h.deps, id);
    await verifyRevision(h.deps, { type: 'verify.poll.v1', deployment_id: id, attempt: 1 });
  };
  return { h, through };
}

describe('CloudRunRuntime under the pipeline (deploy → verify → promote; a crash → automatic rollback)', () => {
  it('runs the use cases against Cloud Run and rolls a failed start back to the serving revision', async () => {
    const agent = 'shop_api';
    const service = serviceName(agent);
    const { h, through } = pipeline(agent);

    await through('d1', 'shop');
    expect(h.probe.urls).toEqual([`https://candidate---${service}-xyz.a.run.app/health`]);
    await testCandidate(h.deps, 'd1');
    await promoteRevision(h.deps, 'd1');
    const r1 = revisionName(agent, 'd1');
    expect(await h.jobs.get('d1')).toMatchObject({ status: 'completed', service_url: `https://${service}-xyz.a.run.app` });
    expect((await runtime.getService(service))?.traffic).toEqual([{ revision: r1, percent: 100 }]);
    expect(stored(service)?.template?.containers?.[0]?.image).toBe(`${REGION}-docker.pkg.dev/${PROJECT}/baton/shop@${digestOf('d1')}`);

    await through('d2', 'shop-crash');
    const failed = await h.jobs.get('d2');
    expect(failed?.status).toBe('rolling_back');
    expect(failed?.error_message).toContain('process.env.PORT');
    await rollBack(h.deps, 'd2');
    // The revision goes once Cloud Run serves the restored split: the rollback's poll task.
    const poll = h.tasks.tasks.filter((t) => t.queue === QUEUES.rollbackPoll).at(-1);
    await checkRollback(h.deps, RollbackPollTaskSchema.parse(poll?.payload));
    expect((await h.jobs.get('d2'))?.status).toBe('rolled_back');
    expect((await runtime.getService(service))?.traffic).toEqual([{ revision: r1, percent: 100 }]);
    expect(await h.jobs.getService(agent)).toMatchObject({ serving_revision: r1 });
  });
});

describe('the Cloud Run fake with a reconciliation delay', () => {
  // Long enough that no test, however loaded the machine, sees it elapse; settle() ends it.
  const DELAY_MS = 60_000;
  let slowFake: CloudRunFake;
  let slowClients: GcpClients;
  let slow: CloudRunRuntime;

  beforeAll(async () => {
    slowFake = await startCloudRunFake({ reconcileDelayMs: DELAY_MS });
    const cfg = configFor(slowFake.endpoint);
    slowClients = buildGcpClients(cfg);
    slow = new CloudRunRuntime(slowClients.services, slowClients.revisions, cfg);
  });
  afterAll(async () => {
    await slowClients.services.close();
    await slowClients.revisions.close();
    await slowFake.close();
  });

  const until = async (what: string, check: () => Promise<boolean>) => {
    const end = Date.now() + 5000;
    while (!(await check())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it('shows the old split while reconciling, and refuses to delete a revision the route still serves', async () => {
    const r1 = spec('lagging', 'd1');
    await slow.deployRevision(r1);
    slowFake.settle();
    await until('r1 ready', async () => (await slow.getRevision('lagging', r1.revision))?.state === 'ready');
    const r2 = spec('lagging', 'd2');
    await slow.deployRevision(r2);
    slowFake.settle();
    await until('r2 ready', async () => (await slow.getRevision('lagging', r2.revision))?.state === 'ready');

    await slow.setTraffic('lagging', [{ revision: r2.revision, percent: 100 }]);
    const [during] = await slowClients.services.getService({ name: `${PARENT}/services/lagging` });
    expect(during.reconciling).toBe(true);
    expect((await slow.getService('lagging'))?.traffic).toContainEqual({ revision: r1.revision, percent: 100 });
    const name = `${PARENT}/services/lagging/revisions/${r1.revision}`;
    await expect(slowClients.revisions.deleteRevision({ name })).rejects.toMatchObject({ code: 9 });
    expect(slowFake.revisions.has(name)).toBe(true);

    slowFake.settle();
    await until(
      'the new split to be reconciled',
      async () => !(await slowClients.services.getService({ name: `${PARENT}/services/lagging` }))[0].reconciling,
    );
    expect((await slow.getService('lagging'))?.traffic).toEqual([{ revision: r2.revision, percent: 100 }]);
    await slow.deleteRevision('lagging', r1.revision);
    expect(slowFake.revisions.has(name)).toBe(false);
  });
});

describe('a first deployment that never becomes ready', () => {
  it('leaves no traffic on its revision, so the next deployment verifies and completes', async () => {
    const agent = 'fresh-start';
    const { h, through } = pipeline(agent);
    await through('d1', 'fresh-crash');
    expect(await h.jobs.get('d1')).toMatchObject({ status: 'failed' });
    const bad = revisionName(agent, 'd1');
    // Its clean-up worked: no entry names it any more, and nothing sends it traffic.
    expect(stored(agent)?.traffic?.some((t) => t.revision === bad)).toBe(false);
    await h.deps.logs.flush('d1');
    const log = JSON.stringify((await h.jobs.get('d1'))?.logs);
    expect(log).toContain(`Removed revision ${bad}`);
    expect(log).not.toContain('Could not remove revision');

    await through('d2', 'fresh');
    await h.deps.logs.flush('d2');
    expect(JSON.stringify((await h.jobs.get('d2'))?.logs)).toContain(`Revision ${revisionName(agent, 'd2')} is ready and healthy`);
    await testCandidate(h.deps, 'd2');
    await promoteRevision(h.deps, 'd2');
    expect(await h.jobs.get('d2')).toMatchObject({ status: 'completed' });
    expect((await runtime.getService(agent))?.traffic).toEqual([{ revision: revisionName(agent, 'd2'), percent: 100 }]);
  });

  it('deleteRevision untags it instead of refusing ("still serves traffic")', async () => {
    const bad = spec('fresh-untag', 'd1', 'crash-app');
    await runtime.deployRevision(bad);
    expect((await runtime.getRevision('fresh-untag', bad.revision))?.state).toBe('failed');
    await runtime.deleteRevision('fresh-untag', bad.revision);
    expect(stored('fresh-untag')?.traffic).toEqual([{ type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST', percent: 100 }]);
  });

  it('a service left with 100 % on a failed revision (by an earlier Baton) is recovered by the next deployment', async () => {
    // The state the old createService left: the failed first revision holds every percent.
    const bad = spec('stuck', 'd1', 'crash-app');
    await clients.services.createService({
      parent: PARENT,
      serviceId: 'stuck',
      service: {
        template: { revision: bad.revision, containers: [{ image: 'crash-app' }] },
        traffic: [{ type: REV, revision: bad.revision, percent: 100, tag: 'candidate' }],
      },
    });
    const good = spec('stuck', 'd2');
    await runtime.deployRevision(good);
    expect(await runtime.getRevision('stuck', good.revision)).toMatchObject({
      state: 'ready',
      tag_url: 'https://candidate---stuck-xyz.a.run.app',
    });
    expect(lastUpdate('stuck').traffic).toEqual([
      { type: 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST', percent: 100 },
      { type: REV, revision: good.revision, percent: 0, tag: 'candidate' },
    ]);
    await runtime.setTraffic('stuck', [{ revision: good.revision, percent: 100 }]);
    await runtime.deleteRevision('stuck', bad.revision);
    expect((await runtime.getService('stuck'))?.traffic).toEqual([{ revision: good.revision, percent: 100 }]);
  });

  it('keeps a revision Cloud Run still serves though its Ready condition failed: the candidate never takes its share unverified', async () => {
    const r1 = await serving('degraded');
    const path = `${PARENT}/services/degraded/revisions/${r1}`;
    const rev = fake.revisions.get(path);
    // As after its image was deleted: the revision reports failed, the route goes on serving it.
    fake.revisions.set(path, {
      ...rev,
      conditions: (rev?.conditions ?? []).map((c) => (c.type === 'Ready' ? { ...c, state: 'CONDITION_FAILED' } : c)),
    });
    const next = spec('degraded', 'd2');
    await runtime.deployRevision(next);
    expect(lastUpdate('degraded').traffic).toEqual([
      { type: REV, revision: r1, percent: 100 },
      { type: REV, revision: next.revision, percent: 0, tag: 'candidate' },
    ]);
  });

  it('refuses, naming them, a split that is partly on revisions that cannot serve', async () => {
    const r1 = await serving('halfway');
    const bad = spec('halfway', 'd2', 'crash-app');
    await runtime.deployRevision(bad);
    const [svc] = await clients.services.getService({ name: `${PARENT}/services/halfway` });
    // Written around the adapter, as a person with the console could.
    fake.services.set(`${PARENT}/services/halfway`, {
      ...svc,
      traffic: [
        { type: REV, revision: r1, percent: 50 },
        { type: REV, revision: bad.revision, percent: 50 },
      ],
    });
    await expect(runtime.deployRevision(spec('halfway', 'd3'))).rejects.toThrow(`cannot serve (${bad.revision})`);
  });
});

describe('what a container listens on, as Cloud Run starts it (the fake intercepts listen(): nothing binds)', () => {
  const root = mkdtempSync(join(tmpdir(), 'baton-run-images-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const image = (name: string) => `${REGION}-docker.pkg.dev/${PROJECT}/baton/${name}`;

  /** A one-file Node app whose server calls listen(...args). */
  function app(name: string, listenArgs: string): string {
    const dir = join(root, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, scripts: { start: 'node server.mjs' } }));
    writeFileSync(join(dir, 'server.mjs'), `import { createServer } from 'node:http';\ncreateServer(() => {}).listen(${listenArgs});\n`);
    return dir;
  }

  async function deployImage(service: string, name: string) {
    const s = spec(service, 'd1', name);
    await runtime.deployRevision(s);
    await fake.started();
    return runtime.getRevision(service, s.revision);
  }

  it('the packed agent runtime (source "config") listens on PORT on all interfaces: ready', async () => {
    const blobs = new FolderBlobStore(join(root, 'blobs'));
    const { source_key } = await new GcsSourcePreparer(blobs).prepare({
      deployment_id: 'd1',
      agent_id: 'packed',
      source: { type: 'config' },
      config: { name: 'helper' },
      log: () => {},
    });
    const dir = join(root, 'packed-app');
    mkdirSync(dir, { recursive: true });
    await extract({ file: blobs.pathOf(source_key), cwd: dir });
    fake.provideImage(image('packed-runtime'), dir);
    expect(await deployImage('packed', 'packed-runtime')).toMatchObject({
      state: 'ready',
      tag_url: 'https://candidate---packed-xyz.a.run.app',
    });
  });

  it("a server that listens on loopback only, or on a fixed port, fails with Cloud Run's start-up failure", async () => {
    fake.provideImage(image('loopback'), app('loopback', "Number(process.env.PORT), '127.0.0.1'"));
    const loopback = await deployImage('loopback', 'loopback');
    expect(loopback?.state).toBe('failed');
    expect(loopback?.message).toContain('0.0.0.0');
    expect(
      fake.revisions.get(`${PARENT}/services/loopback/revisions/${revisionName('loopback', 'd1')}`)?.conditions?.[0]?.message,
    ).toContain('listens on 127.0.0.1 only');
    fake.provideImage(image('fixed-port'), app('fixed-port', '3000'));
    expect((await deployImage('fixed-port', 'fixed-port'))?.state).toBe('failed');
    fake.provideImage(image('any-host'), app('any-host', 'Number(process.env.PORT)'));
    expect((await deployImage('any-host', 'any-host'))?.state).toBe('ready');
  });
});
