import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CloudSchedulerAdapter } from '../../shared/adapters/gcp/scheduler.js';
import { LocalScheduler } from '../../shared/adapters/local/scheduler.js';
import type { Clock } from '../../shared/ports/clock.js';
import type { Attributes, EventBus, ScheduledJob, Scheduler, ScheduleSpec } from '../../shared/ports/index.js';
import { buildGcpClients, type GcpClients } from '../../shared/wiring/gcp-clients.js';
import { GcpConfigSchema } from '../../shared/wiring/gcp-config.js';
import { FakeClock } from '../support/fakes.js';
import { FakeCloudSchedulerServer } from '../support/gcp-fakes/scheduler-server.js';
import { TempDirs, waitFor } from './suites/util.js';

/**
 * The Scheduler contract (Cloud Scheduler: recurring jobs on a unix cron schedule in a time zone),
 * run against LocalScheduler and against CloudSchedulerAdapter on the in-process Cloud Scheduler
 * gRPC fake. The contract is about the jobs' definitions and states; that a job fires on time is
 * proved for the local scheduler only (below), since the fake never runs anything, and cron
 * semantics by test/unit/cron.test.ts.
 */

interface SchedulerHarness {
  scheduler: Scheduler;
  cleanup(): Promise<void>;
}

const uniqueName = (base: string) => `${base}-${Math.random().toString(36).slice(2, 10)}`;

function schedulerContract(name: string, make: () => Promise<SchedulerHarness>): void {
  describe(`Scheduler contract: ${name}`, () => {
    let h: SchedulerHarness;
    let s: Scheduler;
    beforeEach(async () => {
      h = await make();
      s = h.scheduler;
    });
    afterEach(async () => {
      await h.cleanup();
    });

    const topicJob = (jobName: string): ScheduleSpec => ({
      name: jobName,
      cron: '* * * * *',
      time_zone: 'Etc/UTC',
      target: { kind: 'topic', topic: 'baton-watchdog', data: '{"sweep":true}', attributes: { source: 'scheduler' } },
      description: 'sweeps stuck deployments',
    });

    it('creates a job; get returns it, enabled', async () => {
      const spec = topicJob(uniqueName('watchdog'));
      await s.upsert(spec);
      expect(await s.get(spec.name)).toEqual({ ...spec, state: 'enabled' } satisfies ScheduledJob);
    });

    it('upsert of an existing job replaces its schedule, time zone, target and description', async () => {
      const jobName = uniqueName('replace');
      await s.upsert(topicJob(jobName));
      const replaced: ScheduleSpec = {
        name: jobName,
        cron: '*/5 9-17 * * MON-FRI',
        time_zone: 'Europe/Paris',
        target: { kind: 'topic', topic: 'baton-other', data: 'plain text' },
      };
      await s.upsert(replaced);
      expect(await s.get(jobName)).toEqual({ ...replaced, state: 'enabled' });
    });

    it('upsert switches a topic target to an http target and back', async () => {
      const jobName = uniqueName('switch');
      await s.upsert(topicJob(jobName));
      const http: ScheduleSpec = {
        name: jobName,
        cron: '0 3 * * *',
        time_zone: 'America/New_York',
        target: { kind: 'http', url: 'https://example.test/run', body: '{"a":1}' },
      };
      await s.upsert(http);
      expect(await s.get(jobName)).toEqual({ ...http, state: 'enabled' });
      await s.upsert(topicJob(jobName));
      expect(await s.get(jobName)).toEqual({ ...topicJob(jobName), state: 'enabled' });
    });

    it('pause and resume change the state, are idempotent, and an upsert keeps it', async () => {
      const spec = topicJob(uniqueName('pausable'));
      await s.upsert(spec);
      await s.pause(spec.name);
      expect((await s.get(spec.name))?.state).toBe('paused');
      await s.pause(spec.name);
      expect((await s.get(spec.name))?.state).toBe('paused');
      await s.upsert({ ...spec, cron: '0 * * * *' });
      expect(await s.get(spec.name)).toEqual({ ...spec, cron: '0 * * * *', state: 'paused' });
      await s.resume(spec.name);
      expect((await s.get(spec.name))?.state).toBe('enabled');
      await s.resume(spec.name);
      expect((await s.get(spec.name))?.state).toBe('enabled');
    });

    it('delete removes the job: get is null after, and deleting again is fine', async () => {
      const spec = topicJob(uniqueName('doomed'));
      await s.upsert(spec);
      await s.delete(spec.name);
      expect(await s.get(spec.name)).toBeNull();
      await s.delete(spec.name);
      // It can be created again.
      await s.upsert(spec);
      expect((await s.get(spec.name))?.state).toBe('enabled');
    });

    it('get of an unknown job is null; pausing or resuming one is an error naming it', async () => {
      expect(await s.get('never-created')).toBeNull();
      await expect(s.pause('never-created')).rejects.toThrow(/no scheduled job named "never-created"/);
      await expect(s.resume('never-created')).rejects.toThrow(/no scheduled job named "never-created"/);
    });

    it('jobs are independent', async () => {
      const a = topicJob(uniqueName('a'));
      const b = { ...topicJob(uniqueName('b')), cron: '30 2 * * *' };
      await s.upsert(a);
      await s.upsert(b);
      await s.pause(a.name);
      await s.delete(a.name);
      expect(await s.get(b.name)).toEqual({ ...b, state: 'enabled' });
    });

    it('refuses a seconds field, invalid cron, an unknown time zone, a bad name or target, and writes nothing', async () => {
      const base = topicJob(uniqueName('bad'));
      await expect(s.upsert({ ...base, cron: '0 * * * * *' })).rejects.toThrow(/seconds field is not supported/);
      await expect(s.upsert({ ...base, cron: '61 * * * *' })).rejects.toThrow(/minute field "61": 61 is out of range 0-59/);
      await expect(s.upsert({ ...base, time_zone: 'Mars/Olympus' })).rejects.toThrow(/unknown time zone "Mars\/Olympus"/);
      await expect(s.upsert({ ...base, name: 'has space' })).rejects.toThrow(/invalid job name/);
      await expect(s.upsert({ ...base, target: { kind: 'topic', topic: 'baton-x', data: '' } })).rejects.toThrow(
        /needs data or attributes/,
      );
      await expect(s.upsert({ ...base, target: { kind: 'http', url: 'ftp://example.test/' } })).rejects.toThrow(/invalid target URL/);
      expect(await s.get(base.name)).toBeNull();
    });
  });
}

