import { randomUUID } from 'node:crypto';
import {
  type CollectionReference,
  type DocumentData,
  FieldPath,
  type Firestore,
  type Query,
  type Transaction,
} from '@google-cloud/firestore';
import {
  type AdmissionPolicy,
  byQueueOrder,
  decideAdmission,
  isWaiting,
  keepsAgentBusy,
  mayStart,
  ownerKey,
  queuePosition,
  slotDelta,
} from '../../domain/admission.js';
import { type HistoryEntry, HistoryEntrySchema, historyOf } from '../../domain/history.js';
import { type Job, type JobPrivate, JobPrivateSchema, JobSchema, type ServiceRecord, ServiceRecordSchema } from '../../domain/job.js';
import {
  type Aggregate,
  AggregateSchema,
  aggregateId,
  dayOf,
  emptyAggregate,
  endsDeployment,
  fold,
  scopesOf,
} from '../../domain/metrics.js';
import { admit, asWaiting, supersededBy } from '../../domain/queue.js';
import { FINAL_STATUSES, isUnfinishedRollback, STATUSES, type Status } from '../../domain/status.js';
import { logger } from '../../logger.js';
import type { EnqueueResult, JobPage, JobQuery, JobStore, Mutation, Unsubscribe } from '../../ports/index.js';

/**
 * The JobStore on Firestore (native mode): jobs in `deployment_jobs/{deployment_id}`, service
 * records in `services/{agent_id}`, a job's private data (env values, git credentials) in
 * `deployment_private/{deployment_id}`, which firestore.rules deny to every client, while the job
 * document is readable by its owner.
 *
 * - `create` uses the create() precondition: ALREADY_EXISTS means false, and nothing is overwritten.
 * - `update` and `updateService` are compare-and-set in `runTransaction`: one read, then at most
 *   one write. Firestore may run the callback again on contention (ABORTED), so the mutation gets a
 *   fresh copy of the committed document on every attempt and must be pure. Calls for the same
 *   document from this adapter instance are queued one behind the other: a function instance that
 *   handles several requests at once does not contend with itself (each contention round costs a
 *   lock wait and a back-off of a second or more); contention between instances is left to
 *   Firestore, which is what the transactions are for.
 * - The job's `request` (user input: free-form `config`, env names such as `__X__`, possibly
 *   nested arrays) is stored as the JSON string `request_json`, because Firestore refuses nested
 *   arrays and field names matching `__.*__`. Everything else is stored as it is, so the fields
 *   the queries use (agent_id, status, kind, created_at) are plain fields. See toDocument/fromDocument.
 * - `watch` opens a snapshot listener. Listeners belong in long-lived clients (the CLI, a
 *   dashboard), not in functions: the API's SSE stream (`GET /deployments/{id}/stream`) uses
 *   `watch` only on the local target, or on gcp as a short-lived listener that ends with the
 *   request (and the instance's request timeout); a function instance may be frozen between
 *   requests, so a listener there would miss changes and hold a connection open.
 *
 * `counters` is for cost measurement, incremented by the adapter as Firestore bills:
 * - reads: documents read (a get, each transaction attempt's read, each document a list returns
 *   (at least one per query, including the one extra document fetched to know if there is a next
 *   page), one per 1,000 index entries of a count, one per snapshot a listener receives);
 * - writes: documents written by committed operations (a create, a committed transaction's
 *   write, a private document); refused creates and mutations returning null write nothing;
 * - transactions: transaction attempts (a retry after contention counts again);
 * - listeners: snapshot listeners opened.
 *
 * Tested on Google's Firestore emulator (test/contract/job-store.gcp.test.ts), which does NOT
 * prove: that FIRESTORE_INDEXES is complete (the emulator needs no index), contention timings
 * (the emulator breaks write conflicts by a ~2 s lock timeout, Firestore by wound-wait), the
 * one-write-per-second-per-document and 1 MiB limits, IAM, or billing itself. firestore.rules are
 * tested on the emulator with the rules loaded (test/contract/firestore-rules.gcp.test.ts).
 */
export class FirestoreJobStore implements JobStore {
  readonly counters = { reads: 0, writes: 0, transactions: 0, listeners: 0 };
  private readonly jobs: CollectionReference;
  private readonly services: CollectionReference;
  private readonly secrets: CollectionReference;
  /** The tail of the queue of transactions per document path (see the class comment). */
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly maxAttempts: number;

