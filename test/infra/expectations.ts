import type { EventType } from '../../shared/domain/events.js';
import { canTransition, FINAL_STATUSES, STATUSES, type Status } from '../../shared/domain/status.js';
import { QUEUES, type Queue, TOPIC_OF_EVENT, TOPICS, type Topic } from '../../shared/domain/topics.js';

/**
 * What each Cloud Function needs from Google Cloud beyond Firestore and the Baton bucket (which
 * every function reads and writes: job documents, deployment logs). Written once here, derived by
 * reading the code; terraform/locals.tf mirrors it as `function_access`, and
 * test/infra/terraform.test.ts checks the two agree and that the code's imports reach no other
 * hand-off than these.
 *
 * How it is derived:
 * - `handsOff`: the event types a function's own code passes to handOff({kind: 'event'}) — the
 *   `NEXT` of its stage in shared/pipeline/*.ts, `publishOrFail` in requests.ts for the api;
 * - the rollback hand-off: `failDeployment` (stage-runner.ts) publishes
 *   deployment.rollback_requested.v1 when the failing job may move to rolling_back. Which statuses
 *   a function fails jobs from is `failsFrom`; whether one of them may go to rolling_back is
 *   decided by the state machine itself (TRANSITIONS), not by hand;
 * - the queue's hand-off: `releaseSlots` (stage-runner.ts) publishes deployment.requested.v1 for the
 *   deployments waiting behind a job that ends, so every function that can end one (`failsFrom`
 *   not empty) publishes to baton-deployment-requested;
 * - `enqueues`: the queues of handOff({kind: 'task'}) (deploy.ts verifyPoll, test-stage.ts sliceTask, approval-check.ts checkTask, promote.ts shiftTo);
 * - `runtime` and `builds`: the Runtime and Builder port calls on each function's paths.
 */
export type RuntimeAccess = 'none' | 'read' | 'write';
export type BuildAccess = 'none' | 'submit' | 'cancel';

interface Derivation {
  handsOff: readonly EventType[];
  enqueues: readonly Queue[];
  failsFrom: readonly Status[];
  runtime: RuntimeAccess;
  builds: BuildAccess;
  why: string;
}

export interface FunctionNeeds {
  /** Topics it publishes to, sorted. */
  publishes: Topic[];
  /** Queues it creates tasks on, sorted. */
  enqueues: Queue[];
  /**
   * none; read (run.viewer); write (run.developer + actAs the runtime account): creating a revision,
   * moving traffic and deleting a revision (which first drops its traffic tag) all update a service
   * that runs as the runtime account. run.developer also lets verification probe a tagged URL.
   */
  runtime: RuntimeAccess;
  /** none; submit (builds.editor + actAs the build account); cancel (builds.editor). */
  builds: BuildAccess;
  why: string;
}

const RUNNING: readonly Status[] = STATUSES.filter((s) => !FINAL_STATUSES.includes(s));

