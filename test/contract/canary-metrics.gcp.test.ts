import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudMonitoringCanaryMetrics, metricsFilter } from '../../shared/adapters/gcp/canary-metrics.js';
import { loadConfig, loadGcpConfig } from '../../shared/config.js';
import { PermanentError } from '../../shared/domain/errors.js';
import { buildGcpAdapters } from '../../shared/wiring/gcp.js';
import { buildGcpClients } from '../../shared/wiring/gcp-clients.js';
import { GcpConfigSchema } from '../../shared/wiring/gcp-config.js';
import {
  type CloudMonitoringFake,
  REQUEST_COUNT,
  REQUEST_LATENCIES,
  startCloudMonitoringFake,
} from '../support/gcp-fakes/monitoring-server.js';
import { canaryMetricsContract } from './suites/canary-metrics.suite.js';

const PROJECT = 'baton-test-project';
const REGION = 'europe-west1';
/** A bucket layout for request_latencies (exponential, as Cloud Run's is; its exact parameters are not known here). */
const BUCKETS = { exponentialBuckets: { numFiniteBuckets: 100, growthFactor: 1.4, scale: 1 } };

let fake: CloudMonitoringFake;
beforeAll(async () => {
  fake = await startCloudMonitoringFake();
});
afterAll(async () => {
  await fake.close();
});

const config = () =>
  GcpConfigSchema.parse({
    BATON_GCP_PROJECT: PROJECT,
    BATON_GCP_REGION: REGION,
    BATON_BUCKET: 'bucket',
    BATON_MONITORING_ENDPOINT: fake.endpoint,
  });

/** One request as Cloud Run records it: a request_count point by response class and a latency sample. */
function served(service: string, revision: string, status: number, ms: number, region = REGION) {
  const resource = { project_id: PROJECT, service_name: service, revision_name: revision, location: region, configuration_name: service };
  const end = new Date();
  fake.write({
    metric: REQUEST_COUNT,
    resource,
    labels: { response_code: String(status), response_code_class: `${String(status)[0]}xx`, route_type: 'default' },
    end,
    value: { int64: 1 },
  });
  const bucket = Math.min(101, ms < 1 ? 0 : Math.floor(Math.log(ms) / Math.log(1.4)) + 1);
  const bucketCounts = Array.from({ length: bucket + 1 }, (_, i) => (i === bucket ? '1' : '0'));
  fake.write({
    metric: REQUEST_LATENCIES,
    resource,
    end,
    value: { distribution: { count: '1', mean: ms, bucketOptions: BUCKETS, bucketCounts } },
  });
}

canaryMetricsContract('Cloud Monitoring (in-process fake of MetricService.ListTimeSeries)', async () => {
  fake.clear();
  return {
    metrics: new CloudMonitoringCanaryMetrics(buildGcpClients(config()).metrics, config()),
    serve: async (service, revision, status, ms) => served(service, revision, status, ms),
    close: async () => {},
  };
});

