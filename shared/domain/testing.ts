import { z } from 'zod';
import { defaultTestTypes, type Environments, type ValidationLevel } from './environments.js';
import { DEFAULT_HEALTH_PATH } from './health.js';

/**
 * The test stage's data: what a request may ask for (`test_options`, seed 004's shape), what the
 * environment adds, and the pure arithmetic that turns raw measurements into seed 004's
 * `test_results` entries. No I/O here: the use case (shared/pipeline/test-stage.ts) makes the requests.
 * Times in options and results are seconds, as in the seed.
 */

export const TEST_TYPES = ['functional_test', 'performance_test', 'load_test', 'security_test'] as const;
export type TestType = (typeof TEST_TYPES)[number];

const Path = z
  .string()
  .regex(/^\/[^\s]*$/, 'must be a path starting with "/"')
  .max(512);

/** One declared smoke request: its path, the status it must answer, and optionally text in the body or a JSON value. */
export const SmokeRequestSchema = z.strictObject({
  path: Path,
  expected_status: z.number().int().min(100).max(599).default(200),
  body_contains: z.string().min(1).max(1024).optional(),
  /** `status`, `services.db`, `items[0].id` (a leading `$.` is allowed). */
  json_path: z.string().min(1).max(256).optional(),
  /** What the value at json_path must equal; without it the path must merely exist. */
  json_equals: z.union([z.string(), z.number(), z.boolean(), z.null()]).optional(),
});
export type SmokeRequest = z.infer<typeof SmokeRequestSchema>;

export const TestOptionsSchema = z.strictObject({
  functional_test: z.boolean().optional(),
  performance_test: z.boolean().optional(),
  load_test: z.boolean().optional(),
  security_test: z.boolean().optional(),
  smoke_requests: z.array(SmokeRequestSchema).min(1).max(20).optional(),
  /** Requests of the performance test, one after another. */
  performance_requests: z.number().int().min(1).max(1000).optional(),
  concurrent_users: z.number().int().min(1).max(1000).optional(),
  test_duration: z.number().positive().max(3600).optional(),
  response_time_threshold: z.number().positive().max(60).default(2.0),
  success_rate_threshold: z.number().min(0).max(1).default(0.95),
  /** Production's security test: a path that must refuse an unauthenticated request. */
  protected_path: Path.optional(),
});
export type TestOptions = z.infer<typeof TestOptionsSchema>;

export const TestResultSchema = z.object({
  test_name: z.string(),
  test_type: z.enum(TEST_TYPES),
  status: z.enum(['completed', 'failed']),
  passed: z.boolean(),
  message: z.string(),
  metrics: z.record(z.string(), z.unknown()),
  execution_time: z.number(),
  timestamp: z.string(),
});
export type TestResult = z.infer<typeof TestResultSchema>;

/** One slice of a load test as the load generator measured it. */
export const LoadSliceSchema = z.object({
  duration_ms: z.number().min(0),
  total: z.number().int().min(0),
  successful: z.number().int().min(0),
  latency_avg_ms: z.number().min(0),
  latency_max_ms: z.number().min(0),
});
export type LoadSlice = z.infer<typeof LoadSliceSchema>;

/** What an environment turns on and bounds. */
export interface EnvironmentTesting {
  tests: readonly TestType[];
  max_concurrent_users: number;
  max_test_duration_s: number;
  /** Whether the security test demands that a protected path refuse an unauthenticated request. */
  requires_auth: boolean;
}

/** Load caps by validation level: the stricter the environment, the harder it may be loaded. */
const CAPS: Readonly<Record<ValidationLevel, { users: number; seconds: number }>> = {
  basic: { users: 10, seconds: 30 },
  standard: { users: 50, seconds: 120 },
  strict: { users: 200, seconds: 300 },
};

/**
 * The environment's test defaults: its test types (shared/domain/environments.ts, the operator's
 * file or seed 004's defaults), load caps by its validation level, and the production rule (a
 * strict environment's protected path must refuse an unauthenticated request).
 */
export function environmentTesting(envs: Environments, name: string): EnvironmentTesting {
  const level = envs.environments[name]?.validation_level ?? 'basic';
  return {
    tests: defaultTestTypes(envs, name).map((t) => `${t}_test` as const),
    max_concurrent_users: CAPS[level].users,
    max_test_duration_s: CAPS[level].seconds,
    requires_auth: level === 'strict',
  };
}

export interface TestPlan {
  tests: TestType[];
  /** Declared smoke requests; null: the functional test is the health check again, judged as verify judges it. */
  smoke: SmokeRequest[] | null;
  /** Where performance, load and the header checks send their requests. */
  target_path: string;
  /** The request's health_path, if it names one. */
  health_path: string | undefined;
  performance_requests: number;
  concurrent_users: number;
  test_duration_s: number;
  /** What the request asked for when a cap cut it, for the result's message. */
  capped: string[];
  response_time_threshold_s: number;
  success_rate_threshold: number;
  requires_auth: boolean;
  protected_path: string;
}

