import { describe, expect, it } from 'vitest';
import { buildLogLine, cloudBuildLogLine, completeLines, localStepName } from '../../shared/domain/build-log.js';
import type { BuildNotification } from '../../shared/domain/events.js';
import { QUEUES } from '../../shared/domain/topics.js';
import { onBuildNotification } from '../../shared/pipeline/build-events.js';
import { BUILD_LOG_READ_BYTES, copyBuildLog, pollBuildLog } from '../../shared/pipeline/build-log.js';
import { logKey } from '../../shared/pipeline/logs.js';
import { FakeBuilder, harness } from '../support/fakes.js';

/** A builder whose builds' logs grow as the test writes them, read by byte range as Cloud Build's log object is. */
class LoggingBuilder extends FakeBuilder {
  readonly logs = new Map<string, Buffer>();
  reads = 0;
  write(id: string, text: string) {
    this.logs.set(id, Buffer.concat([this.logs.get(id) ?? Buffer.alloc(0), Buffer.from(text)]));
  }
  async readLog(id: string, offset: number, max: number) {
    this.reads++;
    const all = this.logs.get(id) ?? Buffer.alloc(0);
    const data = all.subarray(offset, offset + max);
    return { data: Buffer.from(data), more: offset + data.length < all.length };
  }
}

const WAITING = {
  stage: 'building',
  token: 'b1',
  expires_at: '2999-01-01T00:00:00.000Z',
  done: false,
  ephemeral: false,
  holder: 'w',
} as const;

describe('build log lines (pure)', () => {
  it("names Cloud Build's steps by id (or number), and passes other lines through", () => {
    expect(cloudBuildLogLine('Step #1 - "build": Sending build context to Docker daemon  3.072kB')).toBe(
      'build: [build] Sending build context to Docker daemon  3.072kB',
    );
    expect(cloudBuildLogLine('Starting Step #0 - "fetch"')).toBe('build: [fetch] started');
    expect(cloudBuildLogLine('Finished Step #2 - "push"\r')).toBe('build: [push] finished');
    expect(cloudBuildLogLine('Step #3: no id here')).toBe('build: [step 3] no id here');
    expect(cloudBuildLogLine('FETCHSOURCE')).toBe('build: FETCHSOURCE');
    expect(buildLogLine('build', 'x'.repeat(5000))).toHaveLength(2000 + 1);
  });

  it('names a local step by its command up to the first option', () => {
    expect(localStepName('npm ci')).toBe('npm ci');
    expect(localStepName('npm prune --omit=dev')).toBe('npm prune');
    expect(localStepName('/app/.venv/bin/pip install -r requirements.txt')).toBe('pip install');
    expect(localStepName('go build -o server ./cmd/server')).toBe('go build');
    expect(localStepName('pnpm install --frozen-lockfile')).toBe('pnpm install');
    expect(localStepName("'/usr/bin/python3.11' -m venv --copies '/tmp/x'")).toBe('python3.11 -m venv');
    expect(localStepName('CGO_ENABLED=0 go build -trimpath -ldflags=-s -o server .')).toBe('go build');
    expect(localStepName('pip install -r requirements.txt && pip install gunicorn')).toBe('pip install');
    expect(localStepName('go mod download')).toBe('go mod download');
  });

  it('takes whole lines only, the last unfinished one left for the next read unless final, never splitting a character', () => {
    const chunk = Buffer.from('one\ntwo é\nthr');
    expect(completeLines(chunk, { final: false, full: false })).toEqual({ lines: ['one', 'two é'], consumed: 'one\ntwo é\n'.length + 1 });
    expect(completeLines(chunk, { final: true, full: false })).toEqual({ lines: ['one', 'two é', 'thr'], consumed: chunk.length });
    expect(completeLines(Buffer.from('partial'), { final: false, full: false })).toEqual({ lines: [], consumed: 0 });
    // A line longer than a whole read is taken as it is, or the log would never move on.
    expect(completeLines(Buffer.from('long'), { final: false, full: true })).toEqual({ lines: ['long'], consumed: 4 });
    expect(completeLines(Buffer.from('\n\n'), { final: false, full: false })).toEqual({ lines: [], consumed: 2 });
  });
});

