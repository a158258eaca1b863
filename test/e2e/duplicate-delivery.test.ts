import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getText, TestStack } from '../support/stack.js';

/** Every Pub/Sub message delivered twice: the same outcomes, one revision per deployment, no doubled log lines. */
describe('the whole flow with every message delivered twice', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await TestStack.start({ BATON_DUPLICATE_DELIVERY: 'true' });
  });
  afterAll(async () => {
    await t.close();
  });

  const messages = (log: string) =>
    log
      .trim()
      .split('\n')
      .map((l) => l.replace(/^\S+ /, ''));

  function expectNoDoubledLines(log: string) {
    const lines = messages(log).filter((l) => !l.includes('build: ') && !l.includes('[revision]'));
    const seen = new Map<string, number>();
    for (const l of lines) seen.set(l, (seen.get(l) ?? 0) + 1);
    const doubled = [...seen].filter(([, n]) => n > 1);
    expect(doubled).toEqual([]);
  }

  it('deploys v1, v2 and a broken v3 with the same outcomes as single delivery', async () => {
    const v1 = await t.waitFinal(await t.deploy('twice', 'healthy', { env: { APP_VERSION: 'v1' } }));
    const v2 = await t.waitFinal(await t.deploy('twice', 'healthy', { env: { APP_VERSION: 'v2' } }));
    const v3 = await t.waitFinal(await t.deploy('twice', 'unhealthy'));
    expect([v1.status, v2.status, v3.status]).toEqual(['completed', 'completed', 'rolled_back']);
    expect(JSON.parse((await getText(v2.service_url ?? '')).body).version).toBe('v2');
    expect(t.stack.bus.counters.delivered).toBeGreaterThan(t.stack.bus.counters.published);

    for (const job of [v1, v2, v3]) {
      const log = await t.logs(job.deployment_id);
      expectNoDoubledLines(log);
      // One build and one revision per deployment, whatever the duplicates.
      expect(messages(log).filter((l) => l.includes('submitted; log:'))).toHaveLength(1);
      expect(messages(log).filter((l) => l.includes('created with no traffic'))).toHaveLength(1);
    }
    const svc = await t.stack.runtime.getService('twice');
    expect(svc?.traffic).toEqual([{ revision: v2.revision, percent: 100 }]);
    expect(await t.stack.runtime.getRevision('twice', v3.revision ?? '')).toBeNull();
  });

  it('rolls back by hand once, whatever the duplicates', async () => {
    const list = await t.request('GET', '/deployments?agent_id=twice&status=completed');
    const serving = (list.json.deployments as { deployment_id: string }[])[0];
    const res = await t.request('POST', '/rollback', { deployment_id: serving.deployment_id, rollback_reason: 'twice test' });
    expect(res.status).toBe(202);
    const rb = await t.waitFinal(String(res.json.rollback_id));
    expect(rb.status).toBe('rolled_back');
    expect(JSON.parse((await getText(rb.service_url ?? '')).body).version).toBe('v1');
    expectNoDoubledLines(await t.logs(rb.deployment_id));
  });
});
