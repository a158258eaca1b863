import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpAgentCaller } from '../../shared/adapters/local/http-agent-caller.js';
import { executeDesign } from '../../shared/designs/executor.js';
import { validateDesign } from '../../shared/domain/design-graph.js';
import { systemClock } from '../../shared/ports/clock.js';
import { DesignAgents, MemoryJournal } from '../support/design-agents.js';

/**
 * Every pattern of shared/designs.md run by the executor against real agent services on
 * 127.0.0.1 (answering, failing, slow, looping, malformed JSON) through the HTTP adapter.
 */

let agents: DesignAgents;
const caller = new HttpAgentCaller({ allow: ['127.0.0.1:*'], resolveAgent: async () => null });

beforeAll(async () => {
  agents = await new DesignAgents().start();
});
afterAll(async () => {
  caller.close();
  await agents.stop();
});

async function run(design: unknown, input: unknown, journal = new MemoryJournal()) {
  const { design: d, graph } = validateDesign(design);
  const outcome = await executeDesign(
    { execution_id: 'exec-1', design: d, graph, input, started_at_ms: Date.now() },
    { agents: caller, clock: systemClock, journal, sleep: (ms, signal) => sleep(ms, undefined, { signal }), random: () => 0 },
  );
  return { outcome, journal };
}

const d = (extra: object) => ({ version: 1, name: 't', ...extra });

