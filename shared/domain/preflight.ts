import { cloudRunLimitProblem } from './cloud-run-limits.js';
import { type EnvironmentDef, effectiveResources, type ValidationLevel } from './environments.js';
import type { Severity, ValidationResult } from './job.js';
import { type DeploymentRequest, DeploymentRequestSchema } from './request.js';

/**
 * The validating stage's checks, pure: each returns what it found, passes included, in seed
 * 004's shape less the timing, which the runner adds. The environment's validation level decides
 * which severities block (`blocks`).
 */

export interface Finding {
  test_name: string;
  test_type: string;
  severity: Severity;
  passed: boolean;
  message: string;
  field?: string;
}

/** What a declared dependency looked like when the stage asked (gathered by the use case). */
export interface DependencyState {
  agent_id: string;
  /** null: deployed and its health endpoint answered healthy; otherwise why not. */
  problem: string | null;
}

export interface CheckContext {
  request: DeploymentRequest;
  /** The environment's name and definition; undefined when it no longer exists. */
  environment: string;
  env: EnvironmentDef | undefined;
  known: string[];
  target: 'local' | 'gcp';
  dependencies: DependencyState[];
}

/** Maximum per-instance resources of the three default environments (an operator's have Cloud Run's). */
export const ENVIRONMENT_LIMITS: Readonly<Record<string, { memory_mb: number; cpu_cores: number }>> = {
  development: { memory_mb: 2048, cpu_cores: 2 },
  staging: { memory_mb: 4096, cpu_cores: 4 },
  production: { memory_mb: 32768, cpu_cores: 8 },
};

const SECRET_NAME = /(SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL|ACCESS_?KEY)/i;

/** Values that are credentials whatever their variable is called. */
const SECRET_SHAPES: [string, RegExp][] = [
  ['a private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/],
  ['an AWS access key id', /\b(AKIA|ASIA)[0-9A-Z]{16}\b/],
  ['a GitHub token', /\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})\b/],
  ['a Google API key', /\bAIza[0-9A-Za-z_-]{35}\b/],
  ['a Slack token', /\bxox[abprs]-[A-Za-z0-9-]{10,}\b/],
  ['a Stripe secret key', /\b[sr]k_live_[A-Za-z0-9]{20,}\b/],
  ['a JSON web token', /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/],
  ['a URL with a password', /\b[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i],
];

/** Strict environments are where live traffic is: the security rules treat them as production. */
const isProductionGrade = (env: EnvironmentDef | undefined) => env?.validation_level === 'strict';

function schemaCheck(ctx: CheckContext): Finding[] {
  const parsed = DeploymentRequestSchema.safeParse(ctx.request);
  const base = { test_name: 'config_schema_validation', test_type: 'schema_validation', severity: 'critical' as const };
  if (parsed.success) return [{ ...base, passed: true, message: 'the request and the agent configuration match the schema' }];
  const issue = parsed.error.issues[0];
  const field = issue?.path.map(String).join('.') || 'body';
  return [{ ...base, passed: false, field, message: `${field}: ${issue?.message ?? 'invalid'}` }];
}

function environmentCheck(ctx: CheckContext): Finding[] {
  const base = { test_name: 'environment_validation', test_type: 'environment_validation', severity: 'critical' as const };
  if (!ctx.env) {
    return [
      {
        ...base,
        passed: false,
        field: 'environment',
        message: `environment "${ctx.environment}" is not configured any more; known: ${ctx.known.join(', ')}`,
      },
    ];
  }
  return [{ ...base, passed: true, message: `environment '${ctx.environment}' (${ctx.env.validation_level} validation) is configured` }];
}

function securityCheck(ctx: CheckContext): Finding[] {
  const strict = isProductionGrade(ctx.env);
  const out: Finding[] = [];
  const base = { test_name: 'security_validation', test_type: 'security_validation' };
  for (const [name, value] of Object.entries(ctx.request.env)) {
    if (value.length === 0) continue;
    const shape = SECRET_SHAPES.find(([, re]) => re.test(value))?.[0];
    if (!shape && !SECRET_NAME.test(name)) continue;
    out.push({
      ...base,
      test_name: 'plaintext_secret_validation',
      severity: strict ? 'critical' : 'high',
      passed: false,
      field: `env.${name}`,
      message: `env.${name} ${shape ? `holds what looks like ${shape}` : 'looks like a secret'} in plain text; store it in Secret Manager and reference it under "secrets": {"${name}": "<secret-name>"}`,
    });
  }
  if (strict && ctx.request.deployment_options.allow_unauthenticated === true) {
    out.push({
      ...base,
      test_name: 'authentication_validation',
      severity: 'medium',
      passed: false,
      field: 'deployment_options.allow_unauthenticated',
      message: `this ${ctx.environment} service would accept unauthenticated requests`,
    });
  }
  if (out.length === 0) {
    out.push({ ...base, severity: 'high', passed: true, message: `Security validation passed for ${ctx.environment}` });
  }
  return out;
}

