import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getText, type JobView, TestStack } from '../support/stack.js';

/**
 * Canary analysis on the local target with a real service (test/fixtures/services/canary-5xx),
 * the test driving requests to the service URL while the canary runs: a healthy canary completes
 * with an analysis per step; a version that answers 500 to real requests (but passes its health
 * check and the test stage) is rolled back at the first check that sees it, mid-window; a window
 * without traffic is inconclusive and the health probe decides. Windows are seconds, checks 250 ms.
 */
describe('canary analysis end to end on the local target', () => {
  let t: TestStack;
  let url: string;

  beforeAll(async () => {
    t = await TestStack.start({ BATON_CANARY_CHECK_MS: '250' });
    const v1 = await t.waitFinal(await t.deploy('cart', 'canary-5xx', { env: { APP_VERSION: 'v1' } }));
    expect(v1.status).toBe('completed');
    url = v1.service_url ?? '';
  });
  afterAll(async () => {
    await t.close();
  });

  /** Sends requests to the service URL, one after another, until the deployment ends; the versions that answered and their statuses. */
  async function withTraffic(id: string): Promise<{ job: JobView; answers: { version: string; status: number }[] }> {
    const answers: { version: string; status: number }[] = [];
    let over = false;
    const driving = (async () => {
      while (!over) {
        const res = await getText(url);
        answers.push({ version: JSON.parse(res.body).version, status: res.status });
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const job = await t.waitFinal(id, 90_000).finally(() => {
      over = true;
    });
    await driving;
    return { job, answers };
  }

  it('a healthy canary completes, each step analysed from the router’s counts and recorded', async () => {
    const id = await t.deploy('cart', 'canary-5xx', {
      env: { APP_VERSION: 'v2' },
      deployment_options: { strategy: { type: 'canary', steps: [30, 60, 100], window_seconds: 2 }, min_requests: 5 },
    });
    const { job, answers } = await withTraffic(id);
    expect(job.status).toBe('completed');
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(job.canary_analyses.map((a) => [a.step, a.percent, a.verdict, a.decided_by, a.final])).toEqual([
      [1, 30, 'pass', 'metrics', true],
      [2, 60, 'pass', 'metrics', true],
    ]);
    for (const a of job.canary_analyses) {
      expect(a).toMatchObject({ source: 'local router', thresholds: { min_requests: 5, max_error_rate: 0.1, max_latency_ms: 2000 } });
      expect(a.candidate).toMatchObject({ revision: job.revision, server_errors: 0 });
      expect(a.stable).toMatchObject({ revision: job.previous_revision, server_errors: 0 });
      expect(a.candidate?.requests).toBeGreaterThanOrEqual(5);
      expect(a.stable?.requests).toBeGreaterThan(0);
      expect(a.candidate?.latency_p95_ms).toEqual(expect.any(Number));
      // Several checks in a 2 s window checked every 250 ms.
      expect(a.checks).toBeGreaterThan(1);
    }
    expect(await t.logs(id)).toContain('Canary step 2 (60%), check');
  });

  it('a version answering 500 to real requests is rolled back mid-window at the first check that sees it', async () => {
    const previous = await t.request('GET', '/services/cart');
    const id = await t.deploy('cart', 'canary-5xx', {
      env: { APP_VERSION: 'v3', FAIL_REQUESTS: '1' },
      deployment_options: {
        strategy: { type: 'canary', steps: [50, 100], window_seconds: 60 },
        min_requests: 5,
        max_error_rate: 0.05,
      },
    });
    const { job } = await withTraffic(id);
    expect(job).toMatchObject({ status: 'rolled_back', failed_stage: 'promoting' });
    expect(job.error_message).toMatch(
      /Canary analysis at 50% rolled back .* mid-window: Breach: candidate .* 5xx rate 100% \(\d+\/\d+\) over max_error_rate 5%/,
    );
    expect(job.failure).toMatchObject({ stage: 'promoting', reason_code: 'canary_breach' });
    const [a] = job.canary_analyses;
    expect(a).toMatchObject({ step: 1, percent: 50, verdict: 'breach', decided_by: 'metrics', final: true, source: 'local router' });
    expect(a.candidate?.server_errors).toBe(a.candidate?.requests);
    expect(a.stable).toMatchObject({ revision: job.previous_revision, server_errors: 0 });
    // Well inside the 60 s window: no function waited it out.
    const into = Date.parse(a.checked_at ?? '') - Date.parse(a.window_started_at);
    expect(into).toBeLessThan(20_000);
    // The stable version serves everything again.
    const versions = new Set<string>();
    for (let i = 0; i < 20; i++) versions.add(JSON.parse((await getText(url)).body).version);
    expect([...versions]).toEqual(['v2']);
    const svc = await t.request('GET', '/services/cart');
    expect(svc.json.serving_revision).toBe(previous.json.serving_revision);
  });

  it('a window with too few requests is inconclusive: the health probe decides, and the job says so', async () => {
    const id = await t.deploy('cart', 'canary-5xx', {
      env: { APP_VERSION: 'v4' },
      deployment_options: { strategy: { type: 'canary', steps: [50, 100], window_seconds: 1 } },
    });
    const job = await t.waitFinal(id);
    expect(job.status).toBe('completed');
    expect(job.canary_analyses[0]).toMatchObject({ verdict: 'inconclusive', decided_by: 'health_probe', health: { healthy: true } });
    expect(job.canary_analyses[0].message).toMatch(
      /^Inconclusive: 0 candidate requests, fewer than min_requests 10; .*the health probe decided: http:\/\/127\.0\.0\.1:\d+\/health healthy$/,
    );
  });
});
