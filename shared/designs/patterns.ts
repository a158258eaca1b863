import { type Group, valueAt } from '../domain/design.js';
import { type CallOptions, deepFreeze, type Run, RunStop, StepFailed } from './executor.js';
import { Semaphore } from './semaphore.js';

/**
 * The six group patterns of shared/designs.md. Each takes the group's input and the snapshot of
 * what precedes the group, calls its members through `run.callBlock` (budget, retries, journal),
 * and returns the group's output, the last output of each member (visible to what follows the
 * group) and, for routing, the target chosen. Step ids are built from the group, member, round,
 * iteration and delegation index only, so they are the same on every run of the same design.
 * Besides each attempt (logged by callBlock), every decision a group takes is a record of its own.
 */

export interface GroupResult {
  output: unknown;
  memberOutputs: Record<string, unknown>;
  route?: string;
}

type Outputs = Readonly<Record<string, unknown>>;
type G<P extends Group['pattern']> = Extract<Group, { pattern: P }>;

export async function runGroup(run: Run, g: Group, input: unknown, outputs: Outputs): Promise<GroupResult> {
  switch (g.pattern) {
    case 'sequential':
      return sequential(run, g, input, outputs);
    case 'parallel':
      return parallel(run, g, input, outputs);
    case 'hierarchical':
      return hierarchical(run, g, input, outputs);
    case 'debate':
      return debate(run, g, input, outputs);
    case 'routing':
      return routing(run, g, input, outputs);
    case 'reflection':
      return reflection(run, g, input, outputs);
  }
}

const member = (
  g: Group,
  blockId: string,
  extra: Partial<CallOptions> & { stepId: string; input: unknown; outputs: Outputs },
): CallOptions => ({
  blockId,
  groupId: g.id,
  pattern: g.pattern,
  ...extra,
});

/**
 * A group's decision as a record of its own in the execution log (attempt 0, no agent call): the
 * route taken, a manager's delegation, a debate round's outcome and who sat it out, a critic's
 * verdict, a loop that ran out of rounds or iterations.
 */
function decide(
  run: Run,
  g: Group,
  blockId: string,
  stepId: string,
  at: { round?: number; iteration?: number },
  decision: Record<string, unknown>,
  basedOn: string[],
  status: 'completed' | 'failed' = 'completed',
): void {
  // Taken from recorded steps only (a resumed run): the start that made those steps logged it already.
  const replayed = basedOn.length > 0 && basedOn.every((id) => run.earlier.has(id));
  run.log({
    step_id: stepId,
    block_id: blockId,
    group_id: g.id,
    pattern: g.pattern,
    ...at,
    attempt: 0,
    status,
    started_at: run.nowIso(),
    duration_ms: 0,
    decision: replayed ? { ...decision, replayed: true } : decision,
  });
}

/** Each block gets the previous block's output and sees the earlier members' outputs; the output is the last one's. */
async function sequential(run: Run, g: G<'sequential'>, input: unknown, outputs: Outputs): Promise<GroupResult> {
  let current = input;
  const seen: Record<string, unknown> = {};
  for (const b of g.blocks) {
    current = deepFreeze(
      await run.callBlock(member(g, b, { stepId: `${g.id}/${b}`, input: current, outputs: Object.freeze({ ...outputs, ...seen }) })),
    );
    seen[b] = current;
  }
  return { output: current, memberOutputs: seen };
}

/**
 * Every branch gets the same input and snapshot. Mode all: the first failure aborts the siblings
 * and fails the group. Mode all_settled: failures are kept (null in a collect) while at least
 * min_success branches succeed.
 */
