import { randomUUID } from 'node:crypto';
import type { protos } from '@google-cloud/cloudbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildEvents } from '../../functions/build-events/index.js';
import { CloudBuildBuilder } from '../../shared/adapters/gcp/builder.js';
import { imageReference } from '../../shared/adapters/gcp/runtime.js';
import { SUBSCRIPTIONS, TOPICS } from '../../shared/domain/topics.js';
import { configureLogging } from '../../shared/logger.js';
import { startBuild } from '../../shared/pipeline/build.js';
import { prepareSource } from '../../shared/pipeline/prepare-source.js';
import { validateDeployment } from '../../shared/pipeline/validate.js';
import { buildGcpClients, type GcpClients } from '../../shared/wiring/gcp-clients.js';
import { GcpConfigSchema } from '../../shared/wiring/gcp-config.js';
import { type Harness, harness } from '../support/fakes.js';
import { type CloudBuildFake, startCloudBuildFake } from '../support/gcp-fakes/cloudbuild-server.js';

/**
 * The build-events function fed build notifications (on Baton's `baton-builds` topic, which each
 * build Baton submits names as its options.pubsubTopic) in the shape Cloud Build publishes them:
 * an Eventarc `messagePublished` CloudEvent whose message data is the Build resource as base64
 * JSON (proto3 JSON: camelCase, RFC 3339 timestamps with nanoseconds, durations as "1200s", enum
 * names) and attributes {buildId, status}. The build itself is submitted by CloudBuildBuilder
 * through the Cloud Build fake, so the id, tags and substitutions the notifications carry are the
 * ones the real request asked for. Notifications arrive at least once and in any order.
 */

const PROJECT = 'baton-test';
const PROJECT_NUMBER = '123456789012';
const REGION = 'us-central1';
const DIGEST = 'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';

type IBuild = protos.google.devtools.cloudbuild.v1.IBuild;
type Status = 'QUEUED' | 'WORKING' | 'SUCCESS' | 'FAILURE' | 'INTERNAL_ERROR' | 'TIMEOUT' | 'CANCELLED' | 'EXPIRED';

let fake: CloudBuildFake;
let clients: GcpClients;
let builder: CloudBuildBuilder;
/** The control plane's log lines, as the logger writes them. */
const logged: { line: string; severity: string }[] = [];
configureLogging({ write: (line, severity) => logged.push({ line, severity }) });

beforeAll(async () => {
  fake = await startCloudBuildFake();
  const config = GcpConfigSchema.parse({
    BATON_GCP_PROJECT: PROJECT,
    BATON_GCP_REGION: REGION,
    BATON_BUCKET: 'baton-test-bucket',
    BATON_BUILD_SERVICE_ACCOUNT: 'baton-builder@baton-test.iam.gserviceaccount.com',
    BATON_CLOUDBUILD_ENDPOINT: fake.endpoint,
    BATON_CLOUDBUILD_REST_ENDPOINT: fake.restEndpoint,
  });
  clients = buildGcpClients(config);
  builder = new CloudBuildBuilder(clients.cloudbuild, clients.cloudbuildRest, config);
});

afterEach(() => {
  logged.length = 0;
});

afterAll(async () => {
  await clients.cloudbuild.close();
  await fake.close();
});

/** A job through validate → prepare → build: submitted to Cloud Build (the fake), waiting on the build id. */
async function submitted(id: string): Promise<{ h: Harness; build: IBuild }> {
  const h = harness();
  h.deps.builder = builder;
  await h.job(id);
  await validateDeployment(h.deps, id);
  await prepareSource(h.deps, id);
  await startBuild(h.deps, id);
  const buildId = (await h.jobs.get(id))?.build_id ?? '';
  const build = fake.builds.get(buildId);
  if (!build) throw new Error(`the fake has no build ${buildId}`);
  return { h, build };
}

const T = {
  create: '2026-01-01T00:00:00.123456789Z',
  start: '2026-01-01T00:00:03.5Z',
  finish: '2026-01-01T00:01:04.623456789Z',
};

