import { randomUUID } from 'node:crypto';
import type { DesignDeps } from '../designs/deps.js';
import type { AdmissionPolicy } from '../domain/admission.js';
import { DEFAULT_ENVIRONMENTS, type Environments } from '../domain/environments.js';
import { type StageStatus, stageDef } from '../domain/pipeline.js';
import type {
  BlobStore,
  Builder,
  CanaryMetrics,
  Clock,
  EventBus,
  HttpProbe,
  HttpTester,
  JobStore,
  Runtime,
  RuntimeLogs,
  SourcePreparer,
  TaskQueue,
} from '../ports/index.js';
import type { DeploymentLogs } from './logs.js';

/** Timings and limits the use cases need; read from config by the one module that builds clients. */
export interface PipelineSettings {
  target: 'local' | 'gcp';
  /** How long a stage claim holds before a redelivery may take over (a crashed worker). */
  claim_lease_ms: number;
  /** This process, as the claims it takes record it (ClaimSchema.holder): new at every start. */
  worker_id: string;
  /**
   * True where this process alone runs stages on the job store (the local stack holds its data
   * folder's lock): a worker claim of any other process is then a dead one's, taken over at once.
   */
  sole_worker: boolean;
  /** How long a build may run before the claim lapses. */
  build_timeout_ms: number;
  /** Delay between readiness polls of a new revision. */
  verify_poll_interval_ms: number;
  /** Delay between reads of a running build's own log (a builder with readLog: Cloud Build). */
  build_log_poll_ms: number;
  /** Health checks of a ready revision before verification fails. */
  health_attempts: number;
  health_timeout_ms: number;
  /** Polls (at verify_poll_interval_ms) for the runtime to serve a rollback's split before the rollback fails. */
  reconcile_attempts: number;
  /** Running deployments allowed per agent at once. */
  max_active_per_agent: number;
  /** Running deployments allowed per owner at once; more wait in `queued` (shared/domain/admission.ts). */
  max_active_per_owner: number;
  /** Waiting deployments allowed per owner; more are refused with 429. */
  max_queued_per_owner: number;
  /** The Retry-After of that 429, in seconds. */
  queue_retry_after_s: number;
  /** The deployment environments (defaults, or the operator's file). */
  environments: Environments;
  /** The longest load-test slice one task runs: well inside a function's timeout. */
  test_slice_ms: number;
  /** Timeout of each single request of the test stage. */
  test_request_timeout_ms: number;
  /** How often a canary step's window is analysed: each check is a task, so a breach rolls back within this. */
  canary_check_ms: number;
}

export interface PipelineDeps {
  jobs: JobStore;
  bus: EventBus;
  blobs: BlobStore;
  builder: Builder;
  runtime: Runtime;
  /** What revisions write, for GET /services/{agent_id}/logs. */
  runtimeLogs: RuntimeLogs;
  tasks: TaskQueue;
  /** Requests, 5xx answers and latency per revision: the canary analysis's numbers. */
  canaryMetrics: CanaryMetrics;
  sources: SourcePreparer;
  probe: HttpProbe;
  tester: HttpTester;
  clock: Clock;
  logs: DeploymentLogs;
  newId: () => string;
  settings: PipelineSettings;
  /** Deployed designs (the endpoints API and its runs); absent where a harness does not need them. */
  designs?: DesignDeps;
}

export const DEFAULT_SETTINGS: PipelineSettings = {
  target: 'local',
  claim_lease_ms: 10 * 60_000,
  worker_id: randomUUID(),
  sole_worker: false,
  build_timeout_ms: 30 * 60_000,
  verify_poll_interval_ms: 1000,
  build_log_poll_ms: 3000,
  health_attempts: 3,
  health_timeout_ms: 5000,
  reconcile_attempts: 60,
  max_active_per_agent: 1,
  max_active_per_owner: 3,
  max_queued_per_owner: 100,
  queue_retry_after_s: 30,
  environments: DEFAULT_ENVIRONMENTS,
  test_slice_ms: 60_000,
  test_request_timeout_ms: 10_000,
  canary_check_ms: 5000,
};

/** What admission needs of the settings. */
export function admissionPolicy(settings: PipelineSettings): AdmissionPolicy {
  return {
    max_active_per_agent: settings.max_active_per_agent,
    max_active_per_owner: settings.max_active_per_owner,
    max_queued_per_owner: settings.max_queued_per_owner,
  };
}

/** The lease a stage holds while it waits, from the setting the pipeline table names for it. */
export function stageLeaseMs(settings: PipelineSettings, stage: StageStatus): number {
  return settings[stageDef(stage).lease];
}