async function parallel(run: Run, g: G<'parallel'>, input: unknown, outputs: Outputs): Promise<GroupResult> {
  const abort = new AbortController();
  const limit = g.max_concurrency ? new Semaphore(g.max_concurrency) : undefined;
  const branches = g.blocks.map(async (b) => {
    try {
      return {
        ok: true as const,
        output: await run.callBlock(member(g, b, { stepId: `${g.id}/${b}`, input, outputs, signal: abort.signal, limit })),
      };
    } catch (err) {
      if (err instanceof RunStop) throw err;
      if (g.mode === 'all') {
        abort.abort(err);
        throw err;
      }
      return { ok: false as const, error: err instanceof Error ? err.message : String(err) };
    }
  });
  const settled = await Promise.allSettled(branches);
  const stop = run.stopping();
  if (stop) throw stop;
  // The first failure in declaration order, not the aborts it caused.
  const failure = settled.find((s) => s.status === 'rejected' && !(s.reason instanceof Error && s.reason.name === 'AbortError'));
  if (failure && failure.status === 'rejected') throw failure.reason;
  const results = settled.map((s) => (s.status === 'fulfilled' ? s.value : { ok: false as const, error: 'aborted' }));
  const ok = results.filter((r) => r.ok).length;
  const need = g.mode === 'all_settled' ? (g.min_success ?? 1) : g.blocks.length;
  if (ok < need) {
    const errors = results.flatMap((r, i) => (r.ok ? [] : [`${g.blocks[i]}: ${r.error}`]));
    throw new StepFailed(
      g.id,
      `parallel group "${g.id}": ${ok} of ${g.blocks.length} branches succeeded, min_success is ${need} (${errors.join('; ')})`,
    );
  }
  const memberOutputs: Record<string, unknown> = {};
  results.forEach((r, i) => {
    if (r.ok) memberOutputs[g.blocks[i]] = r.output;
  });
  if (g.reduce === 'collect') return { output: results.map((r) => (r.ok ? r.output : null)), memberOutputs };
  const merged: Record<string, unknown> = {};
  const owner: Record<string, string> = {};
  results.forEach((r, i) => {
    if (!r.ok) return;
    const b = g.blocks[i];
    if (typeof r.output !== 'object' || r.output === null || Array.isArray(r.output))
      throw new StepFailed(
        g.id,
        `parallel group "${g.id}" merges objects, but block "${b}" answered ${JSON.stringify(r.output)?.slice(0, 80)}`,
      );
    for (const [k, v] of Object.entries(r.output)) {
      if (k in merged)
        throw new StepFailed(
          g.id,
          `parallel group "${g.id}": key "${k}" comes from both "${owner[k]}" and "${b}" (reduce "merge" refuses duplicate keys)`,
        );
      merged[k] = v;
      owner[k] = b;
    }
  });
  return { output: merged, memberOutputs };
}

/** The manager delegates to its workers (in parallel) round after round until it answers `final`. */
async function hierarchical(run: Run, g: G<'hierarchical'>, input: unknown, outputs: Outputs): Promise<GroupResult> {
  let results: { worker: string; input: unknown; output: unknown }[] = [];
  const memberOutputs: Record<string, unknown> = {};
  for (let round = 1; round <= g.max_rounds; round++) {
    const answer = await run.callBlock(
      member(g, g.manager, { stepId: `${g.id}/${g.manager}/r${round}`, input: { input, workers: g.workers, results }, outputs, round }),
    );
    memberOutputs[g.manager] = answer;
    const delegate = typeof answer === 'object' && answer !== null ? (answer as { delegate?: unknown }).delegate : undefined;
    if (typeof answer === 'object' && answer !== null && 'final' in answer) {
      // A manager that never delegated did the work itself (or skipped it): said, not hidden (crewAI#4783).
      decide(
        run,
        g,
        g.manager,
        `${g.id}/r${round}`,
        { round },
        {
          final: true,
          delegated_before: round > 1,
          ...(round === 1 ? { note: `the manager "${g.manager}" answered final without delegating to any worker` } : {}),
        },
        [`${g.id}/${g.manager}/r${round}`],
      );
      return { output: (answer as { final: unknown }).final, memberOutputs };
    }
    if (!Array.isArray(delegate) || delegate.length === 0) {
      decide(
        run,
        g,
        g.manager,
        `${g.id}/r${round}`,
        { round },
        { delegate: null, final: false },
        [`${g.id}/${g.manager}/r${round}`],
        'failed',
      );
      throw new StepFailed(
        g.id,
        `hierarchical group "${g.id}": the manager "${g.manager}" answered neither {"delegate": [...]} nor {"final": ...} in round ${round}`,
      );
    }
    const tasks = delegate.map((d, k) => {
      const worker = typeof d === 'object' && d !== null ? (d as { worker?: unknown }).worker : undefined;
      if (typeof worker !== 'string' || !g.workers.includes(worker)) {
        decide(
          run,
          g,
          g.manager,
          `${g.id}/r${round}`,
          { round },
          { delegate: [worker ?? null], final: false, undeclared: worker ?? null },
          [`${g.id}/${g.manager}/r${round}`],
          'failed',
        );
        throw new StepFailed(
          g.id,
          `hierarchical group "${g.id}": the manager delegated to ${JSON.stringify(worker)}, which is not one of its workers (${g.workers.join(', ')})`,
        );
      }
      return { worker, input: (d as { input?: unknown }).input ?? null, k };
    });
    decide(run, g, g.manager, `${g.id}/r${round}`, { round }, { delegate: tasks.map((t) => t.worker), final: false }, [
      `${g.id}/${g.manager}/r${round}`,
    ]);
    const done = await Promise.all(
      tasks.map(async (t) => {
        const output = await run.callBlock(
          member(g, t.worker, { stepId: `${g.id}/${t.worker}/r${round}/d${t.k}`, input: t.input, outputs, round }),
        );
        memberOutputs[t.worker] = output;
        return { worker: t.worker, input: t.input, output };
      }),
    );
    results = done;
  }
  decide(
    run,
    g,
    g.manager,
    `${g.id}/exhausted`,
    {},
    { final: false, exhausted: true, max_rounds: g.max_rounds },
    [`${g.id}/${g.manager}/r${g.max_rounds}`],
    'failed',
  );
  throw new StepFailed(g.id, `hierarchical group "${g.id}": the manager gave no final answer within max_rounds ${g.max_rounds}`);
}

