import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ValidationResult } from '../../shared/domain/job.js';
import { getText, TestStack } from '../support/stack.js';

const QA = `environments:
  qa:
    description: QA with a small memory cap
    resource_requirements:
      memory_mb: 256
      cpu_cores: 0.25
      storage_gb: 1
    validation_level: standard
    monitoring_level: minimal
`;

type Job = Awaited<ReturnType<TestStack['job']>> & { validation_results: ValidationResult[]; resources: Record<string, number> | null };

/** Environments and validation through the local stack: an operator's file, blocking by level, resources. */
describe('environments and validation end to end on the local target', () => {
  let t: TestStack;
  const job = async (id: string) => (await t.waitFinal(id)) as Job;

  beforeAll(async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'baton-envfile-')), 'environments.yaml');
    writeFileSync(file, QA);
    t = await TestStack.start({ BATON_ENVIRONMENTS_FILE: file });
  });
  afterAll(async () => {
    await t.close();
  });

  it("answers GET /environments with the seed's three and the operator's", async () => {
    const res = await t.request('GET', '/environments');
    expect(res.status).toBe(200);
    const envs = res.json.environments as Record<string, Record<string, unknown>>;
    expect(Object.keys(envs)).toEqual(['development', 'staging', 'production', 'qa']);
    expect(envs.production).toMatchObject({
      resource_requirements: { memory_mb: 2048, cpu_cores: 2, storage_gb: 100 },
      validation_level: 'strict',
      monitoring_level: 'comprehensive',
    });
    expect(res.json.default_environment).toBe('development');
  });

  it('refuses an unknown environment with a 400 naming the field and the known ones', async () => {
    const res = await t.request('POST', '/deploy', { agent_id: 'nowhere', environment: 'prod' });
    expect(res.status).toBe(400);
    expect(res.json.error).toEqual({
      code: 'invalid',
      field: 'environment',
      message: 'environment: unknown environment "prod"; known: development, staging, production, qa',
    });
  });

  it('blocks a production deployment with a plaintext secret in validating, naming the check', async () => {
    const id = await t.deploy('vault', 'healthy', { environment: 'production', env: { STRIPE_KEY: 'sk_live_0123456789abcdefghijklmn' } });
    const j = await job(id);
    expect(j.status).toBe('failed');
    expect(j.failed_stage).toBe('validating');
    expect(j.error_message).toContain('plaintext_secret_validation (critical) env.STRIPE_KEY');
    expect(j.validation_results.filter((r) => r.passed).map((r) => r.test_name)).toContain('config_schema_validation');
    expect(JSON.stringify(j)).not.toContain('sk_live_0123');
  });

  it('passes the same deployment in development, with the warning recorded', async () => {
    const id = await t.deploy('vault', 'healthy', { environment: 'development', env: { STRIPE_KEY: 'sk_live_0123456789abcdefghijklmn' } });
    const j = await job(id);
    expect(j.status).toBe('completed');
    const warn = j.validation_results.filter((r) => !r.passed);
    expect(warn).toEqual([
      expect.objectContaining({ test_name: 'plaintext_secret_validation', severity: 'high', field: 'env.STRIPE_KEY' }),
    ]);
    expect(await t.logs(id)).toContain('WARNING [validating] high plaintext_secret_validation');
    expect(j.resources).toEqual({ memory_mb: 512, cpu_cores: 0.5, concurrent_tasks: 1 });
  });

  it("runs a revision under its environment's memory cap when the request sets none", async () => {
    const id = await t.deploy('heapy', 'heap', { environment: 'qa' });
    const j = await job(id);
    expect(j.status).toBe('completed');
    const res = JSON.parse((await getText(String(j.service_url))).body) as { heap_limit_mb: number; node_options: string };
    expect(res.node_options).toBe('--max-old-space-size=256');
    // V8's limit is the old space plus the young generation's semi-spaces.
    expect(res.heap_limit_mb).toBeGreaterThanOrEqual(256);
    expect(res.heap_limit_mb).toBeLessThan(320);
  });

  it('checks declared dependencies: a healthy deployed one passes, a missing one blocks at the standard level', async () => {
    const ok = await job(await t.deploy('front', 'healthy', { deployment_options: { depends_on: ['vault'] } }));
    expect(ok.status).toBe('completed');
    expect(ok.validation_results.find((r) => r.test_name === 'service_dependency_validation')).toMatchObject({
      passed: true,
      message: 'Service dependencies validated successfully: vault',
    });
    const bad = await job(await t.deploy('front', 'healthy', { environment: 'qa', deployment_options: { depends_on: ['ghost'] } }));
    expect(bad.status).toBe('failed');
    expect(bad.error_message).toContain('service_dependency_validation (high) deployment_options.depends_on: ghost: is not deployed');
  });
});
