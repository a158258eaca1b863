import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { create as tar } from 'tar';

/**
 * Apps shaped like the public ones new users deploy first (the cases are listed in REAL_APPS),
 * written by the test with no network: each dependency is a
 * small package of its own, packed as an npm tarball and named by a `file:` spec, so the local
 * builder's `npm install` lays out node_modules (scoped folders, `.bin` links) as the registry
 * would. What the stand-ins do not reproduce: the real frameworks' behaviour beyond the shape
 * that matters here (bins, builds, links, start-up, logs).
 */

type Files = Record<string, string>;

export interface RealApp {
  /** What a GET of `path` on the service URL must answer. */
  path: string;
  status: number;
  body: RegExp;
  /** Lines the service's runtime logs must then hold, with the severity they are shown at. */
  logs?: { severity: string; message: string }[];
  dir: string;
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
  check: Omit<RealApp, 'dir'>;
}

/** Writes the app `name` (and the packages it depends on) under `root`. */
export async function writeRealApp(root: string, name: RealAppName): Promise<RealApp> {
  const app = await REAL_APPS[name](join(root, 'packages'));
  const dir = join(root, 'apps', name);
  writeTree(dir, app.files);
  return { ...app.check, dir };
}

/** Cloud Run's helloworld sample: Express, no /health. */
async function expressApp(pkgs: string): Promise<AppSpec> {
  const express = await pack(pkgs, 'mini-express', MINI_EXPRESS);
  return {
    files: {
      'package.json': json({
        name: 'helloworld',
        main: 'index.js',
        scripts: { start: 'node index.js' },
        dependencies: { 'mini-express': express },
      }),
      'index.js': `const express = require('mini-express');
const app = express();
app.get('/', (req, res) => res.send('Hello World!'));
const port = parseInt(process.env.PORT) || 8080;
app.listen(port, () => console.log('helloworld: listening on port ' + port));
`,
    },
    check: { path: '/', status: 200, body: /^Hello World!$/ },
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
  };
}

/** The Nest starter's shape: TypeScript in src/, `nest build` to dist/, start script `nest start` (CLI in devDependencies). */
async function nestApp(pkgs: string): Promise<AppSpec> {
  const core = await pack(pkgs, '@mini-nest/core', {
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
  const cli = await pack(pkgs, '@mini-nest/cli', {
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
        dependencies: { '@mini-nest/core': core },
        devDependencies: { '@mini-nest/cli': cli },
      }),
      'tsconfig.json': json({ compilerOptions: { module: 'commonjs', outDir: './dist' } }),
      'src/app.module.ts': `export const AppModule = { routes: { '/': (): string => 'Hello World!' } };\n`,
      'src/main.ts': `import { NestFactory } from '@mini-nest/core';
import { AppModule } from './app.module';
async function bootstrap(): Promise<void> {
  const app = await NestFactory.create(AppModule);
  await app.listen(process.env.PORT ?? 3000);
}
bootstrap();
`,
    },
    check: { path: '/', status: 200, body: /^Hello World!$/ },
  };
}

/** Next.js's shape: `next build` writes .next/ with its own packages linked under .next/node_modules; `next start` needs that build. */
async function nextApp(pkgs: string): Promise<AppSpec> {
  const react = await pack(pkgs, 'mini-react', {
    'package.json': json({ main: 'index.js' }),
    'index.js': `exports.renderToString = (el) => '<main>' + el.text + '</main>';\n`,
  });
  const next = await pack(pkgs, 'mini-next', {
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
  fs.symlinkSync('../../node_modules/mini-react', '.next/node_modules/mini-react-7f3a9c');
  const page = fs.readFileSync('pages/index.js', 'utf8').replace("require('mini-react')", "require('../../node_modules/mini-react-7f3a9c')");
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
        dependencies: { 'mini-next': next, 'mini-react': react },
      }),
      '.gitignore': '/node_modules\n/.next/\n',
      'pages/index.js': `const { renderToString } = require('mini-react');
exports.render = () => renderToString({ text: 'Welcome to Next.js!' });
`,
    },
    check: { path: '/', status: 200, body: /<main>Welcome to Next\.js!<\/main>/ },
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
} satisfies Record<string, (pkgs: string) => Promise<AppSpec>>;

export type RealAppName = keyof typeof REAL_APPS;
export const REAL_APP_NAMES = Object.keys(REAL_APPS) as RealAppName[];
