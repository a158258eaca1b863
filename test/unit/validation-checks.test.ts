import { describe, expect, it } from 'vitest';
import { DEFAULT_ENVIRONMENTS, type ValidationLevel } from '../../shared/domain/environments.js';
import type { Severity, ValidationResult } from '../../shared/domain/job.js';
import { blocking, type CheckContext, type DependencyState, runChecks } from '../../shared/domain/preflight.js';
import { type DeploymentRequest, DeploymentRequestSchema } from '../../shared/domain/request.js';

const ENVS = DEFAULT_ENVIRONMENTS.environments;

function ctx(extra: Record<string, unknown> = {}, over: Partial<CheckContext> = {}): CheckContext {
  const request: DeploymentRequest = DeploymentRequestSchema.parse({
    agent_id: 'svc',
    source: { type: 'directory', path: '/s' },
    ...extra,
  });
  const environment = request.environment ?? 'development';
  return {
    request,
    environment,
    env: ENVS[environment],
    known: Object.keys(ENVS),
    target: 'local',
    dependencies: [],
    ...over,
  };
}

let t = 0;
const clock = () => (t += 5);
const failed = (rs: ValidationResult[]) => rs.filter((r) => !r.passed);
const named = (rs: ValidationResult[], name: string) => rs.filter((r) => r.test_name === name);

