import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { create as tar } from 'tar';
import type { Analysis } from '../../shared/domain/analysis/schema.js';
import { flaskApp, type PythonApp, plainPythonApp } from './python-apps.js';

/**
 * Apps shaped like the public ones new users deploy first (the cases are listed in REAL_APPS),
 * written by the test with no network: each dependency is a
 * small package of its own, packed as an npm tarball and named by a `file:` spec, so the local
 * builder's `npm install` lays out node_modules (scoped folders, `.bin` links) as the registry
 * would. Each stand-in carries the real package's name (express, fastify, koa, @nestjs/core,
 * next), so the analysis recognises the framework as it would the real one. The pnpm and yarn
 * apps vendor their tarballs (vendor/*.tgz, as the lock files record them relative to the app)
 * and get their lock file from the real pnpm 10 and yarn 1 (Baton's devDependencies), run by the
 * test as the app's developer would; the build then finds those tools through BATON_BUILD_PATH
 * (buildTools below). The Python apps are test/support/python-apps.ts's. What the stand-ins do
 * not reproduce: the real frameworks' behaviour beyond the shape that matters here (bins, builds,
 * links, start-up, logs), and the registry (no package is fetched).
 */

type Files = Record<string, string>;

export interface RealApp {
  /** What a GET of `path` on the service URL must answer. */
  path: string;
  status: number;
  body: RegExp;
  /** Lines the service's runtime logs must then hold, with the severity they are shown at. */
  logs?: { severity: string; message: string }[];
  /** What the job's `analysis` must hold (every generated: none of these apps has a Dockerfile). */
  analysis: Partial<Analysis>;
  dir: string;
}

const REPO = resolve(import.meta.dirname, '../..');

/**
 * A folder holding `pnpm` and `yarn` (Baton's own devDependencies, pnpm 10 and yarn 1), for
 * BATON_BUILD_PATH: Baton's PATH leaves node_modules/.bin folders out of builds, so the tools are
 * linked from a folder of their own, as a machine with them installed globally would have them.
 */
export function buildTools(root: string): string {
  const dir = join(root, 'tools');
  mkdirSync(dir, { recursive: true });
  for (const [tool, bin] of [
    ['pnpm', 'node_modules/pnpm/bin/pnpm.cjs'],
    ['yarn', 'node_modules/yarn/bin/yarn.js'],
  ])
    symlinkSync(join(REPO, bin), join(dir, tool));
  return dir;
}

const json = (v: unknown) => `${JSON.stringify(v, null, 2)}\n`;

function writeTree(root: string, files: Files): void {
  for (const [rel, text] of Object.entries(files)) {
    const file = join(root, rel);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text, { mode: rel.startsWith('bin/') ? 0o755 : 0o644 });
  }
}

const packed = new Map<string, Promise<string>>();

/** Packs a package as `npm pack` would (everything under `package/`) once, and returns its `file:` spec. */
function pack(root: string, name: string, files: Files): Promise<string> {
  const file = join(root, `${name.replace('@', '').replace('/', '-')}-1.0.0.tgz`);
  let done = packed.get(file);
  if (!done) {
    const src = join(root, 'src', name);
    writeTree(src, { 'package.json': json({ name, version: '1.0.0', ...JSON.parse(files['package.json'] ?? '{}') }), ...omit(files) });
    const top = [...new Set(['package.json', ...Object.keys(files).map((f) => f.split('/')[0] ?? f)])];
    done = tar({ gzip: true, file, cwd: src, prefix: 'package', portable: true }, top).then(() => `file:${file}`);
    packed.set(file, done);
  }
  return done;
}

const omit = (files: Files): Files => Object.fromEntries(Object.entries(files).filter(([k]) => k !== 'package.json'));

// A tiny Express: app.get(path, handler), res.send/json/status, 404 for the rest.
const MINI_EXPRESS = {
  'package.json': json({ main: 'index.js' }),
  'index.js': `const http = require('node:http');
module.exports = function express() {
  const routes = new Map();
  const app = (req, res) => {
    res.status = (c) => ((res.statusCode = c), res);
    res.send = (b) => res.end(String(b));
    res.json = (v) => (res.setHeader('content-type', 'application/json'), res.end(JSON.stringify(v)));
    const h = routes.get(req.url.split('?')[0]);
    if (h) return h(req, res);
    res.statusCode = 404;
    res.end('Cannot GET ' + req.url);
  };
  app.get = (p, h) => routes.set(p, h);
  app.listen = (port, cb) => http.createServer(app).listen(port, cb);
  return app;
};
`,
};

