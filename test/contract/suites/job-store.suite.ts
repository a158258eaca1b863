import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { transition } from '../../../shared/domain/claim.js';
import { type Job, newJob, type ServiceRecord } from '../../../shared/domain/job.js';
import { DeploymentRequestSchema } from '../../../shared/domain/request.js';
import type { Status } from '../../../shared/domain/status.js';
import type { JobStore } from '../../../shared/ports/index.js';
import { sleep, waitFor } from './util.js';

/**
 * The JobStore contract (Firestore `deployment_jobs/{id}` and `services/{agent}`).
 *
 * What the local adapter does NOT prove about the real service: the local store's transactions are
 * serialisable because each mutation runs synchronously in one process, so the concurrency cases
 * below never contend. Firestore transactions are optimistic, retried across processes and may
 * run a mutation more than once; composite list queries need indexes; snapshot listeners may
 * coalesce changes made in quick succession (the watch case awaits each change before the next).
 * The Firestore-emulator run of this suite is what proves those.
 */

export interface JobStoreHandle {
  store: JobStore;
  cleanup(): Promise<void>;
}

const BASE_TIME = Date.parse('2030-01-01T00:00:00.000Z');

/** A job with a unique id, created `second` seconds after a fixed base time. */
export function makeJob(agentId: string, second: number, overrides: Partial<Job> = {}): Job {
  const id = `job-${agentId}-${second}-${Math.random().toString(36).slice(2, 8)}`;
  const request = DeploymentRequestSchema.parse({ agent_id: agentId });
  return { ...newJob(id, request, new Date(BASE_TIME + second * 1000).toISOString(), overrides.kind), ...overrides };
}

export function makeService(agentId: string, revision: string): ServiceRecord {
  return {
    agent_id: agentId,
    service_name: agentId.replace(/_/g, '-'),
    url: null,
    serving_revision: revision,
    last_good_revision: null,
    good_revisions: [],
    typical_stage_ms: {},
    deployment_id: null,
    status: 'creating',
    updated_at: new Date(BASE_TIME).toISOString(),
  };
}

