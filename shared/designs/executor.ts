import type { Block, Design } from '../domain/design.js';
import type { DesignGraph } from '../domain/design-graph.js';
import { previewOf } from '../domain/preview.js';
import type { AgentCallBody, AgentCaller } from '../ports/agent-caller.js';
import type { Clock } from '../ports/clock.js';
import { runGroup } from './patterns.js';
import { Semaphore } from './semaphore.js';
import type { RunCounters, RunOutcome, StepJournal, StepLog, StepRecord, SuspendedRun } from './types.js';

/**
 * Runs a validated design (shared/designs.md). Pure against its ports: agents are called through
 * `AgentCaller`, time comes from `Clock`, back-off waits through `sleep`, and every completed step
 * is handed to the `StepJournal` before anything depends on it, so a run started again with the
 * same journal replays recorded steps instead of calling their agents again (durable runs).
 *
 * Nodes (groups and blocks in no group) start as soon as their parents are settled, in a
 * deterministic topological order (no lock-step supersteps); a node whose parents were all
 * skipped (an untaken route) is skipped. Agent calls share one run-wide budget
 * (`max_agent_calls`), one deadline (`run_timeout_ms`, from the run's first start) and one
 * concurrency limit. A step sees an immutable snapshot of the outputs of what precedes it, never a
 * sibling's.
 */

export interface ExecutorPorts {
  agents: AgentCaller;
  clock: Clock;
  /** Waits `ms` unless `signal` aborts first (then rejects with its reason). */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  journal: StepJournal;
  /** 0 ≤ x < 1, for back-off jitter; Math.random by default. */
  random?: () => number;
}

export interface RunSpec {
  execution_id: string;
  design: Design;
  graph: DesignGraph;
  input: unknown;
  /** When the run first started (a resumed run keeps its deadline), ms since epoch. */
  started_at_ms: number;
  /** Aborts the run: status `cancelled`. */
  signal?: AbortSignal;
  /**
   * Stops the run without ending it: calls in flight are aborted (logged `aborted`), what had
   * completed stays in the journal, and the outcome is `suspended` (another worker goes on).
   */
  suspend?: AbortSignal;
}