interface AppSpec {
  files: Files;
  /** Files written as they are (wheels), or copied from a path (vendored tarballs). */
  binary?: Record<string, Uint8Array | { from: string }>;
  /** The lock file its developer made with this tool once the files were written. */
  lock?: 'pnpm' | 'yarn';
  check: Omit<RealApp, 'dir' | 'analysis'>;
  analysis: Partial<Analysis>;
}

/** Writes the app `name` (and the packages it depends on) under `root`; `tools` is buildTools' folder. */
export async function writeRealApp(root: string, name: RealAppName, tools: string): Promise<RealApp> {
  const app = await REAL_APPS[name](join(root, 'packages'));
  const dir = join(root, 'apps', name);
  writeTree(dir, app.files);
  for (const [rel, data] of Object.entries(app.binary ?? {})) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    if (data instanceof Uint8Array) writeFileSync(join(dir, rel), data);
    else copyFileSync(data.from, join(dir, rel));
  }
  if (app.lock) {
    const env = { ...process.env, PATH: [dirname(process.execPath), tools, process.env.PATH].join(delimiter), CI: 'true' };
    const args =
      app.lock === 'pnpm'
        ? ['install', '--lockfile-only', '--store-dir', join(root, 'pnpm-store')]
        : ['install', '--non-interactive', '--ignore-scripts', '--cache-folder', join(root, 'yarn-cache')];
    execFileSync(join(tools, app.lock), args, { cwd: dir, env, stdio: 'pipe', timeout: 120_000 });
    // What the developer commits: the lock file, not node_modules.
    rmSync(join(dir, 'node_modules'), { recursive: true, force: true });
  }
  return { ...app.check, analysis: app.analysis, dir };
}

/** A package packed as npm would, copied into the app's vendor/ folder and named by a relative `file:` spec. */
async function vendored(pkgs: string, name: string, files: Files): Promise<{ spec: string; copy: Record<string, { from: string }> }> {
  const abs = (await pack(pkgs, name, files)).slice('file:'.length);
  const rel = `vendor/${name}-1.0.0.tgz`;
  return { spec: `file:${rel}`, copy: { [rel]: { from: abs } } };
}

/** Fastify's shape with pnpm: fastify() → get(path, handler) returning the body, listen({ port, host }). */
async function fastifyPnpmApp(pkgs: string): Promise<AppSpec> {
  const fastify = await vendored(pkgs, 'fastify', {
    'package.json': json({ main: 'index.js' }),
    'index.js': `const http = require('node:http');
module.exports = function fastify() {
  const routes = new Map();
  return {
    get: (path, handler) => routes.set(path, handler),
    listen: ({ port, host }, cb) => {
      const server = http.createServer(async (req, res) => {
        const h = routes.get(req.url);
        if (!h) { res.statusCode = 404; return res.end(JSON.stringify({ message: 'Route GET:' + req.url + ' not found', statusCode: 404 })); }
        const body = await h(req, res);
        res.setHeader('content-type', 'application/json; charset=utf-8');
        res.end(JSON.stringify(body));
      });
      server.listen(port, host, () => cb && cb(null, 'http://' + host + ':' + port));
    },
  };
};
`,
  });
  return {
    files: {
      'package.json': json({ name: 'fastify-app', scripts: { start: 'node server.js' }, dependencies: { fastify: fastify.spec } }),
      'server.js': `const app = require('fastify')();
app.get('/', async () => ({ hello: 'fastify' }));
app.listen({ port: Number(process.env.PORT) || 3000, host: '0.0.0.0' }, (err, address) => console.log('listening on ' + address));
`,
    },
    binary: fastify.copy,
    lock: 'pnpm',
    check: { path: '/', status: 200, body: /^\{"hello":"fastify"\}$/ },
    analysis: {
      language: 'node',
      framework: 'fastify',
      package_manager: 'pnpm',
      lock_file: 'pnpm-lock.yaml',
      install_command: 'pnpm install --frozen-lockfile',
      start_command: 'node server.js',
    },
  };
}