describe("a running build's log copied into the deployment's log", () => {
  async function building() {
    const h = harness();
    const builder = new LoggingBuilder();
    h.deps.builder = builder;
    // Building, waiting on build b1 (its claim's token), as startBuild leaves it.
    await h.job('d1', {}, { status: 'building', build_id: 'b1', claim: WAITING });
    return { h, builder };
  }
  const tail = async (h: ReturnType<typeof harness>) => ((await h.jobs.get('d1'))?.logs ?? []).filter((l) => l.includes('build:'));
  const full = async (h: ReturnType<typeof harness>) =>
    ((await h.deps.blobs.get(logKey('svc', 'd1')))?.toString() ?? '').split('\n').filter((l) => l.includes('build:'));

  it('each poll copies the new whole lines once, records the offset, and schedules the next read', async () => {
    const { h, builder } = await building();
    builder.write('b1', 'Step #0 - "fetch": Fetching\nStep #0 - "fetch": Comm');
    expect(await pollBuildLog(h.deps, { type: 'build.log.v1', deployment_id: 'd1', build_id: 'b1', poll: 1 })).toBe(
      "copied 1 lines of the build's log",
    );
    expect((await tail(h)).map((l) => l.replace(/^\S+ INFO +/, ''))).toEqual(['[building] build: [fetch] Fetching']);
    expect((await h.jobs.get('d1'))?.build_log).toEqual({ build_id: 'b1', offset: 'Step #0 - "fetch": Fetching\n'.length, lines: 1 });
    builder.write('b1', 'it abc\nStarting Step #1 - "build"\n');
    // The same task delivered twice, then the next: each line once.
    await pollBuildLog(h.deps, { type: 'build.log.v1', deployment_id: 'd1', build_id: 'b1', poll: 2 });
    await pollBuildLog(h.deps, { type: 'build.log.v1', deployment_id: 'd1', build_id: 'b1', poll: 2 });
    await pollBuildLog(h.deps, { type: 'build.log.v1', deployment_id: 'd1', build_id: 'b1', poll: 3 });
    const expected = ['build: [fetch] Fetching', 'build: [fetch] Commit abc', 'build: [build] started'];
    expect((await tail(h)).map((l) => l.slice(l.indexOf('build:')))).toEqual(expected);
    expect((await full(h)).map((l) => l.slice(l.indexOf('build:')))).toEqual(expected);
    // One named task per poll number, on baton-build-log, the interval apart.
    expect(h.tasks.tasks.map((t) => [t.queue, (t.payload as { poll: number }).poll])).toEqual([
      [QUEUES.buildLog, 2],
      [QUEUES.buildLog, 3],
      [QUEUES.buildLog, 4],
    ]);
  });

  it('two readers at once (a poll and the final read): the offset decides, no line twice', async () => {
    const { h, builder } = await building();
    builder.write('b1', Array.from({ length: 30 }, (_, i) => `Step #1 - "build": line ${i}\n`).join(''));
    const job = await h.jobs.get('d1');
    if (!job) throw new Error('no job');
    await Promise.all([copyBuildLog(h.deps, job, 'b1', { final: false }), copyBuildLog(h.deps, job, 'b1', { final: true })]);
    const lines = (await full(h)).map((l) => l.slice(l.indexOf('[build] ')));
    expect(lines).toEqual(Array.from({ length: 30 }, (_, i) => `[build] line ${i}`));
    expect((await h.jobs.get('d1'))?.build_log?.lines).toBe(30);
    expect((await tail(h)).length).toBe(20);
  });

  it('more than one read holds: the next poll is at once; a line longer than a read is still taken', async () => {
    const { h, builder } = await building();
    builder.write('b1', `${'x'.repeat(BUILD_LOG_READ_BYTES + 10)}\nStep #2 - "push": pushed\n`);
    await pollBuildLog(h.deps, { type: 'build.log.v1', deployment_id: 'd1', build_id: 'b1', poll: 1 });
    expect(h.tasks.tasks.at(-1)?.schedule_time_ms).toBe(h.clock.now().getTime());
    await pollBuildLog(h.deps, { type: 'build.log.v1', deployment_id: 'd1', build_id: 'b1', poll: 2 });
    await pollBuildLog(h.deps, { type: 'build.log.v1', deployment_id: 'd1', build_id: 'b1', poll: 3 });
    const lines = await full(h);
    expect(lines.at(-1)).toMatch(/build: \[push\] pushed$/);
    expect(lines[0]).toContain(`build: ${'x'.repeat(100)}`);
  });

  it('stops following once the build is no longer the one running, and the end of the build reads the rest first', async () => {
    const { h, builder } = await building();
    builder.write('b1', 'Step #1 - "build": Successfully built\nDONE');
    const note = (status: BuildNotification['status']): BuildNotification => ({
      id: 'b1',
      status,
      tags: ['baton-d1'],
      substitutions: { _DEPLOYMENT_ID: 'd1' },
      results: { images: [{ name: 'img', digest: 'sha256:1' }] },
    });
    // WORKING starts the chain (once, however often it is told).
    await onBuildNotification(h.deps, note('WORKING'));
    await onBuildNotification(h.deps, note('WORKING'));
    expect(h.tasks.tasks.map((t) => (t.payload as { poll: number }).poll)).toEqual([1]);
    expect(await onBuildNotification(h.deps, note('SUCCESS'))).toBe('built');
    const log = (await h.deps.blobs.get(logKey('svc', 'd1')))?.toString() ?? '';
    // The unfinished last line too, and before the outcome.
    expect(log.indexOf('build: DONE')).toBeGreaterThan(log.indexOf('build: [build] Successfully built'));
    expect(log.indexOf('succeeded: img@sha256:1')).toBeGreaterThan(log.indexOf('build: DONE'));
    expect(await pollBuildLog(h.deps, { type: 'build.log.v1', deployment_id: 'd1', build_id: 'b1', poll: 1 })).toMatch(/no longer running/);
    expect(h.tasks.tasks).toHaveLength(1);
  });

  it('a builder with no log to read (the local one) schedules nothing', async () => {
    const h = harness();
    await h.job('d1', {}, { status: 'building', build_id: 'b1', claim: WAITING });
    await onBuildNotification(h.deps, { id: 'b1', status: 'WORKING', tags: ['baton-d1'], substitutions: { _DEPLOYMENT_ID: 'd1' } });
    expect(h.tasks.tasks).toEqual([]);
  });
});
