import type { SourceReader } from '../domain/analysis/schema.js';
import type { Source } from '../domain/request.js';

/**
 * Turns a deployment's source into a source archive (.tar.gz) in the blob store, ready to build.
 * A source that cannot be used (missing folder, over the size cap, bad archive) is a PermanentError.
 */
export interface SourcePreparer {
  /** Quick checks at request time (the folder exists and holds a service): a RequestError naming the field. */
  check(source: Source): Promise<void>;
  /**
   * The source's files as analysis and the lint read them (listing and small contents), before
   * anything is built; null for a source with no files (a prebuilt image). Unusable: PermanentError.
   */
  inspect(input: { deployment_id: string; source: Source; config: Record<string, unknown> }): Promise<SourceReader | null>;
  prepare(input: {
    deployment_id: string;
    agent_id: string;
    source: Source;
    config: Record<string, unknown>;
    log: (line: string) => void;
  }): Promise<{ source_key: string; summary: string; commit_sha?: string }>;
}
