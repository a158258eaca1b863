import { describe, expect, it } from 'vitest';
import { parseWith } from '../../functions/api/http.js';
import { DeploymentRequestSchema } from '../../shared/domain/request.js';

/** A typo inside deployment_options or source is refused by name; unknown top-level fields stay tolerated. */
const refusal = (body: Record<string, unknown>) => {
  try {
    parseWith(DeploymentRequestSchema, { agent_id: 'ok', ...body });
    return null;
  } catch (err) {
    const e = err as { message: string; field?: string };
    return { field: e.field, message: e.message };
  }
};

describe('unknown fields in a deployment request', () => {
  it.each([
    [{ deployment_options: { start_command: 'node x.js' } }, 'deployment_options.start_command'],
    [{ deployment_options: { healthPath: '/h' } }, 'deployment_options.healthPath'],
    [{ deployment_options: { strategy: { type: 'canary', steps: [100], window: 5 } } }, 'deployment_options.strategy.window'],
    [{ deployment_options: { strategy: { type: 'all_at_once', steps: [100] } } }, 'deployment_options.strategy.steps'],
    [{ deployment_options: { resource_limits: { memory: 512 } } }, 'deployment_options.resource_limits.memory'],
    [{ source: { type: 'git', url: 'https://x/y.git', branch: 'dev' } }, 'source.branch'],
    [{ source: { type: 'directory', path: '/src', ignore: ['x'] } }, 'source.ignore'],
    [{ source: { type: 'config', path: '/src' } }, 'source.path'],
  ])('%j is a 400 naming %s', (body, field) => {
    expect(refusal(body)).toEqual({ field, message: `${field}: unknown field` });
  });

  it('names every unknown field of one object', () => {
    expect(refusal({ deployment_options: { start_command: 'x', port: 3000 } })).toEqual({
      field: 'deployment_options.start_command',
      message: 'deployment_options.start_command: unknown field; also unknown: deployment_options.port',
    });
  });

  it('tolerates and drops unknown top-level fields, as older clients send them', () => {
    const req = parseWith(DeploymentRequestSchema, { agent_id: 'ok', client_version: '0.9', deployment_options: { health_path: '/hz' } });
    expect(req).not.toHaveProperty('client_version');
    expect(req.deployment_options.health_path).toBe('/hz');
  });
});
