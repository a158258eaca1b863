import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type { protos } from '@google-cloud/cloudbuild';
import * as grpc from '@grpc/grpc-js';
import { FakeIam, rpcStatusError } from './iam.js';
import { protoKit } from './proto-kit.js';

/**
 * An in-process Cloud Build (`google.devtools.cloudbuild.v1.CloudBuild` over gRPC), served from
 * the client package's own `build/protos/protos.json`, so requests are decoded with exactly the
 * schema `@google-cloud/cloudbuild` encodes them with.
 *
 * - CreateBuild records the request as decoded (camelCase, enums and int64 as strings, fields the
 *   client did not set absent) and answers with a long-running Operation that is NOT done, whose
 *   metadata is `BuildOperationMetadata {build}` packed in an Any: the build has an id, a name
 *   under the request's parent, status QUEUED, createTime and logUrl, plus what was asked.
 * - GetBuild returns the stored build; CancelBuild cancels a build that has not finished (status
 *   CANCELLED, finishTime) and refuses a finished one with FAILED_PRECONDITION.
 * - google.longrunning.Operations.GetOperation answers for the create operations (still running
 *   unless `setStatus` finished the build), so a client that polled would be served; `calls`
 *   counts every method, so a test can prove nobody polled.
 * - `setStatus` moves a build along by hand; the fake never moves one by itself.
 * - Refused as Cloud Build refuses them: a permission revoked through `iam`
 *   (`cloudbuild.builds.create` for CreateBuild, `cloudbuild.builds.update` for CancelBuild) with
 *   PERMISSION_DENIED "The caller does not have permission", checked first; a tag not matching
 *   `^[\w][\w.-]{0,127}$` and a user substitution key not matching `^_[A-Z0-9_]+$` with
 *   INVALID_ARGUMENT "invalid build: …".
 *
 * What it does NOT prove: nothing is built: no source is fetched from Cloud Storage (a missing
 * archive or bucket goes unnoticed), no step runs, no Dockerfile is generated or read, no image
 * is pushed, no digest exists; no `cloud-builds` notification is published (tests feed
 * notifications to the handler themselves); no IAM (the build's service account, its log bucket
 * rules, Artifact Registry write access); no validation of step images, MUST_MATCH substitutions, timeouts or queue TTL; no regional availability; exact error
 * texts and Cloud Build's real answer to cancelling a finished build are not Google's.
 */

type IBuild = protos.google.devtools.cloudbuild.v1.IBuild;
export type BuildStatusName = 'QUEUED' | 'WORKING' | 'SUCCESS' | 'FAILURE' | 'INTERNAL_ERROR' | 'TIMEOUT' | 'CANCELLED' | 'EXPIRED';

export interface CloudBuildFake {
  /** `http://127.0.0.1:PORT`, for BATON_CLOUDBUILD_ENDPOINT. */
  endpoint: string;
  /** Every CreateBuild request, as decoded. */
  readonly createRequests: Record<string, unknown>[];
  readonly cancelRequests: Record<string, unknown>[];
  /** Calls per method name (CreateBuild, GetBuild, CancelBuild, GetOperation, …). */
  readonly calls: Record<string, number>;
  readonly builds: Map<string, IBuild>;
  /** Permissions to refuse (all are granted until denied). */
  readonly iam: FakeIam;
  setStatus(id: string, status: BuildStatusName, extra?: Partial<IBuild>): IBuild;
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);
const PROTOS = require('@google-cloud/cloudbuild/build/protos/protos.json') as object;
const TERMINAL = new Set(['SUCCESS', 'FAILURE', 'INTERNAL_ERROR', 'TIMEOUT', 'CANCELLED', 'EXPIRED']);

class FakeError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