  constructor(
    private readonly firestore: Firestore,
    options: {
      /** Attempts per transaction before ABORTED reaches the caller (Firestore's default is 5). */
      maxAttempts?: number;
    } = {},
  ) {
    this.jobs = firestore.collection(JOBS);
    this.services = firestore.collection(SERVICES);
    this.secrets = firestore.collection(PRIVATE);
    this.maxAttempts = options.maxAttempts ?? 10;
  }

  async create(job: Job): Promise<boolean> {
    const doc = toDocument(job);
    const entry = historyOf(null, job, randomUUID());
    try {
      // One batch: the job and its history entry are written together or not at all (ALREADY_EXISTS fails both).
      const batch = this.firestore.batch().create(this.jobs.doc(job.deployment_id), doc);
      if (entry) batch.set(this.historyRef(entry), entry);
      await batch.commit();
      if (entry) this.counters.writes++;
    } catch (err) {
      if (grpcCode(err) === ALREADY_EXISTS) return false;
      throw err;
    }
    this.counters.writes++;
    return true;
  }

  /**
   * The count and the create run in one transaction that also writes the agent's lock document,
   * so two concurrent requests conflict on it and the later one sees the earlier one's job.
   */
  async createUnlessBusy(job: Job, maxActive: number): Promise<'created' | 'exists' | 'busy' | 'rolling_back'> {
    const ref = this.jobs.doc(job.deployment_id);
    const lock = this.firestore.collection(AGENT_LOCKS).doc(job.agent_id);
    const ofAgent = this.jobs.where('agent_id', '==', job.agent_id);
    const active = ofAgent.where('kind', '==', 'deployment').where('status', 'in', ACTIVE);
    // Equality filters only, no order: served by merging single-field indexes, no composite one needed.
    const rollbackJobs = ofAgent.where('kind', '==', 'rollback').where('status', 'in', ['queued', 'rolling_back']);
    const rollingBack = ofAgent.where('status', '==', 'rolling_back');
    const result = await this.firestore.runTransaction(
      async (tx) => {
        this.counters.transactions++;
        // Every create of the agent writes its lock, so two concurrent ones conflict and one retries.
        const [existing, , running, rollbacks, undoing] = await Promise.all([
          tx.get(ref),
          tx.get(lock),
          tx.get(active),
          tx.get(rollbackJobs.limit(1)),
          tx.get(rollingBack.limit(1)),
        ]);
        this.counters.reads += 2 + running.size + rollbacks.size + undoing.size;
        if (existing.exists) return 'exists' as const;
        if (!rollbacks.empty || !undoing.empty) return 'rolling_back' as const;
        // Waiting deployments have not started: they keep nothing busy.
        if (running.docs.filter((d) => d.get('waiting') !== true).length >= maxActive) return 'busy' as const;
        tx.set(lock, { agent_id: job.agent_id, last_deployment_id: job.deployment_id });
        tx.create(ref, toDocument(job));
        this.writeHistory(tx, null, job);
        return 'created' as const;
      },
      { maxAttempts: this.maxAttempts },
    );
    if (result === 'created') this.counters.writes += 3;
    return result;
  }

  /** See JobStore.enqueue: the agent's open jobs, its lock and the owner's counters are read and written in one transaction. */
  async enqueue(job: Job, policy: AdmissionPolicy, supersede: boolean): Promise<EnqueueResult> {
    return retryClosed(() => this.enqueueOnce(job, policy, supersede));
  }

