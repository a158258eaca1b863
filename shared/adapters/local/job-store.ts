import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Job, type JobPrivate, JobPrivateSchema, JobSchema, type ServiceRecord, ServiceRecordSchema } from '../../domain/job.js';
import { isFinal } from '../../domain/status.js';
import type { JobPage, JobQuery, JobStore, Mutation, Unsubscribe } from '../../ports/index.js';
import { DocWriter } from './doc-writer.js';
import { jsonFilesIn } from './fs-util.js';

/**
 * The job store of the local target: documents in memory, each committed change written to one
 * JSON file under the data folder so state survives a restart. A transaction's read, mutation and
 * commit run without yielding to the event loop, so compare-and-set is serialisable, the property
 * Firestore transactions give. Listeners hear each committed change, in commit order.
 */
export class LocalJobStore implements JobStore {
  private readonly jobs = new Map<string, Job>();
  private readonly services = new Map<string, ServiceRecord>();
  /** Private data when there is no data folder (memory only). */
  private readonly secrets = new Map<string, JobPrivate>();
  private readonly listeners = new Map<string, Set<(job: Job) => void>>();
  private readonly writer = new DocWriter();
  /** Ids in creation order, newest last: the list index. */
  private readonly order: string[] = [];

  constructor(private readonly dir: string | null) {
    if (dir) this.load(dir);
  }

  async create(job: Job): Promise<boolean> {
    if (this.jobs.has(job.deployment_id)) return false;
    const doc = JobSchema.parse(job);
    this.commitJob(doc);
    this.order.push(doc.deployment_id);
    return true;
  }

  async createUnlessBusy(job: Job, maxActive: number): Promise<'created' | 'exists' | 'busy'> {
    // Count and insert without yielding to the event loop: nothing can come in between.
    if (this.jobs.has(job.deployment_id)) return 'exists';
    if (this.activeOf(job.agent_id) >= maxActive) return 'busy';
    const doc = JobSchema.parse(job);
    this.commitJob(doc);
    this.order.push(doc.deployment_id);
    return 'created';
  }

  async get(id: string): Promise<Job | null> {
    const job = this.jobs.get(id);
    return job ? structuredClone(job) : null;
  }

  async update(id: string, mutate: Mutation<Job>): Promise<{ job: Job; changed: boolean } | null> {
    const current = this.jobs.get(id);
    if (!current) return null;
    const next = mutate(structuredClone(current));
    if (next === null) return { job: structuredClone(current), changed: false };
    const doc = JobSchema.parse(next);
    this.commitJob(doc);
    return { job: structuredClone(doc), changed: true };
  }

  async list(query: JobQuery): Promise<JobPage> {
    const items: Job[] = [];
    let start = this.order.length - 1;
    if (query.cursor) {
      const at = this.order.lastIndexOf(decodeCursor(query.cursor));
      if (at < 0) return { items: [], next_cursor: null };
      start = at - 1;
    }
    let last: string | null = null;
    for (let i = start; i >= 0 && items.length < query.limit; i--) {
      const job = this.jobs.get(this.order[i]);
      if (!job) continue;
      last = job.deployment_id;
      if (query.agent_id && job.agent_id !== query.agent_id) continue;
      if (query.status && job.status !== query.status) continue;
      if (query.kind && job.kind !== query.kind) continue;
      items.push(structuredClone(job));
    }
    const more = last !== null && items.length === query.limit && this.order.indexOf(last) > 0;
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
    const s = this.services.get(agentId);
    return s ? structuredClone(s) : null;
  }

  async updateService(agentId: string, mutate: Mutation<ServiceRecord | null>): Promise<ServiceRecord | null> {
    const current = this.services.get(agentId) ?? null;
    const next = mutate(current ? structuredClone(current) : null);
    if (next === null) return current ? structuredClone(current) : null;
    const doc = ServiceRecordSchema.parse(next);
    this.services.set(agentId, doc);
    if (this.dir) this.writer.write(join(this.dir, 'services', `${agentId}.json`), JSON.stringify(doc));
    return structuredClone(doc);
  }

  async countActive(agentId: string): Promise<number> {
    return this.activeOf(agentId);
  }

  private activeOf(agentId: string): number {
    let n = 0;
    for (const job of this.jobs.values()) {
      if (job.agent_id === agentId && job.kind === 'deployment' && !isFinal(job.status) && job.status !== 'rolling_back') n++;
    }
    return n;
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
    const folder = join(this.dir, 'private');
    mkdirSync(folder, { recursive: true, mode: 0o700 });
    const path = join(folder, `${privateFileName(id)}.json`);
    writeFileSync(`${path}.tmp`, JSON.stringify(doc), { mode: 0o600 });
    renameSync(`${path}.tmp`, path);
  }

  async getPrivate(id: string): Promise<JobPrivate | null> {
    if (!this.dir) {
      const doc = this.secrets.get(id);
      return doc ? structuredClone(doc) : null;
    }
    const parsed = JobPrivateSchema.safeParse(readJson(join(this.dir, 'private', `${privateFileName(id)}.json`)));
    return parsed.success ? parsed.data : null;
  }

  /** Resolves when every committed change is on disk. */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  /**
   * Releases the claims of workers that ran in a previous run of this process: after a restart
   * none of them is alive, so their stages may run again as soon as their events are redelivered.
   */
  releaseEphemeralClaims(): number {
    let n = 0;
    for (const job of [...this.jobs.values()]) {
      if (job.claim && !job.claim.done && job.claim.ephemeral) {
        this.commitJob({ ...job, claim: null });
        n++;
      }
    }
    return n;
  }

  /** Forgets everything (tests). */
  clear(): void {
    this.jobs.clear();
    this.services.clear();
    this.secrets.clear();
    this.order.length = 0;
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  private commitJob(doc: Job): void {
    this.jobs.set(doc.deployment_id, doc);
    if (this.dir) this.writer.write(join(this.dir, 'jobs', `${doc.deployment_id}.json`), JSON.stringify(doc));
    const set = this.listeners.get(doc.deployment_id);
    if (set) for (const cb of [...set]) cb(structuredClone(doc));
  }

  private load(dir: string): void {
    const jobs: Job[] = [];
    for (const f of jsonFilesIn(join(dir, 'jobs'))) {
      const parsed = JobSchema.safeParse(readJson(join(dir, 'jobs', f)));
      if (parsed.success) jobs.push(parsed.data);
      else console.warn(`baton: ignoring unreadable job file ${f}`);
    }
    jobs.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.deployment_id.localeCompare(b.deployment_id));
    for (const j of jobs) {
      this.jobs.set(j.deployment_id, j);
      this.order.push(j.deployment_id);
    }
    for (const f of jsonFilesIn(join(dir, 'services'))) {
      const parsed = ServiceRecordSchema.safeParse(readJson(join(dir, 'services', f)));
      if (parsed.success) this.services.set(parsed.data.agent_id, parsed.data);
    }
  }
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
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
