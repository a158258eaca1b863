import { type DocumentData, FieldPath, FieldValue, type Firestore, type Query } from '@google-cloud/firestore';
import type { StepLog, StepRecord } from '../../designs/types.js';
import {
  decodeCursor,
  type EndpointDoc,
  EndpointDocSchema,
  type ExecutionDoc,
  encodeCursor,
  type LogQuery,
  type Page,
} from '../../domain/endpoint.js';
import type { DesignStore, EndpointQuery, RunCommit } from '../../ports/design-store.js';
import type { Mutation } from '../../ports/job-store.js';
import type { FirestoreIndex } from './job-store.js';

export const ENDPOINTS = 'design_endpoints';
export const ENDPOINT_PATHS = 'endpoint_paths';
export const EXECUTION_LOGS = 'execution_logs';
export const RATE_LIMITS = 'rate_limits';
const ALREADY_EXISTS = 6;
/** Writes one commitRun transaction takes beside the execution and its endpoint (Firestore's cap is 500). */
const MAX_TX_WRITES = 400;

/** User JSON (designs, inputs, outputs) is stored as JSON strings: Firestore refuses nested arrays and `__x__` keys. */
const JSON_FIELDS = ['design', 'run_input', 'input_data', 'result_data', 'input_schema'] as const;

const byStart = [
  { field: 'started_at', order: 'DESCENDING' },
  { field: '__name__', order: 'DESCENDING' },
] as const;

/**
 * The composite indexes this adapter's queries need (Terraform declares them; firestore.indexes.json too).
 * listExecutions: deployment_id == plus any of status ==, trigger_type ==, ordered by started_at
 * desc (a date range is on started_at, the order field, so it needs nothing more).
 */
export const DESIGN_FIRESTORE_INDEXES: readonly FirestoreIndex[] = [
  {
    collection: EXECUTION_LOGS,
    queryScope: 'COLLECTION',
    fields: [{ field: 'deployment_id', order: 'ASCENDING' }, ...byStart],
    usedBy: 'listExecutions({deployment_id})',
  },
  {
    collection: EXECUTION_LOGS,
    queryScope: 'COLLECTION',
    fields: [{ field: 'deployment_id', order: 'ASCENDING' }, { field: 'status', order: 'ASCENDING' }, ...byStart],
    usedBy: 'listExecutions({deployment_id, status})',
  },
  {
    collection: EXECUTION_LOGS,
    queryScope: 'COLLECTION',
    fields: [{ field: 'deployment_id', order: 'ASCENDING' }, { field: 'trigger_type', order: 'ASCENDING' }, ...byStart],
    usedBy: 'listExecutions({deployment_id, trigger_type})',
  },
  {
    collection: EXECUTION_LOGS,
    queryScope: 'COLLECTION',
    fields: [
      { field: 'deployment_id', order: 'ASCENDING' },
      { field: 'status', order: 'ASCENDING' },
      { field: 'trigger_type', order: 'ASCENDING' },
      ...byStart,
    ],
    usedBy: 'listExecutions({deployment_id, status, trigger_type})',
  },
  {
    collection: EXECUTION_LOGS,
    queryScope: 'COLLECTION',
    fields: [
      { field: 'status', order: 'ASCENDING' },
      { field: 'lease_until', order: 'ASCENDING' },
      { field: '__name__', order: 'ASCENDING' },
    ],
    usedBy: 'listLapsedRuns (the designs sweep)',
  },
  {
    collection: ENDPOINTS,
    queryScope: 'COLLECTION',
    fields: [
      { field: 'status', order: 'ASCENDING' },
      { field: 'created_at', order: 'DESCENDING' },
      { field: '__name__', order: 'DESCENDING' },
    ],
    usedBy: 'listEndpoints({status})',
  },
];

