import type { Job, ServiceRecord } from '../../domain/job.js';
import { serviceName } from '../../domain/names.js';
import { FINAL_STATUSES } from '../../domain/status.js';
import type { JobStore, Runtime, ServiceStatus } from '../../ports/index.js';
import type { FolderBlobStore } from './blob-store.js';
import type { RevisionLogFiles } from './revision-logs.js';

/**
 * Garbage collection on the local target, where every deployment otherwise leaves its revision
 * (a folder with its node_modules), its artifact, its source and its log behind for good.
 *
 * Kept for each service: what serves traffic or carries a tag, the revision the service record
 * says serves and the one a rollback of it would return to, the last `keep` revisions, every
 * revision, artifact, source and log a deployment still running (or a rollback in progress)
 * names, and the log and source of the last `keep` deployments whatever their outcome. Everything
 * else of a finished deployment goes: its revision through the runtime (which stops it and
 * removes its extracted folder), then its artifact when no kept revision shares it, its source,
 * its uploaded archive and its log. Job documents stay (they are the history, and small).
 * An artifact no job names is removed only once it is older than ORPHAN_GRACE_MS: a build may have
 * just written it for a job that does not name it yet.
 */
export interface CleanupInput {
  jobs: Job[];
  /** The runtime's view of each agent's service (null: none). */
  services: ReadonlyMap<string, ServiceStatus | null>;
  records: ReadonlyMap<string, ServiceRecord | null>;
  /** Revisions that exist in the runtime, by service. */
  existing: ReadonlyMap<string, ReadonlySet<string>>;
  /** Artifacts in the blob store with their modification times. */
  artifacts: readonly { key: string; modified_ms: number }[];
  keep: number;
  now_ms: number;
}

export interface CleanupPlan {
  revisions: { service: string; revision: string }[];
  /** Blob keys to delete: artifacts, sources, uploads, logs. */
  keys: string[];
}

export const ORPHAN_GRACE_MS = 10 * 60_000;

const isFinal = (j: Job) => FINAL_STATUSES.includes(j.status);

/** What to remove: pure, so every rule above is tested on its own. */
export function planCleanup(input: CleanupInput): CleanupPlan {
  const byAgent = new Map<string, Job[]>();
  for (const j of input.jobs) byAgent.set(j.agent_id, [...(byAgent.get(j.agent_id) ?? []), j]);
  const byId = new Map(input.jobs.map((j) => [j.deployment_id, j]));
  const revisions: CleanupPlan['revisions'] = [];
  const keys: string[] = [];
  const keptArtifacts = new Set<string>();
  const named = new Set<string>();

  for (const [agent, all] of byAgent) {
    const jobs = [...all].sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0));
    const service = serviceName(agent);
    const existing = input.existing.get(service) ?? new Set<string>();
    const kept = new Set<string>();
    const keepRevision = (r: string | null | undefined) => r && kept.add(r);
    for (const t of input.services.get(agent)?.traffic ?? []) if (t.percent > 0 || t.tag) keepRevision(t.revision);
    const record = input.records.get(agent);
    keepRevision(record?.serving_revision);
    keepRevision(record?.last_good_revision);
    keepRevision(byId.get(record?.deployment_id ?? '')?.previous_revision);
    const keptJobs = new Set<string>();
    for (const j of jobs.filter((x) => !isFinal(x))) {
      keptJobs.add(j.deployment_id);
      keepRevision(j.revision);
      keepRevision(j.previous_revision);
      const target = j.rollback_of ? byId.get(j.rollback_of) : undefined;
      if (target) {
        keptJobs.add(target.deployment_id);
        keepRevision(target.revision);
        keepRevision(target.previous_revision);
      }
    }
    const built = jobs.filter((j) => j.kind === 'deployment' && j.revision && existing.has(j.revision));
    for (const j of built.slice(-input.keep)) keepRevision(j.revision);
    for (const j of jobs.slice(-input.keep)) keptJobs.add(j.deployment_id);
    for (const j of jobs) if (j.revision && kept.has(j.revision)) keptJobs.add(j.deployment_id);

    for (const j of jobs) {
      if (j.artifact) named.add(j.artifact.ref);
      if (keptJobs.has(j.deployment_id)) {
        if (j.artifact) keptArtifacts.add(j.artifact.ref);
        continue;
      }
      if (j.revision && existing.has(j.revision) && !kept.has(j.revision)) revisions.push({ service, revision: j.revision });
      if (j.kind !== 'deployment') {
        keys.push(logKey(j));
        continue;
      }
      keys.push(logKey(j), j.source_key ?? `sources/${j.agent_id}/${j.deployment_id}.tar.gz`);
      if (j.request.source.type === 'archive') keys.push(j.request.source.blob_key);
    }
  }
  for (const a of input.artifacts) {
    if (keptArtifacts.has(a.key)) continue;
    if (named.has(a.key) || input.now_ms - a.modified_ms > ORPHAN_GRACE_MS) keys.push(a.key);
  }
  return { revisions, keys: [...new Set(keys)] };
}