function timestamp(ms = Date.now()) {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

export async function startCloudBuildFake(): Promise<CloudBuildFake> {
  const { definition, pack } = protoKit(PROTOS);

  const createRequests: Record<string, unknown>[] = [];
  const cancelRequests: Record<string, unknown>[] = [];
  const calls: Record<string, number> = {};
  const builds = new Map<string, IBuild>();
  const iam = new FakeIam();
  /** Operation name → build id. */
  const operations = new Map<string, string>();

  const operationOf = (name: string, id: string) => {
    const build = builds.get(id) ?? {};
    const done = TERMINAL.has(String(build.status));
    const metadata = pack('google.devtools.cloudbuild.v1.BuildOperationMetadata', { build });
    return done ? { name, done, metadata, response: pack('google.devtools.cloudbuild.v1.Build', build) } : { name, done, metadata };
  };

  const requirePermission = (permission: string) => {
    // Cloud Build's answer names no permission and carries no ErrorInfo.
    if (iam.isDenied(permission)) throw rpcStatusError(grpc.status.PERMISSION_DENIED, 'The caller does not have permission');
  };

  const buildId = (req: { id?: string; name?: string }): string => req.id || (req.name ?? '').split('/').pop() || '';
  const existing = (id: string): IBuild => {
    const b = builds.get(id);
    if (!b) throw new FakeError(grpc.status.NOT_FOUND, `build ${id} not found`);
    return b;
  };

  const handlers: Record<string, (req: never) => object> = {
    CreateBuild: (req: { parent?: string; projectId?: string; build?: IBuild }) => {
      createRequests.push(structuredClone(req) as Record<string, unknown>);
      requirePermission('cloudbuild.builds.create');
      if (!req.projectId) throw new FakeError(grpc.status.INVALID_ARGUMENT, 'project_id is required');
      if (!req.build) throw new FakeError(grpc.status.INVALID_ARGUMENT, 'build is required');
      checkBuild(req.build);
      const id = randomUUID();
      const parent = req.parent || `projects/${req.projectId}/locations/global`;
      const location = parent.split('/')[3] ?? 'global';
      const build: IBuild = {
        ...req.build,
        id,
        name: `${parent}/builds/${id}`,
        projectId: req.projectId,
        status: 'QUEUED',
        createTime: timestamp(),
        logUrl: `https://console.cloud.google.com/cloud-build/builds;region=${location}/${id}?project=${req.projectId}`,
      };
      builds.set(id, build);
      const opName = `${parent}/operations/${Buffer.from(`build-${id}`).toString('base64url')}`;
      operations.set(opName, id);
      return operationOf(opName, id);
    },
    GetBuild: (req: { id?: string; name?: string }) => existing(buildId(req)),
    CancelBuild: (req: { id?: string; name?: string; projectId?: string }) => {
      cancelRequests.push(structuredClone(req) as Record<string, unknown>);
      requirePermission('cloudbuild.builds.update');
      const build = existing(buildId(req));
      if (TERMINAL.has(String(build.status))) throw new FakeError(grpc.status.FAILED_PRECONDITION, `build is already ${build.status}`);
      build.status = 'CANCELLED';
      build.finishTime = timestamp();
      return build;
    },
    GetOperation: (req: { name?: string }) => {
      const id = operations.get(req.name ?? '');
      if (!id) throw new FakeError(grpc.status.NOT_FOUND, `operation ${req.name} not found`);
      return operationOf(req.name ?? '', id);
    },
  };

  const implementation = (names: string[]): grpc.UntypedServiceImplementation =>
    Object.fromEntries(
      names.map((name) => [
        name,
        (call: grpc.ServerUnaryCall<unknown, object>, callback: grpc.sendUnaryData<object>) => {
          calls[name] = (calls[name] ?? 0) + 1;
          try {
            callback(null, handlers[name](call.request as never));
          } catch (err) {
            if (err instanceof Error && 'metadata' in err && err.metadata instanceof grpc.Metadata) {
              callback(err as grpc.ServiceError);
              return;
            }
            const code = err instanceof FakeError ? err.code : grpc.status.INTERNAL;
            callback({ code, details: err instanceof Error ? err.message : String(err) });
          }
        },
      ]),
    );

  const server = new grpc.Server();
  server.addService(
    definition['google.devtools.cloudbuild.v1.CloudBuild'] as grpc.ServiceDefinition,
    implementation(['CreateBuild', 'GetBuild', 'CancelBuild']),
  );
  server.addService(definition['google.longrunning.Operations'] as grpc.ServiceDefinition, implementation(['GetOperation']));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );

  return {
    endpoint: `http://127.0.0.1:${port}`,
    createRequests,
    cancelRequests,
    calls,
    builds,
    iam,
    setStatus(id, status, extra = {}) {
      const build = existing(id);
      Object.assign(build, extra, { status });
      if (status === 'WORKING' && !build.startTime) build.startTime = timestamp();
      if (TERMINAL.has(status)) build.finishTime = timestamp();
      return build;
    },
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

/** What Cloud Build validates in a build's tags and user substitutions. */
function checkBuild(build: IBuild): void {
  for (const tag of build.tags ?? []) {
    if (!/^[\w][\w.-]{0,127}$/.test(tag)) {
      throw new FakeError(
        grpc.status.INVALID_ARGUMENT,
        `invalid build: invalid build tag "${tag}": must match format "^[\\w][\\w.-]{0,127}$"`,
      );
    }
  }
  for (const key of Object.keys(build.substitutions ?? {})) {
    if (!/^_[A-Z0-9_]+$/.test(key)) {
      throw new FakeError(
        grpc.status.INVALID_ARGUMENT,
        `invalid build: invalid value for 'build.substitutions': key in the template "${key}" is not a valid built-in substitution`,
      );
    }
  }
}
