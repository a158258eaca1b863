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

  it('refuses a second deployment of an agent while one is running, naming the field', async () => {
    const first = await t.deploy('busy', 'healthy');
    const second = await t.request('POST', '/deploy', { agent_id: 'busy' });
    expect(second.status).toBe(409);
    expect(second.json.error?.field).toBe('agent_id');
    expect(second.json.error?.message).toContain('already has a deployment in progress');
    expect((await t.waitFinal(first)).status).toBe('completed');
  });
});
