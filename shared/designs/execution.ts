import { validateDesign } from '../domain/design-graph.js';
import { type ExecutionDoc, isFinalExecution } from '../domain/endpoint.js';
import { TransientError } from '../domain/errors.js';
import { redactKeys } from '../domain/preview.js';
import type { DesignDeps } from './deps.js';
import { executeDesign } from './executor.js';
import type { RunOutcome, StepJournal, StepLog, StepRecord } from './types.js';

/**
 * Running one execution to its end.
 *
 * Every running execution carries a lease, `lease_until` = `<iso>#<holder>`: no other worker runs
 * it before the lease ends. A queue delivery (design-run) claims it, renews the lease by a
 * heartbeat while it runs, replays the recorded steps and runs the rest. A synchronous run
 * (POST /api/deployed/{path}, execute; sync-run.ts) holds a lease that ends `lease_ms` after its sync deadline,
 * without heartbeat: at the deadline it stops its calls, keeps what completed and hands the run to
 * the queue (`suspended`). A run whose worker died keeps its lease until it lapses; the sweep
 * (`sweepLapsedRuns` in sweep.ts, every minute and when the local stack starts) then hands it to the queue,
 * which resumes it from its recorded steps, so nothing stays `running` and no completed block is
 * called again.
 */

/** The run queue's task: run, resume or continue one execution. */
export interface RunTask {
  execution_id: string;
  /** A sweep's hand-over: take the run over only if its lease is still this lapsed one. */
  lapsed_lease?: string;
}

/** The run queue's task: run (or resume) one execution. */
export async function runTask(deps: DesignDeps, task: RunTask): Promise<void> {
  const result = await runExecution(deps, task.execution_id, task.lapsed_lease);
  // Claimed by a live worker: the queue retries later, and takes over if that worker dies.
  if (result === 'busy') throw new TransientError(`execution ${task.execution_id} is running in another worker; retrying later`);
}

/** The holder of a queued run's lease until a worker claims it. */
export const UNCLAIMED = 'queued';

/** Until when a lease holds, ms since epoch. */
export function leaseEnd(lease: string): number {
  return Date.parse(lease.split('#')[0] ?? '');
}

export function leaseStamp(untilMs: number, holder: string): string {
  return `${new Date(untilMs).toISOString()}#${holder}`;
}

/** A worker's lease from now: until when, and whose (so ISO order still compares the time). */
export function leaseFor(deps: DesignDeps, holder: string): string {
  return leaseStamp(deps.clock.now().getTime() + deps.settings.lease_ms, holder);
}

/**
 * Claims and runs an execution to its end. `busy`: another worker holds a live lease;
 * `superseded`: nothing to do (gone, or — for a sweep's hand-over — claimed since). A final
 * execution is not run again (a redelivered task changes nothing).
 */
export async function runExecution(deps: DesignDeps, id: string, lapsedLease?: string): Promise<RunOutcome | 'busy' | 'superseded'> {
  const token = deps.newId();
  let refused: 'busy' | 'superseded' | null = null;
  const claimed = await deps.store.updateExecution(id, (cur) => {
    refused = null;
    if (isFinalExecution(cur.status)) return null;
    if (lapsedLease !== undefined && cur.lease_until !== lapsedLease) {
      refused = 'superseded';
      return null;
    }
    // `queued`: no worker holds it yet (the lease only bounds how long until the sweep looks).
    if (cur.lease_until && cur.lease_until > deps.clock.now().toISOString() && !cur.lease_until.endsWith(`#${UNCLAIMED}`)) {
      refused = 'busy';
      return null;
    }
    return { ...cur, lease_until: leaseFor(deps, token) };
  });
  if (!claimed) return 'superseded';
  if (isFinalExecution(claimed.status)) return outcomeOf(claimed);
  if (refused) return refused;
  const lease = () => claimed.lease_until?.endsWith(`#${token}`) ?? false;
  if (!lease()) return 'busy';

  const { design, graph } = validateDesign(claimed.design);
  const journal = await storeJournal(deps, id);
  const heartbeat = setInterval(
    () => {
      void deps.store
        .updateExecution(id, (cur) =>
          cur.lease_until?.endsWith(`#${token}`) && !isFinalExecution(cur.status) ? { ...cur, lease_until: leaseFor(deps, token) } : null,
        )
        .catch(() => undefined);
    },
    Math.max(50, Math.floor(deps.settings.lease_ms / 3)),
  );
  heartbeat.unref?.();
  let outcome: RunOutcome;
  try {
    outcome = await executeDesign(
      { execution_id: id, design, graph, input: claimed.run_input, started_at_ms: Date.parse(claimed.started_at) },
      { agents: deps.agents, clock: deps.clock, journal, sleep: deps.sleep },
    );
  } finally {
    clearInterval(heartbeat);
  }
  await journal.drain();
  let ours = false;
  await deps.store.updateExecution(id, (cur) => {
    ours = (cur.lease_until?.endsWith(`#${token}`) ?? false) && !isFinalExecution(cur.status);
    return ours ? finalDoc(deps, cur, outcome) : null;
  });
  // Taken over meanwhile (this worker stalled past its lease): the other worker's result stands.
  if (!ours) return 'superseded';
  if (claimed.trigger_type === 'scheduled') {
    await deps.store.updateEndpoint(claimed.deployment_id, (cur) =>
      cur.running_scheduled === id ? { ...cur, running_scheduled: null } : null,
    );
  }
  return outcome;
}

/** The final fields of an execution, from its outcome. */
export function finalDoc(deps: DesignDeps, cur: ExecutionDoc, outcome: RunOutcome): ExecutionDoc {
  const now = deps.clock.now();
  return {
    ...cur,
    status: outcome.status,
    result_data: redactKeys(outcome.result ?? null),
    ...(outcome.error ? { error: outcome.error } : {}),
    termination_reason: outcome.termination_reason,
    counters: outcome.counters,
    completed_at: now.toISOString(),
    duration_ms: now.getTime() - Date.parse(cur.started_at),
    lease_until: null,
  };
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
async function storeJournal(deps: DesignDeps, id: string): Promise<StepJournal & { drain(): Promise<void> }> {
  const [recorded, logged] = await Promise.all([deps.store.recordedSteps(id), deps.store.listSteps(id)]);
  return journalOn(deps, id, recorded, logged);
}

export function journalOn(
  deps: DesignDeps,
  id: string,
  recorded: StepRecord[],
  logged: StepLog[],
): StepJournal & { drain(): Promise<void> } {
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
