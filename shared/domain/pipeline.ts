/**
 * The pipeline as one table: every stage, the functions that run it and what triggers them, the
 * event it emits when done, its progress range and step label, whether a cancel stops it at its
 * boundary, whether a failure in it may roll back, and which setting bounds its lease (the
 * watchdog's deadline). The statuses, the state machine (status.ts), the event types (events.ts),
 * the topic and queue maps (topics.ts), the function registry (functions/registry.ts) and
 * Terraform's function maps (terraform/pipeline.json, `npm run gen:pipeline`) are derived from it.
 *
 * Adding a stage: one entry here, its use case in shared/pipeline/, its function in functions/
 * (and its handler in functions/registry.ts, which the compiler demands).
 */

/** A Pub/Sub topic carrying one Baton event, a topic whose messages others write, a Cloud Tasks queue. */
export type Trigger =
  | { readonly topic: string; readonly event: string }
  | { readonly topic: string; readonly event?: undefined }
  | { readonly queue: string; readonly task: string }
  | { readonly schedule: string }
  | { readonly http: true };

export interface FunctionDef {
  readonly name: string;
  readonly trigger: Trigger;
}

/** Which setting bounds a stage's lease: how long it may go without progress before the watchdog fails it. */
export type LeaseSetting = 'claim_lease_ms' | 'build_timeout_ms';

export interface StageDef {
  readonly status: string;
  /** forward: the deployment's own path, in order; rollback: entered on failure or by a rollback job. */
  readonly path: 'forward' | 'rollback';
  /** The first function enters the stage; the others continue it (a notification, a poll, a canary step). */
  readonly functions: readonly FunctionDef[];
  /** The event published when the stage's work is committed; null when it hands on otherwise. */
  readonly emits: string | null;
  readonly progress: readonly [number, number];
  readonly step: string;
  /** A cancel requested while this stage runs takes effect at its end. */
  readonly cancellable: boolean;
  /** A revision exists by now: a failure may roll back to the previous one. */
  readonly rolls_back: boolean;
  readonly lease: LeaseSetting;
  /**
   * Entered only when the deployment asks for it (approval): otherwise the function that enters
   * it hands on at once and the job goes from the stage before straight to the one after.
   */
  readonly optional?: true;
  /** Its time is a person's, not the pipeline's: left out of typical durations and the ETA. */
  readonly waits_for_person?: true;
}

