import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { protos } from '@google-cloud/run';
import * as grpc from '@grpc/grpc-js';
import { protoKit } from './proto-kit.js';

/**
 * An in-process Cloud Run Admin API v2 (`google.cloud.run.v2.Services` and `Revisions` over gRPC),
 * served from the client package's own `build/protos/protos.json`.
 *
 * - Services live in memory. CreateService / UpdateService replace the whole resource and return
 *   a long-running Operation that is not done yet (metadata: the Service, packed in an Any);
 *   google.longrunning.Operations.GetOperation answers it as done with the Service as response.
 *   `calls` counts every method, so a test can prove nobody waited on an operation.
 * - CreateService refuses a service id Cloud Run refuses (INVALID_ARGUMENT, the API's words):
 *   lowercase letters, digits and '-', beginning with a letter, not ending with '-', at most 49.
 *   Create and update refuse a traffic tag that is not such a label or that, with the service
 *   id, exceeds 46 characters (the tag URL's DNS label, in the API's words), and a template
 *   revision name that is no DNS label of at most 63 characters.
 * - Create and update refuse a startup probe Cloud Run refuses (period and initial delay 0/1–240,
 *   timeout ≥ 1 and below the period, threshold ≥ 1, period × threshold ≤ 240, one probe kind) and
 *   resource limits it refuses (cpu 1/2/4/6/8 or 0.08–<1, memory as `NNNMi`/`Gi` within the range
 *   that CPU setting allows, concurrency ≤ 1000 and 1 below one CPU, cpuIdle with fractional CPU).
 * - UpdateService honours the etag (a stale one is ABORTED), refuses traffic whose percents do not
 *   sum to 100, duplicate tags, a REVISION entry without a revision or naming one that does not
 *   exist (other than the template's), a template revision not prefixed `<service>-`, and a
 *   template revision name that already exists with another image or env (as Cloud Run does).
 * - A new template revision becomes a Revision at once: Ready (CONDITION_SUCCEEDED) with
 *   reconciling false and latestReadyRevision set to it; an image containing `crash` fails with
 *   Cloud Run's start-up failure text ("failed to start and listen on the port defined provided
 *   by the PORT=8080 environment variable…"), leaving the traffic statuses and latestReadyRevision
 *   of the last good state and a failed terminalCondition; an image containing `slow` stays
 *   reconciling until `settle()`.
 * - A route that names a revision that is not ready, or gives LATEST a share while no revision is
 *   ready, does not move: trafficStatuses keep the last serving state and the service fails.
 * - trafficStatuses are derived from traffic, with URIs `https://{service}-xyz.a.run.app` and
 *   `https://{tag}---{service}-xyz.a.run.app` per tag; latest*Revision are full resource names.
 * - With `reconcileDelayMs`, every create or update leaves the service `reconciling` for that long,
 *   its status (trafficStatuses, latestReadyRevision, uri, observedGeneration) still the one from
 *   before the change, as Cloud Run's route takes seconds to move.
 * - DeleteRevision refuses (FAILED_PRECONDITION) a revision any traffic entry names, by percent or
 *   tag, one the reconciled status (trafficStatuses) still sends traffic to, and the service's
 *   latest revision.
 *
 * - An image given to `provideImage` (the folder its build would run) is started the way Cloud
 *   Run starts a container, with the revision's env and PORT=8080, but with listen() intercepted:
 *   the revision is ready only if the server would listen on PORT on all interfaces, and fails
 *   with Cloud Run's start-up failure otherwise (a loopback-only server, a fixed port, no listen).
 *
 * What it does NOT prove: no image is pulled or built (for an image not given to `provideImage`,
 * readiness is decided by its name; for one that is, the folder stands for the image: the
 * Dockerfile, `npm install` and the base image are not exercised, and only the first listen()
 * is seen, not a request served), no request is ever served at those URIs, no startup probe runs, no scaling; no IAM (the
 * runtime service account, the service agent's access to Artifact Registry, invokers); no
 * validation of the container spec beyond image, env, startup probe and limits (reserved env
 * names, ports, liveness probes, GPUs, label syntax are accepted as sent); reconciliation is immediate (or takes exactly the configured
 * delay) and never partial, where Cloud Run's takes a variable time and may show transient states; output-only fields sent back are ignored
 * without checks; generated names, URIs and error texts are not Google's.
 */