/** Koa's shape with yarn 1: new Koa(), app.use(async (ctx) => { ctx.body = … }), app.listen(port). */
async function koaYarnApp(pkgs: string): Promise<AppSpec> {
  const koa = await vendored(pkgs, 'koa', {
    'package.json': json({ main: 'index.js' }),
    'index.js': `const http = require('node:http');
module.exports = class Koa {
  constructor() { this.middleware = []; }
  use(fn) { this.middleware.push(fn); return this; }
  listen(...args) {
    return http.createServer(async (req, res) => {
      const ctx = { req, res, path: req.url, body: undefined, status: 404 };
      for (const fn of this.middleware) await fn(ctx, async () => {});
      res.statusCode = ctx.body === undefined ? 404 : 200;
      res.end(ctx.body === undefined ? 'Not Found' : String(ctx.body));
    }).listen(...args);
  }
};
`,
  });
  return {
    files: {
      'package.json': json({ name: 'koa-app', scripts: { start: 'node app.js' }, dependencies: { koa: koa.spec } }),
      'app.js': `const Koa = require('koa');
const app = new Koa();
app.use(async (ctx) => { ctx.body = 'Hello Koa'; });
app.listen(process.env.PORT || 3000);
`,
    },
    binary: koa.copy,
    lock: 'yarn',
    check: { path: '/', status: 200, body: /^Hello Koa$/ },
    analysis: {
      language: 'node',
      framework: 'koa',
      package_manager: 'yarn',
      lock_file: 'yarn.lock',
      install_command: 'yarn install --frozen-lockfile',
      start_command: 'node app.js',
    },
  };
}

const pythonSpec = (app: PythonApp) => ({ files: app.files, binary: app.binary });

/** Python on the standard library alone: http.server on $PORT, an empty requirements.txt. */
async function pythonPlainApp(): Promise<AppSpec> {
  return {
    ...pythonSpec(plainPythonApp()),
    check: { path: '/', status: 200, body: /^\{"hello": "python", "venv": true\}$/ },
    analysis: {
      language: 'python',
      framework: 'plain',
      package_manager: 'pip',
      lock_file: 'requirements.txt',
      start_command: 'python main.py',
      port_handling: 'main.py reads PORT',
    },
  };
}

/** Flask's quickstart under gunicorn, both stand-ins installed by pip from wheels in the app. */
async function flaskGunicornApp(): Promise<AppSpec> {
  return {
    ...pythonSpec(flaskApp()),
    check: { path: '/', status: 200, body: /^<p>Hello, World!<\/p>$/ },
    analysis: {
      language: 'python',
      framework: 'flask',
      package_manager: 'pip',
      install_command: 'pip install --no-cache-dir -r requirements.txt',
      start_command: 'gunicorn app:app',
      port_handling: 'gunicorn binds 0.0.0.0:$PORT when PORT is set',
    },
  };
}

/** Cloud Run's helloworld sample: Express, no /health. */
async function expressApp(pkgs: string): Promise<AppSpec> {
  const express = await pack(pkgs, 'express', MINI_EXPRESS);
  return {
    files: {
      'package.json': json({
        name: 'helloworld',
        main: 'index.js',
        scripts: { start: 'node index.js' },
        dependencies: { express },
      }),
      'index.js': `const express = require('express');
const app = express();
app.get('/', (req, res) => res.send('Hello World!'));
const port = parseInt(process.env.PORT) || 8080;
app.listen(port, () => console.log('helloworld: listening on port ' + port));
`,
    },
    check: { path: '/', status: 200, body: /^Hello World!$/ },
    analysis: { language: 'node', framework: 'express', package_manager: 'npm', start_command: 'node index.js', lock_file: null },
  };
}

/** Listens at once but answers 503 while it warms up (caches, migrations …), like many real services. */
async function warmUpApp(): Promise<AppSpec> {
  return {
    files: {
      'package.json': json({ name: 'warm-up', scripts: { start: 'node server.js' } }),
      'server.js': `const http = require('node:http');
const readyAt = Date.now() + 2000;
http.createServer((req, res) => {
  if (Date.now() < readyAt) { res.writeHead(503, { 'retry-after': '1' }); return res.end('warming up'); }
  if (req.url === '/health') { res.setHeader('content-type', 'application/json'); return res.end('{"status":"ok"}'); }
  res.end('warm');
}).listen(Number(process.env.PORT));
`,
    },
    check: { path: '/', status: 200, body: /^warm$/ },
    analysis: { language: 'node', framework: 'plain', package_manager: 'npm', start_command: 'node server.js' },
  };
}

