import type { protos, RevisionsClient, ServicesClient } from '@google-cloud/run';
import { MAX_STARTUP_SECONDS } from '../../domain/cloud-run-limits.js';
import type { Artifact } from '../../domain/job.js';
import type { RevisionSpec, RevisionStatus, Runtime, ServiceStatus, TrafficTarget } from '../../ports/index.js';
import type { GcpConfig } from '../../wiring/gcp-config.js';

type IService = protos.google.cloud.run.v2.IService;
type IRevision = protos.google.cloud.run.v2.IRevision;
type IRevisionTemplate = protos.google.cloud.run.v2.IRevisionTemplate;
type ITrafficTarget = protos.google.cloud.run.v2.ITrafficTarget;
type ITrafficTargetStatus = protos.google.cloud.run.v2.ITrafficTargetStatus;
type ICondition = protos.google.cloud.run.v2.ICondition;
type IProbe = protos.google.cloud.run.v2.IProbe;
type IContainer = protos.google.cloud.run.v2.IContainer;

export type CloudRunSettings = Pick<GcpConfig, 'BATON_GCP_PROJECT' | 'BATON_GCP_REGION' | 'BATON_RUNTIME_SERVICE_ACCOUNT'>;

const REVISION = 'TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION';
const LATEST = 'TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST';
const NOT_FOUND = 5;
/** Cloud Run sets these itself and refuses a revision that sets them. */
const RESERVED_ENV = new Set(['PORT', 'K_SERVICE', 'K_REVISION', 'K_CONFIGURATION']);

/**
 * Cloud Run Admin API v2. A service is `projects/P/locations/R/services/S`; every change is a get,
 * a change and a write back of the whole service (update replaces it), sent with the etag that was
 * read so a concurrent writer makes the update fail (and the stage retry) instead of being lost.
 * No call waits on the returned long-running operation: readiness is polled later by the verify
 * stage through getRevision / getService.
 *
 * Traffic is written as explicit REVISION entries: a pinned split carries into later deploys, and
 * a LATEST entry would hand traffic to a new revision before it is verified. The one exception is
 * a service with no revision able to serve, where LATEST holds the 100 % (see deployRevision).
 */
export class CloudRunRuntime implements Runtime {
  readonly counters = { created: 0, updated: 0, unchanged: 0, traffic_set: 0, deleted: 0, kept_latest: 0 };

  constructor(
    private readonly services: ServicesClient,
    private readonly revisions: RevisionsClient,
    private readonly config: CloudRunSettings,
  ) {}

  private get parent(): string {
    return `projects/${this.config.BATON_GCP_PROJECT}/locations/${this.config.BATON_GCP_REGION}`;
  }

  private servicePath(service: string): string {
    return `${this.parent}/services/${cloudRunServiceId(service)}`;
  }

  /**
   * The new revision gets no traffic, behind `spec.tag`; the current split is kept entry for entry.
   * Where nothing can serve (a new service, or one whose traffic names only revisions that failed
   * or are gone), percents must still sum to 100: the 100 % goes to LATEST, Cloud Run's latest
   * *ready* revision, and the new one sits at 0 behind the tag. So a first revision that never
   * becomes ready holds no traffic (it can be untagged, and the next deployment routes past it),
   * and one that does is public before verification, as nothing else could serve.
   */
  async deployRevision(spec: RevisionSpec): Promise<void> {
    const name = this.servicePath(spec.service);
    const candidate: ITrafficTarget = { type: REVISION, revision: spec.revision, percent: 0, tag: spec.tag };
    const current = await this.fetchService(name);
    if (!current) {
      await this.services.createService({
        parent: this.parent,
        serviceId: cloudRunServiceId(spec.service),
        service: { template: this.template(spec, null), traffic: [{ type: LATEST, percent: 100 }, candidate] },
      });
      this.counters.created++;
      return;
    }
    // Idempotent: a retry after the update was accepted finds its revision already in the template.
    if (current.template?.revision === spec.revision || shortName(current.latestCreatedRevision) === spec.revision) {
      this.counters.unchanged++;
      return;
    }
    // A route that names a failed revision never reconciles, so the new tag would never get a URL.
    const broken = await this.brokenRevisions(name, keptTraffic(current, spec.tag), servedNow(current));
    const kept = keptTraffic(current, spec.tag).filter((t) => !broken.has(t.revision ?? ''));
    const sum = kept.reduce((a, t) => a + (t.percent ?? 0), 0);
    if (sum !== 0 && sum !== 100) {
      const why = broken.size ? ` once the revisions that cannot serve (${[...broken].join(', ')}) are left out` : '';
      throw new Error(`service ${spec.service} has a traffic split summing to ${sum}, not 100${why}: fix its traffic before deploying`);
    }
    const traffic: ITrafficTarget[] = sum === 0 ? [{ type: LATEST, percent: 100 }, candidate] : [...kept, candidate];
    await this.services.updateService({ service: { ...current, template: this.template(spec, current.template ?? null), traffic } });
    this.counters.updated++;
  }

