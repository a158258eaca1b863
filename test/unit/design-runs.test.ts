import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudSchedulerAdapter } from '../../shared/adapters/gcp/scheduler.js';
import { CloudTasksQueue } from '../../shared/adapters/gcp/task-queue.js';
import { LocalDesignStore } from '../../shared/adapters/local/design-store.js';
import { LocalScheduler } from '../../shared/adapters/local/scheduler.js';
import type { DesignDeps } from '../../shared/designs/deps.js';
import { deployEndpoint, updateEndpoint } from '../../shared/designs/endpoints.js';
import { runTask } from '../../shared/designs/execution.js';
import { fireSchedule } from '../../shared/designs/runs.js';
import { QUEUES } from '../../shared/domain/topics.js';
import type { AgentAnswer, AgentCaller } from '../../shared/ports/agent-caller.js';
import type { Scheduler, TaskQueue, TaskSpec } from '../../shared/ports/index.js';
import { buildGcpClients, type GcpClients } from '../../shared/wiring/gcp-clients.js';
import { GcpConfigSchema } from '../../shared/wiring/gcp-config.js';
import { FakeClock, RecordingBus } from '../support/fakes.js';
import { FakeCloudSchedulerServer } from '../support/gcp-fakes/scheduler-server.js';
import { FakeCloudTasksServer } from '../support/gcp-fakes/tasks-server.js';

/**
 * Scheduled runs with in-memory ports: the local scheduler on a fake clock fires an endpoint's
 * schedule, the run goes through the queue, and a firing due while the previous run still goes is
 * logged `skipped`. Then the same use cases drive the gcp Scheduler and Cloud Tasks adapters
 * against their proto fakes (what a job and a task look like on the wire).
 */

/** An agent whose answers the test releases by hand. */
class GatedAgent implements AgentCaller {
  calls = 0;
  private waiting: (() => void)[] = [];
  async call(): Promise<AgentAnswer> {
    this.calls++;
    await new Promise<void>((r) => this.waiting.push(r));
    return { ok: true, status: 200, output: { n: this.calls }, bytes: 8 };
  }
  releaseAll(): void {
    for (const r of this.waiting.splice(0)) r();
  }
}

/** Runs each task right away (as a queue with no delay would), remembering the runs. */
class ImmediateTasks implements TaskQueue {
  deps!: DesignDeps;
  readonly runs: Promise<void>[] = [];
  readonly names: string[] = [];
  async enqueue(queue: string, task: TaskSpec): Promise<'created' | 'exists'> {
    expect(queue).toBe(QUEUES.designRun);
    this.names.push(task.name);
    this.runs.push(runTask(this.deps, task.payload as { execution_id: string }));
    return 'created';
  }
}

/** Releases the agent until every run the queue started has finished. */
async function drain(agent: GatedAgent, tasks: ImmediateTasks): Promise<void> {
  let done = false;
  const all = Promise.all(tasks.runs).then(() => {
    done = true;
  });
  while (!done) {
    agent.releaseAll();
    await new Promise((r) => setTimeout(r, 2));
  }
  await all;
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  expect(cond()).toBe(true);
}

const design = { version: 1, name: 'tick', blocks: [{ id: 'only', agent: { url: 'https://agents.example/tick' } }], output: 'only' };

function makeDeps(over: Partial<DesignDeps> & { scheduler: Scheduler; tasks: TaskQueue }): DesignDeps {
  let id = 0;
  return {
    store: new LocalDesignStore(null),
    agents: new GatedAgent(),
    clock: new FakeClock(Date.parse('2026-05-04T08:59:30.000Z')),
    newId: () => `id${++id}`,
    sleep: async () => {},
    settings: {
      base_url: 'http://baton.test',
      scheduled_url: 'http://baton.test/api/internal/scheduled',
      lease_ms: 60_000,
      max_request_bytes: 1 << 20,
      sync_commits: 'grouped' as const,
      run_task_deadline_ms: 960_000,
    },
    ...over,
  };
}

