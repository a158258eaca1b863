import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getText, TestStack } from '../support/stack.js';

/**
 * One service through its life on the local target: a healthy first version, a second version
 * (traffic moves), a broken third (rolled back, the second still answers), then a manual rollback.
 */
describe('the pipeline end to end on the local target', () => {
  let t: TestStack;
  let v1: string;
  let v2: string;

  beforeAll(async () => {
    t = await TestStack.start();
  });
  afterAll(async () => {
    await t.close();
  });

  it('deploys a healthy service: every stage runs and the URL answers with the path unchanged', async () => {
    v1 = await t.deploy('shop', 'healthy', { env: { APP_VERSION: 'v1', SHOP_NOTE: 'note-e2e-7c1' } });
    const job = await t.waitFinal(v1);
    expect(job.status).toBe('completed');
    expect(job.progress).toBe(100);
    expect(job.error_message).toBeNull();
    expect(job.service_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const res = await getText(`${job.service_url}some/path?x=1`);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ version: 'v1', path: '/some/path?x=1', revision: job.revision });
    expect(Object.keys(job.measurements).sort()).toEqual(['build_ms', 'startup_ms']);
  });

  it('keeps env values out of the job, and once it ended, on disk only in the runtime state that starts the revision: the private file is gone', async () => {
    await t.stack.jobs.flush();
    const holding = filesUnder(t.dir).filter((f) => readFileSync(f).includes('note-e2e-7c1'));
    const names = holding.map((f) => relative(t.dir, f)).sort();
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((n) => !n.includes('runtime'))).toEqual([]);
    expect(existsSync(join(t.dir, 'store', 'private', `${v1}.json`))).toBe(false);
    expect(await t.stack.jobs.getPrivate(v1)).toBeNull();
    expect(JSON.stringify(await t.job(v1))).not.toContain('note-e2e-7c1');
  });

  it('keeps the whole log, with build output and the revision start-up output, in the blob store', async () => {
    const log = await t.logs(v1);
    for (const stage of ['validating', 'preparing', 'building', 'deploying', 'verifying', 'testing', 'promoting']) {
      expect(log).toContain(`[${stage}]`);
    }
    expect(log).toContain('build: $ npm install');
    expect(log).toContain('healthy v1 up');
    for (const line of log.trim().split('\n')) expect(line).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z (INFO|WARNING|ERROR) /);
    const stored = await t.stack.blobs.get(`deployment_logs/shop/${v1}.log`);
    expect(stored?.toString()).toBe(log);
  });

  it('deploys a second version: traffic moves to it and the service records the previous one', async () => {
    v2 = await t.deploy('shop', 'healthy', { env: { APP_VERSION: 'v2' } });
    const job = await t.waitFinal(v2);
    expect(job.status).toBe('completed');
    const first = await t.job(v1);
    expect(job.previous_revision).toBe(first.revision);
    expect(JSON.parse((await getText(job.service_url ?? '')).body).version).toBe('v2');
    const svc = await t.request('GET', '/services/shop');
    expect(svc.json).toMatchObject({
      serving_revision: job.revision,
      deployment_id: v2,
      traffic: [{ revision: job.revision, percent: 100 }],
    });
  });

  it('rolls back an unhealthy version: the reason is given, the previous version still answers, the bad revision is stopped', async () => {
    const bad = await t.deploy('shop', 'unhealthy');
    const job = await t.waitFinal(bad);
    expect(job.status).toBe('rolled_back');
    expect(job.failed_stage).toBe('verifying');
    expect(job.error_message).toContain('dependencies reported unhealthy: db');
    // The structured record: the stage, the code and its hint, the probe that failed.
    expect(job.failure).toMatchObject({ stage: 'verifying', reason_code: 'dependency_down' });
    expect(job.failure?.hint).toMatch(/dependency/);
    expect(job.failure?.probe).toMatchObject({ status: 200 });
    expect(job.failure?.probe?.url).toMatch(/\/health$/);
    expect(job.failure?.probe?.body_excerpt).toContain('db');
    expect(job.failure?.probe?.latency_ms).toBeGreaterThanOrEqual(0);
    const served = await t.job(v2);
    expect(JSON.parse((await getText(served.service_url ?? '')).body).version).toBe('v2');
    expect(await t.stack.runtime.getRevision('shop', job.revision ?? '')).toBeNull();
    const svc = await t.request('GET', '/services/shop');
    expect(svc.json.serving_revision).toBe(served.revision);
  });

  it('fails a service that crashes at start-up with its exit code and last output, and removes the revision', async () => {
    const id = await t.deploy('crasher', 'crash');
    const job = await t.waitFinal(id);
    expect(job.status).toBe('failed');
    expect(job.failed_stage).toBe('verifying');
    expect(job.error_message).toContain('exited with code 3');
    expect(job.error_message).toContain('FATAL: DATABASE_URL is not set');
    expect(job.failure).toMatchObject({ stage: 'verifying', reason_code: 'crashed_at_startup' });
    expect(job.failure?.revision_output.join('\n')).toContain('FATAL: DATABASE_URL is not set');
    expect(await t.stack.runtime.getRevision('crasher', job.revision ?? '')).toBeNull();
  });

  it('fails a service that listens on another port than PORT within seconds, naming that port', async () => {
    // The default start timeout (60 s): the port check, not the timeout, must end it.
    const id = await t.deploy('deaf', 'ignores-port');
    const job = await t.waitFinal(id);
    expect(job.status).toBe('failed');
    const m = /listens on port (\d+), not PORT=(\d+)/.exec(job.error_message ?? '');
    expect(m, job.error_message ?? '').not.toBeNull();
    const own = /listening on my own port (\d+)/.exec(job.error_message ?? '');
    expect(own?.[1]).toBe(m?.[1]);
    expect(job.failure).toMatchObject({ reason_code: 'ignores_port', listening_port: Number(m?.[1]) });
    expect(job.failure?.hint).toContain('process.env.PORT');
    const startedDeploying = Date.parse(job.stage_timings.deploying?.started_at ?? '');
    expect(Date.parse(job.completed_at ?? '') - startedDeploying).toBeLessThan(15_000);
  });

  it('rolls back by hand: traffic returns to the revision that served before, tracked by its own id', async () => {
    const res = await t.request('POST', '/rollback', { deployment_id: v2, rollback_reason: 'customer reports' });
    expect(res.status).toBe(202);
    const rollbackId = String(res.json.rollback_id);
    const rb = await t.waitFinal(rollbackId);
    expect(rb.status).toBe('rolled_back');
    const target = await t.job(v2);
    expect(target.status).toBe('rolled_back');
    expect(target.rollback_id).toBe(rollbackId);
    expect(target.failure).toMatchObject({ reason_code: 'manual_rollback', stage: 'rolling_back' });
    expect(target.failure?.message).toContain('customer reports');
    const first = await t.job(v1);
    expect(JSON.parse((await getText(first.service_url ?? '')).body)).toMatchObject({ version: 'v1', revision: first.revision });
    expect(await t.logs(rollbackId)).toContain('customer reports');

    const again = await t.request('POST', '/rollback', { deployment_id: v2 });
    expect(again.status).toBe(409);
    expect(again.json.error?.field).toBe('deployment_id');
  });

  it('moves traffic in canary steps: both revisions answer during the window, then only the new one', async () => {
    // The manual rollback above pinned shop: this deployment unpins it.
    const id = await t.deploy('shop', 'healthy', {
      unpin: true,
      env: { APP_VERSION: 'canary' },
      deployment_options: { strategy: { type: 'canary', steps: [50, 100], window_seconds: 2 } },
    });
    const until = Date.now() + 30_000;
    let job = await t.job(id);
    while (job.current_step !== 'Canary at 50%' && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 25));
      job = await t.job(id);
    }
    expect(job.status).toBe('promoting');
    const seen = new Set<string>();
    for (let i = 0; i < 60; i++) seen.add(JSON.parse((await getText(job.service_url ?? (await t.job(v1)).service_url ?? '')).body).version);
    expect([...seen].sort()).toEqual(['canary', 'v1']);
    const done = await t.waitFinal(id);
    expect(done.status).toBe('completed');
    const after = new Set<string>();
    for (let i = 0; i < 20; i++) after.add(JSON.parse((await getText(done.service_url ?? '')).body).version);
    expect([...after]).toEqual(['canary']);
  });
});

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}
