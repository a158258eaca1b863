import { z } from 'zod';

/**
 * What Baton found in a source, reported on the job as `analysis` (issue 11's field names), with
 * the plan the Dockerfile generator and the local builder follow beside it (install_command,
 * start_argv, env). Pure data: analyse() (./analyse.ts) makes it from a file listing and contents.
 */
export const AnalysisSchema = z.object({
  language: z.enum(['node', 'python', 'go', 'other']),
  /** express | fastify | koa | nest | next | nuxt | fastapi | flask | django | plain | dockerfile */
  framework: z.string(),
  /** npm | pnpm | yarn | bun | pip | uv | poetry | pipenv | go | dockerfile */
  package_manager: z.string(),
  /** The runtime's version the image is built on: a Node major ("22"), a Python minor ("3.12"), a Go minor ("1.22"). */
  runtime_version: z.string(),
  build_command: z.string().nullable(),
  start_command: z.string(),
  /** How the service comes to listen on 0.0.0.0:$PORT. */
  port_handling: z.string(),
  dockerfile: z.enum(['provided', 'generated']),
  notes: z.array(z.string()),
  /** Where each decision came from ("start_command: Procfile web"), for the curious and for tests. */
  sources: z.record(z.string(), z.string()).default({}),
  install_command: z.string().nullable(),
  /** The start command as the exec-form CMD runs it (a shell only where the command needs one). */
  start_argv: z.array(z.string()),
  /** Environment the start needs (HOSTNAME=0.0.0.0 for Next standalone, HOST for Nuxt …). */
  env: z.record(z.string(), z.string()).default({}),
  /** The lock file dependencies are installed from (null: none, so not reproducible). */
  lock_file: z.string().nullable(),
});
export type Analysis = z.infer<typeof AnalysisSchema>;

/** Explicit settings in the request: each wins over what analysis would pick. */
export const BuildOptionsSchema = z.strictObject({
  start_command: z.string().min(1).max(2000).optional(),
  build_command: z.string().min(1).max(2000).optional(),
  install_command: z.string().min(1).max(2000).optional(),
  runtime_version: z
    .string()
    .regex(/^\d+(\.\d+){0,2}$/, 'must be a version such as 22, 3.12 or 1.22')
    .optional(),
  language: z.enum(['node', 'python', 'go']).optional(),
  /** The Dockerfile's path in the source (default: Dockerfile). */
  dockerfile: z
    .string()
    .min(1)
    .max(512)
    .regex(/^(?!\/)(?!.*\.\.)[A-Za-z0-9._/-]+$/, 'must be a relative path inside the source')
    .optional(),
});
export type BuildOptions = z.infer<typeof BuildOptionsSchema>;

/**
 * The source as analysis sees it (the reader port): every file's path ('/'-separated, relative
 * to the app's root) and the contents of those the adapter loaded (small text files: manifests,
 * lock files' presence, entry points). `read` returns null for a file not loaded or absent.
 */
export interface SourceReader {
  readonly paths: readonly string[];
  read(path: string): string | null;
}

/** Files whose contents analysis and the lint read; an adapter loads these (and small sources). */
export function wantsContent(path: string, size: number): boolean {
  if (size > 256 * 1024) return false;
  const name = path.split('/').pop() ?? path;
  const depth = path.split('/').length;
  if (MANIFESTS.has(name) && depth <= 3) return true;
  if (/^Dockerfile(\..+)?$|\.dockerfile$/i.test(name)) return true;
  return depth <= 4 && size <= 64 * 1024 && /\.(m?js|cjs|ts|mts|py|go|sh)$/.test(name) && !path.includes('node_modules/');
}

const MANIFESTS = new Set([
  'package.json',
  '.nvmrc',
  '.node-version',
  '.tool-versions',
  '.python-version',
  'runtime.txt',
  'requirements.txt',
  'pyproject.toml',
  'Pipfile',
  'go.mod',
  'Procfile',
  '.dockerignore',
  'next.config.js',
  'next.config.mjs',
  'next.config.ts',
  'nuxt.config.ts',
  'nuxt.config.js',
  'manage.py',
  'wsgi.py',
  'asgi.py',
  '.yarnrc.yml',
  'baton.lint.json',
  '.hadolint.yaml',
  '.hadolint.yml',
]);

/** The repository cannot be deployed as it is: what was found, and what to add. */
export interface Unsupported {
  found: string;
  add: string;
}
