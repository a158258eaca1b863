export type { BlobStore } from './blob-store.js';
export type { Builder, BuildSpec } from './builder.js';
export type { CanaryMetrics, MetricsWindow } from './canary-metrics.js';
export type { Clock } from './clock.js';
export type { Attributes, BusMessage, EventBus } from './event-bus.js';
export type { HttpProbe } from './http-probe.js';
export type { HttpTester, TesterResponse } from './http-tester.js';
export type { EnqueueResult, JobPage, JobQuery, JobStore, Mutation, Unsubscribe } from './job-store.js';
export type {
  RevisionSpec,
  RevisionState,
  RevisionStatus,
  Runtime,
  ServiceStatus,
  TrafficTarget,
} from './runtime.js';
export type { FollowOptions, RuntimeLogScope, RuntimeLogs } from './runtime-logs.js';
export type { ScheduledJob, Scheduler, ScheduleSpec, ScheduleTarget } from './scheduler.js';
export type { SourcePreparer } from './source-preparer.js';
export type { TaskQueue, TaskSpec } from './task-queue.js';
