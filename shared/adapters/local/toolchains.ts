import { execFile } from 'node:child_process';
import { accessSync, constants, realpathSync } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import type { Analysis } from '../../domain/analysis/schema.js';

/**
 * What the local builder needs on the machine to build a stack natively, found on the PATH builds
 * run with: a Python that can make a virtualenv (its `venv` and `ensurepip` modules, which Debian
 * and Ubuntu ship apart as python3-venv), the tool a Python lock file names (uv, poetry, pipenv),
 * and a Go toolchain. Each lookup says what is missing and what to install.
 */

export interface PythonChoice {
  /** The interpreter, its real path. */
  path: string;
  version: string;
  /** Said in the build log: a version other than the one asked for, and why this one. */
  note: string | null;
}

export type Found<T> = { ok: true; value: T } | { ok: false; problem: string };

const run = (file: string, args: string[], path: string, timeoutMs = 10_000) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(file, args, { timeout: timeoutMs, encoding: 'utf8', env: { PATH: path, LC_ALL: 'C.UTF-8' } }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) }),
    );
  });

/** Every executable named `tool` on `path`, in order, by real path (each once). */
export function executables(tool: string, path: string): string[] {
  const out: string[] = [];
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, tool), constants.X_OK);
      const real = realpathSync(join(dir, tool));
      if (!out.includes(real)) out.push(real);
    } catch {
      // not there
    }
  }
  return out;
}

const PROBE = [
  'import importlib, sys, sysconfig',
  'def can(m):',
  '    try:',
  '        importlib.import_module(m)',
  '        return 1',
  '    except Exception:',
  '        return 0',
  'print("%d.%d.%d" % sys.version_info[:3])',
  'print(sys.executable)',
  'print(sys.base_prefix)',
  'print(sysconfig.get_config_var("LIBDIR") or "")',
  'print(can("venv"))',
  'print(can("ensurepip"))',
].join('\n');

interface Probe {
  version: string;
  executable: string;
  /** Folders the interpreter reads at start (its prefix, its libpython). */
  reads: string[];
  venv: boolean;
  ensurepip: boolean;
}

async function probe(file: string, path: string): Promise<Probe | null> {
  const r = await run(file, ['-c', PROBE], path);
  if (r.code !== 0) return null;
  const [version, executable, prefix, libdir, venv, ensurepip] = r.stdout.trim().split('\n');
  if (!version || !executable) return null;
  return {
    version,
    executable: realpathSync(executable),
    reads: [prefix, libdir].filter((d): d is string => !!d),
    venv: venv === '1',
    ensurepip: ensurepip === '1',
  };
}

/** The first folder on the way to `path` (itself included) that others may not traverse, or null. */
export async function closedToOthers(path: string): Promise<string | null> {
  for (let at = dirname(path); ; at = dirname(at)) {
    const info = await stat(at).catch(() => null);
    if (info && !(info.mode & 0o001)) return `${at} (mode ${(info.mode & 0o777).toString(8)})`;
    if (at === dirname(at)) return null;
  }
}

const apt = (minor: string) => `python${minor}-venv`;

/**
 * The Python a virtualenv is made with, for the minor `want` (e.g. "3.12"): `python<want>`, else
 * `python3`, the first on the build's PATH that can make a virtualenv. One that revisions, run as
 * another user, could not run (it lives under a folder only its owner may enter, such as
 * /root/.pyenv) is passed over, and so is one without venv/ensurepip while another will do. The
 * venv's interpreter is a copy of this one and reads its standard library from where it is
 * installed, so a revision needs no Python on its own PATH.
 */
export async function findPython(want: string, buildPath: string, othersRun: boolean): Promise<Found<PythonChoice>> {
  const where = buildPath;
  const names = [`python${want}`, 'python3'];
  const passed: string[] = [];
  let noVenv: { file: string; p: Probe } | null = null;
  for (const name of names) {
    for (const file of executables(name, where)) {
      const p = await probe(file, buildPath);
      if (!p) continue;
      if (othersRun) {
        const closed = (await closedToOthers(p.executable)) ?? (await Promise.all(p.reads.map(closedToOthers))).find(Boolean) ?? null;
        if (closed) {
          passed.push(`${file} (Python ${p.version}: under ${closed}, which revisions, run as another user, cannot enter)`);
          continue;
        }
      }
      if (!p.venv || !p.ensurepip) {
        noVenv ??= { file, p };
        continue;
      }
      const minor = p.version.split('.').slice(0, 2).join('.');
      return {
        ok: true,
        value: {
          path: p.executable,
          version: p.version,
          note:
            minor === want
              ? null
              : `Python ${want} is not installed here: building on Python ${p.version} (${file}). Install python${want} (with its venv module) to build on the version the image uses`,
        },
      };
    }
  }
  if (noVenv) {
    const minor = noVenv.p.version.split('.').slice(0, 2).join('.');
    const missing = noVenv.p.venv ? 'the ensurepip module' : 'the venv module';
    return {
      ok: false,
      problem: `Python ${noVenv.p.version} (${noVenv.file}) lacks ${missing}, so "python3 -m venv" cannot make the virtualenv the build installs into. Install it: on Debian or Ubuntu "apt-get install ${apt(minor)}" (or python3-venv)`,
    };
  }
  if (passed.length > 0)
    return {
      ok: false,
      problem: `No Python the revisions can run: ${passed.join('; ')}. Install Python system-wide (on Debian or Ubuntu "apt-get install python3 python3-venv"), or run Baton as a user other than root so revisions run as that user`,
    };
  return {
    ok: false,
    problem: `No python${want} or python3 on the PATH of the machine running Baton (${where}). Install Python ${want} with its venv module (on Debian or Ubuntu "apt-get install python3 python3-venv")`,
  };
}

