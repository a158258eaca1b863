import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CloudTasksQueue } from '../../shared/adapters/gcp/task-queue.js';
import { QUEUES } from '../../shared/domain/topics.js';
import { buildGcpClients, type GcpClients } from '../../shared/wiring/gcp-clients.js';
import { type GcpConfig, GcpConfigSchema } from '../../shared/wiring/gcp-config.js';
import { FakeClock } from '../support/fakes.js';
import { FakeCloudTasksServer } from '../support/gcp-fakes/tasks-server.js';

/**
 * CloudTasksQueue against the in-process Cloud Tasks gRPC fake. The TaskQueue contract suite is
 * about dispatch (schedule times met, retries, give-up), which a fake that never dispatches cannot
 * prove; these tests check instead that the request Cloud Tasks receives is the one that makes it
 * dispatch correctly: queue path, task name, schedule time, target URL, OIDC identity and
 * audience, and a body that decodes to the payload; and that a reused name is 'exists'.
 */

const PROJECT = 'baton-test';
const REGION = 'europe-west1';
const SA = 'baton-tasks@baton-test.iam.gserviceaccount.com';
const TARGETS = { verify: 'https://verify-abc123-ew.a.run.app', 'canary-step': 'https://canary-step-abc123-ew.a.run.app' };

let fake: FakeCloudTasksServer;
const clock = new FakeClock(Date.parse('2026-03-01T12:00:00.000Z'));
const clients: GcpClients[] = [];

beforeAll(async () => {
  fake = await FakeCloudTasksServer.start({
    queues: [QUEUES.verifyPoll, QUEUES.promoteStep].map((q) => `projects/${PROJECT}/locations/${REGION}/queues/${q}`),
    now: () => clock.now().getTime(),
  });
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.tasks.close();
});
afterAll(async () => {
  await fake.close();
});

function config(extra: Record<string, string> = {}): GcpConfig {
  return GcpConfigSchema.parse({
    BATON_GCP_PROJECT: PROJECT,
    BATON_GCP_REGION: REGION,
    BATON_BUCKET: 'baton-test-bucket',
    BATON_TASKS_ENDPOINT: fake.endpoint,
    BATON_TASKS_SERVICE_ACCOUNT: SA,
    BATON_TASK_TARGETS: JSON.stringify(TARGETS),
    ...extra,
  });
}

function queueFor(cfg: GcpConfig = config()): CloudTasksQueue {
  const built = buildGcpClients(cfg);
  clients.push(built);
  return CloudTasksQueue.fromConfig(built.tasks, cfg, clock);
}

const unique = (base: string) => `${base}-${Math.random().toString(36).slice(2, 10)}`;

