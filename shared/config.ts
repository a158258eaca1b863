import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { DEFAULT_ENVIRONMENTS, type Environments, EnvironmentsFileError, parseEnvironmentsFile } from './domain/environments.js';
import type { ArchiveLimits } from './sources/archive-reader.js';
import { type GcpConfig, GcpConfigSchema } from './wiring/gcp-config.js';

const BOOLEAN_WORDS = ['true', 'false', '1', '0', 'yes', 'no', 'on', 'off', ''] as const;
const bool = z
  .enum(BOOLEAN_WORDS)
  .default('false')
  .transform((v) => v === 'true' || v === '1' || v === 'yes' || v === 'on');
const boolOn = z
  .enum(BOOLEAN_WORDS)
  .default('true')
  .transform((v) => v !== 'false' && v !== '0' && v !== 'no' && v !== 'off');
const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);

/**
 * Everything Baton reads from its environment, validated once at start-up. Only this module and
 * the wiring read process.env.
 */
export const ConfigSchema = z.object({
  BATON_TARGET: z.enum(['local', 'gcp']).default('local'),
  BATON_DATA_DIR: z.string().min(1).default('.baton'),
  PORT: int(8080, 0, 65535),
  BATON_HOST: z.string().default('127.0.0.1'),
  /** Deliver every Pub/Sub message twice (local): proves the stages idempotent. */
  BATON_DUPLICATE_DELIVERY: bool,
  BATON_BUS_MAX_ATTEMPTS: int(5, 1, 100),
  BATON_BUS_MIN_BACKOFF_MS: int(200, 1, 600_000),
  BATON_BUS_MAX_BACKOFF_MS: int(10_000, 1, 600_000),
  /** A delivery not answered within this is redelivered (Pub/Sub's ack deadline; 600 s is its maximum). */
  BATON_BUS_ACK_DEADLINE_MS: int(600_000, 100, 600_000),
  /** How long a stage's claim holds before a redelivery may take over from a worker that died. */
  BATON_CLAIM_LEASE_MS: int(600_000, 100, 3_600_000),
  BATON_VERIFY_POLL_MS: int(20, 5, 60_000),
  BATON_HEALTH_ATTEMPTS: int(3, 1, 20),
  BATON_HEALTH_TIMEOUT_MS: int(5000, 100, 120_000),
  /** The longest slice of a load test one task runs (the function's timeout bounds it; the load generator counts whole seconds). */
  BATON_TEST_SLICE_MS: int(60_000, 1000, 300_000),
  /** How often a canary step's window is analysed (each check a task): a breach rolls back at the next check, not at the window's end. */
  BATON_CANARY_CHECK_MS: int(5000, 100, 600_000),
  BATON_BUILD_TIMEOUT_S: int(900, 10, 86_400),
  /** How often a running build's own log is read into the deployment's log, where the builder has one to read (Cloud Build; each read a task). */
  BATON_BUILD_LOG_POLL_MS: int(3000, 100, 60_000),
  BATON_MAX_SOURCE_BYTES: int(50 * 1024 * 1024, 1024, 10 * 1024 * 1024 * 1024),
  BATON_MAX_SOURCE_FILES: int(20_000, 1, 10_000_000),
  BATON_MAX_UPLOAD_BYTES: int(50 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
  /** An uploaded archive may unpack to at most this many times its size (past 8 MiB unpacked): a compression bomb stops there. */
  /** Local target: a JSON file {"secret-name": "value"} standing in for Secret Manager (git tokens by token_secret). */
  BATON_LOCAL_SECRETS_FILE: z.string().min(1).optional(),
  BATON_MAX_ARCHIVE_RATIO: int(200, 2, 100_000),
  BATON_MAX_ACTIVE_PER_AGENT: int(1, 1, 100),
  /** Running deployments per owner (the caller's identity; every caller on the local target is one); more wait in `queued`. */
  BATON_MAX_ACTIVE_PER_OWNER: int(3, 1, 1000),
  /** Deployments one owner may have waiting; one more is refused with 429 and Retry-After. */
  BATON_MAX_QUEUED_PER_OWNER: int(100, 0, 10_000),
  /** The Retry-After (seconds) of that 429. */
  BATON_QUEUE_RETRY_AFTER_S: int(30, 1, 3600),
  /**
   * Local target: remove the revisions, artifacts, extracted folders, sources and logs of
   * deployments no longer kept. Kept per service: the last BATON_KEEP_REVISIONS revisions, plus
   * whatever serves traffic or carries a tag, the revision a rollback would return to, and all
   * that a deployment still running needs.
   */
  BATON_CLEANUP: boolOn,
  BATON_KEEP_REVISIONS: int(3, 1, 1000),
  /**
   * Local target: keep each npm lock file's installed node_modules and copy it into the next build
   * with the same lock, npm, Node and platform instead of running npm ci again (see deps-cache.ts).
   */
  BATON_DEPS_CACHE: boolOn,
  /** How many such trees are kept (least recently used removed first). */
  BATON_DEPS_CACHE_KEEP: int(5, 1, 1000),
  /** Where the local builder runs builds (default: the data folder when no project is above it, else the OS temp dir). */
  BATON_BUILD_DIR: z.string().min(1).optional(),
  /** The PATH the local builder finds toolchains on (python3, go, uv, poetry, pipenv, pnpm, yarn, bun) and runs builds with; default: Baton's own PATH. The Node running Baton always comes first. */
  BATON_BUILD_PATH: z.string().min(1).optional(),
  /** How often the local stack runs the watchdog (Cloud Scheduler runs it every minute on gcp). */
  BATON_WATCHDOG_INTERVAL_MS: int(60_000, 1000, 3_600_000),
  /** Hosts a design's `url` agents may call (comma-separated: host, *.domain, host:port, or *); see shared/domain/agent-url.ts. */
  BATON_AGENT_URL_ALLOW: z.string().max(4000).optional(),
  /** How long a worker's claim on a design run holds without its heartbeat (a crashed worker's run is taken over after it). */
  BATON_DESIGN_LEASE_MS: int(30_000, 300, 3_600_000),
  /**
   * How a synchronous design run commits: grouped (its writes in as few commits as possible, a
   * step's result durable within one commit of its completion) or each (every write synced before
   * the run goes on: slower, and no agent is called before the result it follows is durable).
   */
  BATON_DESIGN_SYNC_COMMITS: z.enum(['grouped', 'each']).default('grouped'),
  /**
   * gcp: the design-run function's timeout (Terraform sets it), also each run task's dispatch
   * deadline: above the 900 s ceiling of run_timeout_ms, at most Cloud Tasks' 30 min.
   */
  BATON_DESIGN_RUN_TIMEOUT_S: int(960, 930, 1800),
  /** Largest body of POST /api/deployed/{path} and /api/deployments/{id}/execute. */
  BATON_DESIGN_MAX_REQUEST_BYTES: int(1024 * 1024, 1024, 30 * 1024 * 1024),
  /** The public base URL endpoints are served at (endpoint_url); the API's own URL locally. */
  BATON_PUBLIC_URL: z.url().optional(),
  /** The built web dashboard the local stack serves at / (`npm run build:dashboard` writes it). */
  BATON_DASHBOARD_DIR: z
    .string()
    .min(1)
    .default(resolve(import.meta.dirname, '../dist/dashboard')),
  /** gcp: the designs-scheduled function's URL, Cloud Scheduler's target (Terraform sets it). */
  BATON_DESIGNS_SCHEDULED_URL: z.url().optional(),
  /** gcp: the public deployed function's URL, base of each endpoint_url unless BATON_PUBLIC_URL says otherwise (Terraform sets it). */
  BATON_DESIGNS_PUBLIC_URL: z.url().optional(),
  /** gcp: the service account Cloud Scheduler signs its OIDC tokens as (Terraform sets it). */
  BATON_SCHEDULER_SERVICE_ACCOUNT: z.email().optional(),
  /** A YAML or JSON file of deployment environments extending (or replacing) the defaults. */
  BATON_ENVIRONMENTS_FILE: z.string().min(1).optional(),
});
export type Config = z.infer<typeof ConfigSchema> & { environments: Environments };

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** The caps every uploaded archive is read under, at upload and when it is unpacked. */
export function archiveLimitsOf(config: Config): ArchiveLimits {
  return { maxEntries: config.BATON_MAX_SOURCE_FILES, maxBytes: config.BATON_MAX_SOURCE_BYTES, maxRatio: config.BATON_MAX_ARCHIVE_RATIO };
}

/** Parses the environment; a bad value fails fast with the variable named and how to fix it. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = ConfigSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}=${JSON.stringify(env[String(i.path[0])] ?? '')}: ${i.message}`);
    throw new ConfigError(
      `Baton's configuration is invalid:\n${lines.join('\n')}\nFix these environment variables (see README, "Configuration") and start again.`,
    );
  }
  const config = parsed.data;
  return { ...config, BATON_DATA_DIR: resolve(config.BATON_DATA_DIR), environments: loadEnvironments(config.BATON_ENVIRONMENTS_FILE) };
}

/** The environments: the defaults, or those the operator's file makes of them; a bad file stops the start. */
export function loadEnvironments(file: string | undefined): Environments {
  if (file === undefined) return DEFAULT_ENVIRONMENTS;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`BATON_ENVIRONMENTS_FILE=${file}: cannot be read (${err instanceof Error ? err.message : String(err)})`);
  }
  try {
    return parseEnvironmentsFile(text, file);
  } catch (err) {
    if (err instanceof EnvironmentsFileError) throw new ConfigError(`BATON_ENVIRONMENTS_FILE: ${err.message}`);
    throw err;
  }
}

/** The gcp target's settings (BATON_TARGET=gcp), with the same fail-fast messages. */
export function loadGcpConfig(env: NodeJS.ProcessEnv = process.env): GcpConfig {
  const parsed = GcpConfigSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}=${JSON.stringify(env[String(i.path[0])] ?? '')}: ${i.message}`);
    throw new ConfigError(
      `Baton's Google Cloud configuration is invalid:\n${lines.join('\n')}\nTerraform sets these on every function (terraform/functions.tf); see the README for running against emulators.`,
    );
  }
  return parsed.data;
}
