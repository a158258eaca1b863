import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FolderBlobStore } from '../../shared/adapters/local/blob-store.js';
import { isolatedBuildRoot, LocalBuilder } from '../../shared/adapters/local/builder.js';
import { LocalEventBus } from '../../shared/adapters/local/event-bus.js';
import { LocalJobStore } from '../../shared/adapters/local/job-store.js';
import { devDependenciesAtStart, planInstall } from '../../shared/adapters/local/package-manager.js';
import { DeploymentLogs } from '../../shared/pipeline/logs.js';
import { systemClock } from '../../shared/ports/clock.js';

const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'baton-pm-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const app = (files: string[]) => {
  const dir = temp();
  for (const f of ['package.json', ...files]) writeFileSync(join(dir, f), f === 'package.json' ? '{}' : '');
  return dir;
};

describe('the package manager a build installs with', () => {
  const every = () => true;
  it.each([
    [['package-lock.json'], 'npm', /^npm ci .*--cache '\/cache\/npm'/],
    [['npm-shrinkwrap.json'], 'npm', /^npm ci /],
    [[], 'npm', /^npm install .*--prefer-offline/],
    [['pnpm-lock.yaml'], 'pnpm', /^pnpm install --frozen-lockfile --store-dir '\/cache\/pnpm'/],
    [['yarn.lock'], 'yarn', /^yarn install --frozen-lockfile .*--cache-folder '\/cache\/yarn'/],
    [['yarn.lock', '.yarnrc.yml'], 'yarn', /^yarn install --immutable$/],
    [['bun.lock'], 'bun', /^bun install --frozen-lockfile$/],
    [['bun.lockb'], 'bun', /^bun install --frozen-lockfile$/],
  ])('%j → %s', async (files, manager, install) => {
    const plan = await planInstall(app(files), '/cache', every);
    expect(plan.manager).toBe(manager);
    expect(plan.install).toMatch(install);
  });

  it('prunes dev dependencies with the same manager, sharing the cache', async () => {
    expect((await planInstall(app(['package-lock.json']), '/cache', every)).prune).toMatch(
      /^npm prune --omit=dev .*--cache '\/cache\/npm'/,
    );
    expect((await planInstall(app(['pnpm-lock.yaml']), '/cache', every)).prune).toMatch(/^pnpm prune --prod/);
    expect((await planInstall(app(['bun.lock']), '/cache', every)).env).toEqual({ BUN_INSTALL_CACHE_DIR: '/cache/bun' });
  });

  it('says clearly when the lock file names a tool that is not installed, and falls back to npm install', async () => {
    const plan = await planInstall(app(['pnpm-lock.yaml']), '/cache', (tool) => tool !== 'pnpm');
    expect(plan.manager).toBe('npm');
    expect(plan.install).toMatch(/^npm install /);
    expect(plan.notes.join('\n')).toMatch(
      /pnpm-lock\.yaml found, but pnpm is not installed on the control plane machine.*versions may differ/,
    );
  });

  it('quotes a cache folder with spaces and quotes', async () => {
    expect((await planInstall(app([]), "/my cache/it's", every)).install).toContain(`--cache '/my cache/it'\\''s/npm'`);
  });
});

describe('dev dependencies the start script needs', () => {
  const withBins = (bins: Record<string, string>) => {
    const dir = temp();
    mkdirSync(join(dir, 'node_modules', '.bin'), { recursive: true });
    for (const [name, target] of Object.entries(bins)) symlinkSync(target, join(dir, 'node_modules', '.bin', name));
    return dir;
  };
  const dir = () =>
    withBins({ nest: '../@nestjs/cli/bin/nest.js', tsx: '../tsx/dist/cli.mjs', 'http-server': '../http-server/bin/http-server' });
  const devDependencies = { '@nestjs/cli': '^10', tsx: '^4', 'ts-node': '^10', typescript: '^5' };

  it.each([
    ['nest start', ['@nestjs/cli']],
    ['NODE_ENV=production tsx server.ts', ['tsx']],
    ['npm run migrate && npx tsx server.ts', ['tsx']],
    ['node --import tsx server.ts', ['tsx']],
    ['node -r ts-node/register server.ts', ['ts-node']],
    ['node --require=ts-node/register server.ts', ['ts-node']],
    ['node dist/main.js', []],
    ['http-server -p $PORT', []],
  ])('%s → %j', async (start, needed) => {
    expect(await devDependenciesAtStart(dir(), { scripts: { start }, dependencies: { 'http-server': '^14' }, devDependencies })).toEqual(
      needed,
    );
  });
});

describe('where builds run', () => {
  it('in the data folder when no project is above it', () => {
    const data = join(temp(), 'data');
    expect(isolatedBuildRoot(data, null)).toBe(join(data, 'work', 'builds'));
  });

  it('outside any project when the data folder sits in one (the default .baton in a checkout)', () => {
    const project = temp();
    writeFileSync(join(project, 'package.json'), '{}');
    writeFileSync(join(project, 'package-lock.json'), '{}');
    const root = isolatedBuildRoot(join(project, '.baton'), null);
    dirs.push(root);
    expect(root.startsWith(project)).toBe(false);
    expect(existsSync(root)).toBe(true);
    for (let up = root; up !== '/'; up = join(up, '..')) expect(existsSync(join(up, 'package-lock.json'))).toBe(false);
    // The same data folder always gets the same folder: a restart finds its builds' work again.
    expect(isolatedBuildRoot(join(project, '.baton'), null)).toBe(root);
  });

  it('a restart removes the work folders no build resumes', () => {
    const root = temp();
    const work = join(root, 'work');
    mkdirSync(join(work, 'crashed-build', 'app'), { recursive: true });
    const blobs = new FolderBlobStore(join(root, 'blobs'));
    const logs = new DeploymentLogs(blobs, new LocalJobStore(null), systemClock);
    const builder = new LocalBuilder({
      blobs,
      bus: new LocalEventBus(null),
      logs,
      workDir: work,
      cacheDir: join(root, 'cache'),
      caps: { maxBytes: 1e6, maxFiles: 100 },
      timeoutMs: 10_000,
      stateDir: join(root, 'builds'),
    });
    expect(builder.resume()).toBe(0);
    expect(existsSync(join(work, 'crashed-build'))).toBe(false);
  });

  it('refuses an explicit BATON_BUILD_DIR with a project above it, saying which file', () => {
    const project = temp();
    writeFileSync(join(project, 'pnpm-workspace.yaml'), '');
    expect(() => isolatedBuildRoot(temp(), join(project, 'builds'))).toThrow(/pnpm-workspace\.yaml is above it.*BATON_BUILD_DIR/);
  });
});
