import type { CloudBuildClient } from '@google-cloud/cloudbuild';
import { z } from 'zod';
import { generateNodeDockerfile } from '../../domain/dockerfile.js';
import { PermanentError } from '../../domain/errors.js';
import { gitHost } from '../../domain/git-source.js';
import { serviceName } from '../../domain/names.js';
import { TOPICS } from '../../domain/topics.js';
import type { Builder, BuildSpec } from '../../ports/index.js';
import type { GcpConfig } from '../../wiring/gcp-config.js';
import { CLONE_DIR, cloudBuildLiteral, GIT_BUILDER, gitFetchScript, TOKEN_ENV } from './git-step.js';

/** An authorised HTTP client (google-auth-library's GoogleAuth, or a pass-through one for a fake). */
export interface CloudBuildHttp {
  request<T>(opts: { url: string; method: 'POST'; data: unknown }): Promise<{ data: T }>;
}

/** Cloud Build's REST API v1: https://cloudbuild.googleapis.com, or a fake's base URL. */
export interface CloudBuildRest {
  http: CloudBuildHttp;
  endpoint: string;
}

/**
 * The Build resource as Baton sends it to `projects.locations.builds.create`, in the REST API's
 * JSON (proto3 JSON: a Duration is "900s"). `options.pubsubTopic` exists only there: the proto of
 * @google-cloud/cloudbuild 6.1.0 has no such field, and its gRPC client drops what it does not know.
 */
export interface BuildResource {
  /** Absent for a git source: the first step clones it into the empty /workspace. */
  source?: { storageSource: { bucket: string; object: string } };
  steps: BuildStep[];
  images: string[];
  tags: string[];
  substitutions: Record<string, string>;
  options: {
    substitutionOption: 'ALLOW_LOOSE';
    logging?: 'CLOUD_LOGGING_ONLY' | 'LEGACY';
    logStreamingOption?: 'STREAM_ON';
    pubsubTopic: string;
  };
  /** `gs://<bucket>`: the build's log goes to `<bucket>/log-<build id>.txt`, streamed while it runs. */
  logsBucket?: string;
  serviceAccount?: string;
  /** Secret Manager versions a step may read as environment variables (its secretEnv): a private repository's token. */
  availableSecrets?: { secretManager: { versionName: string; env: string }[] };
  timeout: string;
}

export interface BuildStep {
  id: string;
  name: string;
  entrypoint?: string;
  args: string[];
  /** Relative to /workspace. */
  dir?: string;
  secretEnv?: string[];
}

/** The create call's answer: a long-running Operation whose metadata is BuildOperationMetadata {build}. */
const CreateAnswerSchema = z.object({
  name: z.string().optional(),
  metadata: z.object({ build: z.looseObject({ id: z.string().optional(), logUrl: z.string().optional() }).optional() }).optional(),
});

export type CloudBuildSettings = Pick<
  GcpConfig,
  'BATON_GCP_PROJECT' | 'BATON_GCP_REGION' | 'BATON_BUCKET' | 'BATON_ARTIFACT_REPO' | 'BATON_BUILD_SERVICE_ACCOUNT'
> &
  Partial<Pick<GcpConfig, 'BATON_GIT_TOKEN_SECRETS'>>;

/** Reads a build's log object by byte range (GcsBuildLogReader). */
export interface BuildLogSource {
  readonly bucket: string;
  read(buildId: string, offset: number, max: number): Promise<{ data: Buffer; more: boolean }>;
}

export interface CloudBuildOptions {
  /**
   * Where builds write their log (the logs bucket): each build names it, streaming on, and
   * readLog reads it back while the build runs. Absent: the build logs to Cloud Logging only.
   */
  logs?: BuildLogSource;
  /**
   * Cloud Build's own timeout for the whole build. Keep it below the pipeline's build lease
   * (settings.build_timeout_ms) so a slow build ends as TIMEOUT, reported with its log, rather
   * than as a lapsed claim.
   */
  timeoutSeconds?: number;
}

const DOCKER = 'gcr.io/cloud-builders/docker';
const DEFAULT_TIMEOUT_SECONDS = 20 * 60;
/** gRPC codes for which a cancel has nothing left to do. */
const NOT_FOUND = 5;
const FAILED_PRECONDITION = 9;

