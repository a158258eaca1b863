import { afterEach, describe, expect, it } from 'vitest';
import { LocalDesignStore } from '../../shared/adapters/local/design-store.js';
import { LocalScheduler } from '../../shared/adapters/local/scheduler.js';
import type { DesignDeps, DesignSettings } from '../../shared/designs/deps.js';
import { deployEndpoint } from '../../shared/designs/endpoints.js';
import { runTask } from '../../shared/designs/execution.js';
import { executeManual, invokeEndpoint } from '../../shared/designs/runs.js';
import { sweepLapsedRuns } from '../../shared/designs/sweep.js';
import { QUEUES } from '../../shared/domain/topics.js';
import type { AgentAnswer, AgentCallBody, AgentCaller } from '../../shared/ports/agent-caller.js';
import { systemClock } from '../../shared/ports/clock.js';
import { TempDirs } from '../contract/suites/util.js';
import { RecordingBus, RecordingTasks } from '../support/fakes.js';

/**
 * Synchronous runs with in-memory ports and real timers: past the endpoint's deadline the run is
 * handed to the run queue (202 with the execution id) and the queue's delivery finishes it without
 * calling a completed block again; a run whose worker died is found by the sweep once its lease
 * lapses and resumed the same way; a one-block run costs one synced commit (grouped), against
 * three one after another when every write is synced before the run goes on (each).
 */

/** Agents by block id: `fast` answers at once, `slow` after `slowMs` unless its attempt is aborted. */
class Agents implements AgentCaller {
  readonly calls: AgentCallBody[] = [];
  constructor(private readonly slowMs = 0) {}
  callsOf(block: string): number {
    return this.calls.filter((c) => c.meta.block_id === block).length;
  }
  async call(_agent: unknown, body: AgentCallBody, o: { signal: AbortSignal }): Promise<AgentAnswer> {
    this.calls.push(body);
    if (body.meta.block_id !== 'slow') return { ok: true, status: 200, output: { from: body.meta.block_id, input: body.input }, bytes: 10 };
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve({ ok: true, status: 200, output: { slept: this.slowMs }, bytes: 10 }), this.slowMs);
      o.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve({ ok: false, kind: 'aborted', message: 'aborted', retryable: true });
      });
    });
  }
}

const temp = new TempDirs();
afterEach(() => temp.removeAll());

let ids = 0;
function makeDeps(agents: AgentCaller, over: Partial<DesignSettings> = {}, store = new LocalDesignStore(null)) {
  const tasks = new RecordingTasks();
  const deps: DesignDeps = {
    store,
    scheduler: new LocalScheduler(null, new RecordingBus()),
    tasks,
    agents,
    clock: systemClock,
    newId: () => `u${++ids}`,
    sleep: async () => {},
    settings: {
      base_url: 'http://baton.test',
      scheduled_url: 'http://baton.test/s',
      lease_ms: 200,
      max_request_bytes: 1 << 20,
      sync_commits: 'grouped',
      run_task_deadline_ms: 960_000,
      ...over,
    },
  };
  return { deps, tasks, store };
}

const twoBlocks = {
  version: 1,
  name: 'two',
  blocks: [
    { id: 'fast', agent: { url: 'https://agents.example/fast' } },
    { id: 'slow', agent: { url: 'https://agents.example/slow' }, timeout_ms: 10_000 },
  ],
  edges: [{ from: 'fast', to: 'slow' }],
  output: 'slow',
};

async function deploy(deps: DesignDeps, design: object, deadline_ms?: number) {
  const { record } = await deployEndpoint(deps, {
    design,
    endpoint_path: `/p${++ids}`,
    status: 'active',
    auth: { type: 'none' },
    ...(deadline_ms ? { deadline_ms } : {}),
  });
  return record;
}

