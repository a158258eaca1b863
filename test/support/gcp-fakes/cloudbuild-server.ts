import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { protos } from '@google-cloud/cloudbuild';
import * as grpc from '@grpc/grpc-js';
import { FakeIam, rpcStatusError } from './iam.js';
import { protoKit } from './proto-kit.js';

/**
 * An in-process Cloud Build: `google.devtools.cloudbuild.v1.CloudBuild` over gRPC, served from
 * the client package's own `build/protos/protos.json` (so requests are decoded with exactly the
 * schema `@google-cloud/cloudbuild` encodes them with), and the REST API v1's
 * `projects.locations.builds.create` (POST /v1/projects/P/locations/L/builds, the Build as JSON),
 * the only way to set `options.pubsubTopic`, which the gRPC proto lacks.
 *
 * - CreateBuild (REST, at `restEndpoint`; gRPC, at `endpoint`) records the request (`parent`,
 *   `projectId`, `build`: the JSON body as sent, or the gRPC request as decoded) and answers with
 *   a long-running Operation that is NOT done, whose metadata is `BuildOperationMetadata {build}`
 *   (JSON with its `@type`, or packed in an Any): the build has an id, a name under the parent,
 *   status QUEUED, createTime and logUrl, plus what was asked.
 * - Notifications: every state the build enters (QUEUED at create, then `setStatus` and cancels)
 *   is published, as Cloud Build does, on the build's `options.pubsubTopic`, or on
 *   `projects/P/topics/cloud-builds` when it names none: the Build resource as proto3 JSON
 *   (RFC 3339 times, "900s" durations) with attributes {buildId, status}. Recorded in
 *   `notifications` and handed to `onNotification` (a test publishes them, or feeds them to
 *   build-events).
 * - GetBuild returns the stored build; CancelBuild cancels a build that has not finished (status
 *   CANCELLED, finishTime) and refuses a finished one with FAILED_PRECONDITION.
 * - google.longrunning.Operations.GetOperation answers for the create operations (still running
 *   unless `setStatus` finished the build), so a client that polled would be served; `calls`
 *   counts every method, so a test can prove nobody polled.
 * - `setStatus` moves a build along by hand; the fake never moves one by itself.
 * - Refused as Cloud Build refuses them: a permission revoked through `iam`
 *   (`cloudbuild.builds.create` for CreateBuild, `cloudbuild.builds.update` for CancelBuild) with
 *   PERMISSION_DENIED "The caller does not have permission" (REST: 403), checked first; a tag not
 *   matching `^[\w][\w.-]{0,127}$` and a user substitution key not matching `^_[A-Z0-9_]+$` with
 *   INVALID_ARGUMENT "invalid build: …" (REST: 400). REST only, as its JSON parser does: a field
 *   the Build or its BuildOptions do not have ("Invalid JSON payload received. Unknown name …"),
 *   a timeout that is not a Duration ("900s"), a `pubsubTopic` that is not
 *   `projects/{project}/topics/{topic}` with a Pub/Sub topic id (a letter first, 3–255 of
 *   `[A-Za-z0-9-_.~+%]`, not starting "goog"), a field a BuildStep does not have, and a path that
 *   is not a builds collection (404). Both APIs: a build with no step or a step with no name; an
 *   `availableSecrets.secretManager[]` version name not of the form
 *   `projects/{project}/secrets/{secret}/versions/{version}`, or an env given twice; a step's `secretEnv` not declared
 *   there ("is used without being defined"), and a declared one no step uses ("must be used by at
 *   least one build step", Google's reference says); an unknown `options.logging` or
 *   `logStreamingOption`; a `logsBucket` that is not `gs://bucket[/folder]`; a build with its own
 *   `serviceAccount` and nowhere to log (no logsBucket, no REGIONAL_USER_OWNED_BUCKET, logging
 *   not CLOUD_LOGGING_ONLY / NONE).
 * - `appendLog` writes a growing log object (`log-<id>.txt` in the build's logsBucket) into the
 *   Storage fake, each append a new generation holding the whole log, as a streaming build does.
 *
 * What it does NOT prove: nothing is built: no source is fetched from Cloud Storage (a missing
 * archive or bucket goes unnoticed), no step runs (a git fetch step's script is run by
 * test/unit/cloudbuild-git-step.test.ts against a local git server, not here), no secret is read
 * (one that does not exist, or that the build's service account may not access, fails a real build
 * at its start and is not noticed here), no step output exists unless `setStatus` gives
 * `results.buildStepOutputs`, no log is written unless the test calls `appendLog` (its lines, their
 * timing and Cloud Build's log format — `Step #N - "id": …` — are the test's to give; a real
 * streamed log's writes may be batched otherwise, and logs to Cloud Logging are not seen at all),
 * no Dockerfile is generated or read, no image
 * is pushed, no digest exists; notifications are recorded, not published on Pub/Sub, and hold
 * only what the fake knows of the build (no steps' timing, no sourceProvenance, no results unless
 * `setStatus` gives them); a topic that does not exist, or that Cloud Build's service agent may
 * not publish to, is not noticed (Cloud Build would accept the build and its notifications would
 * be lost); no IAM (the build's service account, its log bucket rules, Artifact Registry write
 * access); no authentication of REST calls; no validation of step images, MUST_MATCH
 * substitutions or queue TTL; no regional availability; exact error texts (the pubsubTopic one
 * above all) and Cloud Build's real answer to cancelling a finished build are not Google's.
 */

