import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FolderBlobStore } from '../../shared/adapters/local/blob-store.js';
import { LocalJobStore } from '../../shared/adapters/local/job-store.js';
import { RevisionLogFiles } from '../../shared/adapters/local/revision-logs.js';
import type { SourceReader } from '../../shared/domain/analysis/schema.js';
import { type RevisionTraffic, revisionTraffic } from '../../shared/domain/canary.js';
import { PermanentError } from '../../shared/domain/errors.js';
import type { ProbeAnswer } from '../../shared/domain/health.js';
import { type Job, newJob } from '../../shared/domain/job.js';
import { DeploymentRequestSchema } from '../../shared/domain/request.js';
import type { LoadSlice } from '../../shared/domain/testing.js';
import { DEFAULT_SETTINGS, type PipelineDeps } from '../../shared/pipeline/deps.js';
import { DeploymentLogs } from '../../shared/pipeline/logs.js';
import type {
  Builder,
  BuildSpec,
  CanaryMetrics,
  Clock,
  EventBus,
  HttpProbe,
  HttpTester,
  MetricsWindow,
  RevisionSpec,
  RevisionStatus,
  Runtime,
  ServiceStatus,
  SourcePreparer,
  TaskQueue,
  TaskSpec,
  TesterResponse,
  TrafficTarget,
} from '../../shared/ports/index.js';

/** A clock the test moves by hand. */
export class FakeClock implements Clock {
  constructor(private t = Date.parse('2026-01-01T00:00:00.000Z')) {}
  now(): Date {
    return new Date(this.t);
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

/** Records what is published; delivers nothing (the test calls the next use case itself). */
export class RecordingBus implements EventBus {
  readonly published: { topic: string; json: { type?: string; deployment_id?: string } }[] = [];
  failNext = 0;
  async publish(topic: string, data: Buffer): Promise<string> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('bus unavailable');
    }
    this.published.push({ topic, json: JSON.parse(data.toString()) });
    return String(this.published.length);
  }
  types(): string[] {
    return this.published.map((p) => p.json.type ?? p.topic);
  }
}

export class RecordingTasks implements TaskQueue {
  readonly tasks: (TaskSpec & { queue: string })[] = [];
  private readonly names = new Set<string>();
  failNext = 0;
  async enqueue(queue: string, task: TaskSpec): Promise<'created' | 'exists'> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('queue unavailable');
    }
    if (this.names.has(`${queue}/${task.name}`)) return 'exists';
    this.names.add(`${queue}/${task.name}`);
    this.tasks.push({ ...task, queue });
    return 'created';
  }
}

export class FakeBuilder implements Builder {
  readonly submitted: BuildSpec[] = [];
  readonly cancelled: string[] = [];
  async submit(spec: BuildSpec) {
    this.submitted.push(spec);
    return { build_id: `build-${this.submitted.length}`, log_url: 'https://logs/1' };
  }
  async cancel(id: string) {
    this.cancelled.push(id);
  }
}

/**
 * A runtime whose revisions' states the test sets. With `reconcileDelayMs`, a traffic change is
 * served only after that long on the test's clock: until then getService reports `reconciling`
 * and the old split, and deleteRevision refuses a revision the served split still sends traffic
 * to, as Cloud Run refuses one its route still serves (test/support/gcp-fakes/run-server.ts). A
 * tag at 0 % is dropped by deleteRevision, as the port says.
 * It does not prove: partial or failed reconciliation, or Cloud Run's error wording.
 */
export class FakeRuntime implements Runtime {
  readonly revisions = new Map<string, RevisionStatus>();
  readonly deployed: RevisionSpec[] = [];
  readonly deleted: string[] = [];
  /** Every split written, in order. */
  readonly writes: TrafficTarget[][] = [];
  /** What is served now. */
  traffic: TrafficTarget[] = [];
  latestReady: string | null = null;
  reconcileDelayMs = 0;
  private pending: { traffic: TrafficTarget[]; at: number } | null = null;
  constructor(private readonly clock?: Clock) {}
  async deployRevision(spec: RevisionSpec) {
    if (this.revisions.has(spec.revision)) return;
    this.deployed.push(spec);
    this.revisions.set(spec.revision, { name: spec.revision, state: 'starting', message: null, tag_url: 'http://tag.local/' });
  }
  async getRevision(_s: string, r: string) {
    return this.revisions.get(r) ?? null;
  }
  async getService(name: string): Promise<ServiceStatus> {
    this.reconcile();
    return {
      name,
      url: 'http://svc.local/',
      traffic: this.traffic,
      latest_created_revision: null,
      latest_ready_revision: this.latestReady,
      reconciling: this.pending !== null,
    };
  }
  async setTraffic(_s: string, t: TrafficTarget[]) {
    this.writes.push(t);
    const now = this.clock?.now().getTime() ?? 0;
    if (this.reconcileDelayMs > 0) this.pending = { traffic: t, at: now + this.reconcileDelayMs };
    else this.traffic = t;
  }
  async deleteRevision(_s: string, r: string) {
    this.reconcile();
    const serving = [...this.traffic, ...(this.pending?.traffic ?? [])].some((t) => t.revision === r && t.percent > 0);
    if (serving) throw new Error(`revision ${r} still serves traffic; move the traffic first`);
    this.traffic = this.traffic.filter((t) => t.revision !== r);
    this.deleted.push(r);
    this.revisions.delete(r);
  }
  ready(revision: string) {
    this.revisions.set(revision, { name: revision, state: 'ready', message: null, tag_url: 'http://tag.local/', startup_ms: 42 });
    this.latestReady = revision;
  }
  private reconcile() {
    if (this.pending && (this.clock?.now().getTime() ?? 0) >= this.pending.at) {
      this.traffic = this.pending.traffic;
      this.pending = null;
    }
  }
}

