import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture, getText, TestStack } from '../support/stack.js';

describe('API operations on the local stack', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await TestStack.start();
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers bad requests with 4xx JSON naming the field, and changes nothing', async () => {
    const before = await t.request('GET', '/deployments?limit=100');
    const cases: [unknown, number, string][] = [
      [{ agent_id: 'Not Safe!' }, 400, 'agent_id'],
      [{ agent_id: '../etc' }, 400, 'agent_id'],
      [{ agent_id: 'ok', environment: 'moon' }, 400, 'environment'],
      [{ agent_id: 'ok', source: { type: 'directory', path: 'relative/path' } }, 400, 'source.path'],
      [{ agent_id: 'ok', source: { type: 'directory', path: '/' } }, 400, 'source.path'],
      [{ agent_id: 'ok', source: { type: 'directory', path: '/no/such/folder' } }, 400, 'source.path'],
      [{ agent_id: 'ok', deployment_options: { strategy: { type: 'canary', steps: [50, 20] } } }, 400, 'deployment_options.strategy.steps'],
      [{ agent_id: 'ok', deployment_options: { start_command: 'node x.js' } }, 400, 'deployment_options.start_command'],
      [{ agent_id: 'ok', source: { type: 'git', url: 'https://git.example.com/a.git', branch: 'dev' } }, 400, 'source.branch'],
      ['{not json', 400, 'body'],
    ];
    for (const [body, status, field] of cases) {
      const res = await t.request('POST', '/deploy', body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.json.error?.field, JSON.stringify(res.json)).toBe(field);
      expect(res.json.error?.message.length).toBeGreaterThan(5);
      expect(JSON.stringify(res.json)).not.toMatch(/at .*\.ts:\d+/);
    }
    const big = JSON.stringify({ agent_id: 'big', config: { blob: 'x'.repeat(1024 * 1024) } });
    expect((await t.request('POST', '/deploy', big)).status).toBe(413);
    expect((await t.request('GET', '/deployments/nope')).status).toBe(404);
    expect((await t.request('GET', '/deployments/a%2Fb')).status).toBe(404);
    const badEncoding = await t.request('GET', '/deployments/%E0%A4');
    expect([badEncoding.status, badEncoding.json.error?.field]).toEqual([400, 'path']);
    const noBoundary = await fetch(`${t.url}/deploy-from-file`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data' },
      body: 'x',
    });
    expect(noBoundary.status).toBe(400);
    expect(((await noBoundary.json()) as { error: { field: string } }).error.field).toBe('content-type');
    expect((await t.request('GET', '/deployments/..%2F..%2Fetc')).status).toBe(404);
    expect((await t.request('GET', '/deployments/nope/logs')).status).toBe(404);
    expect((await t.request('POST', '/deployments/nope/cancel')).status).toBe(404);
    expect((await t.request('POST', '/rollback', { deployment_id: 'nope' })).status).toBe(404);
    expect((await t.request('GET', '/services/never-deployed')).status).toBe(404);
    expect((await t.request('GET', '/services/BAD NAME')).status).toBe(400);
    expect((await t.request('GET', '/nowhere')).status).toBe(404);
    expect((await t.request('DELETE', '/deploy')).status).toBe(405);
    const after = await t.request('GET', '/deployments?limit=100');
    expect(after.json.deployments).toEqual(before.json.deployments);
  });

  it('accepts an upload: a YAML config and a .tar.gz source, deployed through every stage', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baton-upload-'));
    try {
      const archive = join(dir, 'src.tar.gz');
      execFileSync('tar', ['-czf', archive, '-C', fixture('healthy'), '.']);
      const form = new FormData();
      form.set('agent_id', 'uploaded');
      form.set('config_file', new Blob(['environment: staging\nenv:\n  APP_VERSION: from-yaml\nname: my-agent\n']), 'service.yaml');
      form.set('source', new Blob([readFileSync(archive)]), 'src.tar.gz');
      const res = await fetch(`${t.url}/deploy-from-file`, { method: 'POST', body: form });
      expect(res.status).toBe(202);
      const accepted = (await res.json()) as { deployment_id: string; status: string };
      expect(accepted.status).toBe('queued');
      const job = await t.waitFinal(accepted.deployment_id);
      expect(job.status).toBe('completed');
      expect(JSON.parse((await getText(job.service_url ?? '')).body).version).toBe('from-yaml');

      const bad = new FormData();
      bad.set('agent_id', 'uploaded2');
      bad.set('config_file', new Blob(['a: [unclosed']), 'service.yaml');
      const badRes = await fetch(`${t.url}/deploy-from-file`, { method: 'POST', body: bad });
      expect(badRes.status).toBe(400);
      expect(((await badRes.json()) as { error: { field: string } }).error.field).toBe('config_file');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs a bare agent config on the bundled runtime', async () => {
    const res = await t.request('POST', '/deploy', { agent_id: 'bare-agent', config: { name: 'helper', model: 'small' } });
    expect(res.status).toBe(202);
    const job = await t.waitFinal(String(res.json.deployment_id));
    expect(job.status).toBe('completed');
    expect(JSON.parse((await getText(job.service_url ?? '')).body).agent).toEqual({ name: 'helper', model: 'small' });
  });

  it('streams every change of a job as Server-Sent Events and closes at the final status', async () => {
    const id = await t.deploy('streamed', 'healthy');
    const res = await fetch(`${t.url}/deployments/${id}/stream`);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const text = await res.text();
    const events = text
      .split('\n\n')
      .filter((e) => e.startsWith('event: job'))
      .map((e) => JSON.parse(e.split('\ndata: ')[1]) as { status: string; progress: number });
    const statuses = [...new Set(events.map((e) => e.status))];
    expect(statuses.at(-1)).toBe('completed');
    expect(statuses).toEqual(expect.arrayContaining(['verifying', 'testing', 'promoting', 'completed']));
    const progress = events.map((e) => e.progress);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  it('cancels a deployment during its build: it stops at the boundary and leaves no revision', async () => {
    const id = await t.deploy('slowpoke', 'slow-build');
    const until = Date.now() + 20_000;
    while ((await t.job(id)).status !== 'building' && Date.now() < until) await new Promise((r) => setTimeout(r, 30));
    const res = await t.request('POST', `/deployments/${id}/cancel`);
    expect(res.status).toBe(202);
    const job = await t.waitFinal(id);
    expect(job.status).toBe('cancelled');
    expect(job.revision).toBeNull();
    expect(await t.logs(id)).toContain('Cancelled at the building stage boundary');
    expect((await t.request('POST', `/deployments/${id}/cancel`)).status).toBe(409);
    expect(await t.stack.runtime.getService('slowpoke')).toBeNull();
  });

  it('lists deployments newest first, filtered and paginated', async () => {
    const all: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await t.request('GET', `/deployments?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      const page = res.json.deployments as { deployment_id: string; created_at: string }[];
      expect(page.length).toBeLessThanOrEqual(2);
      all.push(...page.map((d) => d.deployment_id));
      cursor = res.json.next_cursor as string | null;
    } while (cursor);
    expect(new Set(all).size).toBe(all.length);
    expect(all.length).toBe(4);
    const completed = await t.request('GET', '/deployments?status=completed&agent_id=uploaded');
    expect((completed.json.deployments as unknown[]).length).toBe(1);
    expect((await t.request('GET', '/deployments?status=exploded')).status).toBe(400);
  });
  it('fails a deployment that cannot be queued with a 503 and a message, never leaving it queued', async () => {
    // A stopped bus refuses the publish, as an unavailable Pub/Sub would. (Last test of this stack.)
    t.stack.bus.stop();
    const res = await t.request('POST', '/deploy', { agent_id: 'never-runs', source: { type: 'directory', path: fixture('healthy') } });
    expect(res.status).toBe(503);
    expect(res.json.error?.message).toContain('try again');
    const list = await t.request('GET', '/deployments?agent_id=never-runs');
    const jobs = list.json.deployments as { status: string; error_message: string }[];
    expect(jobs).toHaveLength(1);
    expect(jobs[0].status).toBe('failed');
    expect(jobs[0].error_message).toContain('could not be queued');
  });
});

describe('a restart of the local stack', () => {
  it('keeps jobs, logs and services, and serves the same URL again', async () => {
    const first = await TestStack.start();
    const id = await first.deploy('durable', 'healthy', { env: { APP_VERSION: 'kept' } });
    const done = await first.waitFinal(id);
    expect(done.status).toBe('completed');
    const log = await first.logs(id);
    await first.stop();
    expect((await fetch(done.service_url ?? '').catch(() => null))?.status ?? 'down').toBe('down');

    const second = await TestStack.start({}, first.dir);
    try {
      const again = await second.job(id);
      expect(again.status).toBe('completed');
      expect(await second.logs(id)).toBe(log);
      const until = Date.now() + 10_000;
      let body = '';
      while (Date.now() < until) {
        const res = await fetch(done.service_url ?? '').catch(() => null);
        if (res?.status === 200) {
          body = await res.text();
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(JSON.parse(body).version).toBe('kept');
    } finally {
      await second.stop();
      rmSync(first.dir, { recursive: true, force: true });
    }
  });
});

describe('a crash of the local stack in the middle of a build', () => {
  it('carries the deployment on after a restart: the build runs again and the deployment completes', async () => {
    const first = await TestStack.start();
    const id = await first.deploy('interrupted', 'build-2s');
    const until = Date.now() + 20_000;
    while (!(await first.logs(id)).includes('npm run build') && Date.now() < until) await new Promise((r) => setTimeout(r, 30));
    await first.stop();
    expect((await first.stack.jobs.get(id))?.status).toBe('building');

    const second = await TestStack.start({}, first.dir);
    try {
      const job = await second.waitFinal(id);
      expect(job.status, job.error_message ?? '').toBe('completed');
      expect(job.service_url).not.toBeNull();
      expect((await getText(job.service_url ?? '')).status).toBe(200);
    } finally {
      await second.stop();
      rmSync(first.dir, { recursive: true, force: true });
    }
  });
});

describe('upload limits', () => {
  it('answers 413 naming the field for an upload over BATON_MAX_UPLOAD_BYTES, and creates nothing', async () => {
    const t = await TestStack.start({ BATON_MAX_UPLOAD_BYTES: '4096' });
    try {
      const form = new FormData();
      form.set('agent_id', 'too-big');
      form.set('config_file', new Blob(['name: x\n']), 'service.yaml');
      form.set('source', new Blob([Buffer.alloc(64 * 1024, 1)]), 'src.tar.gz');
      const res = await fetch(`${t.url}/deploy-from-file`, { method: 'POST', body: form });
      expect(res.status).toBe(413);
      expect(((await res.json()) as { error: { field: string } }).error.field).toBe('source');
      expect((await t.request('GET', '/deployments')).json.deployments).toEqual([]);
      expect(await t.stack.blobs.list('uploads/')).toEqual([]);
    } finally {
      await t.close();
    }
  });
});
