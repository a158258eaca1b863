import { LOG_TAIL_LINES } from '../domain/job.js';
import { redact } from '../domain/redact.js';
import { log, logger } from '../logger.js';
import type { BlobStore, Clock, JobStore } from '../ports/index.js';

export type Level = 'INFO' | 'WARNING' | 'ERROR';

export function logKey(agentId: string, deploymentId: string): string {
  return `deployment_logs/${agentId}/${deploymentId}.log`;
}

/** Log lines are redacted before they are stored anywhere: redact() is pure, in the domain, for every caller. */
export { redact };

interface Pending {
  lines: string[];
  /** Appends to the full log not yet known to have landed. */
  appended: Promise<void>;
  timer: NodeJS.Timeout | null;
  flushing: Promise<void>;
}

/**
 * A deployment's log: every line is appended to the full log in the blob store at once, and the
 * last lines are copied into the job document in batches (a document takes about one write a
 * second), flushed at least every `tailFlushMs` and whenever a stage awaits `flush`.
 */
export class DeploymentLogs {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly blobs: BlobStore,
    private readonly jobs: JobStore,
    private readonly clock: Clock,
    private readonly tailFlushMs = 200,
  ) {}

  /** Lines as write() stores them (timestamped, the stage named, redacted), for a caller that commits them itself. */
  lines(level: Level, message: string, stage?: string): string[] {
    const prefix = `${this.clock.now().toISOString()} ${level.padEnd(7)}${stage ? ` [${stage}]` : ''}`;
    return redact(message)
      .split(/\r?\n/)
      .filter((l) => l.length > 0)
      .map((l) => `${prefix} ${l}`);
  }

  /**
   * Appends lines made by lines() to the full log only: their copy in the job's tail is the
   * caller's, committed with what it records beside them (a build log's offset).
   */
  async appendFull(agentId: string, deploymentId: string, lines: string[]): Promise<void> {
    if (lines.length === 0) return;
    await this.blobs.append(logKey(agentId, deploymentId), `${lines.join('\n')}\n`);
  }

  write(agentId: string, deploymentId: string, level: Level, message: string, stage?: string): void {
    const text = this.lines(level, message, stage);
    if (text.length === 0) return;
    // Warnings and errors also go to the control plane's log (Cloud Logging on gcp), where operators look.
    if (level !== 'INFO') log(level, redact(message), { deployment_id: deploymentId, stage });
    const appended = this.blobs.append(logKey(agentId, deploymentId), `${text.join('\n')}\n`).catch((err: unknown) => {
      logger.error(`could not append to the deployment's log: ${String(err)}`, { deployment_id: deploymentId, stage });
    });
    const p = this.pendingFor(deploymentId);
    p.appended = p.appended.then(() => appended);
    p.lines.push(...text);
    p.timer ??= setTimeout(() => {
      void this.flush(deploymentId);
    }, this.tailFlushMs);
  }

  /**
   * Copies the buffered lines into the job document's tail and waits for their appends to the
   * full log: a function awaits this before it returns, since nothing runs after that on GCP.
   */
  async flush(deploymentId: string): Promise<void> {
    const p = this.pending.get(deploymentId);
    if (!p) return;
    if (p.timer) clearTimeout(p.timer);
    p.timer = null;
    const lines = p.lines.splice(0);
    const run = p.flushing.then(async () => {
      if (lines.length === 0) return;
      await this.jobs.update(deploymentId, (job) => ({
        ...job,
        logs: [...job.logs, ...lines].slice(-LOG_TAIL_LINES),
        updated_at: this.clock.now().toISOString(),
      }));
    });
    p.flushing = run.catch((err: unknown) => {
      logger.error(`could not update the deployment's log tail: ${String(err)}`, { deployment_id: deploymentId });
    });
    await p.flushing;
    await p.appended;
    if (p.lines.length === 0 && p.timer === null) this.pending.delete(deploymentId);
  }

  /** Lines not yet in the job document, taken so a transition can commit them with its change. */
  take(deploymentId: string): string[] {
    const p = this.pending.get(deploymentId);
    if (!p) return [];
    if (p.timer) clearTimeout(p.timer);
    p.timer = null;
    return p.lines.splice(0);
  }

  async read(agentId: string, deploymentId: string): Promise<string | null> {
    const data = await this.blobs.get(logKey(agentId, deploymentId));
    return data ? data.toString('utf8') : null;
  }

  private pendingFor(id: string): Pending {
    let p = this.pending.get(id);
    if (!p) {
      p = { lines: [], appended: Promise.resolve(), timer: null, flushing: Promise.resolve() };
      this.pending.set(id, p);
    }
    return p;
  }
}
