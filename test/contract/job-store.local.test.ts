import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalJobStore } from '../../shared/adapters/local/job-store.js';
import { jobStoreContract, makeJob, makeService } from './suites/job-store.suite.js';
import { TempDirs } from './suites/util.js';

const temp = new TempDirs();
afterEach(() => temp.removeAll());

jobStoreContract('LocalJobStore in memory', async () => ({ store: new LocalJobStore(null), cleanup: async () => {} }));
jobStoreContract('LocalJobStore on a folder', async () => {
  const store = new LocalJobStore(temp.make('jobs'));
  return { store, cleanup: () => store.flush() };
});

describe('LocalJobStore: state survives a restart', () => {
  it('reads back jobs, services and list order from the same folder', async () => {
    const dir = temp.make('jobs-restart');
    const before = new LocalJobStore(dir);
    const jobs = [makeJob('agent-r', 1), makeJob('agent-r', 2, { kind: 'rollback' }), makeJob('agent-q', 3)];
    for (const j of jobs) await before.create(j);
    await before.update(jobs[0].deployment_id, (j) => ({ ...j, status: 'completed', progress: 100, logs: ['done'] }));
    await before.updateService('agent-r', () => ({
      ...makeService('agent-r', 'rev-7'),
      good_revisions: [{ revision: 'rev-7', deployment_id: 'd-7' }],
    }));

    // Commits reach the disk behind the in-memory commit; the stack flushes when it stops.
    await before.flush();
    const after = new LocalJobStore(dir);
    expect(await after.get(jobs[0].deployment_id)).toEqual({ ...jobs[0], status: 'completed', progress: 100, logs: ['done'] });
    expect(await after.get(jobs[1].deployment_id)).toEqual(jobs[1]);
    expect((await after.list({ limit: 10 })).items.map((j) => j.deployment_id)).toEqual(jobs.map((j) => j.deployment_id).reverse());
    expect((await after.list({ agent_id: 'agent-r', kind: 'deployment', limit: 10 })).items.map((j) => j.deployment_id)).toEqual([
      jobs[0].deployment_id,
    ]);
    expect(await after.getService('agent-r')).toEqual(await before.getService('agent-r'));
    expect((await after.getService('agent-r'))?.good_revisions).toEqual([{ revision: 'rev-7', deployment_id: 'd-7' }]);
    expect(await after.create(jobs[2])).toBe(false);
    expect(await after.countActive('agent-q')).toBe(1);
  });

  it('a fresh store on an empty folder is empty', async () => {
    const store = new LocalJobStore(temp.make('jobs-empty'));
    expect((await store.list({ limit: 10 })).items).toEqual([]);
  });
});

describe('LocalJobStore: private data', () => {
  it('is a 0600 file in a 0700 folder apart from the job files, read back after a restart', async () => {
    const dir = temp.make('jobs-private');
    const store = new LocalJobStore(dir);
    const job = makeJob('agent-s', 1);
    await store.create({ ...job, private_ref: job.deployment_id });
    await store.putPrivate(job.deployment_id, { env: { TOKEN: 'tok-secret' }, source_url: null });
    await store.flush();
    expect(statSync(join(dir, 'private')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, 'private', `${job.deployment_id}.json`)).mode & 0o777).toBe(0o600);
    for (const f of readdirSync(join(dir, 'jobs'))) expect(readFileSync(join(dir, 'jobs', f), 'utf8')).not.toContain('tok-secret');
    expect(await new LocalJobStore(dir).getPrivate(job.deployment_id)).toEqual({ env: { TOKEN: 'tok-secret' }, source_url: null });
  });

  it('a damaged private file is an error naming it, not "no private data"', async () => {
    const dir = temp.make('jobs-private-damaged');
    const store = new LocalJobStore(dir);
    const job = makeJob('agent-d', 1);
    await store.putPrivate(job.deployment_id, { env: { TOKEN: 'x' }, source_url: null });
    writeFileSync(join(dir, 'private', `${job.deployment_id}.json`), '{"env": {"TOKEN": ');
    await expect(store.getPrivate(job.deployment_id)).rejects.toMatchObject({
      message: expect.stringMatching(/private data of .* is damaged/),
      hint: 'Deploy again',
    });
    expect(await store.getPrivate('never-written')).toBeNull();
  });

  it('refuses an id that would be a path', async () => {
    const store = new LocalJobStore(temp.make('jobs-private-path'));
    await expect(store.putPrivate('../x', { env: {}, source_url: null })).rejects.toThrow(/not a job id/);
  });
});
