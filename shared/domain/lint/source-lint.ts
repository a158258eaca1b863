import type { SourceReader } from '../analysis/schema.js';
import type { Severity } from '../job.js';
import { CONFIG_FILES, fails, type LintConfig, LintConfigSchema, type LintFinding, lintDockerfile, parseLintConfig } from './lint.js';
import type { Level } from './rules.js';

/** A source's lint configuration: baton.lint.json, else .hadolint.yaml/.yml, else the defaults. */
export function lintConfigOf(r: SourceReader): { config: LintConfig; file: string | null; error: string | null } {
  for (const file of CONFIG_FILES) {
    const text = r.read(file);
    if (text === null) continue;
    const parsed = parseLintConfig(file, text);
    return parsed.ok ? { config: parsed.config, file, error: null } : { config: LintConfigSchema.parse({}), file, error: parsed.error };
  }
  return { config: LintConfigSchema.parse({}), file: null, error: null };
}

/** Lints a Dockerfile (the source's or the generated one) with the source's files and config. */
export function lintSourceDockerfile(
  r: SourceReader,
  file: string,
  text: string,
): { findings: LintFinding[]; config: LintConfig; configError: string | null } {
  const { config, error } = lintConfigOf(r);
  return { findings: lintDockerfile({ file, text, files: r.paths, read: (p) => r.read(p), config }), config, configError: error };
}

/** A finding as validation_results carry it: errors (past the failure threshold) block at every level; the rest report. */
export function findingSeverity(f: LintFinding, config: LintConfig): Severity {
  if (fails(f, config)) return 'critical';
  const by: Record<Level, Severity> = { error: 'critical', warning: 'low', info: 'info', style: 'info' };
  return f.level === 'error' ? 'low' : by[f.level];
}
