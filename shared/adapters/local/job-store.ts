import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  type AdmissionPolicy,
  admissionState,
  byQueueOrder,
  decideAdmission,
  isWaiting,
  keepsAgentBusy,
  mayStart,
  ownerKey,
  queuePosition,
} from '../../domain/admission.js';
import { PermanentError } from '../../domain/errors.js';
import { type HistoryEntry, HistoryEntrySchema, historyOf, newestFirst } from '../../domain/history.js';
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
import { isFinal, isUnfinishedRollback } from '../../domain/status.js';
import type { EnqueueResult, JobPage, JobQuery, JobStore, Mutation, Unsubscribe } from '../../ports/index.js';
import { DocJournal, parsedDocs } from './doc-writer.js';
import { codeOf, writeFileDurable } from './fs-util.js';

/**
 * The job store of the local target: documents in memory, and every commit journaled and synced
 * to the data folder before its promise resolves (DocJournal), so an answered request survives
 * any crash. A transaction's read, mutation and commit run without yielding to the event loop, so
 * compare-and-set is serialisable, the property Firestore transactions give; the journal keeps
 * commit order, so a commit on disk implies every commit before it is too. `get` and the
 * listeners see a change only once it is on disk: nothing is handed on from a state a crash could
 * still take back.
 */
export class LocalJobStore implements JobStore {
  private readonly jobs = new Map<string, Job>();
  private readonly services = new Map<string, ServiceRecord>();
  /** Private data when there is no data folder (memory only). */
  private readonly secrets = new Map<string, JobPrivate>();
  private readonly listeners = new Map<string, Set<(job: Job) => void>>();
  private readonly journal: DocJournal | null;
  /** The last write of each document still on its way to disk. */
  private readonly unsynced = new Map<string, Promise<void>>();
  /** Ids in creation order, newest last: the list index. */
  private readonly order: string[] = [];
  /**
   * The same per agent: what one agent's list, busy check and cleanup read, so the per-deployment
   * work never walks every job the store holds (Firestore answers these from an index too).
   */
  private readonly orderOfAgent = new Map<string, string[]>();
  /** Each agent's audit trail, oldest first (shared/domain/history.ts). */
  private readonly historyOf = new Map<string, HistoryEntry[]>();
  private historySeq = 0;
  /** Metrics aggregates by aggregateId (shared/domain/metrics.ts). */
  private readonly aggregates = new Map<string, Aggregate>();
  /** Ids of the jobs not final (trackOpen). */
  private readonly open = new Set<string>();

  constructor(private readonly dir: string | null) {
    this.journal = dir ? new DocJournal(dir) : null;
    if (this.journal) this.load(this.journal);
  }

  async create(job: Job): Promise<boolean> {
    if (this.jobs.has(job.deployment_id)) return false;
    const doc = JobSchema.parse(job);
    this.index(doc);
    await this.commitJob(doc);
    return true;
  }

  async createUnlessBusy(job: Job, maxActive: number): Promise<'created' | 'exists' | 'busy' | 'rolling_back'> {
    // Count and insert without yielding to the event loop: nothing can come in between.
    if (this.jobs.has(job.deployment_id)) return 'exists';
    if (this.rollingBack(job.agent_id)) return 'rolling_back';
    if (this.activeOf(job.agent_id) >= maxActive) return 'busy';
    const doc = JobSchema.parse(job);
    this.index(doc);
    await this.commitJob(doc);
    return 'created';
  }

  async enqueue(job: Job, policy: AdmissionPolicy, supersede: boolean): Promise<EnqueueResult> {
    // Decide and apply in memory without yielding to the event loop: nothing can come in between.
    const existing = this.jobs.get(job.deployment_id);
    if (existing) return { outcome: 'exists', job: structuredClone(existing), superseded: [] };
    const older = supersede ? [...this.jobsOf(job.agent_id)].filter(isWaiting) : [];
    const others = this.openJobs().filter((j) => !older.includes(j));
    const state = admissionState(others, job.agent_id, job.owner);
    const decision = decideAdmission(state, policy);
    if (decision === 'rolling_back' || decision === 'full') return { outcome: decision, job, superseded: [] };
    const doc = JobSchema.parse(decision === 'start' ? job : asWaiting(job, decision));
    this.index(doc);
    const writes = [this.commitJob(doc), ...older.map((o) => this.commitJob(supersededBy(o, doc.deployment_id, job.created_at)))];
    await Promise.all(writes);
    return {
      outcome: decision === 'start' ? 'started' : 'queued',
      job: structuredClone(doc),
      superseded: older.map((o) => o.deployment_id),
    };
  }

