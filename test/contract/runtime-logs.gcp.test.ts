import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudLoggingRuntimeLogs, revisionLogFilter } from '../../shared/adapters/gcp/runtime-logs.js';
import { buildGcpClients } from '../../shared/wiring/gcp-clients.js';
import { GcpConfigSchema } from '../../shared/wiring/gcp-config.js';
import { type CloudLoggingFake, type FakeLogEntry, startCloudLoggingFake } from '../support/gcp-fakes/logging-server.js';
import { runtimeLogsContract } from './suites/runtime-logs.suite.js';

const PROJECT = 'baton-test-project';
const REGION = 'europe-west1';

let fake: CloudLoggingFake;
beforeAll(async () => {
  fake = await startCloudLoggingFake();
});
afterAll(async () => {
  await fake.stop();
});

const config = () =>
  GcpConfigSchema.parse({ BATON_GCP_PROJECT: PROJECT, BATON_GCP_REGION: REGION, BATON_BUCKET: 'bucket', BATON_LOGGING_ENDPOINT: fake.url });

/** Entry times: real time (a follow from now compares with it), strictly increasing. */
let clock = 0;

/** A line as Cloud Run records it: JSON becomes jsonPayload (its `severity` lifted to the entry), anything else textPayload. */
function cloudRunEntry(service: string, revision: string, stream: string, line: string, region = REGION): FakeLogEntry {
  clock = Math.max(clock + 1, Date.now());
  const base = {
    insertId: `ins-${clock}`,
    timestamp: new Date(clock).toISOString(),
    logName: `projects/${PROJECT}/logs/run.googleapis.com%2F${stream}`,
    resource: {
      type: 'cloud_run_revision',
      labels: { service_name: service, revision_name: revision, location: region, configuration_name: service, project_id: PROJECT },
    },
  };
  try {
    const { severity, ...rest } = JSON.parse(line) as Record<string, unknown>;
    return { ...base, severity: typeof severity === 'string' ? severity : 'DEFAULT', jsonPayload: rest };
  } catch {
    return { ...base, severity: 'DEFAULT', textPayload: line };
  }
}

runtimeLogsContract('Cloud Logging (in-process fake of entries:list)', async () => {
  fake.entries.length = 0;
  const logs = new CloudLoggingRuntimeLogs(buildGcpClients(config()).logging, config(), 15);
  return {
    logs,
    write: async (service, revision, stream, line) => {
      fake.entries.push(cloudRunEntry(service, revision, stream, line));
    },
    close: async () => {},
  };
});

describe('CloudLoggingRuntimeLogs against the fake', () => {
  it("asks for the revision's stdout and stderr only, in its region, with a filter the API parses", async () => {
    fake.entries.length = 0;
    fake.entries.push(
      cloudRunEntry('shop', 'shop-aaa', 'stdout', 'mine'),
      cloudRunEntry('shop', 'shop-aaa', 'requests', 'GET / 200'),
      cloudRunEntry('shop', 'shop-aaa', 'stdout', 'other region', 'us-central1'),
    );
    const logs = new CloudLoggingRuntimeLogs(buildGcpClients(config()).logging, config());
    const got = await logs.read({ service: 'shop', revision: 'shop-aaa' }, 10);
    expect(got.map((e) => e.message)).toEqual(['mine']);
    const request = fake.requests.at(-1);
    expect(request).toMatchObject({ resourceNames: [`projects/${PROJECT}`], orderBy: 'timestamp desc', pageSize: 10 });
    expect(request?.filter).toBe(
      `resource.type="cloud_run_revision" AND resource.labels.service_name="shop" AND resource.labels.revision_name="shop-aaa" AND resource.labels.location="${REGION}" AND (logName="projects/${PROJECT}/logs/run.googleapis.com%2Fstdout" OR logName="projects/${PROJECT}/logs/run.googleapis.com%2Fstderr")`,
    );
  });

  it('keeps a severity Cloud Run lifted from the line, and reads pino levels Cloud Run leaves in the payload', async () => {
    fake.entries.length = 0;
    fake.entries.push(
      cloudRunEntry('shop', 'shop-aaa', 'stdout', '{"severity":"WARNING","message":"structured"}'),
      cloudRunEntry('shop', 'shop-aaa', 'stdout', '{"level":50,"msg":"pino error","pid":1}'),
      cloudRunEntry('shop', 'shop-aaa', 'stderr', '{"level":40}'),
    );
    const got = await new CloudLoggingRuntimeLogs(buildGcpClients(config()).logging, config()).read({ service: 'shop' }, 10);
    expect(got.map((e) => [e.severity, e.message, e.stream])).toEqual([
      ['WARNING', 'structured', 'stdout'],
      ['ERROR', 'pino error', 'stdout'],
      ['WARNING', '{"level":40}', 'stderr'],
    ]);
  });

  it('reads past a short page with its token', async () => {
    fake.entries.length = 0;
    for (let i = 0; i < 30; i++) fake.entries.push(cloudRunEntry('shop', 'shop-aaa', 'stdout', `l${i}`));
    const logs = new CloudLoggingRuntimeLogs(buildGcpClients(config()).logging, config());
    const got = await logs.read({ service: 'shop' }, 25);
    expect(got.map((e) => e.message)).toEqual(Array.from({ length: 25 }, (_, i) => `l${i + 5}`));
  });

  it.each([
    ['an unbalanced quote', 'resource.type="cloud_run_revision'],
    ['an unbalanced parenthesis', '(logName="a" OR logName="b"'],
    ['an operator with no value', 'resource.labels.service_name='],
    ['a dangling AND', 'resource.type="cloud_run_revision" AND'],
  ])('the fake refuses a filter with %s, as the API does (400 INVALID_ARGUMENT)', async (_what, filter) => {
    const res = await fetch(`${fake.url}/v2/entries:list`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ resourceNames: [`projects/${PROJECT}`], filter }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 400, status: 'INVALID_ARGUMENT' } });
  });

  it('the fake refuses a request with no resourceNames or an unknown orderBy', async () => {
    for (const body of [{ filter: '' }, { resourceNames: [`projects/${PROJECT}`], orderBy: 'severity desc' }]) {
      const res = await fetch(`${fake.url}/v2/entries:list`, { method: 'POST', body: JSON.stringify(body) });
      expect(res.status).toBe(400);
    }
  });

  it('quotes what goes into the filter, so a name cannot change its meaning', () => {
    const filter = revisionLogFilter({ BATON_GCP_PROJECT: PROJECT, BATON_GCP_REGION: REGION }, { service: 'a" OR "x', revision: 'b\\' });
    expect(filter).toContain('resource.labels.service_name="a\\" OR \\"x"');
    expect(filter).toContain('resource.labels.revision_name="b\\\\"');
  });
});