const FLAG: Readonly<Record<TestType, keyof TestOptions>> = {
  functional_test: 'functional_test',
  performance_test: 'performance_test',
  load_test: 'load_test',
  security_test: 'security_test',
};

/** What runs: the request's flags over the environment's defaults, bounded by the environment's caps. */
export function planTests(
  options: TestOptions | undefined,
  envs: Environments,
  environment: string,
  healthPath: string | undefined,
): TestPlan {
  const o = TestOptionsSchema.parse(options ?? {});
  const env = environmentTesting(envs, environment);
  const tests = TEST_TYPES.filter((t) => {
    const flag = o[FLAG[t]];
    return typeof flag === 'boolean' ? flag : env.tests.includes(t);
  });
  const capped: string[] = [];
  const cap = (name: string, asked: number, max: number) => {
    if (asked <= max) return asked;
    capped.push(`${name} ${asked} capped at ${max} by ${environment}`);
    return max;
  };
  return {
    tests,
    smoke: o.smoke_requests ?? null,
    target_path: o.smoke_requests?.[0].path ?? healthPath ?? DEFAULT_HEALTH_PATH,
    health_path: healthPath,
    performance_requests: o.performance_requests ?? 20,
    concurrent_users: cap('concurrent_users', o.concurrent_users ?? 10, env.max_concurrent_users),
    test_duration_s: cap('test_duration', o.test_duration ?? 10, env.max_test_duration_s),
    capped,
    response_time_threshold_s: o.response_time_threshold,
    success_rate_threshold: o.success_rate_threshold,
    requires_auth: env.requires_auth,
    protected_path: o.protected_path ?? '/',
  };
}

