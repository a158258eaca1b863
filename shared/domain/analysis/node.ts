import { satisfiesNodeRange } from '../node-range.js';
import { fixedPort, procfileWeb, readsPortEnv, toArgv, words } from './command.js';
import type { Analysis, BuildOptions, SourceReader, Unsupported } from './schema.js';

/** Node majors Baton builds on (an official `node:<major>-slim` exists for each). */
export const NODE_MAJORS = ['24', '22', '20'] as const;
export const DEFAULT_NODE = '22';

interface Manifest {
  name?: string;
  main?: string;
  packageManager?: string;
  engines?: { node?: string };
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

type Draft = Omit<Analysis, 'dockerfile'>;

const has = (r: SourceReader, p: string) => r.paths.includes(p);

function packageManager(
  r: SourceReader,
  pkg: Manifest,
): { pm: 'npm' | 'pnpm' | 'yarn' | 'bun'; lock: string | null; why: string; berry: boolean } {
  const berry = has(r, '.yarnrc.yml');
  const field = /^(npm|pnpm|yarn|bun)@/.exec(pkg.packageManager ?? '');
  const lockOf = {
    pnpm: 'pnpm-lock.yaml',
    yarn: 'yarn.lock',
    npm: 'package-lock.json',
    bun: has(r, 'bun.lock') ? 'bun.lock' : 'bun.lockb',
  };
  if (field) {
    const pm = field[1] as 'npm' | 'pnpm' | 'yarn' | 'bun';
    return {
      pm,
      lock: has(r, lockOf[pm]) ? lockOf[pm] : null,
      why: `packageManager ${pkg.packageManager}`,
      berry: berry || /^yarn@[2-9]/.test(pkg.packageManager ?? ''),
    };
  }
  if (has(r, 'pnpm-lock.yaml')) return { pm: 'pnpm', lock: 'pnpm-lock.yaml', why: 'pnpm-lock.yaml', berry };
  if (has(r, 'bun.lock') || has(r, 'bun.lockb')) return { pm: 'bun', lock: lockOf.bun, why: lockOf.bun, berry };
  if (has(r, 'yarn.lock'))
    return { pm: 'yarn', lock: 'yarn.lock', why: berry ? 'yarn.lock and .yarnrc.yml (Yarn Berry)' : 'yarn.lock', berry };
  if (has(r, 'package-lock.json')) return { pm: 'npm', lock: 'package-lock.json', why: 'package-lock.json', berry };
  if (has(r, 'npm-shrinkwrap.json')) return { pm: 'npm', lock: 'npm-shrinkwrap.json', why: 'npm-shrinkwrap.json', berry };
  return { pm: 'npm', lock: null, why: 'no lock file (npm)', berry };
}

function installCommand(pm: string, lock: string | null, berry: boolean): string {
  switch (pm) {
    case 'pnpm':
      return lock ? 'pnpm install --frozen-lockfile' : 'pnpm install';
    case 'yarn':
      return lock ? (berry ? 'yarn install --immutable' : 'yarn install --frozen-lockfile') : 'yarn install';
    case 'bun':
      return lock ? 'bun install --frozen-lockfile' : 'bun install';
    default:
      return lock ? 'npm ci' : 'npm install';
  }
}

/** The Node major: the request's, engines.node's newest supported, .nvmrc, .node-version, .tool-versions, else the LTS. */
function nodeVersion(r: SourceReader, pkg: Manifest, notes: string[]): { version: string; why: string } {
  const range = pkg.engines?.node;
  if (range) {
    const fits = NODE_MAJORS.filter((m) => satisfiesNodeRange(`${m}.99.0`, range) || satisfiesNodeRange(`${m}.0.0`, range));
    if (fits.length > 0) return { version: fits[0], why: `engines.node ${range}` };
    notes.push(`engines.node "${range}" matches none of Node ${NODE_MAJORS.join(', ')}: building on Node ${DEFAULT_NODE}`);
  }
  for (const file of ['.nvmrc', '.node-version']) {
    const m = /^v?(\d+)/.exec(r.read(file)?.trim() ?? '');
    if (m) return { version: m[1], why: file };
  }
  const tv = /^nodejs\s+v?(\d+)/m.exec(r.read('.tool-versions') ?? '');
  if (tv) return { version: tv[1], why: '.tool-versions' };
  return { version: DEFAULT_NODE, why: 'default (Node LTS)' };
}

const FRAMEWORKS: [string, string][] = [
  ['next', 'next'],
  ['nuxt', 'nuxt'],
  ['@nestjs/core', 'nest'],
  ['fastify', 'fastify'],
  ['koa', 'koa'],
  ['express', 'express'],
];

function run(pm: string, script: string): string {
  return pm === 'npm' ? `npm run ${script}` : pm === 'bun' ? `bun run ${script}` : `${pm} run ${script}`;
}

/** The file a `node <file>` start runs, so its port handling can be read. */
function entryOf(argv: string[], r: SourceReader): string | null {
  const i = argv[0] === 'node' ? 1 : -1;
  if (i < 0) return null;
  const file = argv.slice(i).find((a) => !a.startsWith('-'));
  if (!file) return null;
  const clean = file.replace(/^\.\//, '');
  for (const c of [clean, `${clean}.js`, `${clean}.mjs`, `${clean}/index.js`]) if (has(r, c)) return c;
  return clean;
}

export function analyseNode(r: SourceReader, options: BuildOptions): Draft | Unsupported {
  let pkg: Manifest;
  try {
    pkg = JSON.parse(r.read('package.json') ?? '') as Manifest;
  } catch {
    return { found: 'a package.json that is not valid JSON', add: 'fix package.json (it must parse as JSON)' };
  }
  const notes: string[] = [];
  const sources: Record<string, string> = {};
  const deps = { ...pkg.devDependencies, ...pkg.dependencies };
  const scripts = pkg.scripts ?? {};
  const { pm, lock, why, berry } = packageManager(r, pkg);
  sources.package_manager = why;
  // Nothing to resolve without dependencies: no lock file is then as reproducible as one.
  if (!lock && Object.keys(deps).length > 0)
    notes.push(`no lock file: dependencies resolve at build time (${installCommand(pm, null, berry)}), not reproducibly: commit one`);
  const version = options.runtime_version ? { version: options.runtime_version.split('.')[0], why: 'request' } : nodeVersion(r, pkg, notes);
  sources.runtime_version = version.why;
  const framework = FRAMEWORKS.find(([dep]) => deps[dep] !== undefined)?.[1] ?? 'plain';

  const buildScript = ['heroku-postbuild', 'gcp-build', 'build'].find((s) => scripts[s]);
  const build_command = options.build_command ?? (buildScript ? run(pm, buildScript) : null);
  if (buildScript) sources.build_command = `scripts.${buildScript}`;
  if ((framework === 'next' || framework === 'nuxt' || framework === 'nest') && !build_command)
    notes.push(
      `${framework} needs a build step and package.json has no "build" script: add one ("build": "${framework === 'nest' ? 'nest build' : `${framework} build`}")`,
    );

  const env: Record<string, string> = {};
  let start: string | null = null;
  let argv: string[] | null = null;
  let port_handling = 'the app must read $PORT';
  const explicit = options.start_command ?? procfileWeb(r.read('Procfile'));
  if (explicit) {
    sources.start_command = options.start_command ? 'request' : 'Procfile web';
    start = explicit;
    argv = toArgv(explicit);
  } else if (framework === 'next') {
    const config = ['next.config.js', 'next.config.mjs', 'next.config.ts'].map((f) => r.read(f) ?? '').join('\n');
    if (/output\s*:\s*['"]standalone['"]/.test(config)) {
      argv = ['node', '.next/standalone/server.js'];
      env.HOSTNAME = '0.0.0.0';
      port_handling = 'the standalone server reads PORT; HOSTNAME=0.0.0.0 makes it listen on all interfaces';
      sources.start_command = 'next.config output: standalone';
    } else {
      argv = ['node_modules/.bin/next', 'start', '-H', '0.0.0.0'];
      port_handling = 'next start reads PORT; -H 0.0.0.0 binds all interfaces';
      sources.start_command = 'next';
    }
    start = argv.join(' ');
  } else if (framework === 'nuxt') {
    argv = ['node', '.output/server/index.mjs'];
    env.HOST = '0.0.0.0';
    port_handling = 'the Nitro server reads PORT; HOST=0.0.0.0 binds all interfaces';
    sources.start_command = 'nuxt (.output/server/index.mjs)';
    start = argv.join(' ');
  } else {
    const script = framework === 'nest' && scripts['start:prod'] ? 'start:prod' : scripts.start ? 'start' : null;
    if (script) {
      sources.start_command = `scripts.${script}`;
      start = scripts[script];
      const w = words(start);
      // `node file` runs as it is (node as PID 1 gets SIGTERM); anything else through the package manager.
      argv = w[0] === 'node' && toArgv(start)[0] === 'node' ? toArgv(start) : pm === 'bun' ? ['bun', 'run', script] : [pm, 'run', script];
      if (argv[0] !== 'node') start = `${argv.join(' ')} (${scripts[script]})`;
    } else {
      const file = ['server.js', pkg.main, 'index.js', 'app.js', 'main.js'].find((f): f is string => !!f && has(r, f.replace(/^\.\//, '')));
      if (file) {
        argv = ['node', file.replace(/^\.\//, '')];
        start = argv.join(' ');
        sources.start_command = file === pkg.main ? 'package.json main' : file;
      } else if (framework === 'nest') {
        argv = ['node', 'dist/main.js'];
        start = argv.join(' ');
        sources.start_command = 'nest (dist/main.js)';
      }
    }
  }
  if (!argv || !start)
    return {
      found: `a Node project (package.json${lock ? `, ${lock}` : ''}) with no start command: no "start" script, no Procfile web process, no server.js, main or index.js`,
      add: 'a "start" script in package.json (e.g. "start": "node server.js"), a Procfile with "web: …", or build_options.start_command',
    };

  if (framework !== 'next' && framework !== 'nuxt') {
    const entry = entryOf(argv, r);
    const code = entry ? r.read(entry) : null;
    if (code !== null && readsPortEnv(code)) port_handling = `${entry} reads process.env.PORT`;
    else if (code !== null) {
      const port = fixedPort(code);
      notes.push(
        port
          ? `${entry} listens on the fixed port ${port}: listen on process.env.PORT (Cloud Run sets it)`
          : `${entry} does not read process.env.PORT: the service must listen on $PORT`,
      );
    }
    if (framework === 'fastify' && code !== null && !/0\.0\.0\.0|'::'|"::"|host\s*:/.test(code))
      notes.push(`fastify listens on localhost unless told: call listen({ port: Number(process.env.PORT), host: '0.0.0.0' })`);
  }
  const devTool = ['tsx', 'ts-node', 'nodemon', 'vite', 'webpack'].find((t) => words(start).includes(t));
  if (devTool) notes.push(`the start command runs ${devTool}, a development tool: build ahead and start with node`);
  return {
    language: 'node',
    framework,
    package_manager: pm,
    runtime_version: version.version,
    build_command,
    start_command: start,
    port_handling,
    notes,
    sources,
    install_command: options.install_command ?? installCommand(pm, lock, berry),
    start_argv: argv,
    env,
    lock_file: lock,
  };
}