const DERIVATIONS: Readonly<Record<string, Derivation>> = {
  api: {
    handsOff: ['deployment.requested.v1', 'deployment.rollback_requested.v1', 'deployment.approved.v1'],
    enqueues: [QUEUES.designRun, QUEUES.approvalCheck],
    failsFrom: [],
    runtime: 'read',
    builds: 'cancel',
    why: 'acceptDeployment and requestRollback publish; approve publishes deployment.approved; reject and a cancel while awaiting approval wake approval-check (which, not the api, removes revisions); GET /services reads the live service; cancel stops a running build; an asynchronous design run (Prefer: respond-async) is a task on baton-design-run',
  },
  validate: {
    handsOff: ['deployment.validated.v1'],
    enqueues: [],
    failsFrom: ['validating'],
    runtime: 'none',
    builds: 'none',
    why: 'preflight, then deployment.validated; no revision exists yet',
  },
  'prepare-source': {
    handsOff: ['deployment.prepared.v1'],
    enqueues: [],
    failsFrom: ['preparing'],
    runtime: 'none',
    builds: 'none',
    why: 'writes sources/…tar.gz, then deployment.prepared',
  },
  build: {
    handsOff: ['deployment.built.v1'],
    enqueues: [],
    failsFrom: ['building'],
    runtime: 'none',
    builds: 'submit',
    why: 'submits a build as the build account; a prebuilt image hands on deployment.built at once',
  },
  'build-events': {
    handsOff: ['deployment.built.v1'],
    enqueues: [QUEUES.buildLog],
    failsFrom: ['building'],
    runtime: 'none',
    builds: 'none',
    why: "a SUCCESS notification hands on deployment.built; WORKING starts following the build's log (the first baton-build-log task), an end reads the rest of it (READS_BUILD_LOGS)",
  },
  'build-log': {
    handsOff: [],
    enqueues: [QUEUES.buildLog],
    failsFrom: [],
    runtime: 'none',
    builds: 'none',
    why: "one read of a running build's log from the logs bucket (READS_BUILD_LOGS), then the next read",
  },
  deploy: {
    handsOff: [],
    enqueues: [QUEUES.verifyPoll],
    failsFrom: ['deploying'],
    runtime: 'write',
    builds: 'none',
    why: 'creates a revision (runs as the runtime account), then the first readiness poll',
  },
  verify: {
    handsOff: ['deployment.verified.v1'],
    enqueues: [QUEUES.verifyPoll],
    failsFrom: ['verifying'],
    runtime: 'write',
    builds: 'none',
    why: 'reads revision and service, polls again or hands on deployment.verified; a failure removes the revision',
  },
  'test-candidate': {
    handsOff: ['deployment.tested.v1'],
    enqueues: [QUEUES.testSlice],
    failsFrom: ['testing'],
    runtime: 'write',
    builds: 'none',
    why: 'reads the candidate revision and tests its tagged URL; a load test goes on in slices; a failure removes the revision',
  },
  'test-slice': {
    handsOff: ['deployment.tested.v1'],
    enqueues: [QUEUES.testSlice],
    failsFrom: ['testing'],
    runtime: 'write',
    builds: 'none',
    why: 'one load-test slice: the next slice, or the combined verdict and deployment.tested; a failure removes the revision',
  },
  'approval-gate': {
    handsOff: ['deployment.approved.v1'],
    enqueues: [QUEUES.approvalCheck],
    failsFrom: ['awaiting_approval'],
    runtime: 'write',
    builds: 'none',
    why: 'no approval needed: deployment.approved at once; else records the wait and schedules its deadline; a cancel found at the boundary removes the revision',
  },
  'approval-check': {
    handsOff: [],
    enqueues: [QUEUES.approvalCheck],
    failsFrom: ['awaiting_approval'],
    runtime: 'write',
    builds: 'none',
    why: 'a rejected, expired or cancelled wait fails or cancels the deployment: the candidate is removed or rolled back (it enqueues nothing itself: its module builds the check tasks the gate and the api send)',
  },
  promote: {
    handsOff: [],
    enqueues: [QUEUES.promoteStep],
    failsFrom: ['promoting'],
    runtime: 'write',
    builds: 'none',
    why: 'writes the traffic split; a canary schedules its next step',
  },
  'canary-step': {
    handsOff: [],
    enqueues: [QUEUES.promoteStep],
    failsFrom: ['promoting'],
    runtime: 'write',
    builds: 'none',
    why: 'one check of a canary window: reads the metrics (READS_METRICS), the next check or the next step; a breach rolls back',
  },
  rollback: {
    handsOff: [],
    enqueues: [QUEUES.rollbackPoll],
    failsFrom: ['rolling_back'],
    runtime: 'write',
    builds: 'none',
    why: 'writes the traffic split back, then polls until the runtime serves it; a failed rollback ends failed',
  },
  'rollback-check': {
    handsOff: [],
    enqueues: [QUEUES.rollbackPoll],
    failsFrom: ['rolling_back'],
    runtime: 'write',
    builds: 'none',
    why: 'once the runtime serves the restored split, deletes the failed revision; otherwise polls again',
  },
  'dead-letter': {
    handsOff: [],
    enqueues: [],
    failsFrom: RUNNING,
    runtime: 'write',
    builds: 'none',
    why: 'fails the deployment a dead message named, whatever its status; that may roll back or remove a revision',
  },
  'design-run': {
    handsOff: [],
    enqueues: [],
    failsFrom: [],
    runtime: 'none',
    builds: 'none',
    why: 'runs (or resumes) one design execution: calls agents over HTTP, writes execution_logs',
  },
  'designs-scheduled': {
    handsOff: [],
    enqueues: [QUEUES.designRun],
    failsFrom: [],
    runtime: 'none',
    builds: 'none',
    why: "Cloud Scheduler's target: a firing is a task on baton-design-run, or a skipped log on overlap",
  },
  'designs-sweep': {
    handsOff: [],
    enqueues: [QUEUES.designRun],
    failsFrom: [],
    runtime: 'none',
    builds: 'none',
    why: 'hands design runs whose lease lapsed (a dead worker) back to baton-design-run',
  },
  deployed: {
    handsOff: [],
    enqueues: [QUEUES.designRun],
    failsFrom: [],
    runtime: 'none',
    builds: 'none',
    why: 'the public POST /api/deployed/{path}: a sync run calls agents and, past its deadline, goes on as a task on baton-design-run; Prefer: respond-async is a task there',
  },
  watchdog: {
    handsOff: [],
    enqueues: [],
    failsFrom: RUNNING.filter((s) => s !== 'queued'),
    runtime: 'write',
    builds: 'none',
    why: 'fails deployments stuck past their stage deadline; that may roll back or remove a revision',
  },
};

