import type { Firestore } from '@google-cloud/firestore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIRESTORE_INDEXES, FirestoreJobStore } from '../../shared/adapters/gcp/job-store.js';
import { DeploymentRequestSchema } from '../../shared/domain/request.js';
import { describeWithEmulators, type Emulator, firestoreClient, startEmulator, uniqueProjectId } from '../support/emulators.js';
import { jobStoreContract, makeJob, makeService } from './suites/job-store.suite.js';
import { waitFor } from './suites/util.js';

/**
 * FirestoreJobStore against Google's Firestore emulator (one emulator per file, one project per
 * test, so every test starts from an empty database).
 *
 * What this run proves: the adapter's mapping of every JobStore operation onto Firestore
 * (documents, create preconditions, transactions whose callback re-runs on contention, cursors
 * with startAfter, `in` and count queries, snapshot listeners), and that compare-and-set holds
 * across separate connections (the 10-client case below: the emulator really aborts and the
 * client really retries).
 *
 * What it does NOT prove:
 * - indexes: the emulator serves every query without one; a missing composite index fails only on
 *   a real project (FAILED_PRECONDITION). FIRESTORE_INDEXES is checked below against the query
 *   shapes `list` can make; the Terraform test checks the declared indexes against it;
 * - contention as production sees it: the emulator resolves a write-write conflict by a lock
 *   timeout (about 2 s), Firestore by wound-wait, so the timings here say nothing about production;
 * - limits and billing: one write per second per document, 1 MiB documents, read/write costs
 *   (the counters count what Firestore would bill, by the adapter's own rules);
 * - IAM, security rules for clients (the Admin SDK bypasses them; test/contract/firestore-rules.gcp.test.ts
 *   loads them for client SDK users), listeners over real networks (reconnects, resumes).
 * Within one adapter instance, transactions on one document are queued, so the contract's
 * "20 concurrent claims" cases do not contend with themselves here: the multi-client cases do.
 */

let emulator: Emulator;
const clients: Firestore[] = [];

function client(projectId: string): Firestore {
  const c = firestoreClient(emulator, projectId);
  clients.push(c);
  return c;
}