function resourceCheck(ctx: CheckContext): Finding[] {
  const base = { test_name: 'resource_validation', test_type: 'resource_validation' };
  if (!ctx.env) return [];
  const requested = ctx.request.deployment_options.resource_limits;
  const eff = effectiveResources(requested, ctx.env);
  const out: Finding[] = [];
  const field = (f: string) => `deployment_options.resource_limits.${f}`;
  const problem = cloudRunLimitProblem(eff);
  if (problem) {
    out.push({
      ...base,
      severity: 'critical',
      passed: false,
      field: field(problem.field),
      message: `with the ${ctx.environment} environment's defaults for what the request leaves out: ${problem.message}`,
    });
  }
  const max = ENVIRONMENT_LIMITS[ctx.environment];
  if (max && requested?.memory_mb !== undefined && requested.memory_mb > max.memory_mb) {
    const message = `${requested.memory_mb} MiB is over the ${ctx.environment} limit of ${max.memory_mb} MiB`;
    out.push({ ...base, severity: 'critical', passed: false, field: field('memory_mb'), message });
  }
  if (max && requested?.cpu_cores !== undefined && requested.cpu_cores > max.cpu_cores) {
    const message = `${requested.cpu_cores} CPUs is over the ${ctx.environment} limit of ${max.cpu_cores}`;
    out.push({ ...base, severity: 'critical', passed: false, field: field('cpu_cores'), message });
  }
  const need = ctx.env.resource_requirements;
  for (const [f, unit] of [
    ['memory_mb', 'MiB'],
    ['cpu_cores', 'CPUs'],
  ] as const) {
    const got = eff[f];
    if (got !== undefined && got < need[f]) {
      const message = `${got} ${unit} is below the ${ctx.environment} requirement of ${need[f]} ${unit}`;
      out.push({ ...base, severity: 'medium', passed: false, field: field(f), message });
    }
  }
  if (out.length === 0) {
    const where =
      ctx.target === 'local'
        ? 'the local target enforces the memory cap on Node services only; CPU and storage are not limited'
        : 'Cloud Run applies memory and CPU; storage is not reserved';
    out.push({
      ...base,
      severity: 'medium',
      passed: true,
      message: `Resource requirements validated for ${ctx.environment}: ${eff.memory_mb} MiB, ${eff.cpu_cores} CPU (${where})`,
    });
  }
  return out;
}

function dependencyCheck(ctx: CheckContext): Finding[] {
  const base = { test_name: 'service_dependency_validation', test_type: 'dependency_validation', severity: 'high' as const };
  const down = ctx.dependencies.filter((d) => d.problem !== null);
  if (down.length === 0) {
    const which = ctx.dependencies.map((d) => d.agent_id).join(', ');
    return [
      { ...base, passed: true, message: which ? `Service dependencies validated successfully: ${which}` : 'no declared dependencies' },
    ];
  }
  return down.map((d) => ({ ...base, passed: false, field: 'deployment_options.depends_on', message: `${d.agent_id}: ${d.problem}` }));
}

/** The rules that were the whole of preflight before: what the target can run, rollback in production. */
function preflightRules(ctx: CheckContext): Finding[] {
  const base = { test_name: 'source_validation', test_type: 'preflight_validation', severity: 'critical' as const };
  const out: Finding[] = [];
  const { source, deployment_options } = ctx.request;
  if (source.type === 'directory' && ctx.target !== 'local') {
    const message = 'a "directory" source exists only on the local target; upload an archive or use a git source';
    out.push({ ...base, passed: false, field: 'source.type', message });
  } else if (source.type === 'image' && ctx.target === 'local') {
    const message =
      'the local target has no container engine to run an "image" source; deploy a directory, an archive or a git repository instead';
    out.push({ ...base, passed: false, field: 'source.type', message });
  } else {
    out.push({ ...base, passed: true, message: `a ${source.type} source can be deployed to the ${ctx.target} target` });
  }
  if (isProductionGrade(ctx.env) && !deployment_options.auto_rollback) {
    out.push({
      test_name: 'rollback_validation',
      test_type: 'preflight_validation',
      severity: 'high',
      passed: false,
      field: 'deployment_options.auto_rollback',
      message: `auto_rollback is off in ${ctx.environment}: a revision that fails verification is left stopped and nothing is restored for you`,
    });
  }
  return out;
}

export const CHECKS: readonly ((ctx: CheckContext) => Finding[])[] = [
  schemaCheck,
  environmentCheck,
  securityCheck,
  resourceCheck,
  dependencyCheck,
  preflightRules,
];

/** Runs every check, timing each with `now` (ms); the result is seed 004's validation_results. */
export function runChecks(ctx: CheckContext, now: () => number): ValidationResult[] {
  const out: ValidationResult[] = [];
  for (const check of CHECKS) {
    const started = now();
    const findings = check(ctx);
    const ended = now();
    const timestamp = new Date(ended).toISOString();
    for (const f of findings) out.push({ ...f, execution_time: (ended - started) / 1000, timestamp });
  }
  return out;
}

const BLOCKING: Record<ValidationLevel, readonly Severity[]> = {
  basic: ['critical'],
  standard: ['critical', 'high'],
  strict: ['critical', 'high', 'medium'],
};

/** The failed checks that stop a deployment at this validation level (an unknown environment: basic). */
export function blocking(results: ValidationResult[], level: ValidationLevel = 'basic'): ValidationResult[] {
  return results.filter((r) => !r.passed && BLOCKING[level].includes(r.severity));
}
