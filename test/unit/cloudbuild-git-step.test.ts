import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudBuildBuilder } from '../../shared/adapters/gcp/builder.js';
import { TOKEN_ENV } from '../../shared/adapters/gcp/git-step.js';
import { commitFromStepOutputs } from '../../shared/domain/events.js';
import type { BuildSpec } from '../../shared/ports/index.js';
import { GcpConfigSchema } from '../../shared/wiring/gcp-config.js';
import { substitute, Workspace } from '../support/cloudbuild-steps.js';
import { type GitServer, startGitServer } from '../support/git-server.js';

/**
 * The build request CloudBuildBuilder makes for a git source, its steps run as Cloud Build would
 * run them (test/support/cloudbuild-steps.ts: Cloud Build's substitution, then bash in the step's
 * folder with its secretEnv and $BUILDER_OUTPUT) against `git http-backend` over https on
 * 127.0.0.1. What this does not prove: Google's git builder image, a Cloud Build worker's network,
 * Secret Manager itself, docker steps.
 */

const TOKEN = 'ghp_cloudbuild0123456789abcdefghijklmno';
const APP = { 'package.json': '{"name":"svc","scripts":{"start":"node server.js"}}', 'server.js': 'listen(process.env.PORT)' };
let server: GitServer;
let sha: string;
let host: string;
const spaces: Workspace[] = [];

beforeAll(async () => {
  server = await startGitServer(TOKEN, { tls: true });
  host = new URL(server.url).host;
  sha = server.repo('mono', { 'README.md': 'root', 'apps/api/package.json': APP['package.json'], 'apps/api/server.js': APP['server.js'] });
  server.repo('private-app', APP);
  server.repo('docs', { 'README.md': 'no service here' });
});
afterAll(async () => {
  for (const w of spaces) w.remove();
  await server.close();
});

const builder = (secrets: Record<string, string> = {}) =>
  new CloudBuildBuilder(
    // Only buildFor is used: no client call is made.
    {} as never,
    { http: { request: () => Promise.reject(new Error('not called')) }, endpoint: 'http://unused' },
    GcpConfigSchema.parse({
      BATON_GCP_PROJECT: 'baton-test',
      BATON_BUCKET: 'baton-test-bucket',
      BATON_BUILD_SERVICE_ACCOUNT: 'baton-build@baton-test.iam.gserviceaccount.com',
      BATON_GIT_TOKEN_SECRETS: JSON.stringify(secrets),
    }),
  );

const spec = (git: NonNullable<BuildSpec['git']>): BuildSpec => ({
  deployment_id: 'dep-git-1',
  agent_id: 'git_agent',
  source_key: '',
  git,
  tags: ['baton-dep-git-1'],
  substitutions: { _DEPLOYMENT_ID: 'dep-git-1', _AGENT_ID: 'git_agent' },
});

function workspace(s: BuildSpec, secrets: Record<string, string> = {}, b = builder()) {
  const w = new Workspace(b.buildFor(s), secrets, { GIT_SSL_CAINFO: server.caFile ?? '' });
  spaces.push(w);
  return w;
}

const decoded = (output: string) => Buffer.from(output, 'base64').toString('utf8');