describe('validation checks', () => {
  it("records every check in seed 004's shape, passes included, timed", () => {
    const rs = runChecks(ctx(), clock);
    expect(failed(rs)).toEqual([]);
    expect(rs.map((r) => r.test_name)).toEqual([
      'config_schema_validation',
      'environment_validation',
      'security_validation',
      'resource_validation',
      'service_dependency_validation',
      'source_validation',
    ]);
    for (const r of rs) {
      expect(Object.keys(r)).toEqual(
        expect.arrayContaining(['test_name', 'test_type', 'severity', 'passed', 'message', 'execution_time', 'timestamp']),
      );
      expect(r.execution_time).toBe(0.005);
      expect(Number.isNaN(Date.parse(r.timestamp))).toBe(false);
    }
  });

  it('schema: a request that no longer matches the schema is critical', () => {
    const c = ctx();
    const bad = { ...c, request: { ...c.request, version: '' } };
    expect(named(runChecks(bad, clock), 'config_schema_validation')[0]).toMatchObject({
      passed: false,
      severity: 'critical',
      field: 'version',
    });
  });

  it('environment: one removed from the configuration is critical and lists the known ones', () => {
    const r = named(runChecks(ctx({}, { environment: 'qa', env: undefined }), clock), 'environment_validation')[0];
    expect(r).toMatchObject({ passed: false, severity: 'critical', field: 'environment' });
    expect(r.message).toContain('known: development, staging, production');
  });

  it.each([
    ['API_KEY', 'abc', 'looks like a secret'],
    ['DATABASE_URL', 'postgres://app:hunter2@db:5432/app', 'a URL with a password'],
    ['CONFIG', 'AKIAABCDEFGHIJKLMNOP', 'an AWS access key id'],
    ['GH', `ghp_${'a'.repeat(36)}`, 'a GitHub token'],
    ['KEYFILE', '-----BEGIN RSA PRIVATE KEY-----\nMII...', 'a private key'],
    ['SESSION', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlLXZhbHVl', 'a JSON web token'],
  ])('security: %s=%s is a plaintext secret (%s): critical in production, high elsewhere', (name, value, what) => {
    const prod = failed(runChecks(ctx({ environment: 'production', env: { [name]: value } }), clock));
    expect(prod).toHaveLength(1);
    expect(prod[0]).toMatchObject({ test_name: 'plaintext_secret_validation', severity: 'critical', field: `env.${name}` });
    expect(prod[0].message).toContain(what);
    expect(failed(runChecks(ctx({ env: { [name]: value } }), clock))[0].severity).toBe('high');
  });

  it('security: ordinary values and empty secrets pass', () => {
    const rs = runChecks(ctx({ environment: 'production', env: { COLOR: 'red', URL: 'https://example.com/a', API_TOKEN: '' } }), clock);
    expect(named(rs, 'security_validation')[0]).toMatchObject({ passed: true, message: 'Security validation passed for production' });
  });

  it('security: an unauthenticated production service is medium (blocks at strict only)', () => {
    const rs = runChecks(ctx({ environment: 'production', deployment_options: { allow_unauthenticated: true } }), clock);
    expect(named(rs, 'authentication_validation')[0]).toMatchObject({ passed: false, severity: 'medium' });
    expect(
      named(
        runChecks(ctx({ environment: 'staging', deployment_options: { allow_unauthenticated: true } }), clock),
        'authentication_validation',
      ),
    ).toEqual([]);
  });

  it('resources: over the environment maximum is critical; below its requirement is medium', () => {
    const over = failed(runChecks(ctx({ deployment_options: { resource_limits: { memory_mb: 4096, cpu_cores: 2 } } }), clock));
    expect(over.map((r) => [r.severity, r.field])).toEqual([['critical', 'deployment_options.resource_limits.memory_mb']]);
    const under = failed(
      runChecks(ctx({ environment: 'production', deployment_options: { resource_limits: { memory_mb: 1024, cpu_cores: 1 } } }), clock),
    );
    expect(under.map((r) => [r.severity, r.field])).toEqual([
      ['medium', 'deployment_options.resource_limits.memory_mb'],
      ['medium', 'deployment_options.resource_limits.cpu_cores'],
    ]);
  });

  it("resources: the request's memory with the environment's CPU that Cloud Run refuses is critical", () => {
    // development's 0.5 CPU takes at most 1024 MiB.
    const rs = failed(runChecks(ctx({ deployment_options: { resource_limits: { memory_mb: 2048 } } }), clock));
    expect(rs[0]).toMatchObject({ severity: 'critical', field: 'deployment_options.resource_limits.memory_mb' });
    expect(rs[0].message).toContain('refused by Cloud Run');
  });

  it('resources: the pass says what the local target cannot enforce', () => {
    const r = named(runChecks(ctx(), clock), 'resource_validation')[0];
    expect(r.message).toContain('512 MiB, 0.5 CPU');
    expect(r.message).toContain('CPU and storage are not limited');
  });

  it('dependencies: each one down is a high finding naming it', () => {
    const deps: DependencyState[] = [
      { agent_id: 'db', problem: null },
      { agent_id: 'billing', problem: 'is not deployed (no revision serves it)' },
    ];
    const rs = named(runChecks(ctx({}, { dependencies: deps }), clock), 'service_dependency_validation');
    expect(rs).toEqual([
      expect.objectContaining({ passed: false, severity: 'high', message: 'billing: is not deployed (no revision serves it)' }),
    ]);
    const ok = named(runChecks(ctx({}, { dependencies: [deps[0]] }), clock), 'service_dependency_validation');
    expect(ok[0]).toMatchObject({ passed: true, message: 'Service dependencies validated successfully: db' });
  });

  it('preflight rules: sources the target cannot run, and production without auto_rollback', () => {
    expect(failed(runChecks(ctx({ source: { type: 'image', image: 'x' } }), clock))[0]).toMatchObject({
      test_name: 'source_validation',
      severity: 'critical',
    });
    expect(failed(runChecks(ctx({}, { target: 'gcp' }), clock))[0]).toMatchObject({ field: 'source.type', severity: 'critical' });
    const prod = failed(runChecks(ctx({ environment: 'production', deployment_options: { auto_rollback: false } }), clock));
    expect(prod[0]).toMatchObject({ test_name: 'rollback_validation', severity: 'high' });
  });
});

describe('blocking by validation level', () => {
  const result = (severity: Severity, passed = false): ValidationResult => ({
    test_name: severity,
    test_type: 't',
    severity,
    passed,
    message: '',
    execution_time: 0,
    timestamp: '',
  });
  const all = (['critical', 'high', 'medium', 'low', 'info'] as const).flatMap((s) => [result(s), result(s, true)]);

  it.each<[ValidationLevel, Severity[]]>([
    ['basic', ['critical']],
    ['standard', ['critical', 'high']],
    ['strict', ['critical', 'high', 'medium']],
  ])('%s blocks on %j, never on a pass', (level, severities) => {
    expect(blocking(all, level).map((r) => r.severity)).toEqual(severities);
  });
});