  async admitWaiting(scope: { owner: string | null; agent_id: string }, policy: AdmissionPolicy, now: string): Promise<Job[]> {
    const key = ownerKey(scope.owner);
    const candidates = this.openJobs()
      .filter((j) => isWaiting(j) && (ownerKey(j.owner) === key || j.agent_id === scope.agent_id))
      .sort(byQueueOrder);
    const admitted: Job[] = [];
    const writes: Promise<void>[] = [];
    for (const c of candidates) {
      if (!mayStart(admissionState(this.openJobs(), c.agent_id, c.owner), policy)) continue;
      const doc = JobSchema.parse(admit(c, now));
      writes.push(this.commitJob(doc));
      admitted.push(structuredClone(doc));
    }
    await Promise.all(writes);
    return admitted;
  }

  async waitingScopes(limit: number): Promise<{ owner: string | null; agent_id: string }[]> {
    const seen = new Map<string, { owner: string | null; agent_id: string }>();
    for (const j of this.openJobs()) {
      if (seen.size >= limit) break;
      if (isWaiting(j)) seen.set(`${ownerKey(j.owner)}\n${j.agent_id}`, { owner: j.owner, agent_id: j.agent_id });
    }
    return [...seen.values()];
  }

  async queuePosition(job: Job): Promise<number | null> {
    const key = ownerKey(job.owner);
    return queuePosition(
      job,
      this.openJobs().filter((j) => ownerKey(j.owner) === key),
    );
  }

  async get(id: string): Promise<Job | null> {
    await this.unsynced.get(`jobs/${id}`)?.catch(() => {});
    const job = this.jobs.get(id);
    return job ? structuredClone(job) : null;
  }

  async update(id: string, mutate: Mutation<Job>): Promise<{ job: Job; changed: boolean } | null> {
    const current = this.jobs.get(id);
    if (!current) return null;
    const next = mutate(structuredClone(current));
    if (next === null) return { job: structuredClone(current), changed: false };
    const doc = JobSchema.parse(next);
    await this.commitJob(doc);
    return { job: structuredClone(doc), changed: true };
  }

  async list(query: JobQuery): Promise<JobPage> {
    const items: Job[] = [];
    const order = query.agent_id === undefined ? this.order : (this.orderOfAgent.get(query.agent_id) ?? []);
    let start = order.length - 1;
    if (query.cursor) {
      const at = order.lastIndexOf(decodeCursor(query.cursor));
      if (at < 0) return { items: [], next_cursor: null };
      start = at - 1;
    }
    let last: string | null = null;
    for (let i = start; i >= 0 && items.length < query.limit; i--) {
      const job = this.jobs.get(order[i]);
      if (!job) continue;
      last = job.deployment_id;
      if (query.agent_id && job.agent_id !== query.agent_id) continue;
      if (query.status && job.status !== query.status) continue;
      if (query.kind && job.kind !== query.kind) continue;
      items.push(structuredClone(job));
    }
    const more = last !== null && items.length === query.limit && order.indexOf(last) > 0;
    return { items, next_cursor: more && last ? encodeCursor(last) : null };
  }

  watch(id: string, onChange: (job: Job) => void): Unsubscribe {
    let set = this.listeners.get(id);
    if (!set) {
      set = new Set();
      this.listeners.set(id, set);
    }
    set.add(onChange);
    const now = this.jobs.get(id);
    if (now) queueMicrotask(() => set.has(onChange) && onChange(structuredClone(now)));
    return () => {
      set.delete(onChange);
      if (set.size === 0) this.listeners.delete(id);
    };
  }

  async getService(agentId: string): Promise<ServiceRecord | null> {
    await this.unsynced.get(`services/${agentId}`)?.catch(() => {});
    const s = this.services.get(agentId);
    return s ? structuredClone(s) : null;
  }

  async listServices(limit: number): Promise<ServiceRecord[]> {
    return [...this.services.values()]
      .sort((a, b) => a.agent_id.localeCompare(b.agent_id))
      .slice(0, limit)
      .map((s) => structuredClone(s));
  }

  async updateService(agentId: string, mutate: Mutation<ServiceRecord | null>): Promise<ServiceRecord | null> {
    const current = this.services.get(agentId) ?? null;
    const next = mutate(current ? structuredClone(current) : null);
    if (next === null) return current ? structuredClone(current) : null;
    const doc = ServiceRecordSchema.parse(next);
    this.services.set(agentId, doc);
    await this.persist(`services/${agentId}`, doc);
    return structuredClone(doc);
  }

