import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { newJob } from '../../shared/domain/job.js';
import { DeploymentRequestSchema } from '../../shared/domain/request.js';
import { TestStack } from '../support/stack.js';

/**
 * The state a kill -9 between an admission (JobStore.admitWaiting) and its event's publish leaves
 * on disk, made on purpose: a job out of the queue, still queued, with no message for it. The
 * local stack's start sends its event at once (resumeQueueOnStart), not after the watchdog's
 * RESEND_REQUESTED_MS. Does not prove the kill lands there: crash.test.ts kills at random.
 */
describe('a restart of the local stack on a job admitted without its event', () => {
  const dir = mkdtempSync(join(tmpdir(), 'baton-restart-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('starts it at once', async () => {
    const before = await TestStack.start({}, dir);
    const request = DeploymentRequestSchema.parse({ agent_id: 'lost-event', source: { type: 'image', image: 'x' } });
    await before.stack.jobs.create(newJob('lost-event-1', request, new Date().toISOString()));
    await before.stop();

    const after = await TestStack.start({}, dir);
    try {
      const job = await after.waitFinal('lost-event-1', 10_000);
      // An image source fails validation locally: what matters is that a stage took it up.
      expect([job.status, job.failed_stage]).toEqual(['failed', 'validating']);
      expect(await after.logs('lost-event-1')).toContain('Admitted before a restart and not started: sending its start event again');
    } finally {
      await after.stop();
    }
  }, 30_000);
});