/**
 * The DesignStore on Firestore: endpoints in `design_endpoints/{id}` with their paths reserved in
 * `endpoint_paths/{path}` (created in the same transaction: two deploys of one path cannot both
 * win); executions in `execution_logs/{id}`, their attempt records in `…/steps/{seq}` and step
 * results in `…/results/{step id}` (subcollections: a run of 500 calls would not fit one 1 MiB
 * document); rate-limit windows in `rate_limits/{key}_{window}`, counted in a transaction, so
 * every instance of the function shares them. Tested on the Firestore emulator by the same
 * contract suite as the local store; the emulator does not prove the indexes (it needs none).
 */
export class FirestoreDesignStore implements DesignStore {
  constructor(private readonly db: Firestore) {}

  async createEndpoint(doc: EndpointDoc): Promise<'created' | 'exists' | 'path_taken'> {
    const ref = this.db.collection(ENDPOINTS).doc(doc.id);
    const pathRef = this.db.collection(ENDPOINT_PATHS).doc(pathKey(doc.endpoint_path));
    return this.db.runTransaction(async (tx) => {
      const [existing, path] = await Promise.all([tx.get(ref), tx.get(pathRef)]);
      if (existing.exists) return 'exists' as const;
      if (path.exists) return 'path_taken' as const;
      tx.create(ref, toStored(EndpointDocSchema.parse(doc)));
      tx.create(pathRef, { endpoint_id: doc.id, endpoint_path: doc.endpoint_path });
      return 'created' as const;
    });
  }

  async getEndpoint(id: string): Promise<EndpointDoc | null> {
    const snap = await this.db.collection(ENDPOINTS).doc(id).get();
    return snap.exists ? fromStored<EndpointDoc>(snap.data() as DocumentData) : null;
  }

  async getEndpointByPath(path: string): Promise<EndpointDoc | null> {
    const snap = await this.db.collection(ENDPOINT_PATHS).doc(pathKey(path)).get();
    const id = snap.data()?.endpoint_id;
    return typeof id === 'string' ? this.getEndpoint(id) : null;
  }

