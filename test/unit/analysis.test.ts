import { describe, expect, it } from 'vitest';
import { analyseSource } from '../../shared/domain/analysis/analyse.js';
import { reader } from '../support/source-reader.js';

const pkg = (o: Record<string, unknown>) => JSON.stringify({ name: 'app', version: '1.0.0', ...o });
const ok = (files: Record<string, string>, options = {}) => {
  const r = analyseSource(reader(files), options);
  if (!r.ok) throw new Error(`${r.found} / ${r.add}`);
  return r.analysis;
};

describe('analysis: Node', () => {
  it('plain: npm ci from package-lock, node server.js run directly, PORT read', () => {
    const a = ok({
      'package.json': pkg({ scripts: { start: 'node server.js' } }),
      'package-lock.json': '{}',
      'server.js': 'require("http").createServer().listen(process.env.PORT || 8080)',
    });
    expect(a).toMatchObject({
      language: 'node',
      framework: 'plain',
      package_manager: 'npm',
      runtime_version: '22',
      install_command: 'npm ci',
      start_argv: ['node', 'server.js'],
      port_handling: 'server.js reads process.env.PORT',
      dockerfile: 'generated',
      lock_file: 'package-lock.json',
    });
  });

  it.each([
    ['pnpm-lock.yaml', 'pnpm', 'pnpm install --frozen-lockfile'],
    ['yarn.lock', 'yarn', 'yarn install --frozen-lockfile'],
    ['bun.lockb', 'bun', 'bun install --frozen-lockfile'],
    ['bun.lock', 'bun', 'bun install --frozen-lockfile'],
  ])('%s → %s', (lock, pm, install) => {
    const a = ok({ 'package.json': pkg({ scripts: { start: 'node index.js' } }), [lock]: '' });
    expect(a.package_manager).toBe(pm);
    expect(a.install_command).toBe(install);
  });

  it('the packageManager field wins over lock files; Yarn Berry installs --immutable', () => {
    const a = ok({
      'package.json': pkg({ packageManager: 'yarn@4.1.0', scripts: { start: 'node a.js' } }),
      'package-lock.json': '',
      'yarn.lock': '',
      'a.js': '',
    });
    expect(a.package_manager).toBe('yarn');
    expect(a.install_command).toBe('yarn install --immutable');
  });

  it('no lock file: npm install, with a note when there are dependencies to resolve', () => {
    const files = { 'index.js': 'listen(process.env.PORT)' };
    const a = ok({ ...files, 'package.json': pkg({ scripts: { start: 'node index.js' }, dependencies: { express: '^5.0.0' } }) });
    expect(a.install_command).toBe('npm install');
    expect(a.notes.join()).toMatch(/no lock file/);
    // Nothing to resolve: no lock file is as reproducible as one.
    expect(ok({ ...files, 'package.json': pkg({ scripts: { start: 'node index.js' } }) }).notes.join()).not.toMatch(/no lock file/);
  });

  it('runtime version: engines.node, then .nvmrc, .node-version, .tool-versions, else 22; the request wins', () => {
    const base = { 'package.json': pkg({ scripts: { start: 'node i.js' } }) };
    expect(ok({ 'package.json': pkg({ engines: { node: '>=18 <21' }, scripts: { start: 'node i.js' } }) }).runtime_version).toBe('20');
    expect(ok({ 'package.json': pkg({ engines: { node: '>=20' }, scripts: { start: 'node i.js' } }) }).runtime_version).toBe('24');
    expect(ok({ ...base, '.nvmrc': 'v20.11.1\n' }).runtime_version).toBe('20');
    expect(ok({ ...base, '.node-version': '24' }).runtime_version).toBe('24');
    expect(ok({ ...base, '.tool-versions': 'python 3.12\nnodejs 20.1.0\n' }).runtime_version).toBe('20');
    expect(ok(base).runtime_version).toBe('22');
    expect(ok({ ...base, '.nvmrc': '20' }, { runtime_version: '24' }).runtime_version).toBe('24');
  });

  it.each([
    ['express', 'express'],
    ['fastify', 'fastify'],
    ['koa', 'koa'],
  ])('%s: detected from dependencies', (dep, framework) => {
    const a = ok({ 'package.json': pkg({ dependencies: { [dep]: '1' }, scripts: { start: 'node app.js' } }), 'app.js': 'x.listen(3000)' });
    expect(a.framework).toBe(framework);
    expect(a.notes.join()).toContain('fixed port 3000');
  });

  it('fastify without a host: a note that it listens on localhost', () => {
    const a = ok({
      'package.json': pkg({ dependencies: { fastify: '5' }, scripts: { start: 'node app.js' } }),
      'app.js': 'app.listen({ port: process.env.PORT })',
    });
    expect(a.notes.join()).toMatch(/localhost/);
  });

  it('Nest: build script, start:prod run through the package manager unless it is node', () => {
    const a = ok({
      'package.json': pkg({
        dependencies: { '@nestjs/core': '10' },
        scripts: { build: 'nest build', start: 'nest start', 'start:prod': 'node dist/main' },
      }),
      'package-lock.json': '',
    });
    expect(a).toMatchObject({ framework: 'nest', build_command: 'npm run build', start_argv: ['node', 'dist/main'] });
  });

  it('Next.js: next start on 0.0.0.0, or the standalone server with HOSTNAME', () => {
    const files = { 'package.json': pkg({ dependencies: { next: '15' }, scripts: { build: 'next build', start: 'next start' } }) };
    expect(ok(files)).toMatchObject({
      framework: 'next',
      build_command: 'npm run build',
      start_argv: ['node_modules/.bin/next', 'start', '-H', '0.0.0.0'],
    });
    const standalone = ok({ ...files, 'next.config.mjs': "export default { output: 'standalone' }" });
    expect(standalone).toMatchObject({ start_argv: ['node', '.next/standalone/server.js'], env: { HOSTNAME: '0.0.0.0' } });
  });

  it('Nuxt: the Nitro server output with HOST', () => {
    const a = ok({ 'package.json': pkg({ devDependencies: { nuxt: '3' }, scripts: { build: 'nuxt build' } }) });
    expect(a).toMatchObject({ framework: 'nuxt', start_argv: ['node', '.output/server/index.mjs'], env: { HOST: '0.0.0.0' } });
  });

  it('a start script that is not plain node runs through the package manager; a dev tool is noted', () => {
    const a = ok({ 'package.json': pkg({ scripts: { start: 'tsx src/index.ts' } }), 'pnpm-lock.yaml': '' });
    expect(a.start_argv).toEqual(['pnpm', 'run', 'start']);
    expect(a.notes.join()).toMatch(/tsx, a development tool/);
  });

  it('Procfile web wins over scripts.start, and the request over both; $PORT runs through sh -c exec', () => {
    const files = {
      'package.json': pkg({ scripts: { start: 'node a.js' } }),
      Procfile: 'worker: node w.js\nweb: node web.js --port $PORT\n',
    };
    expect(ok(files)).toMatchObject({
      start_argv: ['sh', '-c', 'exec node web.js --port $PORT'],
      sources: { start_command: 'Procfile web' },
    });
    expect(ok(files, { start_command: 'node other.js' }).start_argv).toEqual(['node', 'other.js']);
  });

  it('no start at all: unsupported, saying what to add', () => {
    const r = analyseSource(reader({ 'package.json': pkg({}) }));
    expect(r).toMatchObject({
      ok: false,
      found: expect.stringContaining('no start command'),
      add: expect.stringContaining('"start" script'),
    });
  });

  it('main, then index.js, when there is no start script', () => {
    expect(ok({ 'package.json': pkg({ main: 'lib/srv.js' }), 'lib/srv.js': '' }).start_argv).toEqual(['node', 'lib/srv.js']);
    expect(ok({ 'package.json': pkg({}), 'index.js': '' }).start_argv).toEqual(['node', 'index.js']);
  });
});

