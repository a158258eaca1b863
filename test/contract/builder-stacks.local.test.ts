import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { extractTarGz } from '../../shared/adapters/local/archive.js';
import { IMAGE_CONFIG, ImageConfigSchema } from '../../shared/adapters/local/image-config.js';
import { executables } from '../../shared/adapters/local/toolchains.js';
import { analyseSource } from '../../shared/domain/analysis/analyse.js';
import type { Analysis } from '../../shared/domain/analysis/schema.js';
import type { BuildNotification } from '../../shared/domain/events.js';
import { STACKS } from '../support/corpus.js';
import { localBuilder } from '../support/local-builder.js';
import { flaskApp, type PythonApp, plainPythonApp } from '../support/python-apps.js';
import { reader } from '../support/source-reader.js';
import { TempDirs, waitFor } from './suites/util.js';

/**
 * The local builder's Python and Go builds, on this machine's own toolchains: a virtualenv made
 * by `python3 -m venv --copies`, pip installing from requirements.txt (no network: the standard
 * library only, or wheels the test packs, see test/support/python-apps.ts for what that leaves
 * unproven), the artifact's image config, the venv still working once unpacked elsewhere; and what
 * the builder says when a toolchain or a lock file's tool is missing. A Python without ensurepip
 * is made from this machine's own: a wrapper running it with a PYTHONPATH where `ensurepip` does
 * not import, as on Debian without python3-venv (whose venv then prints its own words: not seen
 * here). Go is built only when a `go` is on the PATH (none on this machine: only the refusal runs).
 */
const temp = new TempDirs();
afterEach(() => temp.removeAll());
afterAll(() => {
  if (sharedCache) rmSync(sharedCache, { recursive: true, force: true });
});

const CAPS = { maxBytes: 50 * 1024 * 1024, maxFiles: 20_000 };
const HAS_GO = executables('go', process.env.PATH ?? '').length > 0;

/** One package cache for the file, as a stack keeps one: the virtualenv seed is made once. */
let sharedCache: string | null = null;

function harness(path?: string) {
  const root = temp.make('stack-builds');
  sharedCache ??= mkdtempSync(join(tmpdir(), 'baton-contract-stack-cache-'));
  const { blobs, logs, builder, ended, upload, stop } = localBuilder(root, CAPS, {
    cacheDir: sharedCache,
    timeoutMs: 120_000,
    ...(path ? { path } : {}),
  });
  return {
    builder,
    root,
    /** Builds the files as the analysis of them says; resolves with the terminal notification. */
    async build(
      app: PythonApp | Record<string, string>,
      id: string,
    ): Promise<{ done: BuildNotification; analysis: Analysis; log: string }> {
      const files =
        'files' in app && typeof app.files === 'object' ? (app as PythonApp) : { files: app as Record<string, string>, binary: {} };
      const src = temp.make('src');
      for (const [rel, text] of Object.entries({ ...files.files, ...files.binary })) {
        mkdirSync(dirname(join(src, rel)), { recursive: true });
        writeFileSync(join(src, rel), text);
      }
      const result = analyseSource(reader(files.files));
      if (!result.ok) throw new Error(`not analysed: ${result.found}`);
      const key = await upload(src, `sources/t/${id}.tar.gz`);
      const { build_id } = await builder.submit({
        deployment_id: id,
        agent_id: 'stacks',
        source_key: key,
        tags: [],
        substitutions: {},
        analysis: result.analysis,
      });
      const done = await waitFor(`build ${id} ends`, () => ended(build_id, ['SUCCESS', 'FAILURE', 'TIMEOUT']), 120_000);
      return { done, analysis: result.analysis, log: (await logs.read('stacks', id)) ?? '' };
    },
    /** The artifact unpacked in a folder of its own (where a revision would run it). */
    async unpack(done: BuildNotification): Promise<string> {
      const image = done.results?.images?.[0];
      if (!image) throw new Error('no image');
      const dest = join(temp.make('unpacked'), 'elsewhere', 'app');
      await extractTarGz(blobs.pathOf(image.name), dest, CAPS);
      return dest;
    },
    async close() {
      await stop();
      await rm(root, { recursive: true, force: true });
    },
  };
}

