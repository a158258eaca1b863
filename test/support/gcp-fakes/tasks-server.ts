import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import { FakeIam, permissionDenied } from './iam.js';

/**
 * An in-process Cloud Tasks v2 API: a @grpc/grpc-js server built from the client package's own
 * `build/protos/protos.json`, so requests are decoded exactly as the real service receives them
 * from `@google-cloud/tasks`. It implements CreateTask as the API answers it: the parent must be
 * a queue that exists (NOT_FOUND), a task name must be `<queue>/tasks/<id>` with id
 * `[A-Za-z0-9_-]{1,500}` (INVALID_ARGUMENT), a dispatchDeadline outside 15 s–30 min (INVALID_ARGUMENT), a name once used is refused with ALREADY_EXISTS
 * (forever here; about an hour after the task ran or was deleted on Cloud Tasks), an HTTP target
 * needs an http(s) url, a body needs POST/PUT/PATCH, and scheduleTime may be at most 30 days
 * ahead. It records every call (method, decoded request with bytes as base64, metadata, status)
 * and keeps the created tasks. Other methods answer UNIMPLEMENTED. Permissions revoked through
 * `iam` are refused first, as Google's front end does, with PERMISSION_DENIED in the API's words
 * and shape (see iam.ts): `cloudtasks.tasks.create` on the queue, and `iam.serviceAccounts.actAs`
 * on the service account an OIDC token is requested for.
 *
 * What it does NOT prove: that tasks are ever dispatched (nothing calls the target URL, so
 * schedule times, retries, back-off, rate limits and dispatch deadlines are untested), that the
 * OIDC token is minted or accepted (the service account's roles/iam.serviceAccountUser and the
 * function's roles/run.invoker are not checked), authentication of the caller, queue state
 * (paused/disabled), quotas and the 1 MB task size limit, exact error texts, or latency.
 */

const SERVICE = 'google.cloud.tasks.v2.CloudTasks';
const MAX_AHEAD_S = 30 * 24 * 3600;

export interface RecordedCall {
  method: string;
  request: Record<string, unknown>;
  metadata: Record<string, unknown>;
  /** The gRPC status answered: 0 is OK. */
  code: number;
}

interface Timestamp {
  seconds?: string | number;
  nanos?: number;
}

export interface FakeTask {
  name: string;
  scheduleTime: Timestamp;
  createTime: Timestamp;
  httpRequest: Record<string, unknown>;
  dispatchDeadline?: unknown;
}

export interface FakeTasksOptions {
  /** Queues that exist, as full paths: projects/P/locations/L/queues/Q. */
  queues?: string[];
  /** The service's clock (ms), for the 30-day check. */
  now?: () => number;
}

class RpcError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

export class FakeCloudTasksServer {
  readonly calls: RecordedCall[] = [];
  readonly tasks = new Map<string, FakeTask>();
  readonly iam = new FakeIam();
  private readonly queues = new Set<string>();
  private readonly now: () => number;

  private constructor(
    private readonly server: grpc.Server,
    private readonly port: number,
    options: FakeTasksOptions,
  ) {
    for (const q of options.queues ?? []) this.createQueue(q);
    this.now = options.now ?? Date.now;
  }