describe('analysis: Python', () => {
  it('FastAPI from requirements.txt: uvicorn on 0.0.0.0:$PORT, found in its module', () => {
    const a = ok({
      'requirements.txt': 'fastapi==0.115.0\nuvicorn[standard]==0.30.0\n',
      'app/main.py': 'from fastapi import FastAPI\napp = FastAPI()\n',
    });
    expect(a).toMatchObject({
      language: 'python',
      framework: 'fastapi',
      package_manager: 'pip',
      runtime_version: '3.12',
      install_command: 'pip install --no-cache-dir -r requirements.txt',
      start_argv: ['sh', '-c', 'exec uvicorn app.main:app --host 0.0.0.0 --port $PORT'],
      port_handling: 'the start command binds 0.0.0.0:$PORT',
    });
  });

  it('Flask with uv: gunicorn module:app, which binds $PORT itself; gunicorn added when missing', () => {
    const a = ok({
      'pyproject.toml': '[project]\nname="x"\nrequires-python=">=3.11"\ndependencies=["flask>=3"]\n',
      'uv.lock': '',
      'web.py': 'from flask import Flask\nserver = Flask(__name__)\n',
    });
    expect(a).toMatchObject({ framework: 'flask', package_manager: 'uv', start_argv: ['gunicorn', 'web:server'], runtime_version: '3.12' });
    expect(a.install_command).toContain('pip install --no-cache-dir gunicorn');
    expect(a.port_handling).toMatch(/gunicorn binds/);
  });

  it('Django with poetry: gunicorn <project>.wsgi and collectstatic', () => {
    const a = ok({
      'pyproject.toml': '[tool.poetry]\nname="x"\n[tool.poetry.dependencies]\npython="^3.11"\ndjango="^5"\ngunicorn="*"\n',
      'poetry.lock': '',
      'manage.py': '',
      'mysite/wsgi.py': '',
    });
    expect(a).toMatchObject({
      framework: 'django',
      package_manager: 'poetry',
      start_argv: ['gunicorn', 'mysite.wsgi'],
      build_command: 'python manage.py collectstatic --noinput',
    });
  });

  it('pipenv, with the Pipfile python_version', () => {
    const a = ok({
      Pipfile: '[packages]\nflask = "*"\n[requires]\npython_version = "3.11"\n',
      'Pipfile.lock': '{}',
      'app.py': 'app = Flask(__name__)',
    });
    expect(a).toMatchObject({
      package_manager: 'pipenv',
      runtime_version: '3.11',
      install_command: expect.stringContaining('pipenv install --deploy'),
    });
  });

  it('plain: python main.py; version from .python-version, then runtime.txt', () => {
    expect(ok({ 'main.py': 'import os\nos.environ["PORT"]', '.python-version': '3.13.1' })).toMatchObject({
      framework: 'plain',
      runtime_version: '3.13',
      start_argv: ['python', 'main.py'],
      port_handling: 'main.py reads PORT',
    });
    expect(ok({ 'requirements.txt': '', 'main.py': 'serve(port=5000)', 'runtime.txt': 'python-3.10.4' })).toMatchObject({
      runtime_version: '3.10',
    });
    expect(ok({ 'requirements.txt': '', 'main.py': 'serve(port=5000)' }).notes.join()).toContain('fixed port 5000');
  });

  it('a Procfile web process wins', () => {
    expect(ok({ 'requirements.txt': 'django', 'manage.py': '', Procfile: 'web: gunicorn proj.wsgi --log-file -' }).start_argv).toEqual([
      'gunicorn',
      'proj.wsgi',
      '--log-file',
      '-',
    ]);
  });

  it('FastAPI with no app object found: unsupported, naming it', () => {
    const r = analyseSource(reader({ 'requirements.txt': 'fastapi' }));
    expect(r).toMatchObject({ ok: false, found: expect.stringContaining('fastapi, but its app object was not found') });
  });
});

