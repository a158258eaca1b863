import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import type { InstallPlan } from './package-manager.js';

/**
 * node_modules kept between builds, keyed by everything that decides what `npm ci` installs: the
 * lock file, the manifest's dependency fields, .npmrc, npm's and Node's versions and the platform.
 * A build whose key was installed before gets a copy of that tree instead of running `npm ci`
 * again (what Render, Vercel and Cloud Build's layer caches do for an unchanged lock file); the
 * copy takes a fraction of an install's time, and the build's own steps then run on it as usual.
 *
 * Used only where a copy is the same as a fresh install: npm with a lock file (v2/v3) whose every
 * package is pinned by integrity (or a git commit), no linked folders (their contents are not in
 * the key), and no install scripts of the app's own (npm ci runs them; a copy would not).
 * Anything else installs as before, and the build log says why.
 */
export interface DepsCacheEntry {
  key: string;
  /** What the key was made of, for the build log. */
  describe: string;
}

export type DepsLookup = { use: DepsCacheEntry } | { skip: string };

const KEY_VERSION = 'baton-deps-cache-v1';
const ROOT_INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepublish', 'preprepare', 'prepare', 'postprepare'];
const MANIFEST_FIELDS = [
  'dependencies',
  'devDependencies',
  'optionalDependencies',
  'peerDependencies',
  'peerDependenciesMeta',
  'bundleDependencies',
  'bundledDependencies',
  'overrides',
  'workspaces',
  'engines',
  'os',
  'cpu',
];
const PINNED_GIT = /#[0-9a-f]{40}$/;

interface LockPackage {
  link?: boolean;
  integrity?: string;
  resolved?: string;
  inBundle?: boolean;
}

export class DepsCache {
  private readonly toolVersions = new Map<string, string | null>();

  constructor(
    private readonly dir: string,
    /** Trees kept; the least recently used beyond this are removed after each save. */
    private readonly keep: number,
  ) {}

  /** The cache entry for this build's install, or why the install cannot come from the cache. */
  async lookup(app: string, plan: InstallPlan, path: string): Promise<DepsLookup> {
    if (plan.manager !== 'npm' || !/^npm ci /.test(plan.install)) return { skip: 'only npm installs from a lock file are cached' };
    const lockName = ['npm-shrinkwrap.json', 'package-lock.json'].find((f) => existsSync(join(app, f)));
    if (!lockName) return { skip: 'no lock file' };
    const [manifestText, lockText, npmrc] = await Promise.all([
      readFile(join(app, 'package.json'), 'utf8'),
      readFile(join(app, lockName), 'utf8'),
      readFile(join(app, '.npmrc'), 'utf8').catch(() => ''),
    ]);
    let manifest: Record<string, unknown>;
    let lock: { lockfileVersion?: number; packages?: Record<string, LockPackage> };
    try {
      manifest = JSON.parse(manifestText) as Record<string, unknown>;
      lock = JSON.parse(lockText) as typeof lock;
    } catch {
      return { skip: `package.json or ${lockName} is not valid JSON` };
    }
    const scripts = (manifest.scripts ?? {}) as Record<string, unknown>;
    const own = ROOT_INSTALL_SCRIPTS.filter((s) => typeof scripts[s] === 'string');
    if (own.length > 0) return { skip: `the app has its own install scripts (${own.join(', ')}), which npm ci runs` };
    if (!lock.packages || (lock.lockfileVersion ?? 1) < 2)
      return { skip: `${lockName} is lockfileVersion 1 (npm 6): its packages are not pinned the way the cache needs` };
    const entries = Object.entries(lock.packages);
    const linked = entries.find(([, pkg]) => pkg.link);
    if (linked) return { skip: `${linked[0]} is a linked folder, whose contents the lock file does not pin` };
    // Keys outside node_modules are the app itself ("") and folders links point to (refused above).
    const unpinned = entries.find(
      ([where, pkg]) => where.includes('node_modules/') && !pkg.integrity && !pkg.inBundle && !PINNED_GIT.test(pkg.resolved ?? ''),
    );
    if (unpinned) return { skip: `${unpinned[0]} has no integrity in ${lockName}` };
    const npm = this.versionOf('npm', path);
    if (!npm) return { skip: "npm's version could not be read" };
    const picked = Object.fromEntries(MANIFEST_FIELDS.filter((f) => f in manifest).map((f) => [f, manifest[f]]));
    const key = createHash('sha256')
      .update(JSON.stringify([KEY_VERSION, lockText, picked, npmrc, plan.install, npm, process.version, process.platform, process.arch]))
      .digest('hex')
      .slice(0, 32);
    return { use: { key, describe: `${lockName} sha256 ${sha256(lockText).slice(0, 12)}, npm ${npm}, node ${process.version}` } };
  }