/** Records what is published. */
class RecordingBus implements EventBus {
  readonly published: { topic: string; data: string; attributes: Attributes }[] = [];
  async publish(topic: string, data: Buffer, attributes: Attributes = {}): Promise<string> {
    this.published.push({ topic, data: data.toString('utf8'), attributes });
    return String(this.published.length);
  }
}

const temp = new TempDirs();
afterAll(() => temp.removeAll());

schedulerContract('LocalScheduler on a folder', async () => {
  const scheduler = new LocalScheduler(temp.make('scheduler'), new RecordingBus());
  return { scheduler, cleanup: async () => scheduler.stop() };
});

schedulerContract('LocalScheduler in memory', async () => {
  const scheduler = new LocalScheduler(null, new RecordingBus());
  return { scheduler, cleanup: async () => scheduler.stop() };
});

const PROJECT = 'baton-test';
const REGION = 'europe-west1';
const SA = 'baton-scheduler@baton-test.iam.gserviceaccount.com';
let fake: FakeCloudSchedulerServer;
const clients: GcpClients[] = [];

beforeAll(async () => {
  fake = await FakeCloudSchedulerServer.start();
});
afterAll(async () => {
  for (const c of clients.splice(0)) await c.scheduler.close();
  await fake.close();
});

function gcpScheduler(): CloudSchedulerAdapter {
  const config = GcpConfigSchema.parse({
    BATON_GCP_PROJECT: PROJECT,
    BATON_GCP_REGION: REGION,
    BATON_BUCKET: 'baton-test-bucket',
    BATON_SCHEDULER_ENDPOINT: fake.endpoint,
  });
  const built = buildGcpClients(config);
  clients.push(built);
  return new CloudSchedulerAdapter(built.scheduler, {
    project: config.BATON_GCP_PROJECT,
    region: config.BATON_GCP_REGION,
    serviceAccountEmail: SA,
  });
}

schedulerContract('CloudSchedulerAdapter on the fake Cloud Scheduler API', async () => ({
  scheduler: gcpScheduler(),
  cleanup: async () => {},
}));

