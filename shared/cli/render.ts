import type { Job, ServiceList, ServiceView } from '../../clients/typescript/src/index.js';

/** Pure text rendering for the CLI: no I/O here, so every string can be tested exactly. */

export const BAR_WIDTH = 20;

/** `[#########-----------]` for 45 %: whole cells only, so the bar is full only at 100. */
export function progressBar(progress: number, width = BAR_WIDTH): string {
  const pct = clampPercent(progress);
  const filled = Math.floor((pct * width) / 100);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

/** `[#########-----------]  45% building  Building` (plus `  ~1m 05s left` when the server has an ETA). */
export function progressLine(
  job: Pick<Job, 'progress' | 'status' | 'current_step'> & {
    eta_seconds?: number | null;
    queue_position?: number | null;
    deployment_id?: string;
  },
): string {
  const pct = `${Math.round(clampPercent(job.progress))}`.padStart(3);
  // Waiting on a person: what to type instead of an ETA (which leaves the wait out).
  if (job.status === 'awaiting_approval') {
    const id = job.deployment_id ?? '<id>';
    return `${progressBar(job.progress)} ${pct}% ${job.status}  ${job.current_step}  (baton approve ${id} | baton reject ${id} --reason …)`;
  }
  const eta = job.eta_seconds != null && job.eta_seconds > 0 ? `  ~${formatDuration(job.eta_seconds * 1000)} left` : '';
  const step = job.current_step ? `  ${job.current_step}` : '';
  const place = job.queue_position != null ? ` #${job.queue_position} in queue` : '';
  return `${progressBar(job.progress)} ${pct}% ${job.status}${place}${step}${eta}`;
}

/** Cuts a line to the terminal width so a `\r` redraw never wraps. */
export function fitWidth(line: string, columns: number | undefined): string {
  if (!columns || columns < 4 || line.length < columns) return line;
  return `${line.slice(0, columns - 2)}…`;
}

/**
 * Turns a stream of job updates into what to write: on a terminal one line redrawn in place
 * (`\r`, then clear to the end of the line); otherwise one line each time the status or step
 * changes, so logs of CI runs stay short.
 */
export class ProgressView {
  private lastLine = '';
  private lastKey = '';
  private drawn = false;

  constructor(
    private readonly tty: boolean,
    private readonly columns?: number,
  ) {}

  update(job: Pick<Job, 'progress' | 'status' | 'current_step'> & { eta_seconds?: number | null; queue_position?: number | null }): string {
    if (this.tty) {
      const line = fitWidth(progressLine(job), this.columns);
      if (line === this.lastLine) return '';
      this.lastLine = line;
      this.drawn = true;
      return `\r${line}\x1b[K`;
    }
    const key = `${job.status}\u0000${job.current_step}\u0000${job.queue_position ?? ''}`;
    if (key === this.lastKey) return '';
    this.lastKey = key;
    return `${progressLine({ ...job, eta_seconds: null })}\n`;
  }

  /** Ends the redrawn line so what follows starts on a fresh one. */
  finish(): string {
    if (!this.drawn) return '';
    this.drawn = false;
    return '\n';
  }
}

/** Whether a finished job did what was asked: a deployment completed, a rollback returned traffic. */
export function isSuccess(job: Pick<Job, 'kind' | 'status'>): boolean {
  return job.status === 'completed' || (job.kind === 'rollback' && job.status === 'rolled_back');
}

/** The summary printed when `--wait` ends. */
export function renderOutcome(job: Job): string {
  const what = job.kind === 'rollback' ? 'Rollback' : 'Deployment';
  const took = elapsed(job);
  const inTime = took == null ? '' : ` in ${formatDuration(took)}`;
  const lines: string[] = [];
  if (isSuccess(job)) {
    if (job.kind === 'rollback') {
      lines.push(`${what} ${job.deployment_id} finished${inTime}: traffic is back on ${job.revision ?? 'the previous revision'}`);
    } else {
      lines.push(`${what} ${job.deployment_id} completed${inTime}`);
      if (job.revision) lines.push(`Revision:    ${job.revision}`);
    }
    if (job.service_url) lines.push(`Service URL: ${job.service_url}`);
    return lines.join('\n');
  }
  const verb = job.status === 'rolled_back' ? 'was rolled back' : job.status === 'cancelled' ? 'was cancelled' : job.status;
  lines.push(`${what} ${job.deployment_id} ${verb}${inTime}`);
  if (job.failed_stage) lines.push(`Failed stage: ${job.failed_stage}`);
  if (job.error_message) lines.push(`Error:        ${job.error_message}`);
  if (job.status !== 'cancelled') lines.push(`Full log:     baton logs ${job.deployment_id}`);
  return lines.join('\n');
}

/** `baton status <id>`: the key fields, one per line. */
export function renderJob(job: Job): string {
  const rows: [string, string | null | undefined][] = [
    [job.kind === 'rollback' ? 'Rollback' : 'Deployment', job.deployment_id],
    ['Agent', job.agent_id],
    ['Environment', job.environment],
    ['Version', job.version],
    ['Source', job.source ? job.source.type : null],
    ['Status', `${job.status} (${Math.round(clampPercent(job.progress))}%)`],
    ['Step', job.current_step || null],
    [
      'Queue',
      job.queue_position != null
        ? `#${job.queue_position} (${job.queue?.reason === 'agent_busy' ? 'behind the running deployment of this agent' : "waiting for the owner's concurrency limit"})`
        : null,
    ],
    ['Superseded by', job.superseded_by],
    ['Service URL', job.service_url],
    ['Revision', job.revision],
    ['Previous', job.previous_revision],
    ['Rollback of', job.rollback_of],
    ['Rolled back by', job.rollback_id],
    ['Reason', job.rollback_reason],
    ['Approval', approvalText(job.approval)],
    ['Failed stage', job.failed_stage],
    ['Error', job.error_message],
    [
      'Reason code',
      job.failure
        ? `${job.failure.reason_code}${job.failure.listening_port !== undefined ? ` (listens on port ${job.failure.listening_port})` : ''}`
        : null,
    ],
    ['Hint', job.failure?.hint],
    ['Created', job.created_at],
    ['Completed', job.completed_at],
  ];
  const shown = rows.filter((r): r is [string, string] => r[1] != null && r[1] !== '');
  const width = Math.max(...shown.map(([k]) => k.length)) + 3;
  const out = shown.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`);

  const timings = Object.entries(job.stage_timings);
  if (timings.length > 0) {
    out.push('Stages:');
    const w = Math.max(...timings.map(([s]) => s.length)) + 2;
    for (const [stage, t] of timings) {
      out.push(`  ${stage.padEnd(w)}${t.duration_ms == null ? 'running' : formatDuration(t.duration_ms)}`);
    }
  }
  const findings = job.validation_results.filter((v) => !v.passed);
  if (findings.length > 0) {
    out.push('Validation:');
    for (const v of findings) out.push(`  ${v.severity.padEnd(8)} ${v.field ? `${v.field}: ` : ''}${v.message}`);
  }
  if (job.test_results.length > 0) {
    out.push('Tests:');
    for (const r of job.test_results) out.push(`  ${r.passed ? 'pass' : 'FAIL'}  ${r.test_type.padEnd(17)}${r.message}`);
  }
  if (job.canary_analyses.length > 0) {
    out.push('Canary:');
    for (const a of job.canary_analyses) {
      const state = a.final ? a.verdict : `${a.verdict}, watching`;
      out.push(`  step ${a.step} (${a.percent}%)  ${state} after ${a.checks} check${a.checks === 1 ? '' : 's'}: ${a.message}`);
    }
  }
  if (job.logs.length > 0) {
    out.push('Last log lines:');
    for (const line of job.logs) out.push(`  ${line}`);
  }
  return out.join('\n');
}

function approvalText(a: Job['approval']): string | null {
  if (!a) return null;
  if (a.state === 'pending') return `waiting until ${a.deadline_at}`;
  const by = a.decided_by ? ` by ${a.decided_by}` : '';
  return `${a.state}${by}${a.decided_at ? ` at ${a.decided_at}` : ''}${a.reason ? `: ${a.reason}` : ''}`;
}

/** `baton status`: one row per deployment. */
export function renderTable(jobs: readonly Job[]): string {
  if (jobs.length === 0) return 'No deployments.';
  const header = ['ID', 'AGENT', 'KIND', 'STATUS', 'PROGRESS', 'CREATED'];
  const rows = jobs.map((j) => [j.deployment_id, j.agent_id, j.kind, j.status, `${Math.round(clampPercent(j.progress))}%`, j.created_at]);
  return table(header, rows);
}

/** `baton service <agent>`. */
export function renderService(svc: ServiceView): string {
  const rows: [string, string | null | undefined][] = [
    ['Agent', svc.agent_id],
    ['Service', svc.service_name],
    ['Status', svc.status],
    ['URL', svc.url],
    ['Serving', svc.serving_revision],
    ['Last good', svc.last_good_revision],
    ['Latest ready', svc.latest_ready_revision],
    ['Deployment', svc.deployment_id],
    [
      'Pinned',
      svc.pin
        ? `yes, to ${svc.pin.revision} by rollback ${svc.pin.rollback_id} (${svc.pin.reason}, ${svc.pin.pinned_at}); deploy --unpin or baton unpin`
        : null,
    ],
    ['Updated', svc.updated_at],
  ];
  const shown = rows.filter((r): r is [string, string] => r[1] != null && r[1] !== '');
  const width = Math.max(...shown.map(([k]) => k.length)) + 3;
  const out = shown.map(([k, v]) => `${`${k}:`.padEnd(width)}${v}`);
  if (svc.traffic.length > 0) {
    out.push('Traffic:');
    for (const t of svc.traffic) {
      out.push(`  ${`${t.percent ?? 0}%`.padStart(4)}  ${t.revision ?? '(latest)'}${t.tag ? `  tag ${t.tag}` : ''}`);
    }
  }
  return out.join('\n');
}

/** `baton services`: one row per agent, with its pin. */
export function renderServices(services: ServiceList['services']): string {
  if (services.length === 0) return 'No services.';
  return table(
    ['AGENT', 'STATUS', 'SERVING', 'PINNED', 'URL'],
    services.map((s) => [s.agent_id, s.status, s.serving_revision ?? '-', s.pin ? `pinned by ${s.pin.rollback_id}` : '-', s.url ?? '-']),
  );
}

/** Columns padded to their widest cell, two spaces apart, no trailing spaces. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** 850ms, 12.3s, 2m 05s, 1h 02m. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`;
  const totalSeconds = Math.floor(ms / 1000);
  if (totalSeconds < 3600) return `${Math.floor(totalSeconds / 60)}m ${String(totalSeconds % 60).padStart(2, '0')}s`;
  const totalMinutes = Math.floor(totalSeconds / 60);
  return `${Math.floor(totalMinutes / 60)}h ${String(totalMinutes % 60).padStart(2, '0')}m`;
}

function elapsed(job: Pick<Job, 'created_at' | 'started_at' | 'completed_at'>): number | null {
  if (!job.completed_at) return null;
  const start = Date.parse(job.started_at ?? job.created_at);
  const end = Date.parse(job.completed_at);
  return Number.isFinite(start) && Number.isFinite(end) && end >= start ? end - start : null;
}

function clampPercent(n: number): number {
  return Number.isFinite(n) ? Math.min(100, Math.max(0, n)) : 0;
}

export const USAGE = `Usage: baton <command> [options]

Commands:
  deploy <dir|config-file>   Deploy a source folder (JSON /deploy) or a .yaml/.yml/.json service config
      --agent <id>             agent id (default for a folder: its name, made valid as gcloud does)
      --environment <name>     development | staging | production or one the operator added (default: the control plane's)
      --env KEY=VALUE          an environment variable of the service (repeatable)
      --env-file <file>        environment variables from a dotenv file (--env wins over it)
      --secret KEY=NAME        KEY takes the value of the Secret Manager secret NAME (repeatable)
      --version <v>            version label (default latest)
      --health-path <path>     health endpoint of the service (default: /health, or TCP and / if it has none)
      --start-timeout <s>      seconds a new revision may take to listen on $PORT (default 60, at most 240)
      --strategy <s>           all-at-once (default) or canary:10,50,100 (percent of traffic at each step)
      --max-error-rate <r>     canary: the candidate's highest 5xx share, 0-1 or a percent (default: the environment's)
      --max-latency <ms>       canary: the candidate's highest p95 latency (default: the environment's)
      --min-requests <n>       canary: fewer requests in a step's window is inconclusive (default: the environment's)
      --no-auto-rollback       keep a failed revision instead of returning traffic
      --approval <mode>        required: wait in awaiting_approval for baton approve; none: do not (default: the environment's)
      --approval-timeout <s>   seconds to wait for approval before failing (default 86400, at most 604800)
      --source <archive>       with a config file: a .tar.gz or .zip of the source to upload
      --wait                   follow the deployment to the end (exit 0 only if it completed)
      --timeout <seconds>      with --wait: give up following after this long (default 1800)
      --unpin                  deploy an agent pinned by a manual rollback, clearing the pin
  status [id]                One deployment, or a table of recent ones
      --agent <id>             only this agent's deployments
      --limit <n>              at most n rows (default 20)
      --cursor <c>             the next page, as printed under the table
  logs <id> [-f|--follow]    The deployment's full log; -f follows it to the end
  logs --service <agent>     What the agent's revisions write (stdout, stderr); -f follows new lines
      --revision <name>        only this revision
      --lines <n>              the last n lines (default 100, at most 1000)
  lint [dir]                 The preflight lint of validating on a folder (no control plane needed): its Dockerfile, or the generated one
      --format <f>             text (default), json (hadolint's shape) or sarif (2.1.0)
      --dockerfile <path>      the Dockerfile in the folder (default Dockerfile)
  rollback <id>              Return traffic to the revision before this deployment (or undo a rollback); pins the agent
      --reason "<text>"        why (kept in the job and the log)
      --to <revision>          return to this revision (one that served before) instead
      --force                  with --to: a revision that never served
      --cleanup                remove the revision rolled back from afterwards
      --wait                   follow the rollback to the end
  cancel <id>                Cancel a deployment that has not finished (also while it awaits approval)
  approve <id>               Let a deployment awaiting approval take traffic (its owner only)
  reject <id>                Fail a deployment awaiting approval; its candidate revision is removed
      --reason "<text>"        why (required; kept in the job and the log)
  unpin <agent>              Clear the pin a manual rollback left (deploy --unpin does it too)
  services                   Every agent: status, serving revision, pin
  service <agent>            What serves an agent now: URL, revisions, traffic
  designs deploy <file.json> Deploy a design as an endpoint
      --path </a/b>            its endpoint path (required)
      --schedule "<cron>"      run it on a schedule too (--timezone <tz>)
  designs list               Deployed designs (--status active|inactive)
  designs run <id>           Run one now (--input '<json>'); exit 1 unless it completed
  designs logs <id> [exec]   Its executions (--status, --limit), or one with its steps
  open [id]                  The dashboard (a deployment's page with an id) in the browser
  completion bash|zsh        A shell completion script: source <(baton completion bash)
  help                       This text

Global options:
  --url <url>                the control plane (default $BATON_URL or http://127.0.0.1:8080)
  --json                     print JSON (the server's answers; errors as {"error": …} on stderr)

Exit codes: 0 completed (or done), 1 failed, 2 rolled back, 3 cancelled, 4 bad input, 130 interrupted.
`;

/** One runtime log line: time, severity (WARNING/ERROR as the app's JSON logger stated), revision, message. */
export function renderLogEntry(e: { time: string; severity: string; revision: string; message: string }): string {
  const severity = e.severity === 'DEFAULT' ? '' : e.severity;
  return `${e.time} ${severity.padEnd(8)} [${e.revision}] ${e.message}`;
}
