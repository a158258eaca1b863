import { describe, expect, it } from 'vitest';
import { DeploymentRequestSchema } from '../../shared/domain/request.js';
import { acceptDeployment } from '../../shared/pipeline/requests.js';
import { resumeQueueOnStart } from '../../shared/pipeline/restart-recovery.js';
import { failDeployment } from '../../shared/pipeline/stage-runner.js';
import { sweepStuckDeployments } from '../../shared/pipeline/watchdog.js';
import { harness } from '../support/fakes.js';

const req = (agent: string) => DeploymentRequestSchema.parse({ agent_id: agent });

describe('start-up recovery of the queue (a kill -9 in the middle of a release)', () => {
  it('sends the requested event of a job admitted from the queue whose publish was lost, and of no other', async () => {
    const h = harness();
    const first = await acceptDeployment(h.deps, req('svc'));
    const admitted = await acceptDeployment(h.deps, req('svc'));
    const other = await acceptDeployment(h.deps, req('other'));
    const waiting = await acceptDeployment(h.deps, req('other'));
    expect([admitted.queue_reason, waiting.queue_reason]).toEqual(['agent_busy', 'agent_busy']);
    // `other` has started: its job is past queued, its event taken.
    await h.jobs.update(other.deployment_id, (j) => ({ ...j, status: 'validating', stage: 'validating' }));

    // The first ends; its release commits the admission, and the publish after it is lost (the process died there).
    h.bus.failNext = 1;
    await failDeployment(h.deps, first.deployment_id, 'validating', 'broken');
    const stuck = await h.jobs.get(admitted.deployment_id);
    expect([stuck?.status, stuck?.queue]).toEqual(['queued', null]);
    const before = h.bus.published.length;
    // Nothing else would send it for RESEND_REQUESTED_MS: the watchdog's sweep right after the restart does not.
    await sweepStuckDeployments(h.deps);
    expect(h.bus.published.length).toBe(before);

    expect(await resumeQueueOnStart(h.deps)).toEqual([admitted.deployment_id]);
    expect(h.bus.published.slice(before).map((p) => p.json)).toEqual([
      expect.objectContaining({ type: 'deployment.requested.v1', deployment_id: admitted.deployment_id }),
    ]);
    expect(await h.deps.logs.read('svc', admitted.deployment_id)).toContain(
      'Admitted before a restart and not started: sending its start event again',
    );
  });

  it('admits a waiting deployment whose slot freed without a release (a kill between the end and the release)', async () => {
    const h = harness();
    const first = await acceptDeployment(h.deps, req('svc'));
    const waiting = await acceptDeployment(h.deps, req('svc'));
    // The first's end is committed; the process died before releaseSlots.
    await h.jobs.update(first.deployment_id, (j) => ({ ...j, status: 'completed' }));
    const before = h.bus.published.length;

    expect(await resumeQueueOnStart(h.deps)).toEqual([]);
    expect((await h.jobs.get(waiting.deployment_id))?.queue).toBeNull();
    expect(h.bus.published.slice(before).map((p) => p.json)).toEqual([
      expect.objectContaining({ type: 'deployment.requested.v1', deployment_id: waiting.deployment_id }),
    ]);
  });
});
