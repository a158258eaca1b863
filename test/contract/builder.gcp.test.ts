import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuildResource, CloudBuildBuilder, dockerfileScript } from '../../shared/adapters/gcp/builder.js';
import { cloudBuildLiteral, gitFetchScript, TOKEN_ENV } from '../../shared/adapters/gcp/git-step.js';
import { buildTag } from '../../shared/domain/events.js';
import { serviceName } from '../../shared/domain/names.js';
import type { BuildSpec } from '../../shared/ports/index.js';
import { buildGcpClients, type GcpClients } from '../../shared/wiring/gcp-clients.js';
import { type GcpConfig, GcpConfigSchema } from '../../shared/wiring/gcp-config.js';
import { type CloudBuildFake, startCloudBuildFake } from '../support/gcp-fakes/cloudbuild-server.js';

/**
 * CloudBuildBuilder through the clients buildGcpClients builds (the REST API for create, the
 * @google-cloud/cloudbuild gRPC client for cancel) against the in-process Cloud Build fake: what
 * goes over the wire, where the build's notifications go, and that nothing waits. See the fake
 * for what this does not prove (no build runs, notifications are recorded, not put on Pub/Sub).
 */

let fake: CloudBuildFake;
const opened: GcpClients[] = [];

function configFor(extra: Record<string, string> = {}): GcpConfig {
  return GcpConfigSchema.parse({
    BATON_GCP_PROJECT: 'baton-test',
    BATON_GCP_REGION: 'europe-west1',
    BATON_BUCKET: 'baton-test-bucket',
    BATON_ARTIFACT_REPO: 'baton-images',
    BATON_CLOUDBUILD_ENDPOINT: fake.endpoint,
    BATON_CLOUDBUILD_REST_ENDPOINT: fake.restEndpoint,
    ...extra,
  });
}

function builderFor(extra: Record<string, string> = {}, timeoutSeconds?: number): CloudBuildBuilder {
  const config = configFor(extra);
  const clients = buildGcpClients(config);
  opened.push(clients);
  return new CloudBuildBuilder(clients.cloudbuild, clients.cloudbuildRest, config, timeoutSeconds ? { timeoutSeconds } : {});
}

const spec = (id: string, agent = 'orders_api'): BuildSpec => ({
  deployment_id: id,
  agent_id: agent,
  source_key: `sources/${agent}/${id}.tar.gz`,
  tags: [buildTag(id)],
  substitutions: { _DEPLOYMENT_ID: id, _AGENT_ID: agent },
});

beforeAll(async () => {
  fake = await startCloudBuildFake();
});

afterAll(async () => {
  for (const c of opened) await c.cloudbuild.close();
  await fake.close();
});

