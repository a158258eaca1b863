import { describe, expect, it } from 'vitest';
import { transition } from '../../shared/domain/claim.js';
import { newJob, publicJob } from '../../shared/domain/job.js';
import { DeploymentRequestSchema } from '../../shared/domain/request.js';

const job = () =>
  newJob('d1', DeploymentRequestSchema.parse({ agent_id: 'svc', version: '1.2.0', environment: 'staging' }), '2026-01-01T00:00:00.000Z');

describe("seed 004's field names on the job", () => {
  it('carries progress_percentage, estimated_completion from the ETA, stage and deployment_metadata beside Baton’s own', () => {
    const running = { ...transition(job(), 'validating'), stage: 'validating' as const, progress: 7, service_url: 'http://127.0.0.1:9/x' };
    const now = Date.parse('2026-01-01T00:01:00.000Z');
    const view = publicJob(running, 90, now);
    expect(view.progress_percentage).toBe(7);
    expect(view.progress).toBe(7);
    expect(view.stage).toBe('validating');
    expect(view.estimated_completion).toBe('2026-01-01T00:02:30.000Z');
    expect(view.deployment_metadata).toMatchObject({
      version: '1.2.0',
      environment: 'staging',
      environment_config: 'staging',
      agent_endpoint: 'http://127.0.0.1:9/x',
    });
  });

  it('has no estimated_completion without an ETA, and the completion time once final', () => {
    expect(publicJob(job(), null, 0).estimated_completion).toBeNull();
    const failed = transition(job(), 'failed', { completed_at: '2026-01-01T00:05:00.000Z' });
    expect(publicJob(failed, 0, Date.parse('2026-02-01T00:00:00.000Z')).estimated_completion).toBe('2026-01-01T00:05:00.000Z');
  });
});
