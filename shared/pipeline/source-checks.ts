import { analyseSource } from '../domain/analysis/analyse.js';
import type { Analysis } from '../domain/analysis/schema.js';
import type { ValidationResult } from '../domain/job.js';
import type { Finding } from '../domain/preflight.js';
import type { DeploymentRequest } from '../domain/request.js';
import type { PipelineDeps } from './deps.js';

/**
 * The validating stage's look at the source itself: its files through the SourcePreparer's
 * reader, analysed (shared/domain/analysis). A source Baton cannot build is a critical finding
 * saying what was found and what to add; analysis notes are low-severity warnings (they block at
 * no level). A prebuilt image has no files: nothing to check.
 */
export async function sourceChecks(
  deps: PipelineDeps,
  deploymentId: string,
  request: DeploymentRequest,
): Promise<{ results: ValidationResult[]; analysis: Analysis | null }> {
  const started = deps.clock.now().getTime();
  const reader = await deps.sources.inspect({ deployment_id: deploymentId, source: request.source, config: request.config });
  if (!reader) return { results: [], analysis: null };
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
  }
  const ended = deps.clock.now().getTime();
  const timestamp = new Date(ended).toISOString();
  return {
    results: findings.map((f) => ({ ...f, execution_time: (ended - started) / 1000, timestamp })),
    analysis: result.ok ? result.analysis : null,
  };
}