/** Local type declarations in a root folder named @types/ (what node-tar read as an archive to merge). */
async function atTypesApp(): Promise<AppSpec> {
  return {
    files: {
      'package.json': json({ name: 'typed', scripts: { start: 'node server.js' } }),
      'tsconfig.json': json({ compilerOptions: { typeRoots: ['./@types', './node_modules/@types'], allowJs: true, checkJs: true } }),
      '@types/globals/index.d.ts': 'declare const APP_NAME: string;\n',
      'server.js': `const http = require('node:http');
http.createServer((req, res) => {
  if (req.url === '/health') { res.setHeader('content-type', 'application/json'); return res.end('{"status":"ok"}'); }
  res.end('typed');
}).listen(Number(process.env.PORT));
`,
    },
    check: { path: '/', status: 200, body: /^typed$/ },
    analysis: { language: 'node', framework: 'plain', start_command: 'node server.js', port_handling: 'server.js reads process.env.PORT' },
  };
}

/** The Nest starter's shape: TypeScript in src/, `nest build` to dist/, start script `nest start` (CLI in devDependencies). */
async function nestApp(pkgs: string): Promise<AppSpec> {
  const core = await pack(pkgs, '@nestjs/core', {
    'package.json': json({ main: 'index.js' }),
    'index.js': `const http = require('node:http');
exports.NestFactory = { create: async (Module) => ({ listen: (port) => new Promise((r) => http.createServer((req, res) => {
  const handler = Module.routes[req.url];
  if (!handler) { res.statusCode = 404; return res.end(JSON.stringify({ message: 'Cannot GET ' + req.url, statusCode: 404 })); }
  res.end(handler());
}).listen(port, r)) }) };
`,
  });
  // The stand-in compiler handles the narrow TypeScript the app below is written in.
  const cli = await pack(pkgs, '@nestjs/cli', {
    'package.json': json({ bin: { nest: 'bin/nest.js' } }),
    'bin/nest.js': `#!/usr/bin/env node
const fs = require('node:fs');
const path = require('node:path');
function build() {
  fs.mkdirSync('dist', { recursive: true });
  for (const f of fs.readdirSync('src')) {
    const ts = fs.readFileSync(path.join('src', f), 'utf8');
    const js = ts
      .replace(/^import \\{ (\\w+) \\} from '([^']+)';$/gm, "const { $1 } = require('$2');")
      .replace(/^export const (\\w+)/gm, 'exports.$1')
      .replace(/\\): Promise<void>/g, ')')
      .replace(/: string/g, '');
    fs.writeFileSync(path.join('dist', f.replace(/\\.ts$/, '.js')), js);
  }
}
const cmd = process.argv[2];
if (cmd === 'build') build();
else if (cmd === 'start') { build(); require(path.resolve('dist/main.js')); }
else { console.error('nest: unknown command ' + cmd); process.exit(1); }
`,
  });
  return {
    files: {
      'package.json': json({
        name: 'nest-starter',
        scripts: { build: 'nest build', start: 'nest start', 'start:prod': 'node dist/main' },
        dependencies: { '@nestjs/core': core },
        devDependencies: { '@nestjs/cli': cli },
      }),
      'tsconfig.json': json({ compilerOptions: { module: 'commonjs', outDir: './dist' } }),
      'src/app.module.ts': `export const AppModule = { routes: { '/': (): string => 'Hello World!' } };\n`,
      'src/main.ts': `import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';
async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule);
  await app.listen(process.env.PORT ?? 3000);
}
bootstrap();
`,
    },
    check: { path: '/', status: 200, body: /^Hello World!$/ },
    // The image starts the build (start:prod); the local target runs scripts.start (nest start) as it always did.
    analysis: {
      language: 'node',
      framework: 'nest',
      package_manager: 'npm',
      build_command: 'npm run build',
      start_command: 'node dist/main',
    },
  };
}