describe('design patterns end to end against local agents', () => {
  it('plain edges: a root gets the run input, a join gets {parent: output}, the context holds only ancestors', async () => {
    const { outcome } = await run(
      d({
        blocks: [
          { id: 'a', agent: agents.agent('/echo') },
          { id: 'b', agent: agents.agent('/echo') },
          { id: 'c', agent: agents.agent('/echo') },
        ],
        edges: [
          { from: 'a', to: 'c' },
          { from: 'b', to: 'c' },
        ],
        output: 'c',
      }),
      { q: 1 },
    );
    expect(outcome.status).toBe('completed');
    expect(outcome.result).toEqual({ block: 'c', input: { a: { block: 'a', input: { q: 1 } }, b: { block: 'b', input: { q: 1 } } } });
    const [callA] = agents.callsOf('a').slice(-1);
    expect(callA.context).toEqual({ run_input: { q: 1 }, outputs: {} });
    expect(Object.keys(agents.callsOf('c').at(-1)?.context.outputs ?? {})).toEqual(['a', 'b']);
  });

  it('sequential: each block gets the previous output', async () => {
    const { outcome } = await run(
      d({
        blocks: [
          { id: 's1', agent: agents.agent('/upper') },
          { id: 's2', agent: agents.agent('/echo') },
        ],
        groups: [{ id: 'seq', pattern: 'sequential', blocks: ['s1', 's2'] }],
        output: 'seq',
      }),
      'hello',
    );
    expect(outcome.result).toEqual({ block: 's2', input: 'HELLO' });
    expect(agents.callsOf('s2').at(-1)?.context.outputs).toEqual({ s1: 'HELLO' });
  });

  it('parallel: 5 branches in flight at once, collected in declaration order; siblings never see each other', async () => {
    // Each branch's agent answers only once all five calls wait on it together (the wall-clock
    // goal, 10 branches × 200 ms in < 300 ms, is measured in bench/designs.ts, not here).
    const ids = ['p1', 'p2', 'p3', 'p4', 'p5'];
    const { outcome } = await run(
      d({
        blocks: ids.map((id) => ({ id, agent: agents.agent('/barrier/5') })),
        groups: [{ id: 'fan', pattern: 'parallel', blocks: ids }],
        output: 'fan',
      }),
      {},
    );
    expect(outcome.status, outcome.error ?? '').toBe('completed');
    expect(outcome.result).toEqual(ids.map((block) => ({ block, together: 5 })));
    for (const id of ids) expect(agents.callsOf(id).at(-1)?.context.outputs).toEqual({});
  });

  it('parallel with max_concurrency 2 never has more than 2 branches in flight', async () => {
    const ids = ['q1', 'q2', 'q3'];
    const { outcome } = await run(
      d({
        blocks: ids.map((id) => ({ id, agent: agents.agent('/barrier/3/1500'), retry: { max_attempts: 1 } })),
        groups: [{ id: 'fan2', pattern: 'parallel', blocks: ids, max_concurrency: 2 }],
        output: 'fan2',
      }),
      {},
    );
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toMatch(/only 2 of 3 calls arrived together/);
  });

  it('parallel merge refuses a duplicate key; all_settled keeps going with min_success', async () => {
    const merge = await run(
      d({
        blocks: [
          { id: 'm1', agent: agents.agent('/echo') },
          { id: 'm2', agent: agents.agent('/echo') },
        ],
        groups: [{ id: 'mg', pattern: 'parallel', blocks: ['m1', 'm2'], reduce: 'merge' }],
        output: 'mg',
      }),
      {},
    );
    expect(merge.outcome.status).toBe('failed');
    expect(merge.outcome.error).toMatch(/key "block" comes from both "m1" and "m2"/);
    const settled = await run(
      d({
        blocks: [
          { id: 'ok1', agent: agents.agent('/echo') },
          { id: 'bad1', agent: agents.agent('/malformed') },
        ],
        groups: [{ id: 'st', pattern: 'parallel', blocks: ['ok1', 'bad1'], mode: 'all_settled', min_success: 1 }],
        output: 'st',
      }),
      'x',
    );
    expect(settled.outcome.status).toBe('completed');
    expect(settled.outcome.result).toEqual([{ block: 'ok1', input: 'x' }, null]);
  });

  it('parallel mode all: a failing branch aborts the slow siblings', async () => {
    const t0 = Date.now();
    const { outcome, journal } = await run(
      d({
        blocks: [
          { id: 'slow1', agent: agents.agent('/slow/3000') },
          { id: 'bad2', agent: agents.agent('/bad-request') },
        ],
        groups: [{ id: 'pa', pattern: 'parallel', blocks: ['slow1', 'bad2'] }],
        output: 'pa',
      }),
      {},
    );
    expect(outcome.status).toBe('failed');
    expect(outcome.termination_reason).toBe('step_failed:bad2');
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(journal.logs.find((l) => l.block_id === 'slow1')?.status).toBe('aborted');
  });

  it('parallel: a branch that never started (waiting for max_concurrency when a sibling failed) is logged too', async () => {
    const { outcome, journal } = await run(
      d({
        blocks: [
          { id: 'first-bad', agent: agents.agent('/bad-request') },
          { id: 'queued1', agent: agents.agent('/echo') },
          { id: 'queued2', agent: agents.agent('/echo') },
        ],
        groups: [{ id: 'pq', pattern: 'parallel', blocks: ['first-bad', 'queued1', 'queued2'], max_concurrency: 1 }],
        output: 'pq',
      }),
      {},
    );
    expect(outcome.status).toBe('failed');
    expect(agents.callsOf('queued1')).toHaveLength(0);
    const rows = journal.logs.filter((l) => l.group_id === 'pq').map((l) => [l.block_id, l.attempt, l.status]);
    expect(rows).toEqual([
      ['first-bad', 1, 'failed'],
      ['queued1', 0, 'aborted'],
      ['queued2', 0, 'aborted'],
    ]);
    expect(journal.logs.find((l) => l.block_id === 'queued1')?.error).toMatch(/^not started: block "first-bad" failed/);
  });

  it('hierarchical: the manager delegates, workers run, results come back, final ends it; an undeclared worker is an error', async () => {
    const { outcome, journal } = await run(
      d({
        blocks: [
          { id: 'boss', agent: agents.agent('/manager') },
          { id: 'w1', agent: agents.agent('/upper') },
          { id: 'w2', agent: agents.agent('/upper') },
        ],
        groups: [{ id: 'team', pattern: 'hierarchical', manager: 'boss', workers: ['w1', 'w2'] }],
        output: 'team',
      }),
      {
        tasks: [
          { worker: 'w1', input: 'a' },
          { worker: 'w2', input: 'b' },
        ],
      },
    );
    expect(outcome.result).toEqual({
      results: [
        { worker: 'w1', input: 'a', output: 'A' },
        { worker: 'w2', input: 'b', output: 'B' },
      ],
    });
    // One record per round of what the manager decided.
    expect(journal.logs.filter((l) => l.attempt === 0).map((l) => [l.step_id, l.round, l.decision])).toEqual([
      ['team/r1', 1, { delegate: ['w1', 'w2'], final: false }],
      ['team/r2', 2, { final: true, delegated_before: true }],
    ]);
    // A manager that answers final without ever delegating: said in its round's record.
    const lazy = await run(
      d({
        blocks: [
          { id: 'lazy', agent: agents.agent('/lazy-manager') },
          { id: 'idle', agent: agents.agent('/upper') },
        ],
        groups: [{ id: 'lt', pattern: 'hierarchical', manager: 'lazy', workers: ['idle'] }],
        output: 'lt',
      }),
      {},
    );
    expect(lazy.outcome.result).toBe('did it myself');
    expect(lazy.journal.logs.find((l) => l.step_id === 'lt/r1')?.decision).toEqual({
      final: true,
      delegated_before: false,
      note: 'the manager "lazy" answered final without delegating to any worker',
    });
    const rogue = await run(
      d({
        blocks: [
          { id: 'rb', agent: agents.agent('/rogue-manager') },
          { id: 'rw', agent: agents.agent('/upper') },
        ],
        groups: [{ id: 'rt', pattern: 'hierarchical', manager: 'rb', workers: ['rw'] }],
        output: 'rt',
      }),
      {},
    );
    expect(rogue.outcome.status).toBe('failed');
    expect(rogue.outcome.error).toMatch(/delegated to "intruder", which is not one of its workers \(rw\)/);
    expect(rogue.journal.logs.find((l) => l.step_id === 'rt/r1')).toMatchObject({
      status: 'failed',
      decision: { delegate: ['intruder'], undeclared: 'intruder' },
    });
  });

  it('debate: round 2 gets the others’ answers, the judge ends it on consensus', async () => {
    const { outcome, journal } = await run(
      d({
        blocks: [
          { id: 'd1', agent: agents.agent('/debater/yes') },
          { id: 'd2', agent: agents.agent('/debater/no') },
          { id: 'j', agent: agents.agent('/judge') },
        ],
        groups: [{ id: 'deb', pattern: 'debate', debaters: ['d1', 'd2'], judge: 'j', max_rounds: 4 }],
        output: 'deb',
      }),
      'question',
    );
    // round 1: yes/no; round 2: each takes the other's of round 1: no/yes; round 3: yes/no; round 4: no/yes — never agreeing.
    expect(outcome.status).toBe('completed');
    expect(journal.logs.filter((l) => l.block_id === 'j' && l.attempt > 0).map((l) => l.round)).toEqual([1, 2, 3, 4]);
    expect(agents.callsOf('d1').at(-1)?.input).toMatchObject({ round: 4, others: [{ debater: 'd2', answer: 'no' }] });
    // At max_rounds without consensus the output is the judge's last answer (it picks the first).
    expect(outcome.result).toBe('no');
  });

  it('debate: a failing debater sits out (logged each round) while two remain; with fewer the group fails', async () => {
    const { outcome, journal } = await run(
      d({
        blocks: [
          { id: 's1', agent: agents.agent('/debater/yes') },
          { id: 's2', agent: agents.agent('/debater/no') },
          { id: 's3', agent: agents.agent('/bad-request') },
          { id: 'sj', agent: agents.agent('/judge') },
        ],
        groups: [{ id: 'sd', pattern: 'debate', debaters: ['s1', 's2', 's3'], judge: 'sj', max_rounds: 2 }],
        output: 'sd',
      }),
      'question',
    );
    expect(outcome.status).toBe('completed');
    // s3 failed in round 1 and was not asked again.
    expect(agents.callsOf('s3')).toHaveLength(1);
    expect(agents.callsOf('s1').at(-1)?.input).toMatchObject({ round: 2, others: [{ debater: 's2', answer: 'no' }] });
    const rounds = journal.logs.filter((l) => l.group_id === 'sd' && l.attempt === 0);
    expect(rounds.map((l) => [l.step_id, l.round, l.block_id])).toEqual([
      ['sd/r1', 1, 'sj'],
      ['sd/r2', 2, 'sj'],
    ]);
    expect(rounds[0].decision).toMatchObject({ answered: ['s1', 's2'], consensus: false, by: 'judge' });
    expect(rounds[0].decision?.sat_out).toEqual([{ debater: 's3', error: expect.stringMatching(/^block "s3" failed: .*400/) }]);
    expect(rounds[1].decision).toMatchObject({ answered: ['s1', 's2'], sat_out: [] });

    const alone = await run(
      d({
        blocks: [
          { id: 'a1', agent: agents.agent('/debater/yes') },
          { id: 'a2', agent: agents.agent('/bad-request') },
        ],
        groups: [{ id: 'ad', pattern: 'debate', debaters: ['a1', 'a2'], max_rounds: 3 }],
        output: 'ad',
      }),
      'q',
    );
    expect(alone.outcome).toMatchObject({ status: 'failed', termination_reason: 'step_failed:ad' });
    expect(alone.outcome.error).toMatch(/fewer than 2 debaters answered in round 1/);
    expect(alone.journal.logs.find((l) => l.step_id === 'ad/r1')).toMatchObject({
      status: 'failed',
      decision: { answered: ['a1'], sat_out: [{ debater: 'a2' }], consensus: false },
    });
  });

  it('debate without a judge stops when unanimous and answers the majority', async () => {
    const { outcome, journal } = await run(
      d({
        blocks: [
          { id: 'e1', agent: agents.agent('/debater/same') },
          { id: 'e2', agent: agents.agent('/debater/same') },
          { id: 'e3', agent: agents.agent('/debater/other') },
        ],
        groups: [{ id: 'deb2', pattern: 'debate', debaters: ['e1', 'e2', 'e3'], max_rounds: 3 }],
        output: 'deb2',
      }),
      'q',
    );
    expect(outcome.result).toBe('same');
    expect(Math.max(...journal.logs.map((l) => l.round ?? 0))).toBe(2);
    expect(journal.logs.filter((l) => l.attempt === 0).map((l) => [l.round, l.decision?.consensus, l.decision?.by])).toEqual([
      [1, false, 'unanimity'],
      [2, true, 'unanimity'],
    ]);
  });

  it('routing: exactly one target runs, the others and what only they lead to are skipped; default when nothing matches', async () => {
    const design = d({
      blocks: [
        { id: 'cls', agent: agents.agent('/router') },
        { id: 'billing', agent: agents.agent('/echo') },
        { id: 'tech', agent: agents.agent('/echo') },
        { id: 'after_tech', agent: agents.agent('/echo') },
        { id: 'human', agent: agents.agent('/echo') },
      ],
      groups: [{ id: 'triage', pattern: 'routing', router: 'cls', routes: { billing: 'billing', tech: 'tech' }, default: 'human' }],
      edges: [{ from: 'tech', to: 'after_tech' }],
      output: 'billing',
    });
    const billing = await run(design, { kind: 'billing' });
    expect(billing.outcome.result).toEqual({ block: 'billing', input: { kind: 'billing' } });
    const skipped = billing.journal.logs.filter((l) => l.status === 'skipped').map((l) => l.block_id);
    expect(skipped.sort()).toEqual(['after_tech', 'human', 'tech']);
    expect(billing.journal.logs.find((l) => l.step_id === 'triage/route')?.decision).toMatchObject({ route: 'billing', target: 'billing' });
    const other = await run(design, { kind: 'weird' });
    expect(other.outcome).toMatchObject({ status: 'completed', termination_reason: 'output_skipped', result: null });
    expect(other.journal.logs.find((l) => l.step_id === 'triage/route')?.decision).toMatchObject({ target: 'human', default: true });
  });

  it('reflection: regenerates with the feedback until approved; fail when exhausted with on_exhausted fail', async () => {
    const design = (critic: string, extra: object = {}) =>
      d({
        blocks: [
          { id: 'gen', agent: agents.agent('/writer') },
          { id: 'crit', agent: agents.agent(critic) },
        ],
        groups: [{ id: 'loop', pattern: 'reflection', generator: 'gen', critic: 'crit', max_iterations: 4, ...extra }],
        output: 'loop',
      });
    const approved = await run(design('/critic/3'), 'topic');
    expect(approved.outcome.result).toEqual({ draft: 3, feedback_seen: 'improve draft 2' });
    // One record per iteration: the critic's verdict.
    expect(approved.journal.logs.filter((l) => l.attempt === 0).map((l) => [l.step_id, l.iteration, l.decision])).toEqual([
      ['loop/i1', 1, { approved: false, feedback: true }],
      ['loop/i2', 2, { approved: false, feedback: true }],
      ['loop/i3', 3, { approved: true, feedback: false }],
    ]);
    expect(agents.callsOf('gen').at(-1)?.input).toMatchObject({ input: 'topic', previous_output: { draft: 2 }, iteration: 3 });
    const exhausted = await run(design('/critic/0', { on_exhausted: 'fail' }), 'topic');
    expect(exhausted.outcome.status).toBe('failed');
    expect(exhausted.outcome.error).toMatch(/not approved after max_iterations 4/);
    const last = await run(design('/critic/0'), 'topic');
    expect(last.outcome.result).toMatchObject({ draft: 4 });
    expect(last.journal.logs.at(-1)).toMatchObject({
      step_id: 'loop/exhausted',
      status: 'completed',
      decision: { exhausted: true, max_iterations: 4, on_exhausted: 'return_last' },
    });
    expect(exhausted.journal.logs.at(-1)).toMatchObject({ step_id: 'loop/exhausted', status: 'failed' });
  });

  it('retries only transient failures, with back-off; a 400 and malformed JSON fail at once; skip gives the fallback', async () => {
    const flaky = await run(
      d({ blocks: [{ id: 'fl', agent: agents.agent('/fail/2'), retry: { max_attempts: 3, initial_backoff_ms: 5 } }], output: 'fl' }),
      {},
    );
    expect(flaky.outcome.result).toEqual({ ok: true, calls: 3 });
    expect(flaky.journal.logs.map((l) => [l.attempt, l.status, l.http_status])).toEqual([
      [1, 'failed', 503],
      [2, 'failed', 503],
      [3, 'completed', 200],
    ]);
    const bad = await run(d({ blocks: [{ id: 'br', agent: agents.agent('/bad-request'), retry: { max_attempts: 3 } }], output: 'br' }), {});
    expect(bad.journal.logs).toHaveLength(1);
    expect(bad.outcome.status).toBe('failed');
    const malformed = await run(
      d({ blocks: [{ id: 'mf', agent: agents.agent('/malformed'), retry: { max_attempts: 3 } }], output: 'mf' }),
      {},
    );
    expect(malformed.journal.logs).toHaveLength(1);
    expect(malformed.outcome.error).toMatch(/not JSON/);
    const skip = await run(
      d({ blocks: [{ id: 'sk', agent: agents.agent('/bad-request'), on_error: 'skip', fallback_output: { none: true } }], output: 'sk' }),
      {},
    );
    expect(skip.outcome).toMatchObject({ status: 'completed', result: { none: true } });
  });

  it('a slow agent times out per attempt (retried), and the run-wide deadline ends the run with status timeout', async () => {
    const slow = await run(
      d({
        blocks: [{ id: 'sl', agent: agents.agent('/slow/400'), timeout_ms: 50, retry: { max_attempts: 2, initial_backoff_ms: 1 } }],
        output: 'sl',
      }),
      {},
    );
    expect(slow.journal.logs.map((l) => l.status)).toEqual(['timeout', 'timeout']);
    const t0 = Date.now();
    const deadline = await run(
      d({ blocks: [{ id: 'dl', agent: agents.agent('/slow/2000') }], output: 'dl', limits: { run_timeout_ms: 150 } }),
      {},
    );
    expect(deadline.outcome).toMatchObject({ status: 'timeout', termination_reason: 'run_timeout_ms' });
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  it('the budget stops a runaway design: limit_exceeded at max_agent_calls', async () => {
    const { outcome } = await run(
      d({
        blocks: [
          { id: 'g', agent: agents.agent('/loop') },
          { id: 'c', agent: agents.agent('/critic/0') },
        ],
        groups: [{ id: 'forever', pattern: 'reflection', generator: 'g', critic: 'c', max_iterations: 10 }],
        output: 'forever',
        limits: { max_agent_calls: 7 },
      }),
      {},
    );
    expect(outcome).toMatchObject({ status: 'limit_exceeded', termination_reason: 'max_agent_calls' });
    expect(outcome.counters.agent_calls).toBe(7);
  });

  it('refuses the metadata server and hosts off the allow-list without calling them', async () => {
    const meta = await run(d({ blocks: [{ id: 'm', agent: { url: 'http://169.254.169.254/computeMetadata/v1/' } }], output: 'm' }), {});
    expect(meta.outcome.error).toMatch(/metadata server or a link-local address/);
    const named = await run(d({ blocks: [{ id: 'n', agent: { url: 'http://metadata.google.internal/' } }], output: 'n' }), {});
    expect(named.outcome.error).toMatch(/always refused/);
    const off = await run(d({ blocks: [{ id: 'o', agent: { url: 'https://example.com/x' } }], output: 'o' }), {});
    expect(off.outcome.error).toMatch(/not in the agent URL allow-list/);
  });

  it('resumes from recorded steps without calling a completed block again', async () => {
    const design = d({
      blocks: [
        { id: 'first', agent: agents.agent('/echo') },
        { id: 'second', agent: agents.agent('/echo') },
      ],
      edges: [{ from: 'first', to: 'second' }],
      output: 'second',
    });
    const before = agents.callsOf('first').length;
    const journal = new MemoryJournal([{ step_id: 'first', status: 'completed', output: { recorded: true }, attempts: 1 }], 1);
    const { outcome } = await run(design, 'in', journal);
    expect(agents.callsOf('first').length).toBe(before);
    expect(outcome.result).toEqual({ block: 'second', input: { recorded: true } });
    expect(outcome.counters.replayed).toBe(1);
  });

  it('a resumed loop replays its recorded iterations; their verdicts are logged again marked replayed, the new ones not', async () => {
    const design = d({
      blocks: [
        { id: 'rgen', agent: agents.agent('/writer') },
        { id: 'rcrit', agent: agents.agent('/critic/2') },
      ],
      groups: [{ id: 'rl', pattern: 'reflection', generator: 'rgen', critic: 'rcrit', max_iterations: 3 }],
      output: 'rl',
    });
    const journal = new MemoryJournal(
      [
        { step_id: 'rl/rgen/i1', status: 'completed', output: { draft: 1, feedback_seen: null }, attempts: 1 },
        { step_id: 'rl/rcrit/i1', status: 'completed', output: { approved: false, feedback: 'improve draft 1' }, attempts: 1 },
      ],
      4,
    );
    const { outcome } = await run(design, 'topic', journal);
    expect(outcome.result).toEqual({ draft: 2, feedback_seen: 'improve draft 1' });
    expect(agents.callsOf('rgen').map((c) => c.meta.iteration)).toEqual([2]);
    expect(journal.logs.filter((l) => l.attempt === 0).map((l) => [l.step_id, l.decision?.replayed ?? false])).toEqual([
      ['rl/i1', true],
      ['rl/i2', false],
    ]);
    expect(journal.logs[0].seq).toBe(4);
  });
});
