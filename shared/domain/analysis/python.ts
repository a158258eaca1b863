import { parse as parseToml } from 'smol-toml';
import { fixedPort, procfileWeb, readsPortEnv, toArgv } from './command.js';
import type { Analysis, BuildOptions, SourceReader, Unsupported } from './schema.js';

/** Python minors Baton builds on (an official `python:<minor>-slim` exists for each). */
export const PYTHON_MINORS = ['3.13', '3.12', '3.11', '3.10'] as const;
export const DEFAULT_PYTHON = '3.12';

type Draft = Omit<Analysis, 'dockerfile'>;
type Toml = Record<string, unknown>;

const has = (r: SourceReader, p: string) => r.paths.includes(p);

function toml(r: SourceReader, file: string, notes: string[]): Toml | null {
  const text = r.read(file);
  if (text === null) return null;
  try {
    return parseToml(text) as Toml;
  } catch (err) {
    notes.push(`${file} is not valid TOML (${err instanceof Error ? err.message.split('\n')[0] : ''}): it was not read`);
    return null;
  }
}

const get = (o: unknown, ...keys: string[]): unknown =>
  keys.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Toml)[k] : undefined), o);

/** The dependency names a project declares, lower-case, in whichever file declares them. */
function dependencyNames(r: SourceReader, pyproject: Toml | null, pipfile: Toml | null): Set<string> {
  const names = new Set<string>();
  const add = (spec: string) => {
    const m = /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(spec);
    if (m) names.add(m[1].toLowerCase().replace(/_/g, '-'));
  };
  for (const line of (r.read('requirements.txt') ?? '').split(/\r?\n/))
    if (!line.trim().startsWith('#') && !line.trim().startsWith('-')) add(line);
  const pep = get(pyproject, 'project', 'dependencies');
  if (Array.isArray(pep)) for (const d of pep) if (typeof d === 'string') add(d);
  for (const table of [get(pyproject, 'tool', 'poetry', 'dependencies'), get(pipfile, 'packages')])
    if (table && typeof table === 'object') for (const k of Object.keys(table)) add(k);
  return names;
}

function pythonVersion(r: SourceReader, pyproject: Toml | null, pipfile: Toml | null, notes: string[]): { version: string; why: string } {
  const pick = (text: string, why: string) => {
    const m = /(\d)\.(\d{1,2})/.exec(text);
    return m ? { version: `${m[1]}.${m[2]}`, why } : null;
  };
  const pinned =
    pick(r.read('.python-version') ?? '', '.python-version') ??
    pick(r.read('runtime.txt') ?? '', 'runtime.txt') ??
    pick(String(get(pipfile, 'requires', 'python_version') ?? ''), 'Pipfile [requires]');
  if (pinned) return pinned;
  const requires = String(get(pyproject, 'project', 'requires-python') ?? get(pyproject, 'tool', 'poetry', 'dependencies', 'python') ?? '');
  if (requires) {
    // The newest supported minor the range allows: the lower bound of `>=3.x`, capped by `<3.y`.
    const lower = /(>=|\^|~=|==)\s*(\d)\.(\d+)/.exec(requires);
    const upper = /<\s*(\d)\.(\d+)/.exec(requires);
    const fits = PYTHON_MINORS.filter((m) => {
      const minor = Number(m.split('.')[1]);
      if (lower && lower[1] === '==' && minor !== Number(lower[3])) return false;
      if (lower && minor < Number(lower[3])) return false;
      if (lower && lower[1] === '^' && minor < Number(lower[3])) return false;
      if (upper && minor >= Number(upper[2])) return false;
      return true;
    });
    if (fits.length > 0) return { version: fits.includes(DEFAULT_PYTHON) ? DEFAULT_PYTHON : fits[0], why: `requires-python ${requires}` };
    notes.push(`requires-python "${requires}" matches none of Python ${PYTHON_MINORS.join(', ')}: building on ${DEFAULT_PYTHON}`);
  }
  return { version: DEFAULT_PYTHON, why: 'default' };
}

/** The module holding `<name> = Framework(...)`, as `module:name`. */
function appObject(r: SourceReader, pattern: RegExp): string | null {
  const candidates = r.paths.filter((p) => p.endsWith('.py') && !p.startsWith('tests/') && !p.includes('/tests/'));
  candidates.sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
  for (const file of candidates) {
    const m = pattern.exec(r.read(file) ?? '');
    if (m)
      return `${file
        .replace(/\.py$/, '')
        .replace(/\/__init__$/, '')
        .split('/')
        .join('.')}:${m[1]}`;
  }
  return null;
}

