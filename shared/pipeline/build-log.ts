import { cloudBuildLogLine, completeLines } from '../domain/build-log.js';
import { isPermanent, messageOf } from '../domain/errors.js';
import type { BuildLogTask } from '../domain/events.js';
import { type Job, LOG_TAIL_LINES } from '../domain/job.js';
import { taskName } from '../domain/names.js';
import { QUEUES } from '../domain/topics.js';
import { logger } from '../logger.js';
import type { PipelineDeps } from './deps.js';

/** Most bytes of a build's log read at once (a poll that finds more reads again at once). */
export const BUILD_LOG_READ_BYTES = 256 * 1024;
/** Reads of the rest of the log when the build has ended, at most (8 × 256 KiB: 2 MiB). */
const FINAL_READS = 8;

/**
 * Schedules read `poll` of a running build's log: a named task on baton-build-log (a duplicate is
 * dropped by its name), `delayMs` from now (the poll interval by default).
 */
export async function scheduleBuildLogRead(
  deps: PipelineDeps,
  deploymentId: string,
  buildId: string,
  poll: number,
  delayMs?: number,
): Promise<void> {
  const payload: BuildLogTask = { type: 'build.log.v1', deployment_id: deploymentId, build_id: buildId, poll };
  await deps.tasks.enqueue(QUEUES.buildLog, {
    // The build id in the name: a later build of the same deployment starts its own chain.
    name: taskName(deploymentId, `build-log-${buildId.slice(0, 12)}`, poll),
    payload,
    schedule_time_ms: deps.clock.now().getTime() + (delayMs ?? deps.settings.build_log_poll_ms),
  });
}

const offsetIn = (job: Job, buildId: string) => (job.build_log?.build_id === buildId ? job.build_log : { offset: 0, lines: 0 });

/**
 * Copies what the build's log holds past the offset the job records into the deployment's log:
 * whole lines only (a line being written waits for the next read, unless `final`), each as
 * `build: [step] …`. The lines and the new offset are committed to the job in one compare-and-set
 * on the offset read, then appended to the full log; a read that loses the race (a redelivered
 * task, the final read beside a poll) commits nothing and reads again from the winner's offset.
 * So no line is copied twice; a crash between the commit and the append leaves those lines in the
 * job's tail but not in the full log. Returns how many lines were copied and whether more is
 * already written past what was read.
 */
export async function copyBuildLog(
  deps: PipelineDeps,
  job: Job,
  buildId: string,
  opts: { final: boolean },
): Promise<{ lines: number; more: boolean }> {
  const read = deps.builder.readLog?.bind(deps.builder);
  if (!read) return { lines: 0, more: false };
  let current: Job | null = job;
  for (let attempt = 0; attempt < 5 && current; attempt++) {
    if (current.build_id !== buildId) return { lines: 0, more: false };
    const at = offsetIn(current, buildId);
    const chunk = await read(buildId, at.offset, BUILD_LOG_READ_BYTES);
    const { lines, consumed } = completeLines(chunk.data, {
      final: opts.final && !chunk.more,
      full: chunk.data.length >= BUILD_LOG_READ_BYTES,
    });
    if (consumed === 0) return { lines: 0, more: chunk.more };
    const text = lines.flatMap((l) => deps.logs.lines('INFO', cloudBuildLogLine(l), 'building'));
    const now = deps.clock.now().toISOString();
    const res = await deps.jobs.update(job.deployment_id, (j) => {
      const cur = offsetIn(j, buildId);
      if (j.build_id !== buildId || cur.offset !== at.offset) return null;
      return {
        ...j,
        build_log: { build_id: buildId, offset: at.offset + consumed, lines: cur.lines + text.length },
        logs: [...j.logs, ...text].slice(-LOG_TAIL_LINES),
        updated_at: now,
      };
    });
    if (res?.changed) {
      await deps.logs.appendFull(job.agent_id, job.deployment_id, text);
      return { lines: text.length, more: chunk.more };
    }
    current = await deps.jobs.get(job.deployment_id);
  }
  return { lines: 0, more: false };
}

/**
 * Starts following a build's log (its first read, scheduled): best effort. A build goes on, and
 * its outcome is recorded, whether or not its log can be followed; a failure says so in the
 * deployment's log (the full log stays in Cloud Build) instead of failing the notification.
 */
export async function followBuildLog(deps: PipelineDeps, job: Job, buildId: string): Promise<void> {
  try {
    await scheduleBuildLogRead(deps, job.deployment_id, buildId, 1);
  } catch (err) {
    deps.logs.write(job.agent_id, job.deployment_id, 'WARNING', `The build's log will not be followed here: ${messageOf(err)}`, 'building');
  }
}

/** The rest of an ended build's log, before its end is recorded; a failure to read it is logged and does not hold the build up. */
export async function drainBuildLog(deps: PipelineDeps, job: Job, buildId: string): Promise<void> {
  if (!deps.builder.readLog) return;
  try {
    for (let i = 0; i < FINAL_READS; i++) {
      const { more } = await copyBuildLog(deps, (await deps.jobs.get(job.deployment_id)) ?? job, buildId, { final: true });
      if (!more) return;
    }
  } catch (err) {
    logger.warn(`could not read the rest of build ${buildId}'s log: ${String(err)}`, {
      deployment_id: job.deployment_id,
      stage: 'building',
    });
  }
}

/**
 * baton-build-log: one read of a running build's log, then the next one is scheduled (at once when
 * more was already written) while the job still builds under that build id; a build that ended,
 * was cancelled or replaced stops the chain.
 */
export async function pollBuildLog(deps: PipelineDeps, task: BuildLogTask): Promise<string> {
  const job = await deps.jobs.get(task.deployment_id);
  if (!job) return 'no such deployment';
  // Still waiting on this very build: its outcome not recorded yet (a done claim), nor another build's.
  const waiting = job.status === 'building' && job.build_id === task.build_id && job.claim?.token === task.build_id && !job.claim.done;
  if (!waiting) return 'the build is no longer running: nothing to follow';
  let copied: { lines: number; more: boolean };
  try {
    copied = await copyBuildLog(deps, job, task.build_id, { final: false });
  } catch (err) {
    // Retried by the queue unless no retry can help (a missing role, a bucket that is not there): then it stops here, said once.
    if (!isPermanent(err)) throw err;
    deps.logs.write(job.agent_id, job.deployment_id, 'WARNING', `The build's log cannot be read: ${messageOf(err)}`, 'building');
    await deps.logs.flush(job.deployment_id);
    return 'the build log cannot be read: stopped following it';
  }
  const { lines, more } = copied;
  // A build runs at most build_timeout_ms: the chain cannot outlive it by more than a few reads.
  const most = Math.ceil(deps.settings.build_timeout_ms / Math.max(1, deps.settings.build_log_poll_ms)) + 10;
  if (task.poll < most) await scheduleBuildLogRead(deps, task.deployment_id, task.build_id, task.poll + 1, more ? 0 : undefined);
  return `copied ${lines} lines of the build's log`;
}
