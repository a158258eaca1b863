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
  const prep = new GcsSourcePreparer(blobs, undefined, { 'gh-token': 'github.com', 'gl-token': 'gitlab.example.com:8443' });
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const input = (source: Parameters<GcsSourcePreparer['prepare']>[0]['source']) => ({
    deployment_id: 'd1',
    agent_id: 'agent',
    source,
    config: { name: 'helper' },
    log: () => {},
  });

  it('refuses a folder at request time, naming the field and what to do', async () => {
    await expect(prep.check({ type: 'directory', path: '/x' })).rejects.toMatchObject({ code: 'invalid', field: 'source.type' });
    await expect(prep.check({ type: 'config' })).resolves.toBeUndefined();
  });

  it('takes a git source over https with a token for its own host only; refuses http://, credentials in the URL and other secrets at request time', async () => {
    await expect(prep.check({ type: 'git', url: 'https://github.com/acme/app.git', ref: 'main' })).resolves.toBeUndefined();
    await expect(
      prep.check({ type: 'git', url: 'https://github.com/acme/private.git', ref: 'v2', token_secret: 'gh-token' }),
    ).resolves.toBeUndefined();
    await expect(
      prep.check({ type: 'git', url: 'https://GitLab.example.com:8443/acme/app.git', ref: 'main', token_secret: 'gl-token' }),
    ).resolves.toBeUndefined();
    const refused: [Parameters<GcsSourcePreparer['check']>[0], string, RegExp][] = [
      [{ type: 'git', url: 'http://127.0.0.1:9/a.git', ref: 'main' }, 'source.url', /https:\/\/ URL on the gcp target/],
      [{ type: 'git', url: 'https://user:ghp_abc@github.com/a.git', ref: 'main' }, 'source.url', /must not hold credentials.*token_secret/],
      [{ type: 'git', url: 'https://github.com/a.git?access_token=x', ref: 'main' }, 'source.url', /must not hold credentials/],
      [
        { type: 'git', url: 'https://github.com/a.git', ref: 'main', token_secret: 'db-password' },
        'source.token_secret',
        /db-password is not among the secrets Baton's builds may read \(gh-token, gl-token\)/,
      ],
      [
        { type: 'git', url: 'https://evil.example/a.git', ref: 'main', token_secret: 'gh-token' },
        'source.token_secret',
        /gh-token is a token for github\.com, and source\.url is on evil\.example/,
      ],
      [
        { type: 'git', url: 'https://gitlab.example.com/a.git', ref: 'main', token_secret: 'gl-token' },
        'source.token_secret',
        /is a token for gitlab\.example\.com:8443, and source\.url is on gitlab\.example\.com:/,
      ],
    ];
    for (const [source, field, message] of refused)
      await expect(prep.check(source), JSON.stringify(source)).rejects.toMatchObject({
        code: 'invalid',
        field,
        message: expect.stringMatching(message),
      });
  });

  it('leaves a git source to the build: nothing fetched or stored, no files to analyse', async () => {
    const source = {
      type: 'git' as const,
      url: 'https://github.com/acme/mono.git',
      ref: 'main',
      path: 'apps/api',
      token_secret: 'gh-token',
    };
    expect(await prep.inspect({ deployment_id: 'd1', source, config: {} })).toBeNull();
    expect(await prep.prepare(input(source))).toEqual({
      source_key: '',
      summary: 'https://github.com/acme/mono.git at main (folder apps/api), cloned by the build with the token in gh-token',
    });
    await expect(prep.prepare(input({ ...source, url: 'http://github.com/a.git' }))).rejects.toThrow(/https:\/\/ URL/);
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