/** Next.js's shape: `next build` writes .next/ with its own packages linked under .next/node_modules; `next start` needs that build. */
async function nextApp(pkgs: string): Promise<AppSpec> {
  const react = await pack(pkgs, 'react', {
    'package.json': json({ main: 'index.js' }),
    'index.js': `exports.renderToString = (el) => '<main>' + el.text + '</main>';\n`,
  });
  const next = await pack(pkgs, 'next', {
    'package.json': json({ bin: { next: 'bin/next.js' } }),
    'bin/next.js': `#!/usr/bin/env node
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const cmd = process.argv[2];
if (cmd === 'build') {
  fs.rmSync('.next', { recursive: true, force: true });
  fs.mkdirSync('.next/server/pages', { recursive: true });
  fs.mkdirSync('.next/node_modules', { recursive: true });
  // As Next.js does for server packages: a link to node_modules under a hashed name.
  fs.symlinkSync('../../node_modules/react', '.next/node_modules/react-7f3a9c');
  const page = fs.readFileSync('pages/index.js', 'utf8').replace("require('react')", "require('../../node_modules/react-7f3a9c')");
  fs.writeFileSync('.next/server/pages/index.js', page);
  fs.writeFileSync('.next/BUILD_ID', 'b' + Date.now());
  console.log('Compiled successfully');
} else if (cmd === 'start') {
  if (!fs.existsSync('.next/BUILD_ID')) {
    console.error("Error: Could not find a production build in the '.next' directory. Try building your app with 'next build' before starting the production server.");
    process.exit(1);
  }
  const page = require(path.resolve('.next/server/pages/index.js'));
  const port = Number(process.env.PORT) || 3000;
  http.createServer((req, res) => {
    if (req.url !== '/') { res.statusCode = 404; return res.end('<h1>404 - This page could not be found.</h1>'); }
    res.setHeader('content-type', 'text/html');
    res.end(page.render());
  }).listen(port, () => console.log('- Local: http://localhost:' + port));
} else { console.error('next: unknown command ' + cmd); process.exit(1); }
`,
  });
  return {
    files: {
      'package.json': json({
        name: 'next-app',
        scripts: { dev: 'next dev', build: 'next build', start: 'next start' },
        dependencies: { next, react },
      }),
      '.gitignore': '/node_modules\n/.next/\n',
      'pages/index.js': `const { renderToString } = require('react');
exports.render = () => renderToString({ text: 'Welcome to Next.js!' });
`,
    },
    check: { path: '/', status: 200, body: /<main>Welcome to Next\.js!<\/main>/ },
    analysis: {
      language: 'node',
      framework: 'next',
      build_command: 'npm run build',
      start_command: 'node_modules/.bin/next start -H 0.0.0.0',
    },
  };
}

/** `"type": "module"`, top-level await, an ESM-only dependency with an exports map; has a /health. */
async function esmApp(pkgs: string): Promise<AppSpec> {
  const lib = await pack(pkgs, 'esm-only-greet', {
    'package.json': json({ type: 'module', exports: { '.': { import: './index.js' } } }),
    'index.js': `export const greet = (who) => 'hello ' + who;\n`,
  });
  return {
    files: {
      'package.json': json({
        name: 'esm-app',
        type: 'module',
        scripts: { start: 'node index.js' },
        dependencies: { 'esm-only-greet': lib },
      }),
      'index.js': `import { createServer } from 'node:http';
import { once } from 'node:events';
import { greet } from 'esm-only-greet';
const server = createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  if (req.url === '/health') return res.end(JSON.stringify({ status: 'ok' }));
  res.end(JSON.stringify({ message: greet('esm') }));
}).listen(Number(process.env.PORT));
await once(server, 'listening');
console.log('esm app listening');
`,
    },
    check: { path: '/', status: 200, body: /"hello esm"/ },
    analysis: { language: 'node', framework: 'plain', start_command: 'node index.js', port_handling: 'index.js reads process.env.PORT' },
  };
}

