import { validateDesign } from '../domain/design-graph.js';
import { type ExecutionDoc, isFinalExecution } from '../domain/endpoint.js';
import { TransientError } from '../domain/errors.js';
import { redactKeys } from '../domain/preview.js';
import type { DesignDeps } from './deps.js';
import { executeDesign } from './executor.js';
import type { RunOutcome, StepJournal, StepLog, StepRecord } from './types.js';

/**
 * Running one execution to its end: claim it with a lease (renewed by a heartbeat while it runs,
 * so a crashed worker's claim lapses), replay its recorded steps through the journal, run the
 * rest, and write the final log. What the run queue's task (design-run) and a synchronous call run.
 */

/** The run queue's task: run (or resume) one execution. */
export async function runTask(deps: DesignDeps, executionId: string): Promise<void> {
  const outcome = await runExecution(deps, executionId, {});
  // Claimed by a live worker: the queue retries later, and takes over if that worker dies.
  if (outcome === null) throw new TransientError(`execution ${executionId} is running in another worker; retrying later`);
}

/**
 * Claims and runs an execution to its end; null when another worker holds a live claim. A
 * final execution is not run again (a redelivered task changes nothing).
 */
export async function runExecution(
  deps: DesignDeps,
  id: string,
  opts: {
    deadlineMs?: number /** Created by this worker with its lease already on it (a synchronous run): no claim write. */;
    created?: ExecutionDoc;
  },
): Promise<RunOutcome | null> {
  const token = opts.created?.lease_until?.split('#')[1] ?? deps.newId();
  let final: RunOutcome | undefined;
  const claimed =
    opts.created ??
    (await deps.store.updateExecution(id, (cur) => {
      if (isFinalExecution(cur.status)) return null;
      if (cur.lease_until && cur.lease_until > deps.clock.now().toISOString() && !cur.lease_until.endsWith(token)) return null;
      return { ...cur, lease_until: leaseFor(deps, token) };
    }));
  if (!claimed) return null;
  if (isFinalExecution(claimed.status)) return outcomeOf(claimed);
  if (!claimed.lease_until?.endsWith(token)) return null;

  const { design, graph } = validateDesign(claimed.design);
  const limits = opts.deadlineMs
    ? { ...design.limits, run_timeout_ms: Math.min(design.limits.run_timeout_ms, opts.deadlineMs) }
    : design.limits;
  const journal = opts.created ? freshJournal(deps, id) : await storeJournal(deps, id);
  const heartbeat = setInterval(
    () => {
      void deps.store
        .updateExecution(id, (cur) =>
          cur.lease_until?.endsWith(token) && !isFinalExecution(cur.status) ? { ...cur, lease_until: leaseFor(deps, token) } : null,
        )
        .catch(() => undefined);
    },
    Math.max(50, Math.floor(deps.settings.lease_ms / 3)),
  );
  heartbeat.unref?.();
  try {
    final = await executeDesign(
      { execution_id: id, design: { ...design, limits }, graph, input: claimed.run_input, started_at_ms: Date.parse(claimed.started_at) },
      { agents: deps.agents, clock: deps.clock, journal, sleep: deps.sleep },
    );
  } finally {
    clearInterval(heartbeat);
  }
  const now = deps.clock.now();
  const outcome = final;
  // The attempt records and the final log are written together (one group commit locally).
  const drained = journal.drain();
  await deps.store.updateExecution(id, (cur) => ({
    ...cur,
    status: outcome.status,
    result_data: redactKeys(outcome.result ?? null),
    ...(outcome.error ? { error: outcome.error } : {}),
    termination_reason: outcome.termination_reason,
    counters: outcome.counters,
    completed_at: now.toISOString(),
    duration_ms: now.getTime() - Date.parse(cur.started_at),
    lease_until: null,
  }));
  await drained;
  if (claimed.trigger_type === 'scheduled') {
    await deps.store.updateEndpoint(claimed.deployment_id, (cur) =>
      cur.running_scheduled === id ? { ...cur, running_scheduled: null } : null,
    );
  }
  return outcome;
}

function outcomeOf(doc: ExecutionDoc): RunOutcome {
  return {
    status: doc.status === 'running' || doc.status === 'skipped' ? 'failed' : doc.status,
    termination_reason: doc.termination_reason ?? doc.status,
    result: doc.result_data,
    ...(doc.error ? { error: doc.error } : {}),
    counters: doc.counters ?? { agent_calls: 0, retries: 0, replayed: 0 },
  };
}

/** The step journal of one execution on the store: results recorded durably, attempt logs written behind. */
/** A worker's lease: until when, and whose (`<iso>#<token>`, so ISO order still compares the time). */
export function leaseFor(deps: DesignDeps, token: string): string {
  return `${new Date(deps.clock.now().getTime() + deps.settings.lease_ms).toISOString()}#${token}`;
}

async function storeJournal(deps: DesignDeps, id: string): Promise<StepJournal & { drain(): Promise<void> }> {
  const [recorded, logged] = await Promise.all([deps.store.recordedSteps(id), deps.store.listSteps(id)]);
  return journalOn(deps, id, recorded, logged);
}

/** An execution created just now has nothing recorded: nothing to read back. */
function freshJournal(deps: DesignDeps, id: string): StepJournal & { drain(): Promise<void> } {
  return journalOn(deps, id, [], []);
}

function journalOn(deps: DesignDeps, id: string, recorded: StepRecord[], logged: StepLog[]): StepJournal & { drain(): Promise<void> } {
  const completed = new Map<string, StepRecord>(recorded.map((r) => [r.step_id, r]));
  const writes = new Set<Promise<void>>();
  let batch: StepLog[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const steps = batch;
    batch = [];
    const w = deps.store.appendSteps(id, steps).catch(() => undefined);
    writes.add(w);
    void w.finally(() => writes.delete(w));
  };
  return {
    completed,
    nextSeq: logged.reduce((m, s) => Math.max(m, s.seq + 1), 0),
    record: (step) => deps.store.recordStep(id, step),
    log(step) {
      batch.push(step);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    async drain() {
      if (batch.length > 0) flush();
      while (writes.size > 0) await Promise.all([...writes]);
    },
  };
}
