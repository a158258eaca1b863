import { basename } from 'node:path';
import { MAX_APPROVAL_TIMEOUT_S, MIN_APPROVAL_TIMEOUT_S } from '../domain/approval-schema.js';
import { type CanaryThresholds, CanaryThresholdsSchema } from '../domain/canary.js';
import { MAX_STARTUP_SECONDS } from '../domain/cloud-run-limits.js';
import { EnvironmentNameSchema } from '../domain/environments.js';
import { AgentIdSchema } from '../domain/names.js';
import { EnvironmentSchema } from '../domain/request.js';

/** Pure parsing of `baton deploy`'s options: every problem is a UsageError saying what to type instead. */

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SECRET_NAME = /^[A-Za-z0-9_-]{1,255}$/;

/** `KEY=VALUE` as given to --env or --secret; the value may itself contain "=". */
function keyValue(raw: string, flag: string, what: string): [string, string] {
  const eq = raw.indexOf('=');
  if (eq < 0) {
    const tier = EnvironmentSchema.options.find((e) => e === raw);
    if (flag === '--env' && tier) throw new UsageError(`--env takes KEY=VALUE; the environment tier is --environment ${tier}`);
    throw new UsageError(`${flag} takes KEY=${what}, not "${raw}"`);
  }
  const key = raw.slice(0, eq);
  if (!ENV_NAME.test(key))
    throw new UsageError(`${flag} ${key}=…: "${key}" is not a variable name (letters, digits and "_", not starting with a digit)`);
  return [key, raw.slice(eq + 1)];
}

/** Repeated --env KEY=VALUE; a later one wins. */
export function parseEnvFlags(values: readonly string[] = []): Record<string, string> {
  return Object.fromEntries(values.map((v) => keyValue(v, '--env', 'VALUE')));
}

/** Repeated --secret KEY=NAME: the variable KEY takes the value of the Secret Manager secret NAME. */
export function parseSecretFlags(values: readonly string[] = []): Record<string, string> {
  return Object.fromEntries(
    values.map((v) => {
      const [key, name] = keyValue(v, '--secret', 'SECRET_NAME');
      if (!SECRET_NAME.test(name)) throw new UsageError(`--secret ${key}=${name}: a secret name is 1-255 letters, digits, "-" or "_"`);
      return [key, name];
    }),
  );
}

/** Any well-formed name: the control plane knows which environments its operator configured (GET /environments). */
export function parseEnvironment(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (!EnvironmentNameSchema.safeParse(raw).success)
    throw new UsageError(
      `--environment "${raw}" is not an environment name (lowercase letters, digits, "-" or "_"; e.g. ${EnvironmentSchema.options.join(', ')})`,
    );
  return raw;
}

export function parseStartTimeout(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const seconds = Number(raw.replace(/s$/, ''));
  if (raw.trim() === '' || !Number.isFinite(seconds) || seconds < 1 || seconds > MAX_STARTUP_SECONDS) {
    throw new UsageError(`--start-timeout must be a number of seconds from 1 to ${MAX_STARTUP_SECONDS} (Cloud Run's limit), not "${raw}"`);
  }
  return seconds;
}

export function parseApproval(raw: string | undefined): 'required' | 'none' | undefined {
  if (raw === undefined) return undefined;
  if (raw !== 'required' && raw !== 'none') throw new UsageError(`--approval must be required or none, not "${raw}"`);
  return raw;
}

export function parseApprovalTimeout(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const seconds = Number(raw.replace(/s$/, ''));
  if (raw.trim() === '' || !Number.isInteger(seconds) || seconds < MIN_APPROVAL_TIMEOUT_S || seconds > MAX_APPROVAL_TIMEOUT_S)
    throw new UsageError(
      `--approval-timeout must be whole seconds from ${MIN_APPROVAL_TIMEOUT_S} to ${MAX_APPROVAL_TIMEOUT_S} (7 days), not "${raw}"`,
    );
  return seconds;
}

