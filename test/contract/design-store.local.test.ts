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
});