/** Answers GETs from `answers` (then 200) and TCP connects from `connects` (then accepted), recording both. */
export class FakeProbe implements HttpProbe {
  answers: ProbeAnswer[] = [];
  connects: ({ ok: true } | { error: string; refused?: boolean })[] = [];
  readonly urls: string[] = [];
  readonly connected: string[] = [];
  async get(url: string) {
    this.urls.push(url);
    return this.answers.shift() ?? { status: 200, body: '{"status":"ok"}' };
  }
  async connect(url: string) {
    this.connected.push(url);
    return this.connects.shift() ?? { ok: true as const };
  }
}

/** Answers by path (a 200 with `{"status":"ok"}` for any other), load slices from a queue; records what it was asked. */
export class FakeTester implements HttpTester {
  readonly byPath = new Map<string, TesterResponse | { error: string; ms: number }>();
  slices: LoadSlice[] = [];
  readonly urls: string[] = [];
  readonly loads: { url: string; connections: number; duration_ms: number }[] = [];
  async get(url: string) {
    this.urls.push(url);
    return this.byPath.get(new URL(url).pathname) ?? { status: 200, headers: {}, body: '{"status":"ok"}', ms: 1 };
  }
  async load(url: string, opts: { connections: number; duration_ms: number }) {
    this.loads.push({ url, connections: opts.connections, duration_ms: opts.duration_ms });
    return this.slices.shift() ?? { duration_ms: opts.duration_ms, total: 100, successful: 100, latency_avg_ms: 2, latency_max_ms: 5 };
  }
}

/**
 * Canary metrics the test sets per revision (what it served in any window asked about); a
 * revision not set served nothing. Records every question, window included.
 */
export class FakeCanaryMetrics implements CanaryMetrics {
  readonly source = 'fake metrics';
  readonly served = new Map<string, { requests: number; server_errors: number; p95_ms?: number }>();
  readonly asked: { service: string; revisions: readonly string[]; window: MetricsWindow }[] = [];
  async revisionTraffic(service: string, revisions: readonly string[], window: MetricsWindow): Promise<RevisionTraffic[]> {
    this.asked.push({ service, revisions, window });
    return revisions.map((r) => {
      const s = this.served.get(r) ?? { requests: 0, server_errors: 0 };
      return revisionTraffic(r, s.requests, s.server_errors, {
        p95_ms: s.p95_ms ?? (s.requests > 0 ? 20 : null),
        mean_ms: s.requests > 0 ? 10 : null,
      });
    });
  }
}

export class FakeSources implements SourcePreparer {
  failures: Error[] = [];
  calls = 0;
  /** What inspect shows: a Node service unless a test sets other files. */
  files: Record<string, string> = {
    'package.json': '{"name":"app","scripts":{"start":"node server.js"}}',
    'package-lock.json': '{}',
    'server.js': 'require("http").createServer().listen(process.env.PORT)',
  };
  async check() {}
  async inspect(): Promise<SourceReader> {
    const files = this.files;
    return { paths: Object.keys(files), read: (p) => files[p] ?? null };
  }
  async prepare(input: { deployment_id: string; agent_id: string }) {
    this.calls++;
    const err = this.failures.shift();
    if (err) throw err;
    return { source_key: `sources/${input.agent_id}/${input.deployment_id}.tar.gz`, summary: '1 file' };
  }
}

export interface Harness {
  deps: PipelineDeps;
  jobs: LocalJobStore;
  bus: RecordingBus;
  tasks: RecordingTasks;
  builder: FakeBuilder;
  runtime: FakeRuntime;
  probe: FakeProbe;
  runtimeLogs: RevisionLogFiles;
  tester: FakeTester;
  sources: FakeSources;
  metrics: FakeCanaryMetrics;
  clock: FakeClock;
  /** Creates a queued job and returns it. */
  job(id: string, extra?: Record<string, unknown>, patch?: Partial<Job>): Promise<Job>;
}

/** Use cases over in-memory ports: the real job store and log writer, fakes for everything with I/O. */
export function harness(): Harness {
  const clock = new FakeClock();
  const jobs = new LocalJobStore(null);
  const scratch = mkdtempSync(join(tmpdir(), 'baton-unit-'));
  const blobs = new FolderBlobStore(scratch);
  const bus = new RecordingBus();
  const tasks = new RecordingTasks();
  const builder = new FakeBuilder();
  const runtime = new FakeRuntime(clock);
  const probe = new FakeProbe();
  const tester = new FakeTester();
  const sources = new FakeSources();
  const metrics = new FakeCanaryMetrics();
  const runtimeLogs = new RevisionLogFiles(join(scratch, 'revision-logs'));
  let n = 0;
  const deps: PipelineDeps = {
    jobs,
    bus,
    blobs,
    builder,
    runtime,
    runtimeLogs,
    tasks,
    canaryMetrics: metrics,
    sources,
    probe,
    tester,
    clock,
    logs: new DeploymentLogs(blobs, jobs, clock, 5),
    newId: () => `id-${++n}`,
    settings: { ...DEFAULT_SETTINGS, health_attempts: 2 },
  };
  return {
    deps,
    jobs,
    bus,
    tasks,
    builder,
    runtime,
    probe,
    runtimeLogs,
    tester,
    sources,
    metrics,
    clock,
    async job(id, extra = {}, patch = {}) {
      const request = DeploymentRequestSchema.parse({ agent_id: 'svc', source: { type: 'directory', path: '/src' }, ...extra });
      const job = { ...newJob(id, request, clock.now().toISOString()), ...patch };
      await jobs.create(job);
      return job;
    },
  };
}

export { PermanentError };