/** True when the function can end a job (fail it, or finish its stage's last step), so releaseSlots may run in it. */
export function endsJobs(d: { failsFrom: readonly Status[] }): boolean {
  return d.failsFrom.length > 0;
}

/** True when failDeployment, called on a job in one of these statuses, may publish the rollback hand-off. */
export function mayRollBack(statuses: readonly Status[]): boolean {
  return statuses.some((s) => canTransition(s, 'rolling_back'));
}

function needsOf(d: Derivation): FunctionNeeds {
  const topics = new Set<Topic>(d.handsOff.map((type) => TOPIC_OF_EVENT[type]));
  if (mayRollBack(d.failsFrom)) topics.add(TOPICS.rollbackRequested);
  // releaseSlots: a function that can end a job starts the deployments waiting behind it (their requested events).
  if (endsJobs(d)) topics.add(TOPICS.deploymentRequested);
  return {
    publishes: [...topics].sort(),
    enqueues: [...new Set(d.enqueues)].sort(),
    runtime: d.runtime,
    builds: d.builds,
    why: d.why,
  };
}

export const FUNCTION_NEEDS: Readonly<Record<string, FunctionNeeds>> = Object.fromEntries(
  Object.entries(DERIVATIONS).map(([name, d]) => [name, needsOf(d)]),
);

/** The event types each function's own code hands off (the rollback hand-off of failDeployment aside). */
export const HANDS_OFF: Readonly<Record<string, readonly EventType[]>> = Object.fromEntries(
  Object.entries(DERIVATIONS).map(([name, d]) => [name, d.handsOff]),
);

/**
 * Functions that read Cloud Monitoring (roles/monitoring.viewer): the CanaryMetrics port is called
 * only by the canary analysis's checks (shared/pipeline/promote.ts analyse, from canaryStep);
 * promote opens the first window without measuring anything.
 */
export const READS_METRICS = ['canary-step'] as const;

/**
 * Functions that read Cloud Build's logs in the logs bucket (objectViewer there): those whose code
 * reaches shared/pipeline/build-log.ts (copyBuildLog, through Builder.readLog) — the build-log
 * polls and build-events' last read of an ended build. The test derives the same list from the
 * import closures.
 */
export const READS_BUILD_LOGS = ['build-events', 'build-log'] as const;

/** Functions called over HTTPS by clients rather than by a topic, a queue or a schedule. */
export const HTTP_FUNCTIONS = ['api', 'designs-scheduled', 'deployed'] as const;

