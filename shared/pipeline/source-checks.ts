import { analyseSource } from '../domain/analysis/analyse.js';
import type { Analysis, SourceReader } from '../domain/analysis/schema.js';
import { dockerfileFor } from '../domain/dockerfile.js';
import type { ValidationResult } from '../domain/job.js';
import { findingSeverity, lintSourceDockerfile } from '../domain/lint/source-lint.js';
import type { Finding } from '../domain/preflight.js';
import type { DeploymentRequest } from '../domain/request.js';
import type { PipelineDeps } from './deps.js';

/**
 * The validating stage's look at the source itself: its files through the SourcePreparer's
 * reader, analysed (shared/domain/analysis). A source Baton cannot build is a critical finding
 * saying what was found and what to add; analysis notes are low-severity warnings (they block at
 * no level). A prebuilt image has no files: nothing to check.
 */
/**
 * The preflight lint of the Dockerfile the build will use: the source's, or the one Baton
 * generates for it. Each finding is one result (`dockerfile_lint:<code>`); a pass is recorded too.
 */
function lintFindings(reader: SourceReader, a: Analysis, request: DeploymentRequest): Finding[] {
  const file = request.build_options.dockerfile ?? 'Dockerfile';
  const text = a.dockerfile === 'provided' ? reader.read(file) : dockerfileFor(a);
  const base = { test_type: 'dockerfile_lint', field: file };
  if (text === null)
    return [
      { ...base, test_name: 'dockerfile_lint', severity: 'critical', passed: false, message: `${file} could not be read (over 256 KiB?)` },
    ];
  const { findings, config, configError } = lintSourceDockerfile(reader, a.dockerfile === 'provided' ? file : `${file} (generated)`, text);
  const out: Finding[] = findings.map((f) => ({
    ...base,
    test_name: `dockerfile_lint:${f.code}`,
    severity: findingSeverity(f, config),
    passed: false,
    message: `${f.file}:${f.line} ${f.code} ${f.level}: ${f.message}. Fix: ${f.fix}`,
  }));
  if (configError) out.push({ ...base, test_name: 'dockerfile_lint_config', severity: 'critical', passed: false, message: configError });
  if (!out.some((f) => f.severity === 'critical'))
    out.unshift({
      ...base,
      test_name: 'dockerfile_lint',
      severity: 'critical',
      passed: true,
      message: `${file}${a.dockerfile === 'generated' ? ' (generated)' : ''}: no lint errors (${findings.length} warnings or notes)`,
    });
  return out;
}

export async function sourceChecks(
  deps: PipelineDeps,
  deploymentId: string,
  request: DeploymentRequest,
): Promise<{ results: ValidationResult[]; analysis: Analysis | null }> {
  const started = deps.clock.now().getTime();
  const reader = await deps.sources.inspect({ deployment_id: deploymentId, source: request.source, config: request.config });
  if (!reader) {
    // A git source the build clones itself (gcp): its files are first read by Cloud Build.
    if (request.source.type !== 'git') return { results: [], analysis: null };
    const timestamp = deps.clock.now().toISOString();
    const message =
      "Not analysed or linted before the build: on this target the build clones the repository itself. It builds with the repository's Dockerfile, else (with a package.json) with Baton's Node template; any other repository needs a Dockerfile";
    return {
      results: [
        {
          test_name: 'source_analysis',
          test_type: 'source_validation',
          severity: 'low',
          passed: false,
          field: 'source',
          message,
          execution_time: 0,
          timestamp,
        },
      ],
      analysis: null,
    };
  }
  const result = analyseSource(reader, request.build_options);
  const findings: Finding[] = [];
  const base = { test_name: 'source_analysis', test_type: 'source_validation' };
  if (!result.ok) {
    findings.push({ ...base, severity: 'critical', passed: false, field: 'source', message: `Found ${result.found}. Add ${result.add}` });
  } else {
    const a = result.analysis;
    findings.push({
      ...base,
      severity: 'critical',
      passed: true,
      message: `${a.language}${a.framework === 'plain' ? '' : ` (${a.framework})`}, ${a.package_manager}, runtime ${a.runtime_version}, start: ${a.start_command}, Dockerfile ${a.dockerfile}`,
    });
    for (const note of a.notes)
      findings.push({ ...base, test_name: 'source_analysis_note', severity: 'low', passed: false, field: 'source', message: note });
    // The builder's machine must have the stack's toolchain: a build that cannot start fails here, before it is queued.
    const missing = deps.builder.missingTools ? await deps.builder.missingTools(a) : null;
    if (missing)
      findings.push({
        test_name: 'build_toolchain',
        test_type: 'source_validation',
        severity: 'critical',
        passed: false,
        field: 'source',
        message: missing,
      });
    findings.push(...lintFindings(reader, a, request));
  }
  const ended = deps.clock.now().getTime();
  const timestamp = new Date(ended).toISOString();
  return {
    results: findings.map((f) => ({ ...f, execution_time: (ended - started) / 1000, timestamp })),
    analysis: result.ok ? result.analysis : null,
  };
}
