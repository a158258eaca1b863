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

/** The corpus: every case the test deploys. */
const REAL_APPS = {
  esm: esmApp,
  'at-types-root': atTypesApp,
} satisfies Record<string, (pkgs: string) => Promise<AppSpec>>;

export type RealAppName = keyof typeof REAL_APPS;
export const REAL_APP_NAMES = Object.keys(REAL_APPS) as RealAppName[];
