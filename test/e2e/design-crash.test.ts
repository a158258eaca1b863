import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChildStack, stackFixtures } from '../support/child-stack.js';
import { DesignAgents } from '../support/design-agents.js';

/**
 * A durable run survives kill -9: the stack dies while the second block of a run is in flight;
 * started again on the same data folder, the run is taken over once the dead worker's lease
 * lapses (an asynchronous run by its redelivered task, a synchronous one — whose caller is gone —
 * by the sweep at start-up), replays the first block from its recorded result (its agent is not
 * called again) and calls only the block that had not finished.
 */

let agents: DesignAgents;
const { stacks, dataDir } = stackFixtures<ChildStack>('baton-design-crash-');
const ENV = { BATON_DESIGN_LEASE_MS: '300' };

beforeAll(async () => {
  agents = await new DesignAgents().start();
});
afterAll(async () => {
  await agents.stop();
});

async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

describe('a design run interrupted by a crash', () => {
  it('resumes from its recorded steps without calling a completed block twice', { timeout: 60_000 }, async () => {
    const dir = dataDir();
    const first = await ChildStack.start(dir, ENV);
    stacks.push(first);
    const design = {
      version: 1,
      name: 'crashy',
      blocks: [
        { id: 'fetch', agent: agents.agent('/echo') },
        { id: 'think', agent: agents.agent('/slow/1500') },
      ],
      edges: [{ from: 'fetch', to: 'think' }],
      output: 'think',
    };
    const deployed = await json(
      await fetch(`${first.url}/api/deployments`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ design, endpoint_path: '/crashy', auth: { type: 'none' } }),
      }),
    );
    const accepted = await fetch(`${first.url}/api/deployed/crashy`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'respond-async' },
      body: JSON.stringify({ q: 1 }),
    });
    expect(accepted.status).toBe(202);
    const executionId = String((await json(accepted)).execution_id);
    // The second block is in flight: the first one's result is recorded.
    for (let i = 0; i < 500 && agents.callsOf('think').length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(agents.callsOf('fetch')).toHaveLength(1);
    expect(agents.callsOf('think')).toHaveLength(1);
    await first.kill();

    const second = await ChildStack.start(dir, ENV);
    stacks.push(second);
    let log: Record<string, unknown> = {};
    for (let i = 0; i < 600; i++) {
      log = await json(await fetch(`${second.url}/api/deployments/${String(deployed.id)}/logs/${executionId}`));
      if (log.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(log).toMatchObject({ status: 'completed', result_data: { slept: 1500, block: 'think' } });
    expect(agents.callsOf('fetch')).toHaveLength(1);
    expect(agents.callsOf('think')).toHaveLength(2);
    expect(log.counters).toMatchObject({ replayed: 1 });
  });

  it('a synchronous run whose stack was killed is resumed after the restart, without calling its completed block again', {
    timeout: 60_000,
  }, async () => {
    const dir = dataDir();
    const first = await ChildStack.start(dir, ENV);
    stacks.push(first);
    const design = {
      version: 1,
      name: 'sync-crashy',
      blocks: [
        { id: 'sync-fetch', agent: agents.agent('/echo') },
        { id: 'sync-think', agent: agents.agent('/slow/3000') },
      ],
      edges: [{ from: 'sync-fetch', to: 'sync-think' }],
      output: 'sync-think',
    };
    const deployed = await json(
      await fetch(`${first.url}/api/deployments`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ design, endpoint_path: '/sync-crashy', auth: { type: 'none' }, deadline_ms: 2000 }),
      }),
    );
    // Synchronous: the caller waits for the result, and is cut off by the kill.
    const caller = fetch(`${first.url}/api/deployed/sync-crashy`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ q: 2 }),
    }).then(
      (r) => r.status,
      () => 'cut off',
    );
    for (let i = 0; i < 500 && agents.callsOf('sync-think').length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(agents.callsOf('sync-fetch')).toHaveLength(1);
    expect(agents.callsOf('sync-think')).toHaveLength(1);
    // Grouped commits write a completed block's result behind the run, within one commit: give it that long.
    await new Promise((r) => setTimeout(r, 400));
    await first.kill();
    expect(await caller).toBe('cut off');

    const second = await ChildStack.start(dir, ENV);
    stacks.push(second);
    const logs = await json(await fetch(`${second.url}/api/deployments/${String(deployed.id)}/logs`));
    const [entry] = logs.logs as { execution_id: string; status: string }[];
    expect(entry.status).toBe('running');
    let log: Record<string, unknown> = {};
    for (let i = 0; i < 800; i++) {
      log = await json(await fetch(`${second.url}/api/deployments/${String(deployed.id)}/logs/${entry.execution_id}`));
      if (log.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 25));
    }
    expect(log).toMatchObject({ status: 'completed', trigger_type: 'api', result_data: { slept: 3000, block: 'sync-think' } });
    expect(log.counters).toMatchObject({ replayed: 1 });
    expect(agents.callsOf('sync-fetch')).toHaveLength(1);
    expect(agents.callsOf('sync-think')).toHaveLength(2);
  });
});
