import type { Analysis } from '../domain/analysis/schema.js';

/**
 * Cloud Build: `submit` starts a build and returns at once. Completion is not awaited: the builder
 * publishes a notification per state change on Baton's `baton-builds` topic (the Build resource as
 * JSON, attributes {buildId, status}), and the build-events function advances the deployment.
 */
export interface BuildSpec {
  deployment_id: string;
  agent_id: string;
  /** Blob key of the prepared source archive (.tar.gz); empty when the build fetches `git` itself. */
  source_key: string;
  /**
   * A git source the builder fetches itself (Cloud Build: a clone step), instead of a prepared
   * archive: the URL holds no credentials; `token_secret` names the secret with the token.
   */
  git?: { url: string; ref: string; path?: string; token_secret?: string };
  /** Tags and substitutions that let notifications be correlated. */
  tags: string[];
  substitutions: Record<string, string>;
  /** The Dockerfile and .dockerignore generated from the source's analysis, used when the source has none. */
  generated?: { dockerfile: string; dockerignore: string };
  /** The source's analysis: the plan a native builder (the local one) follows, as the generated Dockerfile does. */
  analysis?: Analysis;
}

export interface Builder {
  submit(spec: BuildSpec): Promise<{ build_id: string; log_url: string }>;
  cancel(buildId: string): Promise<void>;
  /**
   * What the machine that builds lacks to build this stack (a toolchain, a tool a lock file names),
   * in words saying what to install; null when nothing is missing. Asked in validating. A builder
   * that builds any Dockerfile (Cloud Build) has nothing to say and leaves it out.
   */
  missingTools?(analysis: Analysis): Promise<string | null>;
  /**
   * The build's own log from byte `offset`, at most `max` bytes of it, as far as it is written
   * (`more`: there is more past them already). Empty while nothing is written. Absent from a builder
   * that writes its output into the deployment's log itself as it comes (the local one).
   */
  readLog?(buildId: string, offset: number, max: number): Promise<{ data: Buffer; more: boolean }>;
}