  private enqueueOnce(job: Job, policy: AdmissionPolicy, supersede: boolean): Promise<EnqueueResult> {
    const ref = this.jobs.doc(job.deployment_id);
    const lock = this.firestore.collection(AGENT_LOCKS).doc(job.agent_id);
    const slotRef = this.slotRef(job.owner);
    const key = ownerKey(job.owner);
    return this.firestore.runTransaction(
      async (tx): Promise<EnqueueResult> => {
        this.counters.transactions++;
        const [existing, , slotSnap, open] = await Promise.all([
          tx.get(ref),
          tx.get(lock),
          tx.get(slotRef),
          tx.get(this.openOf(job.agent_id)),
        ]);
        this.counters.reads += 3 + open.size;
        if (existing.exists) return { outcome: 'exists', job: fromDocument(existing.data() ?? {}), superseded: [] };
        const agentJobs = open.docs.flatMap((d) => safeFromDocument(d.data()) ?? []);
        const older = supersede ? agentJobs.filter(isWaiting) : [];
        // Reads before writes: the counters of the other owners whose waiting jobs this one supersedes.
        const otherKeys = [...new Set(older.map((o) => ownerKey(o.owner)))].filter((k) => k !== key);
        const otherSlots = await Promise.all(otherKeys.map((k) => tx.get(this.slotRefOfKey(k))));
        this.counters.reads += otherSlots.length;
        const slot = slotCounts(slotSnap);
        const olderOfOwner = older.filter((o) => ownerKey(o.owner) === key).length;
        const decision = decideAdmission(
          {
            agent_active: agentJobs.filter(keepsAgentBusy).length,
            rolling_back: agentJobs.some(isUnfinishedRollback),
            owner_active: slot.active,
            owner_waiting: slot.waiting - olderOfOwner,
          },
          policy,
        );
        if (decision === 'rolling_back' || decision === 'full') return { outcome: decision, job, superseded: [] };
        const doc = decision === 'start' ? job : asWaiting(job, decision);
        tx.create(ref, toDocument(doc));
        this.writeHistory(tx, null, doc);
        tx.set(lock, { agent_id: job.agent_id, last_deployment_id: job.deployment_id });
        for (const o of older) {
          const cancelled = supersededBy(o, job.deployment_id, job.created_at);
          tx.set(this.jobs.doc(o.deployment_id), toDocument(cancelled));
          this.writeHistory(tx, o, cancelled);
          if (o.private_ref) tx.delete(this.secrets.doc(o.private_ref));
        }
        tx.set(
          slotRef,
          slotDoc(job.owner, slot.active + (decision === 'start' ? 1 : 0), slot.waiting - olderOfOwner + (decision === 'start' ? 0 : 1)),
        );
        otherKeys.forEach((k, i) => {
          const n = older.filter((o) => ownerKey(o.owner) === k).length;
          const other = slotCounts(otherSlots[i]);
          tx.set(this.slotRefOfKey(k), slotDocOfKey(k, other.active, other.waiting - n));
        });
        return { outcome: decision === 'start' ? 'started' : 'queued', job: doc, superseded: older.map((o) => o.deployment_id) };
      },
      { maxAttempts: this.maxAttempts },
    );
  }

  /** See JobStore.admitWaiting: one transaction per candidate, under the same rule as enqueue. */
  async admitWaiting(scope: { owner: string | null; agent_id: string }, policy: AdmissionPolicy, now: string): Promise<Job[]> {
    const waiting = this.jobs.where('waiting', '==', true);
    const [ofOwner, ofAgent] = await Promise.all([
      waiting.where('owner_key', '==', ownerKey(scope.owner)).limit(WAITING_READ_LIMIT).get(),
      waiting.where('agent_id', '==', scope.agent_id).limit(WAITING_READ_LIMIT).get(),
    ]);
    this.counters.reads += Math.max(1, ofOwner.size) + Math.max(1, ofAgent.size);
    const byId = new Map<string, Job>();
    for (const d of [...ofOwner.docs, ...ofAgent.docs]) {
      const j = safeFromDocument(d.data());
      if (j) byId.set(j.deployment_id, j);
    }
    const admitted: Job[] = [];
    for (const c of [...byId.values()].sort(byQueueOrder)) {
      const ref = this.jobs.doc(c.deployment_id);
      const lock = this.firestore.collection(AGENT_LOCKS).doc(c.agent_id);
      const slotRef = this.slotRef(c.owner);
      const next = await retryClosed(() =>
        this.firestore.runTransaction(
          async (tx) => {
            this.counters.transactions++;
            const [snap, , slotSnap, open] = await Promise.all([
              tx.get(ref),
              tx.get(lock),
              tx.get(slotRef),
              tx.get(this.openOf(c.agent_id)),
            ]);
            this.counters.reads += 3 + open.size;
            const cur = safeFromDocument(snap.data() ?? {});
            if (!cur || !isWaiting(cur)) return null;
            const agentJobs = open.docs.flatMap((d) => safeFromDocument(d.data()) ?? []);
            const slot = slotCounts(slotSnap);
            const state = {
              agent_active: agentJobs.filter(keepsAgentBusy).length,
              rolling_back: agentJobs.some(isUnfinishedRollback),
              owner_active: slot.active,
              owner_waiting: slot.waiting,
            };
            if (!mayStart(state, policy)) return null;
            const doc = admit(cur, now);
            tx.set(ref, toDocument(doc));
            this.writeHistory(tx, cur, doc);
            tx.set(lock, { agent_id: c.agent_id, last_deployment_id: c.deployment_id });
            tx.set(slotRef, slotDoc(c.owner, slot.active + 1, slot.waiting - 1));
            return doc;
          },
          { maxAttempts: this.maxAttempts },
        ),
      );
      if (next) {
        this.counters.writes += 3;
        admitted.push(next);
      }
    }
    return admitted;
  }

