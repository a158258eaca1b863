import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RevisionLogFiles } from '../../shared/adapters/local/revision-logs.js';
import { runtimeLogsContract } from './suites/runtime-logs.suite.js';
import { TempDirs } from './suites/util.js';

const temp = new TempDirs();
afterEach(() => temp.removeAll());

runtimeLogsContract('local files', async () => {
  const logs = new RevisionLogFiles(temp.make('revision-logs'));
  return {
    logs,
    write: async (service, revision, stream, line) => logs.append(service, revision, stream, line),
    close: async () => logs.flush(),
  };
});

describe('RevisionLogFiles on disk', () => {
  it('keeps at most twice maxBytes per revision, the newest lines, in files 0600 under folders 0700', async () => {
    const dir = temp.make('revision-logs');
    const logs = new RevisionLogFiles(dir, { maxBytes: 4096 });
    for (let i = 0; i < 500; i++) logs.append('shop', 'shop-aaa', 'stdout', `line ${i} ${'x'.repeat(40)}`);
    logs.flush();
    for (let i = 500; i < 1000; i++) logs.append('shop', 'shop-aaa', 'stdout', `line ${i} ${'x'.repeat(40)}`);
    logs.flush();
    const folder = join(dir, 'shop');
    const files = readdirSync(folder).sort();
    expect(files).toEqual(['shop-aaa.log', 'shop-aaa.log.1']);
    for (const f of files) {
      expect(statSync(join(folder, f)).size).toBeLessThanOrEqual(4096);
      expect(statSync(join(folder, f)).mode & 0o777).toBe(0o600);
    }
    expect(statSync(folder).mode & 0o777).toBe(0o700);
    expect(statSync(dir).mode & 0o077).toBe(0);
    const kept = await logs.read({ service: 'shop', revision: 'shop-aaa' }, 1000);
    expect(kept.at(-1)?.message).toMatch(/^line 999 /);
    expect(kept.length).toBeLessThan(200);
    // Contiguous: rotation drops the oldest lines, never some in the middle.
    const numbers = kept.map((e) => Number(e.message.split(' ')[1]));
    expect(numbers).toEqual(numbers.map((_, i) => numbers[0] + i));
  });

  it('keeps lines across a restart, numbered after the ones before it', async () => {
    const dir = temp.make('revision-logs');
    const first = new RevisionLogFiles(dir);
    first.append('shop', 'shop-aaa', 'stdout', 'before');
    first.flush();
    await new Promise((r) => setTimeout(r, 2));
    const second = new RevisionLogFiles(dir);
    second.append('shop', 'shop-aaa', 'stderr', 'after');
    const read = await second.read({ service: 'shop' }, 10);
    expect(read.map((e) => e.message)).toEqual(['before', 'after']);
    expect(Number(read[1]?.id)).toBeGreaterThan(Number(read[0]?.id));
  });

  it('refuses names Baton does not make, so no line lands outside its folder', async () => {
    const dir = temp.make('revision-logs');
    const logs = new RevisionLogFiles(dir);
    logs.append('..', 'x', 'stdout', 'escape');
    logs.append('shop', '../../etc', 'stdout', 'escape');
    logs.flush();
    expect(readdirSync(dir)).toEqual([]);
    expect(await logs.read({ service: '..' }, 10)).toEqual([]);
  });

  it('removes a revision its garbage collection no longer keeps', async () => {
    const dir = temp.make('revision-logs');
    const logs = new RevisionLogFiles(dir);
    logs.append('shop', 'shop-aaa', 'stdout', 'x');
    logs.flush();
    await logs.remove('shop', 'shop-aaa');
    expect(readdirSync(join(dir, 'shop'))).toEqual([]);
  });
});
