import type { protos } from '@google-cloud/monitoring';
import {
  addHistograms,
  type BucketOptions,
  boundsOf,
  type Histogram,
  quantileOf,
  type RevisionTraffic,
  revisionTraffic,
} from '../../domain/canary.js';
import type { CanaryMetrics, MetricsWindow } from '../../ports/index.js';

type IListTimeSeriesRequest = protos.google.monitoring.v3.IListTimeSeriesRequest;
type ITimeSeries = protos.google.monitoring.v3.ITimeSeries;
type IDistribution = protos.google.api.IDistribution;

/** The one call the adapter makes (MetricServiceClient.listTimeSeries, which pages through every result). */
export interface TimeSeriesLister {
  listTimeSeries(request: IListTimeSeriesRequest): Promise<[ITimeSeries[], ...unknown[]]>;
}

export const REQUEST_COUNT = 'run.googleapis.com/request_count';
export const REQUEST_LATENCIES = 'run.googleapis.com/request_latencies';
/** Cloud Monitoring refuses a shorter alignment period ("must be at least 60 seconds"). */
const MIN_ALIGNMENT_S = 60;

/**
 * The canary's metrics on Google Cloud: Cloud Run's request_count (a DELTA INT64 per revision and
 * response_code_class) and request_latencies (a DELTA distribution, ms), read with
 * timeSeries.list over the window, aligned with ALIGN_DELTA and summed per revision (and per
 * response class) with REDUCE_SUM, so the API does the arithmetic and answers a few points.
 *
 * Cloud Run samples these every 60 s and they show up to about 3 minutes late: a window shorter
 * than that sees few or none of its requests, which the analysis calls inconclusive (health
 * probes decide). Requests to a revision's tag URL (Baton's own probes) count as that revision's.
 */
export class CloudMonitoringCanaryMetrics implements CanaryMetrics {
  readonly source = 'Cloud Monitoring';

  constructor(
    private readonly client: TimeSeriesLister,
    private readonly config: { BATON_GCP_PROJECT: string; BATON_GCP_REGION: string },
  ) {}

  async revisionTraffic(service: string, revisions: readonly string[], window: MetricsWindow): Promise<RevisionTraffic[]> {
    const [counts, latencies] = await Promise.all([
      this.list(REQUEST_COUNT, service, window, ['resource.labels.revision_name', 'metric.labels.response_code_class']),
      this.list(REQUEST_LATENCIES, service, window, ['resource.labels.revision_name']),
    ]);
    return revisions.map((revision) => {
      let requests = 0;
      let serverErrors = 0;
      for (const ts of counts.filter((t) => t.resource?.labels?.revision_name === revision)) {
        const n = (ts.points ?? []).reduce((a, p) => a + num(p.value?.int64Value), 0);
        requests += n;
        if (ts.metric?.labels?.response_code_class === '5xx') serverErrors += n;
      }
      const dists = latencies
        .filter((t) => t.resource?.labels?.revision_name === revision)
        .flatMap((t) => (t.points ?? []).map((p) => p.value?.distributionValue))
        .filter((d): d is IDistribution => Boolean(d) && num(d?.count) > 0);
      return revisionTraffic(revision, requests, serverErrors, latencyOf(dists));
    });
  }

  private async list(metric: string, service: string, window: MetricsWindow, groupBy: string[]): Promise<ITimeSeries[]> {
    const seconds = Math.max(MIN_ALIGNMENT_S, Math.ceil((window.to.getTime() - window.from.getTime()) / 1000));
    const [series] = await this.client.listTimeSeries({
      name: `projects/${this.config.BATON_GCP_PROJECT}`,
      filter: metricsFilter(metric, service, this.config.BATON_GCP_REGION),
      interval: { startTime: timestamp(window.from), endTime: timestamp(window.to) },
      aggregation: {
        alignmentPeriod: { seconds },
        perSeriesAligner: 'ALIGN_DELTA',
        crossSeriesReducer: 'REDUCE_SUM',
        groupByFields: groupBy,
      },
      view: 'FULL',
    });
    return series;
  }
}

/** The filter: one metric type (timeSeries.list demands exactly one), the service's revisions in its region, values quoted. */
export function metricsFilter(metric: string, service: string, region: string): string {
  return [
    `metric.type = ${quote(metric)}`,
    `resource.type = "cloud_run_revision"`,
    `resource.labels.service_name = ${quote(service)}`,
    `resource.labels.location = ${quote(region)}`,
  ].join(' AND ');
}

/** Merged distributions' p95 and mean: bucket counts added where the bucket layout is the same. */
function latencyOf(dists: IDistribution[]): { p95_ms: number | null; mean_ms: number | null } {
  const total = dists.reduce((a, d) => a + num(d.count), 0);
  if (total === 0) return { p95_ms: null, mean_ms: null };
  const mean = dists.reduce((a, d) => a + num(d.count) * (d.mean ?? 0), 0) / total;
  let merged: Histogram | null = null;
  for (const d of dists) {
    const h = histogramOf(d);
    if (!h) continue;
    merged = merged && sameBounds(merged, h) ? addHistograms(merged, h) : (merged ?? h);
  }
  return { p95_ms: merged ? quantileOf(merged, 0.95) : null, mean_ms: mean };
}

function histogramOf(d: IDistribution): Histogram | null {
  const o = d.bucketOptions;
  const options: BucketOptions | null = o?.exponentialBuckets
    ? {
        exponential: {
          numFiniteBuckets: o.exponentialBuckets.numFiniteBuckets ?? 0,
          growthFactor: o.exponentialBuckets.growthFactor ?? 2,
          scale: o.exponentialBuckets.scale ?? 1,
        },
      }
    : o?.linearBuckets
      ? {
          linear: {
            numFiniteBuckets: o.linearBuckets.numFiniteBuckets ?? 0,
            width: o.linearBuckets.width ?? 1,
            offset: o.linearBuckets.offset ?? 0,
          },
        }
      : o?.explicitBuckets
        ? { explicit: { bounds: o.explicitBuckets.bounds ?? [] } }
        : null;
  if (!options) return null;
  const bounds = boundsOf(options);
  // Trailing zero buckets may be left out of bucketCounts.
  const counts = Array.from({ length: bounds.length + 1 }, (_, i) => num(d.bucketCounts?.[i]));
  return { bounds, counts };
}

const sameBounds = (a: Histogram, b: Histogram) => a.bounds.length === b.bounds.length && a.bounds.every((x, i) => x === b.bounds[i]);

/** int64 fields arrive as strings (or Longs, or numbers). */
function num(v: unknown): number {
  if (v === null || v === undefined) return 0;
  const n = Number(typeof v === 'object' ? String(v) : v);
  return Number.isFinite(n) ? n : 0;
}

function timestamp(d: Date) {
  const ms = d.getTime();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

function quote(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}