/** How to install each tool a Python lock file names. */
export const PYTHON_TOOLS: Record<string, { install: string; instead: string }> = {
  uv: {
    install: 'install uv (https://docs.astral.sh/uv/: "pipx install uv" or "pip install uv")',
    instead: 'or commit a requirements.txt ("uv export --no-dev --frozen > requirements.txt")',
  },
  poetry: {
    install: 'install Poetry (https://python-poetry.org/docs/#installation: "pipx install poetry")',
    instead: 'or commit a requirements.txt ("poetry export --only main > requirements.txt", poetry-plugin-export)',
  },
  pipenv: {
    install: 'install pipenv ("pipx install pipenv" or "pip install pipenv")',
    instead: 'or commit a requirements.txt ("pipenv requirements > requirements.txt")',
  },
};

/** The Go toolchain on the build's PATH: its version, or what to install. */
export async function findGo(want: string, buildPath: string): Promise<Found<{ path: string; version: string }>> {
  for (const file of executables('go', buildPath)) {
    const r = await run(file, ['env', 'GOVERSION'], buildPath);
    if (r.code === 0) return { ok: true, value: { path: file, version: r.stdout.trim().replace(/^go/, '') } };
  }
  return {
    ok: false,
    problem: `This is a Go module (go ${want}) and no Go toolchain is on the PATH of the machine running Baton, which builds Go services natively with "go build". Install Go ${want} or newer (https://go.dev/dl/, or on Debian or Ubuntu "apt-get install golang-go"), or deploy to the gcp target, which builds the generated Dockerfile`,
  };
}

/**
 * What the machine lacks to build this analysis natively, or null: the local target's answer to
 * "can this be built here", asked in validating so a deployment that cannot build fails before
 * anything is queued for a build.
 */
export async function missingForLocalBuild(a: Analysis, buildPath: string, othersRun: boolean): Promise<string | null> {
  if (a.language === 'other')
    return 'The local target builds Node, Python and Go services natively and does not run Docker builds: this source has only a Dockerfile. Add a package.json, requirements.txt/pyproject.toml or go.mod Baton recognises, or deploy to the gcp target';
  if (a.language === 'go') {
    const go = await findGo(a.runtime_version, buildPath);
    return go.ok ? null : go.problem;
  }
  if (a.language !== 'python') return null;
  const py = await findPython(a.runtime_version, buildPath, othersRun);
  if (!py.ok) return py.problem;
  const tool = PYTHON_TOOLS[a.package_manager];
  if (tool && a.install_command && executables(a.package_manager, buildPath).length === 0) {
    const lock = a.lock_file ?? 'pyproject.toml';
    return `${lock} names ${a.package_manager}, which is not on the PATH of the machine running Baton (the build runs "${a.install_command}"): ${tool.install}, ${tool.instead}`;
  }
  return null;
}

/**
 * Makes a virtualenv's console scripts (pip, gunicorn …) start with whichever python sits beside
 * them instead of the absolute path pip wrote, so the venv still works once the built folder is
 * unpacked somewhere else (a revision's own folder). pip writes either `#!<venv>/bin/python` or,
 * for a long path, a `/bin/sh` trampoline exec'ing it; both become the trampoline pointed at the
 * script's own folder. Returns how many scripts were rewritten.
 */
export async function relocateVenvScripts(venv: string): Promise<number> {
  const bin = join(venv, 'bin');
  const esc = bin.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const direct = new RegExp(`^#!${esc}/(python[\\d.]*)[ \\t]*\\n`);
  // pip quotes the path only when it has to (spaces): `'''exec' /long/path/bin/python3.11 "$0" "$@"`.
  const viaSh = new RegExp(`^#!/bin/sh\\n'''exec' "?${esc}/(python[\\d.]*)"? "\\$0" "\\$@"\\n' '''\\n`);
  let n = 0;
  for (const name of await readdir(bin)) {
    const file = join(bin, name);
    const info = await stat(file);
    if (!info.isFile() || info.size > 1024 * 1024) continue;
    const text = await readFile(file, 'utf8').catch(() => null);
    const m = text === null ? null : (direct.exec(text) ?? viaSh.exec(text));
    if (!text || !m) continue;
    const trampoline = `#!/bin/sh\n'''exec' "$(dirname -- "$0")/${m[1]}" "$0" "$@"\n' '''\n`;
    await writeFile(file, trampoline + text.slice(m[0].length), { mode: info.mode });
    n++;
  }
  return n;
}