/**
 * A composite index as Firestore defines it: collection, then fields in order (a trailing
 * __name__ in the direction of the last field is implicit). From the queries of
 * shared/adapters/gcp/job-store.ts:
 * - list(): equality on any of agent_id, status, kind, ordered by created_at desc (then document
 *   id): one index per filter field with that order serves every combination, as Firestore merges
 *   equality indexes that share the order-by suffix; an unfiltered list uses the automatic
 *   single-field index;
 * - countActive(): agent_id ==, kind ==, status in [...].
 */
export interface IndexSpec {
  collection: string;
  fields: readonly (readonly [field: string, order: 'ASCENDING' | 'DESCENDING'])[];
}

export const FIRESTORE_INDEXES_NEEDED: readonly IndexSpec[] = [
  {
    collection: 'deployment_jobs',
    fields: [
      ['agent_id', 'ASCENDING'],
      ['created_at', 'DESCENDING'],
    ],
  },
  {
    collection: 'deployment_jobs',
    fields: [
      ['status', 'ASCENDING'],
      ['created_at', 'DESCENDING'],
    ],
  },
  {
    collection: 'deployment_jobs',
    fields: [
      ['kind', 'ASCENDING'],
      ['created_at', 'DESCENDING'],
    ],
  },
  {
    collection: 'deployment_jobs',
    fields: [
      ['agent_id', 'ASCENDING'],
      ['kind', 'ASCENDING'],
      ['status', 'ASCENDING'],
    ],
  },
  // The dashboard's list of the signed-in user's jobs (dashboard/src/firestore-live.ts).
  {
    collection: 'deployment_jobs',
    fields: [
      ['owner', 'ASCENDING'],
      ['created_at', 'DESCENDING'],
    ],
  },
  // Deployed designs: shared/adapters/gcp/design-store.ts (DESIGN_FIRESTORE_INDEXES).
  {
    collection: 'execution_logs',
    fields: [
      ['deployment_id', 'ASCENDING'],
      ['started_at', 'DESCENDING'],
    ],
  },
  {
    collection: 'execution_logs',
    fields: [
      ['deployment_id', 'ASCENDING'],
      ['status', 'ASCENDING'],
      ['started_at', 'DESCENDING'],
    ],
  },
  {
    collection: 'execution_logs',
    fields: [
      ['deployment_id', 'ASCENDING'],
      ['trigger_type', 'ASCENDING'],
      ['started_at', 'DESCENDING'],
    ],
  },
  {
    collection: 'execution_logs',
    fields: [
      ['deployment_id', 'ASCENDING'],
      ['status', 'ASCENDING'],
      ['trigger_type', 'ASCENDING'],
      ['started_at', 'DESCENDING'],
    ],
  },
  {
    collection: 'design_endpoints',
    fields: [
      ['status', 'ASCENDING'],
      ['created_at', 'DESCENDING'],
    ],
  },
  // listLapsedRuns: status == running, lease_until < t, ordered by lease_until.
  {
    collection: 'execution_logs',
    fields: [
      ['status', 'ASCENDING'],
      ['lease_until', 'ASCENDING'],
    ],
  },
];

/**
 * Fields Firestore deletes documents by (TTL): none. The processed_events markers that had one are
 * gone: every handler is idempotent through the claim on the job document itself.
 */
export const FIRESTORE_TTL_FIELDS: readonly { collection: string; field: string }[] = [{ collection: 'rate_limits', field: 'expires_at' }];

/**
 * Environment keys a function needs on Google Cloud beyond the schema's required ones: optional
 * in GcpConfigSchema (tests run without them) but without them tasks carry no identity, builds run
 * as the default account and readiness polls have nowhere to go.
 */
export const PRODUCTION_ENV = [
  'BATON_TARGET',
  'BATON_GCP_REGION',
  'BATON_ARTIFACT_REPO',
  'BATON_TASKS_SERVICE_ACCOUNT',
  'BATON_BUILD_SERVICE_ACCOUNT',
  'BATON_RUNTIME_SERVICE_ACCOUNT',
  'BATON_TASK_TARGETS',
] as const;
