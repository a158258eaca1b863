import type { RevisionTraffic } from '../domain/canary.js';

/** A time range, end exclusive. */
export interface MetricsWindow {
  from: Date;
  to: Date;
}

/**
 * What each revision of a service served in a window: requests, 5xx answers, latency (the canary
 * analysis's input). Locally the router counts the requests it routes through the service URL; on
 * Google Cloud, Cloud Monitoring's run.googleapis.com/request_count and request_latencies.
 */
export interface CanaryMetrics {
  /** Where the numbers come from, in words the job shows ("local router", "Cloud Monitoring"). */
  readonly source: string;
  /** One entry per asked revision, in the order asked; a revision that served nothing has zero requests. */
  revisionTraffic(service: string, revisions: readonly string[], window: MetricsWindow): Promise<RevisionTraffic[]>;
}
