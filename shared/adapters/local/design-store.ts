import { z } from 'zod';
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
import { DocJournal, parsedDocs } from './doc-writer.js';

const ExecutionShape = z.custom<ExecutionDoc>((v) => typeof v === 'object' && v !== null && typeof (v as ExecutionDoc).id === 'string');
const StepShape = z.custom<StepLog & { execution_id: string }>((v) => typeof v === 'object' && v !== null && 'seq' in v);
const RecordShape = z.custom<StepRecord & { execution_id: string }>((v) => typeof v === 'object' && v !== null && 'step_id' in v);

/**
 * The design store of the local target, in the job store's folder (`store/designs/`): documents
 * in memory, every change journaled and synced before its promise resolves (DocJournal, as the
 * job store), one document per endpoint, execution, step attempt and step result. Listing keeps
 * an index per endpoint in start order, so a page of an endpoint's logs never scans the others.
 * Memory only when the folder is null. Rate-limit windows are in memory: one process serves
 * every request locally.
 */
export class LocalDesignStore implements DesignStore {
  private readonly endpoints = new Map<string, EndpointDoc>();
  private readonly byPath = new Map<string, string>();
  private readonly executions = new Map<string, ExecutionDoc>();
  /** Per endpoint: execution ids, oldest first (by started_at, then id). */
  private readonly logIndex = new Map<string, string[]>();
  private readonly steps = new Map<string, StepLog[]>();
  private readonly results = new Map<string, Map<string, StepRecord>>();
  private readonly windows = new Map<string, { start: number; count: number }>();
  /** Executions still running: what the sweep looks through. */
  private readonly running = new Set<string>();
  private readonly journal: DocJournal | null;

  constructor(dir: string | null) {
    this.journal = dir ? new DocJournal(dir) : null;
    if (this.journal) this.load(this.journal);
  }

  async createEndpoint(doc: EndpointDoc): Promise<'created' | 'exists' | 'path_taken'> {
    if (this.endpoints.has(doc.id)) return 'exists';
    if (this.byPath.has(doc.endpoint_path)) return 'path_taken';
    const parsed = EndpointDocSchema.parse(doc);
    this.endpoints.set(doc.id, parsed);
    this.byPath.set(doc.endpoint_path, doc.id);
    await this.put(`endpoints/${doc.id}`, parsed);
    return 'created';
  }

  async getEndpoint(id: string): Promise<EndpointDoc | null> {
    const e = this.endpoints.get(id);
    return e ? structuredClone(e) : null;
  }

  async getEndpointByPath(path: string): Promise<EndpointDoc | null> {
    const id = this.byPath.get(path);
    return id ? this.getEndpoint(id) : null;
  }

  async updateEndpoint(id: string, mutate: Mutation<EndpointDoc>): Promise<EndpointDoc | null> {
    const current = this.endpoints.get(id);
    if (!current) return null;
    const next = mutate(structuredClone(current));
    if (next === null) return structuredClone(current);
    const parsed = EndpointDocSchema.parse(next);
    if (parsed.endpoint_path !== current.endpoint_path) throw new Error('an endpoint keeps its endpoint_path');
    this.endpoints.set(id, parsed);
    await this.put(`endpoints/${id}`, parsed);
    return structuredClone(parsed);
  }

  async deleteEndpoint(id: string): Promise<boolean> {
    const e = this.endpoints.get(id);
    if (!e) return false;
    this.endpoints.delete(id);
    this.byPath.delete(e.endpoint_path);
    await this.journal?.delete(`endpoints/${id}`);
    return true;
  }