  async waitingScopes(limit: number): Promise<{ owner: string | null; agent_id: string }[]> {
    const snap = await this.jobs.where('waiting', '==', true).limit(limit).get();
    this.counters.reads += Math.max(1, snap.size);
    return snap.docs.flatMap((d) => {
      const j = safeFromDocument(d.data());
      return j ? [{ owner: j.owner, agent_id: j.agent_id }] : [];
    });
  }

  async queuePosition(job: Job): Promise<number | null> {
    if (!isWaiting(job)) return null;
    const snap = await this.jobs.where('waiting', '==', true).where('owner_key', '==', ownerKey(job.owner)).limit(WAITING_READ_LIMIT).get();
    this.counters.reads += Math.max(1, snap.size);
    return queuePosition(
      job,
      snap.docs.flatMap((d) => safeFromDocument(d.data()) ?? []),
    );
  }

  async appendHistory(entry: HistoryEntry): Promise<void> {
    const e = HistoryEntrySchema.parse(entry);
    await this.historyRef(e).set(e);
    this.counters.writes++;
  }

  async history(agentId: string, limit: number): Promise<HistoryEntry[]> {
    // Ids sort by time: the automatic single-field index on `id` serves newest first (no composite index).
    const snap = await this.services.doc(agentId).collection(HISTORY).orderBy('id', 'desc').limit(limit).get();
    this.counters.reads += Math.max(1, snap.size);
    return snap.docs.flatMap((d) => {
      const parsed = HistoryEntrySchema.safeParse(d.data());
      return parsed.success ? [parsed.data] : [];
    });
  }

