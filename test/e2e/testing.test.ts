import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getText, TestStack } from '../support/stack.js';

/**
 * The test stage on the local target with a real service (test/fixtures/services/gated): one that
 * passes every test, one slow enough to fail performance, one exposing its .env. Short durations.
 */
describe('the test stage end to end on the local target', () => {
  let t: TestStack;
  let good: string;

  beforeAll(async () => {
    t = await TestStack.start();
  });
  afterAll(async () => {
    await t.close();
  });

  it('a service passing functional, performance, load and security tests is promoted, with every result on the job', async () => {
    good = await t.deploy('gated', 'gated', {
      environment: 'staging',
      test_options: {
        smoke_requests: [
          { path: '/health', json_path: 'status', json_equals: 'ok' },
          { path: '/api/x', body_contains: '/api/x' },
        ],
        performance_requests: 5,
        load_test: true,
        security_test: true,
        concurrent_users: 2,
        test_duration: 1,
      },
    });
    const job = await t.waitFinal(good);
    expect(job.status).toBe('completed');
    const results = job.test_results;
    expect(results.map((r) => [r.test_type, r.passed])).toEqual([
      ['functional_test', true],
      ['performance_test', true],
      ['security_test', true],
      ['load_test', true],
    ]);
    expect(results[3].metrics).toMatchObject({ concurrent_users: 2, success_rate: 1, slices: 1 });
    expect(results[3].metrics.total_requests as number).toBeGreaterThan(0);
    expect(job.stage_timings.testing?.duration_ms).toEqual(expect.any(Number));
    expect(await t.logs(good)).toContain('[testing] Load test completed.');
  });

  it('a service slow enough to fail performance fails in testing and its revision is removed', async () => {
    const id = await t.deploy('gated-slow', 'gated', {
      env: { SLOW_MS: '120' },
      test_options: { performance_test: true, performance_requests: 3, response_time_threshold: 0.05 },
    });
    const job = await t.waitFinal(id);
    expect(job).toMatchObject({ status: 'failed', failed_stage: 'testing' });
    expect(job.error_message).toMatch(/Performance test failed: p95 0\.1\d+s over the 0\.05s threshold/);
    const svc = await t.request('GET', '/services/gated-slow');
    expect(JSON.stringify(svc.json)).not.toContain(String(job.revision));
  });

  it('a service exposing .env fails security; with auto_rollback the candidate goes and the serving version never changed', async () => {
    const id = await t.deploy('gated', 'gated', {
      env: { EXPOSE_ENV: '1', APP_VERSION: 'v2' },
      test_options: { security_test: true },
    });
    const job = await t.waitFinal(id);
    expect(job).toMatchObject({ status: 'rolled_back', failed_stage: 'testing' });
    expect(job.error_message).toContain('/.env is served (HTTP 200)');
    const before = await t.job(good);
    expect(JSON.parse((await getText(before.service_url ?? '')).body).version).toBe('v1');
    const svc = await t.request('GET', '/services/gated');
    expect(svc.json).toMatchObject({ serving_revision: before.revision, traffic: [{ revision: before.revision, percent: 100 }] });
  });
});
