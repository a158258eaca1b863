import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderBlobStore } from '../../shared/adapters/local/blob-store.js';
import { LocalSourcePreparer } from '../../shared/adapters/local/source-preparer.js';
import { DeploymentRequestSchema } from '../../shared/domain/request.js';
import { localSecrets } from '../../shared/wiring/local.js';
import { type GitServer, startGitServer } from '../support/git-server.js';

const TOKEN = 'ghp_test0123456789abcdefghijklmnopqrstu';
let server: GitServer;
let dir: string;
let sha: string;
const APP = { 'package.json': '{"name":"svc","scripts":{"start":"node server.js"}}', 'server.js': 'listen(process.env.PORT)' };

beforeAll(async () => {
  server = await startGitServer(TOKEN);
  sha = server.repo('mono', { 'README.md': 'root', 'apps/api/package.json': APP['package.json'], 'apps/api/server.js': APP['server.js'] });
  server.repo('private-app', APP);
  dir = mkdtempSync(join(tmpdir(), 'baton-gitsrc-'));
  writeFileSync(join(dir, 'secrets.json'), JSON.stringify({ 'gh-token': TOKEN }));
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const preparer = () =>
  new LocalSourcePreparer(
    new FolderBlobStore(join(dir, 'blobs')),
    { maxBytes: 1e7, maxFiles: 1000 },
    join(dir, 'work'),
    200,
    localSecrets(join(dir, 'secrets.json')),
  );

describe('git sources: what the API refuses (400 before anything is queued)', () => {
  it.each([
    ['file:///etc', /file:\/\/ is refused/],
    ['ext::sh -c touch% /tmp/pwned', /transport helpers/],
    ['--upload-pack=touch /tmp/x', /must not start with "-"/],
    ['ssh://git@github.com/a/b.git', /ssh:\/\/ is refused/],
    ['git@github.com:a/b.git', /https:\/\/ URL/],
    ['http://example.com/a.git', /only to a loopback/],
  ])('%s', (url, message) => {
    const r = DeploymentRequestSchema.safeParse({ agent_id: 'a', source: { type: 'git', url } });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['source', 'url']);
    expect(r.error?.issues[0]?.message).toMatch(message);
  });

  it('option-like or traversing refs and paths', () => {
    for (const source of [
      { type: 'git', url: 'https://x/y.git', ref: '--output=/tmp/x' },
      { type: 'git', url: 'https://x/y.git', ref: 'a..b' },
      { type: 'git', url: 'https://x/y.git', path: '../etc' },
      { type: 'git', url: 'https://x/y.git', path: '/abs' },
    ])
      expect(DeploymentRequestSchema.safeParse({ agent_id: 'a', source }).success).toBe(false);
    expect(
      DeploymentRequestSchema.safeParse({
        agent_id: 'a',
        source: { type: 'git', url: 'https://github.com/a/b.git', ref: 'v1.2.3', path: 'apps/api' },
      }).success,
    ).toBe(true);
  });
});

describe('git sources on the local target, against a git server on 127.0.0.1', () => {
  it.each([['main'], ['v1'], ['sha']])('fetches %s shallowly, takes the monorepo subfolder, records the commit', async (ref) => {
    const lines: string[] = [];
    const out = await preparer().prepare({
      deployment_id: `d-${ref}`,
      agent_id: 'svc',
      source: { type: 'git', url: `${server.url}/mono.git`, ref: ref === 'sha' ? sha : ref, path: 'apps/api' },
      config: {},
      log: (l) => lines.push(l),
    });
    expect(out.commit_sha).toBe(sha);
    expect(out.summary).toMatch(/^2 files/);
    expect(lines.join('\n')).toContain(`Commit ${sha}`);
  });

  it('inspect reads the subfolder for analysis', async () => {
    const r = await preparer().inspect({
      deployment_id: 'd',
      source: { type: 'git', url: `${server.url}/mono.git`, ref: 'main', path: 'apps/api' },
      config: {},
    });
    expect(r?.paths).toEqual(['package.json', 'server.js']);
  });

  it('a private repository: refused without a token; fetched with token_secret, the token in no log line, summary or URL', async () => {
    const source = { type: 'git' as const, url: `${server.url}/private-app.git`, ref: 'main' };
    await expect(
      preparer().prepare({ deployment_id: 'p0', agent_id: 'svc', source, config: {}, log: () => undefined }),
    ).rejects.toMatchObject({
      hint: expect.stringContaining('needs token_secret'),
    });
    const lines: string[] = [];
    const out = await preparer().prepare({
      deployment_id: 'p1',
      agent_id: 'svc',
      source: { ...source, token_secret: 'gh-token' },
      config: {},
      log: (l) => lines.push(l),
    });
    expect(out.commit_sha).toMatch(/^[0-9a-f]{40}$/);
    expect(JSON.stringify({ lines, out })).not.toContain(TOKEN);
    expect(server.requests.some((r) => r.path.startsWith('/private-app') && r.auth?.startsWith('Basic '))).toBe(true);
    const missing = preparer().prepare({
      deployment_id: 'p2',
      agent_id: 'svc',
      source: { ...source, token_secret: 'nope' },
      config: {},
      log: () => undefined,
    });
    await expect(missing).rejects.toThrow(/not among the local secrets/);
    expect(readFileSync(join(dir, 'secrets.json'), 'utf8')).toContain('gh-token');
  });
});
