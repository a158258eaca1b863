import { appendFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DocJournal } from '../../shared/adapters/local/doc-writer.js';
import { LocalEventBus } from '../../shared/adapters/local/event-bus.js';
import { LocalJobStore } from '../../shared/adapters/local/job-store.js';
import { LocalTaskQueue } from '../../shared/adapters/local/task-queue.js';
import { makeJob } from './suites/job-store.suite.js';
import { TempDirs, waitFor } from './suites/util.js';

const temp = new TempDirs();
afterEach(() => {
  vi.restoreAllMocks();
  temp.removeAll();
});

const segments = (dir: string) => readdirSync(join(dir, 'journal')).filter((f) => f.endsWith('.log'));

describe('DocJournal: the local adapters durable store', () => {
  it('answers a change only once it is synced, and concurrent changes share syncs (group commit)', async () => {
    const dir = temp.make('journal');
    const j = new DocJournal(dir);
    j.open(['jobs']);
    await Promise.all(Array.from({ length: 200 }, (_, i) => j.put(`jobs/d${i}`, { i })));
    expect(j.counters.changes).toBe(200);
    expect(j.counters.syncs).toBeLessThan(50);
    // Not flushed, not folded: a new process replays the journal alone.
    const reopened = new DocJournal(dir);
    const again = reopened.open(['jobs']);
    expect(again.size).toBe(200);
    expect(again.get('jobs/d7')).toEqual({ i: 7 });
    await reopened.flush();
  });

  it('folds sealed segments into one 0600 file per document in 0700 folders, and replays deletes', async () => {
    const dir = temp.make('journal-fold');
    const j = new DocJournal(dir, { segmentBytes: 256 });
    j.open(['jobs']);
    for (let i = 0; i < 20; i++) await j.put(`jobs/d${i % 5}`, { i });
    await j.delete('jobs/d0');
    await j.flush();
    expect(statSync(join(dir, 'jobs', 'd1.json')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'jobs')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'journal')).mode & 0o777).toBe(0o700);
    expect(segments(dir).length).toBeLessThanOrEqual(1);
    const reopened = new DocJournal(dir);
    const docs = reopened.open(['jobs']);
    expect([...docs.keys()].sort()).toEqual(['jobs/d1', 'jobs/d2', 'jobs/d3', 'jobs/d4']);
    expect(docs.get('jobs/d4')).toEqual({ i: 19 });
    // Start-up folds what it replayed, in the background.
    await reopened.flush();
    expect(segments(dir)).toEqual([]);
    expect(new DocJournal(dir).open(['jobs'])).toEqual(docs);
  });

  it('drops a torn last line (a kill mid-write) but refuses to start on a damaged committed line', async () => {
    const dir = temp.make('journal-torn');
    const j = new DocJournal(dir);
    j.open(['jobs']);
    await j.put('jobs/a', { v: 1 });
    await j.put('jobs/b', { v: 2 });
    const [seg] = segments(dir);
    appendFileSync(join(dir, 'journal', seg), '{"k":"jobs/c","d":{"v":');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const docs = new DocJournal(dir).open(['jobs']);
    expect([...docs.keys()].sort()).toEqual(['jobs/a', 'jobs/b']);
    expect(warn.mock.calls.join(' ')).toMatch(/torn last change/);

    const dir2 = temp.make('journal-damaged');
    const k = new DocJournal(dir2);
    k.open(['jobs']);
    await k.put('jobs/a', { v: 1 });
    await k.put('jobs/b', { v: 2 });
    const [seg2] = segments(dir2);
    const path = join(dir2, 'journal', seg2);
    writeFileSync(path, readFileSync(path, 'utf8').replace('"jobs/a"', '"jobs/a'));
    expect(() => new DocJournal(dir2).open(['jobs'])).toThrow(/unreadable at line 1.*will not start/);
  });
});

describe('unreadable state is reported and kept, never dropped or overwritten', () => {
  it('a job file that is not JSON, or not a job, is moved aside and named; the others load', async () => {
    const dir = temp.make('store-bad');
    const store = new LocalJobStore(dir);
    const good = makeJob('agent-g', 1);
    await store.create(good);
    await store.flush();
    writeFileSync(join(dir, 'jobs', 'broken.json'), '{"deployment_id": ');
    writeFileSync(join(dir, 'jobs', 'wrong.json'), JSON.stringify({ deployment_id: 'wrong', status: 'nonsense' }));
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    const after = new LocalJobStore(dir);
    expect(await after.get(good.deployment_id)).toEqual(good);
    expect(await after.get('wrong')).toBeNull();
    const said = err.mock.calls.join('\n');
    expect(said).toMatch(/broken\.json is unreadable: it is not JSON/);
    expect(said).toMatch(/wrong\.json is unreadable: it does not match its schema/);
    expect(readFileSync(join(dir, 'jobs', 'broken.json.unreadable'), 'utf8')).toBe('{"deployment_id": ');
    await after.flush();
  });

  it('a task file that cannot be read is reported, not silently skipped, and the other tasks run', async () => {
    const dir = temp.make('tasks-bad');
    const first = new LocalTaskQueue(dir);
    first.register('q', async () => {}, { maxAttempts: 1, minBackoffMs: 1, maxBackoffMs: 1 });
    await first.enqueue('q', { name: 'later', payload: { n: 1 }, schedule_time_ms: Date.now() + 60_000 });
    first.stop();
    await first.flush();
    writeFileSync(join(dir, 'q--garbled.json'), 'not json');
    const err = vi.spyOn(console, 'error').mockImplementation(() => {});
    const ran: unknown[] = [];
    const second = new LocalTaskQueue(dir);
    second.register('q', async (p) => void ran.push(p), { maxAttempts: 1, minBackoffMs: 1, maxBackoffMs: 1 });
    expect(second.resume()).toBe(1);
    expect(err.mock.calls.join('\n')).toMatch(/q--garbled\.json is unreadable/);
    expect(readdirSync(dir)).toContain('q--garbled.json.unreadable');
    second.stop();
  });

  it('a bus message whose handler never answers is delivered again after the ack deadline', async () => {
    const dir = temp.make('bus-hang');
    const bus = new LocalEventBus(dir);
    let calls = 0;
    bus.subscribe(
      's',
      't',
      async () => {
        calls++;
        // The first delivery hangs (neither acks nor fails); the redelivery succeeds.
        if (calls === 1) await new Promise(() => {});
      },
      { maxAttempts: 5, minBackoffMs: 10, maxBackoffMs: 10, ackDeadlineMs: 100 },
    );
    await bus.publish('t', Buffer.from('x'));
    await waitFor('a redelivery', () => calls >= 2, 3000);
    await waitFor('the acknowledgement', () => bus.counters.failed === 1 && calls === 2, 3000);
    await bus.flush();
    // Acknowledged: a restart has nothing to deliver.
    const again = new LocalEventBus(dir);
    again.subscribe('s', 't', async () => {}, { maxAttempts: 5, minBackoffMs: 10, maxBackoffMs: 10 });
    expect(again.resume()).toBe(0);
    bus.stop();
    again.stop();
  });
});