  async updateEndpoint(id: string, mutate: Mutation<EndpointDoc>): Promise<EndpointDoc | null> {
    const ref = this.db.collection(ENDPOINTS).doc(id);
    return this.db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      if (!snap.exists) return null;
      const current = fromStored<EndpointDoc>(snap.data() as DocumentData);
      const next = mutate(structuredClone(current));
      if (next === null) return current;
      const parsed = EndpointDocSchema.parse(next);
      if (parsed.endpoint_path !== current.endpoint_path) throw new Error('an endpoint keeps its endpoint_path');
      tx.set(ref, toStored(parsed));
      return parsed;
    });
  }

  async deleteEndpoint(id: string): Promise<boolean> {
    const ref = this.db.collection(ENDPOINTS).doc(id);
    return this.db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      if (!snap.exists) return false;
      const path = String(snap.data()?.endpoint_path ?? '');
      tx.delete(ref);
      tx.delete(this.db.collection(ENDPOINT_PATHS).doc(pathKey(path)));
      return true;
    });
  }

  async listEndpoints(q: EndpointQuery): Promise<Page<EndpointDoc>> {
    let query: Query = this.db.collection(ENDPOINTS);
    if (q.status) query = query.where('status', '==', q.status);
    query = query.orderBy('created_at', 'desc').orderBy(FieldPath.documentId(), 'desc');
    if (q.cursor) query = query.startAfter(...decodeCursor(q.cursor));
    const snap = await query.limit(q.limit + 1).get();
    const docs = snap.docs.map((d) => fromStored<EndpointDoc>(d.data()));
    return pageOf(docs, q.limit, (e) => [e.created_at, e.id]);
  }

  async createExecution(doc: ExecutionDoc): Promise<boolean> {
    try {
      await this.db.collection(EXECUTION_LOGS).doc(doc.id).create(toStored(doc));
      return true;
    } catch (err) {
      if ((err as { code?: unknown }).code === ALREADY_EXISTS) return false;
      throw err;
    }
  }

  async getExecution(id: string): Promise<ExecutionDoc | null> {
    const snap = await this.db.collection(EXECUTION_LOGS).doc(id).get();
    return snap.exists ? fromStored<ExecutionDoc>(snap.data() as DocumentData) : null;
  }

  async updateExecution(id: string, mutate: Mutation<ExecutionDoc>): Promise<ExecutionDoc | null> {
    const ref = this.db.collection(EXECUTION_LOGS).doc(id);
    return this.db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      if (!snap.exists) return null;
      const current = fromStored<ExecutionDoc>(snap.data() as DocumentData);
      const next = mutate(structuredClone(current));
      if (next === null) return current;
      tx.set(ref, toStored(next));
      return next;
    });
  }

  async listExecutions(q: LogQuery): Promise<Page<ExecutionDoc>> {
    let query: Query = this.db.collection(EXECUTION_LOGS).where('deployment_id', '==', q.deployment_id);
    if (q.status) query = query.where('status', '==', q.status);
    if (q.trigger_type) query = query.where('trigger_type', '==', q.trigger_type);
    if (q.from) query = query.where('started_at', '>=', q.from);
    if (q.to) query = query.where('started_at', '<', q.to);
    query = query.orderBy('started_at', 'desc').orderBy(FieldPath.documentId(), 'desc');
    if (q.cursor) query = query.startAfter(...decodeCursor(q.cursor));
    const snap = await query.limit(q.limit + 1).get();
    return pageOf(
      snap.docs.map((d) => fromStored<ExecutionDoc>(d.data())),
      q.limit,
      (e) => [e.started_at, e.id],
    );
  }

  async appendSteps(executionId: string, steps: StepLog[]): Promise<void> {
    if (steps.length === 0) return;
    const col = this.db.collection(EXECUTION_LOGS).doc(executionId).collection('steps');
    // A batch holds at most 500 writes.
    for (let i = 0; i < steps.length; i += 400) {
      const batch = this.db.batch();
      for (const s of steps.slice(i, i + 400))
        batch.set(col.doc(String(s.seq).padStart(6, '0')), { step_json: JSON.stringify(s), seq: s.seq });
      await batch.commit();
    }
  }

  async commitRun(executionId: string, c: RunCommit): Promise<ExecutionDoc | null> {
    const execRef = this.db.collection(EXECUTION_LOGS).doc(executionId);
    const stepRef = (s: StepLog) => execRef.collection('steps').doc(String(s.seq).padStart(6, '0'));
    const resultRef = (r: StepRecord) => execRef.collection('results').doc(Buffer.from(r.step_id).toString('base64url'));
    let steps = c.steps;
    let records = c.records;
    // A transaction holds at most 500 writes: a larger commit writes its attempts and results first
    // (harmless if the execution then refuses: a result is only read by a run that holds the lease).
    if (steps.length + records.length > MAX_TX_WRITES) {
      await this.appendSteps(executionId, steps);
      for (let i = 0; i < records.length; i += MAX_TX_WRITES) {
        const batch = this.db.batch();
        for (const r of records.slice(i, i + MAX_TX_WRITES)) batch.set(resultRef(r), { record_json: JSON.stringify(r) });
        await batch.commit();
      }
      steps = [];
      records = [];
    }
    const epRef = c.count_on ? this.db.collection(ENDPOINTS).doc(c.count_on.endpoint_id) : null;
    return this.db.runTransaction(async (tx) => {
      const [snap, epSnap] = await Promise.all([tx.get(execRef), epRef ? tx.get(epRef) : Promise.resolve(null)]);
      const current = snap.exists ? fromStored<ExecutionDoc>(snap.data() as DocumentData) : null;
      let exec = current;
      if (c.execution) {
        exec = c.execution(current ? structuredClone(current) : null);
        if (exec === null) return null;
        tx.set(execRef, toStored(exec));
      }
      for (const st of steps) tx.set(stepRef(st), { step_json: JSON.stringify(st), seq: st.seq });
      for (const r of records) tx.set(resultRef(r), { record_json: JSON.stringify(r) });
      if (epRef && epSnap?.exists && c.count_on) {
        const ep = fromStored<EndpointDoc>(epSnap.data() as DocumentData);
        const at = c.count_on.at;
        tx.update(epRef, {
          execution_count: FieldValue.increment(1),
          last_execution_at: ep.last_execution_at && ep.last_execution_at > at ? ep.last_execution_at : at,
        });
      }
      return exec;
    });
  }

  async listLapsedRuns(beforeIso: string, limit: number): Promise<ExecutionDoc[]> {
    const snap = await this.db
      .collection(EXECUTION_LOGS)
      .where('status', '==', 'running')
      .where('lease_until', '<', beforeIso)
      .orderBy('lease_until')
      .limit(limit)
      .get();
    return snap.docs.map((d) => fromStored<ExecutionDoc>(d.data()));
  }

  async listSteps(executionId: string): Promise<StepLog[]> {
    const snap = await this.db.collection(EXECUTION_LOGS).doc(executionId).collection('steps').orderBy('seq').get();
    return snap.docs.map((d) => JSON.parse(String(d.data().step_json)) as StepLog);
  }

  async recordStep(executionId: string, record: StepRecord): Promise<void> {
    const id = Buffer.from(record.step_id).toString('base64url');
    await this.db
      .collection(EXECUTION_LOGS)
      .doc(executionId)
      .collection('results')
      .doc(id)
      .set({ record_json: JSON.stringify(record) });
  }

  async recordedSteps(executionId: string): Promise<StepRecord[]> {
    const snap = await this.db.collection(EXECUTION_LOGS).doc(executionId).collection('results').get();
    return snap.docs.map((d) => JSON.parse(String(d.data().record_json)) as StepRecord);
  }

  async takeRateToken(
    key: string,
    limit: number,
    windowMs: number,
    nowMs: number,
  ): Promise<{ ok: true } | { ok: false; retry_after_ms: number }> {
    const start = Math.floor(nowMs / windowMs) * windowMs;
    const ref = this.db.collection(RATE_LIMITS).doc(`${key}_${start}`);
    return this.db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      const count = Number(snap.data()?.count ?? 0);
      if (count >= limit) return { ok: false as const, retry_after_ms: start + windowMs - nowMs };
      // expires_at: a Firestore TTL policy on it (Terraform) removes old windows.
      tx.set(ref, { count: count + 1, key, expires_at: new Date(start + 2 * windowMs) });
      return { ok: true as const };
    });
  }
}

/** Firestore ids may not hold "/": the path is encoded. */
function pathKey(path: string): string {
  return Buffer.from(path).toString('base64url');
}

function toStored(doc: object): DocumentData {
  const out: DocumentData = {};
  for (const [k, v] of Object.entries(doc)) {
    if (v === undefined) continue;
    if ((JSON_FIELDS as readonly string[]).includes(k)) out[`${k}_json`] = JSON.stringify(v ?? null);
    else out[k] = v;
  }
  return out;
}

function fromStored<T>(data: DocumentData): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) {
    const base = k.endsWith('_json') ? k.slice(0, -5) : null;
    if (base && (JSON_FIELDS as readonly string[]).includes(base)) out[base] = JSON.parse(String(v)) as unknown;
    else out[k] = v;
  }
  return out as T;
}

function pageOf<T>(docs: T[], limit: number, keyOf: (t: T) => [string, string]): Page<T> {
  const items = docs.slice(0, limit);
  const last = items.at(-1);
  return { items, next_cursor: docs.length > limit && last ? encodeCursor(...keyOf(last)) : null };
}