/** The Build resource as Cloud Build publishes it (on the build's pubsubTopic) for `status`. */
function published(b: IBuild, status: Status, over: Record<string, unknown> = {}): Record<string, unknown> {
  const id = b.id ?? '';
  const image = b.images?.[0] ?? '';
  const started = status !== 'QUEUED' && status !== 'EXPIRED';
  const finished = !['QUEUED', 'WORKING'].includes(status);
  const storage = b.source?.storageSource;
  const stepStatus = status === 'WORKING' ? 'WORKING' : status === 'SUCCESS' ? 'SUCCESS' : status === 'FAILURE' ? 'FAILURE' : 'QUEUED';
  return {
    name: `projects/${PROJECT_NUMBER}/locations/${REGION}/builds/${id}`,
    id,
    projectId: PROJECT,
    status,
    source: { storageSource: { bucket: storage?.bucket, object: storage?.object, generation: '1767225599000123' } },
    steps: (b.steps ?? []).map((s) => ({
      name: s.name,
      args: s.args,
      id: s.id,
      ...(s.entrypoint ? { entrypoint: s.entrypoint } : {}),
      ...(started ? { status: stepStatus } : {}),
      ...(status === 'SUCCESS'
        ? { timing: { startTime: T.start, endTime: T.finish }, pullTiming: { startTime: T.start, endTime: '2026-01-01T00:00:04.1Z' } }
        : {}),
    })),
    createTime: T.create,
    ...(started ? { startTime: T.start } : {}),
    ...(finished ? { finishTime: T.finish } : {}),
    timeout: '1200s',
    images: b.images,
    queueTtl: '3600s',
    logUrl: `https://console.cloud.google.com/cloud-build/builds;region=${REGION}/${id}?project=${PROJECT_NUMBER}`,
    options: { substitutionOption: 'ALLOW_LOOSE', logging: 'CLOUD_LOGGING_ONLY', dynamicSubstitutions: true, pool: {} },
    substitutions: { ...b.substitutions },
    tags: b.tags,
    serviceAccount: b.serviceAccount,
    ...(started
      ? {
          sourceProvenance: {
            resolvedStorageSource: { bucket: storage?.bucket, object: storage?.object, generation: '1767225599000123' },
            fileHashes: {
              [`gs://${storage?.bucket}/${storage?.object}#1767225599000123`]: { fileHash: [{ type: 'MD5', value: 'q1w2e3==' }] },
            },
          },
          timing: { FETCHSOURCE: { startTime: '2026-01-01T00:00:01.2Z', endTime: '2026-01-01T00:00:02.9Z' } },
        }
      : {}),
    ...(status === 'SUCCESS'
      ? {
          results: {
            images: [{ name: image, digest: DIGEST, pushTiming: { startTime: '2026-01-01T00:01:01Z', endTime: '2026-01-01T00:01:04Z' } }],
            buildStepImages: ['sha256:1111', 'sha256:1111', 'sha256:1111'],
            buildStepOutputs: ['', '', ''],
          },
        }
      : {}),
    ...over,
  };
}

/** A Pub/Sub CloudEvent for one build notification on `topic` (`projects/P/topics/T`). */
function cloudEvent(
  data: Buffer | Record<string, unknown>,
  attributes: Record<string, string>,
  messageId = String(Date.now()) + randomUUID().slice(0, 4),
  topic = `projects/${PROJECT}/topics/${TOPICS.builds}`,
) {
  const publishTime = '2026-01-01T00:01:05.001Z';
  const bytes = Buffer.isBuffer(data) ? data : Buffer.from(JSON.stringify(data));
  return {
    specversion: '1.0',
    id: messageId,
    source: `//pubsub.googleapis.com/${topic}`,
    type: 'google.cloud.pubsub.topic.v1.messagePublished',
    datacontenttype: 'application/json',
    time: publishTime,
    data: {
      message: {
        attributes,
        data: bytes.toString('base64'),
        messageId,
        message_id: messageId,
        publishTime,
        publish_time: publishTime,
      },
      subscription: `projects/${PROJECT}/subscriptions/eventarc-${REGION}-build-events-123-sub-456`,
    },
  };
}

async function deliver(h: Harness, b: IBuild, status: Status, over: Record<string, unknown> = {}, messageId?: string) {
  await buildEvents(h.deps, cloudEvent(published(b, status, over), { buildId: b.id ?? '', status }, messageId));
}