describe('CloudTasksQueue on the fake Cloud Tasks API', () => {
  it('sends the exact CreateTask request: queue path, name, schedule time, url, OIDC identity and audience, JSON body', async () => {
    const queue = queueFor();
    const name = unique('a1b2c3d4-dep-1-verify-poll-3');
    const payload = { deployment_id: 'dep-1', poll: 3, note: 'héllo' };
    const at = clock.now().getTime() + 20_250;
    const from = fake.calls.length;

    expect(await queue.enqueue(QUEUES.verifyPoll, { name, payload, schedule_time_ms: at })).toBe('created');

    const calls = fake.calls.slice(from);
    expect(calls).toHaveLength(1);
    expect(calls[0].method).toBe('CreateTask');
    expect(calls[0].code).toBe(0);
    const parent = `projects/${PROJECT}/locations/${REGION}/queues/${QUEUES.verifyPoll}`;
    const request = calls[0].request as { parent: string; task: Record<string, unknown> };
    expect(request.parent).toBe(parent);
    expect(request.task).toEqual({
      name: `${parent}/tasks/${name}`,
      scheduleTime: { seconds: String(Math.floor(at / 1000)), nanos: 250_000_000 },
      httpRequest: {
        httpMethod: 'POST',
        url: TARGETS.verify,
        headers: { 'content-type': 'application/json' },
        body: expect.any(String),
        oidcToken: { serviceAccountEmail: SA, audience: TARGETS.verify },
        authorizationHeader: 'oidcToken',
      },
      messageType: 'httpRequest',
    });
    const http = request.task.httpRequest as { body: string };
    expect(JSON.parse(Buffer.from(http.body, 'base64').toString('utf8'))).toEqual(payload);
    // The routing header the service uses to find the queue.
    expect(String(calls[0].metadata['x-goog-request-params'])).toContain(encodeURIComponent(parent));
    expect(queue.counters.created).toBe(1);
  });

  it('targets the function SUBSCRIPTIONS names for the queue', async () => {
    const queue = queueFor();
    const from = fake.calls.length;
    await queue.enqueue(QUEUES.promoteStep, { name: unique('step'), payload: { step: 2 } });
    const task = (fake.calls[from].request as { task: { httpRequest: { url: string; oidcToken: { audience: string } } } }).task;
    expect(task.httpRequest.url).toBe(TARGETS['canary-step']);
    expect(task.httpRequest.oidcToken.audience).toBe(TARGETS['canary-step']);
  });

  it('leaves the schedule time to the service when the task has none', async () => {
    const queue = queueFor();
    const from = fake.calls.length;
    await queue.enqueue(QUEUES.verifyPoll, { name: unique('now'), payload: null });
    const task = (fake.calls[from].request as { task: Record<string, unknown> }).task;
    expect(task.scheduleTime).toBeUndefined();
    expect(JSON.parse(Buffer.from(String((task.httpRequest as { body: string }).body), 'base64').toString())).toBeNull();
  });

  it('a reused name is "exists" (ALREADY_EXISTS), and the first task is kept', async () => {
    const queue = queueFor();
    const name = unique('dup');
    expect(await queue.enqueue(QUEUES.verifyPoll, { name, payload: 'first' })).toBe('created');
    expect(await queue.enqueue(QUEUES.verifyPoll, { name, payload: 'second' })).toBe('exists');
    // A second instance (another function) sees the same.
    expect(await queueFor().enqueue(QUEUES.verifyPoll, { name, payload: 'third' })).toBe('exists');
    expect(fake.callsOf('CreateTask').filter((c) => c.code === 6)).not.toHaveLength(0);
    const stored = fake.tasks.get(`projects/${PROJECT}/locations/${REGION}/queues/${QUEUES.verifyPoll}/tasks/${name}`);
    expect(Buffer.from(String(stored?.httpRequest.body), 'base64').toString()).toBe('"first"');
    expect(queue.counters).toEqual({ created: 1, deduplicated: 1 });
  });

  it('concurrent enqueues of one name create it once', async () => {
    const queue = queueFor();
    const name = unique('race');
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => queue.enqueue(QUEUES.verifyPoll, { name, payload: i })));
    expect(results.filter((r) => r === 'created')).toHaveLength(1);
    expect(results.filter((r) => r === 'exists')).toHaveLength(9);
  });

  it('the same name in two queues is two tasks', async () => {
    const queue = queueFor();
    const name = unique('shared');
    expect(await queue.enqueue(QUEUES.verifyPoll, { name, payload: 1 })).toBe('created');
    expect(await queue.enqueue(QUEUES.promoteStep, { name, payload: 2 })).toBe('created');
  });

  it('refuses a schedule time more than 30 days ahead, before calling the service; 30 days is fine', async () => {
    const queue = queueFor();
    const from = fake.calls.length;
    const now = clock.now().getTime();
    await expect(
      queue.enqueue(QUEUES.verifyPoll, { name: unique('far'), payload: 1, schedule_time_ms: now + 31 * 86_400_000 }),
    ).rejects.toThrow(/31\.0 days ahead; Cloud Tasks accepts at most 30 days/);
    expect(fake.calls.length).toBe(from);
    expect(await queue.enqueue(QUEUES.verifyPoll, { name: unique('edge'), payload: 1, schedule_time_ms: now + 30 * 86_400_000 })).toBe(
      'created',
    );
  });

  it('a schedule time in the past is sent as is (Cloud Tasks runs it at once)', async () => {
    const queue = queueFor();
    const from = fake.calls.length;
    const past = clock.now().getTime() - 60_000;
    await queue.enqueue(QUEUES.verifyPoll, { name: unique('past'), payload: 1, schedule_time_ms: past });
    expect((fake.calls[from].request as { task: { scheduleTime: unknown } }).task.scheduleTime).toEqual({
      seconds: String(past / 1000),
      nanos: 0,
    });
  });

  it('refuses invalid task names without calling the service', async () => {
    const queue = queueFor();
    const from = fake.calls.length;
    for (const name of ['has spaces!', 'a/b', '', 'x'.repeat(501)]) {
      await expect(queue.enqueue(QUEUES.verifyPoll, { name, payload: null }), name).rejects.toThrow(/invalid task name/);
    }
    expect(fake.calls.length).toBe(from);
  });

  it('names what is missing: an unknown queue, a function without a URL, a queue Cloud Tasks does not have', async () => {
    await expect(queueFor().enqueue('no-such-queue', { name: 't', payload: null })).rejects.toThrow(/unknown queue "no-such-queue"/);
    const noTargets = queueFor(config({ BATON_TASK_TARGETS: JSON.stringify({ verify: TARGETS.verify }) }));
    await expect(noTargets.enqueue(QUEUES.promoteStep, { name: 't', payload: null })).rejects.toThrow(
      /BATON_TASK_TARGETS has no URL for the function "canary-step"/,
    );
    const otherRegion = queueFor(config({ BATON_GCP_REGION: 'us-east1' }));
    await expect(otherRegion.enqueue(QUEUES.verifyPoll, { name: unique('t'), payload: null })).rejects.toThrow(
      /queue projects\/baton-test\/locations\/us-east1\/queues\/baton-verify-poll does not exist/,
    );
    const built = buildGcpClients(config());
    clients.push(built);
    expect(() => CloudTasksQueue.fromConfig(built.tasks, { ...config(), BATON_TASKS_SERVICE_ACCOUNT: undefined })).toThrow(
      /BATON_TASKS_SERVICE_ACCOUNT is not set/,
    );
  });
});
