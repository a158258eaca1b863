import { validateDesign } from '../domain/design-graph.js';
import type { ExecutionDoc } from '../domain/endpoint.js';
import { TransientError } from '../domain/errors.js';
import { QUEUES } from '../domain/topics.js';
import type { RunCommit } from '../ports/design-store.js';
import type { DesignDeps } from './deps.js';
import { finalDoc, journalOn, leaseStamp, type RunTask } from './execution.js';
import { executeDesign } from './executor.js';
import type { RunOutcome, StepJournal, StepLog, StepRecord, SuspendedRun } from './types.js';

/**
 * Synchronous runs (POST /api/deployed/{path}, POST /api/deployments/{id}/execute): run here
 * within the endpoint's deadline, handed to the run queue past it. Leases: execution.ts.
 */

export async function enqueueRun(deps: DesignDeps, executionId: string): Promise<void> {
  await deps.tasks.enqueue(QUEUES.designRun, {
    name: `run-${executionId}`,
    payload: { execution_id: executionId } satisfies RunTask,
    // A run may take run_timeout_ms (up to 900 s): more than Cloud Tasks' default 10 min.
    dispatch_deadline_ms: deps.settings.run_task_deadline_ms,
  });
}

/** How long a grouped synchronous run waits at most before its first commit (when no step has completed yet). */
export const SYNC_FIRST_COMMIT_MS = 100;

/**
 * A synchronous run: `exec` (running, not stored yet) executes here, within `deadlineMs` of its
 * start. Past the deadline the calls in flight are aborted (logged `aborted`), what completed is
 * committed, the lease is let go and the run is handed to the run queue: the answer is
 * `suspended` and the queue's delivery goes on from the recorded steps. The commits follow
 * `settings.sync_commits` (see `GroupedJournal` and `eachJournal`).
 */
export async function runSync(deps: DesignDeps, exec: ExecutionDoc, deadlineMs: number): Promise<RunOutcome | SuspendedRun> {
  const token = deps.newId();
  const startedMs = Date.parse(exec.started_at);
  // No heartbeat: the lease covers the deadline, and lease_ms more for the hand-over at it.
  const doc: ExecutionDoc = { ...exec, lease_until: leaseStamp(startedMs + deadlineMs + deps.settings.lease_ms, token) };
  const { design, graph } = validateDesign(doc.design);
  const journal = deps.settings.sync_commits === 'each' ? await eachJournal(deps, doc) : new GroupedJournal(deps, doc);
  const suspend = new AbortController();
  const timer = setTimeout(
    () =>
      suspend.abort(
        new Error(`the run outlived the endpoint's sync deadline (deadline_ms ${deadlineMs}) and goes on through the run queue`),
      ),
    Math.max(0, startedMs + deadlineMs - deps.clock.now().getTime()),
  );
  let outcome: RunOutcome | SuspendedRun;
  try {
    outcome = await executeDesign(
      { execution_id: doc.id, design, graph, input: doc.run_input, started_at_ms: startedMs, suspend: suspend.signal },
      { agents: deps.agents, clock: deps.clock, journal, sleep: deps.sleep },
    );
  } finally {
    clearTimeout(timer);
  }
  const o = outcome;
  const ours = (cur: ExecutionDoc | null): cur is ExecutionDoc => cur?.lease_until === doc.lease_until && cur.status === 'running';
  const committed = await journal.finish((cur) => {
    if (!ours(cur)) return null;
    // Handed over: a lease that has lapsed already, so the queue's delivery (or the sweep) takes it at once.
    if (o.status === 'suspended') return { ...cur, counters: o.counters, lease_until: leaseStamp(deps.clock.now().getTime(), 'handover') };
    return finalDoc(deps, cur, o);
  });
  if (!committed) throw new TransientError(`execution ${doc.id} was taken over by another worker`);
  if (o.status === 'suspended') {
    // The run is committed with a lapsed lease: if this enqueue is lost, the sweep hands it on.
    await enqueueRun(deps, doc.id).catch(() => undefined);
  }
  return o;
}

/** What a synchronous run's journal adds: its last commit, which sets the execution as `mutate` says. */
interface SyncJournal extends StepJournal {
  finish(mutate: (current: ExecutionDoc | null) => ExecutionDoc | null): Promise<ExecutionDoc | null>;
}

