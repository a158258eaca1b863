import { analyseGo } from './go.js';
import { analyseNode } from './node.js';
import { analysePython } from './python.js';
import type { Analysis, BuildOptions, SourceReader, Unsupported } from './schema.js';

export type AnalysisResult = { ok: true; analysis: Analysis } | ({ ok: false } & Unsupported);

const PYTHON_MARKERS = ['requirements.txt', 'pyproject.toml', 'Pipfile', 'uv.lock', 'poetry.lock', 'setup.py', 'manage.py'];

/**
 * What a source is and how it builds and starts, from its files alone (pure). Detection order:
 * the request's language, else package.json (Node), go.mod (Go), Python's manifests or a
 * main.py/app.py; a Dockerfile in the source is used as it is (`dockerfile: provided`), and the
 * stack is still reported when one is recognised. Nothing recognised and no Dockerfile: what was
 * found and what to add.
 */
export function analyseSource(r: SourceReader, options: BuildOptions = {}): AnalysisResult {
  const dockerfilePath = options.dockerfile ?? 'Dockerfile';
  const provided = r.paths.includes(dockerfilePath);
  if (options.dockerfile && !provided)
    return {
      ok: false,
      found: `no ${options.dockerfile} in the source`,
      add: `${options.dockerfile}, or leave build_options.dockerfile out`,
    };
  const language =
    options.language ??
    (r.paths.includes('package.json')
      ? 'node'
      : r.paths.includes('go.mod')
        ? 'go'
        : PYTHON_MARKERS.some((m) => r.paths.includes(m)) || ['main.py', 'app.py'].some((m) => r.paths.includes(m))
          ? 'python'
          : null);
  const draft =
    language === 'node'
      ? analyseNode(r, options)
      : language === 'go'
        ? analyseGo(r, options)
        : language === 'python'
          ? analysePython(r, options)
          : null;
  if (draft && 'language' in draft) return { ok: true, analysis: { ...draft, dockerfile: provided ? 'provided' : 'generated' } };
  if (provided)
    return {
      ok: true,
      analysis: {
        language: 'other',
        framework: 'dockerfile',
        package_manager: 'dockerfile',
        runtime_version: 'from the Dockerfile',
        build_command: null,
        start_command: 'the Dockerfile CMD',
        port_handling: 'the Dockerfile decides: the service must listen on $PORT',
        dockerfile: 'provided',
        notes: draft ? [`${draft.found}: the Dockerfile is used as it is`] : [],
        sources: { dockerfile: dockerfilePath },
        install_command: null,
        start_argv: [],
        env: {},
        lock_file: null,
      },
    };
  if (draft) return { ok: false, ...draft };
  const top = [...new Set(r.paths.map((p) => p.split('/')[0]))].sort();
  return {
    ok: false,
    found:
      top.length === 0
        ? 'an empty source'
        : `${top.slice(0, 12).join(', ')}${top.length > 12 ? ` and ${top.length - 12} more` : ''}, but no package.json, go.mod, requirements.txt, pyproject.toml, Pipfile or main.py`,
    add: 'a package.json with a "start" script (Node), a requirements.txt or pyproject.toml with a Procfile or main.py (Python), a go.mod with a main package (Go), or a Dockerfile',
  };
}

export type { Analysis, BuildOptions, SourceReader } from './schema.js';
