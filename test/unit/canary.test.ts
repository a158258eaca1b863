import { describe, expect, it } from 'vitest';
import { LocalCanaryMetrics, RequestStats } from '../../shared/adapters/local/request-stats.js';
import { boundsOf, judgeCanary, quantileOf, revisionTraffic } from '../../shared/domain/canary.js';
import { canaryThresholdsFor, DEFAULT_ENVIRONMENTS, environmentCanary, parseEnvironmentsFile } from '../../shared/domain/environments.js';
import { DeploymentRequestSchema } from '../../shared/domain/request.js';

const T = { max_error_rate: 0.05, max_latency_ms: 500, min_requests: 20 };
const served = (revision: string, requests: number, errors: number, p95: number | null = 50) =>
  revisionTraffic(revision, requests, errors, { p95_ms: p95, mean_ms: p95 === null ? null : p95 / 2 });

describe('the canary decision: measured against thresholds', () => {
  it('passes a candidate within both thresholds, quoting the stable revision beside it', () => {
    const j = judgeCanary(served('new', 40, 2), served('old', 100, 0), T);
    expect(j.verdict).toBe('pass');
    expect(j.message).toBe('Pass: candidate new: 40 requests, 5xx 5%, p95 50 ms; stable old: 100 requests, 5xx 0%, p95 50 ms');
  });

  it('is a breach above max_error_rate, naming the rate, the counts and the threshold', () => {
    const j = judgeCanary(served('new', 40, 3), served('old', 100, 0), T);
    expect(j.verdict).toBe('breach');
    expect(j.breaches).toEqual(['5xx rate 7.5% (3/40) over max_error_rate 5%']);
    expect(j.message).toContain('stable old: 100 requests, 5xx 0%');
  });

  it('is a breach above max_latency_ms, and names both breaches when both happen', () => {
    expect(judgeCanary(served('new', 40, 0, 501), null, T).breaches).toEqual(['p95 latency 501 ms over max_latency_ms 500 ms']);
    expect(judgeCanary(served('new', 40, 40, 900), null, T).breaches).toHaveLength(2);
  });

  it('is inconclusive below min_requests, however bad the few requests were', () => {
    const j = judgeCanary(served('new', 19, 19, 9000), served('old', 500, 0), T);
    expect(j.verdict).toBe('inconclusive');
    expect(j.message).toBe('Inconclusive: 19 candidate requests, fewer than min_requests 20; stable old: 500 requests, 5xx 0%, p95 50 ms');
    expect(judgeCanary(served('new', 0, 0, null), null, T).message).toBe('Inconclusive: 0 candidate requests, fewer than min_requests 20');
  });

  it('counts exactly min_requests as enough, and a rate equal to the maximum as within it', () => {
    expect(judgeCanary(served('new', 20, 1), null, T).verdict).toBe('pass');
  });
});

describe('latency quantiles from buckets', () => {
  it('interpolates inside the bucket the rank falls in, as the percentile aligners do', () => {
    const h = { bounds: [10, 20, 40], counts: [0, 10, 10, 0] };
    expect(quantileOf(h, 0.5)).toBe(20);
    expect(quantileOf(h, 0.95)).toBeCloseTo(38, 5);
    expect(quantileOf({ bounds: [10], counts: [0, 0] }, 0.95)).toBeNull();
    // The overflow bucket has no upper bound: its lower bound is reported.
    expect(quantileOf({ bounds: [10, 20], counts: [0, 0, 5] }, 0.95)).toBe(20);
  });

  it('reads the three bucket layouts of google.api.Distribution', () => {
    expect(boundsOf({ linear: { numFiniteBuckets: 3, width: 5, offset: 1 } })).toEqual([1, 6, 11, 16]);
    expect(boundsOf({ exponential: { numFiniteBuckets: 2, growthFactor: 2, scale: 3 } })).toEqual([3, 6, 12]);
    expect(boundsOf({ explicit: { bounds: [1, 5] } })).toEqual([1, 5]);
  });
});

describe('thresholds: deployment_options over the environment', () => {
  it('takes each unset threshold from the environment, by validation level unless the environment sets its own', () => {
    expect(environmentCanary(DEFAULT_ENVIRONMENTS, 'production')).toEqual({ max_error_rate: 0.01, max_latency_ms: 500, min_requests: 50 });
    expect(canaryThresholdsFor(DEFAULT_ENVIRONMENTS, 'development', { max_error_rate: 0.2, min_requests: undefined })).toEqual({
      max_error_rate: 0.2,
      max_latency_ms: 2000,
      min_requests: 10,
    });
    const envs = parseEnvironmentsFile(
      `environments:
  qa:
    description: QA
    resource_requirements: { memory_mb: 512, cpu_cores: 1, storage_gb: 1 }
    validation_level: standard
    monitoring_level: standard
    canary: { min_requests: 3 }
`,
      'e.yaml',
    );
    expect(environmentCanary(envs, 'qa')).toEqual({ max_error_rate: 0.05, max_latency_ms: 1000, min_requests: 3 });
  });

  it.each([
    [{ max_error_rate: 1.5 }, 'deployment_options.max_error_rate'],
    [{ max_latency_ms: 0 }, 'deployment_options.max_latency_ms'],
    [{ min_requests: 2.5 }, 'deployment_options.min_requests'],
  ])('refuses %j naming the field', (options, field) => {
    const res = DeploymentRequestSchema.safeParse({ agent_id: 'a', deployment_options: options });
    expect(res.success).toBe(false);
    expect(res.error?.issues[0].path.join('.')).toBe(field);
  });

  it('refuses a bad canary block in an environments file, naming its line', () => {
    expect(() =>
      parseEnvironmentsFile(
        `environments:
  qa:
    description: QA
    resource_requirements: { memory_mb: 512, cpu_cores: 1, storage_gb: 1 }
    validation_level: standard
    monitoring_level: standard
    canary:
      max_error_rate: 2
`,
        'e.yaml',
      ),
    ).toThrow(/e\.yaml:8: environments\.qa\.canary\.max_error_rate/);
  });
});

describe("the local router's counters", () => {
  it('answers per revision and window: requests, 5xx, p95 and mean; nothing outside the window', async () => {
    const stats = new RequestStats();
    const t0 = Date.parse('2026-01-01T00:00:00.000Z');
    stats.record('shop', 'shop-old', 200, 5, t0 - 1000);
    for (let i = 0; i < 19; i++) stats.record('shop', 'shop-new', 200, 10, t0 + i * 10);
    stats.record('shop', 'shop-new', 503, 100, t0 + 500);
    stats.record('other', 'shop-new', 500, 1, t0 + 500);
    stats.record('shop', 'shop-new', 500, 1, t0 + 2000);
    const metrics = new LocalCanaryMetrics(stats);
    const [cand, stable] = await metrics.revisionTraffic('shop', ['shop-new', 'shop-old'], {
      from: new Date(t0),
      to: new Date(t0 + 1000),
    });
    expect(cand).toMatchObject({ revision: 'shop-new', requests: 20, server_errors: 1, error_rate: 0.05, latency_mean_ms: 14.5 });
    // 19 of 20 requests took 10 ms: the 95th percentile is in the bucket holding 10 ms.
    expect(cand.latency_p95_ms).toBeGreaterThanOrEqual(9);
    expect(cand.latency_p95_ms).toBeLessThanOrEqual(12.5);
    expect(stable).toMatchObject({ revision: 'shop-old', requests: 0, error_rate: null, latency_p95_ms: null });
  });
});