  /**
   * The revisions among `entries` that failed to become ready or no longer exist. One that Cloud
   * Run reports as serving now (`served`) is never broken, whatever its Ready condition says:
   * dropping it could leave the split empty and hand LATEST, the unverified candidate, the 100 %.
   */
  private async brokenRevisions(svcPath: string, entries: ITrafficTarget[], served: Set<string>): Promise<Set<string>> {
    const names = [...new Set(entries.map((t) => t.revision ?? '').filter((r) => r && !served.has(r)))];
    const revs = await Promise.all(names.map((r) => this.fetchRevision(`${svcPath}/revisions/${r}`)));
    return new Set(
      names.filter((_, i) => {
        const rev = revs[i];
        return !rev || rev.conditions?.some((c) => c.type === 'Ready' && c.state === 'CONDITION_FAILED');
      }),
    );
  }

  async getRevision(service: string, revision: string): Promise<RevisionStatus | null> {
    const svcPath = this.servicePath(service);
    const [rev, svc] = await Promise.all([this.fetchRevision(`${svcPath}/revisions/${revision}`), this.fetchService(svcPath)]);
    if (!rev) {
      // Right after the update is accepted the revision may not exist yet; or it could not be created at all.
      if (svc && svc.template?.revision === revision) {
        const terminal = svc.terminalCondition;
        if (!svc.reconciling && terminal?.state === 'CONDITION_FAILED') {
          return { name: revision, state: 'failed', message: explainStartFailure(terminal), tag_url: null };
        }
        return { name: revision, state: 'starting', message: null, tag_url: null };
      }
      return null;
    }
    const tagUrl = svc ? tagUrlOf(svc, revision) : null;
    const ready = rev.conditions?.find((c) => c.type === 'Ready');
    if (ready?.state === 'CONDITION_FAILED') {
      return { name: revision, state: 'failed', message: explainStartFailure(ready, rev.logUri), tag_url: tagUrl };
    }
    // Ready, but the service may still be routing: the verify stage needs the tag URL and latestReadyRevision to be current.
    if (ready?.state === 'CONDITION_SUCCEEDED' && !rev.reconciling && !svc?.reconciling) {
      return { name: revision, state: 'ready', message: null, tag_url: tagUrl };
    }
    return { name: revision, state: 'starting', message: null, tag_url: tagUrl };
  }

  async getService(service: string): Promise<ServiceStatus | null> {
    const svc = await this.fetchService(this.servicePath(service));
    if (!svc) return null;
    const latestReady = shortName(svc.latestReadyRevision);
    const observed: (ITrafficTarget | ITrafficTargetStatus)[] = svc.trafficStatuses?.length ? svc.trafficStatuses : (svc.traffic ?? []);
    const traffic: ServiceStatus['traffic'] = [];
    for (const t of observed) {
      const revision = t.type === LATEST ? shortName(t.revision) || latestReady : shortName(t.revision);
      if (!revision) continue;
      const uri = 'uri' in t ? t.uri : null;
      traffic.push({ revision, percent: t.percent ?? 0, ...(t.tag ? { tag: t.tag } : {}), ...(uri ? { url: uri } : {}) });
    }
    return {
      name: service,
      url: svc.uri ?? '',
      traffic,
      latest_created_revision: shortName(svc.latestCreatedRevision) || null,
      latest_ready_revision: latestReady || null,
      reconciling: svc.reconciling === true,
    };
  }

