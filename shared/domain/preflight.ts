import type { ValidationResult } from './job.js';
import type { DeploymentRequest, Environment } from './request.js';

const SECRET_NAME = /(SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL)/i;

export const ENVIRONMENT_LIMITS: Readonly<Record<Environment, { memory_mb: number; cpu_cores: number }>> = {
  development: { memory_mb: 2048, cpu_cores: 2 },
  staging: { memory_mb: 4096, cpu_cores: 4 },
  production: { memory_mb: 32768, cpu_cores: 8 },
};

/**
 * Preflight rules that need no I/O. `critical` blocks the deployment; the rest are reported.
 * `target` is where it will run: a local folder source cannot be deployed to the cloud.
 */
export function preflight(req: DeploymentRequest, target: 'local' | 'gcp'): ValidationResult[] {
  const out: ValidationResult[] = [];
  const prod = req.environment === 'production';

  for (const [name, value] of Object.entries(req.env)) {
    if (SECRET_NAME.test(name) && value.length > 0) {
      out.push({
        rule: 'no-plaintext-secrets',
        severity: prod ? 'critical' : 'high',
        field: `env.${name}`,
        message: `env.${name} looks like a secret in plain text; store it in Secret Manager and reference it under "secrets": {"${name}": "<secret-name>"}`,
      });
    }
  }

  const limits = req.deployment_options.resource_limits;
  const max = ENVIRONMENT_LIMITS[req.environment];
  if (limits?.memory_mb !== undefined && limits.memory_mb > max.memory_mb) {
    out.push({
      rule: 'resource-limits',
      severity: 'critical',
      field: 'deployment_options.resource_limits.memory_mb',
      message: `${limits.memory_mb} MiB is over the ${req.environment} limit of ${max.memory_mb} MiB`,
    });
  }
  if (limits?.cpu_cores !== undefined && limits.cpu_cores > max.cpu_cores) {
    out.push({
      rule: 'resource-limits',
      severity: 'critical',
      field: 'deployment_options.resource_limits.cpu_cores',
      message: `${limits.cpu_cores} CPUs is over the ${req.environment} limit of ${max.cpu_cores}`,
    });
  }

  if (prod && req.deployment_options.allow_unauthenticated === true) {
    out.push({
      rule: 'auth-in-production',
      severity: 'medium',
      field: 'deployment_options.allow_unauthenticated',
      message: 'this production service will accept unauthenticated requests, as you allowed',
    });
  }
  if (prod && !req.deployment_options.auto_rollback) {
    out.push({
      rule: 'rollback-in-production',
      severity: 'high',
      field: 'deployment_options.auto_rollback',
      message: 'auto_rollback is off in production: a revision that fails verification is left stopped and nothing is restored for you',
    });
  }

  if (req.source.type === 'directory' && target !== 'local') {
    out.push({
      rule: 'source-supported',
      severity: 'critical',
      field: 'source.type',
      message: 'a "directory" source exists only on the local target; upload an archive or use a git source',
    });
  }
  if (req.source.type === 'image' && target === 'local') {
    out.push({
      rule: 'source-supported',
      severity: 'critical',
      field: 'source.type',
      message:
        'the local target has no container engine to run an "image" source; deploy a directory, an archive or a git repository instead',
    });
  }

  out.push({
    rule: 'config-schema',
    severity: 'info',
    message: `configuration is valid for ${req.environment}`,
  });
  return out;
}

export function blocking(results: ValidationResult[]): ValidationResult[] {
  return results.filter((r) => r.severity === 'critical');
}