// A virtualenv takes ensurepip seconds of CPU to make once, far more on a loaded machine.
describe('LocalBuilder: Python', { timeout: 180_000 }, () => {
  it('python3 -m venv works on this machine (the builds below depend on it; ensurepip is exercised by them)', () => {
    const dir = temp.make('venv-check');
    execFileSync('python3', ['-m', 'venv', '--copies', '--without-pip', join(dir, 'v')]);
    expect(
      execFileSync(join(dir, 'v', 'bin', 'python'), ['-c', 'import sys; print(sys.prefix != sys.base_prefix)'], { encoding: 'utf8' }),
    ).toBe('True\n');
  });

  it('a standard-library app: a virtualenv in .venv, nothing installed, started with the venv python', async () => {
    const h = harness();
    try {
      const { done, log } = await h.build(plainPythonApp(), 'py-plain');
      expect(done.status, log).toBe('SUCCESS');
      expect(log).toMatch(/build: Python 3\.\d+\.\d+ \(/);
      // The first build per interpreter makes the seed, the others copy it.
      expect(log).toMatch(
        /-m venv --copies '.*python-venvs\/3\.\d+\.\d+-[0-9a-f]{12}\.making-|virtualenv: a copy of the one made with .* -m venv --copies/,
      );
      expect(log).toContain('$ pip install --no-cache-dir -r requirements.txt');
      const app = await h.unpack(done);
      const config = ImageConfigSchema.parse(JSON.parse(readFileSync(join(app, IMAGE_CONFIG), 'utf8')));
      expect(config).toEqual({
        language: 'python',
        argv: ['python', 'main.py'],
        env: { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
        path: ['.venv/bin'],
        virtual_env: '.venv',
      });
      // The interpreter is a copy, not a link out of the folder, and still runs from where it was unpacked.
      const prefix = execFileSync(join(app, '.venv', 'bin', 'python'), ['-c', 'import sys; print(sys.prefix)'], {
        encoding: 'utf8',
      }).trim();
      expect(prefix).toBe(join(app, '.venv'));
    } finally {
      await h.close();
    }
  });

  it('Flask-shaped with gunicorn from local wheels: pip installs into the venv, the console scripts work once unpacked elsewhere, gunicorn binds through --bind', async () => {
    const h = harness();
    try {
      const { done, log, analysis } = await h.build(flaskApp(), 'py-flask');
      expect(done.status, log).toBe('SUCCESS');
      expect(analysis).toMatchObject({ language: 'python', framework: 'flask', package_manager: 'pip', start_command: 'gunicorn app:app' });
      expect(log).toMatch(/Successfully installed flask-3\.0\.0 gunicorn-23\.0\.0/);
      const app = await h.unpack(done);
      const config = ImageConfigSchema.parse(JSON.parse(readFileSync(join(app, IMAGE_CONFIG), 'utf8')));
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions, not a template
      expect(config.argv).toEqual(['sh', '-c', 'exec gunicorn --bind ${BATON_LISTEN_HOST:-0.0.0.0}:${PORT:-8080} app:app']);
      const gunicorn = readFileSync(join(app, '.venv', 'bin', 'gunicorn'), 'utf8');
      expect(gunicorn.split('\n')[0]).toBe('#!/bin/sh');
      expect(gunicorn).not.toContain(h.root);
      // pip's own script, from the unpacked folder: its python is the one beside it.
      const pip = execFileSync(join(app, '.venv', 'bin', 'pip'), ['--version'], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
      expect(pip).toContain(join(app, '.venv'));
    } finally {
      await h.close();
    }
  });

  it('a Python without ensurepip (no python3-venv): refused in validating and in the build, naming the package to install', async () => {
    const tools = temp.make('no-ensurepip');
    const shadow = join(tools, 'shadow', 'ensurepip');
    mkdirSync(shadow, { recursive: true });
    writeFileSync(join(shadow, '__init__.py'), 'raise ModuleNotFoundError("No module named \'ensurepip\'")\n');
    // The machine's system Python (a pyenv one under /root would be passed over when tests run as root).
    const real = executables('python3', '/usr/local/bin:/usr/bin')[0];
    writeFileSync(join(tools, 'python3'), `#!/bin/sh\nPYTHONPATH=${join(tools, 'shadow')} exec ${real} "$@"\n`);
    chmodSync(join(tools, 'python3'), 0o755);
    const h = harness(tools);
    try {
      const app = plainPythonApp();
      const analysis = analyseSource(reader(app.files));
      if (!analysis.ok) throw new Error('not analysed');
      const missing = await h.builder.missingTools(analysis.analysis);
      expect(missing).toMatch(/^Python 3\.\d+\.\d+ \(.*\) lacks the ensurepip module, so "python3 -m venv" cannot make the virtualenv/);
      expect(missing).toMatch(/apt-get install python3\.\d+-venv/);
      const { done } = await h.build(app, 'py-no-venv');
      expect(done.status).toBe('FAILURE');
      expect(done.failureInfo?.detail).toBe(missing);
    } finally {
      await h.close();
    }
  });

  it.each([
    ['uv', 'python-flask-uv', /uv\.lock names uv, which is not on the PATH .* install uv \(https:\/\/docs\.astral\.sh\/uv\/.*uv export/],
    ['poetry', 'python-django-poetry', /poetry\.lock names poetry, which is not on the PATH .*install Poetry.*poetry export/],
    ['pipenv', 'python-pipenv-plain', /Pipfile\.lock names pipenv, which is not on the PATH .*install pipenv.*pipenv requirements/],
  ])('a %s project on a machine without %s: says what is missing and what to install', async (_tool, name, message) => {
    // Only this machine's system Python on the PATH: none of the three tools is there.
    const h = harness('/usr/bin:/bin');
    try {
      const analysis = analyseSource(reader(STACKS[name]));
      if (!analysis.ok) throw new Error('not analysed');
      expect(await h.builder.missingTools(analysis.analysis)).toMatch(message);
    } finally {
      await h.close();
    }
  });
});

describe('LocalBuilder: Go', () => {
  const app = {
    'go.mod': 'module example.com/hello\n\ngo 1.21\n',
    'main.go':
      'package main\n\nimport (\n\t"fmt"\n\t"net/http"\n\t"os"\n)\n\nfunc main() {\n\thttp.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello go") })\n\thttp.ListenAndServe(":"+os.Getenv("PORT"), nil)\n}\n',
  };

  it('no Go toolchain on the PATH: refused in validating and in the build, naming what to install', async () => {
    const h = harness(temp.make('no-go'));
    try {
      const analysis = analyseSource(reader(app));
      if (!analysis.ok) throw new Error('not analysed');
      const missing = await h.builder.missingTools(analysis.analysis);
      expect(missing).toMatch(
        /^This is a Go module \(go 1\.21\) and no Go toolchain is on the PATH .*Install Go 1\.21 or newer \(https:\/\/go\.dev\/dl\/, or on Debian or Ubuntu "apt-get install golang-go"\)/,
      );
      const { done } = await h.build(app, 'go-none');
      expect(done.status).toBe('FAILURE');
      expect(done.failureInfo?.detail).toBe(missing);
    } finally {
      await h.close();
    }
  });

  it.skipIf(!HAS_GO)('with Go on the PATH: go build makes ./server, the image config starts it', async () => {
    const h = harness();
    try {
      const { done, log } = await h.build(app, 'go-build');
      expect(done.status, log).toBe('SUCCESS');
      const dir = await h.unpack(done);
      expect(ImageConfigSchema.parse(JSON.parse(readFileSync(join(dir, IMAGE_CONFIG), 'utf8'))).argv).toEqual(['./server']);
    } finally {
      await h.close();
    }
  });
});