  async setTraffic(service: string, traffic: TrafficTarget[]): Promise<void> {
    const sum = traffic.reduce((a, t) => a + t.percent, 0);
    if (sum !== 100) throw new Error(`traffic percents must sum to 100, not ${sum}`);
    for (const t of traffic) {
      if (!Number.isInteger(t.percent) || t.percent < 0) throw new Error(`traffic percent for ${t.revision} must be a whole number ≥ 0`);
    }
    const tags = traffic.flatMap((t) => (t.tag ? [t.tag] : []));
    if (new Set(tags).size !== tags.length) throw new Error(`a tag may name one traffic entry only: ${tags.join(', ')}`);
    const current = await this.fetchService(this.servicePath(service));
    if (!current) throw new Error(`no service ${service}`);
    await this.services.updateService({
      service: {
        ...current,
        traffic: traffic.map((t) => ({ type: REVISION, revision: t.revision, percent: t.percent, ...(t.tag ? { tag: t.tag } : {}) })),
      },
    });
    this.counters.traffic_set++;
  }

  /**
   * Deletes a revision that serves no traffic; refuses one that does. A tag that still points at
   * it (percent 0) is removed first, since Cloud Run deletes only revisions nothing routes to.
   * Cloud Run also refuses to delete a service's latest revision (the one its template names):
   * that one is left in place, unreachable and scaled to zero, so it costs nothing; the next
   * deployment's revision supersedes it.
   */
  async deleteRevision(service: string, revision: string): Promise<void> {
    const svcPath = this.servicePath(service);
    const current = await this.fetchService(svcPath);
    if (current) {
      const entries = explicitTraffic(current);
      const observed = (current.trafficStatuses ?? []).map((t) => ({
        revision: t.type === LATEST ? shortName(t.revision) || shortName(current.latestReadyRevision) : shortName(t.revision),
        percent: t.percent ?? 0,
      }));
      if ([...entries, ...observed].some((t) => t.revision === revision && (t.percent ?? 0) > 0)) {
        throw new Error(`revision ${revision} still serves traffic; move the traffic first`);
      }
      // Only entries that name it go; a LATEST entry stays as it is (it names no revision).
      const traffic = current.traffic ?? [];
      const rest = traffic
        .filter((t) => t.type === LATEST || shortName(t.revision) !== revision)
        .map(
          (t): ITrafficTarget => ({
            type: t.type === LATEST ? LATEST : REVISION,
            ...(t.type === LATEST ? {} : { revision: shortName(t.revision) }),
            percent: t.percent ?? 0,
            ...(t.tag ? { tag: t.tag } : {}),
          }),
        );
      if (rest.length !== traffic.length) {
        await this.services.updateService({ service: { ...current, traffic: rest.length ? rest : [{ type: LATEST, percent: 100 }] } });
      }
      if (current.template?.revision === revision || shortName(current.latestCreatedRevision) === revision) {
        this.counters.kept_latest++;
        return;
      }
    }
    try {
      await this.revisions.deleteRevision({ name: `${svcPath}/revisions/${revision}` });
      this.counters.deleted++;
    } catch (err) {
      if (codeOf(err) !== NOT_FOUND) throw err;
    }
  }

  private template(spec: RevisionSpec, existing: IRevisionTemplate | null): IRevisionTemplate {
    // Limits come from this request alone: an earlier revision's must not carry over.
    const { maxInstanceRequestConcurrency: _concurrency, ...base } = existing ?? {};
    const { resources: _resources, ...container } = base.containers?.[0] ?? {};
    const account = this.config.BATON_RUNTIME_SERVICE_ACCOUNT;
    const limits = spec.resources ?? {};
    return {
      ...base,
      ...(limits.concurrent_tasks ? { maxInstanceRequestConcurrency: limits.concurrent_tasks } : {}),
      revision: spec.revision,
      labels: { ...(base.labels ?? {}), 'baton-deployment': labelValue(spec.deployment_id) },
      ...(account ? { serviceAccount: account } : {}),
      containers: [
        {
          ...container,
          image: imageReference(spec.artifact),
          // Plain values; PORT and the K_* variables are Cloud Run's own.
          env: [
            ...Object.entries(spec.env)
              .filter(([k]) => !RESERVED_ENV.has(k))
              .map(([name, value]) => ({ name, value })),
            // Secrets stay in Secret Manager: the revision references them, Baton never reads them.
            ...Object.entries(spec.secrets ?? {}).map(([name, secret]) => ({
              name,
              valueSource: { secretKeyRef: { secret, version: 'latest' } },
            })),
          ],
          startupProbe: startupProbe(spec.start_timeout_seconds),
          ...resourcesOf(limits),
        },
      ],
    };
  }

