import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getText, TestStack } from '../support/stack.js';

/**
 * Manual rollbacks on the local target: to a named revision, of a rollback, with seed 004's
 * rollback_options (honoured or refused), and the pin they leave (a deployment refused until it
 * says unpin, or POST /services/{agent}/unpin).
 */
describe('pinned rollbacks end to end', () => {
  let t: TestStack;
  const revisions: Record<string, string> = {};
  const ids: Record<string, string> = {};
  const version = async () => JSON.parse((await getText((await t.request('GET', '/services/pin-a')).json.url as string)).body).version;

  beforeAll(async () => {
    t = await TestStack.start();
    for (const v of ['v1', 'v2', 'v3']) {
      ids[v] = await t.deploy('pin-a', 'healthy', { env: { APP_VERSION: v }, ...(v === 'v1' ? {} : {}) });
      const job = await t.waitFinal(ids[v]);
      expect(job.status, job.error_message ?? '').toBe('completed');
      revisions[v] = job.revision ?? '';
    }
  });
  afterAll(async () => {
    await t.close();
  });

  it('refuses rollback_options it cannot honour and a revision that cannot serve, changing nothing', async () => {
    const data = await t.request('POST', '/rollback', { deployment_id: ids.v3, rollback_options: { preserve_data: false } });
    expect([data.status, data.json.error?.field]).toEqual([400, 'rollback_options.preserve_data']);
    const backup = await t.request('POST', '/rollback', { deployment_id: ids.v3, rollback_options: { backup_before_rollback: true } });
    expect([backup.status, backup.json.error?.message]).toEqual([400, expect.stringContaining('no backups')]);
    const unknown = await t.request('POST', '/rollback', { deployment_id: ids.v3, rollback_options: { nuke: true } });
    expect(unknown.status).toBe(400);
    const bogus = await t.request('POST', '/rollback', { deployment_id: ids.v3, target_revision: 'pin-a-nope' });
    expect([bogus.status, bogus.json.error?.field]).toEqual([409, 'target_revision']);
    expect(await version()).toBe('v3');
  });

  it('rolls back to a named revision, with seed 004’s fields, and pins the agent', async () => {
    const res = await t.request('POST', '/rollback', {
      deployment_id: ids.v3,
      target_revision: revisions.v1,
      rollback_reason: 'v2 and v3 bad',
    });
    expect(res.status).toBe(202);
    expect(res.json).toMatchObject({ progress_percentage: 0, target_revision: revisions.v1, estimated_completion: null });
    const rb = await t.waitFinal(String(res.json.rollback_id));
    expect(rb.status, rb.error_message ?? '').toBe('rolled_back');
    ids.rb1 = rb.deployment_id;
    expect(await version()).toBe('v1');
    const svc = (await t.request('GET', '/services/pin-a')).json;
    expect(svc).toMatchObject({ pinned: true, pin: { rollback_id: rb.deployment_id, revision: revisions.v1, reason: 'v2 and v3 bad' } });
    const list = (await t.request('GET', '/services')).json.services as { agent_id: string; pinned: boolean }[];
    expect(list.find((s) => s.agent_id === 'pin-a')?.pinned).toBe(true);
  });

  it('refuses a deployment of the pinned agent with 409 naming the pin', async () => {
    const res = await t.request('POST', '/deploy', { agent_id: 'pin-a' });
    expect([res.status, res.json.error?.field]).toEqual([409, 'unpin']);
    expect(res.json.error?.message).toContain(ids.rb1);
    expect(res.json.error?.message).toContain('unpin');
  });

  it('rolls back the rollback: traffic returns to what it undid, pinned to the new rollback, with an ETA now', async () => {
    const res = await t.request('POST', '/rollback', { deployment_id: ids.rb1, rollback_reason: 'v3 was fine after all' });
    expect(res.status).toBe(202);
    expect(res.json.estimated_completion).toEqual(expect.any(String));
    const rb = await t.waitFinal(String(res.json.rollback_id));
    expect(rb.status, rb.error_message ?? '').toBe('rolled_back');
    expect(await version()).toBe('v3');
    expect((await t.request('GET', '/services/pin-a')).json).toMatchObject({ pinned: true, pin: { rollback_id: rb.deployment_id } });
  });

  it('POST /services/{agent}/unpin clears the pin; a rollback with cleanup_resources removes the revision it left; unpin: true deploys', async () => {
    const un = await t.request('POST', '/services/pin-a/unpin');
    expect(un.json).toMatchObject({ pinned: false, unpinned: { revision: revisions.v3 } });
    expect((await t.request('GET', '/services/pin-a')).json.pinned).toBe(false);

    const res = await t.request('POST', '/rollback', { deployment_id: ids.v3, rollback_options: { cleanup_resources: true } });
    expect(res.status).toBe(202);
    expect((await t.waitFinal(String(res.json.rollback_id))).status).toBe('rolled_back');
    expect(await version()).toBe('v2');
    expect(await t.stack.runtime.getRevision('pin-a', revisions.v3)).toBeNull();

    const next = await t.deploy('pin-a', 'healthy', { env: { APP_VERSION: 'v4' }, unpin: true });
    expect((await t.waitFinal(next)).status).toBe('completed');
    expect(await version()).toBe('v4');
    expect((await t.request('GET', '/services/pin-a')).json.pinned).toBe(false);
    expect(await t.logs(next)).toContain('Unpinned pin-a');
  });

  it('GET /services/{agent}/history: every state change and operator action, newest first', async () => {
    const res = await t.request('GET', '/services/pin-a/history?limit=500');
    const history = res.json.history as { event: string; action: string | null; to: string | null; by: string | null; at: string }[];
    const actions = history.filter((e) => e.event === 'action').map((e) => e.action);
    // The last deploy and the unpin it did may share a millisecond: their order is not asserted.
    expect(actions.slice(0, 2).sort()).toEqual(['deploy', 'unpin']);
    expect(actions.slice(2)).toEqual(['rollback', 'unpin', 'rollback', 'rollback', 'deploy', 'deploy', 'deploy']);
    expect(history.filter((e) => e.event === 'status' && e.to === 'rolled_back').length).toBeGreaterThanOrEqual(3);
    expect(history.filter((e) => e.event === 'status' && e.to === 'completed').length).toBe(4);
    const times = history.map((e) => e.at);
    expect([...times].sort().reverse()).toEqual(times);
    expect((await t.request('GET', '/services/Bad!/history')).status).toBe(400);
  });
});