  /** Copies the kept tree into `app/node_modules`; false when there is none (or it could not be copied). */
  async restore(entry: DepsCacheEntry, app: string): Promise<boolean> {
    const kept = join(this.dir, entry.key);
    if (!existsSync(join(kept, 'node_modules'))) return false;
    try {
      // As npm ci does: whatever node_modules the source brought is replaced.
      await rm(join(app, 'node_modules'), { recursive: true, force: true });
      await copyTree(join(kept, 'node_modules'), join(app, 'node_modules'));
      const now = new Date();
      await utimes(kept, now, now);
      return true;
    } catch {
      await rm(join(app, 'node_modules'), { recursive: true, force: true });
      return false;
    }
  }

  /** Keeps a copy of `app/node_modules` as just installed, then drops the least recently used beyond `keep`. */
  async save(entry: DepsCacheEntry, app: string): Promise<void> {
    const kept = join(this.dir, entry.key);
    if (existsSync(kept)) return;
    await mkdir(this.dir, { recursive: true });
    const tmp = join(this.dir, `.tmp-${randomUUID()}`);
    try {
      await copyTree(join(app, 'node_modules'), join(tmp, 'node_modules'));
      await rename(tmp, kept).catch((err: unknown) => {
        // Another build of the same key saved it first.
        if (!existsSync(kept)) throw err;
      });
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    await this.evict();
  }

  private async evict(): Promise<void> {
    const names = (await readdir(this.dir)).filter((n) => !n.startsWith('.'));
    const aged = await Promise.all(names.map(async (n) => ({ n, t: (await stat(join(this.dir, n))).mtimeMs })));
    aged.sort((a, b) => b.t - a.t);
    for (const { n } of aged.slice(this.keep)) await rm(join(this.dir, n), { recursive: true, force: true });
  }

  /** A tool's version from the package.json beside its real path (no process spawned); memoised per PATH. */
  private versionOf(tool: string, path: string): string | null {
    const memo = `${tool}\0${path}`;
    if (!this.toolVersions.has(memo)) this.toolVersions.set(memo, readToolVersion(tool, path));
    return this.toolVersions.get(memo) ?? null;
  }
}

function readToolVersion(tool: string, path: string): string | null {
  for (const dir of path.split(delimiter)) {
    if (!dir || !existsSync(join(dir, tool))) continue;
    try {
      for (let up = dirname(realpathSync(join(dir, tool))); up !== dirname(up); up = dirname(up)) {
        const manifest = join(up, 'package.json');
        if (!existsSync(manifest)) continue;
        const { name, version } = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; version?: string };
        return name === tool && typeof version === 'string' ? version : null;
      }
    } catch {
      return null;
    }
    return null;
  }
  return null;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** A copy with links kept as they are; GNU cp where there is one (several times faster than fs.cp on many small files). */
async function copyTree(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  const args = process.platform === 'linux' ? ['-a', '--reflink=auto', from, to] : ['-a', from, to];
  const copied = await new Promise<boolean>((resolve, reject) =>
    execFile('cp', args, (err) => {
      if (!err) resolve(true);
      else if ((err as NodeJS.ErrnoException).code === 'ENOENT') resolve(false);
      else reject(err);
    }),
  );
  if (!copied) await cp(from, to, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
}
