import { z } from 'zod';
import { redact } from './redact.js';
import { type Stage, StageSchema } from './status.js';

/**
 * Why a deployment failed or was rolled back, as a record a person or a program can act on: the
 * stage, a reason code with a hint for it, the health probe that failed (when one did), the last
 * lines the revision wrote, and where the build's log is. Built once, when the job fails
 * (failDeployment), from the error and what the runtime's logs say; every text in it is redacted.
 */
export const REASON_CODES = [
  /** Never listened on $PORT (listens on another port, or on none within the start timeout). */
  'ignores_port',
  /** The process exited during start-up. */
  'crashed_at_startup',
  /** No start script, and nothing `node .` could run. */
  'missing_start_script',
  /** The process ran out of memory (V8's heap limit, Cloud Run's memory limit, a SIGKILL). */
  'out_of_memory',
  /** The health endpoint answered 5xx. */
  'health_5xx',
  /** The health endpoint answered, but not 2xx (a 404, a 4xx, a time-out). */
  'health_failed',
  /** The health endpoint answered 2xx with a dependency reported down. */
  'dependency_down',
  /** It listened but never served within its start timeout (503 or refused throughout). */
  'start_timeout',
  'build_failed',
  /** No progress within a stage's deadline (the watchdog), or a task queue gave up. */
  'stage_timeout',
  'validation_failed',
  'test_failed',
  /** The canary analysis saw the candidate break max_error_rate or max_latency_ms in a step's window (canary_analyses). */
  'canary_breach',
  /** Every delivery of a stage's event failed (the dead letter). */
  'retries_exhausted',
  /** Rolled back by hand (POST /rollback). */
  'manual_rollback',
  'unknown',
] as const;
export const ReasonCodeSchema = z.enum(REASON_CODES);
export type ReasonCode = z.infer<typeof ReasonCodeSchema>;

export const ProbeRecordSchema = z.object({
  url: z.string(),
  /** Null when nothing answered (refused, timed out). */
  status: z.number().int().nullable(),
  body_excerpt: z.string(),
  latency_ms: z.number(),
});
export type ProbeRecord = z.infer<typeof ProbeRecordSchema>;

export const FailureSchema = z.object({
  stage: StageSchema,
  reason_code: ReasonCodeSchema,
  message: z.string(),
  hint: z.string(),
  probe: ProbeRecordSchema.optional(),
  /** The last lines of the revision's own stdout/stderr, oldest first (at most REVISION_OUTPUT_LINES). */
  revision_output: z.array(z.string()),
  build_log_url: z.string().optional(),
  /** For ignores_port: the port the revision listened on instead of $PORT. */
  listening_port: z.number().int().optional(),
});
export type Failure = z.infer<typeof FailureSchema>;

/** What the code that failed knows beyond its message (PermanentError.detail). */
export interface FailureDetail {
  reason_code?: ReasonCode;
  hint?: string;
  probe?: ProbeRecord;
  revision_output?: string[];
  build_log_url?: string;
  listening_port?: number;
}

export const REVISION_OUTPUT_LINES = 20;
const LINE_CHARS = 500;
const BODY_CHARS = 300;

export const HINTS: Readonly<Record<ReasonCode, string>> = {
  ignores_port:
    'Listen on process.env.PORT (Cloud Run sets it; a fixed port is never reached), e.g. app.listen(Number(process.env.PORT ?? 8080))',
  crashed_at_startup: 'Run it locally with `npm start`: the revision output below shows why it exited',
  missing_start_script: 'Add a "start" script to package.json (e.g. "start": "node server.js"), or a "main" file `node .` can run',
  out_of_memory:
    'Raise deployment_options.resource_limits.memory_mb (or the environment’s memory), or reduce what the service holds in memory',
  health_5xx: 'The health endpoint answered a server error: the probe’s body and the revision output show why',
  health_failed: 'Make the health endpoint answer 2xx quickly, or set deployment_options.health_path to the one that does',
  dependency_down: 'A dependency the health endpoint reports is down: start it (or deploy its agent) and deploy again',
  start_timeout: 'If it needs longer to start, raise deployment_options.start_timeout_seconds; else see why it does not serve',
  build_failed: 'Fix the build (the build log says which step failed) and deploy again',
  stage_timeout: 'Deploy again; if it recurs, check the control plane’s logs for the stage that stopped',
  validation_failed: 'Fix each blocking check in validation_results and deploy again',
  test_failed: 'Fix what test_results reports, or relax test_options, and deploy again',
  canary_breach:
    'The candidate failed under real traffic (canary_analyses shows what it served against the stable revision): fix it, or adjust max_error_rate / max_latency_ms / min_requests, and deploy again',
  retries_exhausted: 'Check the control plane’s health (its logs name the error), then deploy again',
  manual_rollback: 'Deploy a fixed version (the service is pinned to the rollback until then: see GET /services/{agent_id})',
  unknown: 'See the message and the deployment’s log (GET /deployments/{id}/logs)',
};