describe('CloudSchedulerAdapter on the fake: requests', () => {
  const jobPath = (name: string) => `projects/${PROJECT}/locations/${REGION}/jobs/${name}`;

  it('creates a Pub/Sub job: topic path, base64 data, attributes, schedule and time zone', async () => {
    const s = gcpScheduler();
    const name = uniqueName('watchdog');
    const from = fake.calls.length;
    await s.upsert({
      name,
      cron: '* * * * *',
      time_zone: 'Europe/Paris',
      target: { kind: 'topic', topic: 'baton-watchdog', data: '{"sweep":true}', attributes: { a: 'b' } },
    });
    const calls = fake.calls.slice(from);
    expect(calls.map((c) => `${c.method} ${c.code}`)).toEqual(['GetJob 5', 'CreateJob 0']);
    expect(calls[1].request).toEqual({
      parent: `projects/${PROJECT}/locations/${REGION}`,
      job: {
        name: jobPath(name),
        schedule: '* * * * *',
        timeZone: 'Europe/Paris',
        pubsubTarget: {
          topicName: `projects/${PROJECT}/topics/baton-watchdog`,
          data: Buffer.from('{"sweep":true}').toString('base64'),
          attributes: { a: 'b' },
        },
        target: 'pubsubTarget',
      },
    });
  });

  it('updates an existing job with an update mask, and sends an HTTP target with an OIDC token for its URL', async () => {
    const s = gcpScheduler();
    const name = uniqueName('http');
    await s.upsert({ name, cron: '0 * * * *', time_zone: 'Etc/UTC', target: { kind: 'topic', topic: 'baton-watchdog', data: 'x' } });
    const from = fake.calls.length;
    await s.upsert({
      name,
      cron: '*/10 * * * *',
      time_zone: 'Etc/UTC',
      target: { kind: 'http', url: 'https://watchdog-abc.a.run.app/', body: '{}' },
    });
    const calls = fake.calls.slice(from);
    expect(calls.map((c) => `${c.method} ${c.code}`)).toEqual(['GetJob 0', 'UpdateJob 0']);
    const request = calls[1].request as { job: Record<string, unknown>; updateMask: { paths: string[] } };
    expect(request.updateMask.paths.sort()).toEqual(['description', 'http_target', 'pubsub_target', 'schedule', 'time_zone']);
    expect(request.job.httpTarget).toEqual({
      uri: 'https://watchdog-abc.a.run.app/',
      httpMethod: 'POST',
      body: Buffer.from('{}').toString('base64'),
      oidcToken: { serviceAccountEmail: SA, audience: 'https://watchdog-abc.a.run.app/' },
      authorizationHeader: 'oidcToken',
    });
    expect(request.job.pubsubTarget).toBeUndefined();
    const stored = fake.jobs.get(jobPath(name));
    expect(stored?.pubsubTarget).toBeUndefined();
    expect(stored?.schedule).toBe('*/10 * * * *');
  });

  it('pause of a paused job meets FAILED_PRECONDITION from the API and succeeds after checking the state', async () => {
    const s = gcpScheduler();
    const name = uniqueName('twice');
    await s.upsert({ name, cron: '0 * * * *', time_zone: 'Etc/UTC', target: { kind: 'topic', topic: 'baton-watchdog', data: 'x' } });
    await s.pause(name);
    const from = fake.calls.length;
    await s.pause(name);
    expect(fake.calls.slice(from).map((c) => `${c.method} ${c.code}`)).toEqual(['PauseJob 9', 'GetJob 0']);
  });

  it('refuses before calling the API when the cron is invalid', async () => {
    const s = gcpScheduler();
    const from = fake.calls.length;
    await expect(
      s.upsert({ name: 'x', cron: '* * * *', time_zone: 'Etc/UTC', target: { kind: 'topic', topic: 'baton-watchdog', data: 'x' } }),
    ).rejects.toThrow(/4 field/);
    expect(fake.calls.length).toBe(from);
  });
});