/** The value at a dotted path with [n] indexes, or `undefined` when it is not there. */
export function jsonPathValue(doc: unknown, path: string): unknown {
  const parts = path
    .replace(/^\$\.?/, '')
    .split(/\.|\[(\d+)\]/)
    .filter((p) => p !== undefined && p !== '');
  let cur: unknown = doc;
  for (const p of parts) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

/** Why a smoke response does not meet its declaration, or null when it does. */
export function smokeProblem(req: SmokeRequest, status: number, body: string): string | null {
  if (status !== req.expected_status) return `${req.path} answered HTTP ${status}, expected ${req.expected_status}`;
  if (req.body_contains !== undefined && !body.includes(req.body_contains))
    return `${req.path}: the body does not contain "${req.body_contains}"`;
  if (req.json_path !== undefined) {
    let doc: unknown;
    try {
      doc = JSON.parse(body);
    } catch {
      return `${req.path}: the body is not JSON, so ${req.json_path} cannot be read`;
    }
    const value = jsonPathValue(doc, req.json_path);
    if (value === undefined) return `${req.path}: no ${req.json_path} in the body`;
    if (req.json_equals !== undefined && value !== req.json_equals)
      return `${req.path}: ${req.json_path} is ${JSON.stringify(value)}, expected ${JSON.stringify(req.json_equals)}`;
  }
  return null;
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

/** Nearest-rank percentile of samples (any order). */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return 0;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** Latencies (ms) of the performance test's requests, failures counted as failures. */
export function performanceVerdict(latenciesMs: readonly number[], failures: readonly string[], thresholdS: number, elapsedMs: number) {
  const avg = latenciesMs.length ? latenciesMs.reduce((a, b) => a + b, 0) / latenciesMs.length : 0;
  const p95 = percentile(latenciesMs, 95);
  const max = latenciesMs.length ? Math.max(...latenciesMs) : 0;
  const metrics = {
    requests: latenciesMs.length + failures.length,
    failed_requests: failures.length,
    average_response_time: round3(avg / 1000),
    p95_response_time: round3(p95 / 1000),
    max_response_time: round3(max / 1000),
    requests_per_second: elapsedMs > 0 ? round3((latenciesMs.length + failures.length) / (elapsedMs / 1000)) : 0,
    response_time_threshold: thresholdS,
  };
  const summary = `Avg: ${metrics.average_response_time}s, p95: ${metrics.p95_response_time}s, Max: ${metrics.max_response_time}s`;
  if (failures.length > 0) return { passed: false, metrics, message: `Performance test failed: ${failures[0]} (${summary})` };
  if (p95 / 1000 > thresholdS)
    return {
      passed: false,
      metrics,
      message: `Performance test failed: p95 ${metrics.p95_response_time}s over the ${thresholdS}s threshold (${summary})`,
    };
  return { passed: true, metrics, message: `Performance test completed. ${summary}` };
}

/** The slices of one load test combined: totals added, rates over the whole time, the worst maximum. */
export function combineLoadSlices(slices: readonly LoadSlice[]): LoadSlice {
  const total = slices.reduce((a, s) => a + s.total, 0);
  return {
    duration_ms: slices.reduce((a, s) => a + s.duration_ms, 0),
    total,
    successful: slices.reduce((a, s) => a + s.successful, 0),
    latency_avg_ms: total > 0 ? slices.reduce((a, s) => a + s.latency_avg_ms * s.total, 0) / total : 0,
    latency_max_ms: slices.reduce((a, s) => Math.max(a, s.latency_max_ms), 0),
  };
}

export function loadVerdict(slices: readonly LoadSlice[], plan: Pick<TestPlan, 'concurrent_users' | 'success_rate_threshold' | 'capped'>) {
  const all = combineLoadSlices(slices);
  const rate = all.total > 0 ? all.successful / all.total : 0;
  const rps = all.duration_ms > 0 ? all.total / (all.duration_ms / 1000) : 0;
  const metrics = {
    concurrent_users: plan.concurrent_users,
    total_requests: all.total,
    successful_requests: all.successful,
    success_rate: round3(rate),
    requests_per_second: Math.round(rps * 10) / 10,
    average_response_time: round3(all.latency_avg_ms / 1000),
    max_response_time: round3(all.latency_max_ms / 1000),
    slices: slices.length,
    success_rate_threshold: plan.success_rate_threshold,
    ...(plan.capped.length ? { capped: plan.capped } : {}),
  };
  const summary = `Success rate: ${(rate * 100).toFixed(1)}%, RPS: ${metrics.requests_per_second}`;
  if (all.total === 0) return { passed: false, metrics, message: 'Load test failed: no request completed' };
  if (rate < plan.success_rate_threshold)
    return { passed: false, metrics, message: `Load test failed: ${summary}, below the ${plan.success_rate_threshold * 100}% threshold` };
  return { passed: true, metrics, message: `Load test completed. ${summary}` };
}

/** How many slices a load test of the plan's duration takes, none longer than `sliceMs`. */
export function sliceCount(plan: Pick<TestPlan, 'test_duration_s'>, sliceMs: number): number {
  return Math.max(1, Math.ceil((plan.test_duration_s * 1000) / sliceMs));
}

/** How long slice `n` (from 1) runs: a whole slice, or what remains for the last one. */
export function sliceDurationMs(plan: Pick<TestPlan, 'test_duration_s'>, n: number, sliceMs: number): number {
  return Math.max(0, Math.min(sliceMs, plan.test_duration_s * 1000 - (n - 1) * sliceMs));
}

export interface SecurityCheck {
  name: string;
  passed: boolean;
  message: string;
}

/** The response headers every service should send (lower-case names). */
export const SECURITY_HEADERS = [
  'x-content-type-options',
  'x-frame-options',
  'strict-transport-security',
  'content-security-policy',
] as const;

/** Headers checks of one response: no version banner, the usual security headers. */
export function headerChecks(headers: Readonly<Record<string, string>>): SecurityCheck[] {
  const banner = ['server', 'x-powered-by']
    .map((h) => [h, headers[h]] as const)
    .filter(([, v]) => v !== undefined && (/\d/.test(v) || /express|php|asp\.net/i.test(v)));
  const checks: SecurityCheck[] = [
    {
      name: 'no_version_banner',
      passed: banner.length === 0,
      message: banner.length === 0 ? 'No server version banner' : `Reveals ${banner.map(([h, v]) => `${h}: ${v}`).join(', ')}`,
    },
  ];
  for (const h of SECURITY_HEADERS) {
    const present = headers[h] !== undefined;
    checks.push({ name: `header_${h}`, passed: present, message: present ? `${h}: ${headers[h]}` : `Missing ${h}` });
  }
  return checks;
}

/** Whether a probe of a path that must not be served found it served: `.env`, `.git/HEAD`, a directory listing. */
export function exposureCheck(name: string, path: string, status: number, body: string): SecurityCheck {
  const listing = /<title>\s*(Index of|Directory listing)/i.test(body);
  const exposed =
    status >= 200 &&
    status < 300 &&
    (name === 'no_directory_listing'
      ? listing
      : name === 'no_exposed_git'
        ? /^ref: |^[0-9a-f]{40}/m.test(body)
        : /^[A-Za-z_][A-Za-z0-9_]*=/m.test(body));
  return { name, passed: !exposed, message: exposed ? `${path} is served (HTTP ${status})` : `${path} not exposed (HTTP ${status})` };
}

export function securityVerdict(checks: readonly SecurityCheck[]) {
  const passed = checks.filter((c) => c.passed).length;
  const failed = checks.filter((c) => !c.passed);
  const metrics = { passed_checks: passed, total_checks: checks.length, security_checks: checks };
  return failed.length === 0
    ? { passed: true, metrics, message: `Security test completed. Passed: ${passed}/${checks.length} checks` }
    : {
        passed: false,
        metrics,
        message: `Security test failed: ${failed.map((c) => c.message).join('; ')} (passed ${passed}/${checks.length})`,
      };
}