describe('a synchronous run past its deadline', () => {
  it('is handed to the run queue with what completed; the delivery finishes it without calling the completed block again', async () => {
    const agents = new Agents(600);
    const { deps, tasks, store } = makeDeps(agents);
    const ep = await deploy(deps, twoBlocks, 150);
    const t0 = Date.now();
    const answer = await invokeEndpoint(deps, ep.endpoint_path, {}, async () => ({ q: 1 }));
    const waited = Date.now() - t0;
    expect(answer.outcome).toBeUndefined();
    expect(answer.handed_over).toMatch(/outlived the endpoint's sync deadline \(deadline_ms 150\)/);
    expect(waited).toBeGreaterThanOrEqual(140);
    expect(waited).toBeLessThan(550);
    // Committed as handed over: running, a lease that has lapsed, the first block's result, the aborted attempt.
    const exec = await store.getExecution(answer.execution_id);
    expect(exec?.status).toBe('running');
    expect(exec?.lease_until).toMatch(/#handover$/);
    expect((await store.recordedSteps(answer.execution_id)).map((r) => r.step_id)).toEqual(['fast']);
    expect((await store.listSteps(answer.execution_id)).map((s) => [s.block_id, s.status])).toEqual([
      ['fast', 'completed'],
      ['slow', 'aborted'],
    ]);
    expect(tasks.tasks).toEqual([
      expect.objectContaining({
        queue: QUEUES.designRun,
        name: `run-${answer.execution_id}`,
        payload: { execution_id: answer.execution_id },
      }),
    ]);
    expect(await store.getEndpoint(ep.id)).toMatchObject({ execution_count: 1 });

    await runTask(deps, tasks.tasks[0].payload as { execution_id: string });
    const done = await store.getExecution(answer.execution_id);
    expect(done).toMatchObject({ status: 'completed', result_data: { slept: 600 }, lease_until: null });
    expect(done?.counters).toMatchObject({ replayed: 1 });
    expect(agents.callsOf('fast')).toBe(1);
    expect(agents.callsOf('slow')).toBe(2);
  });

  it('a run that ends within its deadline answers its result, and nothing goes to the queue', async () => {
    const agents = new Agents(20);
    const { deps, tasks, store } = makeDeps(agents);
    const ep = await deploy(deps, twoBlocks, 2000);
    const answer = await executeManual(deps, ep.id, 'x', false);
    expect(answer.outcome).toMatchObject({ status: 'completed', result: { slept: 20 } });
    expect(tasks.tasks).toEqual([]);
    expect(await store.getExecution(answer.execution_id)).toMatchObject({ status: 'completed', lease_until: null, trigger_type: 'manual' });
  });

  it('the design’s own run_timeout_ms still ends it with timeout when it comes first', async () => {
    const agents = new Agents(2000);
    const { deps } = makeDeps(agents);
    const ep = await deploy(deps, { ...twoBlocks, limits: { run_timeout_ms: 150 } }, 5000);
    const answer = await executeManual(deps, ep.id, 'x', false);
    expect(answer.outcome).toMatchObject({ status: 'timeout', termination_reason: 'run_timeout_ms' });
  });
});

describe('a synchronous run whose worker died', () => {
  it('is found by the sweep once its lease lapses and resumed from its recorded steps; a stale hand-over changes nothing', async () => {
    const agents = new Agents(0);
    const { deps, tasks, store } = makeDeps(agents);
    const ep = await deploy(deps, twoBlocks);
    // What a dead worker left: the run created, the first block recorded, a lease that has lapsed.
    const id = 'exec-dead';
    await store.commitRun(id, {
      execution: () => ({
        id,
        execution_id: id,
        deployment_id: ep.id,
        status: 'running',
        trigger_type: 'api',
        input_data: 'x',
        run_input: 'x',
        result_data: null,
        started_at: new Date(Date.now() - 5000).toISOString(),
        completed_at: null,
        duration_ms: null,
        design: twoBlocks,
        lease_until: `${new Date(Date.now() - 1000).toISOString()}#dead-worker`,
      }),
      steps: [],
      records: [{ step_id: 'fast', status: 'completed', output: { from: 'fast', input: 'x' }, attempts: 1 }],
    });
    // A live one is left alone.
    const live = await invokeEndpoint(deps, ep.endpoint_path, {}, async () => 'y');
    expect(live.outcome?.status).toBe('completed');
    agents.calls.length = 0;

    expect(await sweepLapsedRuns(deps)).toEqual([id]);
    // Sweeping again makes no second task (named by the lease).
    expect(await sweepLapsedRuns(deps)).toEqual([]);
    const task = tasks.tasks.find((t) => t.name.startsWith(`resume-${id}-`));
    expect(task?.payload).toEqual({ execution_id: id, lapsed_lease: expect.stringMatching(/#dead-worker$/) });
    // A hand-over for a lease that is no longer the run's: nothing runs.
    await runTask(deps, { execution_id: id, lapsed_lease: '2020-01-01T00:00:00.000Z#someone-else' });
    expect(agents.calls).toHaveLength(0);
    expect((await store.getExecution(id))?.status).toBe('running');

    await runTask(deps, task?.payload as { execution_id: string; lapsed_lease: string });
    expect(await store.getExecution(id)).toMatchObject({ status: 'completed', counters: { replayed: 1 } });
    expect(agents.calls.map((c) => c.meta.block_id)).toEqual(['slow']);
  });

  it('a queued run whose task was lost is handed over once its claim window lapses', async () => {
    const { deps, store } = makeDeps(new Agents(0));
    const ep = await deploy(deps, twoBlocks);
    const answer = await invokeEndpoint(deps, ep.endpoint_path, { prefer: 'respond-async' }, async () => 'z');
    expect((await store.getExecution(answer.execution_id))?.lease_until).toMatch(/#queued$/);
    expect(await sweepLapsedRuns(deps)).toEqual([]);
    await new Promise((r) => setTimeout(r, 250));
    expect(await sweepLapsedRuns(deps)).toEqual([answer.execution_id]);
  });
});

describe('the commits of a synchronous run on the local store', () => {
  const oneBlock = { version: 1, name: 'one', blocks: [{ id: 'fast', agent: { url: 'https://agents.example/fast' } }], output: 'fast' };

  it('grouped: a one-block run is one synced commit, durable when it answers; each: three, one after another', async () => {
    const syncsOf = async (mode: 'grouped' | 'each') => {
      const dir = temp.make(`designs-${mode}`);
      const store = new LocalDesignStore(dir);
      const { deps } = makeDeps(new Agents(0), { sync_commits: mode }, store);
      const ep = await deploy(deps, oneBlock);
      await store.flush();
      const before = store.journalCounters?.syncs ?? 0;
      const answer = await invokeEndpoint(deps, ep.endpoint_path, {}, async () => ({ n: 1 }));
      const syncs = (store.journalCounters?.syncs ?? 0) - before;
      expect(answer.outcome?.status).toBe('completed');
      // Read back as after kill -9 (no flush): everything of the run is there.
      const again = new LocalDesignStore(dir);
      expect(await again.getExecution(answer.execution_id)).toMatchObject({ status: 'completed', result_data: { from: 'fast' } });
      expect(await again.listSteps(answer.execution_id)).toHaveLength(1);
      expect(await again.recordedSteps(answer.execution_id)).toHaveLength(1);
      expect(await again.getEndpoint(ep.id)).toMatchObject({ execution_count: 1 });
      return syncs;
    };
    expect(await syncsOf('grouped')).toBe(1);
    expect(await syncsOf('each')).toBeGreaterThanOrEqual(3);
  });
});