export function jobStoreContract(name: string, makeStore: () => Promise<JobStoreHandle>): void {
  describe(`JobStore contract: ${name}`, () => {
    let handle: JobStoreHandle;
    let store: JobStore;

    beforeEach(async () => {
      handle = await makeStore();
      store = handle.store;
    });
    afterEach(async () => {
      await handle.cleanup();
    });

    describe('createUnlessBusy', () => {
      it('lets exactly one of several concurrent creates for one agent through when one may run', async () => {
        const jobs = Array.from({ length: 6 }, (_, i) => makeJob('agent-busy', i + 1));
        const results = await Promise.all(jobs.map((j) => store.createUnlessBusy(j, 1)));
        expect(results.filter((r) => r === 'created')).toHaveLength(1);
        expect(results.filter((r) => r === 'busy')).toHaveLength(5);
        expect(await store.countActive('agent-busy')).toBe(1);
      });

      it('frees the slot when the running deployment ends, and never overwrites an id', async () => {
        const first = makeJob('agent-slot', 1);
        expect(await store.createUnlessBusy(first, 1)).toBe('created');
        expect(await store.createUnlessBusy(first, 1)).toBe('exists');
        expect(await store.createUnlessBusy(makeJob('agent-slot', 2), 1)).toBe('busy');
        await store.update(first.deployment_id, (j) => ({ ...j, status: 'completed' }));
        expect(await store.createUnlessBusy(makeJob('agent-slot', 3), 1)).toBe('created');
        expect(await store.createUnlessBusy(makeJob('other-agent', 4), 1)).toBe('created');
      });

      it('refuses while a rollback of the agent is unfinished, atomically with concurrent rollback jobs', async () => {
        const rollbacks = Array.from({ length: 4 }, (_, i) => makeJob('agent-rb', i + 1, { kind: 'rollback' }));
        const results = await Promise.all(rollbacks.map((j) => store.createUnlessBusy(j, 1)));
        expect(results.filter((r) => r === 'created')).toHaveLength(1);
        expect(results.filter((r) => r === 'rolling_back')).toHaveLength(3);
        const winner = rollbacks[results.indexOf('created')];
        expect(await store.createUnlessBusy(makeJob('agent-rb', 9), 5)).toBe('rolling_back');
        await store.update(winner.deployment_id, (j) => ({ ...j, status: 'rolled_back' }));
        const deployment = makeJob('agent-rb', 10);
        expect(await store.createUnlessBusy(deployment, 5)).toBe('created');
        // A deployment rolling back counts too, though it no longer counts as running.
        await store.update(deployment.deployment_id, (j) => ({ ...j, status: 'rolling_back' }));
        expect(await store.createUnlessBusy(makeJob('agent-rb', 11), 5)).toBe('rolling_back');
      });
    });

    describe('enqueue and admitWaiting (the queue)', () => {
      const policy = { max_active_per_agent: 1, max_active_per_owner: 3, max_queued_per_owner: 4 };
      const owned = (agent: string, second: number, owner = 'ops@example.com') => makeJob(agent, second, { owner });

      it('of concurrent deployments of one agent exactly one starts; the rest wait behind it', async () => {
        const jobs = Array.from({ length: 5 }, (_, i) => owned('agent-q', i + 1));
        const results = await Promise.all(jobs.map((j) => store.enqueue(j, { ...policy, max_queued_per_owner: 10 }, false)));
        expect(results.filter((r) => r.outcome === 'started')).toHaveLength(1);
        expect(results.filter((r) => r.outcome === 'queued').map((r) => r.job.queue?.reason)).toEqual(Array(4).fill('agent_busy'));
        expect(await store.countActive('agent-q')).toBe(1);
        const positions = await Promise.all(results.filter((r) => r.outcome === 'queued').map((r) => store.queuePosition(r.job)));
        expect(positions.sort()).toEqual([1, 2, 3, 4]);
      });

      it('holds the per-owner limit under concurrent deployments of different agents, and refuses a full queue', async () => {
        const jobs = Array.from({ length: 8 }, (_, i) => owned(`agent-o${i}`, i + 1));
        const results = await Promise.all(jobs.map((j) => store.enqueue(j, policy, true)));
        const count = (o: string) => results.filter((r) => r.outcome === o).length;
        expect([count('started'), count('queued'), count('full')]).toEqual([3, 4, 1]);
        // Another owner has slots of its own.
        expect((await store.enqueue(owned('agent-other', 20, 'dev@example.com'), policy, true)).outcome).toBe('started');
      });

      it('admits the oldest waiting when a slot frees, never more than the limit, also when two admit at once', async () => {
        const results: Awaited<ReturnType<JobStore['enqueue']>>[] = [];
        for (let i = 0; i < 6; i++) results.push(await store.enqueue(owned(`agent-a${i}`, i + 1), policy, true));
        expect(results.map((r) => r.outcome)).toEqual(['started', 'started', 'started', 'queued', 'queued', 'queued']);
        await store.update(results[0].job.deployment_id, (j) => ({ ...j, status: 'completed' }));
        const now = new Date(BASE_TIME + 60_000).toISOString();
        const scope = { owner: 'ops@example.com', agent_id: 'agent-a0' };
        const [x, y] = await Promise.all([store.admitWaiting(scope, policy, now), store.admitWaiting(scope, policy, now)]);
        expect([...x, ...y].map((j) => j.deployment_id)).toEqual([results[3].job.deployment_id]);
        expect((await store.get(results[3].job.deployment_id))?.queue).toBeNull();
        expect(await store.queuePosition((await store.get(results[5].job.deployment_id)) as Job)).toBe(2);
        expect(await store.admitWaiting(scope, policy, now)).toEqual([]);
        expect((await store.waitingScopes(10)).map((s) => s.agent_id).sort()).toEqual(['agent-a4', 'agent-a5']);
      });

      it('newest wins: a newer deployment cancels the agent’s older waiting ones in the same transaction', async () => {
        const running = await store.enqueue(owned('agent-n', 1), policy, true);
        const older = await store.enqueue(owned('agent-n', 2), policy, true);
        const newer = await store.enqueue(owned('agent-n', 3), policy, true);
        expect([running.outcome, older.outcome, newer.outcome]).toEqual(['started', 'queued', 'queued']);
        expect(newer.superseded).toEqual([older.job.deployment_id]);
        expect(await store.get(older.job.deployment_id)).toMatchObject({ status: 'cancelled', superseded_by: newer.job.deployment_id });
        expect(await store.queuePosition(newer.job)).toBe(1);
        // The agent frees: the newer one starts, the cancelled one does not.
        await store.update(running.job.deployment_id, (j) => ({ ...j, status: 'failed' }));
        const admitted = await store.admitWaiting({ owner: 'ops@example.com', agent_id: 'agent-n' }, policy, 'now');
        expect(admitted.map((j) => j.deployment_id)).toEqual([newer.job.deployment_id]);
      });

      it('refuses while a rollback of the agent is unfinished, and waits for it', async () => {
        await store.create(makeJob('agent-rq', 1, { kind: 'rollback' }));
        expect((await store.enqueue(owned('agent-rq', 2), policy, true)).outcome).toBe('rolling_back');
      });
    });

    describe('history (audit trail)', () => {
      it('records every state change in the commit that makes it, and actions, newest first', async () => {
        const job = makeJob('agent-h', 1);
        await store.create(job);
        await store.update(job.deployment_id, (j) => ({ ...j, progress: 3 }));
        await store.update(job.deployment_id, (j) => ({ ...j, status: 'validating', updated_at: '2030-01-01T00:00:02.000Z' }));
        await store.update(job.deployment_id, (j) => ({ ...j, status: 'failed', updated_at: '2030-01-01T00:00:03.000Z' }));
        await store.appendHistory({
          id: `2030-01-01T00:00:04.000Z_${job.deployment_id}_x`,
          at: '2030-01-01T00:00:04.000Z',
          agent_id: 'agent-h',
          deployment_id: job.deployment_id,
          event: 'action',
          from: null,
          to: null,
          action: 'cancel',
          by: 'ops@example.com',
          detail: null,
        });
        const h = await store.history('agent-h', 10);
        expect(h.map((e) => [e.event, e.from, e.to, e.action])).toEqual([
          ['action', null, null, 'cancel'],
          ['status', 'validating', 'failed', null],
          ['status', 'queued', 'validating', null],
          ['created', null, 'queued', null],
        ]);
        expect(h[0].by).toBe('ops@example.com');
        expect(await store.history('agent-h', 2)).toHaveLength(2);
        expect(await store.history('agent-none', 5)).toEqual([]);
      });
    });

    describe('metrics aggregates', () => {
      it('folds a deployment into its scopes when it ends, exactly once, and counts what is open', async () => {
        const job = makeJob('agent-m', 1, { environment: 'staging' });
        await store.create(job);
        await store.update(job.deployment_id, (j) => ({ ...j, status: 'validating' }));
        expect(await store.countOpen({ agent_id: 'agent-m' })).toBe(1);
        const end = '2030-01-01T00:02:00.000Z';
        await store.update(job.deployment_id, (j) => ({ ...j, status: 'completed', completed_at: end, updated_at: end }));
        // A later change of the finished job (its log tail) is no second end.
        await store.update(job.deployment_id, (j) => ({ ...j, logs: ['again'] }));
        for (const scope of ['all', 'agent:agent-m', 'env:staging', 'agent:agent-m|env:staging']) {
          const [agg] = await store.metrics(scope, ['2030-01-01', '2030-01-02']);
          expect(agg, scope).toMatchObject({ successful: 1, failed: 0, day: '2030-01-01' });
          expect(agg?.deployment_ms.count).toBe(1);
          // The hour it ended in, kept in the same document for the series over time.
          expect(agg?.hours, scope).toEqual({ '00': expect.objectContaining({ successful: 1, failed: 0 }) });
          expect(agg?.hours['00']?.deployment_ms.count).toBe(1);
        }
        expect(await store.metrics('agent:other', ['2030-01-01'])).toEqual([]);
        expect(await store.countOpen({ agent_id: 'agent-m' })).toBe(0);
      });
    });

    describe('create and get', () => {
      it('creates a job and reads it back as written', async () => {
        const job = makeJob('agent-a', 1, { current_step: 'written' });
        expect(await store.create(job)).toBe(true);
        expect(await store.get(job.deployment_id)).toEqual(job);
      });

      it('refuses a duplicate id and overwrites nothing', async () => {
        const job = makeJob('agent-a', 1, { current_step: 'first' });
        expect(await store.create(job)).toBe(true);
        expect(await store.create({ ...job, current_step: 'second', progress: 50 })).toBe(false);
        const read = await store.get(job.deployment_id);
        expect(read?.current_step).toBe('first');
        expect(read?.progress).toBe(0);
      });

      it('returns null for a missing job', async () => {
        expect(await store.get('no-such-job')).toBeNull();
      });

      it('hands out copies: changing a returned job changes nothing stored', async () => {
        const job = makeJob('agent-a', 1);
        await store.create(job);
        const read = (await store.get(job.deployment_id)) as Job;
        read.status = 'failed';
        read.logs.push('mutated');
        expect(await store.get(job.deployment_id)).toEqual(job);
      });
    });

    describe('update (compare-and-set)', () => {
      it('commits the mutation and reports changed', async () => {
        const job = makeJob('agent-a', 1);
        await store.create(job);
        const res = await store.update(job.deployment_id, (j) => ({ ...j, status: 'validating', progress: 10 }));
        expect(res?.changed).toBe(true);
        expect(res?.job.status).toBe('validating');
        const read = await store.get(job.deployment_id);
        expect(read?.status).toBe('validating');
        expect(read?.progress).toBe(10);
      });

      it('the mutation sees the committed document', async () => {
        const job = makeJob('agent-a', 1);
        await store.create(job);
        await store.update(job.deployment_id, (j) => ({ ...j, logs: ['one'] }));
        let seen: string[] = [];
        await store.update(job.deployment_id, (j) => {
          seen = [...j.logs];
          return { ...j, logs: [...j.logs, 'two'] };
        });
        expect(seen).toEqual(['one']);
        expect((await store.get(job.deployment_id))?.logs).toEqual(['one', 'two']);
      });

      it('a mutation returning null changes nothing', async () => {
        const job = makeJob('agent-a', 1);
        await store.create(job);
        const res = await store.update(job.deployment_id, () => null);
        expect(res?.changed).toBe(false);
        expect(res?.job).toEqual(job);
        expect(await store.get(job.deployment_id)).toEqual(job);
      });

      it('returns null for a missing job and creates nothing', async () => {
        let called = false;
        const res = await store.update('no-such-job', (j) => {
          called = true;
          return j;
        });
        expect(res).toBeNull();
        expect(called).toBe(false);
        expect(await store.get('no-such-job')).toBeNull();
      });

      it('of 20 concurrent claims that need status queued, exactly one wins', async () => {
        const job = makeJob('agent-a', 1);
        await store.create(job);
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            store.update(job.deployment_id, (j) =>
              j.status === 'queued' ? { ...j, status: 'validating', current_step: `claimed by ${i}` } : null,
            ),
          ),
        );
        const winners = results.filter((r) => r?.changed);
        expect(winners).toHaveLength(1);
        expect(results.every((r) => r !== null)).toBe(true);
        const read = await store.get(job.deployment_id);
        expect(read?.status).toBe('validating');
        expect(read?.current_step).toBe(winners[0]?.job.current_step);
      });

      it('loses no update under 50 concurrent increments', async () => {
        const job = makeJob('agent-a', 1);
        await store.create(job);
        await Promise.all(
          Array.from({ length: 50 }, () =>
            store.update(job.deployment_id, (j) => ({
              ...j,
              health_failures: j.health_failures + 1,
              progress: Math.min(100, j.progress + 1),
            })),
          ),
        );
        const read = await store.get(job.deployment_id);
        expect(read?.health_failures).toBe(50);
        expect(read?.progress).toBe(50);
      });
    });

    describe('list', () => {
      /** 9 jobs, newest last: agents a/b, statuses and kinds mixed. */
      async function seed(): Promise<Job[]> {
        const specs: [string, Status, Job['kind']][] = [
          ['agent-a', 'completed', 'deployment'],
          ['agent-b', 'queued', 'deployment'],
          ['agent-a', 'failed', 'deployment'],
          ['agent-a', 'queued', 'rollback'],
          ['agent-b', 'building', 'deployment'],
          ['agent-a', 'queued', 'deployment'],
          ['agent-b', 'completed', 'rollback'],
          ['agent-a', 'building', 'deployment'],
          ['agent-a', 'queued', 'deployment'],
        ];
        const jobs = specs.map(([agent, status, kind], i) => makeJob(agent, i + 1, { status, kind }));
        for (const j of jobs) expect(await store.create(j)).toBe(true);
        return jobs;
      }
      const newestFirst = (jobs: Job[]) => jobs.map((j) => j.deployment_id).reverse();
      const ids = (jobs: Job[]) => jobs.map((j) => j.deployment_id);

      async function walk(query: {
        agent_id?: string;
        status?: Status;
        kind?: Job['kind'];
        limit: number;
      }): Promise<{ ids: string[]; pages: number }> {
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await store.list({ ...query, ...(cursor ? { cursor } : {}) });
          pages++;
          expect(page.items.length).toBeLessThanOrEqual(query.limit);
          seen.push(...ids(page.items));
          cursor = page.next_cursor ?? undefined;
          if (pages > 50) throw new Error('the cursor walk does not end');
        } while (cursor);
        return { ids: seen, pages };
      }

      it('lists newest first', async () => {
        const jobs = await seed();
        const page = await store.list({ limit: 100 });
        expect(ids(page.items)).toEqual(newestFirst(jobs));
        expect(page.next_cursor).toBeNull();
      });

      it('filters by agent_id, status and kind, alone and together', async () => {
        const jobs = await seed();
        const expectIds = (pred: (j: Job) => boolean) => newestFirst(jobs.filter(pred));
        expect(ids((await store.list({ agent_id: 'agent-b', limit: 100 })).items)).toEqual(expectIds((j) => j.agent_id === 'agent-b'));
        expect(ids((await store.list({ status: 'queued', limit: 100 })).items)).toEqual(expectIds((j) => j.status === 'queued'));
        expect(ids((await store.list({ kind: 'rollback', limit: 100 })).items)).toEqual(expectIds((j) => j.kind === 'rollback'));
        expect(ids((await store.list({ agent_id: 'agent-a', status: 'queued', kind: 'deployment', limit: 100 })).items)).toEqual(
          expectIds((j) => j.agent_id === 'agent-a' && j.status === 'queued' && j.kind === 'deployment'),
        );
        expect((await store.list({ agent_id: 'agent-zzz', limit: 100 })).items).toEqual([]);
      });

      it('a cursor walk returns every job exactly once, newest first', async () => {
        const jobs = await seed();
        const { ids: seen, pages } = await walk({ limit: 2 });
        expect(seen).toEqual(newestFirst(jobs));
        expect(pages).toBeGreaterThanOrEqual(5);
      });

      it('a cursor walk with a filter returns every match exactly once', async () => {
        const jobs = await seed();
        const { ids: seen } = await walk({ agent_id: 'agent-a', limit: 2 });
        expect(seen).toEqual(newestFirst(jobs.filter((j) => j.agent_id === 'agent-a')));
        const { ids: queued } = await walk({ status: 'queued', limit: 3 });
        expect(queued).toEqual(newestFirst(jobs.filter((j) => j.status === 'queued')));
      });

      it('the first page is the newest `limit` jobs and says there is more', async () => {
        const jobs = await seed();
        const page = await store.list({ limit: 3 });
        expect(ids(page.items)).toEqual(newestFirst(jobs).slice(0, 3));
        expect(page.next_cursor).toEqual(expect.any(String));
      });

      it('a job updated after creation keeps its place', async () => {
        const jobs = await seed();
        await store.update(jobs[0].deployment_id, (j) => ({ ...j, current_step: 'touched', updated_at: new Date().toISOString() }));
        expect(ids((await store.list({ limit: 100 })).items)).toEqual(newestFirst(jobs));
      });
    });

    describe('watch', () => {
      it('gets the current document, then each committed change in order; unsubscribe stops it', async () => {
        const job = makeJob('agent-a', 1);
        await store.create(job);
        const seen: Job[] = [];
        const unsubscribe = store.watch(job.deployment_id, (j) => seen.push(j));
        await waitFor('the current document', () => seen.length >= 1);
        expect(seen[0]).toEqual(job);

        const steps = ['validating', 'preparing', 'building'] as const;
        for (const [i, status] of steps.entries()) {
          await store.update(job.deployment_id, (j) => ({ ...j, status, progress: (i + 1) * 10 }));
          await waitFor(`change ${status}`, () => seen.some((s) => s.status === status));
        }
        // A mutation that changes nothing is no change.
        await store.update(job.deployment_id, () => null);
        await sleep(100);
        expect(seen.map((s) => s.status)).toEqual(['queued', ...steps]);
        expect(seen.map((s) => s.progress)).toEqual([0, 10, 20, 30]);

        unsubscribe();
        await store.update(job.deployment_id, (j) => ({ ...j, status: 'deploying' }));
        await sleep(150);
        expect(seen).toHaveLength(4);
      });

      it('watchers of one job do not hear another', async () => {
        const a = makeJob('agent-a', 1);
        const b = makeJob('agent-a', 2);
        await store.create(a);
        await store.create(b);
        const seen: string[] = [];
        const unsubscribe = store.watch(a.deployment_id, (j) => seen.push(`${j.deployment_id}:${j.status}`));
        await waitFor('the current document', () => seen.length >= 1);
        await store.update(b.deployment_id, (j) => ({ ...j, status: 'validating' }));
        await store.update(a.deployment_id, (j) => ({ ...j, status: 'failed' }));
        await waitFor('the change of a', () => seen.length >= 2);
        await sleep(100);
        unsubscribe();
        expect(seen).toEqual([`${a.deployment_id}:queued`, `${a.deployment_id}:failed`]);
      });
    });

    describe('services', () => {
      it('getService is null for an unknown agent', async () => {
        expect(await store.getService('agent-unknown')).toBeNull();
      });

      it('updateService creates from null, then sees the committed record', async () => {
        let sawOnCreate: ServiceRecord | null | undefined;
        const created = await store.updateService('agent-s', (current) => {
          sawOnCreate = current;
          return makeService('agent-s', 'rev-1');
        });
        expect(sawOnCreate).toBeNull();
        expect(created?.serving_revision).toBe('rev-1');
        expect(await store.getService('agent-s')).toEqual(created);

        let sawOnUpdate: ServiceRecord | null | undefined;
        const updated = await store.updateService('agent-s', (current) => {
          sawOnUpdate = current;
          return current
            ? { ...current, serving_revision: 'rev-2', last_good_revision: current.serving_revision, status: 'running' }
            : null;
        });
        expect(sawOnUpdate?.serving_revision).toBe('rev-1');
        expect(updated).toMatchObject({ serving_revision: 'rev-2', last_good_revision: 'rev-1', status: 'running' });
        expect(await store.getService('agent-s')).toEqual(updated);
      });

      it('a mutation returning null leaves the record (or its absence) as it is', async () => {
        expect(await store.updateService('agent-none', () => null)).toBeNull();
        expect(await store.getService('agent-none')).toBeNull();
        await store.updateService('agent-s', () => makeService('agent-s', 'rev-1'));
        expect((await store.updateService('agent-s', () => null))?.serving_revision).toBe('rev-1');
        expect((await store.getService('agent-s'))?.serving_revision).toBe('rev-1');
      });

      it('loses no update under 20 concurrent appends to the history', async () => {
        await store.updateService('agent-s', () => makeService('agent-s', 'rev-0'));
        await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            store.updateService('agent-s', (s) =>
              s ? { ...s, good_revisions: [...s.good_revisions, { revision: `rev-${i}`, deployment_id: `d-${i}` }] } : null,
            ),
          ),
        );
        const read = await store.getService('agent-s');
        expect(read?.good_revisions).toHaveLength(20);
        expect(new Set(read?.good_revisions.map((g) => g.revision)).size).toBe(20);
      });

      it('keeps one record per agent', async () => {
        await store.updateService('agent-1', () => makeService('agent-1', 'r1'));
        await store.updateService('agent-2', () => makeService('agent-2', 'r2'));
        expect((await store.getService('agent-1'))?.serving_revision).toBe('r1');
        expect((await store.getService('agent-2'))?.serving_revision).toBe('r2');
      });
    });

    describe('countActive', () => {
      it('counts running deployments of one agent only', async () => {
        const jobs = [
          makeJob('agent-c', 1, { status: 'queued' }),
          makeJob('agent-c', 2, { status: 'building' }),
          makeJob('agent-c', 3, { status: 'verifying' }),
          makeJob('agent-c', 4, { status: 'completed' }),
          makeJob('agent-c', 5, { status: 'failed' }),
          makeJob('agent-c', 6, { status: 'cancelled' }),
          makeJob('agent-c', 7, { status: 'rolling_back' }),
          makeJob('agent-c', 8, { status: 'queued', kind: 'rollback' }),
          makeJob('agent-d', 9, { status: 'building' }),
        ];
        for (const j of jobs) await store.create(j);
        expect(await store.countActive('agent-c')).toBe(3);
        expect(await store.countActive('agent-d')).toBe(1);
        expect(await store.countActive('agent-none')).toBe(0);
        await store.update(jobs[1].deployment_id, (j) => ({ ...j, status: 'failed' }));
        expect(await store.countActive('agent-c')).toBe(2);
      });
    });

    describe('private data', () => {
      it('keeps it apart from the job: null until put, then exactly what was put, overwritten by a second put', async () => {
        const job = makeJob('agent-p', 1);
        await store.create(job);
        expect(await store.getPrivate(job.deployment_id)).toBeNull();
        const secret = { env: { API_KEY: 'sk-123', __X__: 'y' }, source_url: 'https://u:p@git.example/r.git' };
        await store.putPrivate(job.deployment_id, secret);
        expect(await store.getPrivate(job.deployment_id)).toEqual(secret);
        expect(JSON.stringify(await store.get(job.deployment_id))).not.toContain('sk-123');
        await store.putPrivate(job.deployment_id, { env: {}, source_url: null });
        expect(await store.getPrivate(job.deployment_id)).toEqual({ env: {}, source_url: null });
      });

      it('is deleted by the commit that ends the job (transition drops private_ref), and kept by every commit before it', async () => {
        const job = makeJob('agent-q', 1, { status: 'building', private_ref: null });
        const id = job.deployment_id;
        await store.create({ ...job, private_ref: id });
        const secret = { env: { API_KEY: 'sk-456' }, source_url: null };
        await store.putPrivate(id, secret);
        await store.update(id, (j) => ({ ...j, current_step: 'still building' }));
        expect(await store.getPrivate(id)).toEqual(secret);
        const ended = await store.update(id, (j) => transition(j, 'failed', { error_message: 'boom' }));
        expect(ended?.job.private_ref).toBeNull();
        expect(await store.getPrivate(id)).toBeNull();
        // Another job's private data is untouched.
        const other = makeJob('agent-q2', 2);
        await store.create({ ...other, private_ref: other.deployment_id });
        await store.putPrivate(other.deployment_id, secret);
        await store.update(other.deployment_id, (j) => transition(j, 'validating'));
        expect(await store.getPrivate(other.deployment_id)).toEqual(secret);
      });
    });
  });
}
