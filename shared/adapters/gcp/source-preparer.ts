import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SourceReader } from '../../domain/analysis/schema.js';
import { PermanentError, RequestError } from '../../domain/errors.js';
import { cloudGitSourceProblem, type GitTokenSecrets } from '../../domain/git-source.js';
import type { Source } from '../../domain/request.js';
import type { BlobStore, SourcePreparer } from '../../ports/index.js';
import { type ArchiveLimits, DEFAULT_ARCHIVE_LIMITS } from '../../sources/archive-reader.js';
import { ArchiveRefused } from '../../sources/archive-rules.js';
import { archiveSourceReader, folderReader } from '../../sources/reader.js';
import { listSource, packTarGz } from '../local/archive.js';

const AGENT_RUNTIME = fileURLToPath(new URL('../local/agent-runtime', import.meta.url));

/**
 * Sources on the gcp target, as Cloud Build will read them: an uploaded archive is built where it
 * was uploaded in the Baton bucket; a bare config becomes a small source archive of the agent
 * runtime (which, with no BATON_LISTEN_HOST, listens on all interfaces as Cloud Run requires); a
 * git repository is cloned by the build itself (its first step, CloudBuildBuilder), so nothing is
 * fetched or stored here: its files are not read before the build (no analysis, no lint), and the
 * commit the build checked out is recorded when it reports. A folder on the control plane's
 * machine does not exist in the cloud: refused with what to do instead.
 */
export class GcsSourcePreparer implements SourcePreparer {
  constructor(
    private readonly blobs: BlobStore,
    private readonly limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
    /** The secrets a git source's token_secret may name, each with the one host its token is for. */
    private readonly tokenSecrets: GitTokenSecrets = {},
  ) {}

  async check(source: Source): Promise<void> {
    if (source.type === 'directory') {
      throw new RequestError(
        'invalid',
        'a "directory" source exists only on the local target; upload an archive with POST /deploy-from-file',
        'source.type',
      );
    }
    if (source.type === 'git') {
      const problem = cloudGitSourceProblem(source, this.tokenSecrets);
      if (problem) throw new RequestError('invalid', problem.message, problem.field);
    }
  }

  /** The uploaded archive read from the bucket (every cap of the upload applied again), or the agent runtime's files. */
  async inspect(input: Parameters<SourcePreparer['inspect']>[0]): Promise<SourceReader | null> {
    const { source } = input;
    switch (source.type) {
      case 'image':
        return null;
      case 'config':
        return folderReader(AGENT_RUNTIME, { maxBytes: 10 * 1024 * 1024, maxFiles: 100 });
      case 'archive': {
        const data = await this.blobs.get(source.blob_key);
        if (!data) throw new PermanentError(`The uploaded archive ${source.blob_key} is gone`, 'Upload it again');
        return archiveSourceReader(data, source.format, this.limits).catch((err: unknown) => {
          throw err instanceof ArchiveRefused ? new PermanentError(err.message, err.fix) : err;
        });
      }
      case 'git':
        // Cloned by the build, not here: the validating stage says the source was not analysed.
        await this.checked(source);
        return null;
      case 'directory':
        await this.checked(source);
        return null;
    }
  }

  /** check(), a refusal being permanent at this point (the API let it through: the settings changed since). */
  private checked(source: Source): Promise<void> {
    return this.check(source).catch((err: unknown) => {
      throw new PermanentError(err instanceof Error ? err.message : String(err));
    });
  }

  async prepare(input: Parameters<SourcePreparer['prepare']>[0]): Promise<{ source_key: string; summary: string }> {
    const { source } = input;
    switch (source.type) {
      case 'archive':
        if (!(await this.blobs.exists(source.blob_key)))
          throw new PermanentError(`The uploaded archive ${source.blob_key} is gone`, 'Upload it again');
        return { source_key: source.blob_key, summary: `the uploaded .${source.format}` };
      case 'image':
        return { source_key: '', summary: `the prebuilt image ${source.image}` };
      case 'config':
        return {
          source_key: await this.packAgentRuntime(input.agent_id, input.deployment_id, input.config),
          summary: 'the agent config on the agent runtime',
        };
      case 'git':
        await this.checked(source);
        return {
          source_key: '',
          summary: `${source.url} at ${source.ref}${source.path ? ` (folder ${source.path})` : ''}, cloned by the build${source.token_secret ? ` with the token in ${source.token_secret}` : ''}`,
        };
      case 'directory':
        await this.checked(source);
        throw new PermanentError('unreachable');
    }
  }

  private async packAgentRuntime(agentId: string, deploymentId: string, config: Record<string, unknown>): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'baton-agent-'));
    try {
      const app = join(dir, 'app');
      await cp(AGENT_RUNTIME, app, { recursive: true });
      await writeFile(join(app, 'agent-config.json'), JSON.stringify(config));
      const { files } = await listSource(app, { maxBytes: 10 * 1024 * 1024, maxFiles: 100 });
      const out = join(dir, 'source.tar.gz');
      await packTarGz(app, files, out);
      const key = `sources/${agentId}/${deploymentId}.tar.gz`;
      await this.blobs.put(key, await readFile(out));
      return key;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
