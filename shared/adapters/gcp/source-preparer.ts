import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SourceReader } from '../../domain/analysis/schema.js';
import { PermanentError, RequestError } from '../../domain/errors.js';
import type { Source } from '../../domain/request.js';
import type { BlobStore, SourcePreparer } from '../../ports/index.js';
import { type ArchiveLimits, DEFAULT_ARCHIVE_LIMITS } from '../../sources/archive-reader.js';
import { ArchiveRefused } from '../../sources/archive-rules.js';
import { archiveSourceReader, folderReader } from '../../sources/reader.js';
import { listSource, packTarGz } from '../local/archive.js';

const AGENT_RUNTIME = fileURLToPath(new URL('../local/agent-runtime', import.meta.url));

/**
 * Sources on the gcp target, as Cloud Build will read them from the Baton bucket: an uploaded
 * archive is built where it was uploaded; a bare config becomes a small source archive of the
 * agent runtime (which, with no BATON_LISTEN_HOST, listens on all interfaces as Cloud Run requires). A folder on the control plane's machine does not exist in the cloud, and a git
 * source is not supported on this target yet: both are refused with what to do instead.
 */
export class GcsSourcePreparer implements SourcePreparer {
  constructor(
    private readonly blobs: BlobStore,
    private readonly limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS,
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
      throw new RequestError(
        'invalid',
        'git sources are not supported on the gcp target yet; upload an archive of the repository with POST /deploy-from-file',
        'source.type',
      );
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
      case 'directory':
      case 'git':
        await this.check(source).catch((err: unknown) => {
          throw new PermanentError(err instanceof Error ? err.message : String(err));
        });
        return null;
    }
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
      case 'directory':
      case 'git':
        await this.check(source).catch((err: unknown) => {
          throw new PermanentError(err instanceof Error ? err.message : String(err));
        });
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