/**
 * Cloud Build (regional, `projects/P/locations/R`). `submit` creates a build that turns the
 * prepared source archive in the Baton bucket into an image in Artifact Registry and returns the
 * build id from the create operation's metadata at once: it never waits on the operation. The
 * outcome arrives as notifications on Baton's own `baton-builds` topic, which each build names in
 * `options.pubsubTopic` (so the project's other builds never reach build-events), correlated by
 * the `baton-<id>` tag and the `_DEPLOYMENT_ID` substitution; `results.images[0]` {name, digest}
 * of a SUCCESS is the image to deploy by digest.
 *
 * The create goes through the REST API (`rest`), the only one with `pubsubTopic`; cancel stays on
 * the gRPC client, which needs nothing the proto lacks. Both answer errors a retry cannot change
 * in a way withApiErrors classifies (an HTTP status, a gRPC code).
 */
export class CloudBuildBuilder implements Builder {
  readonly counters = { submitted: 0, cancelled: 0, failed: 0 };
  private readonly timeoutSeconds: number;

  private readonly logs: BuildLogSource | undefined;
  /** The build's log from `offset` (Builder.readLog): only with a logs bucket. */
  readonly readLog?: (buildId: string, offset: number, max: number) => Promise<{ data: Buffer; more: boolean }>;

  constructor(
    private readonly client: CloudBuildClient,
    private readonly rest: CloudBuildRest,
    private readonly config: CloudBuildSettings,
    options: CloudBuildOptions = {},
  ) {
    this.timeoutSeconds = options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
    this.logs = options.logs;
    const logs = options.logs;
    if (logs) this.readLog = (buildId, offset, max) => logs.read(buildId, offset, max);
  }

  private get parent(): string {
    return `projects/${this.config.BATON_GCP_PROJECT}/locations/${this.config.BATON_GCP_REGION}`;
  }

  /** `{region}-docker.pkg.dev/{project}/{repo}/{service}:{deployment id}` */
  imageFor(spec: Pick<BuildSpec, 'agent_id' | 'deployment_id'>): string {
    const { BATON_GCP_REGION: region, BATON_GCP_PROJECT: project, BATON_ARTIFACT_REPO: repo } = this.config;
    return `${region}-docker.pkg.dev/${project}/${repo}/${serviceName(spec.agent_id)}:${dockerTag(spec.deployment_id)}`;
  }

  /** Where Cloud Build publishes this project's Baton builds: `projects/{project}/topics/baton-builds`. */
  get notificationTopic(): string {
    return `projects/${this.config.BATON_GCP_PROJECT}/topics/${TOPICS.builds}`;
  }

  /** The Build resource `submit` sends: exported through this method so tests and docs can show it. */
  buildFor(spec: BuildSpec): BuildResource {
    const image = this.imageFor(spec);
    const account = this.config.BATON_BUILD_SERVICE_ACCOUNT;
    const git = spec.git;
    // A git source is cloned by the first step into /workspace/src; the other steps run in it (or its path).
    const dir = git ? (git.path ? `${CLONE_DIR}/${git.path}` : CLONE_DIR) : undefined;
    const at = dir ? { dir } : {};
    const steps: BuildStep[] = [
      ...(git ? [this.fetchStep(git)] : []),
      { id: 'dockerfile', name: DOCKER, entrypoint: 'bash', args: ['-c', dockerfileScript(spec.generated)], ...at },
      { id: 'build', name: DOCKER, args: ['build', '--tag', image, '.'], ...at },
      { id: 'push', name: DOCKER, args: ['push', image] },
    ];
    return {
      ...(git ? {} : { source: { storageSource: { bucket: this.config.BATON_BUCKET, object: spec.source_key } } }),
      steps,
      // Listed images are pushed (again: a no-op) and reported with their digests in results.images.
      images: [image],
      tags: spec.tags,
      substitutions: spec.substitutions,
      options: {
        // The substitutions are for correlation only: no step uses them, which MUST_MATCH would reject.
        substitutionOption: 'ALLOW_LOOSE',
        // With a logs bucket the log goes there (streamed while the build runs, so Baton reads it as it
        // grows) and to Cloud Logging (LEGACY: both). Without one, a build that runs as its own service
        // account must log to Cloud Logging only: it has no default bucket.
        ...(this.logs
          ? { logging: 'LEGACY' as const, logStreamingOption: 'STREAM_ON' as const }
          : account
            ? { logging: 'CLOUD_LOGGING_ONLY' as const }
            : {}),
        pubsubTopic: this.notificationTopic,
      },
      ...(this.logs ? { logsBucket: `gs://${this.logs.bucket}` } : {}),
      ...(account ? { serviceAccount: `projects/${this.config.BATON_GCP_PROJECT}/serviceAccounts/${account}` } : {}),
      ...(git?.token_secret
        ? { availableSecrets: { secretManager: [{ versionName: this.secretVersion(git.token_secret), env: TOKEN_ENV }] } }
        : {}),
      timeout: `${this.timeoutSeconds}s`,
    };
  }