export function parseHealthPath(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (!/^\/\S*$/.test(raw)) throw new UsageError(`--health-path must be a path starting with "/", e.g. /healthz, not "${raw}"`);
  return raw;
}

export type StrategyFlag = { type: 'all_at_once' } | { type: 'canary'; steps: number[] };

/** `all-at-once`, or `canary:10,50,100`: whole percents, increasing, ending at 100. */
export function parseStrategy(raw: string | undefined): StrategyFlag | undefined {
  if (raw === undefined) return undefined;
  if (raw === 'all-at-once' || raw === 'all_at_once') return { type: 'all_at_once' };
  const m = /^canary:(.*)$/.exec(raw);
  if (!m) throw new UsageError(`--strategy must be all-at-once or canary:<percent>,…,100 (e.g. canary:10,50,100), not "${raw}"`);
  const parts = (m[1] ?? '').split(',').map((s) => s.trim());
  const steps = parts.map(Number);
  const bad = parts.find((s, i) => !/^\d+$/.test(s) || (steps[i] ?? 0) < 1 || (steps[i] ?? 0) > 100);
  if (bad !== undefined) throw new UsageError(`--strategy ${raw}: "${bad}" is not a whole percent from 1 to 100`);
  if (steps.length > 10) throw new UsageError(`--strategy ${raw}: at most 10 steps`);
  if (steps.some((v, i) => i > 0 && v <= (steps[i - 1] ?? 0)))
    throw new UsageError(`--strategy ${raw}: the percents must increase from step to step`);
  if (steps[steps.length - 1] !== 100)
    throw new UsageError(`--strategy ${raw}: the last step must be 100, so the new revision ends up serving all traffic`);
  return { type: 'canary', steps };
}

/**
 * --max-error-rate (a share 0–1, or a percent such as 5%), --max-latency (ms, `ms` allowed) and
 * --min-requests: the canary analysis's thresholds; what is not given comes from the environment.
 */
export function parseCanaryThresholds(raw: {
  'max-error-rate'?: string;
  'max-latency'?: string;
  'min-requests'?: string;
}): Partial<CanaryThresholds> {
  const out: Partial<CanaryThresholds> = {};
  const rate = raw['max-error-rate'];
  if (rate !== undefined) {
    const value = rate.endsWith('%') ? Number(rate.slice(0, -1)) / 100 : Number(rate);
    if (rate.trim() === '' || !CanaryThresholdsSchema.shape.max_error_rate.safeParse(value).success)
      throw new UsageError(`--max-error-rate must be a share of requests from 0 to 1 (or a percent, e.g. 5%), not "${rate}"`);
    out.max_error_rate = value;
  }
  const latency = raw['max-latency'];
  if (latency !== undefined) {
    const value = Number(latency.replace(/ms$/, ''));
    if (latency.trim() === '' || !CanaryThresholdsSchema.shape.max_latency_ms.safeParse(value).success)
      throw new UsageError(`--max-latency must be milliseconds above 0 and at most 600000 (the candidate's p95), not "${latency}"`);
    out.max_latency_ms = value;
  }
  const min = raw['min-requests'];
  if (min !== undefined) {
    const value = Number(min);
    if (!/^\d+$/.test(min) || !CanaryThresholdsSchema.shape.min_requests.safeParse(value).success)
      throw new UsageError(`--min-requests must be a whole number of requests from 1 to 1000000, not "${min}"`);
    out.min_requests = value;
  }
  return out;
}

/**
 * The agent id for a folder deployed without --agent, as `gcloud run deploy --source` names a
 * service after its folder: lowercase, every run of other characters made one "-", leading
 * characters up to the first letter dropped, cut to the longest id accepted, no "-" at the end.
 */
export function agentIdFromFolder(folder: string): string {
  const name = basename(folder);
  const id = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  const checked = AgentIdSchema.safeParse(id);
  if (!checked.success) {
    const why = id === '' ? 'has no letters to make one from' : `gives "${id}", which ${checked.error.issues[0]?.message}`;
    throw new UsageError(`no --agent given and the folder name "${name}" ${why}: give one with --agent <id>`);
  }
  return id;
}