describe('CloudMonitoringCanaryMetrics against the fake', () => {
  it('asks for one metric type per call, over the window, aligned and summed per revision (and response class)', async () => {
    fake.clear();
    fake.requests.length = 0;
    served('shop', 'shop-new', 200, 3);
    served('shop', 'shop-new', 200, 3, 'us-central1');
    const metrics = new CloudMonitoringCanaryMetrics(buildGcpClients(config()).metrics, config());
    const from = new Date(Date.now() - 10_000);
    const [got] = await metrics.revisionTraffic('shop', ['shop-new'], { from, to: new Date(Date.now() + 1) });
    expect(got.requests).toBe(1);
    const count = fake.requests.find((r) => String(r.filter).includes(REQUEST_COUNT));
    expect(count).toMatchObject({
      name: `projects/${PROJECT}`,
      filter: `metric.type = "${REQUEST_COUNT}" AND resource.type = "cloud_run_revision" AND resource.labels.service_name = "shop" AND resource.labels.location = "${REGION}"`,
      aggregation: {
        alignmentPeriod: { seconds: '60' },
        perSeriesAligner: 'ALIGN_DELTA',
        crossSeriesReducer: 'REDUCE_SUM',
        groupByFields: ['resource.labels.revision_name', 'metric.labels.response_code_class'],
      },
      view: 'FULL',
    });
    expect(Number((count?.interval as { startTime: { seconds: string } } | undefined)?.startTime.seconds)).toBe(
      Math.floor(from.getTime() / 1000),
    );
    const latency = fake.requests.find((r) => String(r.filter).includes(REQUEST_LATENCIES));
    expect(latency).toMatchObject({ aggregation: { groupByFields: ['resource.labels.revision_name'], crossSeriesReducer: 'REDUCE_SUM' } });
  });

  it('widens the alignment period to a window longer than a minute, so one point covers it', async () => {
    fake.requests.length = 0;
    const metrics = new CloudMonitoringCanaryMetrics(buildGcpClients(config()).metrics, config());
    await metrics.revisionTraffic('shop', ['shop-new'], { from: new Date(Date.now() - 300_500), to: new Date() });
    expect(fake.requests[0]).toMatchObject({ aggregation: { alignmentPeriod: { seconds: '301' } } });
  });

  it('quotes what goes into the filter, so a name cannot change its meaning', () => {
    expect(metricsFilter(REQUEST_COUNT, 'a" OR resource.type = "x', 'r\\')).toContain(
      'resource.labels.service_name = "a\\" OR resource.type = \\"x" AND resource.labels.location = "r\\\\"',
    );
  });

  const list = (request: Record<string, unknown>) => buildGcpClients(config()).metrics.listTimeSeries(request);
  const valid = {
    name: `projects/${PROJECT}`,
    filter: `metric.type = "${REQUEST_COUNT}"`,
    interval: { startTime: { seconds: 1 }, endTime: { seconds: 100 } },
    view: 'FULL',
  };

  it.each([
    ['a filter with an unbalanced quote', { filter: 'metric.type = "run.googleapis.com/request_count' }, /unterminated string/],
    ['a filter with an unbalanced parenthesis', { filter: `(metric.type = "${REQUEST_COUNT}"` }, /syntax error|end of filter/],
    ['a filter with a dangling AND', { filter: `metric.type = "${REQUEST_COUNT}" AND` }, /end of filter/],
    ['an unquoted value', { filter: 'metric.type = run.googleapis.com/request_count' }, /syntax error/],
    ['a filter naming no metric type', { filter: 'resource.type = "cloud_run_revision"' }, /exactly one metric type/],
    ['an unknown selector', { filter: `metric.type = "${REQUEST_COUNT}" AND revision = "x"` }, /syntax error/],
    ['no interval', { interval: undefined }, /interval\.endTime/],
    ['a start after the end', { interval: { startTime: { seconds: 200 }, endTime: { seconds: 100 } } }, /start time/],
    [
      'an alignment period under 60 s',
      { aggregation: { alignmentPeriod: { seconds: 30 }, perSeriesAligner: 'ALIGN_DELTA', crossSeriesReducer: 'REDUCE_SUM' } },
      /at least 60 seconds/,
    ],
    ['an aligner without an alignment period', { aggregation: { perSeriesAligner: 'ALIGN_DELTA' } }, /alignmentPeriod/],
    [
      'a reducer without an aligner',
      { aggregation: { alignmentPeriod: { seconds: 60 }, crossSeriesReducer: 'REDUCE_SUM' } },
      /requires a per-series aligner/,
    ],
    [
      'ALIGN_DELTA on a GAUGE metric',
      {
        filter: 'metric.type = "run.googleapis.com/container/instance_count"',
        aggregation: { alignmentPeriod: { seconds: 60 }, perSeriesAligner: 'ALIGN_DELTA' },
      },
      /cannot be applied to metrics with kind GAUGE/,
    ],
    [
      'a groupByFields entry that is no label',
      {
        aggregation: {
          alignmentPeriod: { seconds: 60 },
          perSeriesAligner: 'ALIGN_DELTA',
          crossSeriesReducer: 'REDUCE_SUM',
          groupByFields: ['revision_name'],
        },
      },
      /groupByFields/,
    ],
    ['a name that is not a project', { name: 'shop' }, /Field name/],
  ])('the fake refuses %s with INVALID_ARGUMENT, as the API does', async (_what, change, message) => {
    await expect(list({ ...valid, ...change })).rejects.toMatchObject({ code: 3, details: expect.stringMatching(message) });
  });

  it('the fake answers a valid request (so the refusals above are about what they change)', async () => {
    await expect(list(valid)).resolves.toBeDefined();
  });
});

describe('the canary metrics on the gcp wiring', () => {
  const env = () => ({
    BATON_TARGET: 'gcp',
    BATON_GCP_PROJECT: PROJECT,
    BATON_GCP_REGION: REGION,
    BATON_BUCKET: 'bucket',
    BATON_MONITORING_ENDPOINT: fake.endpoint,
    BATON_CANARY_CHECK_MS: '250',
    BATON_TASKS_SERVICE_ACCOUNT: 'baton-tasks@baton-test-project.iam.gserviceaccount.com',
    BATON_TASK_TARGETS: JSON.stringify({ 'canary-step': 'https://canary.example.test' }),
  });

  it('reads Cloud Monitoring through the wiring, with checks no closer than 5 s on Google Cloud', async () => {
    fake.clear();
    const a = buildGcpAdapters(loadConfig(env()), loadGcpConfig(env()));
    expect(a.deps.settings.canary_check_ms).toBe(5000);
    expect(a.deps.canaryMetrics.source).toBe('Cloud Monitoring');
    const from = new Date();
    served('shop', 'shop-new', 503, 5);
    const [got] = await a.deps.canaryMetrics.revisionTraffic('shop', ['shop-new'], { from, to: new Date(Date.now() + 1) });
    expect([got.requests, got.server_errors]).toEqual([1, 1]);
  });

  it('a missing monitoring role fails the check permanently, naming roles/monitoring.viewer (no retries into the dead letter)', async () => {
    fake.iam.deny('monitoring.timeSeries.list');
    try {
      const a = buildGcpAdapters(loadConfig(env()), loadGcpConfig(env()));
      const err = await a.deps.canaryMetrics
        .revisionTraffic('shop', ['shop-new'], { from: new Date(Date.now() - 1000), to: new Date() })
        .catch((e) => e);
      expect(err).toBeInstanceOf(PermanentError);
      expect((err as PermanentError).userMessage()).toContain('roles/monitoring.viewer');
      expect((err as PermanentError).userMessage()).toContain('PERMISSION_DENIED');
    } finally {
      fake.iam.allow('monitoring.timeSeries.list');
    }
  });
});
