import { fixedPort, procfileWeb, readsPortEnv, toArgv } from './command.js';
import type { Analysis, BuildOptions, SourceReader, Unsupported } from './schema.js';

export const DEFAULT_GO = '1.23';

type Draft = Omit<Analysis, 'dockerfile'>;

/** The main package to build: the root's, else cmd/<module name>, else the only cmd/*. */
function mainPackage(r: SourceReader, module: string): string | null | string[] {
  const isMain = (file: string) => /^package\s+main\b/m.test(r.read(file) ?? '');
  const dirs = new Map<string, boolean>();
  for (const p of r.paths) {
    if (!p.endsWith('.go') || p.endsWith('_test.go')) continue;
    const dir = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '.';
    if (isMain(p)) dirs.set(dir, true);
  }
  if (dirs.has('.')) return '.';
  const cmds = [...dirs.keys()].filter((d) => /^cmd\/[^/]+$/.test(d));
  const named = `cmd/${module.split('/').pop()}`;
  if (cmds.includes(named)) return named;
  if (cmds.length === 1) return cmds[0];
  if (cmds.length > 1) return cmds.sort();
  const all = [...dirs.keys()];
  return all.length === 1 ? all[0] : null;
}

export function analyseGo(r: SourceReader, options: BuildOptions): Draft | Unsupported {
  const notes: string[] = [];
  const sources: Record<string, string> = {};
  const mod = r.read('go.mod') ?? '';
  const module = /^module\s+(\S+)/m.exec(mod)?.[1] ?? 'app';
  const directive = /^go\s+(\d+\.\d+)/m.exec(mod)?.[1];
  const version = options.runtime_version ?? directive ?? DEFAULT_GO;
  sources.runtime_version = options.runtime_version ? 'request' : directive ? 'go.mod go directive' : 'default';
  const pkg = mainPackage(r, module);
  if (Array.isArray(pkg))
    return {
      found: `a Go module (${module}) with several commands: ${pkg.join(', ')}`,
      add: `build_options.build_command naming one (e.g. "go build -o /app/server ./${pkg[0]}")`,
    };
  if (pkg === null && !options.build_command)
    return {
      found: `a Go module (${module}) with no main package`,
      add: 'a main package (package main with func main) at the root or in cmd/<name>',
    };
  const target = pkg === '.' || pkg === null ? '.' : `./${pkg}`;
  sources.build_command = pkg === '.' ? 'main package at the root' : `main package in ${pkg}`;
  const build_command = options.build_command ?? `CGO_ENABLED=0 go build -trimpath -ldflags=-s -o server ${target}`;
  const start = options.start_command ?? procfileWeb(r.read('Procfile')) ?? './server';
  if (options.start_command || procfileWeb(r.read('Procfile'))) sources.start_command = options.start_command ? 'request' : 'Procfile web';
  let port_handling = 'the app must read $PORT';
  const code = r.paths
    .filter((p) => p.endsWith('.go') && (pkg === '.' ? !p.includes('/') : p.startsWith(`${pkg}/`)))
    .map((p) => r.read(p) ?? '')
    .join('\n');
  if (readsPortEnv(code)) port_handling = 'reads os.Getenv("PORT")';
  else {
    const port = fixedPort(code);
    notes.push(
      port
        ? `the main package listens on the fixed port ${port}: read os.Getenv("PORT")`
        : 'the main package does not read PORT: the service must listen on $PORT',
    );
  }
  if (!r.paths.includes('go.sum') && /^require\b/m.test(mod)) notes.push('go.mod requires modules but there is no go.sum: commit it');
  return {
    language: 'go',
    framework: 'plain',
    package_manager: 'go',
    runtime_version: version,
    build_command,
    start_command: start,
    port_handling,
    notes,
    sources,
    install_command: options.install_command ?? 'go mod download',
    start_argv: toArgv(start),
    env: {},
    lock_file: r.paths.includes('go.sum') ? 'go.sum' : null,
  };
}