type IBuild = protos.google.devtools.cloudbuild.v1.IBuild;
export type BuildStatusName = 'QUEUED' | 'WORKING' | 'SUCCESS' | 'FAILURE' | 'INTERNAL_ERROR' | 'TIMEOUT' | 'CANCELLED' | 'EXPIRED';

/** One notification as Cloud Build publishes it: on `topic`, the Build as JSON, {buildId, status}. */
export interface BuildNotificationMessage {
  /** `projects/P/topics/T`. */
  topic: string;
  data: Record<string, unknown>;
  attributes: { buildId: string; status: string };
}

export interface CloudBuildFake {
  /** `http://127.0.0.1:PORT` (gRPC), for BATON_CLOUDBUILD_ENDPOINT. */
  endpoint: string;
  /** `http://127.0.0.1:PORT` (REST), for BATON_CLOUDBUILD_REST_ENDPOINT. */
  restEndpoint: string;
  /** Every CreateBuild request: {parent, projectId, build}. */
  readonly createRequests: Record<string, unknown>[];
  /** Every notification, in publication order. */
  readonly notifications: BuildNotificationMessage[];
  readonly cancelRequests: Record<string, unknown>[];
  /** Calls per method name (CreateBuild, GetBuild, CancelBuild, GetOperation, …). */
  readonly calls: Record<string, number>;
  readonly builds: Map<string, IBuild>;
  /** Permissions to refuse (all are granted until denied). */
  readonly iam: FakeIam;
  setStatus(id: string, status: BuildStatusName, extra?: Partial<IBuild>): IBuild;
  /**
   * Appends lines to a build's log as a streaming build does: the whole log so far is written
   * again as `log-<id>.txt` in its `logsBucket` (a new generation holding the previous one),
   * through `options.storage`. A build with no logsBucket has no log object: an error.
   */
  appendLog(id: string, text: string): void;
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

export interface CloudBuildFakeOptions {
  /** Called with each notification as it is published (after it is recorded). */
  onNotification?: (n: BuildNotificationMessage) => void;
  /** Where `appendLog` writes a build's log object (the Storage fake's writeObject). */
  storage?: { writeObject(bucket: string, name: string, data: Buffer | string, contentType?: string): unknown };
}

export async function startCloudBuildFake(options: CloudBuildFakeOptions = {}): Promise<CloudBuildFake> {
  const { definition, pack } = protoKit(PROTOS);

  const createRequests: Record<string, unknown>[] = [];
  const cancelRequests: Record<string, unknown>[] = [];
  const calls: Record<string, number> = {};
  const builds = new Map<string, IBuild>();
  const notifications: BuildNotificationMessage[] = [];
  const iam = new FakeIam();
  /** Each build's log so far (appendLog). */
  const logs = new Map<string, string>();
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

  const notify = (build: IBuild) => {
    const topic =
      (build.options as { pubsubTopic?: string } | null | undefined)?.pubsubTopic || `projects/${build.projectId}/topics/cloud-builds`;
    const n = { topic, data: buildJson(build), attributes: { buildId: build.id ?? '', status: String(build.status) } };
    notifications.push(n);
    options.onNotification?.(n);
  };

  /** Stores a new build from a create request's Build (proto-shaped), publishes QUEUED, answers the Operation. */
  const create = (parent: string, projectId: string, asked: IBuild) => {
    const id = randomUUID();
    const location = parent.split('/')[3] ?? 'global';
    const build: IBuild = {
      ...asked,
      id,
      name: `${parent}/builds/${id}`,
      projectId,
      status: 'QUEUED',
      createTime: timestamp(),
      logUrl: `https://console.cloud.google.com/cloud-build/builds;region=${location}/${id}?project=${projectId}`,
    };
    builds.set(id, build);
    const opName = `${parent}/operations/${Buffer.from(`build-${id}`).toString('base64url')}`;
    operations.set(opName, id);
    notify(build);
    return { opName, build };
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
      const { opName, build } = create(req.parent || `projects/${req.projectId}/locations/global`, req.projectId, req.build);
      return operationOf(opName, build.id ?? '');
    },
    GetBuild: (req: { id?: string; name?: string }) => existing(buildId(req)),
    CancelBuild: (req: { id?: string; name?: string; projectId?: string }) => {
      cancelRequests.push(structuredClone(req) as Record<string, unknown>);
      requirePermission('cloudbuild.builds.update');
      const build = existing(buildId(req));
      if (TERMINAL.has(String(build.status))) throw new FakeError(grpc.status.FAILED_PRECONDITION, `build is already ${build.status}`);
      build.status = 'CANCELLED';
      build.finishTime = timestamp();
      notify(build);
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

  /** REST: projects.builds.create and projects.locations.builds.create. */
  const restCreate = (path: string, body: string): [number, object] => {
    const m = /^\/v1\/projects\/([^/]+)(?:\/locations\/([^/]+))?\/builds$/.exec(path);
    if (!m) return restError(404, 'NOT_FOUND', `The requested URL ${path} was not found on this server.`);
    calls.CreateBuild = (calls.CreateBuild ?? 0) + 1;
    const projectId = decodeURIComponent(m[1]);
    const parent = `projects/${projectId}/locations/${m[2] ? decodeURIComponent(m[2]) : 'global'}`;
    let build: Record<string, unknown>;
    try {
      build = JSON.parse(body) as Record<string, unknown>;
    } catch {
      return restError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received. Unexpected token.');
    }
    createRequests.push({ parent, projectId, build: structuredClone(build) });
    if (iam.isDenied('cloudbuild.builds.create')) return restError(403, 'PERMISSION_DENIED', 'The caller does not have permission');
    try {
      const asked = fromRestBuild(build);
      checkBuild(asked);
      const { opName, build: created } = create(parent, projectId, asked);
      const metadata = { '@type': 'type.googleapis.com/google.devtools.cloudbuild.v1.BuildOperationMetadata', build: buildJson(created) };
      return [200, { name: opName, metadata }];
    } catch (err) {
      if (err instanceof FakeError)
        return restError(err.code === grpc.status.INVALID_ARGUMENT ? 400 : 500, grpc.status[err.code], err.message);
      throw err;
    }
  };
  const rest = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://fake').pathname;
      const [status, answer] =
        req.method === 'POST'
          ? restCreate(path, Buffer.concat(chunks).toString('utf8'))
          : restError(404, 'NOT_FOUND', `${req.method} ${path}`);
      res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' }).end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => rest.listen(0, '127.0.0.1', resolve));

  return {
    endpoint: `http://127.0.0.1:${port}`,
    restEndpoint: `http://127.0.0.1:${(rest.address() as AddressInfo).port}`,
    createRequests,
    notifications,
    cancelRequests,
    calls,
    builds,
    iam,
    appendLog(id, text) {
      const build = existing(id);
      const m = /^gs:\/\/([^/]+)(?:\/(.*))?$/.exec(build.logsBucket ?? '');
      if (!m) throw new Error(`build ${id} names no logsBucket: Cloud Build would write no log object`);
      if (!options.storage) throw new Error('startCloudBuildFake({storage}) is needed to write build logs');
      const log = (logs.get(id) ?? '') + text;
      logs.set(id, log);
      const folder = (m[2] ?? '').replace(/\/+$/, '');
      options.storage.writeObject(m[1], `${folder ? `${folder}/` : ''}log-${id}.txt`, log, 'text/plain');
    },
    setStatus(id, status, extra = {}) {
      const build = existing(id);
      Object.assign(build, extra, { status });
      if (status === 'WORKING' && !build.startTime) build.startTime = timestamp();
      if (TERMINAL.has(status)) build.finishTime = timestamp();
      notify(build);
      return build;
    },
    close: async () => {
      rest.closeAllConnections();
      await Promise.all([
        new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
        new Promise<void>((resolve) => rest.close(() => resolve())),
      ]);
    },
  };
}

const LOGGING_MODES = new Set(['LOGGING_UNSPECIFIED', 'LEGACY', 'GCS_ONLY', 'STACKDRIVER_ONLY', 'CLOUD_LOGGING_ONLY', 'NONE']);
const STREAMING_OPTIONS = new Set(['STREAM_DEFAULT', 'STREAM_ON', 'STREAM_OFF']);
/** gs://bucket or gs://bucket/folder: where log-<id>.txt goes. */
const LOGS_BUCKET = /^gs:\/\/[a-z0-9][a-z0-9._-]{1,61}[a-z0-9](\/[^\s]*)?$/;

/** Secret Manager's SecretVersion names, as availableSecrets.secretManager[].versionName must give them. */
const SECRET_VERSION = /^projects\/[^/]+\/secrets\/[^/]+\/versions\/[^/]+$/;

/**
 * What Cloud Build validates in a build: its steps, tags, user substitutions and secrets (each
 * availableSecrets entry a well-formed version name and an env unique across the build's secrets;
 * every step's secretEnv declared there, and every declared one used by some step).
 */
function checkBuild(build: IBuild): void {
  const invalid = (message: string) => new FakeError(grpc.status.INVALID_ARGUMENT, `invalid build: ${message}`);
  const steps = build.steps ?? [];
  if (steps.length === 0) throw invalid('build must have at least one step');
  steps.forEach((step, i) => {
    if (!step.name) throw invalid(`build step ${i} must specify a name`);
  });
  const declared = new Set<string>();
  for (const secret of build.availableSecrets?.secretManager ?? []) {
    if (!SECRET_VERSION.test(secret.versionName ?? ''))
      throw invalid(
        `invalid secret version name ${JSON.stringify(secret.versionName ?? '')}: must be of the form "projects/*/secrets/*/versions/*"`,
      );
    if (!secret.env) throw invalid(`secret ${secret.versionName} has no env`);
    if (declared.has(secret.env)) throw invalid(`secret environment variable ${JSON.stringify(secret.env)} is defined more than once`);
    declared.add(secret.env);
  }
  const used = new Set<string>();
  for (const step of steps) {
    for (const env of step.secretEnv ?? []) {
      if (!declared.has(env)) throw invalid(`secretEnv ${JSON.stringify(env)} is used without being defined`);
      used.add(env);
    }
  }
  for (const env of declared) if (!used.has(env)) throw invalid(`secretEnv ${JSON.stringify(env)} is defined without being used`);
  const options = (build.options ?? {}) as { logging?: unknown; logStreamingOption?: unknown; defaultLogsBucketBehavior?: unknown };
  if (options.logging !== undefined && !LOGGING_MODES.has(String(options.logging)))
    throw invalid(`invalid value for 'build.options.logging': ${JSON.stringify(options.logging)}`);
  if (options.logStreamingOption !== undefined && !STREAMING_OPTIONS.has(String(options.logStreamingOption)))
    throw invalid(`invalid value for 'build.options.log_streaming_option': ${JSON.stringify(options.logStreamingOption)}`);
  if (build.logsBucket && !LOGS_BUCKET.test(build.logsBucket))
    throw invalid(`invalid logs bucket ${JSON.stringify(build.logsBucket)}: must be gs://{bucket name}[/{folder}]`);
  // A build running as its own service account has no default log bucket to write to.
  if (
    build.serviceAccount &&
    !build.logsBucket &&
    options.defaultLogsBucketBehavior !== 'REGIONAL_USER_OWNED_BUCKET' &&
    !['CLOUD_LOGGING_ONLY', 'NONE'].includes(String(options.logging))
  )
    throw invalid(
      "if 'build.service_account' is specified, the build must either (a) specify 'build.logs_bucket', (b) use the REGIONAL_USER_OWNED_BUCKET build.options.default_logs_bucket_behavior option, or (c) use either CLOUD_LOGGING_ONLY / NONE logging options",
    );
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

function restError(code: number, status: string, message: string): [number, object] {
  return [code, { error: { code, message, status } }];
}

/** The fields of the REST API's Build and BuildOptions (v1): anything else its JSON parser refuses. */
const BUILD_FIELDS = new Set([
  'name',
  'id',
  'projectId',
  'status',
  'statusDetail',
  'source',
  'steps',
  'results',
  'createTime',
  'startTime',
  'finishTime',
  'timeout',
  'images',
  'queueTtl',
  'artifacts',
  'logsBucket',
  'sourceProvenance',
  'buildTriggerId',
  'options',
  'logUrl',
  'substitutions',
  'tags',
  'secrets',
  'timing',
  'approval',
  'serviceAccount',
  'availableSecrets',
  'warnings',
  'gitConfig',
  'failureInfo',
  'dependencies',
]);
const OPTION_FIELDS = new Set([
  'sourceProvenanceHash',
  'requestedVerifyOption',
  'machineType',
  'diskSizeGb',
  'substitutionOption',
  'dynamicSubstitutions',
  'automapSubstitutions',
  'logStreamingOption',
  'workerPool',
  'pool',
  'logging',
  'env',
  'secretEnv',
  'volumes',
  'defaultLogsBucketBehavior',
  'enableStructuredLogging',
  'pubsubTopic',
]);
/** The fields of the REST API's BuildStep (v1). */
const STEP_FIELDS = new Set([
  'name',
  'env',
  'args',
  'dir',
  'id',
  'waitFor',
  'entrypoint',
  'secretEnv',
  'volumes',
  'timing',
  'pullTiming',
  'timeout',
  'status',
  'allowFailure',
  'exitCode',
  'allowExitCodes',
  'script',
  'automapSubstitutions',
  'results',
]);
const DURATION = /^-?\d+(\.\d{1,9})?s$/;
/** projects/{project id}/topics/{Pub/Sub topic id}. */
const TOPIC_NAME = /^projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/topics\/([A-Za-z][A-Za-z0-9\-_.~+%]{2,254})$/;

/** A REST Build body checked as the API's JSON parser and validation do, in the proto shape the fake stores. */
function fromRestBuild(body: Record<string, unknown>): IBuild {
  const invalid = (message: string) => new FakeError(grpc.status.INVALID_ARGUMENT, message);
  const unknown = (name: string, at: string) =>
    invalid(`Invalid JSON payload received. Unknown name "${name}" at '${at}': Cannot find field.`);
  for (const k of Object.keys(body)) if (!BUILD_FIELDS.has(k)) throw unknown(k, 'build');
  const options = (body.options ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(options)) if (!OPTION_FIELDS.has(k)) throw unknown(k, 'build.options');
  const steps = Array.isArray(body.steps) ? (body.steps as Record<string, unknown>[]) : [];
  steps.forEach((step, i) => {
    for (const k of Object.keys(step)) if (!STEP_FIELDS.has(k)) throw unknown(k, `build.steps[${i}]`);
  });
  const secrets = (body.availableSecrets ?? {}) as Record<string, unknown>;
  for (const k of Object.keys(secrets)) if (!['secretManager', 'inline'].includes(k)) throw unknown(k, 'build.available_secrets');
  const topic = options.pubsubTopic;
  if (topic !== undefined) {
    const m = typeof topic === 'string' ? TOPIC_NAME.exec(topic) : null;
    if (!m || m[1].startsWith('goog')) {
      throw invalid(
        `invalid build: invalid pubsub topic ${JSON.stringify(topic)}: must be of the form "projects/{project}/topics/{topic}"`,
      );
    }
  }
  const { timeout, ...rest } = body;
  if (timeout !== undefined && (typeof timeout !== 'string' || !DURATION.test(timeout))) {
    throw invalid(`Invalid value at 'build.timeout' (type.googleapis.com/google.protobuf.Duration), ${JSON.stringify(timeout)}`);
  }
  return { ...(rest as IBuild), ...(typeof timeout === 'string' ? { timeout: { seconds: String(Number.parseFloat(timeout)) } } : {}) };
}

type Timestamp = { seconds?: unknown; nanos?: unknown } | null | undefined;

/** The stored build as proto3 JSON, the way Cloud Build's notifications and REST answers carry it. */
function buildJson(build: IBuild): Record<string, unknown> {
  const time = (t: Timestamp) => {
    if (!t) return undefined;
    const ms = Number(t.seconds ?? 0) * 1000 + Math.floor(Number(t.nanos ?? 0) / 1_000_000);
    return new Date(ms).toISOString();
  };
  const json: Record<string, unknown> = structuredClone(build) as Record<string, unknown>;
  for (const k of ['createTime', 'startTime', 'finishTime'] as const) {
    const v = time(build[k] as Timestamp);
    if (v) json[k] = v;
  }
  if (build.timeout) json.timeout = `${Number(build.timeout.seconds ?? 0)}s`;
  // bytes fields are base64 in proto3 JSON.
  const outputs = build.results?.buildStepOutputs;
  if (outputs && json.results && typeof json.results === 'object')
    (json.results as Record<string, unknown>).buildStepOutputs = outputs.map((o) => Buffer.from(o as Uint8Array).toString('base64'));
  return json;
}
