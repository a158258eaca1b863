import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CanaryMetrics } from '../../../shared/ports/index.js';
import { sleep } from './util.js';

export interface CanaryMetricsHarness {
  metrics: CanaryMetrics;
  /** Makes `revision` of `service` answer one request with `status`, taking about `ms`, now. */
  serve(service: string, revision: string, status: number, ms: number): Promise<void>;
  close(): Promise<void>;
}

/** What every CanaryMetrics adapter must answer about what revisions served. */
export function canaryMetricsContract(name: string, open: () => Promise<CanaryMetricsHarness>): void {
  describe(`CanaryMetrics contract: ${name}`, () => {
    let h: CanaryMetricsHarness;
    beforeEach(async () => {
      h = await open();
    });
    afterEach(async () => {
      await h.close();
    });

    const times = (n: number, f: () => Promise<void>) => Promise.all(Array.from({ length: n }, f));

    it('counts requests and 5xx answers per revision, in the order asked, zero for a revision that served nothing', async () => {
      const from = new Date();
      await times(8, () => h.serve('shop', 'shop-new', 200, 1));
      await times(2, () => h.serve('shop', 'shop-new', 503, 1));
      await h.serve('shop', 'shop-new', 404, 1);
      await times(5, () => h.serve('shop', 'shop-old', 200, 1));
      await h.serve('other', 'shop-new', 500, 1);
      const to = new Date(Date.now() + 1);
      const got = await h.metrics.revisionTraffic('shop', ['shop-new', 'shop-old', 'shop-idle'], { from, to });
      expect(got.map((r) => [r.revision, r.requests, r.server_errors, r.error_rate])).toEqual([
        ['shop-new', 11, 2, 0.1818],
        ['shop-old', 5, 0, 0],
        ['shop-idle', 0, 0, null],
      ]);
      expect(got[2]).toMatchObject({ latency_p95_ms: null, latency_mean_ms: null });
    });

    it('counts nothing served before the window or after it', async () => {
      await times(3, () => h.serve('shop', 'shop-new', 500, 1));
      await sleep(150);
      const from = new Date();
      await times(2, () => h.serve('shop', 'shop-new', 200, 1));
      const to = new Date(Date.now() + 1);
      await sleep(150);
      await times(4, () => h.serve('shop', 'shop-new', 500, 1));
      const [got] = await h.metrics.revisionTraffic('shop', ['shop-new'], { from, to });
      expect([got.requests, got.server_errors]).toEqual([2, 0]);
    });

    it("gives the window's p95 and mean latency", async () => {
      const from = new Date();
      await Promise.all([
        ...Array.from({ length: 18 }, () => h.serve('shop', 'shop-new', 200, 5)),
        ...[0, 1].map(() => h.serve('shop', 'shop-new', 200, 300)),
      ]);
      const [got] = await h.metrics.revisionTraffic('shop', ['shop-new'], { from, to: new Date(Date.now() + 1) });
      expect(got.requests).toBe(20);
      // The 19th of 20 requests is one of the two slow ones (buckets make it approximate, and a
      // loaded machine slows real requests): the p95 is the tail's, not the fast majority's.
      expect(got.latency_p95_ms).toBeGreaterThan(200);
      expect(got.latency_p95_ms).toBeLessThan(2000);
      // (18 × 5 + 2 × 300) / 20 = 34.5 ms, give or take what the machine adds.
      expect(got.latency_mean_ms).toBeGreaterThan(30);
      expect(got.latency_mean_ms).toBeLessThan(400);
    });
  });
}