  async countActive(agentId: string): Promise<number> {
    return this.activeOf(agentId);
  }

  private rollingBack(agentId: string): boolean {
    for (const job of this.jobsOf(agentId)) if (isUnfinishedRollback(job)) return true;
    return false;
  }

  /** Admitted deployments of the agent still running; waiting ones have not started. */
  private activeOf(agentId: string): number {
    let n = 0;
    for (const job of this.jobsOf(agentId)) if (keepsAgentBusy(job)) n++;
    return n;
  }

  async appendHistory(entry: HistoryEntry): Promise<void> {
    await this.keepHistory(HistoryEntrySchema.parse(entry));
  }

  async history(agentId: string, limit: number): Promise<HistoryEntry[]> {
    const all = this.historyOf.get(agentId) ?? [];
    return all
      .slice(-limit)
      .reverse()
      .map((e) => structuredClone(e));
  }

  private keepHistory(entry: HistoryEntry): Promise<void> {
    const list = this.historyOf.get(entry.agent_id) ?? [];
    list.push(entry);
    // Kept in id order (time first): entries of one commit turn arrive in order; an action may be a hair older.
    if (list.length > 1 && list[list.length - 2].id > entry.id) list.sort((a, b) => -newestFirst(a, b));
    this.historyOf.set(entry.agent_id, list);
    return this.persist(`history/${Buffer.from(entry.id).toString('base64url')}`, entry);
  }

  async metrics(scope: string, days: readonly string[]): Promise<Aggregate[]> {
    return days.flatMap((d) => {
      const a = this.aggregates.get(aggregateId(scope, d));
      return a ? [structuredClone(a)] : [];
    });
  }

  async countOpen(filter: { agent_id?: string; environment?: string }): Promise<number> {
    let n = 0;
    for (const id of this.open) {
      const j = this.jobs.get(id);
      if (j?.kind !== 'deployment') continue;
      if (filter.agent_id && j.agent_id !== filter.agent_id) continue;
      if (filter.environment && j.environment !== filter.environment) continue;
      n++;
    }
    return n;
  }

  /** Folds a finished deployment into its scopes' aggregates of its day; the writes to await. */
  private foldMetrics(job: Job): Promise<void>[] {
    const day = dayOf(job.completed_at ?? job.updated_at);
    return scopesOf(job).map((scope) => {
      const id = aggregateId(scope, day);
      const next = fold(this.aggregates.get(id) ?? emptyAggregate(scope, day), job);
      this.aggregates.set(id, next);
      // Journal keys take [A-Za-z0-9_.-] only: the id (scope@day, with : and |) goes base64url.
      return this.persist(`metrics/${Buffer.from(id).toString('base64url')}`, next);
    });
  }

  /** The jobs not final: what admission counts, without a walk over every job ever stored. */
  private openJobs(): Job[] {
    return [...this.open].flatMap((id) => this.jobs.get(id) ?? []);
  }

  private trackOpen(job: Job): void {
    if (isFinal(job.status)) this.open.delete(job.deployment_id);
    else this.open.add(job.deployment_id);
  }

  private *jobsOf(agentId: string): Generator<Job> {
    for (const id of this.orderOfAgent.get(agentId) ?? []) {
      const job = this.jobs.get(id);
      if (job) yield job;
    }
  }

  private index(job: Job): void {
    this.order.push(job.deployment_id);
    const mine = this.orderOfAgent.get(job.agent_id);
    if (mine) mine.push(job.deployment_id);
    else this.orderOfAgent.set(job.agent_id, [job.deployment_id]);
  }

  /**
   * Private data lives in `private/{id}.json`, apart from the job files, readable by this user only
   * (0600 in a 0700 folder), and is on disk before this resolves: the stages read it after the
   * accept's hand-off. Not kept in memory, so nothing else in the process holds it longer than a stage.
   */
  async putPrivate(id: string, data: JobPrivate): Promise<void> {
    const doc = JobPrivateSchema.parse(data);
    if (!this.dir) {
      this.secrets.set(id, structuredClone(doc));
      return;
    }
    // On disk before the 202 that follows it: an accepted deployment must find its env after a crash.
    writeFileDurable(join(this.dir, 'private', `${privateFileName(id)}.json`), JSON.stringify(doc));
  }