describe('LocalScheduler: firing', () => {
  const schedulers: LocalScheduler[] = [];
  afterEach(() => {
    for (const s of schedulers.splice(0)) s.stop();
  });
  const open = (dir: string | null, bus: EventBus, clock: Clock, fetchFn?: typeof fetch) => {
    const s = new LocalScheduler(dir, bus, { clock, fetch: fetchFn });
    schedulers.push(s);
    return s;
  };

  it('a topic job fires on its minute, publishing its data and attributes to the bus; paused, it does not', async () => {
    const clock = new FakeClock(Date.parse('2026-03-01T12:00:30.000Z'));
    const bus = new RecordingBus();
    const s = open(null, bus, clock);
    await s.upsert({
      name: 'watchdog',
      cron: '* * * * *',
      time_zone: 'Etc/UTC',
      target: { kind: 'topic', topic: 'baton-watchdog', data: '{"sweep":true}', attributes: { k: 'v' } },
    });
    expect(s.nextRun('watchdog')?.toISOString()).toBe('2026-03-01T12:01:00.000Z');
    expect(await s.runDue()).toEqual([]);
    clock.advance(30_000);
    expect(await s.runDue()).toEqual(['watchdog']);
    expect(bus.published).toEqual([{ topic: 'baton-watchdog', data: '{"sweep":true}', attributes: { k: 'v' } }]);
    // Not twice for the same minute.
    expect(await s.runDue()).toEqual([]);
    expect(s.nextRun('watchdog')?.toISOString()).toBe('2026-03-01T12:02:00.000Z');

    await s.pause('watchdog');
    clock.advance(120_000);
    expect(await s.runDue()).toEqual([]);
    await s.resume('watchdog');
    // Minutes missed while paused are not made up.
    expect(await s.runDue()).toEqual([]);
    clock.advance(60_000);
    expect(await s.runDue()).toEqual(['watchdog']);
    expect(bus.published).toHaveLength(2);
    expect(s.counters).toEqual({ fired: 2, failed: 0 });
  });

  it('fires on the wall clock of its time zone', async () => {
    const clock = new FakeClock(Date.parse('2026-01-15T07:59:00.000Z'));
    const bus = new RecordingBus();
    const s = open(null, bus, clock);
    await s.upsert({
      name: 'morning',
      cron: '0 9 * * *',
      time_zone: 'Europe/Paris',
      target: { kind: 'topic', topic: 'baton-x', data: 'hi' },
    });
    expect(s.nextRun('morning')?.toISOString()).toBe('2026-01-15T08:00:00.000Z');
    clock.advance(60_000);
    expect(await s.runDue()).toEqual(['morning']);
    expect(s.nextRun('morning')?.toISOString()).toBe('2026-01-16T08:00:00.000Z');
  });

  it('fires on a real timer when started: a clock set 150 ms before the next minute', async () => {
    let offset = 0;
    const clock: Clock = { now: () => new Date(Date.now() + offset) };
    const bus = new RecordingBus();
    const s = open(null, bus, clock);
    await s.upsert({ name: 'tick', cron: '* * * * *', time_zone: 'Etc/UTC', target: { kind: 'topic', topic: 'baton-tick', data: 'tick' } });
    const due = s.nextRun('tick')?.getTime() ?? 0;
    offset = due - 150 - Date.now();
    s.start();
    await waitFor('the job to fire', () => bus.published.length >= 1, 5000);
    expect(bus.published[0].topic).toBe('baton-tick');
    expect(s.nextRun('tick')?.getTime()).toBe(due + 60_000);
  });

  it('an http job POSTs its body with fetch; a non-2xx answer counts as failed', async () => {
    const received: { method: string; url: string; body: string }[] = [];
    let status = 200;
    const server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ method: req.method ?? '', url: req.url ?? '', body: Buffer.concat(chunks).toString() });
        res.writeHead(status);
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/watchdog`;
      const clock = new FakeClock(Date.parse('2026-03-01T12:00:59.000Z'));
      const errors: string[] = [];
      const s = new LocalScheduler(null, new RecordingBus(), { clock, onError: (job, err) => void errors.push(`${job}: ${String(err)}`) });
      schedulers.push(s);
      await s.upsert({ name: 'hook', cron: '* * * * *', time_zone: 'Etc/UTC', target: { kind: 'http', url, body: '{"sweep":true}' } });
      clock.advance(1000);
      await s.runDue();
      expect(received).toEqual([{ method: 'POST', url: '/watchdog', body: '{"sweep":true}' }]);
      status = 500;
      clock.advance(60_000);
      await s.runDue();
      expect(received).toHaveLength(2);
      expect(s.counters).toEqual({ fired: 1, failed: 1 });
      expect(errors).toEqual([expect.stringContaining('answered 500')]);
    } finally {
      server.close();
    }
  });

  it('jobs and their state survive a restart on the same folder', async () => {
    const dir = temp.make('scheduler-restart');
    const clock = new FakeClock(Date.parse('2026-03-01T12:00:30.000Z'));
    const first = open(dir, new RecordingBus(), clock);
    await first.upsert({
      name: 'kept',
      cron: '*/15 * * * *',
      time_zone: 'America/New_York',
      target: { kind: 'topic', topic: 'baton-x', data: 'd' },
    });
    await first.upsert({ name: 'paused', cron: '* * * * *', time_zone: 'Etc/UTC', target: { kind: 'http', url: 'https://example.test/' } });
    await first.pause('paused');
    first.stop();
    const bus = new RecordingBus();
    const second = open(dir, bus, clock);
    expect((await second.get('kept'))?.cron).toBe('*/15 * * * *');
    expect((await second.get('paused'))?.state).toBe('paused');
    clock.advance(15 * 60_000);
    expect(await second.runDue()).toEqual(['kept']);
    expect(bus.published).toHaveLength(1);
  });
});
