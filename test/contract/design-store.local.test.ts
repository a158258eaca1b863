import { afterEach, describe, expect, it } from 'vitest';
import { LocalDesignStore } from '../../shared/adapters/local/design-store.js';
import { designStoreContract, makeEndpoint, makeExecution } from './suites/design-store.suite.js';
import { TempDirs } from './suites/util.js';

const temp = new TempDirs();
afterEach(() => temp.removeAll());

designStoreContract('LocalDesignStore in memory', async () => ({ store: new LocalDesignStore(null), cleanup: async () => {} }));
designStoreContract('LocalDesignStore on a folder', async () => {
  const store = new LocalDesignStore(temp.make('designs'));
  return { store, cleanup: () => store.flush() };
});

describe('LocalDesignStore: state survives a restart', () => {
  it('reads back endpoints, executions, steps and step results from the same folder', async () => {
    const dir = temp.make('designs-restart');
    const before = new LocalDesignStore(dir);
    const e = makeEndpoint();
    await before.createEndpoint(e);
    for (let i = 0; i < 3; i++) await before.createExecution(makeExecution(e.id, i));
    await before.appendSteps('x1', [
      { seq: 0, step_id: 'a', block_id: 'a', attempt: 1, status: 'completed', started_at: 't', duration_ms: 1 },
    ]);
    await before.recordStep('x1', { step_id: 'g/a', status: 'completed', output: { v: 1 }, attempts: 1 });
    await before.flush();
    const after = new LocalDesignStore(dir);
    expect(await after.getEndpointByPath(e.endpoint_path)).toEqual(e);
    expect((await after.listExecutions({ deployment_id: e.id, limit: 10 })).items.map((x) => x.id)).toEqual(
      [2, 1, 0].map((i) => makeExecution(e.id, i).id),
    );
    expect(await after.listSteps('x1')).toHaveLength(1);
    expect(await after.recordedSteps('x1')).toEqual([{ step_id: 'g/a', status: 'completed', output: { v: 1 }, attempts: 1 }]);
  });

  it('commits a run as one synced batch, read back after a kill (no flush) with its running index', async () => {
    const dir = temp.make('designs-commit');
    const before = new LocalDesignStore(dir);
    const e = makeEndpoint();
    await before.createEndpoint(e);
    const syncs = before.journalCounters?.syncs ?? 0;
    const ex = makeExecution(e.id, 1, { status: 'running', lease_until: '2026-01-02T00:00:30.000Z#w' });
    await before.commitRun(ex.id, {
      execution: () => ex,
      steps: [0, 1, 2].map((seq) => ({
        seq,
        step_id: `s${seq}`,
        block_id: 'b',
        attempt: 1,
        status: 'completed' as const,
        started_at: 't',
        duration_ms: 1,
      })),
      records: [0, 1, 2].map((n) => ({ step_id: `s${n}`, status: 'completed' as const, output: n, attempts: 1 })),
      count_on: { endpoint_id: e.id, at: ex.started_at },
    });
    // Execution, three attempts, three results and the endpoint: one sync.
    expect((before.journalCounters?.syncs ?? 0) - syncs).toBe(1);
    // No flush: what is synced is read back from the journal, as after kill -9.
    const after = new LocalDesignStore(dir);
    expect(await after.getExecution(ex.id)).toEqual(ex);
    expect(await after.listSteps(ex.id)).toHaveLength(3);
    expect(await after.recordedSteps(ex.id)).toHaveLength(3);
    expect(await after.getEndpoint(e.id)).toMatchObject({ execution_count: 1 });
    expect((await after.listLapsedRuns('2026-01-02T00:01:00.000Z', 10)).map((x) => x.id)).toEqual([ex.id]);
    await before.flush();
    await after.flush();
  });
});
