import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDockerfile } from './model.js';
import { type Level, RULES, type Rule } from './rules.js';
import { SEED_RULES } from './seed-rules.js';

export const ALL_RULES: readonly Rule[] = [...RULES, ...SEED_RULES];

export interface LintFinding {
  file: string;
  line: number;
  column: number;
  level: Level;
  code: string;
  message: string;
  fix: string;
}

/**
 * The lint's configuration, hadolint's keys: `ignored` rule codes, `override` of levels,
 * `failure-threshold` (the level from which a finding fails: error by default) and
 * `trustedRegistries`. Read from baton.lint.json, else .hadolint.yaml/.yml, in the source.
 */
export const LintConfigSchema = z
  .object({
    ignored: z.array(z.string()).default([]),
    override: z
      .object({
        error: z.array(z.string()).default([]),
        warning: z.array(z.string()).default([]),
        info: z.array(z.string()).default([]),
        style: z.array(z.string()).default([]),
      })
      .partial()
      .default({}),
    'failure-threshold': z.enum(['error', 'warning', 'info', 'style', 'none']).default('error'),
    trustedRegistries: z.array(z.string()).default([]),
  })
  .loose();
export type LintConfig = z.infer<typeof LintConfigSchema>;

export const CONFIG_FILES = ['baton.lint.json', '.hadolint.yaml', '.hadolint.yml'] as const;

/** Cloud Run ignores HEALTHCHECK (DL3057 is not run); these are advice, not faults, so info. */
const DEFAULT_LEVELS: Record<string, Level> = {};

export function parseLintConfig(name: string, text: string): { ok: true; config: LintConfig } | { ok: false; error: string } {
  try {
    const raw: unknown = name.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
    const parsed = LintConfigSchema.safeParse(raw ?? {});
    if (!parsed.success)
      return { ok: false, error: `${name}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}` };
    return { ok: true, config: parsed.data };
  } catch (err) {
    return { ok: false, error: `${name} cannot be read: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` };
  }
}

const LEVEL_RANK: Record<Level | 'none', number> = { error: 0, warning: 1, info: 2, style: 3, none: -1 };

/** Whether a finding fails the lint under the config's failure threshold. */
export function fails(f: LintFinding, config: LintConfig): boolean {
  const t = config['failure-threshold'];
  return t !== 'none' && LEVEL_RANK[f.level] <= LEVEL_RANK[t];
}

/** `# baton ignore=A,B` or `# hadolint ignore=A,B` on the line(s) right above an instruction; `global ignore=` anywhere. */
function ignores(comments: { line: number; text: string }[]): { at: Map<number, Set<string>>; global: Set<string> } {
  const at = new Map<number, Set<string>>();
  const global = new Set<string>();
  for (const c of comments) {
    const hitm = /^\s*(?:baton|hadolint)\s+(global\s+)?ignore\s*=\s*([A-Za-z0-9,\s]+)/.exec(c.text.replace(/^\s*#/, ''));
    if (!hitm) continue;
    const codes = hitm[2]
      .split(',')
      .map((s) => s.trim().toUpperCase())
      .filter(Boolean);
    if (hitm[1]) for (const code of codes) global.add(code);
    else at.set(c.line, new Set(codes));
  }
  return { at, global };
}

export interface LintInput {
  file?: string;
  text: string;
  files?: readonly string[];
  read?: (path: string) => string | null;
  config?: LintConfig;
}

/** Every finding of every rule on one Dockerfile, after the inline and configured ignores, sorted by line. */
export function lintDockerfile(input: LintInput): LintFinding[] {
  const config = input.config ?? LintConfigSchema.parse({});
  const model = parseDockerfile(input.text);
  const ctx = { model, files: input.files ?? [], read: input.read ?? (() => null), trustedRegistries: config.trustedRegistries };
  // Comments from the text itself: a first-line `# baton global ignore=…` is what the parser takes for a directive.
  const { at, global } = ignores(
    input.text.split(/\r?\n/).flatMap((text, k) => (text.trim().startsWith('#') ? [{ line: k + 1, text: text.trim() }] : [])),
  );
  const lines = input.text.split(/\r?\n/);
  // The ignore comment applies to the next instruction: find the instruction line below each comment (comments and blanks between allowed).
  const ignoredAt = (line: number): Set<string> => {
    const out = new Set<string>();
    for (let l = line - 1; l >= 1; l--) {
      const text = lines[l - 1]?.trim() ?? '';
      if (at.has(l)) for (const c of at.get(l) ?? []) out.add(c);
      else if (text !== '' && !text.startsWith('#')) break;
    }
    return out;
  };
  const override = new Map<string, Level>();
  for (const level of ['style', 'info', 'warning', 'error'] as const)
    for (const code of config.override[level] ?? []) override.set(code.toUpperCase(), level);
  const skip = new Set([...config.ignored.map((c) => c.toUpperCase()), ...global]);
  const out: LintFinding[] = [];
  for (const rule of ALL_RULES) {
    if (skip.has(rule.code)) continue;
    for (const h of rule.check(ctx)) {
      if (ignoredAt(h.line).has(rule.code)) continue;
      const level = override.get(rule.code) ?? h.level ?? DEFAULT_LEVELS[rule.code] ?? rule.level;
      out.push({
        file: input.file ?? 'Dockerfile',
        line: h.line,
        column: h.column ?? 1,
        level,
        code: rule.code,
        message: h.message,
        fix: h.fix,
      });
    }
  }
  return out.sort((a, b) => a.line - b.line || a.code.localeCompare(b.code));
}

/** hadolint's JSON output (`--format json`), with the fix beside. */
export function toJson(findings: LintFinding[]): string {
  return JSON.stringify(
    findings.map((f) => ({ file: f.file, line: f.line, column: f.column, level: f.level, code: f.code, message: f.message, fix: f.fix })),
  );
}

/** SARIF 2.1.0, one run, one rule per code used. */
export function toSarif(findings: LintFinding[]): string {
  const used = [...new Set(findings.map((f) => f.code))];
  const level = (l: Level) => (l === 'error' ? 'error' : l === 'warning' ? 'warning' : 'note');
  return JSON.stringify({
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'baton-lint',
            informationUri: 'https://github.com/hadolint/hadolint',
            rules: used.map((code) => {
              const rule = ALL_RULES.find((r) => r.code === code);
              return {
                id: code,
                shortDescription: { text: rule?.title ?? code },
                defaultConfiguration: { level: level(rule?.level ?? 'warning') },
              };
            }),
          },
        },
        results: findings.map((f) => ({
          ruleId: f.code,
          ruleIndex: used.indexOf(f.code),
          level: level(f.level),
          message: { text: `${f.message}. Fix: ${f.fix}` },
          locations: [{ physicalLocation: { artifactLocation: { uri: f.file }, region: { startLine: f.line, startColumn: f.column } } }],
        })),
      },
    ],
  });
}
