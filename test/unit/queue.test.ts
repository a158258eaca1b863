import { describe, expect, it } from 'vitest';
import { decideAdmission, slotDelta } from '../../shared/domain/admission.js';
import { newJob } from '../../shared/domain/job.js';
import { DeploymentRequestSchema } from '../../shared/domain/request.js';
import { acceptDeployment, getDeployment, requestCancel } from '../../shared/pipeline/requests.js';
import { failDeployment } from '../../shared/pipeline/stage-runner.js';
import { QUEUED_DEADLINE_MS, RESEND_REQUESTED_MS, sweepStuckDeployments } from '../../shared/pipeline/watchdog.js';
import { harness } from '../support/fakes.js';

const req = (agent: string, extra: Record<string, unknown> = {}) => DeploymentRequestSchema.parse({ agent_id: agent, ...extra });
const policy = { max_active_per_agent: 1, max_active_per_owner: 3, max_queued_per_owner: 2 };

describe('admission (pure)', () => {
  it('starts, waits for the agent, waits for the owner, refuses a full queue or a rollback', () => {
    const s = { agent_active: 0, owner_active: 0, owner_waiting: 0, rolling_back: false };
    expect(decideAdmission(s, policy)).toBe('start');
    expect(decideAdmission({ ...s, agent_active: 1 }, policy)).toBe('agent_busy');
    expect(decideAdmission({ ...s, owner_active: 3 }, policy)).toBe('owner_limit');
    expect(decideAdmission({ ...s, owner_active: 3, owner_waiting: 2 }, policy)).toBe('full');
    expect(decideAdmission({ ...s, rolling_back: true }, policy)).toBe('rolling_back');
  });

  it('counts slots: an admitted unfinished deployment holds one, a waiting one waits, a final one neither', () => {
    const j = newJob('a', req('svc'), 't');
    const waiting = { ...j, queue: { reason: 'agent_busy' as const, since: 't' } };
    expect(slotDelta(null, waiting)).toEqual({ active: 0, waiting: 1 });
    expect(slotDelta(waiting, j)).toEqual({ active: 1, waiting: -1 });
    expect(slotDelta(j, { ...j, status: 'completed' })).toEqual({ active: -1, waiting: 0 });
    expect(slotDelta(waiting, { ...waiting, status: 'cancelled' })).toEqual({ active: 0, waiting: -1 });
  });
});

describe('the queue', () => {
  it('accepts a deployment of a busy agent (202, queued behind it) and starts it by itself when the agent frees', async () => {
    const h = harness();
    const first = await acceptDeployment(h.deps, req('svc'));
    const second = await acceptDeployment(h.deps, req('svc'));
    expect(second).toMatchObject({ status: 'queued', queue_reason: 'agent_busy', queue_position: 1 });
    expect(h.bus.types()).toEqual(['deployment.requested.v1']);
    const view = await getDeployment(h.deps, second.deployment_id);
    expect(view).toMatchObject({ status: 'queued', queue: { reason: 'agent_busy' }, queue_position: 1 });
    expect(view.current_step).toMatch(/Waiting for the running deployment/);

    await failDeployment(h.deps, first.deployment_id, 'validating', 'broken');
    expect(h.bus.types()).toEqual(['deployment.requested.v1', 'deployment.requested.v1']);
    const started = await h.jobs.get(second.deployment_id);
    expect(started?.queue).toBeNull();
    expect(await getDeployment(h.deps, second.deployment_id)).toMatchObject({ queue_position: null });
  });

  it('newest wins: a newer deployment cancels the agent’s older waiting ones, unless it asks not to', async () => {
    const h = harness();
    await acceptDeployment(h.deps, req('svc'));
    const older = await acceptDeployment(h.deps, req('svc'));
    const newer = await acceptDeployment(h.deps, req('svc'));
    expect(newer.superseded).toEqual([older.deployment_id]);
    const cancelled = await h.jobs.get(older.deployment_id);
    expect(cancelled).toMatchObject({ status: 'cancelled', superseded_by: newer.deployment_id });
    expect(await h.deps.logs.read('svc', older.deployment_id)).toContain(`Superseded by ${newer.deployment_id}`);

    const kept = await acceptDeployment(h.deps, req('svc', { deployment_options: { supersede_queued: false } }));
    expect(kept.superseded).toEqual([]);
    expect((await h.jobs.get(newer.deployment_id))?.status).toBe('queued');
    expect(kept.queue_position).toBe(2);
  });

  it('holds the per-owner limit across agents, gives positions, refuses a full queue with 429 and Retry-After', async () => {
    const h = harness();
    h.deps.settings = { ...h.deps.settings, max_active_per_owner: 2, max_queued_per_owner: 2, queue_retry_after_s: 17 };
    const running = [await acceptDeployment(h.deps, req('a')), await acceptDeployment(h.deps, req('b'))];
    const w1 = await acceptDeployment(h.deps, req('c'));
    const w2 = await acceptDeployment(h.deps, req('d'));
    expect([w1.queue_reason, w1.queue_position, w2.queue_position]).toEqual(['owner_limit', 1, 2]);
    await expect(acceptDeployment(h.deps, req('e'))).rejects.toMatchObject({ code: 'too_many', retry_after_s: 17 });
    expect((await h.jobs.list({ agent_id: 'e', limit: 5 })).items).toEqual([]);
    expect(h.bus.types()).toHaveLength(2);

    // One running ends: the oldest waiting starts, and the other moves up.
    await failDeployment(h.deps, running[0].deployment_id, 'validating', 'broken');
    expect((await h.jobs.get(w1.deployment_id))?.queue).toBeNull();
    expect((await getDeployment(h.deps, w2.deployment_id)).queue_position).toBe(1);
    // A waiting one cancelled frees its place in the queue.
    await requestCancel(h.deps, w2.deployment_id);
    expect(await acceptDeployment(h.deps, req('e'))).toMatchObject({ queue_position: 1 });
  });

  it('the watchdog leaves waiting deployments alone, admits what may start, and sends an admitted one’s event again', async () => {
    const h = harness();
    await h.jobs.create({ ...newJob('w', req('svc'), h.clock.now().toISOString()), queue: { reason: 'owner_limit', since: 'x' } });
    await h.jobs.create({ ...newJob('blocker', req('other'), h.clock.now().toISOString()), status: 'building' });
    h.deps.settings = { ...h.deps.settings, max_active_per_owner: 1 };
    h.clock.advance(QUEUED_DEADLINE_MS + 1000);
    await h.jobs.update('blocker', (j) => ({ ...j, updated_at: h.clock.now().toISOString(), claim: null }));
    expect(await sweepStuckDeployments(h.deps)).toEqual([]);
    expect((await h.jobs.get('w'))?.status).toBe('queued');
    expect(h.bus.types()).toEqual([]);
    // The slot freed without a release (a crash): the sweep admits it.
    await h.jobs.update('blocker', (j) => ({ ...j, status: 'completed' }));
    await sweepStuckDeployments(h.deps);
    expect((await h.jobs.get('w'))?.queue).toBeNull();
    expect(h.bus.types()).toEqual(['deployment.requested.v1']);
    // Admitted, but its event lost: sent again after RESEND_REQUESTED_MS.
    h.clock.advance(RESEND_REQUESTED_MS + 1000);
    await sweepStuckDeployments(h.deps);
    expect(h.bus.types()).toEqual(['deployment.requested.v1', 'deployment.requested.v1']);
  });
});
