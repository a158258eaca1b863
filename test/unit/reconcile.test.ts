import { describe, expect, it } from 'vitest';
import { TransientError } from '../../shared/domain/errors.js';
import { prepareSource } from '../../shared/pipeline/prepare-source.js';
import { validateDeployment } from '../../shared/pipeline/validate.js';
import { harness } from '../support/fakes.js';

/**
 * After a restart an event can find its job behind (the previous stage released, not finished)
 * or ahead (past the stage). Behind must not be acknowledged, or the job is stranded until the
 * watchdog fails it (issue 6, point 15: 40 deployments sat in preparing for 12 minutes).
 */
describe('a restarted stage reconciles with its job instead of dropping the event', () => {
  it('an event ahead of its job is retried (a transient error), then runs once the job catches up', async () => {
    const h = harness();
    // As a restart leaves it: validating, its dead worker's claim released, the validated event redelivered.
    await h.job('d1', {}, { status: 'validating', stage: 'validating', claim: null });
    const early = prepareSource(h.deps, 'd1');
    await expect(early).rejects.toBeInstanceOf(TransientError);
    await expect(early).rejects.toThrow(/validating stage has not finished/);
    expect((await h.jobs.get('d1'))?.status).toBe('validating');

    expect(await validateDeployment(h.deps, 'd1')).toBe('ran');
    expect(await prepareSource(h.deps, 'd1')).toBe('ran');
    expect((await h.jobs.get('d1'))?.status).toBe('preparing');
  });

  it('an event behind its job (the job is past the stage) is acknowledged and changes nothing', async () => {
    const h = harness();
    await h.job('d1');
    await validateDeployment(h.deps, 'd1');
    await prepareSource(h.deps, 'd1');
    const before = await h.jobs.get('d1');
    expect(await validateDeployment(h.deps, 'd1')).toBe('stale event: the job is preparing');
    expect(await h.jobs.get('d1')).toEqual(before);
  });
});
