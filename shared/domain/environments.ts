import { type Document, isMap, isScalar, LineCounter, type Node, parseDocument } from 'yaml';
import { z } from 'zod';
import { ApprovalTimeoutSchema, EnvironmentApprovalSchema } from './approval-schema.js';
import { type CanaryThresholds, CanaryThresholdsSchema } from './canary.js';
import { cloudRunLimitProblem } from './cloud-run-limits.js';

/**
 * Deployment environments as data (seed 004's `GET /environments`): what each asks of a revision,
 * how strictly it is validated, how closely it is watched and which tests it runs. The three
 * defaults are the seed's; an operator's file (BATON_ENVIRONMENTS_FILE) extends or replaces them.
 */

export const EnvironmentNameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,31}$/, 'must be 1–32 lowercase letters, digits, "-" or "_", starting with a letter');
export const ValidationLevelSchema = z.enum(['basic', 'standard', 'strict']);
export type ValidationLevel = z.infer<typeof ValidationLevelSchema>;
export const MonitoringLevelSchema = z.enum(['minimal', 'standard', 'comprehensive']);
export const TestTypeSchema = z.enum(['functional', 'performance', 'load', 'security']);
export type TestType = z.infer<typeof TestTypeSchema>;

export const ResourceRequirementsSchema = z
  .strictObject({
    memory_mb: z.number().int().min(128).max(32768),
    cpu_cores: z.number().min(0.08).max(8),
    /** Reported only: neither target reserves disk for a revision (Cloud Run's disk is its memory). */
    storage_gb: z.number().min(0).max(100_000),
  })
  .superRefine((r, ctx) => {
    // A default every request inherits must be one Cloud Run accepts (with concurrency 1 below 1 CPU).
    const problem = cloudRunLimitProblem({ memory_mb: r.memory_mb, cpu_cores: r.cpu_cores });
    if (problem) ctx.addIssue({ code: 'custom', path: [problem.field], message: problem.message });
  });
export type ResourceRequirements = z.infer<typeof ResourceRequirementsSchema>;

export const EnvironmentDefSchema = z.strictObject({
  description: z.string().min(1).max(500),
  resource_requirements: ResourceRequirementsSchema,
  validation_level: ValidationLevelSchema,
  monitoring_level: MonitoringLevelSchema,
  /** The tests a deployment here runs unless its test_options say otherwise. */
  test_types: z.array(TestTypeSchema).min(1).optional(),
  /** What a canary here is judged against unless its deployment_options say otherwise (fields left out: by validation level). */
  canary: CanaryThresholdsSchema.partial().optional(),
  /**
   * Whether a tested deployment waits for a person before traffic moves: required (unless its
   * request says approval "none"), enforced (a request cannot opt out), none (unless its request
   * says "required"). Absent: required for a strict environment, none otherwise.
   */
  approval: EnvironmentApprovalSchema.optional(),
  /** How long a deployment here waits for approval before it fails (default 24 h). */
  approval_timeout_seconds: ApprovalTimeoutSchema.optional(),
});
export type EnvironmentDef = z.infer<typeof EnvironmentDefSchema>;

export interface Environments {
  environments: Record<string, EnvironmentDef>;
  default_environment: string;
}

export const DEFAULT_ENVIRONMENTS: Environments = {
  environments: {
    development: {
      description: 'Development environment for testing and debugging',
      resource_requirements: { memory_mb: 512, cpu_cores: 0.5, storage_gb: 5 },
      validation_level: 'basic',
      monitoring_level: 'minimal',
      test_types: ['functional'],
    },
    staging: {
      description: 'Staging environment for integration testing',
      resource_requirements: { memory_mb: 1024, cpu_cores: 1, storage_gb: 20 },
      validation_level: 'standard',
      monitoring_level: 'standard',
      test_types: ['functional', 'performance'],
    },
    production: {
      description: 'Production environment for live deployments',
      resource_requirements: { memory_mb: 2048, cpu_cores: 2, storage_gb: 100 },
      validation_level: 'strict',
      monitoring_level: 'comprehensive',
      test_types: ['functional', 'performance', 'load', 'security'],
      approval: 'required',
    },
  },
  // The seed's default is staging; Baton's requests without an environment have always been
  // development deployments, and changing that would start blocking them on `high` findings.
  default_environment: 'development',
};

/** Test types by validation level, for an operator's environment that lists none. */
const TESTS_BY_LEVEL: Record<ValidationLevel, TestType[]> = {
  basic: ['functional'],
  standard: ['functional', 'performance'],
  strict: ['functional', 'performance', 'load', 'security'],
};

/**
 * Canary thresholds by validation level, for an environment that sets none: production's are
 * Flagger's defaults (99 % success, 500 ms); the others allow more while a service is young.
 */
const CANARY_BY_LEVEL: Record<ValidationLevel, CanaryThresholds> = {
  basic: { max_error_rate: 0.1, max_latency_ms: 2000, min_requests: 10 },
  standard: { max_error_rate: 0.05, max_latency_ms: 1000, min_requests: 20 },
  strict: { max_error_rate: 0.01, max_latency_ms: 500, min_requests: 50 },
};

/** The canary thresholds of a deployment to `name` unless its deployment_options set them. */
export function environmentCanary(envs: Environments, name: string): CanaryThresholds {
  const env = envs.environments[name];
  return { ...CANARY_BY_LEVEL[env?.validation_level ?? 'basic'], ...(env?.canary ?? {}) };
}

/** A deployment's canary thresholds: what its deployment_options set, the environment's for the rest. */
export function canaryThresholdsFor(envs: Environments, name: string, options: Partial<CanaryThresholds>): CanaryThresholds {
  const set = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  return { ...environmentCanary(envs, name), ...set };
}

