import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { create } from 'tar';
import { afterEach, describe, expect, it } from 'vitest';
import { extractTarGz } from '../../shared/adapters/local/archive.js';
import { DepsCache } from '../../shared/adapters/local/deps-cache.js';
import { planInstall } from '../../shared/adapters/local/package-manager.js';
import { TempDirs, waitFor, writeFiles } from '../contract/suites/util.js';
import { localBuilder } from '../support/local-builder.js';

const temp = new TempDirs();
afterEach(() => temp.removeAll());
const CAPS = { maxBytes: 50 * 1024 * 1024, maxFiles: 10_000 };
const PATH = process.env.PATH ?? '';

/** A package as an npm tarball, the way a registry serves one (`file:` dependencies on it get an integrity). */
async function tarball(root: string, name: string, version: string, index: string): Promise<string> {
  const dir = join(root, `${name}-${version}`);
  writeFiles(join(dir, 'package'), {
    'package.json': JSON.stringify({ name, version, main: 'index.js', bin: { [name]: 'index.js' } }),
    'index.js': index,
  });
  const file = join(root, `${name}-${version}.tgz`);
  await create({ gzip: true, cwd: dir, file, portable: true }, ['package']);
  return file;
}

/** An app depending on `dep` (a tarball), with the lock file npm writes for it. */
function appWith(dir: string, dependencies: Record<string, string>, scripts: Record<string, string> = { start: 'node server.js' }) {
  writeFiles(dir, {
    'package.json': JSON.stringify({ name: 'cached-app', version: '1.0.0', private: true, scripts, dependencies }),
    'server.js': '// serves nothing\n',
  });
  execFileSync('npm', ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'ignore' });
  return dir;
}

describe('which installs the dependency cache serves, and by what key', () => {
  const lookup = async (app: string) =>
    new DepsCache(temp.make('cache'), 5).lookup(app, await planInstall(app, '/cache', () => true), PATH);

  it('npm ci of a lock file whose packages are all pinned by integrity', async () => {
    const pkgs = temp.make('pkgs');
    const app = appWith(temp.make('app'), { dep: `file:${await tarball(pkgs, 'dep', '1.0.0', 'module.exports = 1;\n')}` });
    const first = await lookup(app);
    expect(first).toMatchObject({
      use: { describe: expect.stringMatching(/^package-lock\.json sha256 [0-9a-f]{12}, npm \d+\.\d+\.\d+, node v\d+/) },
    });
    // A script the install does not run leaves the key as it is; the lock file or .npmrc changes it.
    const manifest = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'));
    writeFileSync(join(app, 'package.json'), JSON.stringify({ ...manifest, scripts: { start: 'node other.js' } }));
    expect(await lookup(app)).toEqual(first);
    writeFileSync(join(app, '.npmrc'), 'legacy-peer-deps=true\n');
    const withNpmrc = await lookup(app);
    expect('use' in withNpmrc && 'use' in first && withNpmrc.use.key !== first.use.key).toBe(true);
    appWith(app, { dep: `file:${await tarball(pkgs, 'dep', '2.0.0', 'module.exports = 2;\n')}` });
    const newLock = await lookup(app);
    expect('use' in newLock && 'use' in first && newLock.use.key !== first.use.key).toBe(true);
  });

  it('not without a lock file', async () => {
    const app = writeFiles(temp.make('app'), { 'package.json': '{"name":"nolock","version":"1.0.0"}' });
    expect(await lookup(app)).toEqual({ skip: expect.stringMatching(/only npm installs from a lock file/) });
  });

  it('not when the app has install scripts of its own (npm ci runs them; a copy would not)', async () => {
    const app = appWith(temp.make('app'), {}, { start: 'node server.js', postinstall: 'node gen.js' });
    expect(await lookup(app)).toEqual({ skip: expect.stringMatching(/its own install scripts \(postinstall\)/) });
  });

  it('not with a linked folder, whose contents the lock file does not pin', async () => {
    const app = writeFiles(temp.make('app'), { 'local/package.json': '{"name":"local","version":"1.0.0"}' });
    appWith(app, { local: 'file:local' });
    expect(await lookup(app)).toEqual({ skip: expect.stringMatching(/node_modules\/local is a linked folder/) });
  });

  it('not for a lock file of npm 6 (lockfileVersion 1)', async () => {
    const app = writeFiles(temp.make('app'), {
      'package.json': '{"name":"old","version":"1.0.0"}',
      'package-lock.json': JSON.stringify({ name: 'old', lockfileVersion: 1, dependencies: {} }),
    });
    expect(await lookup(app)).toEqual({ skip: expect.stringMatching(/lockfileVersion 1/) });
  });
});