  async getPrivate(id: string): Promise<JobPrivate | null> {
    if (!this.dir) {
      const doc = this.secrets.get(id);
      return doc ? structuredClone(doc) : null;
    }
    const path = join(this.dir, 'private', `${privateFileName(id)}.json`);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if (codeOf(err) === 'ENOENT') return null;
      throw new PermanentError(
        `cannot read the private data of ${id} at ${path} (${codeOf(err) ?? 'error'})`,
        "Fix the file's permissions, or deploy again",
      );
    }
    const parsed = JobPrivateSchema.safeParse(parseJson(text));
    if (!parsed.success) {
      throw new PermanentError(`the private data of ${id} at ${path} is damaged (not the JSON Baton wrote)`, 'Deploy again');
    }
    return parsed.data;
  }

  /** Removes private data no job references any more; a failure is reported, never the commit's. */
  private deletePrivate(id: string): void {
    if (!this.dir) {
      this.secrets.delete(id);
      return;
    }
    try {
      rmSync(join(this.dir, 'private', `${privateFileName(id)}.json`), { force: true });
    } catch (err) {
      console.error(`baton: could not remove the private data of ${id}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Resolves when every committed change is on disk and folded into the document files. */
  flush(): Promise<void> {
    return this.journal?.flush() ?? Promise.resolve();
  }

  /** Applies the commit in memory now, resolves once it is on disk, then tells the listeners (in commit order). */
  private async commitJob(doc: Job): Promise<void> {
    const before = this.jobs.get(doc.deployment_id) ?? null;
    const dropped = before?.private_ref;
    this.jobs.set(doc.deployment_id, doc);
    this.trackOpen(doc);
    // Folded with the commit that ends it, in the same turn of the event loop: counted exactly once.
    const folded = endsDeployment(before, doc) ? this.foldMetrics(doc) : [];
    const entry = historyOf(before, doc, String(++this.historySeq).padStart(9, '0'));
    const logged = entry ? [this.keepHistory(entry)] : [];
    await Promise.all([this.persist(`jobs/${doc.deployment_id}`, doc), ...folded, ...logged]);
    // A job that ended dropped its private_ref (transition): its env values and credentials go, once
    // the job saying so is on disk (a crash in between leaves the file, never a job that needs it without it).
    if (dropped && dropped !== doc.private_ref) this.deletePrivate(dropped);
    const set = this.listeners.get(doc.deployment_id);
    if (set) for (const cb of [...set]) cb(structuredClone(doc));
  }

  private persist(key: string, doc: unknown): Promise<void> {
    if (!this.journal) return Promise.resolve();
    const write = this.journal.put(key, doc);
    this.unsynced.set(key, write);
    const forget = () => {
      if (this.unsynced.get(key) === write) this.unsynced.delete(key);
    };
    void write.then(forget, forget);
    return write;
  }

  private load(journal: DocJournal): void {
    const docs = journal.open(['jobs', 'services', 'metrics', 'history']);
    const entries = parsedDocs(journal, docs, 'history/', HistoryEntrySchema).sort((a, b) => -newestFirst(a, b));
    for (const e of entries) {
      const list = this.historyOf.get(e.agent_id);
      if (list) list.push(e);
      else this.historyOf.set(e.agent_id, [e]);
    }
    for (const a of parsedDocs(journal, docs, 'metrics/', AggregateSchema)) this.aggregates.set(aggregateId(a.scope, a.day), a);
    const jobs = parsedDocs(journal, docs, 'jobs/', JobSchema);
    for (const svc of parsedDocs(journal, docs, 'services/', ServiceRecordSchema)) this.services.set(svc.agent_id, svc);
    jobs.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.deployment_id.localeCompare(b.deployment_id));
    for (const j of jobs) {
      this.jobs.set(j.deployment_id, j);
      this.trackOpen(j);
      this.index(j);
    }
    // A data folder from before metrics were kept: fold its finished deployments once (kept from then on).
    if (this.aggregates.size === 0) {
      for (const j of jobs) {
        if (j.kind !== 'deployment' || !isFinal(j.status) || j.queue !== null) continue;
        for (const w of this.foldMetrics(j)) w.catch((err: unknown) => console.error(`baton: could not save metrics: ${String(err)}`));
      }
    }
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Ids are Baton's own, but a file name never takes a path from one. */
function privateFileName(id: string): string {
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(id)) throw new Error(`not a job id: ${JSON.stringify(id)}`);
  return id;
}

const encodeCursor = (id: string) => Buffer.from(id).toString('base64url');
const decodeCursor = (c: string) => Buffer.from(c, 'base64url').toString('utf8');