/** Fastify-style: JSON log lines from a pino-like logger on stdout (levels 30/40/50), no /health. */
async function pinoApp(pkgs: string): Promise<AppSpec> {
  const express = await pack(pkgs, 'mini-express', MINI_EXPRESS);
  const pino = await pack(pkgs, 'mini-pino', {
    'package.json': json({ main: 'index.js' }),
    'index.js': `const os = require('node:os');
module.exports = () => {
  const line = (level) => (msg) => process.stdout.write(JSON.stringify({ level, time: Date.now(), pid: process.pid, hostname: os.hostname(), msg }) + '\\n');
  return { info: line(30), warn: line(40), error: line(50) };
};
`,
  });
  return {
    files: {
      'package.json': json({
        name: 'pino-app',
        scripts: { start: 'node app.js' },
        dependencies: { 'mini-pino': pino, 'mini-express': express },
      }),
      'app.js': `const log = require('mini-pino')();
const app = require('mini-express')();
app.get('/', (req, res) => { log.info('GET /'); res.json({ hello: 'pino' }); });
app.listen(Number(process.env.PORT), () => { log.info('Server listening'); log.warn('cache disabled'); });
`,
    },
    check: {
      path: '/',
      status: 200,
      body: /"hello":"pino"/,
      logs: [
        { severity: 'INFO', message: 'Server listening' },
        { severity: 'WARNING', message: 'cache disabled' },
        { severity: 'INFO', message: 'GET /' },
      ],
    },
    // An Express app logging with a pino-like logger (stand-ins named mini-*: no framework recognised).
    analysis: { language: 'node', framework: 'plain', start_command: 'node app.js' },
  };
}

/**
 * Pins TypeScript 5.4.5 (Baton itself uses 6.x) and needs it at run time too (as apps running
 * ts-node do): built with its own `tsc`, the server reports which `tsc` its PATH finds and any
 * other project's node_modules/.bin on it.
 */
async function pinnedTscApp(pkgs: string): Promise<AppSpec> {
  const ts = await pack(pkgs, 'typescript', {
    'package.json': json({ version: '5.4.5', bin: { tsc: 'bin/tsc', tsserver: 'bin/tsserver' } }),
    'bin/tsc': `#!/usr/bin/env node
const fs = require('node:fs');
if (process.argv.includes('--version')) { console.log('Version 5.4.5'); process.exit(0); }
fs.mkdirSync('dist', { recursive: true });
fs.writeFileSync('dist/server.js', fs.readFileSync('src/server.ts', 'utf8').replace(/: string/g, ''));
`,
    'bin/tsserver': '#!/usr/bin/env node\n',
  });
  return {
    files: {
      'package.json': json({ name: 'pins-ts', scripts: { build: 'tsc', start: 'node dist/server.js' }, dependencies: { typescript: ts } }),
      'tsconfig.json': json({ compilerOptions: { outDir: 'dist' } }),
      'src/server.ts': `const http = require('node:http');
const { execSync } = require('node:child_process');
const path = require('node:path');
http.createServer((req, res) => {
  const tsc: string = execSync('tsc --version', { encoding: 'utf8' }).trim();
  const foreign = (process.env.PATH || '').split(':').filter((p) => p.endsWith(path.join('node_modules', '.bin')) && !p.startsWith(process.cwd()));
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ tsc, foreign, npm_package_name: process.env.npm_package_name ?? null }));
}).listen(Number(process.env.PORT));
`,
    },
    check: { path: '/', status: 200, body: /^\{"tsc":"Version 5\.4\.5","foreign":\[\],"npm_package_name":(null|"pins-ts")\}$/ },
    analysis: { language: 'node', framework: 'plain', build_command: 'npm run build', start_command: 'node dist/server.js' },
  };
}

/** The corpus: every case the test deploys. */
const REAL_APPS = {
  'express-no-health': expressApp,
  'nest-style': nestApp,
  'next-style': nextApp,
  esm: esmApp,
  'pino-logger': pinoApp,
  'warm-up-2s': warmUpApp,
  'at-types-root': atTypesApp,
  'pins-typescript': pinnedTscApp,
  'fastify-pnpm': fastifyPnpmApp,
  'koa-yarn': koaYarnApp,
  'python-plain': pythonPlainApp,
  'flask-gunicorn': flaskGunicornApp,
} satisfies Record<string, (pkgs: string) => Promise<AppSpec>>;

export type RealAppName = keyof typeof REAL_APPS;
export const REAL_APP_NAMES = Object.keys(REAL_APPS) as RealAppName[];