/**
 * Round 1: every debater gets the input; round r: each gets the others' answers of round r−1, in
 * declaration order. The judge (if any) rules after each round; without one, a unanimous round
 * ends it, and the majority answer of the last round is the output. A failing debater sits out
 * while at least two remain.
 */
async function debate(run: Run, g: G<'debate'>, input: unknown, outputs: Outputs): Promise<GroupResult> {
  let active = [...g.debaters];
  let answers: { debater: string; answer: unknown }[] = [];
  const memberOutputs: Record<string, unknown> = {};
  let verdict: unknown;
  for (let round = 1; round <= g.max_rounds; round++) {
    const previous = answers;
    const roundSteps = active.map((d) => `${g.id}/${d}/r${round}`);
    const settled = await Promise.allSettled(
      active.map((d) =>
        run.callBlock(
          member(g, d, {
            stepId: `${g.id}/${d}/r${round}`,
            input: { input, round, others: previous.filter((a) => a.debater !== d) },
            outputs,
            round,
          }),
        ),
      ),
    );
    const stop = run.stopping();
    if (stop) throw stop;
    const next: typeof answers = [];
    const satOut: { debater: string; error: string }[] = [];
    settled.forEach((s, i) => {
      if (s.status === 'rejected') {
        if (s.reason instanceof RunStop) throw s.reason;
        satOut.push({ debater: active[i], error: s.reason instanceof Error ? s.reason.message : String(s.reason) });
        return;
      }
      memberOutputs[active[i]] = s.value;
      next.push({ debater: active[i], answer: valueAt(s.value, g.answer_path) ?? s.value });
    });
    const answered = next.map((a) => a.debater);
    if (next.length < 2) {
      decide(run, g, g.id, `${g.id}/r${round}`, { round }, { answered, sat_out: satOut, consensus: false }, roundSteps, 'failed');
      const why = satOut.map((x) => x.error).join('; ');
      throw new StepFailed(g.id, `debate group "${g.id}": fewer than 2 debaters answered in round ${round} (${why})`);
    }
    active = answered;
    answers = next;
    let consensus: boolean;
    if (g.judge) {
      verdict = await run.callBlock(
        member(g, g.judge, { stepId: `${g.id}/${g.judge}/r${round}`, input: { input, round, answers }, outputs, round }),
      );
      memberOutputs[g.judge] = verdict;
      consensus = valueAt(verdict, g.consensus_path) === true;
    } else consensus = new Set(answers.map((a) => JSON.stringify(a.answer))).size === 1;
    // One record per round: who answered, who sat out (and why; they stay out), whether it ends here.
    decide(
      run,
      g,
      g.judge ?? g.id,
      `${g.id}/r${round}`,
      { round },
      { answered, sat_out: satOut, consensus, by: g.judge ? 'judge' : 'unanimity' },
      g.judge ? [...roundSteps.filter((_, i) => settled[i]?.status === 'fulfilled'), `${g.id}/${g.judge}/r${round}`] : roundSteps,
    );
    if (consensus) break;
  }
  if (g.judge) return { output: valueAt(verdict, g.answer_path) ?? verdict, memberOutputs };
  return { output: majority(answers.map((a) => a.answer)), memberOutputs };
}