  /** `projects/{project}/secrets/{id}/versions/latest`: the token's current version, read by Cloud Build at the build's start. */
  secretVersion(secretId: string): string {
    return `projects/${this.config.BATON_GCP_PROJECT}/secrets/${secretId}/versions/latest`;
  }

  private fetchStep(git: NonNullable<BuildSpec['git']>): BuildStep {
    const host = gitHost(git.url);
    if (git.token_secret) {
      // The API refused this already (cloudGitSourceProblem); checked again where the token is handed out.
      const allowed = this.config.BATON_GIT_TOKEN_SECRETS?.[git.token_secret];
      if (allowed !== host)
        throw new PermanentError(
          `The secret ${git.token_secret} is not a token Baton may send to ${host} (git_token_secrets: ${allowed ?? 'not listed'})`,
          'Add it to the Terraform variable git_token_secrets with its host, and apply',
        );
    }
    return {
      id: 'fetch',
      name: GIT_BUILDER,
      entrypoint: 'bash',
      args: ['-c', cloudBuildLiteral(gitFetchScript(git, host))],
      ...(git.token_secret ? { secretEnv: [TOKEN_ENV] } : {}),
    };
  }

  async submit(spec: BuildSpec): Promise<{ build_id: string; log_url: string }> {
    let id: string | undefined;
    let logUrl: string | undefined;
    try {
      const { data } = await this.rest.http.request<unknown>({
        url: `${this.rest.endpoint}/v1/${this.parent}/builds`,
        method: 'POST',
        data: this.buildFor(spec),
      });
      // No polling of the operation: completion comes through the baton-builds topic.
      const build = CreateAnswerSchema.safeParse(data).data?.metadata?.build;
      id = build?.id;
      logUrl = build?.logUrl;
    } catch (err) {
      this.counters.failed++;
      throw err;
    }
    if (!id) {
      this.counters.failed++;
      throw new Error('Cloud Build accepted the build but its operation carries no build id');
    }
    this.counters.submitted++;
    return { build_id: id, log_url: logUrl || this.consoleUrl(id) };
  }

  async cancel(buildId: string): Promise<void> {
    try {
      await this.client.cancelBuild({ name: `${this.parent}/builds/${buildId}`, projectId: this.config.BATON_GCP_PROJECT, id: buildId });
      this.counters.cancelled++;
    } catch (err) {
      // Already finished, or unknown: nothing to stop.
      const code = (err as { code?: unknown }).code;
      if (code === NOT_FOUND || code === FAILED_PRECONDITION) return;
      throw err;
    }
  }

  private consoleUrl(id: string): string {
    return `https://console.cloud.google.com/cloud-build/builds;region=${this.config.BATON_GCP_REGION}/${id}?project=${this.config.BATON_GCP_PROJECT}`;
  }
}

/**
 * The first step: keep the source's own Dockerfile, or write the generated one. The Dockerfile
 * travels base64-encoded, so neither bash nor Cloud Build's `$` substitutions touch its text.
 */
export function dockerfileScript(generated?: { dockerfile: string; dockerignore: string }): string {
  const encoded = Buffer.from(generated?.dockerfile ?? generateNodeDockerfile()).toString('base64');
  const ignore = generated ? Buffer.from(generated.dockerignore).toString('base64') : null;
  return [
    'if [ -f Dockerfile ]; then',
    '  echo "Building with the Dockerfile in the source"',
    ...(generated
      ? []
      : [
          // Baton's template is for Node services: anything else needs its own Dockerfile (or an analysis).
          'elif [ ! -f package.json ]; then',
          '  echo "The source has no Dockerfile and no package.json: add a Dockerfile (a git source is not analysed before its build on this target)" >&2',
          '  exit 1',
        ]),
    'else',
    `  echo ${encoded} | base64 -d > Dockerfile`,
    ...(ignore ? [`  if [ ! -f .dockerignore ]; then echo ${ignore} | base64 -d > .dockerignore; fi`] : []),
    `  echo "No Dockerfile in the source: generated one${generated ? ' from its analysis' : ' for a Node service'}:"`,
    '  cat Dockerfile',
    'fi',
  ].join('\n');
}

/** Docker tags: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}. */
function dockerTag(deploymentId: string): string {
  const tag = deploymentId.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[.-]+/, '');
  return (tag || 'build').slice(0, 128);
}