/** Ends the run with a status other than completed; thrown through every pattern. */
export class RunStop extends Error {
  override readonly name = 'RunStop';
  constructor(
    readonly status: Exclude<RunOutcome['status'], 'completed'> | 'suspended',
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** A step failed for good (after its retries, with on_error fail). */
export class StepFailed extends Error {
  override readonly name = 'StepFailed';
  constructor(
    readonly nodeId: string,
    message: string,
  ) {
    super(message);
  }
}

export interface CallOptions {
  stepId: string;
  blockId: string;
  input: unknown;
  outputs: Readonly<Record<string, unknown>>;
  groupId?: string;
  pattern?: StepLog['pattern'];
  iteration?: number;
  round?: number;
  feedback?: unknown;
  /** A group's own abort (parallel mode all: a failed branch aborts its siblings). */
  signal?: AbortSignal;
  /** A group's own concurrency limit, within the run's. */
  limit?: Semaphore;
}

export class Run {
  readonly counters: RunCounters = { agent_calls: 0, retries: 0, replayed: 0 };
  readonly controller = new AbortController();
  private readonly calls: Semaphore;
  private readonly random: () => number;
  private seq = 0;
  /** Steps an earlier start of this run completed (replayed, not called, by this one). */
  readonly earlier: ReadonlySet<string>;

  constructor(
    readonly spec: RunSpec,
    readonly ports: ExecutorPorts,
  ) {
    this.calls = new Semaphore(spec.design.limits.max_concurrency);
    this.random = ports.random ?? Math.random;
    for (const r of ports.journal.completed.values()) this.counters.agent_calls += r.attempts;
    this.earlier = new Set(ports.journal.completed.keys());
    this.seq = ports.journal.nextSeq;
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Stops the run (once): every call in flight is aborted with this reason. */
  stop(err: RunStop): void {
    if (!this.controller.signal.aborted) this.controller.abort(err);
  }

  /** The reason the run is stopping, if it is. */
  stopping(): RunStop | null {
    const r = this.controller.signal.reason;
    return this.controller.signal.aborted && r instanceof RunStop ? r : null;
  }

  nowIso(): string {
    return this.ports.clock.now().toISOString();
  }

  log(step: Omit<StepLog, 'seq'>): void {
    this.ports.journal.log({ seq: this.seq++, ...step });
  }

  /**
   * Calls one block's agent, with its retries, or replays its recorded result. Returns its output
   * (the fallback output when it failed with on_error skip); throws StepFailed or RunStop.
   */
  async callBlock(o: CallOptions): Promise<unknown> {
    const recorded = this.ports.journal.completed.get(o.stepId);
    if (recorded) {
      this.counters.replayed++;
      return recorded.output;
    }
    const block = this.spec.graph.blocks.get(o.blockId) as Block;
    const body: AgentCallBody = {
      input: o.input,
      context: { run_input: this.spec.input, outputs: o.outputs },
      meta: {
        execution_id: this.spec.execution_id,
        block_id: o.blockId,
        ...(o.iteration !== undefined ? { iteration: o.iteration } : {}),
        ...(o.round !== undefined ? { round: o.round } : {}),
        ...(o.feedback !== undefined ? { feedback: o.feedback } : {}),
      },
    };
    const inputPreview = previewOf(o.input);
    const where = {
      step_id: o.stepId,
      block_id: o.blockId,
      ...(o.groupId ? { group_id: o.groupId, pattern: o.pattern } : {}),
      ...(o.iteration !== undefined ? { iteration: o.iteration } : {}),
      ...(o.round !== undefined ? { round: o.round } : {}),
    };
    let lastError = '';
    for (let attempt = 1; attempt <= block.retry.max_attempts; attempt++) {
      try {
        this.throwIfStopped(o.signal);
      } catch (err) {
        // Stopped before its first attempt (a sibling failed, the run is ending): logged, so no branch vanishes silently.
        if (attempt === 1) this.notStarted(where, inputPreview, err);
        throw err;
      }
      if (this.counters.agent_calls >= this.spec.design.limits.max_agent_calls) {
        const stop = new RunStop(
          'limit_exceeded',
          'max_agent_calls',
          `the run reached its budget of ${this.spec.design.limits.max_agent_calls} agent calls (limits.max_agent_calls) before block "${o.blockId}"`,
        );
        this.stop(stop);
        if (attempt === 1) this.notStarted(where, inputPreview, stop);
        throw stop;
      }
      this.counters.agent_calls++;
      if (attempt > 1) this.counters.retries++;
      let release: () => void;
      try {
        release = await this.acquire(o.limit, o.signal);
      } catch (err) {
        this.counters.agent_calls--;
        if (attempt > 1) this.counters.retries--;
        if (attempt === 1) this.notStarted(where, inputPreview, err);
        throw err;
      }
      const startedAt = this.ports.clock.now();
      let answer: Awaited<ReturnType<AgentCaller['call']>>;
      try {
        const attemptSignal = AbortSignal.any([this.signal, ...(o.signal ? [o.signal] : []), AbortSignal.timeout(block.timeout_ms)]);
        answer = await this.ports.agents.call(block.agent, body, {
          signal: attemptSignal,
          maxBytes: this.spec.design.limits.max_payload_bytes,
        });
      } finally {
        release();
      }
      const duration_ms = this.ports.clock.now().getTime() - startedAt.getTime();
      const base = { ...where, attempt, started_at: startedAt.toISOString(), duration_ms, input_preview: inputPreview };
      if (answer.ok) {
        this.log({ ...base, status: 'completed', http_status: answer.status, output_preview: previewOf(answer.output) });
        await this.ports.journal.record({ step_id: o.stepId, status: 'completed', output: answer.output, attempts: attempt });
        return answer.output;
      }
      // An abort from the run or the group is not this step's failure.
      const stop = this.stopping();
      if (stop || o.signal?.aborted) {
        this.log({ ...base, status: 'aborted', error: stop?.message ?? 'aborted: a sibling failed' });
        this.throwIfStopped(o.signal);
      }
      const timedOut = answer.kind === 'timeout' || answer.kind === 'aborted';
      lastError = timedOut ? `no answer within timeout_ms ${block.timeout_ms}` : answer.message;
      this.log({
        ...base,
        status: timedOut ? 'timeout' : 'failed',
        ...(answer.status !== undefined ? { http_status: answer.status } : {}),
        error: lastError,
      });
      const retryable = timedOut || answer.retryable;
      if (!retryable || attempt === block.retry.max_attempts) break;
      await this.backoff(block, attempt, o.signal);
    }
    if (block.on_error === 'skip') {
      const output = block.fallback_output ?? null;
      await this.ports.journal.record({ step_id: o.stepId, status: 'fallback', output, attempts: block.retry.max_attempts });
      return output;
    }
    throw new StepFailed(o.blockId, `block "${o.blockId}" failed: ${lastError}`);
  }

  /** The record of a step stopped before its first attempt: status aborted, attempt 0, why. */
  private notStarted(
    where: Omit<StepLog, 'seq' | 'attempt' | 'status' | 'started_at' | 'duration_ms'>,
    input: StepLog['input_preview'],
    err: unknown,
  ): void {
    const why = err instanceof Error ? err.message : String(err);
    this.log({
      ...where,
      attempt: 0,
      status: 'aborted',
      started_at: this.nowIso(),
      duration_ms: 0,
      input_preview: input,
      error: `not started: ${why}`,
    });
  }

  /** Capped exponential back-off with jitter (half to all of the step). */
  private async backoff(block: Block, attempt: number, groupSignal?: AbortSignal): Promise<void> {
    const { initial_backoff_ms, max_backoff_ms } = block.retry;
    const step = Math.min(max_backoff_ms, initial_backoff_ms * 2 ** (attempt - 1));
    const signal = groupSignal ? AbortSignal.any([this.signal, groupSignal]) : this.signal;
    try {
      await this.ports.sleep(Math.round(step * (0.5 + this.random() / 2)), signal);
    } catch {
      this.throwIfStopped(groupSignal);
    }
  }

  private async acquire(group: Semaphore | undefined, groupSignal?: AbortSignal): Promise<() => void> {
    const releaseGroup = group ? await group.acquire() : () => {};
    const releaseRun = await this.calls.acquire();
    try {
      this.throwIfStopped(groupSignal);
    } catch (err) {
      releaseRun();
      releaseGroup();
      throw err;
    }
    return () => {
      releaseRun();
      releaseGroup();
    };
  }

  throwIfStopped(groupSignal?: AbortSignal): void {
    const stop = this.stopping();
    if (stop) throw stop;
    if (groupSignal?.aborted) throw groupSignal.reason instanceof Error ? groupSignal.reason : new Error('aborted');
  }
}

/**
 * Runs the design to its end (or until `spec.suspend` fires): never throws for what the agents
 * do; the outcome says how it ended.
 */
export function executeDesign(spec: RunSpec & { suspend?: undefined }, ports: ExecutorPorts): Promise<RunOutcome>;
export function executeDesign(spec: RunSpec, ports: ExecutorPorts): Promise<RunOutcome | SuspendedRun>;
export async function executeDesign(spec: RunSpec, ports: ExecutorPorts): Promise<RunOutcome | SuspendedRun> {
  const run = new Run(spec, ports);
  const remaining = spec.started_at_ms + spec.design.limits.run_timeout_ms - ports.clock.now().getTime();
  const timeout = new RunStop(
    'timeout',
    'run_timeout_ms',
    `the run took longer than limits.run_timeout_ms (${spec.design.limits.run_timeout_ms} ms)`,
  );
  const timer = setTimeout(() => run.stop(timeout), Math.max(0, remaining));
  const onCancel = () => run.stop(new RunStop('cancelled', 'cancelled', 'the run was cancelled'));
  spec.signal?.addEventListener('abort', onCancel, { once: true });
  if (spec.signal?.aborted) onCancel();
  const onSuspend = () =>
    run.stop(
      new RunStop('suspended', 'suspended', String(spec.suspend?.reason instanceof Error ? spec.suspend.reason.message : 'suspended')),
    );
  spec.suspend?.addEventListener('abort', onSuspend, { once: true });
  if (spec.suspend?.aborted) onSuspend();
  try {
    const { output, skipped } = await runGraph(run);
    return {
      status: 'completed',
      termination_reason: skipped ? 'output_skipped' : 'output_ready',
      result: output,
      counters: run.counters,
    };
  } catch (err) {
    const stop = run.stopping() ?? (err instanceof RunStop ? err : null);
    if (stop?.status === 'suspended') return { status: 'suspended', reason: stop.message, counters: run.counters };
    if (stop) return { status: stop.status, termination_reason: stop.reason, result: null, error: stop.message, counters: run.counters };
    run.stop(new RunStop('failed', 'failed', 'another step failed'));
    const message = err instanceof Error ? err.message : String(err);
    const reason = err instanceof StepFailed ? `step_failed:${err.nodeId}` : 'failed';
    return { status: 'failed', termination_reason: reason, result: null, error: message, counters: run.counters };
  } finally {
    clearTimeout(timer);
    spec.signal?.removeEventListener('abort', onCancel);
    spec.suspend?.removeEventListener('abort', onSuspend);
    // Anything still in flight stops now.
    if (!run.signal.aborted) run.controller.abort(new RunStop('cancelled', 'finished', 'the run finished'));
  }
}

/** The graph walk: each node starts once its parents are settled. */
async function runGraph(run: Run): Promise<{ output: unknown; skipped: boolean }> {
  const { graph, design } = run.spec;
  const visible = visibleSets(graph);
  const published = new Map<string, unknown>();
  const outcome = new Map<string, 'done' | 'skipped'>();
  /** The target a routing group chose. */
  const chosen = new Map<string, string>();
  const inflight = new Map<string, Promise<[string, unknown, string | undefined]>>();
  const routeTargets = new Map<string, Set<string>>();
  for (const g of graph.groups.values()) {
    if (g.pattern === 'routing') routeTargets.set(g.id, new Set([...Object.values(g.routes), ...(g.default ? [g.default] : [])]));
  }
  const parentDone = (parent: string, child: string) =>
    outcome.get(parent) === 'done' && (!routeTargets.get(parent)?.has(child) || chosen.get(parent) === child);

  const snapshot = (id: string): Readonly<Record<string, unknown>> => {
    const out: Record<string, unknown> = {};
    for (const v of visible.get(id) ?? []) if (published.has(v)) out[v] = published.get(v);
    return Object.freeze(out);
  };

  const startReady = () => {
    let changed = true;
    while (changed) {
      changed = false;
      for (const id of graph.order) {
        if (outcome.has(id) || inflight.has(id)) continue;
        const parents = graph.nodes.get(id)?.parents ?? [];
        if (!parents.every((p) => outcome.has(p))) continue;
        const done = parents.filter((p) => parentDone(p, id));
        if (parents.length > 0 && done.length === 0) {
          outcome.set(id, 'skipped');
          run.log({
            step_id: id,
            block_id: id,
            attempt: 0,
            status: 'skipped',
            started_at: run.nowIso(),
            duration_ms: 0,
            error: 'every path to it was skipped',
          });
          changed = true;
          continue;
        }
        const input =
          parents.length === 0
            ? run.spec.input
            : parents.length === 1
              ? published.get(done[0])
              : Object.fromEntries(done.map((p) => [p, published.get(p)]));
        inflight.set(id, runNode(run, id, input, snapshot(id), published));
      }
    }
  };

  startReady();
  while (inflight.size > 0) {
    const [id, output, route] = await Promise.race(inflight.values());
    inflight.delete(id);
    published.set(id, deepFreeze(output));
    outcome.set(id, 'done');
    if (route !== undefined) chosen.set(id, route);
    startReady();
  }
  if (outcome.get(design.output) !== 'done') return { output: null, skipped: true };
  return { output: published.get(design.output), skipped: false };
}

async function runNode(
  run: Run,
  id: string,
  input: unknown,
  outputs: Readonly<Record<string, unknown>>,
  published: Map<string, unknown>,
): Promise<[string, unknown, string | undefined]> {
  const group = run.spec.graph.groups.get(id);
  if (!group) return [id, await run.callBlock({ stepId: id, blockId: id, input, outputs }), undefined];
  const result = await runGroup(run, group, input, outputs);
  // A group's members' last outputs become visible to what follows it.
  for (const [member, out] of Object.entries(result.memberOutputs)) published.set(member, deepFreeze(out));
  return [id, result.output, result.route];
}

/** For each node, the ids whose outputs it may see: its ancestors and the members of ancestor groups. */
function visibleSets(graph: DesignGraph): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const id of graph.order) {
    const seen = new Set<string>();
    for (const p of graph.nodes.get(id)?.parents ?? []) {
      seen.add(p);
      for (const v of out.get(p) ?? []) seen.add(v);
      for (const [member, g] of graph.groupOf) if (g === p) seen.add(member);
    }
    out.set(id, seen);
  }
  return out;
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export type { RunOutcome, StepJournal, StepLog, StepRecord, SuspendedRun };