/** The tests a deployment to `name` runs by default. */
export function defaultTestTypes(envs: Environments, name: string): TestType[] {
  const env = envs.environments[name];
  if (!env) return ['functional'];
  return env.test_types ?? TESTS_BY_LEVEL[env.validation_level];
}

export const EnvironmentsFileSchema = z.strictObject({
  /** extend (default): the file's environments are added to or override the defaults; replace: only the file's. */
  mode: z.enum(['extend', 'replace']).default('extend'),
  environments: z.record(EnvironmentNameSchema, EnvironmentDefSchema),
  default_environment: EnvironmentNameSchema.optional(),
});

export class EnvironmentsFileError extends Error {
  override readonly name = 'EnvironmentsFileError';
}

/**
 * Parses an operator's file (YAML, or JSON, which YAML reads too) into the environment set. A
 * problem throws naming the file, the line and the field.
 */
export function parseEnvironmentsFile(text: string, file: string, base: Environments = DEFAULT_ENVIRONMENTS): Environments {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  if (doc.errors.length > 0) {
    const err = doc.errors[0];
    const at = lines.linePos(err.pos[0]);
    throw new EnvironmentsFileError(`${file}:${at.line}: not valid YAML or JSON: ${err.message.split('\n')[0]}`);
  }
  const parsed = EnvironmentsFileSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const path = i.code === 'unrecognized_keys' ? [...i.path, i.keys[0]] : i.path;
      return `${file}:${lineOf(doc, lines, path)}: ${path.map(String).join('.') || '(top level)'}: ${i.code === 'unrecognized_keys' ? 'unknown field' : i.message}`;
    });
    throw new EnvironmentsFileError(`the environments file is invalid:\n  ${problems.join('\n  ')}`);
  }
  const data = parsed.data;
  const environments = data.mode === 'replace' ? data.environments : { ...base.environments, ...data.environments };
  const fallback = data.mode === 'replace' ? Object.keys(environments)[0] : base.default_environment;
  const default_environment = data.default_environment ?? fallback;
  if (default_environment === undefined || !environments[default_environment]) {
    const path = data.default_environment === undefined ? ['environments'] : ['default_environment'];
    throw new EnvironmentsFileError(
      `${file}:${lineOf(doc, lines, path)}: default_environment: "${default_environment ?? ''}" is not one of the environments (${Object.keys(environments).join(', ') || 'none'})`,
    );
  }
  return { environments, default_environment };
}

/**
 * The line of what `path` names: its value when the file has it, else the key of the deepest
 * parent that exists (a missing field points at the object that should hold it).
 */
function lineOf(doc: Document, lines: LineCounter, path: readonly PropertyKey[]): number {
  const exact = doc.getIn(path, true) as Node | undefined;
  if (exact?.range) return lines.linePos(exact.range[0]).line;
  for (let n = path.length - 1; n >= 1; n--) {
    const parent = n === 1 ? doc.contents : doc.getIn(path.slice(0, n - 1), true);
    if (!isMap(parent)) continue;
    const pair = parent.items.find((p) => isScalar(p.key) && String(p.key.value) === String(path[n - 1]));
    if (pair && isScalar(pair.key) && pair.key.range) return lines.linePos(pair.key.range[0]).line;
  }
  return 1;
}

/** The environment a request names, or the default; an unknown name is the caller's mistake. */
export function resolveEnvironment(
  envs: Environments,
  requested: string | undefined,
): { ok: true; name: string; env: EnvironmentDef } | { ok: false; message: string } {
  const name = requested ?? envs.default_environment;
  const env = envs.environments[name];
  if (env) return { ok: true, name, env };
  return { ok: false, message: `unknown environment "${name}"; known: ${Object.keys(envs.environments).join(', ')}` };
}

export interface RevisionResources {
  memory_mb?: number;
  cpu_cores?: number;
  concurrent_tasks?: number;
}

/**
 * What the revision gets: the request's limits, and the environment's requirements where the
 * request sets none. Below 1 CPU Cloud Run serves one request at a time per instance (its default
 * there, and the only value it accepts): said explicitly so the job shows what the revision gets.
 */
export function effectiveResources(requested: RevisionResources | undefined, env: EnvironmentDef): RevisionResources {
  const memory_mb = requested?.memory_mb ?? env.resource_requirements.memory_mb;
  const cpu_cores = requested?.cpu_cores ?? env.resource_requirements.cpu_cores;
  const concurrent_tasks = requested?.concurrent_tasks ?? (cpu_cores < 1 ? 1 : undefined);
  return { memory_mb, cpu_cores, ...(concurrent_tasks !== undefined ? { concurrent_tasks } : {}) };
}

/** Whether deployments to `name` wait for approval by default (see EnvironmentDefSchema.approval). */
export function environmentApproval(envs: Environments, name: string): 'required' | 'enforced' | 'none' {
  const env = envs.environments[name];
  if (!env) return 'none';
  return env.approval ?? (env.validation_level === 'strict' ? 'required' : 'none');
}

/** The GET /environments body (seed 004), each environment with the test types it runs and its approval rule. */
export function environmentsView(envs: Environments) {
  return {
    environments: Object.fromEntries(
      Object.entries(envs.environments).map(([name, e]) => [
        name,
        {
          ...e,
          test_types: e.test_types ?? defaultTestTypes(envs, name),
          canary: environmentCanary(envs, name),
          approval: environmentApproval(envs, name),
        },
      ]),
    ),
    default_environment: envs.default_environment,
  };
}
