import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JSON_MAX_DEPTH } from '../../functions/api/http.js';
import { getText, TestStack } from '../support/stack.js';

const nested = (levels: number) => {
  let body = '1';
  for (let i = 0; i < levels; i++) body = `{"a":${body}}`;
  return body;
};

describe('abuse of the local stack', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await TestStack.start();
  });
  afterAll(async () => {
    await t.close();
  });

  it('refuses a config nested 2,000 levels deep with a 400 naming the field and the limit, and creates nothing', async () => {
    const res = await t.request('POST', '/deploy', `{"agent_id":"deep","source":{"type":"config"},"config":${nested(2000)}}`);
    expect(res.status).toBe(400);
    expect(res.json.error?.field).toBe('config');
    expect(res.json.error?.message).toContain(`more than ${JSON_MAX_DEPTH} levels`);

    const form = new FormData();
    form.set('agent_id', 'deep');
    form.set('config_file', new Blob([nested(2000)]), 'config.json');
    const upload = await fetch(`${t.url}/deploy-from-file`, { method: 'POST', body: form });
    expect(upload.status).toBe(400);
    expect(((await upload.json()) as { error: { field: string } }).error.field).toBe('config_file.a');

    const list = await t.request('GET', '/deployments?agent_id=deep');
    expect([list.status, list.json.deployments]).toEqual([200, []]);
    // A config within the limit still deploys.
    const ok = await t.request('POST', '/deploy', `{"agent_id":"deep","source":{"type":"config"},"config":${nested(JSON_MAX_DEPTH - 2)}}`);
    expect(ok.status).toBe(202);
    expect((await t.waitFinal(String(ok.json.deployment_id))).status).toBe('completed');
  });

  it("keeps Baton's state 0600 in 0700 folders, and a deployed service cannot read any of it", async () => {
    const first = await t.deploy('snoop-target', 'healthy');
    const job = await t.waitFinal(first);
    expect(job.status).toBe('completed');
    // Commits are journaled first (store/journal/) and folded into the job files: fold them now.
    await t.stack.jobs.flush();
    const state = [
      join(t.dir, 'runtime.json'),
      join(t.dir, 'store', 'jobs', `${first}.json`),
      join(t.dir, 'blobs', 'deployment_logs', 'snoop-target', `${first}.log`),
      join(t.dir, 'blobs', 'sources', 'snoop-target', `${first}.tar.gz`),
    ];
    for (const file of state) expect((statSync(file).mode & 0o777).toString(8), file).toBe('600');
    for (const dir of ['store', join('store', 'journal'), 'blobs', join('blobs', 'artifacts')]) {
      expect(statSync(join(t.dir, dir)).mode & 0o077, dir).toBe(0);
    }
    if (process.getuid?.() !== 0) return; // Not root: revisions run as Baton's user (see the README).

    const id = await t.deploy('snoop', 'snoop', {
      env: { SNOOP_PATHS: JSON.stringify([...state, t.dir, join(t.dir, 'store'), join(t.dir, 'blobs')]) },
    });
    const snoop = await t.waitFinal(id);
    expect(snoop.status).toBe('completed');
    const seen = JSON.parse((await getText(`${snoop.service_url}snoop`)).body) as {
      uid: number;
      home: string;
      cwd: string;
      read: Record<string, string>;
      refused: Record<string, string>;
    };
    expect(seen.uid).toBe(65534);
    // A HOME of its own, apart from its read-only copy of the artifact.
    expect(seen.home.startsWith(join(t.dir, 'work', 'revisions'))).toBe(true);
    expect(statSync(seen.home).uid).toBe(65534);
    expect(seen.read).toEqual({});
    expect(Object.values(seen.refused).every((code) => code === 'EACCES')).toBe(true);
  });
});
