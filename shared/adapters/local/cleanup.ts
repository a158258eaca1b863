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
  for (const j of input.jobs) {
    const mine = byAgent.get(j.agent_id);
    if (mine) mine.push(j);
    else byAgent.set(j.agent_id, [j]);
  }
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
 * Runs planCleanup against the local adapters, one run at a time, requests during a run folded
 * into the run after it. After a build (wired in shared/wiring/local.ts) it runs for that build's
 * agent only: that agent's jobs, service and artifacts, so a deployment's cleanup costs what its
 * agent holds, not what the whole store holds (a run over every job, right when the revision
 * starts, made its start-up grow with the store). A sweep of every agent and of the artifacts no
 * job names runs instead when the last one is ORPHAN_GRACE_MS old (the first request after a
 * start is one): its cost is paid once per period, not once per deployment.
 */
export class LocalCleanup {
  private running: Promise<void> | null = null;
  /** Agents asked for since the run in progress started; `null` in it: a full sweep. */
  private readonly pending = new Set<string | null>();
  private lastSweepMs: number | null = null;
  private stopped = false;

  constructor(
    private readonly deps: {
      jobs: JobStore;
      runtime: Runtime;
      blobs: FolderBlobStore;
      keep: number;
      /** The runtime logs of a removed revision go with it. */
      revisionLogs?: Pick<RevisionLogFiles, 'remove'>;
      /** Whether a revision of any service was made from the artifact (LocalRuntime.usesArtifact). */
      artifactInUse?: (ref: string) => boolean;
      now?: () => number;
      warn?: (line: string) => void;
    },
  ) {}

  private now(): number {
    return (this.deps.now ?? Date.now)();
  }

  /**
   * Asks for a run soon: for `agentId`'s deployments, or a full sweep without one (or when the
   * last sweep is older than ORPHAN_GRACE_MS). Errors are reported, never thrown: a cleanup must
   * not fail a deployment.
   */
  schedule(agentId?: string): void {
    if (this.stopped) return;
    const due = this.lastSweepMs === null || this.now() - this.lastSweepMs >= ORPHAN_GRACE_MS;
    this.pending.add(agentId === undefined || due ? null : agentId);
    this.running ??= (async () => {
      while (this.pending.size > 0 && !this.stopped) {
        const full = this.pending.has(null);
        const agents = full ? [] : [...this.pending].filter((a): a is string => a !== null);
        this.pending.clear();
        const runs = full ? [this.collect()] : agents.map((a) => this.collectAgent(a));
        for (const run of runs) {
          await run.catch((err: unknown) =>
            (this.deps.warn ?? console.warn)(`baton: cleanup failed: ${err instanceof Error ? err.message : String(err)}`),
          );
        }
      }
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

  /** A sweep of every agent now, orphaned artifacts included: returns what it removed. */
  async collect(): Promise<CleanupPlan> {
    const { blobs } = this.deps;
    this.lastSweepMs = this.now();
    // Artifacts are listed before the jobs: one written after this listing is not in it.
    const artifacts: { key: string; modified_ms: number }[] = [];
    for (const key of await blobs.list('artifacts/')) {
      const info = await blobs.info(key);
      if (info) artifacts.push({ key, modified_ms: info.modified_ms });
    }
    const jobs = await this.allJobs({});
    return this.apply(await this.inputFor(jobs, artifacts));
  }

  /**
   * `agentId`'s deployments only: its revisions, sources, uploads and logs, and the artifacts its
   * collected deployments name, unless a revision of any service was made from one, or it was
   * written again after the last of its builds that named it (another agent's build of the same
   * content: content-addressed, an artifact may be shared). The next sweep sees those.
   */
  async collectAgent(agentId: string): Promise<CleanupPlan> {
    const jobs = await this.allJobs({ agent_id: agentId });
    const builtAt = new Map<string, number>();
    for (const j of jobs) {
      const at = Date.parse(j.stage_timings.building?.completed_at ?? '');
      if (j.artifact && Number.isFinite(at)) builtAt.set(j.artifact.ref, Math.max(builtAt.get(j.artifact.ref) ?? 0, at));
    }
    const artifacts: { key: string; modified_ms: number }[] = [];
    for (const [key, at] of builtAt) {
      if (this.deps.artifactInUse?.(key)) continue;
      const info = await this.deps.blobs.info(key);
      // A second of slack: file times and job timestamps come from the same clock, at different resolutions.
      if (info && info.modified_ms <= at + 1000) artifacts.push({ key, modified_ms: info.modified_ms });
    }
    return this.apply(await this.inputFor(jobs, artifacts));
  }

  private async allJobs(filter: { agent_id?: string }): Promise<Job[]> {
    const jobs: Job[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.deps.jobs.list({ ...filter, limit: 500, ...(cursor ? { cursor } : {}) });
      jobs.push(...page.items);
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    return jobs;
  }

  private async inputFor(jobs: Job[], artifacts: CleanupInput['artifacts']): Promise<CleanupInput> {
    const { runtime, jobs: store } = this.deps;
    const byAgent = new Map<string, Job[]>();
    for (const j of jobs) {
      const mine = byAgent.get(j.agent_id);
      if (mine) mine.push(j);
      else byAgent.set(j.agent_id, [j]);
    }
    const services = new Map<string, ServiceStatus | null>();
    const records = new Map<string, ServiceRecord | null>();
    const existing = new Map<string, Set<string>>();
    for (const [agent, mine] of byAgent) {
      const service = serviceName(agent);
      services.set(agent, await runtime.getService(service));
      records.set(agent, await store.getService(agent));
      const here = new Set<string>();
      for (const j of mine) if (j.revision && (await runtime.getRevision(service, j.revision))) here.add(j.revision);
      existing.set(service, here);
    }
    return { jobs, services, records, existing, artifacts, keep: this.deps.keep, now_ms: this.now() };
  }

  private async apply(input: CleanupInput): Promise<CleanupPlan> {
    const { blobs, runtime } = this.deps;
    const plan = planCleanup(input);
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
