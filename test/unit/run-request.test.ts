import { describe, expect, it } from 'vitest';
import { DeploymentRequestSchema } from '../../shared/domain/request.js';

/** Request bounds that come from Cloud Run: refused at the API with the field named, before anything is deployed. */
const refusal = (deployment_options: object) => {
  const res = DeploymentRequestSchema.safeParse({ agent_id: 'ok', deployment_options });
  return res.success ? null : { field: res.error.issues[0]?.path.join('.'), message: res.error.issues[0]?.message };
};

describe('deployment_options within what Cloud Run accepts', () => {
  it('bounds start_timeout_seconds by the 240 s Cloud Run gives a startup probe', () => {
    expect(refusal({ start_timeout_seconds: 240 })).toBeNull();
    expect(refusal({ start_timeout_seconds: 241 })).toEqual({
      field: 'deployment_options.start_timeout_seconds',
      message: expect.stringContaining('at most 240'),
    });
    expect(refusal({ start_timeout_seconds: 600 })?.field).toBe('deployment_options.start_timeout_seconds');
  });

  it.each([
    [{ cpu_cores: 1 }, null],
    [{ cpu_cores: 2, memory_mb: 8192 }, null],
    [{ cpu_cores: 4, memory_mb: 2048 }, null],
    [{ cpu_cores: 8, memory_mb: 32768 }, null],
    [{ cpu_cores: 0.5, memory_mb: 1024, concurrent_tasks: 1 }, null],
    [{ cpu_cores: 0.08, memory_mb: 128 }, null],
    [{ memory_mb: 4096, concurrent_tasks: 1000 }, null],
    [{ cpu_cores: 3 }, 'cpu_cores'],
    [{ cpu_cores: 1.5 }, 'cpu_cores'],
    [{ cpu_cores: 0.1234 }, 'cpu_cores'],
    [{ cpu_cores: 4 }, 'cpu_cores'],
    [{ memory_mb: 8192 }, 'memory_mb'],
    [{ cpu_cores: 6, memory_mb: 2048 }, 'memory_mb'],
    [{ cpu_cores: 0.25, memory_mb: 1024 }, 'memory_mb'],
    [{ cpu_cores: 0.5, concurrent_tasks: 10 }, 'concurrent_tasks'],
  ])('resource_limits %j → %s', (limits, field) => {
    const r = refusal({ resource_limits: limits });
    expect(r?.field ?? null).toBe(field === null ? null : `deployment_options.resource_limits.${field}`);
    if (r) expect(r.message).toMatch(/Cloud Run/);
  });
});
