import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, getText, TestStack } from '../support/stack.js';

/**
 * The per-owner limit on the local target (every caller without an identity is one owner): one
 * running, one waiting, the next refused with 429 and Retry-After; the waiting one starts by
 * itself when the running one ends.
 *
 * Two local control planes sharing one data folder are not possible (stack.lock refuses the
 * second, and the local store's transactions are serialisable only within one process), so the
 * limit across instances is proven on the Firestore emulator (test/contract/job-store.gcp.test.ts).
 */
describe('the per-owner concurrency limit end to end', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await TestStack.start({ BATON_MAX_ACTIVE_PER_OWNER: '1', BATON_MAX_QUEUED_PER_OWNER: '1', BATON_QUEUE_RETRY_AFTER_S: '7' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('queues over the limit with its position, refuses a full queue with 429 + Retry-After, and starts the waiting one by itself', async () => {
    const first = await t.deploy('lim-a', 'healthy', { env: { APP_VERSION: 'a' } });
    const second = await t.request('POST', '/deploy', {
      agent_id: 'lim-b',
      source: { type: 'directory', path: fixture('healthy') },
      env: { APP_VERSION: 'b' },
    });
    expect(second.status).toBe(202);
    expect(second.json).toMatchObject({ status: 'queued', queue_position: 1, queue_reason: 'owner_limit' });
    const secondId = String(second.json.deployment_id);

    const refused = await fetch(`${t.url}/deploy`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ agent_id: 'lim-c', source: { type: 'directory', path: fixture('healthy') } }),
    });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('7');
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/queue of anonymous is full/);
    expect((await t.request('GET', '/deployments?agent_id=lim-c')).json.deployments).toEqual([]);

    expect((await t.job(secondId)).queue_position).toBe(1);
    expect((await t.waitFinal(first)).status).toBe('completed');
    const done = await t.waitFinal(secondId);
    expect(done.status, done.error_message ?? '').toBe('completed');
    expect(JSON.parse((await getText(done.service_url ?? '')).body).version).toBe('b');
    // It started only once the first had ended.
    const firstJob = await t.job(first);
    expect(Date.parse(done.stage_timings.validating?.started_at ?? '')).toBeGreaterThanOrEqual(Date.parse(firstJob.completed_at ?? ''));
  });

  it('GET /metrics counts both in seed 004’s shape, per stage, filtered by agent and environment', async () => {
    const all = (await t.request('GET', '/metrics')).json.metrics as Record<string, unknown> & { stages: Record<string, { p95: number }> };
    expect(all).toMatchObject({
      total_deployments: 2,
      successful_deployments: 2,
      failed_deployments: 0,
      success_rate: 1,
      active_deployments: 0,
    });
    for (const k of [
      'average_deployment_time',
      'average_validation_time',
      'average_test_time',
      'p95_deployment_time',
      'deployment_frequency',
    ])
      expect(all[k], k).toEqual(expect.any(Number));
    expect(all.stages.building.p95).toBeGreaterThan(0);
    const one = (await t.request('GET', '/metrics?agent_id=lim-b')).json.metrics as { total_deployments: number };
    expect(one.total_deployments).toBe(1);
    const prod = (await t.request('GET', '/metrics?environment=production')).json.metrics as { total_deployments: number };
    expect(prod.total_deployments).toBe(0);
    expect((await t.request('GET', '/metrics?from=nonsense')).status).toBe(400);
  });

  it('GET /metrics has the window over time: both in this hour (hours for a short window, days for the default 30)', async () => {
    const today = new Date().toISOString().slice(0, 10);
    type Series = { resolution: string; points: { start: string; total: number; successful: number; stages?: object }[] };
    const hourly = (await t.request('GET', `/metrics?from=${today}`)).json.series as Series;
    expect(hourly.resolution).toBe('hour');
    expect(hourly.points.reduce((n, p) => n + p.total, 0)).toBe(2);
    expect(hourly.points.every((p) => p.start.endsWith(':00:00.000Z') && p.successful === p.total)).toBe(true);
    const daily = (await t.request('GET', '/metrics')).json.series as Series;
    expect(daily).toMatchObject({ resolution: 'day', points: [{ start: `${today}T00:00:00.000Z`, total: 2 }] });
    expect(daily.points[0].stages).toHaveProperty('building');
    const tooLong = await t.request('GET', '/metrics?from=2025-01-01&to=2025-06-01&resolution=hour');
    expect([tooLong.status, tooLong.json.error?.field]).toEqual([400, 'resolution']);
    const bogus = await t.request('GET', '/metrics?resolution=minute');
    expect(bogus.status).toBe(400);
    expect(bogus.json.error?.message).toContain('resolution');
  });
});