  private async fetchService(name: string): Promise<IService | null> {
    try {
      const [svc] = await this.services.getService({ name });
      return svc;
    } catch (err) {
      if (codeOf(err) === NOT_FOUND) return null;
      throw err;
    }
  }

  private async fetchRevision(name: string): Promise<IRevision | null> {
    try {
      const [rev] = await this.revisions.getRevision({ name });
      return rev;
    } catch (err) {
      if (codeOf(err) === NOT_FOUND) return null;
      throw err;
    }
  }
}

/** Cloud Run service ids allow no '_' (the pipeline passes agent ids in places). */
function cloudRunServiceId(service: string): string {
  return service.replace(/_/g, '-');
}

/** `projects/…/revisions/name` → `name`; Cloud Run v2 returns full names in latest*Revision. */
function shortName(name: string | null | undefined): string {
  if (!name) return '';
  return name.slice(name.lastIndexOf('/') + 1);
}

/**
 * The image to run, by digest when there is one: `name@sha256:…` (a tag in the reference is
 * dropped; the digest decides). A prebuilt image with no digest runs as given.
 */
export function imageReference(artifact: Artifact): string {
  const { ref, digest } = artifact;
  if (!digest || ref.includes('@')) return ref;
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  return `${colon > slash ? ref.slice(0, colon) : ref}@${digest}`;
}

/**
 * A TCP start-up probe that allows about `seconds` in all, within what Cloud Run accepts: a timeout
 * shorter than the period (1 s < 2 s) and period × threshold at most 240 s. Frequent probes, so
 * the threshold, not the period, sets the budget.
 */
export function startupProbe(seconds: number): IProbe {
  const period = 2;
  const threshold = Math.min(Math.floor(MAX_STARTUP_SECONDS / period), Math.max(1, Math.ceil(seconds / period)));
  return { tcpSocket: {}, timeoutSeconds: 1, periodSeconds: period, failureThreshold: threshold };
}

/**
 * The request's limits in Cloud Run's syntax ('512Mi', '1' or '0.5' CPU). With limits set, Cloud
 * Run wants cpuIdle given to keep its default (CPU only during requests); nothing is sent when
 * no limit was asked for, so Cloud Run's defaults apply.
 */
function resourcesOf(limits: NonNullable<RevisionSpec['resources']>): Pick<IContainer, 'resources'> {
  const out: Record<string, string> = {};
  if (limits.memory_mb !== undefined) out.memory = `${limits.memory_mb}Mi`;
  if (limits.cpu_cores !== undefined) out.cpu = String(limits.cpu_cores);
  return Object.keys(out).length ? { resources: { limits: out, cpuIdle: true } } : {};
}

/** Label values: lowercase letters, digits, '_' and '-', at most 63. */
function labelValue(value: string): string {
  return value
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, '-')
    .slice(0, 63);
}

/** The service's traffic as explicit REVISION entries (LATEST resolved to the latest ready revision). */
function explicitTraffic(svc: IService): (ITrafficTarget & { revision: string })[] {
  const latestReady = shortName(svc.latestReadyRevision);
  const entries: ITrafficTarget[] = svc.traffic?.length ? svc.traffic : [{ type: LATEST, percent: 100 }];
  const out: (ITrafficTarget & { revision: string })[] = [];
  for (const t of entries) {
    const revision = t.type === LATEST ? latestReady : shortName(t.revision);
    if (!revision) continue;
    out.push({ type: REVISION, revision, percent: t.percent ?? 0, ...(t.tag ? { tag: t.tag } : {}) });
  }
  return out;
}

/**
 * The entries a deploy keeps: all of them, with their percents and tags, except that `tag` moves
 * to the new revision (an earlier holder keeps its percent without it; at 0 % it is dropped).
 */