/** The most common answer; a tie goes to the one given first. */
function majority(values: unknown[]): unknown {
  const counts = new Map<string, { n: number; value: unknown }>();
  for (const v of values) {
    const key = JSON.stringify(v);
    const c = counts.get(key) ?? { n: 0, value: v };
    c.n++;
    counts.set(key, c);
  }
  let best: { n: number; value: unknown } | undefined;
  for (const c of counts.values()) if (!best || c.n > best.n) best = c;
  return best?.value ?? null;
}

/**
 * The router classifies the group's input; its answer at route_path picks one target (default
 * when no route matches). The group's output is its input, handed on to the chosen target; the
 * router's answer is visible to what follows as outputs[router].
 */
async function routing(run: Run, g: G<'routing'>, input: unknown, outputs: Outputs): Promise<GroupResult> {
  const answer = await run.callBlock(member(g, g.router, { stepId: `${g.id}/${g.router}`, input, outputs }));
  const value = valueAt(answer, g.route_path);
  const key = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
  const target = (key !== undefined && Object.hasOwn(g.routes, key) ? g.routes[key] : undefined) ?? (g.default as string);
  decide(
    run,
    g,
    g.router,
    `${g.id}/route`,
    {},
    {
      route: key ?? null,
      target,
      default: target === g.default && (key === undefined || !Object.hasOwn(g.routes, key)),
    },
    [`${g.id}/${g.router}`],
  );
  return { output: input, memberOutputs: { [g.router]: answer }, route: target };
}

/** Generator, then critic; not approved: the generator again with the feedback, up to max_iterations. */
async function reflection(run: Run, g: G<'reflection'>, input: unknown, outputs: Outputs): Promise<GroupResult> {
  let output: unknown;
  let feedback: unknown;
  const memberOutputs: Record<string, unknown> = {};
  for (let iteration = 1; iteration <= g.max_iterations; iteration++) {
    const genInput = iteration === 1 ? input : { input, previous_output: output, feedback, iteration };
    output = await run.callBlock(
      member(g, g.generator, {
        stepId: `${g.id}/${g.generator}/i${iteration}`,
        input: genInput,
        outputs,
        iteration,
        ...(iteration > 1 ? { feedback } : {}),
      }),
    );
    memberOutputs[g.generator] = output;
    const verdict = await run.callBlock(
      member(g, g.critic, { stepId: `${g.id}/${g.critic}/i${iteration}`, input: { input, output, iteration }, outputs, iteration }),
    );
    memberOutputs[g.critic] = verdict;
    const approved = valueAt(verdict, g.approved_path) === true;
    const score = valueAt(verdict, 'score');
    feedback = valueAt(verdict, g.feedback_path) ?? null;
    decide(
      run,
      g,
      g.critic,
      `${g.id}/i${iteration}`,
      { iteration },
      {
        approved,
        ...(typeof score === 'number' ? { score } : {}),
        feedback: !approved && feedback !== null,
      },
      [`${g.id}/${g.critic}/i${iteration}`],
    );
    if (approved) return { output, memberOutputs };
  }
  decide(
    run,
    g,
    g.id,
    `${g.id}/exhausted`,
    {},
    { approved: false, exhausted: true, max_iterations: g.max_iterations, on_exhausted: g.on_exhausted },
    [`${g.id}/${g.critic}/i${g.max_iterations}`],
    g.on_exhausted === 'fail' ? 'failed' : 'completed',
  );
  if (g.on_exhausted === 'fail')
    throw new StepFailed(g.id, `reflection group "${g.id}": not approved after max_iterations ${g.max_iterations}`);
  return { output, memberOutputs };
}