describeWithEmulators('FirestoreJobStore on the Firestore emulator', () => {
  beforeAll(async () => {
    emulator = await startEmulator('firestore');
  });
  afterAll(async () => {
    await Promise.all(clients.splice(0).map((c) => c.terminate()));
    await emulator?.stop();
  });

  jobStoreContract('FirestoreJobStore on the Firestore emulator', async () => {
    const firestore = firestoreClient(emulator, uniqueProjectId());
    return { store: new FirestoreJobStore(firestore), cleanup: () => firestore.terminate() };
  });

  // Concurrent: these cases spend their time waiting on the emulator's lock timeout, not on the CPU.
  describe.concurrent('FirestoreJobStore: across connections', () => {
    it('of 10 separate clients doing compare-and-set queued → validating, exactly one wins', async () => {
      const projectId = uniqueProjectId();
      const stores = Array.from({ length: 10 }, () => new FirestoreJobStore(client(projectId)));
      const job = makeJob('agent-x', 1);
      expect(await stores[0].create(job)).toBe(true);
      // Connect every client first, so the transactions below overlap instead of queueing behind connection set-up.
      await Promise.all(stores.map((s) => s.get(job.deployment_id)));
      const results = await Promise.all(
        stores.map((s, i) =>
          s.update(job.deployment_id, (j) => (j.status === 'queued' ? { ...j, status: 'validating', current_step: `client ${i}` } : null)),
        ),
      );
      expect(results.every((r) => r !== null)).toBe(true);
      const winners = results.filter((r) => r?.changed);
      expect(winners).toHaveLength(1);
      const read = await stores[0].get(job.deployment_id);
      expect(read?.status).toBe('validating');
      expect(read?.current_step).toBe(winners[0]?.job.current_step);
      const attempts = stores.reduce((n, s) => n + s.counters.transactions, 0);
      // More attempts than clients: the emulator aborted the losers and the client library re-ran their mutations.
      expect(attempts).toBeGreaterThan(10);
      // The create and the one winning update, each with its history entry.
      expect(stores.reduce((n, s) => n + s.counters.writes, 0)).toBe(4);
    });

    it('holds the per-owner limit across 4 clients (instances) enqueuing 8 deployments of one owner at once', async () => {
      const projectId = uniqueProjectId();
      const stores = Array.from({ length: 4 }, () => new FirestoreJobStore(client(projectId)));
      await Promise.all(stores.map((s) => s.get('warm-up')));
      const policy = { max_active_per_agent: 1, max_active_per_owner: 3, max_queued_per_owner: 10 };
      const jobs = Array.from({ length: 8 }, (_, i) => makeJob(`agent-i${i}`, i + 1, { owner: 'ops@example.com' }));
      const results = await Promise.all(jobs.map((j, i) => stores[i % 4].enqueue(j, policy, true)));
      expect(results.filter((r) => r.outcome === 'started')).toHaveLength(3);
      const slots = (await client(projectId).collection('owner_slots').doc('ops%40example.com').get()).data();
      expect(slots).toMatchObject({ active: 3, waiting: 5 });
      // Two instances release at once after two end: exactly two more start.
      const started = results.filter((r) => r.outcome === 'started').map((r) => r.job.deployment_id);
      for (const id of started.slice(0, 2)) await stores[0].update(id, (j) => ({ ...j, status: 'completed' }));
      const scope = { owner: 'ops@example.com', agent_id: 'agent-i0' };
      const admitted = await Promise.all(stores.map((s) => s.admitWaiting(scope, policy, 'now')));
      expect(admitted.flat()).toHaveLength(2);
      expect((await client(projectId).collection('owner_slots').doc('ops%40example.com').get()).data()).toMatchObject({
        active: 3,
        waiting: 3,
      });
    });

    it('loses no increment when 5 clients each add 2 at once', async () => {
      const projectId = uniqueProjectId();
      const stores = Array.from({ length: 5 }, () => new FirestoreJobStore(client(projectId)));
      const job = makeJob('agent-x', 1);
      await stores[0].create(job);
      await Promise.all(stores.map((s) => s.get(job.deployment_id)));
      await Promise.all(
        stores.flatMap((s) => [1, 2].map(() => s.update(job.deployment_id, (j) => ({ ...j, health_failures: j.health_failures + 1 })))),
      );
      expect((await stores[0].get(job.deployment_id))?.health_failures).toBe(10);
      // Contention made Firestore run some mutations again.
      expect(stores.reduce((n, s) => n + s.counters.transactions, 0)).toBeGreaterThan(10);
    });
  });

  describe('FirestoreJobStore: documents and counters', () => {
    it('stores the request as JSON, so user input Firestore refuses as fields still round-trips', async () => {
      const firestore = client(uniqueProjectId());
      const store = new FirestoreJobStore(firestore);
      const request = DeploymentRequestSchema.parse({
        agent_id: 'agent-j',
        config: { matrix: [[1, 2], [3]], '': 'empty key', 'a.b': { c: null } },
        env: { __DUNDER__: 'x', PLAIN: 'y' },
      });
      const job = makeJob('agent-j', 1, { request });
      expect(await store.create(job)).toBe(true);
      expect(await store.get(job.deployment_id)).toEqual(job);
      const raw = (await firestore.collection('deployment_jobs').doc(job.deployment_id).get()).data();
      expect(raw).toMatchObject({ agent_id: 'agent-j', status: 'queued', kind: 'deployment', created_at: job.created_at });
      expect(typeof raw?.request_json).toBe('string');
      expect(raw?.request).toBeUndefined();
    });

    it('a cursor that is not one of ours ends the list instead of failing the query', async () => {
      const store = new FirestoreJobStore(client(uniqueProjectId()));
      await store.create(makeJob('agent-c', 1));
      const slashId = Buffer.from(JSON.stringify(['2030-01-01T00:00:00.000Z', 'a/b'])).toString('base64url');
      for (const cursor of ['not-a-cursor', slashId]) {
        expect(await store.list({ limit: 5, cursor })).toEqual({ items: [], next_cursor: null });
      }
      expect((await store.list({ limit: 5, cursor: '' })).items).toHaveLength(1);
    });

    it('counts reads, writes, transactions and listeners as Firestore bills them', async () => {
      const store = new FirestoreJobStore(client(uniqueProjectId()));
      const job = makeJob('agent-k', 1);
      await store.create(job); // 2 writes (the job and its history entry)
      await store.get(job.deployment_id); // 1 read
      await store.update(job.deployment_id, (j) => ({ ...j, status: 'validating' })); // 1 transaction, 1 read, 2 writes (job, history)
      await store.update(job.deployment_id, () => null); // 1 transaction, 1 read
      await store.list({ limit: 10 }); // 1 read (one document)
      await store.countActive('agent-k'); // 1 read (a count of up to 1,000 entries)
      const seen: string[] = [];
      const unsubscribe = store.watch(job.deployment_id, (j) => seen.push(j.status)); // 1 listener, 1 read per snapshot
      await waitFor('the current document', () => seen.length >= 1);
      await store.update(job.deployment_id, (j) => ({ ...j, status: 'preparing' })); // 1 transaction, 1 read, 2 writes (job, history)
      await waitFor('the change', () => seen.length >= 2);
      unsubscribe();
      await store.updateService('agent-k', () => makeService('agent-k', 'rev-1')); // 1 transaction, 1 read, 1 write
      await store.putPrivate(job.deployment_id, { env: { K: 'v' }, source_url: null }); // 1 write
      await store.getPrivate(job.deployment_id); // 1 read
      expect(seen).toEqual(['validating', 'preparing']);
      expect(store.counters).toEqual({ reads: 10, writes: 8, transactions: 4, listeners: 1 });
    });
  });
}, ['firestore']);

describe('FIRESTORE_INDEXES', () => {
  const suffix = [
    { field: 'created_at', order: 'DESCENDING' },
    { field: '__name__', order: 'DESCENDING' },
  ];
  it.each(['agent_id', 'status', 'kind'])('serves list filtered by %s (and, by index merging, any combination)', (field) => {
    const match = FIRESTORE_INDEXES.filter(
      (ix) =>
        ix.collection === 'deployment_jobs' &&
        JSON.stringify(ix.fields) === JSON.stringify([{ field, order: 'ASCENDING' }, ...suffix]) &&
        ix.queryScope === 'COLLECTION',
    );
    expect(match).toHaveLength(1);
  });

  it('serves countActive', () => {
    expect(FIRESTORE_INDEXES.some((ix) => ix.fields.map((f) => f.field).join() === 'agent_id,kind,status')).toBe(true);
  });
});