export const PIPELINE = [
  {
    status: 'validating',
    path: 'forward',
    functions: [{ name: 'validate', trigger: { topic: 'baton-deployment-requested', event: 'deployment.requested.v1' } }],
    emits: 'deployment.validated.v1',
    progress: [5, 10],
    step: 'Validating configuration',
    cancellable: true,
    rolls_back: false,
    lease: 'claim_lease_ms',
  },
  {
    status: 'preparing',
    path: 'forward',
    functions: [{ name: 'prepare-source', trigger: { topic: 'baton-deployment-validated', event: 'deployment.validated.v1' } }],
    emits: 'deployment.prepared.v1',
    progress: [10, 20],
    step: 'Preparing source',
    cancellable: true,
    rolls_back: false,
    lease: 'claim_lease_ms',
  },
  {
    status: 'building',
    path: 'forward',
    functions: [
      { name: 'build', trigger: { topic: 'baton-deployment-prepared', event: 'deployment.prepared.v1' } },
      /**
       * Cloud Build's notifications of Baton's builds only: each build names this topic in its
       * options.pubsubTopic (CloudBuildBuilder), so the project's other builds, which go to
       * Google's default cloud-builds topic, never invoke build-events.
       */
      { name: 'build-events', trigger: { topic: 'baton-builds' } },
      /**
       * While a build works, its own log (Cloud Build's log object in the logs bucket) is copied
       * into the deployment's log by byte offset, one task per read; it waits on nothing and moves
       * no status. Not used by a builder that writes its output into the log itself (the local one).
       */
      { name: 'build-log', trigger: { queue: 'baton-build-log', task: 'build.log.v1' } },
    ],
    emits: 'deployment.built.v1',
    progress: [20, 60],
    step: 'Building',
    cancellable: true,
    rolls_back: false,
    lease: 'build_timeout_ms',
  },
  {
    status: 'deploying',
    path: 'forward',
    functions: [{ name: 'deploy', trigger: { topic: 'baton-deployment-built', event: 'deployment.built.v1' } }],
    // Hands on through the first readiness poll (a task on verifying's queue).
    emits: null,
    progress: [60, 75],
    step: 'Deploying new revision with no traffic',
    cancellable: true,
    rolls_back: true,
    lease: 'claim_lease_ms',
  },
  {
    status: 'verifying',
    path: 'forward',
    functions: [{ name: 'verify', trigger: { queue: 'baton-verify-poll', task: 'verify.poll.v1' } }],
    emits: 'deployment.verified.v1',
    progress: [75, 85],
    step: 'Verifying the new revision',
    cancellable: true,
    rolls_back: true,
    lease: 'claim_lease_ms',
  },
  {
    status: 'testing',
    path: 'forward',
    functions: [
      { name: 'test-candidate', trigger: { topic: 'baton-deployment-verified', event: 'deployment.verified.v1' } },
      // No function waits out a long load test: it runs in slices, one task each within the function's timeout.
      { name: 'test-slice', trigger: { queue: 'baton-test-slice', task: 'test.slice.v1' } },
    ],
    emits: 'deployment.tested.v1',
    progress: [85, 90],
    step: 'Testing the candidate revision',
    cancellable: true,
    rolls_back: true,
    lease: 'claim_lease_ms',
  },
  {
    status: 'awaiting_approval',
    path: 'forward',
    functions: [
      // Enters the stage when deployment_options.approval (or the environment) requires it; else hands on at once.
      { name: 'approval-gate', trigger: { topic: 'baton-deployment-tested', event: 'deployment.tested.v1' } },
      // Nothing waits inside a function: the deadline, a rejection and a cancel each arrive as a task.
      { name: 'approval-check', trigger: { queue: 'baton-approval-check', task: 'approval.check.v1' } },
    ],
    // Published by POST /deployments/{id}/approve (or by the gate when no approval is required).
    emits: 'deployment.approved.v1',
    progress: [90, 90],
    step: 'Waiting for approval',
    cancellable: true,
    rolls_back: true,
    lease: 'claim_lease_ms',
    optional: true,
    waits_for_person: true,
  },
  {
    status: 'promoting',
    path: 'forward',
    functions: [
      { name: 'promote', trigger: { topic: 'baton-deployment-approved', event: 'deployment.approved.v1' } },
      // One task per check of a canary step's window (every BATON_CANARY_CHECK_MS): the canary analysis; the last moves traffic on.
      { name: 'canary-step', trigger: { queue: 'baton-promote-step', task: 'promote.step.v1' } },
    ],
    emits: null,
    progress: [90, 100],
    step: 'Shifting traffic',
    cancellable: false,
    rolls_back: true,
    lease: 'claim_lease_ms',
  },
  {
    status: 'rolling_back',
    path: 'rollback',
    functions: [
      { name: 'rollback', trigger: { topic: 'baton-rollback-requested', event: 'deployment.rollback_requested.v1' } },
      // Waits for Cloud Run to apply the restored split before anything is removed.
      { name: 'rollback-check', trigger: { queue: 'baton-rollback-poll', task: 'rollback.poll.v1' } },
    ],
    emits: null,
    progress: [50, 100],
    step: 'Rolling back traffic',
    cancellable: false,
    rolls_back: false,
    lease: 'claim_lease_ms',
  },
] as const satisfies readonly StageDef[];

/** Functions that are not a stage: the API, the dead letter's consumer, the watchdog, the deployed designs' three. */
export const SYSTEM_FUNCTIONS = [
  { name: 'api', trigger: { http: true } },
  { name: 'dead-letter', trigger: { topic: 'baton-dead-letter' } },
  { name: 'watchdog', trigger: { schedule: '* * * * *' } },
  // Deployed designs (shared/designs/): asynchronous and scheduled runs, and Cloud Scheduler's target.
  { name: 'design-run', trigger: { queue: 'baton-design-run', task: 'design.run.v1' } },
  // Runs whose worker died (lease lapsed) back to the run queue.
  { name: 'designs-sweep', trigger: { schedule: '* * * * *' } },
  { name: 'designs-scheduled', trigger: { http: true } },
  // POST /api/deployed/{path} for anyone holding the endpoint's API key (no Google identity needed).
  { name: 'deployed', trigger: { http: true } },
] as const satisfies readonly FunctionDef[];

type Entry = (typeof PIPELINE)[number];
type AnyFunction = Entry['functions'][number] | (typeof SYSTEM_FUNCTIONS)[number];

export type StageStatus = Entry['status'];
export type ForwardStage = Extract<Entry, { path: 'forward' }>['status'];
export type FunctionName = AnyFunction['name'];
export type EventName = Extract<AnyFunction['trigger'], { event: string }>['event'];
export type TopicName = Extract<AnyFunction['trigger'], { topic: string }>['topic'];
export type QueueName = Extract<AnyFunction['trigger'], { queue: string }>['queue'];
export type TaskType = Extract<AnyFunction['trigger'], { task: string }>['task'];
type Named<T> = Extract<AnyFunction, { trigger: T }>['name'];
export type EventFunctionName = Named<{ topic: string }>;
export type TaskFunctionName = Named<{ queue: string }>;
export type ScheduledFunctionName = Named<{ schedule: string }>;
export type HttpFunctionName = Named<{ http: true }>;