describe('scheduled runs on a fake clock', () => {
  it('fires at the cron time in its zone, runs through the queue, and skips (logged) a firing that overlaps the run still going', async () => {
    const clock = new FakeClock(Date.parse('2026-05-04T06:59:30.000Z'));
    const tasks = new ImmediateTasks();
    const agent = new GatedAgent();
    // The scheduler POSTs to its target: here straight into the use case.
    let deps!: DesignDeps;
    const fired: string[] = [];
    const scheduler = new LocalScheduler(null, new RecordingBus(), {
      clock,
      fetch: (async (_url: string, init: { body: string }) => {
        fired.push(await fireSchedule(deps, (JSON.parse(init.body) as { deployment_id: string }).deployment_id));
        return new Response('{}', { status: 200 });
      }) as unknown as typeof fetch,
    });
    deps = makeDeps({ scheduler, tasks, agents: agent, clock });
    tasks.deps = deps;
    // 09:00 on Paris time (UTC+2 in May) is 07:00 UTC.
    const { record } = await deployEndpoint(deps, {
      design,
      endpoint_path: '/tick',
      status: 'active',
      schedule: { enabled: true, cron_expression: '0 9 * * *', timezone: 'Europe/Paris' },
    });
    expect(scheduler.nextRun(`baton-design-${record.id}`)?.toISOString()).toBe('2026-05-04T07:00:00.000Z');
    expect(await scheduler.runDue()).toEqual([]);

    clock.advance(30_000);
    await scheduler.runDue();
    expect(fired).toEqual(['started']);
    await until(() => agent.calls === 1);

    // The run is still going at the next firing: skipped and logged.
    expect(await fireSchedule(deps, record.id)).toBe('skipped');
    const logs = await deps.store.listExecutions({ deployment_id: record.id, limit: 10 });
    expect(logs.items.map((l) => [l.trigger_type, l.status])).toEqual([
      ['scheduled', 'skipped'],
      ['scheduled', 'running'],
    ]);
    expect(logs.items[0].error).toMatch(/previous scheduled run .* was still running/);

    await drain(agent, tasks);
    const done = await deps.store.listExecutions({ deployment_id: record.id, limit: 10, status: 'completed' });
    expect(done.items).toHaveLength(1);
    expect(done.items[0].result_data).toEqual({ n: 1 });
    // Finished: the next firing runs again.
    expect(await fireSchedule(deps, record.id)).toBe('started');
    await drain(agent, tasks);
    expect((await deps.store.getEndpoint(record.id))?.execution_count).toBe(2);
    // An inactive endpoint's firing runs nothing.
    await updateEndpoint(deps, record.id, { status: 'inactive' });
    expect(await fireSchedule(deps, record.id)).toBe('ignored');
    scheduler.stop();
  });

  it('a redelivered task of a finished run calls no agent again', async () => {
    const tasks = new ImmediateTasks();
    const agent = new GatedAgent();
    const scheduler = new LocalScheduler(null, new RecordingBus());
    const deps = makeDeps({ scheduler, tasks, agents: agent });
    tasks.deps = deps;
    const { record } = await deployEndpoint(deps, {
      design,
      endpoint_path: '/once',
      status: 'active',
      schedule: { enabled: true, interval_seconds: 60, timezone: 'UTC' },
    });
    await fireSchedule(deps, record.id);
    await drain(agent, tasks);
    const [exec] = (await deps.store.listExecutions({ deployment_id: record.id, limit: 1 })).items;
    await runTask(deps, { execution_id: exec.id });
    expect(agent.calls).toBe(1);
  });
});