/** Picks the reason from the failed stage, the error's words and the revision's last output. */
export function classifyFailure(stage: Stage, message: string, output: readonly string[]): ReasonCode {
  const text = `${message}\n${output.join('\n')}`;
  if (/heap out of memory|Allocation failed|Memory limit of .* exceeded|out of memory|OOMKilled|ENOMEM/i.test(text)) return 'out_of_memory';
  if (/Missing script: "?start"?|Cannot find module '[^']*\/app'|no start script/i.test(text)) return 'missing_start_script';
  if (/Gave up after .* attempts/.test(message)) return 'retries_exhausted';
  if (/No progress in the .* stage|Gave up on task queue|still queued .* minutes/i.test(message)) return 'stage_timeout';
  if (stage === 'validating') return 'validation_failed';
  if (stage === 'building' || /^Build /.test(message)) return 'build_failed';
  if (stage === 'testing') return 'test_failed';
  if (/listen on the port defined by the PORT|listens on port \d+, not PORT|still not ready after/i.test(message)) return 'ignores_port';
  if (/during start-up|did not start|after it started|killed by SIG/i.test(message)) return 'crashed_at_startup';
  if (/dependencies reported unhealthy/i.test(message)) return 'dependency_down';
  if (/answered HTTP 5\d\d/.test(message)) return 'health_5xx';
  if (/still not serving after/i.test(message)) return 'start_timeout';
  if (/Health check .* failed/i.test(message)) return 'health_failed';
  return 'unknown';
}

/** The record for a failure; `output` is what the runtime's logs hold of the revision (already bounded). */
export function failureRecord(stage: Stage, message: string, detail: FailureDetail, output: readonly string[]): Failure {
  const lines = (detail.revision_output ?? output).slice(-REVISION_OUTPUT_LINES).map((l) => redact(l).slice(0, LINE_CHARS));
  const reason = detail.reason_code ?? classifyFailure(stage, message, lines);
  const listening_port = detail.listening_port ?? (reason === 'ignores_port' ? portListenedOn(message, lines) : undefined);
  return {
    stage,
    reason_code: reason,
    message: redact(message),
    hint: redact(detail.hint ?? HINTS[reason]),
    ...(detail.probe ? { probe: { ...detail.probe, body_excerpt: redact(detail.probe.body_excerpt).slice(0, BODY_CHARS) } } : {}),
    revision_output: lines,
    ...(detail.build_log_url ? { build_log_url: detail.build_log_url } : {}),
    ...(listening_port !== undefined ? { listening_port } : {}),
  };
}

/** A probe's body as the record keeps it. */
export function bodyExcerpt(body: string): string {
  return body.slice(0, BODY_CHARS);
}

/**
 * The port a revision that ignored $PORT listened on: the local runtime names it ("listens on port
 * 3000, not PORT=…"); on Cloud Run only the revision's own words can ("listening on port 3000",
 * "on :3000"), which differ from the PORT the message quotes.
 */
export function portListenedOn(message: string, output: readonly string[]): number | undefined {
  const named = /listens on ports? (\d+)/.exec(message);
  if (named) return Number(named[1]);
  const given = /PORT=(\d+)/.exec(message)?.[1];
  for (const line of [...output].reverse()) {
    const m = /listening (?:on|at)\b[^\d\n]*?(?:port\s*|:)(\d{2,5})\b/i.exec(line);
    if (m && m[1] !== given) return Number(m[1]);
  }
  return undefined;
}