  /** `services/{agent}/history/{id}`: the agent's audit trail. */
  private historyRef(entry: HistoryEntry) {
    return this.services.doc(entry.agent_id).collection(HISTORY).doc(entry.id.replace(/\//g, '_'));
  }

  /** The history entry of a change, written in the transaction that commits it; how many documents that is (0 or 1). */
  private writeHistory(tx: Transaction, before: Job | null, after: Job): number {
    const entry = historyOf(before, after, randomUUID().slice(0, 8));
    if (!entry) return 0;
    tx.set(this.historyRef(entry), entry);
    return 1;
  }

  async metrics(scope: string, days: readonly string[]): Promise<Aggregate[]> {
    if (days.length === 0) return [];
    const snaps = await this.firestore.getAll(...days.map((d) => this.aggregateRef(scope, d)));
    this.counters.reads += snaps.length;
    return snaps.flatMap((s) => {
      const parsed = AggregateSchema.safeParse(s.data());
      return parsed.success ? [parsed.data] : [];
    });
  }

  async countOpen(filter: { agent_id?: string; environment?: string }): Promise<number> {
    let q: Query = this.jobs.where('kind', '==', 'deployment').where('status', 'in', OPEN);
    if (filter.agent_id) q = q.where('agent_id', '==', filter.agent_id);
    if (filter.environment) q = q.where('environment', '==', filter.environment);
    const n = (await q.count().get()).data().count;
    this.counters.reads += Math.max(1, Math.ceil(n / 1000));
    return n;
  }

  private aggregateRef(scope: string, day: string) {
    return this.firestore.collection(METRICS).doc(aggregateId(scope, day));
  }

  /** The agent's jobs that are not final (an `in` of at most 30 values). */
  private openOf(agentId: string): Query {
    return this.jobs.where('agent_id', '==', agentId).where('status', 'in', OPEN);
  }

  private slotRef(owner: string | null) {
    return this.slotRefOfKey(ownerKey(owner));
  }

  private slotRefOfKey(key: string) {
    return this.firestore.collection(OWNER_SLOTS).doc(encodeURIComponent(key));
  }

  async get(id: string): Promise<Job | null> {
    const snap = await this.jobs.doc(id).get();
    this.counters.reads++;
    const data = snap.data();
    return data ? fromDocument(data) : null;
  }

  update(id: string, mutate: Mutation<Job>): Promise<{ job: Job; changed: boolean } | null> {
    const ref = this.jobs.doc(id);
    return this.serially(ref.path, async () => {
      // Documents the committed attempt wrote besides the job (history, aggregates, counters): billed once, on commit.
      let alsoWritten = 0;
      const result = await this.firestore.runTransaction(
        async (tx) => {
          this.counters.transactions++;
          const snap = await tx.get(ref);
          this.counters.reads++;
          const data = snap.data();
          if (!data) return null;
          const current = fromDocument(data);
          const next = mutate(structuredClone(current));
          if (next === null) return { job: current, changed: false };
          if (next.deployment_id !== id) throw new Error(`a mutation of job ${id} may not change its deployment_id`);
          // The owner's counters change in the same transaction as the job that changes them: they never drift apart.
          const delta = slotDelta(current, next);
          const slotRef = this.slotRef(next.owner);
          const slot = delta.active !== 0 || delta.waiting !== 0 ? slotCounts(await tx.get(slotRef)) : null;
          // The metrics aggregates, folded in the transaction that ends the deployment: exactly once.
          const day = dayOf(next.completed_at ?? next.updated_at);
          const aggRefs = endsDeployment(current, next) ? scopesOf(next).map((s) => this.aggregateRef(s, day)) : [];
          const aggSnaps = aggRefs.length > 0 ? await tx.getAll(...aggRefs) : [];
          this.counters.reads += aggSnaps.length;
          const doc = toDocument(next);
          tx.set(ref, doc);
          // A job that ended dropped its private_ref (transition): its env values and credentials go with it.
          if (current.private_ref && current.private_ref !== next.private_ref) tx.delete(this.secrets.doc(current.private_ref));
          alsoWritten = this.writeHistory(tx, current, next) + aggSnaps.length + (slot ? 1 : 0);
          aggSnaps.forEach((snap, i) => {
            const scope = scopesOf(next)[i];
            const parsed = AggregateSchema.safeParse(snap.data());
            tx.set(aggRefs[i], fold(parsed.success ? parsed.data : emptyAggregate(scope, day), next));
          });
          if (slot) {
            this.counters.reads++;
            tx.set(slotRef, slotDoc(next.owner, slot.active + delta.active, slot.waiting + delta.waiting));
          }
          return { job: fromDocument(doc), changed: true };
        },
        { maxAttempts: this.maxAttempts },
      );
      if (result?.changed) this.counters.writes += 1 + alsoWritten;
      return result;
    });
  }

  async list(query: JobQuery): Promise<JobPage> {
    if (query.limit <= 0) return { items: [], next_cursor: null };
    let q: Query = this.jobs;
    if (query.agent_id !== undefined) q = q.where('agent_id', '==', query.agent_id);
    if (query.status !== undefined) q = q.where('status', '==', query.status);
    if (query.kind !== undefined) q = q.where('kind', '==', query.kind);
    q = q.orderBy('created_at', 'desc').orderBy(FieldPath.documentId(), 'desc');
    // An empty cursor is no cursor, as in the local store.
    if (query.cursor) {
      const after = decodeCursor(query.cursor);
      // Like the local store: a cursor that is not one of ours is the end of the list.
      if (!after) return { items: [], next_cursor: null };
      q = q.startAfter(after.created_at, after.id);
    }
    // One more than asked for tells whether there is a next page without a second query.
    const snap = await q.limit(query.limit + 1).get();
    this.counters.reads += Math.max(1, snap.size);
    const page = snap.docs.slice(0, query.limit);
    const items: Job[] = [];
    for (const d of page) {
      const parsed = safeFromDocument(d.data());
      if (parsed) items.push(parsed);
      else logger.warn(`ignoring unreadable document ${JOBS}/${d.id}`);
    }
    const last = page[page.length - 1];
    const more = snap.size > query.limit && last !== undefined;
    return { items, next_cursor: more ? encodeCursor(String(last.get('created_at')), last.id) : null };
  }

  watch(id: string, onChange: (job: Job) => void): Unsubscribe {
    this.counters.listeners++;
    let open = true;
    const stop = this.jobs.doc(id).onSnapshot(
      (snap) => {
        if (!open) return;
        this.counters.reads++;
        const data = snap.data();
        if (!data) return;
        const job = safeFromDocument(data);
        if (job) onChange(job);
        else logger.warn(`ignoring an unreadable snapshot of ${JOBS}/${id}`, { deployment_id: id });
      },
      (err) => logger.warn(`the listener on ${JOBS}/${id} stopped: ${err.message}`, { deployment_id: id }),
    );
    return () => {
      open = false;
      stop();
    };
  }

  async getService(agentId: string): Promise<ServiceRecord | null> {
    const snap = await this.services.doc(agentId).get();
    this.counters.reads++;
    const data = snap.data();
    return data ? ServiceRecordSchema.parse(data) : null;
  }

  async listServices(limit: number): Promise<ServiceRecord[]> {
    const snap = await this.services.orderBy(FieldPath.documentId()).limit(limit).get();
    this.counters.reads += Math.max(1, snap.size);
    return snap.docs.flatMap((d) => {
      const parsed = ServiceRecordSchema.safeParse(d.data());
      return parsed.success ? [parsed.data] : [];
    });
  }

  updateService(agentId: string, mutate: Mutation<ServiceRecord | null>): Promise<ServiceRecord | null> {
    const ref = this.services.doc(agentId);
    return this.serially(ref.path, async () => {
      const result = await this.firestore.runTransaction(
        async (tx) => {
          this.counters.transactions++;
          const snap = await tx.get(ref);
          this.counters.reads++;
          const data = snap.data();
          const current = data ? ServiceRecordSchema.parse(data) : null;
          const next = mutate(current ? structuredClone(current) : null);
          if (next === null) return { record: current, changed: false };
          const doc = ServiceRecordSchema.parse(next);
          tx.set(ref, doc);
          return { record: doc, changed: true };
        },
        { maxAttempts: this.maxAttempts },
      );
      if (result.changed) this.counters.writes++;
      return result.record;
    });
  }

  async countActive(agentId: string): Promise<number> {
    // Read, not counted: waiting deployments (few per agent, the queue is capped) do not count as running.
    const snap = await this.jobs.where('agent_id', '==', agentId).where('kind', '==', 'deployment').where('status', 'in', ACTIVE).get();
    this.counters.reads += Math.max(1, snap.size);
    return snap.docs.filter((d) => d.get('waiting') !== true).length;
  }

  /** As JSON in one field, like `request_json`: env names such as `__X__` are no Firestore field names. */
  async putPrivate(id: string, data: JobPrivate): Promise<void> {
    await this.secrets.doc(id).set({ private_json: JSON.stringify(JobPrivateSchema.parse(data)) });
    this.counters.writes++;
  }

  async getPrivate(id: string): Promise<JobPrivate | null> {
    const snap = await this.secrets.doc(id).get();
    this.counters.reads++;
    const json: unknown = snap.get('private_json');
    return typeof json === 'string' ? JobPrivateSchema.parse(JSON.parse(json)) : null;
  }

  /** Runs `fn` after every earlier call queued under `key` has settled. */
  private serially<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(key) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(key, tail);
    void tail.then(() => {
      if (this.queues.get(key) === tail) this.queues.delete(key);
    });
    return run;
  }
}

const JOBS = 'deployment_jobs';
const SERVICES = 'services';
/** Denied to every client by firestore.rules: only the functions' service accounts read it. */
export const PRIVATE = 'deployment_private';
const ALREADY_EXISTS = 6;
/** One document per agent, written by every create that checks the agent's running deployments. */
const AGENT_LOCKS = 'agent_locks';

/** Per owner: `active` (admitted, unfinished deployments) and `waiting`, changed only in the transactions that change those jobs. */
const OWNER_SLOTS = 'owner_slots';
/** The audit trail's subcollection under each `services/{agent}`. */
const HISTORY = 'history';
/** Metrics aggregates, one per scope and UTC day (shared/domain/metrics.ts). */
const METRICS = 'deployment_metrics';
/** Waiting jobs read at once for admission and queue positions (an owner's queue is capped well below it). */
const WAITING_READ_LIMIT = 500;
const OPEN: Status[] = STATUSES.filter((s) => !FINAL_STATUSES.includes(s));

/**
 * Runs a transaction again when a query inside it found it closed (INVALID_ARGUMENT "Transaction is
 * invalid or closed": contention aborted it while the query streamed), which runTransaction does not
 * retry by itself; the emulator does this under load, Firestore when a lock wait outlasts the transaction.
 */
async function retryClosed<T>(fn: () => Promise<T>, attempts = 4): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      const closed = grpcCode(err) === 3 && /Transaction is invalid or closed/i.test(err instanceof Error ? err.message : '');
      if (!closed || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 50 * i + Math.random() * 100));
    }
  }
}