describe('the git fetch step of a Cloud Build request', () => {
  it('is the first step, with no storage source; the other steps run in the clone (or its path)', () => {
    const build = builder().buildFor(spec({ url: `${server.url}/mono.git`, ref: 'main', path: 'apps/api' }));
    expect(build).not.toHaveProperty('source');
    expect(build).not.toHaveProperty('availableSecrets');
    expect(build.steps.map((s) => [s.id, s.name, s.dir ?? null])).toEqual([
      ['fetch', 'gcr.io/cloud-builders/git', null],
      ['dockerfile', 'gcr.io/cloud-builders/docker', 'src/apps/api'],
      ['build', 'gcr.io/cloud-builders/docker', 'src/apps/api'],
      ['push', 'gcr.io/cloud-builders/docker', null],
    ]);
    expect(build.steps[0]).not.toHaveProperty('secretEnv');
    // Every `$` of the script is doubled: Cloud Build hands bash the script as written.
    expect(() => substitute(build.steps[0].args[1], {})).not.toThrow();
    expect(build.steps[0].args[1]).not.toMatch(/(^|[^$])\$[A-Za-z{(]/);
  });

  it('clones a branch shallowly, writes the commit to $BUILDER_OUTPUT and the log, and leaves no .git', async () => {
    const w = workspace(spec({ url: `${server.url}/mono.git`, ref: 'main' }));
    const run = await w.run('fetch');
    expect(run.code, run.log).toBe(0);
    expect(decoded(run.output)).toBe(`baton-commit=${sha}\n`);
    expect(commitFromStepOutputs(['', run.output])).toBe(sha);
    expect(run.log).toContain(`Fetching ${server.url}/mono.git at main, shallow`);
    expect(run.log).toContain(`Commit ${sha}`);
    expect(readdirSync(join(w.root, 'src')).sort()).toEqual(['README.md', 'apps']);
  });

  it('clones a tag, and fetches a commit sha', async () => {
    for (const ref of ['v1', sha]) {
      const run = await workspace(spec({ url: `${server.url}/mono.git`, ref })).run('fetch');
      expect(run.code, run.log).toBe(0);
      expect(commitFromStepOutputs([run.output])).toBe(sha);
    }
  });

  it("with a path, the Dockerfile step runs in that folder and writes Baton's Node template there", async () => {
    const w = workspace(spec({ url: `${server.url}/mono.git`, ref: 'main', path: 'apps/api' }));
    expect((await w.run('fetch')).code).toBe(0);
    const dockerfile = await w.run('dockerfile');
    expect(dockerfile.code, dockerfile.log).toBe(0);
    expect(dockerfile.log).toContain('No Dockerfile in the source: generated one for a Node service');
    expect(readFileSync(join(w.root, 'src/apps/api/Dockerfile'), 'utf8')).toMatch(/^FROM node:/m);
    expect(existsSync(join(w.root, 'src/Dockerfile'))).toBe(false);
  });

  it('fails with what to check: a folder the repository lacks, a ref it lacks, no Dockerfile and no package.json', async () => {
    const missing = await workspace(spec({ url: `${server.url}/mono.git`, ref: 'main', path: 'apps/web' })).run('fetch');
    expect(missing.code).not.toBe(0);
    expect(missing.log).toContain('The repository has no folder apps/web at main: check source.path');
    const badRef = await workspace(spec({ url: `${server.url}/mono.git`, ref: 'no-such-branch' })).run('fetch');
    expect(badRef.code).not.toBe(0);
    expect(badRef.log).toContain(`Could not fetch no-such-branch from ${server.url}/mono.git: check source.url and source.ref`);
    const docs = workspace(spec({ url: `${server.url}/docs.git`, ref: 'main' }));
    expect((await docs.run('fetch')).code).toBe(0);
    const noDockerfile = await docs.run('dockerfile');
    expect(noDockerfile.code).not.toBe(0);
    expect(noDockerfile.log).toContain('The source has no Dockerfile and no package.json: add a Dockerfile');
  });

  it('a private repository: the token comes from Secret Manager through availableSecrets and this step only, and is in no arg and no log line', async () => {
    const b = builder({ 'gh-token': host });
    const s = spec({ url: `${server.url}/private-app.git`, ref: 'main', token_secret: 'gh-token' });
    const build = b.buildFor(s);
    expect(build.availableSecrets).toEqual({
      secretManager: [{ versionName: 'projects/baton-test/secrets/gh-token/versions/latest', env: TOKEN_ENV }],
    });
    expect(build.steps.map((st) => st.secretEnv ?? [])).toEqual([[TOKEN_ENV], [], [], []]);
    const before = server.requests.length;
    const run = await workspace(s, { [TOKEN_ENV]: TOKEN }, b).run('fetch');
    expect(run.code, run.log).toBe(0);
    expect(run.log).toContain('with the token in secret gh-token');
    const basic = Buffer.from(`x-access-token:${TOKEN}`).toString('base64');
    for (const text of [JSON.stringify(build), run.log]) {
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain(basic);
    }
    // The server saw the token as Basic auth.
    expect(server.requests.slice(before).some((r) => r.auth === `Basic ${basic}`)).toBe(true);

    // Without the token the same repository is refused, and the log says what to check.
    const anonymous = await workspace(spec({ url: `${server.url}/private-app.git`, ref: 'main' })).run('fetch');
    expect(anonymous.code).not.toBe(0);
    expect(anonymous.log).toContain('a private repository needs source.token_secret');
  });

  it('refuses to hand a token to a host it is not for, or a secret it does not know', () => {
    const url = `${server.url}/private-app.git`;
    expect(() => builder({ 'gh-token': 'github.com' }).buildFor(spec({ url, ref: 'main', token_secret: 'gh-token' }))).toThrow(
      /not a token Baton may send to 127\.0\.0\.1/,
    );
    expect(() => builder({}).buildFor(spec({ url, ref: 'main', token_secret: 'gh-token' }))).toThrow(/git_token_secrets/);
  });
});
