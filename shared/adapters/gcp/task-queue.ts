import type { CloudTasksClient } from '@google-cloud/tasks';
import { QUEUES, SUBSCRIPTIONS } from '../../domain/topics.js';
import { type Clock, systemClock } from '../../ports/clock.js';
import type { TaskQueue, TaskSpec } from '../../ports/index.js';
import type { GcpConfig } from '../../wiring/gcp-config.js';

/** Cloud Tasks refuses a schedule time further ahead than this. */
export const MAX_SCHEDULE_AHEAD_MS = 30 * 24 * 3600 * 1000;
/** Cloud Tasks' largest task (the whole task, so the body must be somewhat less). */
const MAX_BODY_BYTES = 1_000_000;
const TASK_NAME = /^[A-Za-z0-9_-]{1,500}$/;

/** gRPC status codes the adapter tells apart. */
const ALREADY_EXISTS = 6;
const NOT_FOUND = 5;

export interface CloudTasksQueueOptions {
  project: string;
  region: string;
  /** The identity Cloud Tasks signs its OIDC token as; the target functions accept it as an invoker. */
  serviceAccountEmail: string;
  /** Function name to its HTTPS URL (BATON_TASK_TARGETS). */
  targets: Readonly<Record<string, string>>;
  clock?: Clock;
}

/**
 * Cloud Tasks: each queue in QUEUES pushes to the function SUBSCRIPTIONS names for it, at the URL
 * BATON_TASK_TARGETS gives for that function, as an HTTP POST of the JSON payload with an OIDC
 * token whose audience is that URL. Task names are the de-duplication key: a name used before is
 * refused by the service (ALREADY_EXISTS), reported as 'exists'.
 */
export class CloudTasksQueue implements TaskQueue {
  readonly counters = { created: 0, deduplicated: 0 };
  private readonly clock: Clock;

  constructor(
    private readonly client: CloudTasksClient,
    private readonly options: CloudTasksQueueOptions,
  ) {
    if (!options.serviceAccountEmail)
      throw new Error('Cloud Tasks needs a service account for its OIDC token (BATON_TASKS_SERVICE_ACCOUNT)');
    this.clock = options.clock ?? systemClock;
  }

  static fromConfig(client: CloudTasksClient, config: GcpConfig, clock?: Clock): CloudTasksQueue {
    if (!config.BATON_TASKS_SERVICE_ACCOUNT) {
      throw new Error(
        'BATON_TASKS_SERVICE_ACCOUNT is not set: Cloud Tasks needs the service account it signs OIDC tokens as (Terraform outputs it)',
      );
    }
    return new CloudTasksQueue(client, {
      project: config.BATON_GCP_PROJECT,
      region: config.BATON_GCP_REGION,
      serviceAccountEmail: config.BATON_TASKS_SERVICE_ACCOUNT,
      targets: config.BATON_TASK_TARGETS,
      clock,
    });
  }

  queuePath(queue: string): string {
    return this.client.queuePath(this.options.project, this.options.region, queue);
  }

  /** The URL tasks of `queue` are POSTed to. */
  targetUrl(queue: string): string {
    if (!(Object.values(QUEUES) as string[]).includes(queue)) {
      throw new Error(`unknown queue "${queue}": queues are declared in QUEUES and SUBSCRIPTIONS (shared/domain/topics.ts)`);
    }
    const fn: string = SUBSCRIPTIONS[queue as keyof typeof SUBSCRIPTIONS];
    const url = this.options.targets[fn];
    if (!url) {
      throw new Error(`BATON_TASK_TARGETS has no URL for the function "${fn}" that queue "${queue}" triggers (Terraform writes it)`);
    }
    return url;
  }

  async enqueue(queue: string, task: TaskSpec): Promise<'created' | 'exists'> {
    if (!TASK_NAME.test(task.name)) {
      throw new Error(`invalid task name ${JSON.stringify(task.name)}: 1-500 characters of letters, digits, "-" and "_"`);
    }
    const url = this.targetUrl(queue);
    const parent = this.queuePath(queue);
    const body = Buffer.from(JSON.stringify(task.payload ?? null), 'utf8');
    if (body.length > MAX_BODY_BYTES) throw new Error(`task ${task.name}: payload of ${body.length} bytes is over Cloud Tasks' 1 MB limit`);
    const deadline = task.dispatch_deadline_ms;
    if (deadline !== undefined && !(deadline >= 15_000 && deadline <= 30 * 60_000)) {
      throw new Error(`task ${task.name}: a dispatch deadline of ${deadline} ms is outside what Cloud Tasks accepts (15 s to 30 min)`);
    }
    let scheduleTime: { seconds: number; nanos: number } | undefined;
    if (task.schedule_time_ms !== undefined) {
      const now = this.clock.now().getTime();
      if (task.schedule_time_ms > now + MAX_SCHEDULE_AHEAD_MS) {
        const days = ((task.schedule_time_ms - now) / 86_400_000).toFixed(1);
        throw new Error(
          `task ${task.name}: schedule time ${new Date(task.schedule_time_ms).toISOString()} is ${days} days ahead; ` +
            'Cloud Tasks accepts at most 30 days: schedule a nearer task and enqueue the next one from it',
        );
      }
      const ms = Math.floor(task.schedule_time_ms);
      scheduleTime = { seconds: Math.floor(ms / 1000), nanos: (((ms % 1000) + 1000) % 1000) * 1_000_000 };
    }
    try {
      await this.client.createTask({
        parent,
        task: {
          name: `${parent}/tasks/${task.name}`,
          ...(scheduleTime ? { scheduleTime } : {}),
          ...(task.dispatch_deadline_ms !== undefined
            ? { dispatchDeadline: { seconds: Math.ceil(task.dispatch_deadline_ms / 1000) } }
            : {}),
          httpRequest: {
            httpMethod: 'POST',
            url,
            headers: { 'content-type': 'application/json' },
            body: body.toString('base64'),
            oidcToken: { serviceAccountEmail: this.options.serviceAccountEmail, audience: url },
          },
        },
      });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === ALREADY_EXISTS) {
        this.counters.deduplicated++;
        return 'exists';
      }
      if (code === NOT_FOUND) {
        throw new Error(`Cloud Tasks queue ${parent} does not exist (Terraform declares it): ${(err as Error).message}`, { cause: err });
      }
      throw err;
    }
    this.counters.created++;
    return 'created';
  }
}