function slotCounts(snap: { get(field: string): unknown }): { active: number; waiting: number } {
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? Math.max(0, v) : 0);
  return { active: n(snap.get('active')), waiting: n(snap.get('waiting')) };
}

function slotDoc(owner: string | null, active: number, waiting: number): DocumentData {
  return slotDocOfKey(ownerKey(owner), active, waiting);
}

function slotDocOfKey(key: string, active: number, waiting: number): DocumentData {
  return { owner_key: key, active: Math.max(0, active), waiting: Math.max(0, waiting) };
}

/** What countActive counts: deployments that are neither final nor rolling back. */
const ACTIVE: Status[] = STATUSES.filter((s) => !FINAL_STATUSES.includes(s) && s !== 'rolling_back');

export interface FirestoreIndexField {
  /** `__name__` is the document id. */
  field: string;
  order: 'ASCENDING' | 'DESCENDING';
}

export interface FirestoreIndex {
  collection: string;
  /** Every index is collection-scoped. */
  queryScope: 'COLLECTION';
  fields: FirestoreIndexField[];
  /** Which query of this adapter needs it. */
  usedBy: string;
}

const newestFirst: FirestoreIndexField[] = [
  { field: 'created_at', order: 'DESCENDING' },
  { field: '__name__', order: 'DESCENDING' },
];

