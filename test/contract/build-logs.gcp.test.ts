import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withApiErrors } from '../../shared/adapters/gcp/api-errors.js';
import { GcsBuildLogReader } from '../../shared/adapters/gcp/build-logs.js';
import { type BuildResource, CloudBuildBuilder } from '../../shared/adapters/gcp/builder.js';
import { buildTag } from '../../shared/domain/events.js';
import type { BuildSpec } from '../../shared/ports/index.js';
import { buildGcpClients, type GcpClients } from '../../shared/wiring/gcp-clients.js';
import { GcpConfigSchema } from '../../shared/wiring/gcp-config.js';
import { type CloudBuildFake, startCloudBuildFake } from '../support/gcp-fakes/cloudbuild-server.js';
import { FakeStorageServer } from '../support/gcp-fakes/storage-server.js';

/**
 * A build's own log on the gcp target: CloudBuildBuilder names the logs bucket (streaming on) in
 * builds.create, the Cloud Build fake writes a growing `log-<id>.txt` there into the Storage fake,
 * and Builder.readLog reads it back by byte range through @google-cloud/storage. See both fakes'
 * headers for what they do not prove (Cloud Build's real streaming cadence above all).
 */

const LOGS = 'baton-test-build-logs';
let storage: FakeStorageServer;
let cloudbuild: CloudBuildFake;
let clients: GcpClients;
let builder: CloudBuildBuilder;

const spec = (id: string): BuildSpec => ({
  deployment_id: id,
  agent_id: 'logs_agent',
  source_key: `sources/logs_agent/${id}.tar.gz`,
  tags: [buildTag(id)],
  substitutions: { _DEPLOYMENT_ID: id, _AGENT_ID: 'logs_agent' },
});

beforeAll(async () => {
  storage = await FakeStorageServer.start({ buckets: [LOGS] });
  cloudbuild = await startCloudBuildFake({ storage });
  const config = GcpConfigSchema.parse({
    BATON_GCP_PROJECT: 'baton-test',
    BATON_GCP_REGION: 'europe-west1',
    BATON_BUCKET: 'baton-test-bucket',
    BATON_BUILD_SERVICE_ACCOUNT: 'baton-build@baton-test.iam.gserviceaccount.com',
    BATON_BUILD_LOGS_BUCKET: LOGS,
    BATON_STORAGE_ENDPOINT: storage.url,
    BATON_CLOUDBUILD_ENDPOINT: cloudbuild.endpoint,
    BATON_CLOUDBUILD_REST_ENDPOINT: cloudbuild.restEndpoint,
  });
  clients = buildGcpClients(config);
  builder = new CloudBuildBuilder(clients.cloudbuild, clients.cloudbuildRest, config, {
    logs: withApiErrors('storage', new GcsBuildLogReader(clients.storage, LOGS)),
  });
});
afterAll(async () => {
  await clients?.cloudbuild.close();
  await Promise.all([cloudbuild?.close(), storage?.close()]);
});

describe('a build log in the logs bucket, read as it grows', () => {
  it('names the logs bucket, streamed, logged to Cloud Logging too; the API takes it', async () => {
    const { build_id } = await builder.submit(spec('d-logs-request'));
    const { build } = cloudbuild.createRequests.at(-1) as { build: BuildResource };
    expect(build.logsBucket).toBe(`gs://${LOGS}`);
    expect(build.options).toMatchObject({ logging: 'LEGACY', logStreamingOption: 'STREAM_ON' });
    expect(build.serviceAccount).toBe('projects/baton-test/serviceAccounts/baton-build@baton-test.iam.gserviceaccount.com');
    expect(cloudbuild.builds.get(build_id)?.status).toBe('QUEUED');
  });

  it('reads nothing before the log exists, then each part once by offset, `more` when a read stops short, nothing past the end', async () => {
    const { build_id } = await builder.submit(spec('d-logs-grow'));
    const read = builder.readLog;
    if (!read) throw new Error('a builder with a logs bucket reads logs');
    expect(await read(build_id, 0, 1024)).toEqual({ data: Buffer.alloc(0), more: false });
    cloudbuild.appendLog(build_id, 'starting build\n\nFETCHSOURCE\n');
    const first = await read(build_id, 0, 1024);
    expect(first.data.toString()).toBe('starting build\n\nFETCHSOURCE\n');
    expect(first.more).toBe(false);
    cloudbuild.appendLog(build_id, 'Step #0 - "fetch": Fetching …\nStep #0 - "fetch": Commit 0123\n');
    const second = await read(build_id, first.data.length, 10);
    expect(second).toEqual({ data: Buffer.from('Step #0 - '), more: true });
    const rest = await read(build_id, first.data.length + 10, 1024);
    expect(rest.data.toString()).toBe('"fetch": Fetching …\nStep #0 - "fetch": Commit 0123\n');
    expect(await read(build_id, first.data.length + 10 + rest.data.length, 1024)).toEqual({ data: Buffer.alloc(0), more: false });
    // Ranged GETs of the object the build wrote in the logs bucket, generation after generation.
    const gets = storage.requestsOf('download').filter((r) => r.object === `log-${build_id}.txt`);
    expect(gets.map((r) => r.status)).toEqual([404, 206, 206, 206, 416]);
    expect(storage.object(LOGS, `log-${build_id}.txt`)?.generation).toBeGreaterThan(0);
  });

  it('the API refuses a build that runs as its own service account with nowhere to log, a malformed logsBucket or logging mode', async () => {
    const build = builder.buildFor(spec('d-logs-refused'));
    const { logsBucket: _dropped, ...noBucket } = build;
    const refused: [object, string][] = [
      [{ ...noBucket, options: { ...build.options, logging: 'LEGACY' } }, "if 'build.service_account' is specified"],
      [{ ...build, logsBucket: LOGS }, 'invalid logs bucket'],
      [{ ...build, logsBucket: 'gs://Bad_Bucket' }, 'invalid logs bucket'],
      [{ ...build, options: { ...build.options, logging: 'GCS' } }, "invalid value for 'build.options.logging'"],
      [{ ...build, options: { ...build.options, logStreamingOption: 'ON' } }, "invalid value for 'build.options.log_streaming_option'"],
    ];
    for (const [body, message] of refused)
      await expect(
        clients.cloudbuildRest.http.request({
          url: `${cloudbuild.restEndpoint}/v1/projects/baton-test/locations/europe-west1/builds`,
          method: 'POST',
          data: body,
        }),
        message,
      ).rejects.toMatchObject({ status: 400, message: expect.stringContaining(message) });
    // Without a logs bucket (the fake's default), a build with its own account logs to Cloud Logging only, which the API takes.
    await expect(
      clients.cloudbuildRest.http.request({
        url: `${cloudbuild.restEndpoint}/v1/projects/baton-test/locations/europe-west1/builds`,
        method: 'POST',
        data: { ...noBucket, options: { ...build.options, logging: 'CLOUD_LOGGING_ONLY', logStreamingOption: undefined } },
      }),
    ).resolves.toBeDefined();
  });
});