  static async start(options: FakeTasksOptions = {}): Promise<FakeCloudTasksServer> {
    const server = new grpc.Server();
    let fake: FakeCloudTasksServer | undefined;
    const service = loadService('@google-cloud/tasks', SERVICE);
    server.addService(service, {
      CreateTask: (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        fake?.unary('CreateTask', call, callback, (req) => fake?.createTask(req));
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    fake = new FakeCloudTasksServer(server, port, options);
    return fake;
  }

  /** The base URL for BATON_TASKS_ENDPOINT. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  createQueue(path: string): void {
    if (!/^projects\/[^/]+\/locations\/[^/]+\/queues\/[A-Za-z0-9-]{1,100}$/.test(path)) throw new Error(`bad queue path ${path}`);
    this.queues.add(path);
  }

  /** Recorded calls of one method. */
  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  async close(): Promise<void> {
    this.server.forceShutdown();
  }

  private unary(
    method: string,
    call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>,
    callback: grpc.sendUnaryData<unknown>,
    run: (req: Record<string, unknown>) => unknown,
  ): void {
    const record: RecordedCall = { method, request: call.request, metadata: call.metadata.getMap(), code: grpc.status.OK };
    this.calls.push(record);
    try {
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

  private createTask(req: Record<string, unknown>): unknown {
    const parent = String(req.parent ?? '');
    if (this.iam.isDenied('cloudtasks.tasks.create')) throw permissionDenied('cloudtasks.tasks.create', parent);
    if (!this.queues.has(parent)) {
      if (!/^projects\/[^/]+\/locations\/[^/]+\/queues\/[^/]+$/.test(parent)) {
        throw new RpcError(grpc.status.INVALID_ARGUMENT, `Invalid resource field value in the request: parent ${parent}`);
      }
      throw new RpcError(grpc.status.NOT_FOUND, `Requested entity was not found: queue ${parent}`);
    }
    const task = (req.task ?? {}) as Record<string, unknown>;
    let name = typeof task.name === 'string' && task.name !== '' ? task.name : undefined;
    if (name !== undefined) {
      const id = name.startsWith(`${parent}/tasks/`) ? name.slice(parent.length + 7) : undefined;
      if (id === undefined || !/^[A-Za-z0-9_-]{1,500}$/.test(id)) {
        throw new RpcError(
          grpc.status.INVALID_ARGUMENT,
          `Task name must be "${parent}/tasks/TASK_ID" with TASK_ID of [A-Za-z0-9_-]{1,500}: ${name}`,
        );
      }
      if (this.tasks.has(name)) throw new RpcError(grpc.status.ALREADY_EXISTS, 'Requested entity already exists');
    } else {
      name = `${parent}/tasks/${String(this.tasks.size + 1).padStart(20, '0')}`;
    }
    const http = task.httpRequest as Record<string, unknown> | undefined;
    if (!http) throw new RpcError(grpc.status.INVALID_ARGUMENT, 'the fake supports HTTP targets only: task.http_request is required');
    if (typeof http.url !== 'string' || !/^https?:\/\/[^/\s]+/.test(http.url)) {
      throw new RpcError(grpc.status.INVALID_ARGUMENT, `HttpRequest.url must start with http:// or https://: ${String(http.url)}`);
    }
    const oidc = http.oidcToken as { serviceAccountEmail?: string } | undefined;
    if (oidc?.serviceAccountEmail && this.iam.isDenied('iam.serviceAccounts.actAs')) {
      throw permissionDenied('iam.serviceAccounts.actAs', oidc.serviceAccountEmail);
    }
    const method = String(http.httpMethod ?? 'POST');
    if (http.body !== undefined && String(http.body) !== '' && !['POST', 'PUT', 'PATCH'].includes(method)) {
      throw new RpcError(grpc.status.INVALID_ARGUMENT, `HttpRequest.body is allowed only for POST, PUT and PATCH, not ${method}`);
    }
    const nowS = Math.floor(this.now() / 1000);
    const schedule = task.scheduleTime as Timestamp | undefined;
    if (schedule && Number(schedule.seconds ?? 0) > nowS + MAX_AHEAD_S) {
      throw new RpcError(grpc.status.INVALID_ARGUMENT, 'The scheduled time must not be more than 30 days in the future');
    }
    const deadline = task.dispatchDeadline as { seconds?: string | number; nanos?: number } | undefined;
    if (deadline) {
      const s = Number(deadline.seconds ?? 0) + Number(deadline.nanos ?? 0) / 1e9;
      if (s < 15 || s > 1800) throw new RpcError(grpc.status.INVALID_ARGUMENT, 'dispatch_deadline must be between 15s and 1800s');
    }
    const stored: FakeTask = {
      name,
      scheduleTime: schedule ?? { seconds: String(nowS), nanos: 0 },
      createTime: { seconds: String(nowS), nanos: 0 },
      httpRequest: http,
      dispatchDeadline: task.dispatchDeadline,
    };
    this.tasks.set(name, stored);
    // The BASIC view, as the API answers by default: no body.
    const { body: _body, ...basic } = http;
    return { name, scheduleTime: stored.scheduleTime, createTime: stored.createTime, httpRequest: basic, view: 'BASIC', dispatchCount: 0 };
  }
}

/** An error that already is a gRPC answer (code, details, trailers), sent as it is. */
export function isServiceError(err: unknown): err is grpc.ServiceError {
  return (
    err instanceof Error &&
    typeof (err as { code?: unknown }).code === 'number' &&
    (err as { metadata?: unknown }).metadata instanceof grpc.Metadata
  );
}

/** Loads one service from a Google client package's own protos.json, decoding as the server side: bytes as base64, enums as names. */
export function loadService(packageName: string, service: string): grpc.ServiceDefinition {
  const json = JSON.parse(readFileSync(join(packageRoot(packageName), 'build', 'protos', 'protos.json'), 'utf8')) as Parameters<
    typeof fromJSON
  >[0];
  const definition = fromJSON(json, { keepCase: false, longs: String, enums: String, bytes: String, defaults: false, oneofs: true });
  const found = definition[service];
  if (!found || 'format' in found) throw new Error(`${service} is not a service in ${packageName}'s protos`);
  return found as grpc.ServiceDefinition;
}

function packageRoot(packageName: string): string {
  const require = createRequire(import.meta.url);
  let dir = dirname(require.resolve(packageName));
  while (dir !== dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === packageName) return dir;
    dir = dirname(dir);
  }
  throw new Error(`cannot find the folder of ${packageName}`);
}
