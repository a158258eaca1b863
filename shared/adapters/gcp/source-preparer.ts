import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PermanentError, RequestError } from '../../domain/errors.js';
import type { Source } from '../../domain/request.js';
import type { BlobStore, SourcePreparer } from '../../ports/index.js';
import { listSource, packTarGz } from '../local/archive.js';

const AGENT_RUNTIME = fileURLToPath(new URL('../local/agent-runtime', import.meta.url));

/**
 * Sources on the gcp target, as Cloud Build will read them from the Baton bucket: an uploaded
 * archive is built where it was uploaded; a bare config becomes a small source archive of the
 * agent runtime (which, with no BATON_LISTEN_HOST, listens on all interfaces as Cloud Run requires). A folder on the control plane's machine does not exist in the cloud, and a git
 * source is not supported on this target yet: both are refused with what to do instead.
 */
export class GcsSourcePreparer implements SourcePreparer {
  constructor(private readonly blobs: BlobStore) {}

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