export const ALL_FUNCTIONS: readonly FunctionDef[] = [...PIPELINE.flatMap((s): readonly FunctionDef[] => s.functions), ...SYSTEM_FUNCTIONS];

export function stageDef(status: StageStatus): StageDef {
  const def = PIPELINE.find((s) => s.status === status);
  if (!def) throw new Error(`no stage ${status} in the pipeline table`);
  return def;
}

/** The stage a queue's tasks continue: where a task that gives up fails the job. */
export function stageOfQueue(queue: string): StageStatus | null {
  return PIPELINE.find((s) => s.functions.some((f) => 'queue' in f.trigger && f.trigger.queue === queue))?.status ?? null;
}

/** Nominal progress at `fraction` (0–1) of a stage's range: the one place stages turn work done into a percentage. */
export function progressAt(status: StageStatus, fraction: number): number {
  const [lo, hi] = stageDef(status).progress;
  return Math.round(lo + (hi - lo) * Math.min(1, Math.max(0, fraction)));
}

// The names code refers to topics and queues by: baton-deployment-requested → deploymentRequested.
type Camel<S extends string> = S extends `${infer H}-${infer T}` ? `${H}${Capitalize<Camel<T>>}` : S;
type KeyOf<N extends string> = Camel<N extends `baton-${infer R}` ? R : N>;
export type NameMap<N extends string> = { readonly [K in N as KeyOf<K>]: K };

export function keyOf(name: string): string {
  return name.replace(/^baton-/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

export function nameMap<N extends string>(names: readonly N[]): NameMap<N> {
  return Object.fromEntries(names.map((n) => [keyOf(n), n])) as NameMap<N>;
}

const unique = <T>(xs: readonly T[]): T[] => [...new Set(xs)];
const triggers = ALL_FUNCTIONS.map((f) => f.trigger);

export const EVENT_NAMES = unique(triggers.flatMap((t) => ('event' in t && t.event ? [t.event] : []))) as EventName[];
export const TOPIC_NAMES = unique(triggers.flatMap((t) => ('topic' in t ? [t.topic] : []))) as TopicName[];
export const QUEUE_NAMES = unique(triggers.flatMap((t) => ('queue' in t ? [t.queue] : []))) as QueueName[];

/** What Terraform reads (terraform/pipeline.json): the trigger maps and the topics Baton owns. */
export function terraformPipeline() {
  const by = <K extends 'topic' | 'queue' | 'schedule'>(k: K) =>
    Object.fromEntries(ALL_FUNCTIONS.flatMap((f) => (k in f.trigger ? [[f.name, (f.trigger as Record<K, string>)[k]]] : [])));
  return {
    comment: 'Generated from shared/domain/pipeline.ts by `npm run gen:pipeline`; do not edit.',
    event_functions: by('topic'),
    task_functions: by('queue'),
    scheduled_functions: by('schedule'),
    http_functions: ALL_FUNCTIONS.filter((f) => 'http' in f.trigger).map((f) => f.name),
    topics: TOPIC_NAMES,
    dead_letter_topic: 'baton-dead-letter',
  };
}

/** The JSON as the generator writes it, for the staleness check. */
export function terraformPipelineJson(): string {
  return `${JSON.stringify(terraformPipeline(), null, 2)}\n`;
}

/** What must hold of the table; a test runs it, so a bad new entry fails before anything runs. */
export function tableProblems(): string[] {
  const problems: string[] = [];
  const names = ALL_FUNCTIONS.map((f) => f.name);
  for (const n of names) if (names.indexOf(n) !== names.lastIndexOf(n)) problems.push(`function ${n} appears twice`);
  const sources = triggers.flatMap((t) => ('topic' in t ? [t.topic] : 'queue' in t ? [t.queue] : []));
  for (const s of sources) if (sources.indexOf(s) !== sources.lastIndexOf(s)) problems.push(`${s} triggers two functions`);
  for (const s of PIPELINE) {
    const emits: string | null = s.emits;
    if (emits !== null && !(EVENT_NAMES as string[]).includes(emits)) problems.push(`${s.status} emits ${emits}, which triggers nothing`);
    const [lo, hi] = s.progress;
    if (!(lo >= 0 && lo <= hi && hi <= 100)) problems.push(`${s.status} has progress range ${lo}–${hi}`);
  }
  const forward = PIPELINE.filter((s) => s.path === 'forward');
  for (let i = 1; i < forward.length; i++) {
    if (forward[i].progress[0] < forward[i - 1].progress[1])
      problems.push(`${forward[i].status} starts below where ${forward[i - 1].status} ends`);
  }
  return problems;
}