/**
 * `sync_commits: grouped` (the default): a synchronous run's writes are grouped into as few
 * commits as possible. The execution is created by the run's first commit, with the endpoint's
 * counters; step results and attempt records are written behind, in commits that follow one
 * another in order (one per turn of the event loop at most, joined by whatever completed
 * meanwhile); the last commit sets the final status, and the answer waits for it. A run that ends
 * within one turn (a fast one-block design) costs one commit.
 *
 * What it trades, against `each`: a step's result is durable within one commit of its completion,
 * not before the next block starts; a crash in that window calls the step again when the sweep
 * resumes the run (never a step whose result was committed). Nothing of a run is stored until its
 * first step completes or SYNC_FIRST_COMMIT_MS pass: a crash before that leaves no trace of it
 * (nothing of it had completed; its caller saw the connection drop). The answer is never sent
 * before everything the run did is committed.
 */
class GroupedJournal implements SyncJournal {
  readonly completed = new Map<string, StepRecord>();
  readonly nextSeq = 0;
  private steps: StepLog[] = [];
  private records: StepRecord[] = [];
  private created = false;
  private pending = false;
  private last: Promise<unknown> = Promise.resolve();
  private readonly firstTimer: NodeJS.Timeout;

  constructor(
    private readonly deps: DesignDeps,
    private readonly initial: ExecutionDoc,
  ) {
    this.firstTimer = setTimeout(() => this.commitQuietly(), SYNC_FIRST_COMMIT_MS);
    this.firstTimer.unref?.();
  }

  async record(step: StepRecord): Promise<void> {
    this.records.push(step);
    this.later();
  }

  log(step: StepLog): void {
    this.steps.push(step);
    this.later();
  }

  finish(mutate: (current: ExecutionDoc | null) => ExecutionDoc | null): Promise<ExecutionDoc | null> {
    clearTimeout(this.firstTimer);
    return this.commit(mutate);
  }

  /** Next turn of the event loop: a run that ends in this one takes everything into its last commit instead. */
  private later(): void {
    if (this.pending) return;
    this.pending = true;
    setImmediate(() => {
      this.pending = false;
      this.commitQuietly();
    });
  }

  /** A commit behind the run: a failed one puts its writes back for the next (the last one's failure is the answer's). */
  private commitQuietly(): void {
    this.commit().catch(() => undefined);
  }

  /** Commits after the previous commit (whether it failed or not), with what is buffered when it starts. */
  private commit(mutate?: (current: ExecutionDoc | null) => ExecutionDoc | null): Promise<ExecutionDoc | null> {
    const run = async (): Promise<ExecutionDoc | null> => {
      const steps = this.steps.splice(0);
      const records = this.records.splice(0);
      const first = !this.created;
      if (!mutate && !first && steps.length === 0 && records.length === 0) return null;
      if (first) clearTimeout(this.firstTimer);
      const initial = this.initial;
      const execution: RunCommit['execution'] = mutate
        ? (cur) => mutate(cur ?? (first ? structuredClone(initial) : null))
        : first
          ? (cur) => {
              if (cur) throw new Error(`execution ${initial.id} exists already`);
              return initial;
            }
          : undefined;
      try {
        const done = await this.deps.store.commitRun(initial.id, {
          execution,
          steps,
          records,
          ...(first ? { count_on: { endpoint_id: initial.deployment_id, at: initial.started_at } } : {}),
        });
        this.created = true;
        return done;
      } catch (err) {
        this.steps.unshift(...steps);
        this.records.unshift(...records);
        throw err;
      }
    };
    const p = this.last.then(run, run);
    this.last = p.catch(() => undefined);
    return p;
  }
}

/**
 * `sync_commits: each`: every write synced before the run goes on, as queue runs do: the
 * execution and the endpoint's counters before the first call, each step's result before
 * anything uses it, then the final status with the remaining attempt records. Up to three
 * commits one after another for a one-block run; no agent is ever called before the result it
 * follows is durable.
 */
async function eachJournal(deps: DesignDeps, doc: ExecutionDoc): Promise<SyncJournal> {
  await deps.store.createExecution(doc);
  const counted = deps.store
    .updateEndpoint(doc.deployment_id, (cur) => ({ ...cur, execution_count: cur.execution_count + 1, last_execution_at: doc.started_at }))
    .catch(() => null);
  const journal = journalOn(deps, doc.id, [], []);
  return {
    ...journal,
    async finish(mutate) {
      const drained = journal.drain();
      let refused = false;
      const ended = await deps.store.updateExecution(doc.id, (cur) => {
        const next = mutate(cur);
        refused = next === null;
        return next;
      });
      await Promise.all([drained, counted]);
      return refused ? null : ended;
    },
  };
}
