import * as grpc from '@grpc/grpc-js';
import { FakeIam, permissionDenied } from './iam.js';
import { isServiceError, loadService, type RecordedCall } from './tasks-server.js';

/**
 * An in-process Cloud Scheduler v1 API: a @grpc/grpc-js server built from
 * `@google-cloud/scheduler`'s own `build/protos/protos.json`. It implements CreateJob, UpdateJob
 * (with its update_mask: listed fields are replaced, an unset listed field is cleared, setting one
 * target clears the others as a proto oneof does; an empty mask replaces every updatable field),
 * GetJob, PauseJob, ResumeJob and DeleteJob, answering as the API documents: NOT_FOUND for a job
 * that does not exist, ALREADY_EXISTS for a name in use, INVALID_ARGUMENT for a name not under its
 * parent or not `[A-Za-z0-9_-]{1,500}`, a schedule without five fields, an unknown time zone, no
 * target, a Pub/Sub target without data or attributes, or an HTTP target without an http(s) uri;
 * FAILED_PRECONDITION for pausing a job that is not ENABLED or resuming one that is not PAUSED
 * ("a job must be in ENABLED to be paused"). Output-only fields (state, user_update_time) are set
 * here. Every call is recorded with its decoded request (bytes as base64). ListJobs and RunJob
 * answer UNIMPLEMENTED. A permission revoked through `iam` (`cloudscheduler.jobs.<verb>`: create,
 * update, get, pause, enable, delete) is refused before anything else with PERMISSION_DENIED, in
 * the API's words and shape (see iam.ts).
 *
 * What it does NOT prove: that a job ever runs (no schedule is evaluated, so cron semantics, time
 * zones and DST, retries and attempt deadlines are untested here; the local scheduler's own tests
 * cover cron), that Google accepts exactly the cron syntax Baton's parser does (this fake checks only
 * the field count), that the Pub/Sub topic exists or Cloud Scheduler's service agent may publish to
 * it, OIDC token minting and the invoker role, authentication, quotas (1,000 jobs per region),
 * App Engine targets, or exact error texts.
 */

const SERVICE = 'google.cloud.scheduler.v1.CloudScheduler';

type Obj = Record<string, unknown>;

const TARGETS = ['pubsubTarget', 'httpTarget', 'appEngineHttpTarget'] as const;
const UPDATABLE: Record<string, string> = {
  description: 'description',
  schedule: 'schedule',
  time_zone: 'timeZone',
  pubsub_target: 'pubsubTarget',
  http_target: 'httpTarget',
  app_engine_http_target: 'appEngineHttpTarget',
  retry_config: 'retryConfig',
  attempt_deadline: 'attemptDeadline',
};

const PERMISSION_VERB: Record<string, string> = {
  CreateJob: 'create',
  UpdateJob: 'update',
  GetJob: 'get',
  PauseJob: 'pause',
  ResumeJob: 'enable',
  DeleteJob: 'delete',
};

class RpcError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

export class FakeCloudSchedulerServer {
  readonly calls: RecordedCall[] = [];
  readonly jobs = new Map<string, Obj>();
  readonly iam = new FakeIam();

  private constructor(
    private readonly server: grpc.Server,
    private readonly port: number,
  ) {}

