import { accessSync, constants } from 'node:fs';
import { readFile, readlink } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/**
 * How a build installs a Node service's dependencies: with the package manager its lock file
 * names (as Cloud Run's buildpacks and Vercel do), a cache kept between builds, and dev
 * dependencies pruned after the build unless the start script needs one.
 */
export type Manager = 'npm' | 'pnpm' | 'yarn' | 'bun';

export interface InstallPlan {
  manager: Manager;
  install: string;
  /** Removes dev dependencies after the build; null when the manager has no way to. */
  prune: string | null;
  /** Extra environment for both commands (a cache folder some managers take only this way). */
  env: Record<string, string>;
  /** What the build log should say about the choice (a lock without its tool, for one). */
  notes: string[];
}

export interface Manifest {
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const LOCKS: readonly { file: string; manager: Manager }[] = [
  { file: 'pnpm-lock.yaml', manager: 'pnpm' },
  { file: 'yarn.lock', manager: 'yarn' },
  { file: 'bun.lock', manager: 'bun' },
  { file: 'bun.lockb', manager: 'bun' },
  { file: 'package-lock.json', manager: 'npm' },
  { file: 'npm-shrinkwrap.json', manager: 'npm' },
];

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Whether `tool` is an executable on `path` (the PATH builds run with). */
export function onPath(tool: string, path = process.env.PATH ?? ''): boolean {
  return path.split(delimiter).some((dir) => {
    if (!dir) return false;
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export async function planInstall(app: string, cacheDir: string, has: (tool: string) => boolean = (t) => onPath(t)): Promise<InstallPlan> {
  const present = async (f: string) =>
    readFile(join(app, f)).then(
      () => true,
      () => false,
    );
  let lock: (typeof LOCKS)[number] | null = null;
  for (const l of LOCKS) {
    if (await present(l.file)) {
      lock = l;
      break;
    }
  }
  const npmCache = `--cache ${q(join(cacheDir, 'npm'))}`;
  const npm = (command: string, notes: string[] = []): InstallPlan => ({
    manager: 'npm',
    install: `npm ${command} --no-audit --no-fund --prefer-offline ${npmCache}`,
    prune: `npm prune --omit=dev --no-audit --no-fund ${npmCache}`,
    env: {},
    notes,
  });
  if (!lock) return npm('install', ['No lock file: installing with npm install (commit a lock file for reproducible builds)']);
  if (lock.manager === 'npm') return npm('ci');
  if (!has(lock.manager)) {
    return npm('install', [
      `${lock.file} found, but ${lock.manager} is not installed on the control plane machine: installing with npm install instead, so versions may differ from ${lock.file}. Install ${lock.manager} (e.g. corepack enable${lock.manager === 'bun' ? ', or see bun.sh' : ''}) to build with it`,
    ]);
  }
  switch (lock.manager) {
    case 'pnpm': {
      const store = `--store-dir ${q(join(cacheDir, 'pnpm'))}`;
      return {
        manager: 'pnpm',
        install: `pnpm install --frozen-lockfile ${store}`,
        prune: `pnpm prune --prod ${store}`,
        env: {},
        notes: [],
      };
    }
    case 'yarn': {
      if (await present('.yarnrc.yml')) {
        // Yarn 2+ keeps its cache per project or globally by its own settings, and pruning needs a plugin.
        return {
          manager: 'yarn',
          install: 'yarn install --immutable',
          prune: null,
          env: {},
          notes: ['Yarn 2+: dev dependencies are kept'],
        };
      }
      const cache = `--cache-folder ${q(join(cacheDir, 'yarn'))}`;
      return {
        manager: 'yarn',
        install: `yarn install --frozen-lockfile --non-interactive ${cache}`,
        prune: `yarn install --production --frozen-lockfile --non-interactive --ignore-scripts --prefer-offline ${cache}`,
        env: {},
        notes: [],
      };
    }
    default:
      return {
        manager: 'bun',
        install: 'bun install --frozen-lockfile',
        prune: 'bun install --frozen-lockfile --production',
        env: { BUN_INSTALL_CACHE_DIR: join(cacheDir, 'bun') },
        notes: [],
      };
  }
}

/**
 * The dev dependencies the start command runs: a command it calls (`nest start`, `tsx server.ts`)
 * whose bin link in node_modules/.bin belongs to one, or a module it preloads (`node --import tsx`,
 * `-r ts-node/register`). Pruning those would make the revision fail with exit 127.
 */
export async function devDependenciesAtStart(app: string, pkg: Manifest): Promise<string[]> {
  const dev = new Set(Object.keys(pkg.devDependencies ?? {}).filter((d) => !(d in (pkg.dependencies ?? {}))));
  const start = pkg.scripts?.start;
  if (!start || dev.size === 0) return [];
  const needed = new Set<string>();
  for (const segment of start.split(/&&|\|\||[;|&]/)) {
    const words = segment.trim().split(/\s+/).filter(Boolean);
    while (words.length > 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0])) words.shift();
    if (['npx', 'exec', 'cross-env', 'dotenv', 'env'].includes(words[0] ?? '')) words.shift();
    if (words[0] === 'npm' && words[1] === 'exec') words.splice(0, words[2] === '--' ? 3 : 2);
    const [command, ...args] = words;
    if (!command) continue;
    const owner = await binOwner(app, command);
    if (owner && dev.has(owner)) needed.add(owner);
    if (dev.has(command)) needed.add(command);
    for (let i = 0; i < args.length; i++) {
      const flag = args[i];
      const inline = /^--(?:import|require|loader|experimental-loader)=(.+)$/.exec(flag);
      const spec = inline
        ? inline[1]
        : ['-r', '--require', '--import', '--loader', '--experimental-loader'].includes(flag)
          ? args[i + 1]
          : undefined;
      const name = spec ? packageOf(spec) : null;
      if (name && dev.has(name)) needed.add(name);
    }
  }
  return [...needed].sort();
}

/** The package a node_modules/.bin link belongs to (its target is ../<pkg>/… or ../@scope/pkg/…). */
async function binOwner(app: string, command: string): Promise<string | null> {
  if (command.includes('/')) return null;
  const target = await readlink(join(app, 'node_modules', '.bin', command)).catch(() => null);
  if (!target) return null;
  const parts = target.split('/').filter((p) => p !== '..' && p !== '.');
  if (parts[0] === 'node_modules') parts.shift();
  return parts[0]?.startsWith('@') ? `${parts[0]}/${parts[1] ?? ''}` : (parts[0] ?? null);
}

function packageOf(spec: string): string | null {
  if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:')) return null;
  const parts = spec.split('/');
  return parts[0].startsWith('@') ? `${parts[0]}/${parts[1] ?? ''}` : parts[0];
}