function keptTraffic(svc: IService, tag: string): ITrafficTarget[] {
  const out: ITrafficTarget[] = [];
  for (const t of explicitTraffic(svc)) {
    if (t.tag !== tag) out.push(t);
    else if ((t.percent ?? 0) > 0) out.push({ type: REVISION, revision: t.revision, percent: t.percent });
  }
  return out;
}

function tagUrlOf(svc: IService, revision: string): string | null {
  const hit = (svc.trafficStatuses ?? []).find((t) => shortName(t.revision) === revision && t.tag && t.uri);
  return hit?.uri ?? null;
}

function codeOf(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}

/**
 * Cloud Run's reason for a revision that did not become ready, rewritten as what to do about it.
 * Cloud Run's own words follow, for the details (its logs URL among them).
 */
export function explainStartFailure(condition: ICondition, logUri?: string | null): string {
  const text = (condition.message ?? '').trim();
  const reason = String(condition.revisionReason ?? condition.reason ?? '');
  const logs = logUri || /Logs URL: (\S+)/.exec(text)?.[1] || null;
  const seeLogs = logs ? ` Its logs: ${logs}` : '';
  const quote = (pattern: RegExp) => {
    const sentence = sentenceWith(text, pattern);
    return sentence ? ` (Cloud Run: "${sentence}")` : '';
  };
  // Cloud Run has said it both ways: "failed to start and listen on the port …" and "… and then listen …".
  if (/failed to start and (then )?listen on the port/i.test(text)) {
    const port = /PORT=(\d+)/.exec(text)?.[1] ?? '8080';
    return (
      `Failed to start and then listen on the port defined by the PORT environment variable (PORT=${port}) in time. Cloud Run sends requests to that port: ` +
      `the server must listen on process.env.PORT (${port} here), on 0.0.0.0 rather than localhost, and the start command ("npm start") must ` +
      `start it and keep running. If the process crashed during start-up (a missing environment variable or secret, a module that fails to load), ` +
      `its logs say why.${seeLogs}${quote(/failed to start/i)}`
    );
  }
  if (/memory limit/i.test(text)) {
    return `the container ran out of memory while starting: raise the service's memory limit or make start-up use less.${seeLogs}${quote(/memory limit/i)}`;
  }
  if (/exec format error/i.test(text)) {
    return `the image was built for another CPU architecture: Cloud Run runs linux/amd64 images.${seeLogs}${quote(/exec format/i)}`;
  }
  if (reason === 'CONTAINER_MISSING' || /image .*not found|not found.*image|manifest unknown/i.test(text)) {
    return `the image does not exist in Artifact Registry (deleted, or pushed elsewhere): deploy again to build it.${quote(/not found|unknown/i)}`;
  }
  if (reason === 'CONTAINER_PERMISSION_DENIED' || (/permission/i.test(text) && /image|artifact|registry/i.test(text))) {
    return (
      'Cloud Run may not pull the image: grant the Cloud Run service agent (service-PROJECT_NUMBER@serverless-robot-prod.iam.gserviceaccount.com) ' +
      `the Artifact Registry Reader role on the repository.${quote(/permission|denied/i)}`
    );
  }
  if (reason === 'SECRETS_ACCESS_CHECK_FAILED') {
    return `the service's runtime service account may not read a secret the service uses: grant it the Secret Manager Secret Accessor role on that secret.${quote(/secret/i)}`;
  }
  return `Cloud Run could not start it${reason && !/UNDEFINED$/.test(reason) ? ` (${reason})` : ''}: ${text || 'no detail given'}${logs && !text.includes(logs) ? seeLogs : ''}`;
}

/** The sentence of `text` that matches `pattern`, or null. */
function sentenceWith(text: string, pattern: RegExp): string | null {
  const sentences = text.split(/(?<=\.)\s+|\n+/);
  return sentences.find((x) => pattern.test(x))?.trim() ?? null;
}

/** Revisions that Cloud Run's observed route sends traffic to now (trafficStatuses with a share). */
function servedNow(svc: IService): Set<string> {
  return new Set((svc.trafficStatuses ?? []).filter((t) => (t.percent ?? 0) > 0 && t.revision).map((t) => shortName(t.revision)));
}