/**
 * The composite indexes this adapter's queries need, for Terraform (`google_firestore_index`,
 * fields in this order; `__name__` is listed explicitly, as Firestore would add it with the
 * direction of the last field). `list` filters by equality on any subset of agent_id, status
 * and kind and orders by created_at desc, document id desc: one index per filter field with that
 * suffix serves every combination, since Firestore merges equality indexes that share the
 * order-by suffix. An unfiltered list uses the automatic single-field index on created_at.
 * The emulator needs no index at all, so only a real project proves this list complete.
 */
export const FIRESTORE_INDEXES: readonly FirestoreIndex[] = [
  {
    collection: JOBS,
    queryScope: 'COLLECTION',
    fields: [{ field: 'agent_id', order: 'ASCENDING' }, ...newestFirst],
    usedBy: 'list({agent_id})',
  },
  {
    collection: JOBS,
    queryScope: 'COLLECTION',
    fields: [{ field: 'status', order: 'ASCENDING' }, ...newestFirst],
    usedBy: 'list({status})',
  },
  {
    collection: JOBS,
    queryScope: 'COLLECTION',
    fields: [{ field: 'kind', order: 'ASCENDING' }, ...newestFirst],
    usedBy: 'list({kind})',
  },
  {
    collection: JOBS,
    queryScope: 'COLLECTION',
    fields: [
      { field: 'agent_id', order: 'ASCENDING' },
      { field: 'kind', order: 'ASCENDING' },
      { field: 'status', order: 'ASCENDING' },
    ],
    usedBy:
      'countActive: agent_id ==, kind ==, status in [...] (single-field indexes could be merged; this one keeps the count to the matching entries)',
  },
];

/** The Firestore document of a job: the job, with `request` as the JSON string `request_json`. */
export function toDocument(job: Job): DocumentData {
  const { request, ...rest } = JobSchema.parse(job);
  // owner_key and waiting are for the queue's equality queries (no composite index needed); fromDocument drops them.
  return { ...rest, request_json: JSON.stringify(request), owner_key: ownerKey(rest.owner), waiting: isWaiting(rest) };
}

/** Reads a job document back; throws when it does not match JobSchema. */
export function fromDocument(data: DocumentData): Job {
  const { request_json, ...rest } = data;
  return JobSchema.parse({ ...rest, request: typeof request_json === 'string' ? JSON.parse(request_json) : undefined });
}

function safeFromDocument(data: DocumentData): Job | null {
  try {
    return fromDocument(data);
  } catch {
    return null;
  }
}

function grpcCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The cursor: base64url of [created_at, document id] of the last job on the page. */
function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');
}

function decodeCursor(cursor: string): { created_at: string; id: string } | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string' && /^[^/]+$/.test(v[1])) {
      return { created_at: v[0], id: v[1] };
    }
  } catch {
    // not ours
  }
  return null;
}