const logKey = (j: Job) => `deployment_logs/${j.agent_id}/${j.deployment_id}.log`;

/**
 * Runs planCleanup against the local adapters: after each build (wired in shared/wiring/local.ts),
 * one run at a time, a request during a run folded into one more run after it.
 */
export class LocalCleanup {
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;

  constructor(
    private readonly deps: {
      jobs: JobStore;
      runtime: Runtime;
      blobs: FolderBlobStore;
      keep: number;
      /** The runtime logs of a removed revision go with it. */
      revisionLogs?: Pick<RevisionLogFiles, 'remove'>;
      now?: () => number;
      warn?: (line: string) => void;
    },
  ) {}

  /** Asks for a run soon; errors are reported, never thrown (a cleanup must not fail a deployment). */
  schedule(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.collect().catch((err: unknown) =>
          (this.deps.warn ?? console.warn)(`baton: cleanup failed: ${err instanceof Error ? err.message : String(err)}`),
        );
      } while (this.again && !this.stopped);
      this.running = null;
    })();
  }

  /** Waits for the run in progress, if any. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle();
  }

  /** One run now: returns what it removed. */
  async collect(): Promise<CleanupPlan> {
    const { blobs, runtime, jobs: store } = this.deps;
    // Artifacts are listed before the jobs: one written after this listing is not in it.
    const artifacts: { key: string; modified_ms: number }[] = [];
    for (const key of await blobs.list('artifacts/')) {
      const info = await blobs.info(key);
      if (info) artifacts.push({ key, modified_ms: info.modified_ms });
    }
    const jobs: Job[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list({ limit: 500, ...(cursor ? { cursor } : {}) });
      jobs.push(...page.items);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    const services = new Map<string, ServiceStatus | null>();
    const records = new Map<string, ServiceRecord | null>();
    const existing = new Map<string, Set<string>>();
    for (const agent of new Set(jobs.map((j) => j.agent_id))) {
      const service = serviceName(agent);
      services.set(agent, await runtime.getService(service));
      records.set(agent, await store.getService(agent));
      const here = new Set<string>();
      for (const j of jobs)
        if (j.agent_id === agent && j.revision && (await runtime.getRevision(service, j.revision))) here.add(j.revision);
      existing.set(service, here);
    }
    const plan = planCleanup({ jobs, services, records, existing, artifacts, keep: this.deps.keep, now_ms: (this.deps.now ?? Date.now)() });
    const removed: CleanupPlan = { revisions: [], keys: [] };
    for (const r of plan.revisions) {
      if (this.stopped) return removed;
      // The runtime refuses a revision that serves traffic: whatever moved there since the plan stays.
      const ok = await runtime.deleteRevision(r.service, r.revision).then(
        () => true,
        () => false,
      );
      if (!ok) continue;
      removed.revisions.push(r);
      await this.deps.revisionLogs?.remove(r.service, r.revision);
    }
    // A revision still there may need its artifact: artifacts wait for the next run.
    const kept = removed.revisions.length < plan.revisions.length;
    for (const key of plan.keys) {
      if (this.stopped) return removed;
      if (kept && key.startsWith('artifacts/')) continue;
      if (await blobs.exists(key)) {
        await blobs.delete(key);
        removed.keys.push(key);
      }
    }
    return removed;
  }
}
