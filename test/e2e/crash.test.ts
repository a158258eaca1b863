import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../../shared/config.js';
import { ChildStack, killLeftovers, stackFixtures } from '../support/child-stack.js';
import { TEST_ENV } from '../support/stack.js';

/**
 * kill -9 of the whole local stack (a child process running `npm start`), then a start on the
 * same data folder: what was answered must be there, and every deployment must finish.
 */
const { stacks, dataDir } = stackFixtures<ChildStack>('baton-crash-');

async function start(dir: string, env: Record<string, string> = {}): Promise<ChildStack> {
  const s = await ChildStack.start(dir, env);
  stacks.push(s);
  return s;
}

async function crash(stack: ChildStack, data: string): Promise<void> {
  await stack.kill();
  stacks.splice(stacks.indexOf(stack), 1);
  // Its builds and revisions outlive it, as they would a real crash; a restart starts its own.
  killLeftovers(data);
}

/** A healthy service that takes `delayMs` to listen, and `files` extra files to make its source slow to prepare. */
function service(root: string, opts: { delayMs?: number; files?: number } = {}): string {
  mkdirSync(join(root, 'src'), { recursive: true });
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'crash-svc', version: '1.0.0', scripts: { start: 'node server.js' } }));
  writeFileSync(
    join(root, 'server.js'),
    `const http = require('node:http');
setTimeout(() => http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(req.url === '/health' ? JSON.stringify({ status: 'ok' }) : JSON.stringify({ ok: true }));
}).listen(Number(process.env.PORT)), ${opts.delayMs ?? 0});`,
  );
  for (let i = 0; i < (opts.files ?? 0); i++) writeFileSync(join(root, 'src', `f${i}.txt`), `file ${i} `.repeat(50));
  return root;
}

/** A deployment that did not finish: its status, queue and claim said, so a failure names the stuck step. */
async function stuck(stack: ChildStack, id: string, err: unknown): Promise<never> {
  const j = await stack.job(id);
  const { status, queue, queue_position, current_step, updated_at, logs } = (j ?? {}) as Record<string, unknown>;
  console.error(`stuck ${id}: ${JSON.stringify({ status, queue, queue_position, current_step, updated_at, logs })}`);
  throw err;
}

describe('kill -9 of the local stack', () => {
  it('every deployment answered 202 before the kill exists after the restart and finishes', async () => {
    const data = dataDir();
    const dir = dataDir();
    let stack = await start(data);
    const svc = service(join(dir, 'svc'));
    // A burst: a few that build and run, and many that fail fast at validation (an image source locally).
    const building = Array.from({ length: 4 }, (_, i) => stack.deploy(`burst-ok-${i}`, { type: 'directory', path: svc }));
    const failing = Array.from({ length: 16 }, (_, i) => stack.deploy(`burst-img-${i}`, { type: 'image', image: 'x' }));
    const ok = await Promise.all(building);
    const img = await Promise.all(failing);
    await crash(stack, data);

    stack = await start(data);
    const missing = [];
    for (const id of [...ok, ...img]) if ((await stack.job(id)) === null) missing.push(id);
    expect(missing, `${missing.length} of 20 accepted deployments were lost`).toEqual([]);
    const okJobs = await Promise.all(ok.map((id) => stack.waitFinal(id, 90_000).catch((err) => stuck(stack, id, err))));
    const imgJobs = await Promise.all(img.map((id) => stack.waitFinal(id, 30_000).catch((err) => stuck(stack, id, err))));
    for (const { job } of okJobs) expect(job.status, job.error_message ?? '').toBe('completed');
    for (const { job } of imgJobs) expect([job.status, job.failed_stage]).toEqual(['failed', 'validating']);
  }, 180_000);

  // Bound: a stage interrupted by the crash resumes within RESUME_BOUND_MS of the restart (its
  // event or task is on disk and redelivered at once; the dead boot's worker claim is taken over
  // at once, see decideClaim's sole_holder), at Baton's DEFAULT settings: a 10-minute claim lease,
  // the watchdog every minute, the bus's 200 ms–10 s back-off (not the short ones of TEST_ENV).
  const defaults = ConfigSchema.parse({});
  const DEFAULTS = Object.fromEntries(
    Object.keys(TEST_ENV)
      .filter((k) => k !== 'PORT')
      .map((k) => [k, String(defaults[k as keyof typeof defaults])]),
  );
  const RESUME_BOUND_MS = 5000;

  it('a crash in preparing: the stage runs again at once after the restart', async () => {
    const data = dataDir();
    const dir = dataDir();
    const svc = service(join(dir, 'svc'), { files: 3000 });
    let stack = await start(data, DEFAULTS);
    const id = await stack.deploy('crash-prep', { type: 'directory', path: svc });
    await stack.waitFor(id, (j) => j.status === 'preparing', 20_000, 5);
    await crash(stack, data);

    stack = await start(data, DEFAULTS);
    const moved = await stack.waitFor(id, (j) => !['queued', 'validating', 'preparing'].includes(j.status), 30_000, 10);
    const final = await stack.waitFinal(id, 60_000);
    console.log(
      `crash in preparing: past preparing ${Math.round(moved.ms)} ms after the restart, ${final.job.status} after ${Math.round(final.ms)} ms more`,
    );
    expect(final.job.status, final.job.error_message ?? '').toBe('completed');
    expect(moved.ms).toBeLessThan(RESUME_BOUND_MS);
  }, 120_000);

  it('crashes in verifying (three in a row): verification carries on after each restart', async () => {
    const data = dataDir();
    const dir = dataDir();
    // Slow to listen: verification polls for about two seconds, and the crashes land between polls.
    const svc = service(join(dir, 'svc'), { delayMs: 2000 });
    let stack = await start(data, DEFAULTS);
    const id = await stack.deploy('crash-verify', { type: 'directory', path: svc });
    await stack.waitFor(id, (j) => j.status === 'verifying', 60_000, 5);
    for (const pause of [150, 400, 700]) {
      await new Promise((r) => setTimeout(r, pause));
      await crash(stack, data);
      stack = await start(data, DEFAULTS);
      expect((await stack.job(id))?.status).toBe('verifying');
    }
    const final = await stack.waitFinal(id, 60_000);
    console.log(
      `crash in verifying: ${final.job.status} ${Math.round(final.ms)} ms after the last restart (the revision itself takes 2 s to listen)`,
    );
    expect(final.job.status, final.job.error_message ?? '').toBe('completed');
    expect(final.ms).toBeLessThan(RESUME_BOUND_MS + 2000);
  }, 120_000);
});
