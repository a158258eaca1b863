import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EndpointDoc, ExecutionDoc } from '../../../shared/domain/endpoint.js';
import type { DesignStore } from '../../../shared/ports/design-store.js';

export interface DesignStoreHarness {
  store: DesignStore;
  cleanup(): Promise<void>;
}

let seq = 0;
export function makeEndpoint(over: Partial<EndpointDoc> = {}): EndpointDoc {
  seq++;
  const id = over.id ?? `ep-${Date.now().toString(36)}-${seq}`;
  return {
    id,
    design_id: `design-${seq}`,
    design_name: 'analysis',
    endpoint_path: `/path-${id}`,
    status: 'active',
    schedule: { enabled: false, timezone: 'UTC' },
    created_at: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
    updated_at: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
    last_execution_at: null,
    execution_count: 0,
    design: { version: 1, nested: [[1, 2]], __odd__: true },
    input_schema: null,
    rate_limit: { requests_per_minute: 10 },
    auth: { type: 'api_key' },
    deadline_ms: 60_000,
    api_keys: [{ key_id: 'k1', sha256: 'ab'.repeat(32), created_at: '2026-01-01T00:00:00.000Z', expires_at: null }],
    running_scheduled: null,
    ...over,
  };
}

export function makeExecution(deploymentId: string, i: number, over: Partial<ExecutionDoc> = {}): ExecutionDoc {
  const started = new Date(Date.UTC(2026, 0, 2, 0, 0, 0, i * 1000)).toISOString();
  return {
    id: `exec-${deploymentId}-${String(i).padStart(5, '0')}`,
    execution_id: `exec-${deploymentId}-${String(i).padStart(5, '0')}`,
    deployment_id: deploymentId,
    status: i % 3 === 0 ? 'failed' : 'completed',
    trigger_type: i % 2 === 0 ? 'scheduled' : 'api',
    input_data: { i },
    run_input: { i, nested: [[i]] },
    result_data: null,
    started_at: started,
    completed_at: started,
    duration_ms: 5,
    design: { version: 1 },
    lease_until: null,
    ...over,
  };
}