  static async start(): Promise<FakeCloudSchedulerServer> {
    const server = new grpc.Server();
    let fake: FakeCloudSchedulerServer | undefined;
    const handler =
      (method: string, run: (f: FakeCloudSchedulerServer, req: Obj) => unknown) =>
      (call: grpc.ServerUnaryCall<Obj, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        if (fake) fake.unary(method, call, callback, (req) => run(fake as FakeCloudSchedulerServer, req));
      };
    server.addService(loadService('@google-cloud/scheduler', SERVICE), {
      CreateJob: handler('CreateJob', (f, r) => f.createJob(r)),
      UpdateJob: handler('UpdateJob', (f, r) => f.updateJob(r)),
      GetJob: handler('GetJob', (f, r) => f.found(r.name)),
      PauseJob: handler('PauseJob', (f, r) => f.setState(r.name, 'ENABLED', 'PAUSED')),
      ResumeJob: handler('ResumeJob', (f, r) => f.setState(r.name, 'PAUSED', 'ENABLED')),
      DeleteJob: handler('DeleteJob', (f, r) => f.deleteJob(r.name)),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    fake = new FakeCloudSchedulerServer(server, port);
    return fake;
  }

  /** The base URL for BATON_SCHEDULER_ENDPOINT. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  async close(): Promise<void> {
    this.server.forceShutdown();
  }

  private unary(
    method: string,
    call: grpc.ServerUnaryCall<Obj, unknown>,
    callback: grpc.sendUnaryData<unknown>,
    run: (req: Obj) => unknown,
  ): void {
    const record: RecordedCall = { method, request: call.request, metadata: call.metadata.getMap(), code: grpc.status.OK };
    this.calls.push(record);
    try {
      const permission = `cloudscheduler.jobs.${PERMISSION_VERB[method] ?? method.toLowerCase()}`;
      if (this.iam.isDenied(permission)) {
        const req = call.request as { name?: unknown; parent?: unknown; job?: { name?: unknown } };
        throw permissionDenied(permission, String(req.name ?? req.job?.name ?? req.parent ?? ''));
      }
      callback(null, run(call.request));
    } catch (err) {
      if (isServiceError(err)) {
        record.code = err.code;
        callback(err);
        return;
      }
      const e = err instanceof RpcError ? err : new RpcError(grpc.status.INTERNAL, err instanceof Error ? err.message : String(err));
      record.code = e.code;
      callback({ code: e.code, details: e.message, name: 'RpcError', message: e.message, metadata: new grpc.Metadata() });
    }
  }

  private found(name: unknown): Obj {
    const job = this.jobs.get(String(name ?? ''));
    if (!job) throw new RpcError(grpc.status.NOT_FOUND, `Job not found: ${String(name)}`);
    return job;
  }

  private createJob(req: Obj): Obj {
    const parent = String(req.parent ?? '');
    if (!/^projects\/[^/]+\/locations\/[^/]+$/.test(parent)) throw new RpcError(grpc.status.INVALID_ARGUMENT, `Invalid parent: ${parent}`);
    const job = { ...((req.job ?? {}) as Obj) };
    const name = String(job.name ?? '');
    const id = name.startsWith(`${parent}/jobs/`) ? name.slice(parent.length + 6) : '';
    if (!/^[A-Za-z0-9_-]{1,500}$/.test(id)) {
      throw new RpcError(
        grpc.status.INVALID_ARGUMENT,
        `Job name must be "${parent}/jobs/JOB_ID" with JOB_ID of [A-Za-z0-9_-]{1,500}: ${name}`,
      );
    }
    if (this.jobs.has(name)) throw new RpcError(grpc.status.ALREADY_EXISTS, `Job ${name} already exists`);
    const stored = this.validated({ ...stripOutputOnly(job), state: 'ENABLED', userUpdateTime: now() });
    this.jobs.set(name, stored);
    return stored;
  }

  private updateJob(req: Obj): Obj {
    const patch = (req.job ?? {}) as Obj;
    const current = this.found(patch.name);
    const paths = ((req.updateMask as { paths?: string[] } | undefined)?.paths ?? []).filter((p) => p !== '');
    const fields = paths.length === 0 ? Object.keys(UPDATABLE) : paths;
    const next: Obj = { ...current };
    for (const path of fields) {
      const field = UPDATABLE[path];
      if (!field) throw new RpcError(grpc.status.INVALID_ARGUMENT, `update_mask path "${path}" is not an updatable field of Job`);
      const value = patch[field];
      if (value === undefined || value === null) {
        delete next[field];
      } else {
        if ((TARGETS as readonly string[]).includes(field)) for (const t of TARGETS) delete next[t];
        next[field] = value;
      }
    }
    const stored = this.validated({ ...next, userUpdateTime: now() });
    this.jobs.set(String(current.name), stored);
    return stored;
  }

  private setState(name: unknown, from: string, to: string): Obj {
    const job = this.found(name);
    if (job.state !== from) {
      throw new RpcError(
        grpc.status.FAILED_PRECONDITION,
        `Job ${String(name)} is ${String(job.state)}; it must be ${from} to become ${to}`,
      );
    }
    const stored = { ...job, state: to, userUpdateTime: now() };
    this.jobs.set(String(name), stored);
    return stored;
  }

  private deleteJob(name: unknown): Obj {
    this.found(name);
    this.jobs.delete(String(name));
    return {};
  }

  private validated(job: Obj): Obj {
    const schedule = String(job.schedule ?? '').trim();
    if (schedule.split(/\s+/).length !== 5)
      throw new RpcError(grpc.status.INVALID_ARGUMENT, `Schedule or time zone is invalid: "${schedule}"`);
    const timeZone = String(job.timeZone ?? '') || 'Etc/UTC';
    try {
      new Intl.DateTimeFormat('en-US', { timeZone });
    } catch {
      throw new RpcError(grpc.status.INVALID_ARGUMENT, `Schedule or time zone is invalid: time zone "${timeZone}"`);
    }
    const targets = TARGETS.filter((t) => job[t] !== undefined && job[t] !== null);
    if (targets.length !== 1) throw new RpcError(grpc.status.INVALID_ARGUMENT, 'A job needs exactly one target');
    if (targets[0] === 'appEngineHttpTarget')
      throw new RpcError(grpc.status.INVALID_ARGUMENT, 'the fake does not support App Engine targets');
    if (targets[0] === 'pubsubTarget') {
      const t = job.pubsubTarget as Obj;
      if (!/^projects\/[^/]+\/topics\/[^/]+$/.test(String(t.topicName ?? ''))) {
        throw new RpcError(
          grpc.status.INVALID_ARGUMENT,
          `PubsubTarget.topic_name must be projects/PROJECT/topics/TOPIC: ${String(t.topicName)}`,
        );
      }
      const hasAttributes = Object.keys((t.attributes as Obj | undefined) ?? {}).length > 0;
      if (!t.data && !hasAttributes)
        throw new RpcError(grpc.status.INVALID_ARGUMENT, 'PubsubMessage must contain either non-empty data, or at least one attribute');
    } else {
      const t = job.httpTarget as Obj;
      if (!/^https?:\/\/[^/\s]+/.test(String(t.uri ?? ''))) {
        throw new RpcError(grpc.status.INVALID_ARGUMENT, `HttpTarget.uri must start with http:// or https://: ${String(t.uri)}`);
      }
      const method = String(t.httpMethod ?? 'POST');
      if (t.body && !['POST', 'PUT', 'PATCH'].includes(method)) {
        throw new RpcError(grpc.status.INVALID_ARGUMENT, `HttpTarget.body is allowed only for POST, PUT and PATCH, not ${method}`);
      }
    }
    // `target` is the decoder's name for the oneof that is set: derived, not stored.
    const { target: _target, ...rest } = job;
    return { ...rest, timeZone };
  }
}

function stripOutputOnly(job: Obj): Obj {
  const { state: _s, userUpdateTime: _u, status: _st, scheduleTime: _t, lastAttemptTime: _l, ...rest } = job;
  return rest;
}

function now(): { seconds: string; nanos: number } {
  const ms = Date.now();
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 };
}