type IService = protos.google.cloud.run.v2.IService;
type IRevision = protos.google.cloud.run.v2.IRevision;
type ITrafficTarget = protos.google.cloud.run.v2.ITrafficTarget;
type ITrafficTargetStatus = protos.google.cloud.run.v2.ITrafficTargetStatus;
type IContainer = protos.google.cloud.run.v2.IContainer;

export interface CloudRunFake {
  /** `http://127.0.0.1:PORT`, for BATON_RUN_ENDPOINT. */
  endpoint: string;
  /** Full service name → Service, as the fake keeps it. */
  readonly services: Map<string, IService>;
  /** Full revision name → Revision. */
  readonly revisions: Map<string, IRevision>;
  /** Every request, in order, as decoded (camelCase, enums and int64 as strings, unset fields absent). */
  readonly requests: { method: string; request: Record<string, unknown> }[];
  readonly calls: Record<string, number>;
  /**
   * What an image runs, where the test knows it: `appDir` is the image's working directory (a
   * package.json whose start script starts the server). A revision of that image is started as
   * Cloud Run would start it (its env, PORT=8080, K_*), but `listen()` is intercepted: nothing
   * binds; it is ready only if it would listen on PORT on all interfaces.
   */
  provideImage(image: string, appDir: string): void;
  /** Resolves when no provided image is still being started. */
  started(): Promise<void>;
  /** Makes every `slow` revision ready and finishes every pending reconciliation at once. */
  settle(): void;
  close(): Promise<void>;
}

const require = createRequire(import.meta.url);
const PROTOS = require('@google-cloud/run/build/protos/protos.json') as object;
const REVISION = 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION';
const LATEST = 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST';
const SERVICE_ID = /^[a-z](?:[a-z0-9-]{0,47}[a-z0-9])?$/;
const TAG = /^[a-z](?:[a-z0-9-]*[a-z0-9])?$/;
const REVISION_NAME = /^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Cloud Run's own words for the classic start-up failure (including its "defined provided" slip). */
export const START_FAILURE_MESSAGE = (revision: string) =>
  `Revision '${revision}' is not ready and cannot serve traffic. The user-provided container failed to start and listen on the port defined provided by the PORT=8080 environment variable within the allocated timeout. This can happen when the container port is misconfigured or if the timeout is too short. The health check timeout can be extended. Logs for this revision might contain more information.\n\nLogs URL: https://console.cloud.google.com/logs/viewer?resource=cloud_run_revision/revision_name/${revision}\nFor more troubleshooting guidance, see https://cloud.google.com/run/docs/troubleshooting#container-failed-to-start`;

/**
 * Loaded before the container's code: reports the first listen() call (port and host) and exits,
 * so the check binds nothing.
 */
const LISTEN_PROBE = `import net from 'node:net';
net.Server.prototype.listen = function (...args) {
  const [a, b] = args;
  const opts = typeof a === 'object' && a !== null ? a : { port: a, host: typeof b === 'string' ? b : undefined };
  process.stdout.write('\\n@@listen ' + JSON.stringify({ port: Number(opts.port), host: opts.host ?? null }) + '\\n', () => process.exit(0));
  return this;
};`;
const ALL_INTERFACES = new Set([null, '', '0.0.0.0', '::']);

/** The repository part of an image reference: `name` of `name:tag` or `name@sha256:…`. */
const repositoryOf = (image: string) => image.replace(/@.*$/, '').replace(/:[^/:]*$/, '');

