/**
 * Deployed designs (shared/designs/), four figures, each with its own baseline in the same run:
 *
 *  1. executor overhead per block: a sequential chain of BLOCKS blocks against a trivial local agent
 *     (answers {} at once); overhead = (run wall − Σ the attempts' own call time) / BLOCKS, per run.
 *     Goal p50 < 2 ms. Beside it: one direct call through the same AgentCaller.
 *  2. a parallel group of 10 branches that each take 200 ms: the run's wall. Goal < 300 ms (the sum
 *     would be 2,000 ms).
 *  3. POST /api/deployed/{path} on an in-process local stack (API key, rate limit, input schema, one
 *     block, durable execution log with fsync'd commits) against a direct POST to the same agent
 *     with the same client: overhead_i = wall_i − median(direct). Goal p99 < 20 ms. Side by side,
 *     interleaved request by request on the same stack: sync_commits `each` (every write synced
 *     before the run goes on: what the sync path did before) and `grouped` (now), with the syncs
 *     each request cost.
 *  4. GET /api/deployments/{id}/logs of an endpoint with 10,000 executions (another endpoint holding
 *     10,000 more): first page, a status filter, a trigger filter and a deep cursor. Goal p99 < 50 ms.
 *
 *   npm run bench:designs        BENCH_DESIGN_RUNS (200), BENCH_DESIGN_BLOCKS (20), BENCH_DESIGN_REQUESTS (300)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLocalStack } from '../functions/local/stack.js';
import { HttpAgentCaller } from '../shared/adapters/local/http-agent-caller.js';
import { loadConfig } from '../shared/config.js';
import { executeDesign } from '../shared/designs/executor.js';
import type { StepJournal, StepLog, StepRecord } from '../shared/designs/types.js';
import { validateDesign } from '../shared/domain/design-graph.js';
import type { ExecutionDoc } from '../shared/domain/endpoint.js';
import { systemClock } from '../shared/ports/clock.js';
import { intEnv, summarize } from './stats.js';

const RUNS = intEnv('BENCH_DESIGN_RUNS', 200);
const BLOCKS = intEnv('BENCH_DESIGN_BLOCKS', 20);
const REQUESTS = intEnv('BENCH_DESIGN_REQUESTS', 300);
const LOGS = 10_000;

class Journal implements StepJournal {
  readonly completed = new Map<string, StepRecord>();
  readonly nextSeq = 0;
  readonly logs: StepLog[] = [];
  async record(step: StepRecord): Promise<void> {
    this.completed.set(step.step_id, step);
  }
  log(step: StepLog): void {
    this.logs.push(step);
  }
}

async function agentServer(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const wait = Number(/\/slow\/(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
      const answer = () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      };
      if (wait > 0) setTimeout(answer, wait);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const fmt = (s: ReturnType<typeof summarize>) =>
  `p50 ${s.p50.toFixed(2)}  p90 ${s.p90.toFixed(2)}  p99 ${s.p99.toFixed(2)}  max ${s.max.toFixed(2)} ms (n=${s.n})`;

async function main() {
  const { server, url } = await agentServer();
  const caller = new HttpAgentCaller({ allow: ['127.0.0.1:*'], resolveAgent: async () => null });
  const ports = (journal: Journal) => ({
    agents: caller,
    clock: systemClock,
    journal,
    sleep: (ms: number, signal: AbortSignal) => sleep(ms, undefined, { signal }),
  });

  // 1. executor overhead per block
  const chain = validateDesign({
    version: 1,
    name: 'chain',
    blocks: Array.from({ length: BLOCKS }, (_, i) => ({ id: `b${i}`, agent: { url: `${url}/ok` } })),
    groups: [{ id: 'seq', pattern: 'sequential', blocks: Array.from({ length: BLOCKS }, (_, i) => `b${i}`) }],
    output: 'seq',
  });
  const direct: number[] = [];
  const perBlock: number[] = [];
  const wallPerBlock: number[] = [];
  for (let r = 0; r < RUNS + 10; r++) {
    const t0 = performance.now();
    await caller.call(
      { url: `${url}/ok` },
      { input: null, context: { run_input: null, outputs: {} }, meta: { execution_id: 'x', block_id: 'x' } },
      { signal: AbortSignal.timeout(5000), maxBytes: 1 << 20 },
    );
    const d = performance.now() - t0;
    const journal = new Journal();
    const t1 = performance.now();
    const outcome = await executeDesign({ execution_id: `e${r}`, ...chain, input: 'x', started_at_ms: Date.now() }, ports(journal));
    const wall = performance.now() - t1;
    if (outcome.status !== 'completed') throw new Error(`chain run ${outcome.status}: ${outcome.error}`);
    const calls = journal.logs.reduce((a, l) => a + l.duration_ms, 0);
    if (r >= 10) {
      direct.push(d);
      perBlock.push((wall - calls) / BLOCKS);
      wallPerBlock.push(wall / BLOCKS);
    }
  }
  const over = summarize(perBlock);
  console.log(
    `1. executor overhead per block (${BLOCKS}-block chain, ${RUNS} runs): ${fmt(over)}  goal p50 < 2 ms: ${over.p50 < 2 ? 'met' : 'NOT met'}`,
  );
  console.log(`   beside it, one direct agent call through the same caller: ${fmt(summarize(direct))}`);
  console.log('   (attempt time is taken from the executor clock in whole ms, so the per-block figure carries ±1 ms / BLOCKS of rounding)');
  const wpb = summarize(wallPerBlock).p50;
  const dp = summarize(direct).p50;
  console.log(
    `   by wall clock only: run wall / ${BLOCKS} p50 ${wpb.toFixed(2)} ms − direct call p50 ${dp.toFixed(2)} ms = ${(wpb - dp).toFixed(2)} ms per block`,
  );

  // 2. parallel 10 × 200 ms
  const fan = validateDesign({
    version: 1,
    name: 'fan',
    blocks: Array.from({ length: 10 }, (_, i) => ({ id: `p${i}`, agent: { url: `${url}/slow/200` } })),
    groups: [{ id: 'fan', pattern: 'parallel', blocks: Array.from({ length: 10 }, (_, i) => `p${i}`), max_concurrency: 10 }],
    output: 'fan',
    limits: { max_concurrency: 10 },
  });
  const walls: number[] = [];
  for (let r = 0; r < 10; r++) {
    const t0 = performance.now();
    const o = await executeDesign({ execution_id: `f${r}`, ...fan, input: null, started_at_ms: Date.now() }, ports(new Journal()));
    if (o.status !== 'completed') throw new Error(`fan run ${o.status}`);
    walls.push(performance.now() - t0);
  }
  const fanS = summarize(walls);
  console.log(
    `2. parallel group, 10 branches × 200 ms: wall ${fmt(fanS)}; the branches' sum 2000 ms, ratio sum/wall ${(2000 / fanS.p50).toFixed(1)}×  goal < 300 ms: ${fanS.max < 300 ? 'met' : 'NOT met'}`,
  );

  // 3 and 4 on a local stack
  const dir = mkdtempSync(join(tmpdir(), 'baton-bench-designs-'));
  const stack = await startLocalStack(loadConfig({ BATON_DATA_DIR: dir, PORT: '0', BATON_CLEANUP: 'false' }));
  try {
    const deployed = await fetch(`${stack.url}/api/deployments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        design: { version: 1, name: 'one', blocks: [{ id: 'only', agent: { url: `${url}/ok` } }], output: 'only' },
        endpoint_path: '/bench',
        rate_limit: { requests_per_minute: 100_000 },
        input_schema: { type: 'object', properties: { q: { type: 'integer' } } },
      }),
    });
    const ep = (await deployed.json()) as { id: string; api_key: string };
    const post = (target: string, headers: Record<string, string> = {}) =>
      fetch(target, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"q":1}' }).then((r) => r.text());
    const designs = stack.deps.designs;
    if (!designs) throw new Error('the stack has no designs wiring');
    const syncs = () => stack.designStore.journalCounters?.syncs ?? 0;
    const directs: number[] = [];
    const walls = { each: [] as number[], grouped: [] as number[] };
    const synced = { each: 0, grouped: 0 };
    for (let i = 0; i < REQUESTS + 20; i++) {
      const t0 = performance.now();
      await post(`${url}/ok`);
      const d = performance.now() - t0;
      if (i >= 20) directs.push(d);
      // Alternate which goes first, so neither always follows the direct call.
      for (const mode of i % 2 === 0 ? (['each', 'grouped'] as const) : (['grouped', 'each'] as const)) {
        designs.settings.sync_commits = mode;
        const s0 = syncs();
        const t1 = performance.now();
        const text = await post(`${stack.url}/api/deployed/bench`, { 'x-api-key': ep.api_key });
        const w = performance.now() - t1;
        if (text !== '{}') throw new Error(`POST /api/deployed/bench answered ${text.slice(0, 200)}`);
        if (i >= 20) {
          walls[mode].push(w);
          synced[mode] += syncs() - s0;
        }
      }
    }
    designs.settings.sync_commits = 'grouped';
    const base = summarize(directs).p50;
    const overhead = summarize(walls.grouped.map((w) => w - base));
    const before = summarize(walls.each.map((w) => w - base));
    console.log(
      `3. POST /api/deployed/{path} overhead over the agent's time (sync_commits grouped): ${fmt(overhead)}  goal p99 < 20 ms: ${overhead.p99 < 20 ? 'met' : 'NOT met'}`,
    );
    console.log(
      `   before, sync_commits each (every write synced before the run goes on): ${fmt(before)}; ratio p50 ${(before.p50 / overhead.p50).toFixed(1)}×, p99 ${(before.p99 / overhead.p99).toFixed(1)}×`,
    );
    console.log(
      `   syncs per request (data folder's design journal): grouped ${(synced.grouped / REQUESTS).toFixed(2)}, each ${(synced.each / REQUESTS).toFixed(2)}`,
    );
    console.log(
      `   beside it, the direct POST to the agent: ${fmt(summarize(directs))}; the endpoint's wall (grouped): ${fmt(summarize(walls.grouped))}`,
    );

    // 3b. the same through the endpoints API on a store in memory: the code's cost without the disk's fsyncs.
    const mem = await memoryApi(url);
    const memWalls: number[] = [];
    for (let i = 0; i < REQUESTS + 20; i++) {
      const t1 = performance.now();
      await post(`${mem.url}/api/deployed/bench`, { 'x-api-key': mem.key });
      if (i >= 20) memWalls.push(performance.now() - t1);
    }
    const memOver = summarize(memWalls.map((w) => w - base));
    console.log(`   3b. the same on a design store in memory (no fsync): overhead ${fmt(memOver)}`);
    await mem.close();

    // 4. logs of an endpoint with 10,000 executions
    const store = stack.designStore;
    const make = (dep: string, i: number): ExecutionDoc => {
      const started = new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString();
      return {
        id: `exec-${dep}-${i}`,
        execution_id: `exec-${dep}-${i}`,
        deployment_id: dep,
        status: i % 10 === 0 ? 'failed' : 'completed',
        trigger_type: i % 3 === 0 ? 'scheduled' : 'api',
        input_data: { i },
        run_input: { i },
        result_data: { ok: true },
        started_at: started,
        completed_at: started,
        duration_ms: 12,
        design: null,
        lease_until: null,
      };
    };
    const t0 = performance.now();
    for (let i = 0; i < LOGS; i += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, k) => store.createExecution(make('bench-logs', i + k))));
      await Promise.all(Array.from({ length: 500 }, (_, k) => store.createExecution(make('other', i + k))));
    }
    console.log(`4. (${2 * LOGS} executions written in ${(performance.now() - t0).toFixed(0)} ms)`);
    const first = (await (await fetch(`${stack.url}/api/deployments/bench-logs/logs?limit=20`)).json()) as { next_cursor: string };
    let cursor = first.next_cursor;
    for (let k = 0; k < 200; k++) {
      const page = (await (await fetch(`${stack.url}/api/deployments/bench-logs/logs?limit=20&cursor=${cursor}`)).json()) as {
        next_cursor: string;
      };
      cursor = page.next_cursor;
    }
    for (const [label, q] of [
      ['first page (limit 20)', 'limit=20'],
      ['status=failed', 'limit=20&status=failed'],
      ['trigger_type=scheduled, a date range', 'limit=20&trigger_type=scheduled&from=2026-01-01T01:00:00Z&to=2026-01-01T02:00:00Z'],
      ['page 201 by cursor', `limit=20&cursor=${cursor}`],
    ] as const) {
      const times: number[] = [];
      for (let i = 0; i < 300; i++) {
        const t = performance.now();
        const res = await fetch(`${stack.url}/api/deployments/bench-logs/logs?${q}`);
        const body = (await res.json()) as { logs: unknown[] };
        if (res.status !== 200 || body.logs.length === 0) throw new Error(`logs ${q}: ${res.status}`);
        times.push(performance.now() - t);
      }
      const s = summarize(times);
      console.log(`   GET logs, ${label}: ${fmt(s)}  goal p99 < 50 ms: ${s.p99 < 50 ? 'met' : 'NOT met'}`);
    }
  } finally {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
    caller.close();
    server.close();
  }
}

/** The endpoints API alone on a plain server, its store in memory. */
async function memoryApi(agentUrl: string): Promise<{ url: string; key: string; close(): Promise<void> }> {
  const { createDesignsApi } = await import('../functions/api/designs.js');
  const { LocalDesignStore } = await import('../shared/adapters/local/design-store.js');
  const { LocalScheduler } = await import('../shared/adapters/local/scheduler.js');
  const { randomUUID } = await import('node:crypto');
  const caller = new HttpAgentCaller({ allow: ['127.0.0.1:*'], resolveAgent: async () => null });
  const deps = {
    store: new LocalDesignStore(null),
    scheduler: new LocalScheduler(null, { publish: async () => '0' }),
    tasks: { enqueue: async () => 'created' as const },
    agents: caller,
    clock: systemClock,
    newId: () => randomUUID(),
    sleep: (ms: number, signal: AbortSignal) => sleep(ms, undefined, { signal }),
    settings: {
      base_url: 'http://x',
      scheduled_url: 'http://x/s',
      lease_ms: 30_000,
      max_request_bytes: 1 << 20,
      sync_commits: 'grouped' as const,
      run_task_deadline_ms: 960_000,
    },
  };
  const api = createDesignsApi(deps, { scheduledRoute: false });
  // The API's own dispatch, on the designs routes alone.
  const server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const r = api.routes.find((x) => x.method === req.method && x.pattern.test(u.pathname));
    if (!r) {
      res.writeHead(404).end();
      return;
    }
    const params = (r.pattern.exec(u.pathname) ?? []).slice(1).map(decodeURIComponent);
    r.handler(req, res, params, u).catch((err: unknown) => api.sendError(res, err));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const res = await fetch(`${url}/api/deployments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      design: { version: 1, name: 'one', blocks: [{ id: 'only', agent: { url: `${agentUrl}/ok` } }], output: 'only' },
      endpoint_path: '/bench',
      rate_limit: { requests_per_minute: 100_000 },
      input_schema: { type: 'object', properties: { q: { type: 'integer' } } },
    }),
  });
  const { api_key } = (await res.json()) as { api_key: string };
  return {
    url,
    key: api_key,
    close: async () => {
      caller.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

await main();