describe('build-events: build notifications as Cloud Build publishes them', () => {
  it("the fake's own notifications of a submitted build, on the topic the build named (build-events' trigger), build the deployment", async () => {
    const { h, build } = await submitted('own-topic');
    const id = build.id ?? '';
    fake.setStatus(id, 'WORKING');
    fake.setStatus(id, 'SUCCESS', { results: { images: [{ name: build.images?.[0] ?? '', digest: DIGEST }] } });
    const mine = fake.notifications.filter((n) => n.attributes.buildId === id);
    expect(mine.map((n) => n.attributes.status)).toEqual(['QUEUED', 'WORKING', 'SUCCESS']);
    for (const n of mine) expect(n.topic).toBe(`projects/${PROJECT}/topics/${TOPICS.builds}`);
    // The topic the build names is the one build-events is subscribed to, and not Google's project-wide one.
    expect(SUBSCRIPTIONS[TOPICS.builds]).toBe('build-events');
    expect(TOPICS.builds).not.toBe('cloud-builds');
    for (const n of mine) await buildEvents(h.deps, cloudEvent(n.data, n.attributes, undefined, n.topic));
    expect((await h.jobs.get('own-topic'))?.artifact).toEqual({ ref: build.images?.[0], digest: DIGEST });
    expect(h.bus.types().filter((t) => t === 'deployment.built.v1')).toHaveLength(1);
  });

  it('QUEUED and WORKING report progress and hand nothing off', async () => {
    const { h, build } = await submitted('q1');
    await deliver(h, build, 'QUEUED');
    expect(await h.jobs.get('q1')).toMatchObject({ status: 'building', current_step: 'Build queued' });
    await deliver(h, build, 'WORKING');
    expect(await h.jobs.get('q1')).toMatchObject({ status: 'building', current_step: 'Building', progress: 25 });
    expect(h.bus.types()).not.toContain('deployment.built.v1');
  });

  it('SUCCESS records the image by digest from results.images[0], the build time, and hands off once', async () => {
    const { h, build } = await submitted('s1');
    await deliver(h, build, 'QUEUED');
    await deliver(h, build, 'WORKING');
    await deliver(h, build, 'SUCCESS');
    const job = await h.jobs.get('s1');
    const image = `${REGION}-docker.pkg.dev/${PROJECT}/baton/svc:s1`;
    expect(job?.artifact).toEqual({ ref: image, digest: DIGEST });
    // What the runtime will deploy: the pushed image, pinned by digest.
    expect(imageReference(job?.artifact ?? { ref: '', digest: '' })).toBe(`${REGION}-docker.pkg.dev/${PROJECT}/baton/svc@${DIGEST}`);
    expect(job?.measurements.build_ms).toBe(64_500);
    expect(h.bus.types().filter((t) => t === 'deployment.built.v1')).toHaveLength(1);
  });

  it('a duplicate SUCCESS, and a WORKING that arrives after SUCCESS, change nothing but re-sending the hand-off', async () => {
    const { h, build } = await submitted('dup');
    await deliver(h, build, 'SUCCESS', {}, 'm-1');
    const after = await h.jobs.get('dup');
    await deliver(h, build, 'SUCCESS', {}, 'm-1');
    await deliver(h, build, 'SUCCESS', {}, 'm-2');
    await deliver(h, build, 'WORKING');
    await deliver(h, build, 'QUEUED');
    expect(await h.jobs.get('dup')).toEqual(after);
    // Each redelivered SUCCESS re-sends deployment.built (the first publish may have been lost);
    // the deploy stage takes the duplicates for what they are.
    expect(h.bus.types().filter((t) => t === 'deployment.built.v1')).toHaveLength(3);
  });

  it('SUCCESS arriving before QUEUED and WORKING (out of order) builds; the late ones are stale', async () => {
    const { h, build } = await submitted('ooo');
    await deliver(h, build, 'SUCCESS');
    const built = await h.jobs.get('ooo');
    expect(built?.artifact?.digest).toBe(DIGEST);
    expect(built?.claim?.done).toBe(true);
    await deliver(h, build, 'QUEUED');
    await deliver(h, build, 'WORKING');
    expect(await h.jobs.get('ooo')).toEqual(built);
    expect(h.bus.types().filter((t) => t === 'deployment.built.v1')).toHaveLength(1);
  });

  it.each([
    [
      'FAILURE',
      'failed',
      {
        failureInfo: {
          type: 'USER_BUILD_STEP',
          detail: 'Build step failure: build step 1 "gcr.io/cloud-builders/docker" failed: step exited with non-zero status: 1',
        },
        statusDetail: 'Build step failure: build step 1 "gcr.io/cloud-builders/docker" failed: step exited with non-zero status: 1',
      },
      'step exited with non-zero status: 1',
    ],
    [
      'INTERNAL_ERROR',
      'failed with an internal error of the build service',
      { statusDetail: 'Internal error encountered.' },
      'Internal error encountered.',
    ],
    ['TIMEOUT', 'timed out', { statusDetail: 'Build timed out' }, 'Build timed out'],
    ['CANCELLED', 'was cancelled', {}, 'no detail given'],
    ['EXPIRED', 'expired in the queue', { statusDetail: 'Build expired: it was queued for longer than its queueTtl' }, 'queueTtl'],
  ] as const)('%s fails the deployment at the build stage with the detail and the log link', async (status, words, extra, detail) => {
    const id = `f-${status.toLowerCase().replace('_', '-')}`;
    const { h, build } = await submitted(id);
    await deliver(h, build, 'QUEUED');
    await deliver(h, build, status, extra);
    const job = await h.jobs.get(id);
    expect(job).toMatchObject({ status: 'failed', failed_stage: 'building' });
    expect(job?.error_message).toContain(`Build ${build.id} ${words}`);
    expect(job?.error_message).toContain(detail);
    expect(job?.error_message).toContain(`https://console.cloud.google.com/cloud-build/builds;region=${REGION}/${build.id}`);
    // The same notification again, or a late WORKING: acknowledged, nothing changes.
    const failed = await h.jobs.get(id);
    await deliver(h, build, status, extra);
    await deliver(h, build, 'WORKING');
    expect(await h.jobs.get(id)).toEqual(failed);
    expect(h.bus.types()).not.toContain('deployment.built.v1');
  });

  it("ignores builds that are not Baton's: no tag (published on baton-builds by hand or by another tool)", async () => {
    const { h, build } = await submitted('mine');
    const before = await h.jobs.get('mine');
    const published = h.bus.published.length;
    const foreignId = randomUUID();
    const foreign = {
      ...build,
      id: foreignId,
      tags: ['trigger-abc', 'web-frontend'],
      substitutions: { BRANCH_NAME: 'main', _SERVICE: 'web' },
    };
    await deliver(h, foreign, 'SUCCESS');
    // Claims our deployment in substitutions but lacks the tag: still not ours.
    await deliver(h, { ...build, id: foreignId, tags: [] }, 'SUCCESS');
    // A build with neither tags nor substitutions at all (fields absent in the JSON).
    await buildEvents(
      h.deps,
      cloudEvent({ id: foreignId, status: 'SUCCESS', projectId: PROJECT, createTime: T.create }, { buildId: foreignId, status: 'SUCCESS' }),
    );
    expect(await h.jobs.get('mine')).toEqual(before);
    expect(h.bus.published).toHaveLength(published);
  });

  it('a notification for another build of the same deployment (an earlier submit) is stale', async () => {
    const { h, build } = await submitted('older');
    await deliver(h, { ...build, id: randomUUID() }, 'SUCCESS');
    expect((await h.jobs.get('older'))?.artifact).toBeNull();
    await deliver(h, build, 'SUCCESS');
    expect((await h.jobs.get('older'))?.artifact?.digest).toBe(DIGEST);
  });

  it('acknowledges messages that are not a Build resource, with a warning, and changes nothing', async () => {
    const { h, build } = await submitted('junk');
    const before = await h.jobs.get('junk');
    await buildEvents(h.deps, cloudEvent(Buffer.from('not json'), { buildId: build.id ?? '', status: 'SUCCESS' }));
    await buildEvents(h.deps, cloudEvent({ status: 'SUCCESS' }, {}));
    await buildEvents(
      h.deps,
      cloudEvent(published(build, 'SUCCESS', { status: 'SOMETHING_NEW' }), { buildId: build.id ?? '', status: 'SOMETHING_NEW' }),
    );
    await buildEvents(h.deps, { data: 'not a CloudEvent' });
    expect(logged.filter((l) => l.severity === 'WARNING')).toHaveLength(4);
    expect(await h.jobs.get('junk')).toEqual(before);
  });
});
