import { z } from 'zod';
import { ApiUsersSchema } from '../domain/api-users.js';
import { GitTokenSecretsSchema } from '../domain/git-source.js';

const safeJson = (s: string): unknown => {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
};

const endpoint = z
  .string()
  .regex(/^https?:\/\/[^/\s]+$/, 'must be a base URL such as http://127.0.0.1:9090')
  .optional();

/**
 * The gcp target's settings, read from the environment once at start-up. Terraform sets these on
 * every function; tests point the *_ENDPOINT variables at in-process fakes and the emulators'
 * own variables (FIRESTORE_EMULATOR_HOST, PUBSUB_EMULATOR_HOST, STORAGE_EMULATOR_HOST) at them.
 */
export const GcpConfigSchema = z.object({
  BATON_GCP_PROJECT: z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'must be a Google Cloud project id'),
  BATON_GCP_REGION: z
    .string()
    .regex(/^[a-z]+-[a-z]+\d+$/, 'must be a region such as us-central1')
    .default('us-central1'),
  /** Holds deployment_logs/… and uploaded/prepared sources. */
  BATON_BUCKET: z.string().min(3).max(63),
  /**
   * The bucket Cloud Build writes each build's log to (`log-<build id>.txt`, streamed while it
   * runs), read into the deployment's log; unset: builds log to Cloud Logging only, and the
   * deployment's log gets a build's outcome but not its output.
   */
  BATON_BUILD_LOGS_BUCKET: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/, 'must be a Cloud Storage bucket name')
    .optional(),
  /** Artifact Registry docker repository the builds push to. */
  BATON_ARTIFACT_REPO: z.string().min(1).default('baton'),
  /** Service accounts: Cloud Tasks' OIDC identity, the builds' identity, the deployed services' identity. */
  BATON_TASKS_SERVICE_ACCOUNT: z.string().email().optional(),
  BATON_BUILD_SERVICE_ACCOUNT: z.string().email().optional(),
  BATON_RUNTIME_SERVICE_ACCOUNT: z.string().email().optional(),
  /** JSON map from task-triggered function name to its HTTPS URL, e.g. {"verify": "https://…"}; Terraform writes it. */
  BATON_TASK_TARGETS: z
    .string()
    .default('{}')
    .transform((s, ctx) => {
      try {
        return z.record(z.string(), z.string().url()).parse(JSON.parse(s));
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object of function name to URL' });
        return z.NEVER;
      }
    }),
  /**
   * JSON map of Secret Manager secret id → the git host its token is for, e.g. {"github-token":
   * "github.com"}: the secrets a git source's token_secret may name (the build's service account
   * may read these only: Terraform's git_token_secrets).
   */
  BATON_GIT_TOKEN_SECRETS: z
    .string()
    .default('{}')
    .transform((s, ctx) => {
      const parsed = GitTokenSecretsSchema.safeParse(safeJson(s));
      if (parsed.success) return parsed.data;
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object of Secret Manager secret id to git host (github.com)' });
      return z.NEVER;
    }),
  /**
   * Who checks the API's callers: `iam` (Cloud Run's IAM, run.invoker; the api decodes the token
   * it verified) or `firebase` (the api is public at IAM and verifies Firebase Auth ID tokens
   * itself, for the dashboard in a browser; BATON_API_USERS says whose).
   */
  BATON_API_AUTH: z.enum(['iam', 'firebase']).default('iam'),
  /** With BATON_API_AUTH=firebase: who may call, comma-separated user:<email> or domain:<domain>. */
  BATON_API_USERS: ApiUsersSchema,
  /** Origins that may call the API from a browser (the dashboard's Hosting URLs), comma-separated. */
  BATON_DASHBOARD_ORIGINS: z
    // A string from the environment; a list when a parsed config is parsed again.
    .preprocess((v) => (Array.isArray(v) ? v.join(',') : v), z.string().default(''))
    .transform((s) =>
      s
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'each origin is scheme://host[:port], no path'))),
  /** Overrides for the gRPC APIs, for tests against in-process fakes. */
  BATON_CLOUDBUILD_ENDPOINT: endpoint,
  BATON_RUN_ENDPOINT: endpoint,
  BATON_TASKS_ENDPOINT: endpoint,
  BATON_SCHEDULER_ENDPOINT: endpoint,
  BATON_STORAGE_ENDPOINT: endpoint,
  /** Cloud Build's REST API (builds.create, for options.pubsubTopic), for tests against an in-process fake. */
  BATON_CLOUDBUILD_REST_ENDPOINT: endpoint,
  /** Cloud Monitoring (gRPC), for tests against an in-process fake. */
  BATON_MONITORING_ENDPOINT: endpoint,
  /** Cloud Logging's REST API (entries:list), for tests against an in-process fake. */
  BATON_LOGGING_ENDPOINT: endpoint,
});
export type GcpConfig = z.infer<typeof GcpConfigSchema>;