  async listEndpoints(q: EndpointQuery): Promise<Page<EndpointDoc>> {
    const all = [...this.endpoints.values()]
      .filter((e) => !q.status || e.status === q.status)
      .sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id));
    return page(all, q.limit, q.cursor, (e) => `${e.created_at}|${e.id}`);
  }

  async createExecution(doc: ExecutionDoc): Promise<boolean> {
    if (this.executions.has(doc.id)) return false;
    this.executions.set(doc.id, structuredClone(doc));
    this.index(doc);
    this.track(doc);
    await this.put(`executions/${doc.id}`, doc);
    return true;
  }

  async getExecution(id: string): Promise<ExecutionDoc | null> {
    const e = this.executions.get(id);
    return e ? structuredClone(e) : null;
  }

  async updateExecution(id: string, mutate: Mutation<ExecutionDoc>): Promise<ExecutionDoc | null> {
    const current = this.executions.get(id);
    if (!current) return null;
    const next = mutate(structuredClone(current));
    if (next === null) return structuredClone(current);
    this.executions.set(id, structuredClone(next));
    this.track(next);
    await this.put(`executions/${id}`, next);
    return structuredClone(next);
  }

  async commitRun(executionId: string, c: RunCommit): Promise<ExecutionDoc | null> {
    const current = this.executions.get(executionId) ?? null;
    let exec = current;
    const writes: [string, unknown][] = [];
    if (c.execution) {
      const next = c.execution(current ? structuredClone(current) : null);
      if (next === null) return null;
      if (next.id !== executionId) throw new Error(`commitRun(${executionId}) was given execution ${next.id}`);
      exec = structuredClone(next);
      this.executions.set(executionId, exec);
      if (!current) this.index(exec);
      this.track(exec);
      writes.push([`executions/${executionId}`, next]);
    }
    if (c.steps.length > 0) {
      const list = this.steps.get(executionId) ?? [];
      this.steps.set(executionId, list);
      for (const s of c.steps) {
        list.push(structuredClone(s));
        writes.push([`steps/${executionId}.${s.seq}`, { execution_id: executionId, ...s }]);
      }
      list.sort((a, b) => a.seq - b.seq);
    }
    if (c.records.length > 0) {
      const m = this.results.get(executionId) ?? new Map<string, StepRecord>();
      this.results.set(executionId, m);
      for (const r of c.records) {
        m.set(r.step_id, structuredClone(r));
        writes.push([`results/${executionId}.${Buffer.from(r.step_id).toString('base64url')}`, { execution_id: executionId, ...r }]);
      }
    }
    const ep = c.count_on ? this.endpoints.get(c.count_on.endpoint_id) : undefined;
    if (ep && c.count_on) {
      const at = c.count_on.at;
      const next = EndpointDocSchema.parse({
        ...ep,
        execution_count: ep.execution_count + 1,
        last_execution_at: ep.last_execution_at && ep.last_execution_at > at ? ep.last_execution_at : at,
      });
      this.endpoints.set(ep.id, next);
      writes.push([`endpoints/${ep.id}`, next]);
    }
    // One batch: one sync for all of it.
    await this.journal?.putMany(writes);
    return exec ? structuredClone(exec) : null;
  }

  async listLapsedRuns(beforeIso: string, limit: number): Promise<ExecutionDoc[]> {
    const out: ExecutionDoc[] = [];
    for (const id of this.running) {
      const e = this.executions.get(id);
      if (e?.lease_until && e.lease_until < beforeIso) out.push(e);
    }
    return out
      .sort((a, b) => String(a.lease_until).localeCompare(String(b.lease_until)))
      .slice(0, limit)
      .map((e) => structuredClone(e));
  }

  async listExecutions(q: LogQuery): Promise<Page<ExecutionDoc>> {
    const ids = this.logIndex.get(q.deployment_id) ?? [];
    const out: ExecutionDoc[] = [];
    let i = ids.length - 1;
    if (q.cursor) {
      const [at, id] = decodeCursor(q.cursor);
      // The first entry older than the cursor's (started_at, id).
      while (i >= 0) {
        const e = this.executions.get(ids[i]) as ExecutionDoc;
        if (e.started_at < at || (e.started_at === at && e.id < id)) break;
        i--;
      }
    }
    for (; i >= 0 && out.length <= q.limit; i--) {
      const e = this.executions.get(ids[i]) as ExecutionDoc;
      if (q.status && e.status !== q.status) continue;
      if (q.trigger_type && e.trigger_type !== q.trigger_type) continue;
      if (q.to && e.started_at >= q.to) continue;
      if (q.from && e.started_at < q.from) break;
      out.push(e);
    }
    const more = out.length > q.limit;
    const items = out.slice(0, q.limit).map((e) => structuredClone(e));
    const last = items.at(-1);
    return { items, next_cursor: more && last ? encodeCursor(last.started_at, last.id) : null };
  }

  async appendSteps(executionId: string, steps: StepLog[]): Promise<void> {
    const list = this.steps.get(executionId) ?? [];
    this.steps.set(executionId, list);
    const writes: Promise<void>[] = [];
    for (const s of steps) {
      list.push(structuredClone(s));
      writes.push(this.put(`steps/${executionId}.${s.seq}`, { execution_id: executionId, ...s }));
    }
    list.sort((a, b) => a.seq - b.seq);
    await Promise.all(writes);
  }

  async listSteps(executionId: string): Promise<StepLog[]> {
    return structuredClone(this.steps.get(executionId) ?? []);
  }

  async recordStep(executionId: string, record: StepRecord): Promise<void> {
    const m = this.results.get(executionId) ?? new Map<string, StepRecord>();
    this.results.set(executionId, m);
    m.set(record.step_id, structuredClone(record));
    await this.put(`results/${executionId}.${Buffer.from(record.step_id).toString('base64url')}`, { execution_id: executionId, ...record });
  }

  async recordedSteps(executionId: string): Promise<StepRecord[]> {
    return structuredClone([...(this.results.get(executionId)?.values() ?? [])]);
  }

  async takeRateToken(
    key: string,
    limit: number,
    windowMs: number,
    nowMs: number,
  ): Promise<{ ok: true } | { ok: false; retry_after_ms: number }> {
    const start = Math.floor(nowMs / windowMs) * windowMs;
    const w = this.windows.get(key);
    const current = w && w.start === start ? w : { start, count: 0 };
    this.windows.set(key, current);
    if (current.count >= limit) return { ok: false, retry_after_ms: start + windowMs - nowMs };
    current.count++;
    return { ok: true };
  }

  /** Syncs done and changes they carried (the bench and tests count commits by them); null in memory. */
  get journalCounters(): { syncs: number; changes: number } | null {
    return this.journal?.counters ?? null;
  }

  flush(): Promise<void> {
    return this.journal?.flush() ?? Promise.resolve();
  }

  private track(doc: ExecutionDoc): void {
    if (doc.status === 'running') this.running.add(doc.id);
    else this.running.delete(doc.id);
  }

  private index(doc: ExecutionDoc): void {
    const ids = this.logIndex.get(doc.deployment_id) ?? [];
    this.logIndex.set(doc.deployment_id, ids);
    // Runs start in order almost always: insert from the end.
    let at = ids.length;
    while (at > 0) {
      const prev = this.executions.get(ids[at - 1]) as ExecutionDoc;
      if (prev.started_at < doc.started_at || (prev.started_at === doc.started_at && prev.id < doc.id)) break;
      at--;
    }
    ids.splice(at, 0, doc.id);
  }

  private put(key: string, doc: unknown): Promise<void> {
    return this.journal ? this.journal.put(key, doc) : Promise.resolve();
  }

  private load(journal: DocJournal): void {
    const docs = journal.open(['endpoints', 'executions', 'steps', 'results']);
    for (const e of parsedDocs(journal, docs, 'endpoints/', EndpointDocSchema)) {
      this.endpoints.set(e.id, e);
      this.byPath.set(e.endpoint_path, e.id);
    }
    const execs = parsedDocs(journal, docs, 'executions/', ExecutionShape).sort(
      (a, b) => a.started_at.localeCompare(b.started_at) || a.id.localeCompare(b.id),
    );
    for (const e of execs) {
      this.executions.set(e.id, e);
      this.index(e);
      this.track(e);
    }
    for (const { execution_id, ...s } of parsedDocs(journal, docs, 'steps/', StepShape)) {
      const list = this.steps.get(execution_id) ?? [];
      list.push(s);
      this.steps.set(execution_id, list);
    }
    for (const list of this.steps.values()) list.sort((a, b) => a.seq - b.seq);
    for (const { execution_id, ...r } of parsedDocs(journal, docs, 'results/', RecordShape)) {
      const m = this.results.get(execution_id) ?? new Map<string, StepRecord>();
      m.set(r.step_id, r);
      this.results.set(execution_id, m);
    }
  }
}

function page<T>(sorted: T[], limit: number, cursor: string | undefined, keyOf: (t: T) => string): Page<T> {
  let start = 0;
  if (cursor) {
    const [a, b] = decodeCursor(cursor);
    const key = `${a}|${b}`;
    start = sorted.findIndex((t) => keyOf(t) < key);
    if (start < 0) return { items: [], next_cursor: null };
  }
  const items = sorted.slice(start, start + limit).map((t) => structuredClone(t));
  const more = start + limit < sorted.length;
  const last = items.at(-1);
  if (!more || !last) return { items, next_cursor: null };
  const [x, y] = keyOf(last).split('|');
  return { items, next_cursor: encodeCursor(x, y) };
}