describe('analysis: Go', () => {
  it('root main package, version from the go directive, a static build', () => {
    const a = ok({ 'go.mod': 'module example.com/hello\n\ngo 1.22\n', 'main.go': 'package main\nfunc main(){ os.Getenv("PORT") }' });
    expect(a).toMatchObject({
      language: 'go',
      runtime_version: '1.22',
      start_argv: ['./server'],
      port_handling: 'reads os.Getenv("PORT")',
    });
    expect(a.build_command).toBe('CGO_ENABLED=0 go build -trimpath -ldflags=-s -o server .');
  });

  it('cmd/<module name>, then the only cmd/*; several: unsupported, asking which', () => {
    const mod = 'module example.com/svc\ngo 1.23\n';
    expect(ok({ 'go.mod': mod, 'cmd/svc/main.go': 'package main', 'cmd/tool/main.go': 'package main' }).build_command).toContain(
      './cmd/svc',
    );
    expect(ok({ 'go.mod': mod, 'cmd/api/main.go': 'package main', 'internal/x.go': 'package x' }).build_command).toContain('./cmd/api');
    const r = analyseSource(reader({ 'go.mod': mod, 'cmd/a/main.go': 'package main', 'cmd/b/main.go': 'package main' }));
    expect(r).toMatchObject({ ok: false, found: expect.stringContaining('cmd/a, cmd/b') });
  });
});

describe('analysis: what is not recognised', () => {
  it('nothing known and no Dockerfile: says what was found and what to add', () => {
    const r = analyseSource(reader({ 'README.md': '', 'src/main.rs': '', 'Cargo.toml': '' }));
    expect(r).toMatchObject({ ok: false, found: expect.stringContaining('Cargo.toml, README.md, src') });
    if (!r.ok) expect(r.add).toMatch(/package\.json.*go\.mod.*Dockerfile/);
  });

  it('a Dockerfile makes any source buildable, and the stack is still reported', () => {
    expect(ok({ Dockerfile: 'FROM scratch', 'Cargo.toml': '' })).toMatchObject({ language: 'other', dockerfile: 'provided' });
    expect(ok({ Dockerfile: 'FROM node:22', 'package.json': pkg({ scripts: { start: 'node a.js' } }) })).toMatchObject({
      language: 'node',
      dockerfile: 'provided',
    });
  });

  it('build_options.dockerfile that is absent is unsupported', () => {
    expect(analyseSource(reader({ 'package.json': pkg({}) }), { dockerfile: 'deploy/Dockerfile' })).toMatchObject({ ok: false });
  });
});
