import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { list } from 'tar';
import { afterAll, describe, expect, it } from 'vitest';
import { GcsSourcePreparer } from '../../shared/adapters/gcp/source-preparer.js';
import { FolderBlobStore } from '../../shared/adapters/local/blob-store.js';

/** The gcp source preparer against any BlobStore (here the folder one): what Cloud Build will be given. */
describe('sources on the gcp target', () => {
  const root = mkdtempSync(join(tmpdir(), 'baton-gcs-src-'));
  const blobs = new FolderBlobStore(root);
  const prep = new GcsSourcePreparer(blobs);
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const input = (source: Parameters<GcsSourcePreparer['prepare']>[0]['source']) => ({
    deployment_id: 'd1',
    agent_id: 'agent',
    source,
    config: { name: 'helper' },
    log: () => {},
  });

  it('refuses a folder or a git source at request time, naming the field and what to do', async () => {
    await expect(prep.check({ type: 'directory', path: '/x' })).rejects.toMatchObject({ code: 'invalid', field: 'source.type' });
    await expect(prep.check({ type: 'git', url: 'https://x', ref: 'main' })).rejects.toThrow('upload an archive');
    await expect(prep.check({ type: 'config' })).resolves.toBeUndefined();
  });

  it('builds an uploaded archive where it is, and fails clearly when it is gone', async () => {
    await blobs.put('uploads/a.zip', Buffer.from('zip'));
    expect(await prep.prepare(input({ type: 'archive', blob_key: 'uploads/a.zip', format: 'zip' }))).toEqual({
      source_key: 'uploads/a.zip',
      summary: 'the uploaded .zip',
    });
    await expect(prep.prepare(input({ type: 'archive', blob_key: 'uploads/gone.zip', format: 'zip' }))).rejects.toMatchObject({
      hint: 'Upload it again',
    });
  });

  it('packs a bare config with the agent runtime', async () => {
    const { source_key } = await prep.prepare(input({ type: 'config' }));
    expect(source_key).toBe('sources/agent/d1.tar.gz');
    const names: string[] = [];
    await list({ file: blobs.pathOf(source_key), onReadEntry: (e) => names.push(e.path) });
    expect(names.sort()).toEqual(['agent-config.json', 'package.json', 'server.mjs']);
  });
});
