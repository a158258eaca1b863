import type { CloudSchedulerClient, protos } from '@google-cloud/scheduler';
import { checkJobSchedule, checkJobTarget } from '../../domain/cron.js';
import type { ScheduledJob, Scheduler, ScheduleSpec, ScheduleTarget } from '../../ports/index.js';

type Job = protos.google.cloud.scheduler.v1.IJob;

/** gRPC status codes the adapter tells apart. */
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;
const FAILED_PRECONDITION = 9;

/** The fields upsert owns: an unset one in the mask is cleared, so switching target kinds works. */
const UPDATE_MASK = ['description', 'schedule', 'time_zone', 'pubsub_target', 'http_target'];

export interface CloudSchedulerOptions {
  project: string;
  region: string;
  /** HTTP targets carry an OIDC token for this identity (audience: the URL); none when absent. */
  serviceAccountEmail?: string;
}

/**
 * Cloud Scheduler jobs in one project and region. `upsert` gets the job, then creates it or
 * updates its schedule, time zone, target and description with an update mask (its paused or
 * enabled state is kept). Pausing a paused job and resuming an enabled one are no-ops, as on the
 * local scheduler (the API itself refuses them with FAILED_PRECONDITION); deleting a missing job
 * is a no-op; pausing or resuming a missing one is an error naming it.
 */
export class CloudSchedulerAdapter implements Scheduler {
  constructor(
    private readonly client: CloudSchedulerClient,
    private readonly options: CloudSchedulerOptions,
  ) {}

  jobPath(name: string): string {
    return this.client.jobPath(this.options.project, this.options.region, name);
  }

  async upsert(spec: ScheduleSpec): Promise<void> {
    checkJobSchedule(spec.name, spec.cron, spec.time_zone);
    checkJobTarget(spec.target);
    const job = this.toJob(spec);
    if ((await this.fetch(spec.name)) === null) {
      try {
        await this.client.createJob({ parent: this.client.locationPath(this.options.project, this.options.region), job });
        return;
      } catch (err) {
        // Created by someone else meanwhile: update it instead.
        if (codeOf(err) !== ALREADY_EXISTS) throw err;
      }
    }
    await this.client.updateJob({ job, updateMask: { paths: UPDATE_MASK } });
  }

  async get(name: string): Promise<ScheduledJob | null> {
    const job = await this.fetch(name);
    return job ? this.fromJob(job) : null;
  }

  async pause(name: string): Promise<void> {
    await this.transition(name, 'paused');
  }

  async resume(name: string): Promise<void> {
    await this.transition(name, 'enabled');
  }

  async delete(name: string): Promise<void> {
    try {
      await this.client.deleteJob({ name: this.jobPath(name) });
    } catch (err) {
      if (codeOf(err) !== NOT_FOUND) throw err;
    }
  }

  private async transition(name: string, to: ScheduledJob['state']): Promise<void> {
    try {
      if (to === 'paused') await this.client.pauseJob({ name: this.jobPath(name) });
      else await this.client.resumeJob({ name: this.jobPath(name) });
    } catch (err) {
      const code = codeOf(err);
      if (code === NOT_FOUND) throw new Error(`no scheduled job named ${JSON.stringify(name)}`, { cause: err });
      if (code === FAILED_PRECONDITION) {
        const job = await this.fetch(name);
        if (job && stateOf(job) === to) return;
      }
      throw err;
    }
  }

  private async fetch(name: string): Promise<Job | null> {
    try {
      const [job] = await this.client.getJob({ name: this.jobPath(name) });
      return job;
    } catch (err) {
      if (codeOf(err) === NOT_FOUND) return null;
      throw err;
    }
  }

  private toJob(spec: ScheduleSpec): Job {
    const job: Job = {
      name: this.jobPath(spec.name),
      // Absent and in the update mask: cleared.
      ...(spec.description ? { description: spec.description } : {}),
      schedule: spec.cron,
      timeZone: spec.time_zone,
    };
    const t = spec.target;
    if (t.kind === 'topic') {
      job.pubsubTarget = {
        topicName: `projects/${this.options.project}/topics/${t.topic}`,
        data: Buffer.from(t.data, 'utf8').toString('base64'),
        attributes: { ...(t.attributes ?? {}) },
      };
    } else {
      job.httpTarget = {
        uri: t.url,
        httpMethod: 'POST',
        body: Buffer.from(t.body ?? '', 'utf8').toString('base64'),
        ...(this.options.serviceAccountEmail
          ? { oidcToken: { serviceAccountEmail: this.options.serviceAccountEmail, audience: t.url } }
          : {}),
      };
    }
    return job;
  }

  private fromJob(job: Job): ScheduledJob {
    const name = String(job.name ?? '').split('/jobs/')[1] ?? '';
    let target: ScheduleTarget;
    if (job.pubsubTarget) {
      const attributes = { ...(job.pubsubTarget.attributes ?? {}) };
      target = {
        kind: 'topic',
        topic: String(job.pubsubTarget.topicName ?? '').split('/topics/')[1] ?? '',
        data: bytesToText(job.pubsubTarget.data),
        ...(Object.keys(attributes).length > 0 ? { attributes } : {}),
      };
    } else if (job.httpTarget) {
      const body = bytesToText(job.httpTarget.body);
      target = { kind: 'http', url: String(job.httpTarget.uri ?? ''), ...(body ? { body } : {}) };
    } else {
      throw new Error(`Cloud Scheduler job ${String(job.name)} has a target Baton does not use (App Engine)`);
    }
    return {
      name,
      cron: String(job.schedule ?? ''),
      time_zone: String(job.timeZone ?? ''),
      target,
      ...(job.description ? { description: job.description } : {}),
      state: stateOf(job),
    };
  }
}

/** ENABLED is enabled; PAUSED, and DISABLED or UPDATE_FAILED (jobs that do not run), count as paused. */
function stateOf(job: Job): ScheduledJob['state'] {
  return job.state === 'ENABLED' || job.state === 1 ? 'enabled' : 'paused';
}

function bytesToText(data: Uint8Array | string | null | undefined): string {
  if (data === null || data === undefined) return '';
  // The gRPC client decodes bytes to a Buffer; a string is base64 (the REST transport).
  return typeof data === 'string' ? Buffer.from(data, 'base64').toString('utf8') : Buffer.from(data).toString('utf8');
}

function codeOf(err: unknown): unknown {
  return typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
}
