import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getText, TestStack } from '../support/stack.js';

describe('many deployments at once', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await TestStack.start();
  });
  afterAll(async () => {
    await t.close();
  });

  it('deploys ten different services concurrently, each to its own URL', async () => {
    const agents = Array.from({ length: 10 }, (_, i) => `fleet-${i}`);
    const ids = await Promise.all(agents.map((a) => t.deploy(a, 'healthy', { env: { APP_VERSION: a } })));
    const jobs = await Promise.all(ids.map((id) => t.waitFinal(id, 120_000)));
    for (const [i, job] of jobs.entries()) {
      expect(job.status, job.error_message ?? '').toBe('completed');
      expect(JSON.parse((await getText(job.service_url ?? '')).body).version).toBe(agents[i]);
    }
    expect(new Set(jobs.map((j) => j.service_url)).size).toBe(10);
  });

  it('queues a second and third deployment of a busy agent: the newest cancels the older waiting one and starts by itself', async () => {
    const first = await t.deploy('busy', 'healthy', { env: { APP_VERSION: 'one' } });
    const second = await t.deploy('busy', 'healthy', { env: { APP_VERSION: 'two' } });
    const waiting = await t.job(second);
    expect(waiting).toMatchObject({ status: 'queued', queue: { reason: 'agent_busy' }, queue_position: 1 });
    const third = await t.deploy('busy', 'healthy', { env: { APP_VERSION: 'three' } });
    const superseded = await t.job(second);
    expect(superseded).toMatchObject({ status: 'cancelled', superseded_by: third });
    expect(await t.logs(second)).toContain(`Superseded by ${third}`);
    expect((await t.waitFinal(first)).status).toBe('completed');
    const last = await t.waitFinal(third);
    expect(last.status, last.error_message ?? '').toBe('completed');
    expect(JSON.parse((await getText(last.service_url ?? '')).body).version).toBe('three');
    expect(await t.logs(third)).toContain('Admitted from the queue');
  });
});