/** Runs the app's start script with `env` and the listen probe: null when it would listen on PORT on all interfaces, else why not. */
function checkListen(appDir: string, env: Record<string, string>): Promise<string | null> {
  const pkg = JSON.parse(readFileSync(join(appDir, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
  const command = pkg.scripts?.start ?? 'node server.js';
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], {
      cwd: appDir,
      env: {
        PATH: `${join(appDir, 'node_modules', '.bin')}:${process.env.PATH ?? ''}`,
        ...env,
        NODE_OPTIONS: `--import=data:text/javascript,${encodeURIComponent(LISTEN_PROBE)}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('close', () => {
      clearTimeout(timer);
      const line = /@@listen (.*)/.exec(out)?.[1];
      if (!line) return resolve('it never called listen()');
      const { port, host } = JSON.parse(line) as { port: number; host: string | null };
      if (String(port) !== env.PORT) return resolve(`it listens on port ${port}, not PORT=${env.PORT}`);
      if (!ALL_INTERFACES.has(host)) return resolve(`it listens on ${host} only, not on all interfaces`);
      resolve(null);
    });
  });
}

const invalid = (message: string) => new FakeError(grpc.status.INVALID_ARGUMENT, message);
const WHOLE_CPUS = new Set([1, 2, 4, 6, 8]);

/** Memory (MiB) Cloud Run accepts with a CPU setting (docs: configuring/services/cpu). */
function memoryRange(cpu: number): [number, number] {
  if (cpu < 0.5) return [128, 512];
  if (cpu < 1) return [128, 1024];
  if (cpu === 1) return [128, 4096];
  if (cpu === 2) return [128, 8192];
  if (cpu === 4) return [2048, 16384];
  if (cpu === 6) return [4096, 24576];
  return [4096, 32768];
}

/** Cloud Run's rules for a startup probe and for resource limits (run/v2 k8s.min.proto and the docs). */
function checkContainer(container: IContainer, concurrency: number): void {
  const probe = container.startupProbe;
  if (probe) {
    const period = probe.periodSeconds ?? 10;
    const timeout = probe.timeoutSeconds ?? 1;
    const threshold = probe.failureThreshold ?? 3;
    const delay = probe.initialDelaySeconds ?? 0;
    const kinds = [probe.tcpSocket, probe.httpGet, probe.grpc].filter(Boolean).length;
    if (kinds !== 1) throw invalid('startup_probe: exactly one of httpGet, tcpSocket, or grpc must be specified');
    if (period < 1 || period > 240) throw invalid(`startup_probe.period_seconds: must be between 1 and 240, not ${period}`);
    if (delay < 0 || delay > 240) throw invalid(`startup_probe.initial_delay_seconds: must be between 0 and 240, not ${delay}`);
    if (timeout < 1 || timeout >= period) {
      throw invalid(`startup_probe.timeout_seconds: must be at least 1 and smaller than period_seconds (${period}), not ${timeout}`);
    }
    if (threshold < 1) throw invalid(`startup_probe.failure_threshold: must be at least 1, not ${threshold}`);
    if (period * threshold > 240) {
      throw invalid(
        `startup_probe: period_seconds × failure_threshold is ${period * threshold} s; the startup window cannot exceed 240 seconds`,
      );
    }
  }
  const limits = container.resources?.limits ?? {};
  for (const key of Object.keys(limits)) {
    if (!['cpu', 'memory', 'nvidia.com/gpu'].includes(key)) throw invalid(`resources.limits: unsupported key '${key}'`);
  }
  const cpuText = limits.cpu ?? '1';
  const cpu = /^\d+(\.\d{1,3})?$/.test(cpuText) ? Number(cpuText) : Number.NaN;
  if (!(cpu >= 0.08 && cpu <= 8) || (cpu > 1 && !WHOLE_CPUS.has(cpu))) {
    throw invalid(`resources.limits.cpu: '${cpuText}' is not supported: use 1, 2, 4, 6 or 8, or a value from 0.08 below 1`);
  }
  const memoryText = limits.memory ?? '512Mi';
  const m = /^(\d+)(Mi|Gi|M|G)$/.exec(memoryText);
  if (!m) throw invalid(`resources.limits.memory: '${memoryText}' is not a quantity like 512Mi or 2Gi`);
  const unit = { Mi: 1, Gi: 1024, M: 1e6 / 2 ** 20, G: 1e9 / 2 ** 20 }[m[2] as 'Mi' | 'Gi' | 'M' | 'G'];
  const mib = Number(m[1]) * unit;
  const [min, max] = memoryRange(cpu);
  if (mib < min || mib > max) {
    throw invalid(`resources.limits.memory: ${memoryText} is not allowed with ${cpuText} CPU: it needs between ${min}Mi and ${max}Mi`);
  }
  if (concurrency < 0 || concurrency > 1000)
    throw invalid(`max_instance_request_concurrency: must be between 0 and 1000, not ${concurrency}`);
  if (cpu < 1 && concurrency > 1) throw invalid('max_instance_request_concurrency: must be 1 when CPU is less than 1');
  if (cpu < 1 && Object.keys(limits).length > 0 && container.resources?.cpuIdle !== true) {
    throw invalid('resources.cpu_idle: CPU less than 1 requires CPU to be allocated only during requests');
  }
}

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

const short = (name: string | null | undefined) => (name ? name.slice(name.lastIndexOf('/') + 1) : '');

export interface CloudRunFakeOptions {
  /**
   * How long a service stays `reconciling` after each create or update, showing the status of
   * before the change (trafficStatuses, latestReadyRevision, observedGeneration). 0: at once.
   */
  reconcileDelayMs?: number;
}

export async function startCloudRunFake(options: CloudRunFakeOptions = {}): Promise<CloudRunFake> {
  const { definition, pack } = protoKit(PROTOS);
  const reconcileDelayMs = options.reconcileDelayMs ?? 0;
  /** Service name → the timer that will reconcile it. */
  const pending = new Map<string, NodeJS.Timeout>();
  /** Image repository → the folder it runs. */
  const images = new Map<string, string>();
  const starting = new Set<Promise<void>>();

  const services = new Map<string, IService>();
  const revisions = new Map<string, IRevision>();
  const requests: CloudRunFake['requests'] = [];
  const calls: Record<string, number> = {};
  const operations = new Map<string, { type: string; resource: object }>();

  const operation = (parent: string, type: string, resource: object) => {
    const name = `${parent}/operations/${randomUUID()}`;
    operations.set(name, { type, resource: structuredClone(resource) });
    return { name, done: false, metadata: pack(type, resource) };
  };

  const uriOf = (serviceId: string, tag?: string | null) => `https://${tag ? `${tag}---` : ''}${serviceId}-xyz.a.run.app`;

  const isReady = (rev: IRevision | undefined) => rev?.conditions?.some((c) => c.type === 'Ready' && c.state === 'CONDITION_SUCCEEDED');
  const isFailed = (rev: IRevision | undefined) => rev?.conditions?.some((c) => c.type === 'Ready' && c.state === 'CONDITION_FAILED');

  const sameConfig = (a: IContainer[] | null | undefined, b: IContainer[] | null | undefined) => {
    const key = (cs: IContainer[] | null | undefined) =>
      JSON.stringify((cs ?? []).map((c) => ({ image: c.image ?? '', env: (c.env ?? []).map((e) => [e.name, e.value ?? '']) })));
    return key(a) === key(b);
  };

  const newRevision = (svc: IService, name: string): IRevision => {
    const template = svc.template ?? {};
    const image = template.containers?.[0]?.image ?? '';
    const revisionId = short(name);
    const now = timestamp();
    const rev: IRevision = {
      name,
      uid: randomUUID(),
      generation: 1,
      service: svc.name,
      labels: { ...(template.labels ?? {}) },
      containers: template.containers ?? [],
      serviceAccount: template.serviceAccount ?? '',
      createTime: now,
      updateTime: now,
      logUri: `https://console.cloud.google.com/logs/viewer?resource=cloud_run_revision/revision_name/${revisionId}`,
      reconciling: false,
      conditions: [],
    };
    const appDir = images.get(repositoryOf(image));
    if (appDir) {
      rev.reconciling = true;
      rev.conditions = [{ type: 'Ready', state: 'CONDITION_RECONCILING', lastTransitionTime: now }];
      const container = template.containers?.[0] ?? {};
      const env: Record<string, string> = Object.fromEntries((container.env ?? []).map((e) => [e.name ?? '', e.value ?? '']));
      const cloudRunEnv = { ...env, PORT: '8080', K_SERVICE: short(svc.name), K_REVISION: revisionId, K_CONFIGURATION: short(svc.name) };
      const run = checkListen(appDir, cloudRunEnv).then((why) => {
        rev.reconciling = false;
        const at = timestamp();
        rev.conditions = why
          ? [
              {
                type: 'Ready',
                state: 'CONDITION_FAILED',
                message: `${START_FAILURE_MESSAGE(revisionId)} (fake: ${why})`,
                revisionReason: 'HEALTH_CHECK_CONTAINER_ERROR',
                lastTransitionTime: at,
              },
            ]
          : [{ type: 'Ready', state: 'CONDITION_SUCCEEDED', lastTransitionTime: at }];
        const current = services.get(svc.name ?? '');
        if (current && !pending.has(svc.name ?? '')) reconcile(current);
      });
      starting.add(run);
      void run.finally(() => starting.delete(run));
    } else if (image.includes('crash')) {
      rev.conditions = [
        {
          type: 'Ready',
          state: 'CONDITION_FAILED',
          message: START_FAILURE_MESSAGE(revisionId),
          revisionReason: 'HEALTH_CHECK_CONTAINER_ERROR',
          lastTransitionTime: now,
        },
      ];
    } else if (image.includes('slow')) {
      rev.reconciling = true;
      rev.conditions = [{ type: 'Ready', state: 'CONDITION_RECONCILING', lastTransitionTime: now }];
    } else {
      rev.conditions = [{ type: 'Ready', state: 'CONDITION_SUCCEEDED', lastTransitionTime: now }];
    }
    revisions.set(name, rev);
    return rev;
  };

  /**
   * Brings a service's status in line with its spec, as reconciliation would once it is over. As
   * in Knative, the service is ready when its latest revision is (configuration) and every
   * revision its traffic names is (route): a failed latest revision fails the service, but the
   * route still moves when every revision it names is ready; a route naming a failed revision
   * keeps the last serving state (trafficStatuses, observedGeneration).
   */
  const reconcile = (svc: IService) => {
    const name = svc.name ?? '';
    const serviceId = short(name);
    const latest = revisions.get(svc.latestCreatedRevision ?? '');
    const named = (svc.traffic ?? []).filter((t) => t.type !== LATEST).map((t) => revisions.get(`${name}/revisions/${t.revision}`));
    if (latest?.reconciling || named.some((r) => r?.reconciling)) {
      svc.reconciling = true;
      svc.terminalCondition = { type: 'Ready', state: 'CONDITION_RECONCILING' };
      return;
    }
    svc.reconciling = false;
    if (isReady(latest)) svc.latestReadyRevision = latest?.name ?? '';
    // LATEST with a share but no ready revision to resolve to routes nowhere: the route fails too.
    const latestShare = (svc.traffic ?? []).some((t) => t.type === LATEST && (t.percent ?? 0) > 0);
    const routeFailure = named.find((r) => !isReady(r)) ?? (latestShare && !svc.latestReadyRevision ? latest : undefined);
    if (!routeFailure) {
      const latestReady = short(svc.latestReadyRevision);
      const entries: ITrafficTarget[] = svc.traffic?.length ? svc.traffic : [{ type: LATEST, percent: 100 }];
      svc.trafficStatuses = entries.map(
        (t): ITrafficTargetStatus => ({
          type: t.type === LATEST ? LATEST : REVISION,
          revision: t.type === LATEST ? latestReady : (t.revision ?? ''),
          percent: t.percent ?? 0,
          ...(t.tag ? { tag: t.tag, uri: uriOf(serviceId, t.tag) } : {}),
        }),
      );
      svc.uri = uriOf(serviceId);
      svc.urls = [svc.uri];
      svc.observedGeneration = svc.generation;
    }
    const failed = isFailed(latest) ? latest : routeFailure;
    const message = failed?.conditions?.find((c) => c.type === 'Ready')?.message ?? `revision ${short(failed?.name)} is not ready`;
    svc.terminalCondition = failed
      ? { type: 'Ready', state: 'CONDITION_FAILED', message, reason: 'REVISION_FAILED' }
      : { type: 'Ready', state: 'CONDITION_SUCCEEDED' };
  };

  /** Validates and stores `next` (a create when `prev` is null), creating its template's revision. */
  const apply = (next: IService, prev: IService | null): IService => {
    const name = next.name ?? '';
    const serviceId = short(name);
    const template = next.template;
    if (!template?.containers?.length || !template.containers[0].image) {
      throw new FakeError(grpc.status.INVALID_ARGUMENT, 'template.containers[0].image is required');
    }
    checkContainer(template.containers[0], template.maxInstanceRequestConcurrency ?? 0);
    let revisionName = template.revision || '';
    if (revisionName && !revisionName.startsWith(`${serviceId}-`)) {
      throw new FakeError(grpc.status.INVALID_ARGUMENT, `revision name ${revisionName} must start with "${serviceId}-"`);
    }
    if (revisionName && !REVISION_NAME.test(revisionName)) {
      throw new FakeError(
        grpc.status.INVALID_ARGUMENT,
        `template.revision: '${revisionName}' must be a DNS label: lowercase letters, digits and '-', at most 63 characters, not ending with '-'.`,
      );
    }
    const latest = prev ? revisions.get(prev.latestCreatedRevision ?? '') : undefined;
    if (!revisionName) {
      // No name: a new revision only when the template changed.
      revisionName =
        latest && sameConfig(latest.containers, template.containers)
          ? short(latest.name)
          : `${serviceId}-${String(Number(prev?.generation ?? 0) + 1).padStart(5, '0')}-${randomUUID().slice(0, 3)}`;
    }
    const revisionPath = `${name}/revisions/${revisionName}`;
    const existing = revisions.get(revisionPath);
    if (existing && !sameConfig(existing.containers, template.containers)) {
      throw new FakeError(grpc.status.FAILED_PRECONDITION, `Revision named '${revisionName}' with different configuration already exists.`);
    }
    const traffic = next.traffic ?? [];
    if (traffic.length > 0) {
      const sum = traffic.reduce((a, t) => a + (t.percent ?? 0), 0);
      if (sum !== 100) throw new FakeError(grpc.status.INVALID_ARGUMENT, `traffic percents must add up to 100, not ${sum}`);
      const tags = traffic.flatMap((t) => (t.tag ? [t.tag] : []));
      if (new Set(tags).size !== tags.length) throw new FakeError(grpc.status.INVALID_ARGUMENT, 'traffic tags must be unique');
      for (const tag of tags) {
        if (!TAG.test(tag)) {
          throw new FakeError(
            grpc.status.INVALID_ARGUMENT,
            `spec.traffic.tag: traffic tag '${tag}' must use only lowercase letters, digits and '-', begin with a letter and not end with '-'.`,
          );
        }
        if (tag.length + serviceId.length > 46) {
          throw new FakeError(
            grpc.status.INVALID_ARGUMENT,
            `spec.traffic.tag: traffic tag '${tag}' and service name '${serviceId}' together are too long. Combined traffic tag and service name cannot exceed 46 characters.`,
          );
        }
      }
      for (const t of traffic) {
        if (t.type === LATEST) continue;
        if (t.type !== REVISION || !t.revision) {
          throw new FakeError(
            grpc.status.INVALID_ARGUMENT,
            'a traffic entry must be TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION with a revision, or LATEST',
          );
        }
        if (t.revision !== revisionName && !revisions.has(`${name}/revisions/${t.revision}`)) {
          throw new FakeError(grpc.status.INVALID_ARGUMENT, `traffic names revision ${t.revision}, which does not exist`);
        }
      }
    }
    const generation = Number(prev?.generation ?? 0) + 1;
    const stored: IService = {
      ...(prev ?? {}),
      // Spec fields from the request; status fields stay the fake's own.
      description: next.description ?? '',
      labels: next.labels ?? {},
      annotations: next.annotations ?? {},
      ingress: next.ingress ?? 'INGRESS_TRAFFIC_ALL',
      template: { ...template, revision: template.revision || '' },
      traffic,
      scaling: next.scaling ?? null,
      name,
      uid: prev?.uid ?? randomUUID(),
      generation,
      createTime: prev?.createTime ?? timestamp(),
      updateTime: timestamp(),
      etag: `"${randomUUID()}"`,
    };
    if (!existing) newRevision(stored, revisionPath);
    stored.latestCreatedRevision = revisionPath;
    stored.template = { ...template, revision: revisionName };
    services.set(name, stored);
    clearTimeout(pending.get(name));
    pending.delete(name);
    if (reconcileDelayMs <= 0) {
      reconcile(stored);
      return stored;
    }
    // Until the timer fires, the status is the one from before this change.
    stored.reconciling = true;
    stored.terminalCondition = { type: 'Ready', state: 'CONDITION_RECONCILING' };
    pending.set(
      name,
      setTimeout(() => {
        pending.delete(name);
        const current = services.get(name);
        if (current) reconcile(current);
      }, reconcileDelayMs),
    );
    return stored;
  };

  const getService = (name: string) => {
    const svc = services.get(name);
    if (!svc) throw new FakeError(grpc.status.NOT_FOUND, `Resource '${short(name)}' of kind 'SERVICE' in region does not exist.`);
    return svc;
  };

  const handlers: Record<string, (req: never) => object> = {
    CreateService: (req: { parent?: string; serviceId?: string; service?: IService }) => {
      const parent = req.parent ?? '';
      const name = `${parent}/services/${req.serviceId ?? ''}`;
      if (!req.serviceId) throw new FakeError(grpc.status.INVALID_ARGUMENT, 'service_id is required');
      if (!SERVICE_ID.test(req.serviceId)) {
        throw new FakeError(
          grpc.status.INVALID_ARGUMENT,
          'Violation in CreateServiceRequest.service_id: only lowercase, digits, and hyphens; must begin with letter, and cannot end with hyphen; must be less than 50 characters.',
        );
      }
      if (services.has(name)) throw new FakeError(grpc.status.ALREADY_EXISTS, `service ${req.serviceId} already exists`);
      const svc = apply({ ...(req.service ?? {}), name }, null);
      return operation(parent, 'google.cloud.run.v2.Service', svc);
    },
    UpdateService: (req: { service?: IService; allowMissing?: boolean }) => {
      const name = req.service?.name ?? '';
      const prev = services.get(name) ?? null;
      if (!prev && !req.allowMissing) getService(name);
      if (prev && req.service?.etag && req.service.etag !== prev.etag) {
        throw new FakeError(grpc.status.ABORTED, `the service changed since it was read (etag ${req.service.etag} is not ${prev.etag})`);
      }
      const svc = apply(req.service ?? {}, prev);
      return operation(name.split('/services/')[0], 'google.cloud.run.v2.Service', svc);
    },
    GetService: (req: { name?: string }) => getService(req.name ?? ''),
    GetRevision: (req: { name?: string }) => {
      const rev = revisions.get(req.name ?? '');
      if (!rev) throw new FakeError(grpc.status.NOT_FOUND, `Resource '${short(req.name)}' of kind 'REVISION' in region does not exist.`);
      return rev;
    },
    DeleteRevision: (req: { name?: string }) => {
      const name = req.name ?? '';
      const rev = revisions.get(name);
      if (!rev) throw new FakeError(grpc.status.NOT_FOUND, `Resource '${short(name)}' of kind 'REVISION' in region does not exist.`);
      const svc = services.get(rev.service ?? '');
      if (svc) {
        const id = short(name);
        const referenced = (svc.traffic ?? []).some((t) =>
          t.type === LATEST ? short(svc.latestReadyRevision) === id && (t.percent ?? 0) > 0 : t.revision === id,
        );
        // What the route still sends to it counts too: until reconciliation ends, the old split serves.
        const serving = (svc.trafficStatuses ?? []).some((t) => short(t.revision) === id && (t.percent ?? 0) > 0);
        if (referenced || serving)
          throw new FakeError(grpc.status.FAILED_PRECONDITION, `Revision ${id} is referenced by the traffic of ${short(svc.name)}.`);
        if (svc.latestCreatedRevision === name) {
          throw new FakeError(grpc.status.FAILED_PRECONDITION, `Revision ${id} is the latest revision of ${short(svc.name)}.`);
        }
      }
      revisions.delete(name);
      return operation(name.split('/services/')[0], 'google.cloud.run.v2.Revision', rev);
    },
    GetOperation: (req: { name?: string }) => {
      const op = operations.get(req.name ?? '');
      if (!op) throw new FakeError(grpc.status.NOT_FOUND, `operation ${req.name} not found`);
      return { name: req.name, done: true, metadata: pack(op.type, op.resource), response: pack(op.type, op.resource) };
    },
  };

  const implementation = (names: string[]): grpc.UntypedServiceImplementation =>
    Object.fromEntries(
      names.map((method) => [
        method,
        (call: grpc.ServerUnaryCall<unknown, object>, callback: grpc.sendUnaryData<object>) => {
          calls[method] = (calls[method] ?? 0) + 1;
          requests.push({ method, request: structuredClone(call.request) as Record<string, unknown> });
          try {
            callback(null, structuredClone(handlers[method](call.request as never)));
          } catch (err) {
            const code = err instanceof FakeError ? err.code : grpc.status.INTERNAL;
            callback({ code, details: err instanceof Error ? err.message : String(err) });
          }
        },
      ]),
    );

  const server = new grpc.Server();
  server.addService(
    definition['google.cloud.run.v2.Services'] as grpc.ServiceDefinition,
    implementation(['CreateService', 'UpdateService', 'GetService']),
  );
  server.addService(
    definition['google.cloud.run.v2.Revisions'] as grpc.ServiceDefinition,
    implementation(['GetRevision', 'DeleteRevision']),
  );
  server.addService(definition['google.longrunning.Operations'] as grpc.ServiceDefinition, implementation(['GetOperation']));
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );

  return {
    endpoint: `http://127.0.0.1:${port}`,
    services,
    revisions,
    requests,
    calls,
    provideImage(image: string, appDir: string) {
      images.set(repositoryOf(image), appDir);
    },
    async started() {
      while (starting.size > 0) await Promise.all([...starting]);
    },
    settle() {
      for (const timer of pending.values()) clearTimeout(timer);
      pending.clear();
      for (const rev of revisions.values()) {
        if (!rev.reconciling) continue;
        rev.reconciling = false;
        rev.conditions = [{ type: 'Ready', state: 'CONDITION_SUCCEEDED', lastTransitionTime: timestamp() }];
      }
      for (const svc of services.values()) reconcile(svc);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const timer of pending.values()) clearTimeout(timer);
        pending.clear();
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