describe('CloudBuildBuilder (Cloud Build fake)', () => {
  it('sends the exact builds.create request: source archive, Dockerfile/build/push steps, image, tags, substitutions, options with its own topic, timeout', async () => {
    const builder = builderFor({ BATON_BUILD_SERVICE_ACCOUNT: 'baton-builder@baton-test.iam.gserviceaccount.com' }, 900);
    const id = '4f1c2d3e-0000-4000-8000-000000000001';
    await builder.submit(spec(id));
    const image = `europe-west1-docker.pkg.dev/baton-test/baton-images/${serviceName('orders_api')}:${id}`;
    const docker = 'gcr.io/cloud-builders/docker';
    expect(fake.createRequests.at(-1)).toEqual({
      parent: 'projects/baton-test/locations/europe-west1',
      projectId: 'baton-test',
      build: {
        source: { storageSource: { bucket: 'baton-test-bucket', object: `sources/orders_api/${id}.tar.gz` } },
        steps: [
          { id: 'dockerfile', name: docker, entrypoint: 'bash', args: ['-c', dockerfileScript()] },
          { id: 'build', name: docker, args: ['build', '--tag', image, '.'] },
          { id: 'push', name: docker, args: ['push', image] },
        ],
        images: [image],
        tags: [`baton-${id}`],
        substitutions: { _DEPLOYMENT_ID: id, _AGENT_ID: 'orders_api' },
        options: {
          substitutionOption: 'ALLOW_LOOSE',
          logging: 'CLOUD_LOGGING_ONLY',
          pubsubTopic: 'projects/baton-test/topics/baton-builds',
        },
        serviceAccount: 'projects/baton-test/serviceAccounts/baton-builder@baton-test.iam.gserviceaccount.com',
        timeout: '900s',
      },
    });
  });

  it('without a build service account: no serviceAccount and the default logging (no CLOUD_LOGGING_ONLY needed)', async () => {
    const builder = builderFor();
    await builder.submit(spec('d-plain', 'web'));
    const { build } = fake.createRequests.at(-1) as { build: Record<string, unknown> };
    expect(build.options).toEqual({ substitutionOption: 'ALLOW_LOOSE', pubsubTopic: 'projects/baton-test/topics/baton-builds' });
    expect(build).not.toHaveProperty('serviceAccount');
    expect(build.timeout).toBe(`${20 * 60}s`);
    expect(build.images).toEqual(['europe-west1-docker.pkg.dev/baton-test/baton-images/web:d-plain']);
  });

  it('returns the build id from the operation metadata and its log URL at once, without waiting on the operation', async () => {
    const builder = builderFor();
    const polledBefore = fake.calls.GetOperation ?? 0;
    const started = Date.now();
    const { build_id, log_url } = await builder.submit(spec('d-nowait'));
    expect(Date.now() - started).toBeLessThan(5000);
    const build = fake.builds.get(build_id);
    expect(build?.status).toBe('QUEUED');
    expect(log_url).toBe(build?.logUrl);
    expect(log_url).toContain(build_id);
    // Give a poller a moment to show itself: nothing may ask for the operation.
    await new Promise((r) => setTimeout(r, 200));
    expect(fake.calls.GetOperation ?? 0).toBe(polledBefore);
    expect(builder.counters).toEqual({ submitted: 1, cancelled: 0, failed: 0 });
  });

  it('names the image after the service (no "_") and tags it with the deployment id', () => {
    const builder = builderFor();
    expect(builder.imageFor({ agent_id: 'my_agent', deployment_id: 'abc-123' })).toBe(
      `europe-west1-docker.pkg.dev/baton-test/baton-images/${serviceName('my_agent')}:abc-123`,
    );
    expect(serviceName('my_agent')).toMatch(/^my-agent-[0-9a-f]{5}$/);
  });

  it('cancel asks Cloud Build to cancel that build; cancelling a finished or unknown build is not an error', async () => {
    const builder = builderFor();
    const { build_id } = await builder.submit(spec('d-cancel'));
    await builder.cancel(build_id);
    expect(fake.cancelRequests.at(-1)).toEqual({
      name: `projects/baton-test/locations/europe-west1/builds/${build_id}`,
      projectId: 'baton-test',
      id: build_id,
    });
    expect(fake.builds.get(build_id)?.status).toBe('CANCELLED');
    await expect(builder.cancel(build_id)).resolves.toBeUndefined();
    await expect(builder.cancel('no-such-build')).resolves.toBeUndefined();
    expect(builder.counters.cancelled).toBe(1);
  });

  it('fails a submit the API refuses, and counts it', async () => {
    const config = configFor();
    const clients = buildGcpClients(config);
    opened.push(clients);
    // No project id: no such collection (projects//locations/…/builds) for the API.
    const builder = new CloudBuildBuilder(clients.cloudbuild, clients.cloudbuildRest, { ...config, BATON_GCP_PROJECT: '' });
    await expect(builder.submit(spec('d-refused'))).rejects.toMatchObject({ status: 404 });
    expect(builder.counters.failed).toBe(1);
  });

  it("names Baton's own topic for the build's notifications: each state it enters is published there, and no other build's", async () => {
    const builder = builderFor();
    const before = fake.notifications.length;
    const { build_id } = await builder.submit(spec('d-topic'));
    fake.setStatus(build_id, 'WORKING');
    fake.setStatus(build_id, 'SUCCESS');
    const mine = fake.notifications.slice(before);
    expect(mine.map((n) => [n.topic, n.attributes])).toEqual(
      ['QUEUED', 'WORKING', 'SUCCESS'].map((status) => ['projects/baton-test/topics/baton-builds', { buildId: build_id, status }]),
    );
    expect(mine[2].data).toMatchObject({ id: build_id, status: 'SUCCESS', tags: ['baton-d-topic'], timeout: '1200s' });
    // A build of the project that names no topic (someone else's) goes to Google's default topic, not Baton's.
    const foreign = { ...builder.buildFor(spec('d-foreign')), options: { substitutionOption: 'ALLOW_LOOSE' } };
    await rawCreate(foreign);
    expect(fake.notifications.at(-1)?.topic).toBe('projects/baton-test/topics/cloud-builds');
  });

  it('the API refuses a malformed pubsubTopic, an unknown option and a timeout that is not a Duration, as its JSON parser does', async () => {
    const build = builderFor().buildFor(spec('d-malformed'));
    for (const pubsubTopic of [
      'baton-builds',
      'projects/baton-test/baton-builds',
      'projects/baton-test/topics/9builds',
      'projects/baton-test/topics/goog-x',
    ]) {
      await expect(rawCreate({ ...build, options: { ...build.options, pubsubTopic } })).rejects.toMatchObject({
        status: 400,
        message: expect.stringContaining('invalid pubsub topic'),
      });
    }
    await expect(rawCreate({ ...build, options: { ...build.options, pubSubTopic: build.options.pubsubTopic } })).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining(`Unknown name "pubSubTopic" at 'build.options'`),
    });
    await expect(rawCreate({ ...build, timeout: { seconds: 900 } })).rejects.toMatchObject({ status: 400 });
  });

  it('a git source: builds.create with no storage source, the fetch step first, the token by availableSecrets to that step only', async () => {
    const builder = builderFor({ BATON_GIT_TOKEN_SECRETS: JSON.stringify({ 'gh-token': 'github.com' }) });
    const git = { url: 'https://github.com/acme/mono.git', ref: 'v1.2.0', path: 'apps/api', token_secret: 'gh-token' };
    const { build_id } = await builder.submit({ ...spec('d-git'), source_key: '', git });
    const { build } = fake.createRequests.at(-1) as { build: BuildResource };
    expect(build).not.toHaveProperty('source');
    expect(build.availableSecrets).toEqual({
      secretManager: [{ versionName: 'projects/baton-test/secrets/gh-token/versions/latest', env: TOKEN_ENV }],
    });
    expect(build.steps.map((st) => [st.id, st.name, st.dir ?? null, st.secretEnv ?? null])).toEqual([
      ['fetch', 'gcr.io/cloud-builders/git', null, [TOKEN_ENV]],
      ['dockerfile', 'gcr.io/cloud-builders/docker', 'src/apps/api', null],
      ['build', 'gcr.io/cloud-builders/docker', 'src/apps/api', null],
      ['push', 'gcr.io/cloud-builders/docker', null, null],
    ]);
    expect(build.steps[0].args).toEqual(['-c', cloudBuildLiteral(gitFetchScript(git, 'github.com'))]);
    expect(fake.builds.get(build_id)?.status).toBe('QUEUED');
    // A public repository: no secrets at all.
    await builder.submit({ ...spec('d-git-public'), source_key: '', git: { url: git.url, ref: 'main' } });
    const publicBuild = (fake.createRequests.at(-1) as { build: BuildResource }).build;
    expect(publicBuild).not.toHaveProperty('availableSecrets');
    expect(publicBuild.steps[0]).not.toHaveProperty('secretEnv');
  });

  it('the API refuses secrets it cannot honour: a secretEnv not declared, a declared one no step uses, a malformed version name, an env twice, an unknown step field', async () => {
    const builder = builderFor({ BATON_GIT_TOKEN_SECRETS: JSON.stringify({ 'gh-token': 'github.com' }) });
    const build = builder.buildFor({
      ...spec('d-secrets'),
      source_key: '',
      git: { url: 'https://github.com/acme/app.git', ref: 'main', token_secret: 'gh-token' },
    });
    const secret = { versionName: 'projects/baton-test/secrets/gh-token/versions/latest', env: TOKEN_ENV };
    const refused: [object, string][] = [
      [{ ...build, availableSecrets: undefined }, `secretEnv "${TOKEN_ENV}" is used without being defined`],
      [{ ...build, steps: build.steps.map(({ secretEnv: _s, ...st }) => st) }, `secretEnv "${TOKEN_ENV}" is defined without being used`],
      ...[
        'gh-token',
        'projects/baton-test/secrets/gh-token',
        'secrets/gh-token/versions/latest',
        'projects/baton-test/secrets//versions/1',
      ].map((versionName): [object, string] => [
        { ...build, availableSecrets: { secretManager: [{ ...secret, versionName }] } },
        `invalid secret version name ${JSON.stringify(versionName)}`,
      ]),
      [{ ...build, availableSecrets: { secretManager: [secret, secret] } }, 'is defined more than once'],
      [
        { ...build, steps: [{ ...build.steps[0], secretEnvs: [TOKEN_ENV] }, ...build.steps.slice(1)] },
        `Unknown name "secretEnvs" at 'build.steps[0]'`,
      ],
      [{ ...build, steps: [] }, 'at least one step'],
    ];
    for (const [body, message] of refused)
      await expect(rawCreate(body), message).rejects.toMatchObject({ status: 400, message: expect.stringContaining(message) });
    // The builder's own request is accepted.
    await expect(rawCreate(build)).resolves.toBeDefined();
  });
});

/** A builds.create straight through the REST client, for requests the builder would never send. */
async function rawCreate(build: object): Promise<unknown> {
  const clients = buildGcpClients(configFor());
  opened.push(clients);
  return clients.cloudbuildRest.http.request({
    url: `${fake.restEndpoint}/v1/projects/baton-test/locations/europe-west1/builds`,
    method: 'POST',
    data: build,
  });
}