describe('designs on the gcp Scheduler and Cloud Tasks adapters (proto fakes)', () => {
  const PROJECT = 'baton-test';
  const REGION = 'europe-west1';
  const SA = 'baton-scheduler@baton-test.iam.gserviceaccount.com';
  let schedFake: FakeCloudSchedulerServer;
  let tasksFake: FakeCloudTasksServer;
  let clients: GcpClients;

  beforeAll(async () => {
    schedFake = await FakeCloudSchedulerServer.start();
    tasksFake = await FakeCloudTasksServer.start({ queues: [`projects/${PROJECT}/locations/${REGION}/queues/${QUEUES.designRun}`] });
    const cfg = GcpConfigSchema.parse({
      BATON_GCP_PROJECT: PROJECT,
      BATON_GCP_REGION: REGION,
      BATON_BUCKET: 'baton-test-bucket',
      BATON_SCHEDULER_ENDPOINT: schedFake.endpoint,
      BATON_TASKS_ENDPOINT: tasksFake.endpoint,
      BATON_TASKS_SERVICE_ACCOUNT: 'baton-tasks@baton-test.iam.gserviceaccount.com',
      BATON_TASK_TARGETS: JSON.stringify({ 'design-run': 'https://baton-design-run-123.europe-west1.run.app' }),
    });
    clients = buildGcpClients(cfg);
  });
  afterAll(async () => {
    await clients.scheduler.close();
    await clients.tasks.close();
    await schedFake.close();
    await tasksFake.close();
  });

  it('an endpoint’s job is created with an OIDC HTTP target, paused, resumed, replaced and deleted with it; a scheduled firing is a named task', async () => {
    const scheduler = new CloudSchedulerAdapter(clients.scheduler, { project: PROJECT, region: REGION, serviceAccountEmail: SA });
    const tasks = CloudTasksQueue.fromConfig(
      clients.tasks,
      GcpConfigSchema.parse({
        BATON_GCP_PROJECT: PROJECT,
        BATON_GCP_REGION: REGION,
        BATON_BUCKET: 'baton-test-bucket',
        BATON_TASKS_SERVICE_ACCOUNT: 'baton-tasks@baton-test.iam.gserviceaccount.com',
        BATON_TASK_TARGETS: JSON.stringify({ 'design-run': 'https://baton-design-run-123.europe-west1.run.app' }),
      }),
    );
    const deps = makeDeps({
      scheduler,
      tasks,
      settings: {
        base_url: 'https://x',
        scheduled_url: 'https://baton-designs-scheduled-123.europe-west1.run.app',
        lease_ms: 60_000,
        max_request_bytes: 1 << 20,
        sync_commits: 'grouped' as const,
        run_task_deadline_ms: 960_000,
      },
    });
    const { record } = await deployEndpoint(deps, {
      design,
      endpoint_path: '/gcp',
      status: 'active',
      schedule: { enabled: true, interval_seconds: 900, timezone: 'America/New_York' },
    });
    const path = `projects/${PROJECT}/locations/${REGION}/jobs/baton-design-${record.id}`;
    const create = schedFake.callsOf('CreateJob').at(-1)?.request as { job: Record<string, unknown> };
    expect(create.job).toMatchObject({
      name: path,
      schedule: '*/15 * * * *',
      timeZone: 'America/New_York',
      httpTarget: {
        uri: 'https://baton-designs-scheduled-123.europe-west1.run.app',
        httpMethod: 'POST',
        oidcToken: { serviceAccountEmail: SA, audience: 'https://baton-designs-scheduled-123.europe-west1.run.app' },
      },
    });
    const body = (create.job.httpTarget as { body: string }).body;
    expect(JSON.parse(Buffer.from(body, 'base64').toString('utf8'))).toEqual({ deployment_id: record.id });

    await updateEndpoint(deps, record.id, { status: 'inactive' });
    expect(schedFake.jobs.get(path)?.state).toBe('PAUSED');
    await updateEndpoint(deps, record.id, {
      status: 'active',
      schedule: { enabled: true, cron_expression: '30 2 * * 1', timezone: 'UTC' },
    });
    expect(schedFake.jobs.get(path)).toMatchObject({ state: 'ENABLED', schedule: '30 2 * * 1', timeZone: 'Etc/UTC' });
    await updateEndpoint(deps, record.id, { schedule: null });
    expect(schedFake.jobs.has(path)).toBe(false);
    await updateEndpoint(deps, record.id, { schedule: { enabled: true, interval_seconds: 3600, timezone: 'UTC' } });
    expect(schedFake.jobs.get(path)).toMatchObject({ schedule: '0 * * * *' });

    expect(await fireSchedule(deps, record.id)).toBe('started');
    const task = tasksFake.callsOf('CreateTask').at(-1);
    if (!task) throw new Error('no CreateTask call');
    const t = (
      task.request as { task: { name: string; httpRequest: { url: string; body: string; oidcToken: { serviceAccountEmail: string } } } }
    ).task;
    expect(t.name).toMatch(new RegExp(`queues/${QUEUES.designRun}/tasks/run-exec-`));
    expect(t.httpRequest.url).toBe('https://baton-design-run-123.europe-west1.run.app');
    expect(t.httpRequest.oidcToken.serviceAccountEmail).toBe('baton-tasks@baton-test.iam.gserviceaccount.com');
    // A run may take up to 900 s: more than Cloud Tasks' default 10 min dispatch deadline.
    expect(Number((task.request as { task: { dispatchDeadline?: { seconds?: unknown } } }).task.dispatchDeadline?.seconds)).toBe(960);
    await expect(tasks.enqueue(QUEUES.designRun, { name: 'too-long', payload: {}, dispatch_deadline_ms: 31 * 60_000 })).rejects.toThrow(
      /outside what Cloud Tasks accepts \(15 s to 30 min\)/,
    );
    expect(JSON.parse(Buffer.from(t.httpRequest.body, 'base64').toString('utf8'))).toEqual({
      execution_id: expect.stringMatching(/^exec-/),
    });
  });
});