/** The DesignStore contract, run against the local store and the Firestore one alike. */
export function designStoreContract(name: string, make: () => Promise<DesignStoreHarness>): void {
  describe(`DesignStore contract: ${name}`, () => {
    let h: DesignStoreHarness;
    let s: DesignStore;
    beforeEach(async () => {
      h = await make();
      s = h.store;
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('creates an endpoint once, reserves its path, finds it by id and path, keeps user JSON as it is', async () => {
      const e = makeEndpoint();
      expect(await s.createEndpoint(e)).toBe('created');
      expect(await s.createEndpoint(e)).toBe('exists');
      expect(await s.createEndpoint(makeEndpoint({ endpoint_path: e.endpoint_path }))).toBe('path_taken');
      expect(await s.getEndpoint(e.id)).toEqual(e);
      expect(await s.getEndpointByPath(e.endpoint_path)).toEqual(e);
      expect(await s.getEndpoint('nope')).toBeNull();
      expect(await s.getEndpointByPath('/nope')).toBeNull();
    });

    it('updates in a transaction and frees the path on delete', async () => {
      const e = makeEndpoint();
      await s.createEndpoint(e);
      const updated = await s.updateEndpoint(e.id, (cur) => ({ ...cur, status: 'inactive', execution_count: cur.execution_count + 1 }));
      expect(updated).toMatchObject({ status: 'inactive', execution_count: 1 });
      expect(await s.updateEndpoint(e.id, () => null)).toMatchObject({ execution_count: 1 });
      expect(await s.updateEndpoint('missing', (c) => c)).toBeNull();
      expect(await s.deleteEndpoint(e.id)).toBe(true);
      expect(await s.deleteEndpoint(e.id)).toBe(false);
      expect(await s.getEndpointByPath(e.endpoint_path)).toBeNull();
      expect(await s.createEndpoint(makeEndpoint({ endpoint_path: e.endpoint_path }))).toBe('created');
    });

    it('lists endpoints newest first, by status, in pages', async () => {
      const tag = `t${Date.now().toString(36)}`;
      const made = [0, 1, 2, 3].map((i) => makeEndpoint({ id: `${tag}-${i}`, status: i === 2 ? 'inactive' : 'active' }));
      for (const e of made) await s.createEndpoint(e);
      const first = await s.listEndpoints({ limit: 2 });
      expect(first.items.map((e) => e.id)).toEqual([made[3].id, made[2].id]);
      const second = await s.listEndpoints({ limit: 2, cursor: first.next_cursor ?? undefined });
      expect(second.items.map((e) => e.id)).toEqual([made[1].id, made[0].id]);
      const active = await s.listEndpoints({ limit: 10, status: 'inactive' });
      expect(active.items.map((e) => e.id)).toEqual([made[2].id]);
    });

    it('lists executions of one endpoint newest first, filtered by status, trigger and dates, in pages', async () => {
      const ep = `ep${Date.now().toString(36)}`;
      for (let i = 0; i < 12; i++) await s.createExecution(makeExecution(ep, i));
      await s.createExecution(makeExecution(`${ep}-other`, 1));
      const all = await s.listExecutions({ deployment_id: ep, limit: 5 });
      expect(all.items.map((e) => e.input_data)).toEqual([{ i: 11 }, { i: 10 }, { i: 9 }, { i: 8 }, { i: 7 }]);
      const next = await s.listExecutions({ deployment_id: ep, limit: 5, cursor: all.next_cursor ?? undefined });
      expect(next.items.map((e) => (e.input_data as { i: number }).i)).toEqual([6, 5, 4, 3, 2]);
      const last = await s.listExecutions({ deployment_id: ep, limit: 5, cursor: next.next_cursor ?? undefined });
      expect(last.items.map((e) => (e.input_data as { i: number }).i)).toEqual([1, 0]);
      expect(last.next_cursor).toBeNull();
      const failed = await s.listExecutions({ deployment_id: ep, limit: 20, status: 'failed' });
      expect(failed.items.map((e) => (e.input_data as { i: number }).i)).toEqual([9, 6, 3, 0]);
      const both = await s.listExecutions({ deployment_id: ep, limit: 20, status: 'failed', trigger_type: 'scheduled' });
      expect(both.items.map((e) => (e.input_data as { i: number }).i)).toEqual([6, 0]);
      const range = await s.listExecutions({
        deployment_id: ep,
        limit: 20,
        from: makeExecution(ep, 3).started_at,
        to: makeExecution(ep, 6).started_at,
      });
      expect(range.items.map((e) => (e.input_data as { i: number }).i)).toEqual([5, 4, 3]);
      expect((await s.getExecution(makeExecution(ep, 4).id))?.run_input).toEqual({ i: 4, nested: [[4]] });
    });

    it('updates an execution in a transaction; creates each id once', async () => {
      const ex = makeExecution(`ep-u${Date.now()}`, 1, { status: 'running' });
      expect(await s.createExecution(ex)).toBe(true);
      expect(await s.createExecution(ex)).toBe(false);
      const done = await s.updateExecution(ex.id, (cur) => ({ ...cur, status: 'completed', result_data: { ok: [[1]] } }));
      expect(done).toMatchObject({ status: 'completed', result_data: { ok: [[1]] } });
      expect(await s.getExecution(ex.id)).toMatchObject({ status: 'completed', result_data: { ok: [[1]] } });
      expect(await s.updateExecution('missing', (c) => c)).toBeNull();
    });

    it('keeps step attempts in seq order and step results by step id', async () => {
      const id = `exec-steps-${Date.now()}`;
      const step = (seq: number) => ({
        seq,
        step_id: `g/b/i${seq}`,
        block_id: 'b',
        attempt: 1,
        status: 'completed' as const,
        started_at: '2026-01-01T00:00:00Z',
        duration_ms: 1,
      });
      await s.appendSteps(id, [step(2), step(0)]);
      await s.appendSteps(id, [step(1)]);
      expect((await s.listSteps(id)).map((x) => x.seq)).toEqual([0, 1, 2]);
      await s.recordStep(id, { step_id: 'team/w/r1/d0', status: 'completed', output: [[1], { a: null }], attempts: 2 });
      await s.recordStep(id, { step_id: 'other', status: 'fallback', output: null, attempts: 1 });
      const recorded = await s.recordedSteps(id);
      expect(recorded.sort((a, b) => a.step_id.localeCompare(b.step_id))).toEqual([
        { step_id: 'other', status: 'fallback', output: null, attempts: 1 },
        { step_id: 'team/w/r1/d0', status: 'completed', output: [[1], { a: null }], attempts: 2 },
      ]);
      expect(await s.recordedSteps('none')).toEqual([]);
    });

    it('commits a run in one go: creates it with its endpoint counted, appends, records, refuses all of a commit whose execution refuses', async () => {
      const ep = makeEndpoint();
      await s.createEndpoint(ep);
      const ex = makeExecution(ep.id, 7, { status: 'running', lease_until: '2026-01-02T00:01:00.000Z#w1', completed_at: null });
      const step = (seq: number, status: 'completed' | 'aborted' = 'completed') => ({
        seq,
        step_id: `s${seq}`,
        block_id: `b${seq}`,
        attempt: 1,
        status,
        started_at: '2026-01-02T00:00:00.000Z',
        duration_ms: 3,
      });
      const first = await s.commitRun(ex.id, {
        execution: (cur) => (cur ? null : ex),
        steps: [step(0)],
        records: [{ step_id: 's0', status: 'completed', output: { n: [[0]] }, attempts: 1 }],
        count_on: { endpoint_id: ep.id, at: ex.started_at },
      });
      expect(first).toEqual(ex);
      expect(await s.getExecution(ex.id)).toEqual(ex);
      expect(await s.getEndpoint(ep.id)).toMatchObject({ execution_count: 1, last_execution_at: ex.started_at });
      // Without an execution change: attempts and results only, the execution as stored.
      expect(
        await s.commitRun(ex.id, { steps: [step(1)], records: [{ step_id: 's1', status: 'completed', output: 1, attempts: 1 }] }),
      ).toEqual(ex);
      // Refused by its execution: nothing of it is written.
      expect(
        await s.commitRun(ex.id, {
          execution: () => null,
          steps: [step(2, 'aborted')],
          records: [{ step_id: 's2', status: 'completed', output: 2, attempts: 1 }],
          count_on: { endpoint_id: ep.id, at: ex.started_at },
        }),
      ).toBeNull();
      const final = await s.commitRun(ex.id, {
        execution: (cur) =>
          cur?.lease_until === ex.lease_until ? { ...cur, status: 'completed', lease_until: null, result_data: [[1]] } : null,
        steps: [step(3)],
        records: [],
      });
      expect(final).toMatchObject({ status: 'completed', lease_until: null, result_data: [[1]] });
      expect((await s.listSteps(ex.id)).map((x) => x.seq)).toEqual([0, 1, 3]);
      expect((await s.recordedSteps(ex.id)).map((r) => r.step_id).sort()).toEqual(['s0', 's1']);
      expect(await s.getEndpoint(ep.id)).toMatchObject({ execution_count: 1 });
      // The endpoint gone: the run is still committed, nothing is counted.
      const orphan = makeExecution('ep-gone', 1, { status: 'running' });
      expect(
        await s.commitRun(orphan.id, {
          execution: () => orphan,
          steps: [],
          records: [],
          count_on: { endpoint_id: 'ep-gone', at: orphan.started_at },
        }),
      ).toEqual(orphan);
      expect(await s.getEndpoint('ep-gone')).toBeNull();
    });

    it('lists running executions whose lease ends before a time, soonest first; never finished ones or ones without a lease', async () => {
      const dep = `ep-lapse-${Date.now()}`;
      const at = (min: number, who: string) => `2031-01-01T00:${String(min).padStart(2, '0')}:00.000Z#${who}`;
      const runs = [
        makeExecution(dep, 1, { status: 'running', lease_until: at(5, 'a') }),
        makeExecution(dep, 2, { status: 'running', lease_until: at(1, 'b') }),
        makeExecution(dep, 3, { status: 'running', lease_until: at(30, 'c') }),
        makeExecution(dep, 4, { status: 'running', lease_until: null }),
        makeExecution(dep, 5, { status: 'completed', lease_until: at(0, 'd') }),
      ];
      for (const r of runs) await s.createExecution(r);
      const lapsed = await s.listLapsedRuns('2031-01-01T00:10:00.000Z', 10);
      expect(lapsed.filter((e) => e.deployment_id === dep).map((e) => e.lease_until)).toEqual([at(1, 'b'), at(5, 'a')]);
      await s.updateExecution(runs[1].id, (cur) => ({ ...cur, status: 'completed', lease_until: null }));
      expect((await s.listLapsedRuns('2031-01-01T00:10:00.000Z', 10)).filter((e) => e.deployment_id === dep).map((e) => e.id)).toEqual([
        runs[0].id,
      ]);
      expect((await s.listLapsedRuns('2031-01-01T01:00:00.000Z', 1)).filter((e) => e.deployment_id === dep)).toHaveLength(1);
    });

    it('counts rate-limit tokens per window and key, saying when the window ends', async () => {
      const key = `rl-${Date.now()}`;
      const now = 1_800_000_000_000 + 15_000;
      expect(await s.takeRateToken(key, 2, 60_000, now)).toEqual({ ok: true });
      expect(await s.takeRateToken(key, 2, 60_000, now + 1)).toEqual({ ok: true });
      expect(await s.takeRateToken(key, 2, 60_000, now + 2)).toEqual({ ok: false, retry_after_ms: 60_000 - 15_002 });
      expect(await s.takeRateToken(`${key}-b`, 2, 60_000, now)).toEqual({ ok: true });
      expect(await s.takeRateToken(key, 2, 60_000, now + 60_000)).toEqual({ ok: true });
    });
  });
}