export function analysePython(r: SourceReader, options: BuildOptions): Draft | Unsupported {
  const notes: string[] = [];
  const sources: Record<string, string> = {};
  const pyproject = toml(r, 'pyproject.toml', notes);
  const pipfile = toml(r, 'Pipfile', notes);
  const deps = dependencyNames(r, pyproject, pipfile);

  let pm: string;
  let install: string;
  let lock: string | null = null;
  if (has(r, 'requirements.txt')) {
    pm = 'pip';
    lock = 'requirements.txt';
    install = 'pip install --no-cache-dir -r requirements.txt';
  } else if (has(r, 'uv.lock')) {
    pm = 'uv';
    lock = 'uv.lock';
    install = 'uv sync --frozen --no-dev --no-install-project';
  } else if (has(r, 'poetry.lock') || get(pyproject, 'tool', 'poetry') !== undefined) {
    pm = 'poetry';
    lock = has(r, 'poetry.lock') ? 'poetry.lock' : null;
    install = 'poetry install --only main --no-root --no-interaction';
  } else if (has(r, 'Pipfile')) {
    pm = 'pipenv';
    lock = has(r, 'Pipfile.lock') ? 'Pipfile.lock' : null;
    install = lock ? 'pipenv install --deploy --system' : 'pipenv install --system';
  } else if (pyproject) {
    pm = 'pip';
    install = 'pip install --no-cache-dir .';
    notes.push(
      'dependencies come from pyproject.toml unlocked (pip install .): commit a lock file (uv.lock, poetry.lock) or a requirements.txt',
    );
  } else {
    pm = 'pip';
    install = '';
    notes.push('no requirements.txt, pyproject.toml or Pipfile: only the standard library is available');
  }
  sources.package_manager = lock ?? (pyproject ? 'pyproject.toml' : 'none');
  const version = options.runtime_version
    ? { version: options.runtime_version.split('.').slice(0, 2).join('.'), why: 'request' }
    : pythonVersion(r, pyproject, pipfile, notes);
  sources.runtime_version = version.why;

  const framework =
    deps.has('django') || has(r, 'manage.py') ? 'django' : deps.has('fastapi') ? 'fastapi' : deps.has('flask') ? 'flask' : 'plain';
  let start: string | null = options.start_command ?? procfileWeb(r.read('Procfile'));
  let port_handling = 'the app must read $PORT';
  let extra: string | null = null;
  if (start) sources.start_command = options.start_command ? 'request' : 'Procfile web';
  else if (framework === 'django') {
    const wsgi = r.paths.find((p) => /^[^/]+\/wsgi\.py$/.test(p));
    if (wsgi) {
      start = `gunicorn ${wsgi.split('/')[0]}.wsgi`;
      sources.start_command = wsgi;
      if (!deps.has('gunicorn')) extra = 'gunicorn';
    }
  } else if (framework === 'fastapi') {
    const app = appObject(r, /^(\w+)\s*(?::\s*\w+\s*)?=\s*FastAPI\(/m);
    if (app) {
      start = `uvicorn ${app} --host 0.0.0.0 --port $PORT`;
      sources.start_command = `${app.split(':')[0]} (FastAPI())`;
      if (!deps.has('uvicorn')) extra = 'uvicorn';
    }
  } else if (framework === 'flask') {
    const app = appObject(r, /^(\w+)\s*=\s*Flask\(/m);
    if (app) {
      start = `gunicorn ${app}`;
      sources.start_command = `${app.split(':')[0]} (Flask())`;
      if (!deps.has('gunicorn')) extra = 'gunicorn';
    }
  }
  if (!start) {
    const main = ['main.py', 'app.py', 'server.py'].find((f) => has(r, f));
    if (main) {
      start = `python ${main}`;
      sources.start_command = main;
    }
  }
  if (!start)
    return {
      found: `a Python project (${[...['requirements.txt', 'pyproject.toml', 'Pipfile', 'uv.lock', 'poetry.lock'].filter((f) => has(r, f))].join(', ') || 'Python files'}) with no start command${framework === 'plain' ? '' : ` (${framework}, but its app object was not found)`}`,
      add: 'a Procfile with "web: …" (e.g. "web: gunicorn app:app"), a main.py, or build_options.start_command',
    };
  if (extra) notes.push(`${extra} is not among the dependencies: the image installs it to serve the app (add it to pin its version)`);
  if (/^gunicorn\b/.test(start) && !/(-b|--bind)\b/.test(start)) port_handling = 'gunicorn binds 0.0.0.0:$PORT when PORT is set';
  else if (/--host\s+0\.0\.0\.0/.test(start) && /\$\{?PORT/.test(start)) port_handling = 'the start command binds 0.0.0.0:$PORT';
  else if (/^python\b/.test(start)) {
    const file = start.split(/\s+/)[1] ?? '';
    const code = r.read(file);
    if (code !== null && readsPortEnv(code)) port_handling = `${file} reads PORT`;
    else if (code !== null) {
      const port = fixedPort(code);
      notes.push(
        port
          ? `${file} listens on the fixed port ${port}: read os.environ["PORT"]`
          : `${file} does not read PORT: the service must listen on $PORT`,
      );
    }
  }
  if (/manage\.py\s+runserver|flask\s+run\b/.test(start)) notes.push('the start command runs a development server: serve with gunicorn');
  const build_command = options.build_command ?? (framework === 'django' ? 'python manage.py collectstatic --noinput' : null);
  return {
    language: 'python',
    framework,
    package_manager: pm,
    runtime_version: version.version,
    build_command,
    start_command: start,
    port_handling,
    notes,
    sources,
    install_command:
      options.install_command ?? ([install, extra ? `pip install --no-cache-dir ${extra}` : ''].filter(Boolean).join(' && ') || null),
    start_argv: toArgv(start),
    env: { PYTHONUNBUFFERED: '1' },
    lock_file: lock,
  };
}