describe('LocalBuilder with the dependency cache', () => {
  async function harness(cache: DepsCache | null) {
    const root = temp.make('builder');
    const { blobs, logs, builder, ended, upload, stop: stopBuilder } = localBuilder(root, CAPS, { depsCache: cache });
    let n = 0;
    /** Builds `src`; the build's log and the artifact's file at `path`. */
    const build = async (src: string, path: string) => {
      const key = await upload(src, `sources/${++n}.tar.gz`);
      const { build_id } = await builder.submit({
        deployment_id: `d-${n}`,
        agent_id: 'cached',
        source_key: key,
        tags: [],
        substitutions: {},
      });
      const end = await waitFor('the build to end', () => ended(build_id, ['SUCCESS', 'FAILURE']), 60_000);
      const log = (await logs.read('cached', `d-${n}`)) ?? '';
      expect(end.status, log).toBe('SUCCESS');
      const dest = join(root, `unpacked-${n}`);
      await extractTarGz(blobs.pathOf(end.results?.images?.[0]?.name ?? ''), dest, CAPS);
      return { log, file: readFileSync(join(dest, path), 'utf8'), bin: existsSync(join(dest, 'node_modules/.bin/dep')) };
    };
    const stop = async () => {
      await stopBuilder();
      await rm(root, { recursive: true, force: true });
    };
    return { build, stop };
  }

  it('installs once per lock file, then copies the same tree, links included; a build cannot change what is kept', async () => {
    const cacheDir = temp.make('deps');
    const h = await harness(new DepsCache(cacheDir, 5));
    try {
      const pkgs = temp.make('pkgs');
      // The build script writes into an installed file, as code generators do.
      const scripts = { start: 'node server.js', build: 'echo "// touched by the build" >> node_modules/dep/index.js' };
      const app = appWith(temp.make('app'), { dep: `file:${await tarball(pkgs, 'dep', '1.0.0', 'module.exports = 1;\n')}` }, scripts);
      const first = await h.build(app, 'node_modules/dep/index.js');
      expect(first.log).toMatch(/build: \$ npm ci /);
      expect(first.log).not.toMatch(/restored from the dependency cache/);
      const second = await h.build(app, 'node_modules/dep/index.js');
      expect(second.log).toMatch(
        /node_modules restored from the dependency cache \(package-lock\.json sha256 [0-9a-f]{12}, npm .*\): "npm ci .*" skipped/,
      );
      expect(second.log).not.toMatch(/build: \$ npm ci /);
      expect(second.log).toMatch(/build: \$ npm run build/);
      // The same tree as an install makes: the file as installed plus this build's own line, once; the bin link kept.
      expect(second.file).toBe(first.file);
      expect(second.file).toBe('module.exports = 1;\n// touched by the build\n');
      expect(second.bin).toBe(true);
      // A new lock file installs again, and is kept beside the first.
      appWith(app, { dep: `file:${await tarball(pkgs, 'dep', '2.0.0', 'module.exports = 2;\n')}` }, scripts);
      const third = await h.build(app, 'node_modules/dep/index.js');
      expect(third.log).toMatch(/build: \$ npm ci /);
      expect(third.file).toBe('module.exports = 2;\n// touched by the build\n');
      expect(readdirSync(cacheDir).filter((n) => !n.startsWith('.'))).toHaveLength(2);
    } finally {
      await h.stop();
    }
  });

  it('keeps at most `keep` trees, the least recently used removed first', async () => {
    const cacheDir = temp.make('deps');
    const h = await harness(new DepsCache(cacheDir, 1));
    try {
      const pkgs = temp.make('pkgs');
      const app = temp.make('app');
      for (const v of ['1.0.0', '2.0.0']) {
        appWith(app, { dep: `file:${await tarball(pkgs, 'dep', v, `module.exports = '${v}';\n`)}` });
        expect((await h.build(app, 'node_modules/dep/index.js')).log).toMatch(/build: \$ npm ci /);
      }
      expect(readdirSync(cacheDir).filter((n) => !n.startsWith('.'))).toHaveLength(1);
      expect((await h.build(app, 'node_modules/dep/index.js')).log).toMatch(/restored from the dependency cache/);
    } finally {
      await h.stop();
    }
  });

  it('off (BATON_DEPS_CACHE=off): every build installs', async () => {
    const h = await harness(null);
    try {
      const app = appWith(temp.make('app'), { dep: `file:${await tarball(temp.make('pkgs'), 'dep', '1.0.0', 'module.exports = 1;\n')}` });
      for (let i = 0; i < 2; i++) expect((await h.build(app, 'node_modules/dep/index.js')).log).toMatch(/build: \$ npm ci /);
    } finally {
      await h.stop();
    }
  });

  it('says why in the build log when it cannot serve an install', async () => {
    const h = await harness(new DepsCache(temp.make('deps'), 5));
    try {
      const app = appWith(temp.make('app'), {}, { start: 'node server.js', postinstall: 'node -e 0' });
      expect((await h.build(app, 'server.js')).log).toMatch(
        /Dependency cache not used: the app has its own install scripts \(postinstall\), which npm ci runs/,
      );
    } finally {
      await h.stop();
    }
  });
});
